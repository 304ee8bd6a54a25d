//! Unit tests for `parse_authorization` and `verify`: requests signed by `sign_request`, then
//! tampered with one way at a time. Real aws CLI and boto3 requests are in `tests/it`.

use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, HeaderValue};
use http::{HeaderMap, Method, Uri};

use super::*;
use crate::credentials::Credentials;
use crate::sign::{SigningScope, sign_request};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLE//session+token=";

/// 2026-11-26T03:18:19Z.
fn signed_at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_663_099)
}

/// A request as the server receives it: origin-form URI, all headers, body.
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn auth(&self) -> Result<AuthorizationHeader, AuthError> {
        parse_authorization(&self.headers)
    }

    #[track_caller]
    fn verify_with(&self, secret: &str, now: SystemTime) -> Result<(), AuthError> {
        let auth = self.auth().expect("request parses");
        verify(&self.method, &self.uri, &self.headers, &self.body, &auth, secret, now)
    }

    #[track_caller]
    fn verify(&self) -> Result<(), AuthError> {
        self.verify_with(SECRET, signed_at() + Duration::from_secs(2))
    }

    fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers.insert(name, HeaderValue::from_str(value).unwrap());
    }

    fn authorization(&self) -> String {
        self.headers[AUTHORIZATION].to_str().unwrap().to_owned()
    }
}

fn credentials(session_token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: session_token.map(str::to_owned),
    }
}

fn signed(request: http::Request<Vec<u8>>, session_token: Option<&str>) -> Received {
    let mut request = request;
    let scope = SigningScope { region: "eu-west-1", service: "ssm", time: signed_at() };
    sign_request(&mut request, &credentials(session_token), &scope).unwrap();
    let (parts, body) = request.into_parts();
    let origin_form = parts.uri.path_and_query().unwrap().as_str().parse().unwrap();
    Received { method: parts.method, uri: origin_form, headers: parts.headers, body }
}

fn ssm_call(session_token: Option<&str>) -> Received {
    let request = http::Request::post("http://127.0.0.1:18555/")
        .header("X-Amz-Target", "AmazonSSM.SendCommand")
        .header("Content-Type", "application/x-amz-json-1.1")
        .body(br#"{"DocumentName": "AWS-RunShellScript"}"#.to_vec())
        .unwrap();
    signed(request, session_token)
}

#[track_caller]
fn assert_malformed(result: Result<impl std::fmt::Debug, AuthError>, fragment: &str) {
    match result {
        Err(AuthError::Malformed(message)) => {
            assert!(message.contains(fragment), "{message:?} lacks {fragment:?}")
        }
        other => panic!("expected Malformed containing {fragment:?}, got {other:?}"),
    }
}

#[test]
fn round_trip_without_session_token() {
    let request = ssm_call(None);
    let auth = request.auth().unwrap();
    assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
    assert_eq!(auth.date_stamp, "20261126");
    assert_eq!(auth.region, "eu-west-1");
    assert_eq!(auth.service, "ssm");
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date", "x-amz-target"]);
    assert_eq!(auth.request_time, signed_at());
    assert_eq!(auth.session_token, None);
    assert_eq!(request.verify(), Ok(()));
}

#[test]
fn round_trip_with_session_token() {
    let request = ssm_call(Some(TOKEN));
    let auth = request.auth().unwrap();
    assert_eq!(auth.session_token.as_deref(), Some(TOKEN));
    assert!(auth.signed_headers.iter().any(|h| h == "x-amz-security-token"));
    assert_eq!(request.verify(), Ok(()));
    assert!(!format!("{auth:?}").contains(TOKEN), "Debug leaks the token");
}

#[test]
fn known_aws_test_vector_verifies() {
    // `get-vanilla` from the AWS SigV4 test suite.
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    headers.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
    );
    let auth = parse_authorization(&headers).unwrap();
    let now = auth.request_time + Duration::from_secs(60);
    let uri = Uri::from_static("/");
    assert_eq!(verify(&Method::GET, &uri, &headers, b"", &auth, SECRET, now), Ok(()));
}

#[test]
fn tampered_body_is_rejected() {
    let mut request = ssm_call(None);
    request.body = br#"{"DocumentName": "AWS-RunPowerShellScript"}"#.to_vec();
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn tampered_header_value_is_rejected() {
    let mut request = ssm_call(None);
    request.set_header("content-type", "application/json");
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn tampered_target_is_rejected() {
    let mut request = ssm_call(Some(TOKEN));
    request.set_header("x-amz-target", "AmazonSSM.DeleteDocument");
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn tampered_host_is_rejected() {
    let mut request = ssm_call(None);
    request.set_header("host", "127.0.0.1:18556");
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn tampered_session_token_is_rejected() {
    let mut request = ssm_call(Some(TOKEN));
    request.set_header("x-amz-security-token", "another-token");
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn unsigned_headers_added_in_transit_are_ignored() {
    let mut request = ssm_call(None);
    request.set_header("user-agent", "aws-cli/1.45.11");
    request.set_header("x-forwarded-for", "10.0.0.1");
    request.set_header("content-length", "39");
    assert_eq!(request.verify(), Ok(()));
}

#[test]
fn wrong_secret_is_rejected() {
    let request = ssm_call(None);
    let now = signed_at();
    assert_eq!(request.verify_with("not-the-secret", now), Err(AuthError::SignatureMismatch));
}

#[test]
fn clock_skew_up_to_five_minutes_is_accepted() {
    let request = ssm_call(None);
    let five_minutes = Duration::from_secs(300);
    assert_eq!(request.verify_with(SECRET, signed_at() + five_minutes), Ok(()));
    assert_eq!(request.verify_with(SECRET, signed_at() - five_minutes), Ok(()));
}

#[test]
fn request_six_minutes_old_is_expired() {
    let request = ssm_call(None);
    let now = signed_at() + Duration::from_secs(360);
    let error = request.verify_with(SECRET, now).unwrap_err();
    assert_eq!(
        error,
        AuthError::Expired(
            "Signature expired: 20261126T031819Z is now earlier than 20261126T031919Z \
             (20261126T032419Z - 5 min.)"
                .into()
        )
    );
    assert_eq!(error.aws_code(), "InvalidSignatureException");
}

#[test]
fn request_six_minutes_ahead_is_not_yet_current() {
    let request = ssm_call(None);
    let now = signed_at() - Duration::from_secs(360);
    let error = request.verify_with(SECRET, now).unwrap_err();
    assert_eq!(
        error,
        AuthError::NotYetCurrent(
            "Signature not yet current: 20261126T031819Z is still later than 20261126T031719Z \
             (20261126T031219Z + 5 min.)"
                .into()
        )
    );
    assert_eq!(error.aws_code(), "InvalidSignatureException");
}

#[test]
fn host_must_be_signed() {
    let mut request = ssm_call(None);
    let authorization = request.authorization().replace("content-type;host;", "content-type;");
    request.set_header("authorization", &authorization);
    assert_malformed(request.verify(), "'Host' or ':authority' must be a 'SignedHeader'");
}

#[test]
fn x_amz_date_must_be_signed() {
    let mut request = ssm_call(None);
    let authorization = request.authorization().replace(";x-amz-date", "");
    request.set_header("authorization", &authorization);
    assert_malformed(request.verify(), "'X-Amz-Date' must be a 'SignedHeader'");
}

#[test]
fn session_token_must_be_signed_when_sent() {
    let mut request = ssm_call(None);
    request.set_header("x-amz-security-token", TOKEN);
    assert_malformed(request.verify(), "'X-Amz-Security-Token' must be a 'SignedHeader'");

    let mut request = ssm_call(Some(TOKEN));
    request.headers.remove("x-amz-security-token");
    assert_malformed(request.verify(), "request has no such header");
}

#[test]
fn signed_header_missing_from_request_is_malformed() {
    let mut request = ssm_call(None);
    request.headers.remove("x-amz-target");
    assert_malformed(request.verify(), "'x-amz-target' is a 'SignedHeader'");
}

#[test]
fn host_falls_back_to_uri_authority() {
    let mut request = ssm_call(None);
    request.headers.remove("host");
    request.uri = Uri::from_static("http://127.0.0.1:18555/");
    assert_eq!(request.verify(), Ok(()));
}

#[test]
fn scope_date_must_match_x_amz_date() {
    let mut request = ssm_call(None);
    let authorization = request.authorization().replace("/20261126/", "/20261125/");
    request.set_header("authorization", &authorization);
    assert_eq!(
        request.verify(),
        Err(AuthError::ScopeMismatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '20261125' != '20261126', from '20261126T031819Z'."
                .into()
        ))
    );
}

#[test]
fn scope_region_and_service_are_part_of_the_signature() {
    let mut request = ssm_call(None);
    let authorization = request.authorization().replace("/eu-west-1/ssm/", "/us-east-1/ssm/");
    request.set_header("authorization", &authorization);
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn whitespace_after_commas_is_tolerated() {
    let mut request = ssm_call(None);
    let compact = request.authorization().replace(", ", ",");
    request.set_header("authorization", &compact);
    assert_eq!(request.verify(), Ok(()));

    let spacious = compact.replace(",", ",   \t");
    request.set_header("authorization", &spacious);
    assert_eq!(request.verify(), Ok(()));
}

#[test]
fn get_with_query_round_trips_and_query_is_signed() {
    let request = http::Request::get("http://127.0.0.1:18555/output/cmd-1/i-1/stdout?offset=10&limit=5")
        .body(Vec::new())
        .unwrap();
    let mut request = signed(request, None);
    assert_eq!(request.verify(), Ok(()));

    request.uri = Uri::from_static("/output/cmd-1/i-1/stdout?offset=0&limit=5");
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn method_is_signed() {
    let mut request = ssm_call(None);
    request.method = Method::PUT;
    assert_eq!(request.verify(), Err(AuthError::SignatureMismatch));
}

#[test]
fn missing_authorization_is_missing() {
    let mut request = ssm_call(None);
    request.headers.remove("authorization");
    assert_eq!(request.auth(), Err(AuthError::Missing));
    assert_eq!(AuthError::Missing.aws_code(), "MissingAuthenticationTokenException");
}

#[test]
fn garbage_authorization_headers_are_malformed() {
    let valid = ssm_call(None).authorization();
    let cases = [
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Unsupported authorization algorithm 'Bearer'"),
        ("AWS AKIDEXAMPLE:c2lnbmF0dXJl", "Unsupported authorization algorithm 'AWS'"),
        ("", "Unsupported authorization algorithm ''"),
        (
            "AWS4-HMAC-SHA256",
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm/aws4_request, Signature=ab",
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential AKIDEXAMPLE/20261126/eu-west-1/ssm/aws4_request",
            "not a valid key=value pair (missing equal-sign)",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm, SignedHeaders=host;x-amz-date, Signature=ab",
            "Credential must have the form",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026-11-26/eu-west-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab",
            "Credential must have the form",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm/aws5_request, SignedHeaders=host;x-amz-date, Signature=ab",
            "valid terminator: 'aws4_request', not 'aws5_request'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm/aws4_request, SignedHeaders=host;;x-amz-date, Signature=ab",
            "invalid header name",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ssm/aws4_request, SignedHeaders=host;host;x-amz-date, Signature=ab",
            "more than once",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20261126/eu-west-1/ssm/aws4_request, Credential=B/20261126/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=ab",
            "Parameter 'Credential' appears more than once",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20261126/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=ab, Extra=1",
            "Unknown parameter 'Extra'",
        ),
    ];
    for (authorization, fragment) in cases {
        let mut request = ssm_call(None);
        request.set_header("authorization", authorization);
        assert_malformed(request.auth(), fragment);
    }

    let mut request = ssm_call(None);
    request.headers.append("authorization", HeaderValue::from_str(&valid).unwrap());
    assert_malformed(request.auth(), "Only one 'authorization' header");
}

#[test]
fn x_amz_date_is_required_and_strict() {
    let mut request = ssm_call(None);
    request.headers.remove("x-amz-date");
    assert_malformed(request.auth(), "requires existence of a 'X-Amz-Date' header");

    for bad in ["2026-11-26T03:18:19Z", "20261126T031819", "20261126T031819+0000", "20261332T031819Z"] {
        let mut request = ssm_call(None);
        request.set_header("x-amz-date", bad);
        assert_malformed(request.auth(), "ISO-8601 basic format");
    }
}

#[test]
fn non_utf8_authorization_is_malformed_not_a_panic() {
    let mut request = ssm_call(None);
    request.headers.insert("authorization", HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff").unwrap());
    assert_malformed(request.auth(), "not valid ASCII text");
}

#[test]
fn non_ascii_signed_header_value_does_not_panic() {
    let mut request = ssm_call(None);
    request.headers.insert("x-amz-target", HeaderValue::from_bytes("AmazonSSM.Caf\u{e9}".as_bytes()).unwrap());
    assert!(request.verify().is_err());
}
