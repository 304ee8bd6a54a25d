//! Parsing of the SigV4 `Authorization` header and the headers it depends on (`X-Amz-Date`,
//! `X-Amz-Security-Token`) into an `AuthorizationHeader`.
//!
//! This is syntax only: nothing here knows secrets, clocks or whether the signature is right;
//! `verify` in the parent module does that. Messages follow the wording AWS uses where we know it.

use std::fmt;
use std::time::SystemTime;

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::AuthError;
use crate::sign::{X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// The only algorithm fleetrun accepts; SigV4a and SigV2 are not supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

const CREDENTIAL_TERMINATOR: &str = "aws4_request";

/// `X-Amz-Date` layout: ISO-8601 basic format, UTC, whole seconds.
const AMZ_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

/// A parsed SigV4 `Authorization` header together with the request time and session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope.
    pub date_stamp: String,
    pub region: String,
    pub service: String,
    /// Lowercase header names in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// From `X-Amz-Date`.
    pub request_time: SystemTime,
    /// From `X-Amz-Security-Token`, when present.
    pub session_token: Option<String>,
}

// Hand-written so that the session token (a credential) never reaches logs through `{:?}`.
impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationHeader")
            .field("access_key_id", &self.access_key_id)
            .field("date_stamp", &self.date_stamp)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("request_time", &format_amz_date(self.request_time))
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// Parses `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
/// `X-Amz-Date` and the optional `X-Amz-Security-Token`.
///
/// No `Authorization` header is `AuthError::Missing`; anything else that is wrong is
/// `AuthError::Malformed`.
pub fn parse_authorization(headers: &HeaderMap) -> Result<AuthorizationHeader, AuthError> {
    let authorization = single_header(headers, AUTHORIZATION.as_str())?.ok_or(AuthError::Missing)?;
    let fields = Fields::parse(authorization)?;
    let scope = CredentialScope::parse(fields.credential)?;
    let amz_date = single_header(headers, X_AMZ_DATE)?.ok_or_else(|| {
        AuthError::Malformed(format!(
            "Authorization header requires existence of a 'X-Amz-Date' header. Authorization={authorization}"
        ))
    })?;
    Ok(AuthorizationHeader {
        access_key_id: scope.access_key_id.to_owned(),
        date_stamp: scope.date_stamp.to_owned(),
        region: scope.region.to_owned(),
        service: scope.service.to_owned(),
        signed_headers: parse_signed_headers(fields.signed_headers)?,
        signature: fields.signature.to_owned(),
        request_time: parse_amz_date(amz_date)?,
        session_token: single_header(headers, X_AMZ_SECURITY_TOKEN)?.map(str::to_owned),
    })
}

/// Formats a time the way `X-Amz-Date` carries it, dropping sub-second precision.
pub(crate) fn format_amz_date(time: SystemTime) -> String {
    OffsetDateTime::from(time).format(AMZ_DATE).unwrap_or_else(|_| "<unrepresentable time>".to_owned())
}

/// The value of a header that may appear at most once, as text.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed(format!("Only one '{name}' header is allowed.")));
    }
    let value =
        value.to_str().map_err(|_| AuthError::Malformed(format!("The '{name}' header is not valid ASCII text.")))?;
    Ok(Some(value))
}

/// The three `key=value` parameters after the algorithm.
struct Fields<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Fields<'a> {
    fn parse(authorization: &'a str) -> Result<Fields<'a>, AuthError> {
        let authorization = authorization.trim();
        let (algorithm, parameters) =
            authorization.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((authorization, ""));
        if algorithm != ALGORITHM {
            return Err(AuthError::Malformed(format!(
                "Unsupported authorization algorithm '{algorithm}'; only {ALGORITHM} is accepted."
            )));
        }

        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for pair in parameters.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                AuthError::Malformed(format!(
                    "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'."
                ))
            })?;
            let slot = match key.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                other => {
                    return Err(AuthError::Malformed(format!(
                        "Unknown parameter '{other}' in Authorization header: '{authorization}'."
                    )));
                }
            };
            if slot.replace(value.trim()).is_some() {
                return Err(AuthError::Malformed(format!(
                    "Parameter '{key}' appears more than once in Authorization header: '{authorization}'."
                )));
            }
        }

        match (credential, signed_headers, signature) {
            (Some(credential), Some(signed_headers), Some(signature)) if !signature.is_empty() => {
                Ok(Fields { credential, signed_headers, signature })
            }
            (credential, signed_headers, signature) => Err(missing_parameters(
                authorization,
                [
                    ("Credential", credential),
                    ("Signature", signature.filter(|s| !s.is_empty())),
                    ("SignedHeaders", signed_headers),
                ],
            )),
        }
    }
}

/// AWS's wording: one "requires 'X' parameter." sentence per absent parameter, then the header.
fn missing_parameters(authorization: &str, parameters: [(&str, Option<&str>); 3]) -> AuthError {
    let mut message = String::new();
    for (name, _) in parameters.iter().filter(|(_, value)| value.is_none()) {
        message.push_str(&format!("Authorization header requires '{name}' parameter. "));
    }
    message.push_str(&format!("Authorization={authorization}"));
    AuthError::Malformed(message)
}

/// `AKID/YYYYMMDD/region/service/aws4_request`.
struct CredentialScope<'a> {
    access_key_id: &'a str,
    date_stamp: &'a str,
    region: &'a str,
    service: &'a str,
}

impl<'a> CredentialScope<'a> {
    fn parse(credential: &'a str) -> Result<CredentialScope<'a>, AuthError> {
        let malformed = || {
            AuthError::Malformed(format!(
                "Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/{CREDENTIAL_TERMINATOR}, got '{credential}'."
            ))
        };
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date_stamp, region, service, terminator] = parts[..] else {
            return Err(malformed());
        };
        if terminator != CREDENTIAL_TERMINATOR {
            return Err(AuthError::Malformed(format!(
                "Credential should be scoped with a valid terminator: '{CREDENTIAL_TERMINATOR}', not '{terminator}'."
            )));
        }
        let is_date = date_stamp.len() == 8 && date_stamp.bytes().all(|b| b.is_ascii_digit());
        if access_key_id.is_empty() || region.is_empty() || service.is_empty() || !is_date {
            return Err(malformed());
        }
        Ok(CredentialScope { access_key_id, date_stamp, region, service })
    }
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, AuthError> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(';') {
        let valid = HeaderName::from_bytes(name.as_bytes()).is_ok();
        if !valid {
            return Err(AuthError::Malformed(format!("SignedHeaders contains an invalid header name: '{value}'.")));
        }
        let name = name.to_ascii_lowercase();
        if names.contains(&name) {
            return Err(AuthError::Malformed(format!("SignedHeaders names '{name}' more than once: '{value}'.")));
        }
        names.push(name);
    }
    Ok(names)
}

fn parse_amz_date(value: &str) -> Result<SystemTime, AuthError> {
    let malformed = || {
        AuthError::Malformed(format!(
            "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'). Got '{value}'."
        ))
    };
    let time: SystemTime = PrimitiveDateTime::parse(value, AMZ_DATE).map_err(|_| malformed())?.assume_utc().into();
    // The signer re-derives the header from the parsed time, so only the canonical spelling is accepted.
    if format_amz_date(time) != value {
        return Err(malformed());
    }
    Ok(time)
}
