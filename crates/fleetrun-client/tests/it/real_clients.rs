//! The verifier against requests from the real aws CLI (awscli v1) and boto3, an implementation
//! of SigV4 independent of `aws-sigv4`.
//!
//! Each test captures one raw request on a loopback socket, answers `200 {}`, and checks that
//! `verify` accepts it with the right secret and rejects it with a wrong one.

use std::process::Command;
use std::time::{Duration, SystemTime};

use fleetrun_client::sigv4_verify::{AuthError, parse_authorization, verify};

use crate::support::{Canned, Captured, Responder, command_without_aws_env, run_with_deadline};

const ACCESS_KEY_ID: &str = "AKIDFLEETRUNTEST";
const SECRET: &str = "fleetrun/Test+Secret/Key0123456789abcdefgh";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEFleetrunTest//Session+Token=";
const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

/// What the captured request is expected to carry.
struct Expected {
    region: &'static str,
    target: &'static str,
    session_token: Option<&'static str>,
}

#[track_caller]
fn assert_verifies(request: &Captured, expected: &Expected) {
    assert_eq!(request.header("x-amz-target"), expected.target);
    assert_eq!(request.header("content-type"), "application/x-amz-json-1.1");

    let auth = parse_authorization(&request.headers).expect("real client's Authorization parses");
    assert_eq!(auth.access_key_id, ACCESS_KEY_ID);
    assert_eq!(auth.region, expected.region);
    assert_eq!(auth.service, "ssm");
    assert_eq!(auth.session_token.as_deref(), expected.session_token);
    let mut signed = vec!["content-type", "host", "x-amz-date"];
    if expected.session_token.is_some() {
        signed.push("x-amz-security-token");
    }
    signed.push("x-amz-target");
    assert_eq!(auth.signed_headers, signed);

    let check = |secret: &str| {
        verify(&request.method, &request.uri, &request.headers, &request.body, &auth, secret, SystemTime::now())
    };
    assert_eq!(check(SECRET), Ok(()), "right secret must verify: {auth:?}");
    assert_eq!(check("wrong-secret"), Err(AuthError::SignatureMismatch), "wrong secret must not verify");
}

#[track_caller]
fn capture_one(client: impl FnOnce(&str) -> Command) -> Captured {
    let responder = Responder::start(vec![Canned::amz_json(200, "{}")]);
    let output = run_with_deadline(client(&responder.url()), CLIENT_DEADLINE);
    assert!(
        output.status.success(),
        "client failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut requests = responder.finish();
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

fn aws_cli(endpoint: &str, session_token: Option<&str>) -> Command {
    let mut command = command_without_aws_env("aws");
    command
        .args(["--endpoint-url", endpoint, "--region", "eu-west-1"])
        .args(["--cli-read-timeout", "10", "--cli-connect-timeout", "10"])
        .args(["ssm", "list-commands"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    if let Some(token) = session_token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    command
}

/// Inputs reach Python through argv, never through the script text.
const BOTO3_SCRIPT: &str = r#"
import sys
import boto3
endpoint, region, key, secret, token = sys.argv[1:6]
client = boto3.client(
    "ssm",
    endpoint_url=endpoint,
    region_name=region,
    aws_access_key_id=key,
    aws_secret_access_key=secret,
    aws_session_token=token or None,
)
client.describe_instance_information()
"#;

fn boto3(endpoint: &str, region: &str, session_token: Option<&str>) -> Command {
    let mut command = command_without_aws_env("python3");
    command.args(["-c", BOTO3_SCRIPT, endpoint, region, ACCESS_KEY_ID, SECRET]).arg(session_token.unwrap_or(""));
    command
}

#[test]
fn aws_cli_request_verifies() {
    let request = capture_one(|endpoint| aws_cli(endpoint, None));
    assert_eq!(request.body, b"{}");
    assert_verifies(&request, &Expected { region: "eu-west-1", target: "AmazonSSM.ListCommands", session_token: None });
}

#[test]
fn aws_cli_request_with_session_token_verifies() {
    let request = capture_one(|endpoint| aws_cli(endpoint, Some(SESSION_TOKEN)));
    assert_verifies(
        &request,
        &Expected { region: "eu-west-1", target: "AmazonSSM.ListCommands", session_token: Some(SESSION_TOKEN) },
    );
}

#[test]
fn boto3_request_with_session_token_verifies() {
    let request = capture_one(|endpoint| boto3(endpoint, "ap-southeast-2", Some(SESSION_TOKEN)));
    assert_verifies(
        &request,
        &Expected {
            region: "ap-southeast-2",
            target: "AmazonSSM.DescribeInstanceInformation",
            session_token: Some(SESSION_TOKEN),
        },
    );
}

#[test]
fn boto3_request_verifies() {
    let request = capture_one(|endpoint| boto3(endpoint, "us-west-2", None));
    assert_verifies(
        &request,
        &Expected { region: "us-west-2", target: "AmazonSSM.DescribeInstanceInformation", session_token: None },
    );
}
