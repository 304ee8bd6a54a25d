//! Server-side SigV4 verification for requests signed by the aws CLI, boto3, or this crate.
//!
//! The server calls `parse_authorization` first, looks up the secret for
//! `AuthorizationHeader::access_key_id` (answering `AuthError::UnknownAccessKey` when there is
//! none), then calls `verify` with the raw request parts. Both are pure and synchronous: no IO, no
//! clock reads (the caller passes `now`), no key store. The signature is recomputed with
//! `aws-sigv4` through `sign::compute_signature`, the same code the client signs with.
//!
//! Not handled: presigned URLs (`X-Amz-Signature` in the query), the `Date` header instead of
//! `X-Amz-Date`, SigV4a, and `UNSIGNED-PAYLOAD` / streaming bodies. Which regions and services
//! the server accepts is the server's policy; `verify` only checks the scope is self-consistent.

mod authorization;
mod error;
#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use http::header::HOST;
use http::{HeaderMap, Method, Uri};
use subtle::ConstantTimeEq;

pub use authorization::{ALGORITHM, AuthorizationHeader, parse_authorization};
pub use error::AuthError;

use crate::credentials::Credentials;
use crate::sign::{CanonicalInput, SigningScope, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN, compute_signature};
use authorization::format_amz_date;

/// How far `X-Amz-Date` may be from the server's clock, either way, as on AWS.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Checks that `auth` is a valid signature of the request by the holder of `secret_access_key`,
/// made within `MAX_CLOCK_SKEW` of `now`.
///
/// Only the headers named in `SignedHeaders` are used, so proxies may add others. `uri` is the
/// request target as received (usually origin-form, `/` for SSM); `body` is the exact body bytes.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    auth: &AuthorizationHeader,
    secret_access_key: &str,
    now: SystemTime,
) -> Result<(), AuthError> {
    check_required_signed_headers(auth)?;
    check_scope_date(auth)?;
    check_clock(auth.request_time, now)?;

    let signed_headers = signed_header_values(uri, headers, auth)?;
    let credentials = Credentials {
        access_key_id: auth.access_key_id.clone(),
        secret_access_key: secret_access_key.to_owned(),
        // aws-sigv4 signs the token iff the credentials carry one, which
        // `check_required_signed_headers` has tied to SignedHeaders.
        session_token: auth.session_token.clone(),
    };
    let uri = uri.to_string();
    let input = CanonicalInput { method: method.as_str(), uri: &uri, headers: &signed_headers, body };
    let scope = SigningScope { region: &auth.region, service: &auth.service, time: auth.request_time };
    let expected = compute_signature(&input, &credentials, &scope)
        .map_err(|error| AuthError::Malformed(format!("The request cannot be canonicalized: {error}.")))?;

    let matches: bool = expected.signature.as_bytes().ct_eq(auth.signature.as_bytes()).into();
    if matches { Ok(()) } else { Err(AuthError::SignatureMismatch) }
}

/// `host` and `x-amz-date` must be signed; a session token, when sent, must be signed too,
/// because the server trusts it to find the credentials.
fn check_required_signed_headers(auth: &AuthorizationHeader) -> Result<(), AuthError> {
    let is_signed = |name: &str| auth.signed_headers.iter().any(|signed| signed == name);
    if !is_signed(HOST.as_str()) {
        return Err(AuthError::Malformed(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    if !is_signed(X_AMZ_DATE) {
        return Err(AuthError::Malformed("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".to_owned()));
    }
    match (is_signed(X_AMZ_SECURITY_TOKEN), auth.session_token.is_some()) {
        (true, false) => Err(AuthError::Malformed(
            "'x-amz-security-token' is a 'SignedHeader' but the request has no such header.".to_owned(),
        )),
        (false, true) => Err(AuthError::Malformed(
            "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        )),
        _ => Ok(()),
    }
}

fn check_scope_date(auth: &AuthorizationHeader) -> Result<(), AuthError> {
    let amz_date = format_amz_date(auth.request_time);
    let request_date = &amz_date[..8];
    if auth.date_stamp == request_date {
        return Ok(());
    }
    Err(AuthError::ScopeMismatch(format!(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{request_date}', from '{amz_date}'.",
        auth.date_stamp
    )))
}

fn check_clock(request_time: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    let request = format_amz_date(request_time);
    let now_text = format_amz_date(now);
    if request_time + MAX_CLOCK_SKEW < now {
        let earliest = format_amz_date(now - MAX_CLOCK_SKEW);
        return Err(AuthError::Expired(format!(
            "Signature expired: {request} is now earlier than {earliest} ({now_text} - 5 min.)"
        )));
    }
    if request_time > now + MAX_CLOCK_SKEW {
        let latest = format_amz_date(now + MAX_CLOCK_SKEW);
        return Err(AuthError::NotYetCurrent(format!(
            "Signature not yet current: {request} is still later than {latest} ({now_text} + 5 min.)"
        )));
    }
    Ok(())
}

/// `(name, value)` for every signed header except the two `aws-sigv4` adds itself, in the
/// order received. `host` falls back to the URI authority (HTTP/2 `:authority`).
fn signed_header_values<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
    auth: &'a AuthorizationHeader,
) -> Result<Vec<(&'a str, &'a str)>, AuthError> {
    let mut values = Vec::new();
    for name in &auth.signed_headers {
        if name == X_AMZ_DATE || name == X_AMZ_SECURITY_TOKEN {
            continue;
        }
        let before = values.len();
        for value in headers.get_all(name.as_str()) {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| AuthError::Malformed(format!("Signed header '{name}' is not valid UTF-8.")))?;
            values.push((name.as_str(), value));
        }
        if values.len() > before {
            continue;
        }
        match uri.authority() {
            Some(authority) if name == HOST.as_str() => values.push((name, authority.as_str())),
            _ => {
                return Err(AuthError::Malformed(format!(
                    "'{name}' is a 'SignedHeader' but the request has no such header."
                )));
            }
        }
    }
    Ok(values)
}
