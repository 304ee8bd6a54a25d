//! The HTTP layer in-process: the router with a real SQLite store and local object store in a temp dir,
//! driven with SigV4-signed requests (the same signer the CLI and agent use) through `oneshot`.
//! Covers authentication, the SSM error shapes, and one invocation's whole life through the agent API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fleetrun_client::{Credentials, SigningScope, sign_request};
use fleetrun_server::app::AppState;
use fleetrun_server::bootstrap::{admin_credentials_path, read_credentials_file};
use fleetrun_server::config::RawConfig;
use serde_json::{Value, json};
use std::time::SystemTime;
use tower::ServiceExt;

struct Harness {
    state: AppState,
    admin: Credentials,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let raw = RawConfig { data_dir: Some(dir.path().to_path_buf()), poll_wait_seconds: Some(1), ..Default::default() };
    let state = fleetrun_server::open(raw.resolve().unwrap()).await.unwrap();
    let (id, secret) = read_credentials_file(&admin_credentials_path(dir.path())).unwrap();
    Harness {
        state,
        admin: Credentials { access_key_id: id, secret_access_key: secret, session_token: None },
        _dir: dir,
    }
}

fn signed(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    creds: &Credentials,
    service: &str,
) -> Request<Body> {
    let mut builder = http::Request::builder().method(method).uri(format!("http://127.0.0.1:8080{path}"));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut request = builder.body(body).unwrap();
    sign_request(&mut request, creds, &SigningScope { region: "us-east-1", service, time: SystemTime::now() }).unwrap();
    let (parts, body) = request.into_parts();
    Request::from_parts(parts, Body::from(body))
}

fn ssm_request(op: &str, input: &Value, creds: &Credentials) -> Request<Body> {
    let target = format!("AmazonSSM.{op}");
    let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
    signed("POST", "/", &headers, input.to_string().into_bytes(), creds, "ssm")
}

async fn send(h: &Harness, request: Request<Body>) -> (StatusCode, Value) {
    let response = fleetrun_server::router(h.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) })))
}

async fn ssm(h: &Harness, op: &str, input: Value) -> (StatusCode, Value) {
    send(h, ssm_request(op, &input, &h.admin)).await
}

#[track_caller]
fn assert_error(result: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(result.0, status, "{:?}", result.1);
    assert_eq!(result.1["__type"], code, "{:?}", result.1);
}

#[tokio::test]
async fn requests_without_a_valid_signature_are_refused() {
    let h = harness().await;
    let unsigned = Request::post("/").header("x-amz-target", "AmazonSSM.ListCommands").body(Body::from("{}")).unwrap();
    assert_error(&send(&h, unsigned).await, StatusCode::BAD_REQUEST, "MissingAuthenticationTokenException");
    let wrong = Credentials { secret_access_key: "not-the-secret".into(), ..h.admin.clone() };
    assert_error(
        &send(&h, ssm_request("ListCommands", &json!({}), &wrong)).await,
        StatusCode::BAD_REQUEST,
        "InvalidSignatureException",
    );
    let unknown = Credentials { access_key_id: "AKFRNOSUCHKEY0000000".into(), ..h.admin.clone() };
    assert_error(
        &send(&h, ssm_request("ListCommands", &json!({}), &unknown)).await,
        StatusCode::BAD_REQUEST,
        "UnrecognizedClientException",
    );
    // A signed request whose body was changed after signing.
    let mut tampered = ssm_request("ListCommands", &json!({}), &h.admin);
    *tampered.body_mut() = Body::from("{\"MaxResults\": 5}");
    assert_error(&send(&h, tampered).await, StatusCode::BAD_REQUEST, "InvalidSignatureException");
}

#[tokio::test]
async fn ssm_error_shapes() {
    let h = harness().await;
    assert_error(&ssm(&h, "NoSuchOperation", json!({})).await, StatusCode::BAD_REQUEST, "UnknownOperationException");
    let bad_json = {
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "AmazonSSM.ListCommands")];
        signed("POST", "/", &headers, b"{not json".to_vec(), &h.admin, "ssm")
    };
    assert_error(&send(&h, bad_json).await, StatusCode::BAD_REQUEST, "SerializationException");
    let big = json!({ "Comment": "x".repeat(2 << 20) });
    assert_error(&ssm(&h, "ListCommands", big).await, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge");
    assert_error(
        &ssm(&h, "ListCommands", json!({ "MaxResults": 51 })).await,
        StatusCode::BAD_REQUEST,
        "ValidationException",
    );
    assert_error(
        &ssm(&h, "ListCommands", json!({ "NextToken": "garbage!" })).await,
        StatusCode::BAD_REQUEST,
        "InvalidNextToken",
    );
    assert_error(
        &ssm(&h, "GetDocument", json!({ "Name": "No-Such-Doc" })).await,
        StatusCode::BAD_REQUEST,
        "InvalidDocument",
    );
    assert_error(
        &ssm(&h, "SendCommand", json!({ "DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-abcd1234"], "Parameters": { "commands": ["true"] } })).await,
        StatusCode::BAD_REQUEST,
        "InvalidInstanceId",
    );
    let (_, listed) = ssm(&h, "ListCommands", json!({})).await;
    assert_eq!(listed["Commands"], json!([]), "a refused command leaves nothing behind");
    let (status, docs) =
        ssm(&h, "ListDocuments", json!({ "Filters": [{ "Key": "Owner", "Values": ["Amazon"] }] })).await;
    assert_eq!(status, StatusCode::OK);
    assert!(docs["DocumentIdentifiers"].as_array().unwrap().iter().any(|d| d["Name"] == "AWS-RunShellScript"));
}

/// Registers an agent through the agent API and returns its credentials and instance id.
async fn register(h: &Harness, instance_id: &str) -> (Credentials, String) {
    let (_, activation) = ssm(h, "CreateActivation", json!({ "IamRole": "test", "RegistrationLimit": 5 })).await;
    let body = json!({
        "activation_id": activation["ActivationId"], "activation_code": activation["ActivationCode"], "instance_id": instance_id,
        "tags": [{ "key": "Env", "value": "test" }], "info": { "computer_name": "n", "ip_address": "", "platform_type": "Linux", "platform_name": "", "platform_version": "", "agent_version": "0.1.0" }
    });
    let wrong =
        json!({ "activation_id": activation["ActivationId"], "activation_code": "wrong-code", "info": body["info"] });
    let (status, _) = send(h, Request::post("/agent/v1/register").body(Body::from(wrong.to_string())).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong activation code is refused");
    let (status, registered) =
        send(h, Request::post("/agent/v1/register").body(Body::from(body.to_string())).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{registered:?}");
    let creds = Credentials {
        access_key_id: registered["access_key_id"].as_str().unwrap().into(),
        secret_access_key: registered["secret_access_key"].as_str().unwrap().into(),
        session_token: None,
    };
    (creds, registered["instance_id"].as_str().unwrap().into())
}

fn agent_post(path: &str, body: &Value, creds: &Credentials) -> Request<Body> {
    signed("POST", path, &[("content-type", "application/json")], body.to_string().into_bytes(), creds, "fleetrun")
}

#[tokio::test]
async fn an_invocation_through_the_agent_api() {
    let h = harness().await;
    let (agent, id) = register(&h, "i-abcd1234").await;
    let (other, _) = register(&h, "i-0000ffff").await;
    assert_error(
        &send(&h, ssm_request("ListCommands", &json!({}), &agent)).await,
        StatusCode::BAD_REQUEST,
        "AccessDeniedException",
    );

    let (status, sent) = ssm(&h, "SendCommand", json!({ "DocumentName": "AWS-RunShellScript", "Targets": [{ "Key": "tag:Env", "Values": ["test"] }], "Parameters": { "commands": ["echo hi"] } })).await;
    assert_eq!(status, StatusCode::OK, "{sent:?}");
    let command_id = sent["Command"]["CommandId"].as_str().unwrap().to_string();
    assert_eq!(sent["Command"]["TargetCount"], 2);
    assert_eq!(sent["Command"]["Status"], "Pending");

    let (status, polled) =
        send(&h, agent_post("/agent/v1/poll", &json!({ "running": [], "wait_seconds": 1 }), &agent)).await;
    assert_eq!(status, StatusCode::OK);
    let steps = &polled["assignments"][0]["steps"];
    assert_eq!(steps[0]["inputs"]["runCommand"], json!(["echo hi"]));

    // The agent API addresses invocations by the caller's own instance id: a node can only ever touch its own.
    let upload = |creds: &Credentials| {
        signed("PUT", &format!("/agent/v1/output/{command_id}/0/stdout"), &[], b"hi\n".to_vec(), creds, "fleetrun")
    };
    assert_eq!(send(&h, upload(&agent)).await.0, StatusCode::NO_CONTENT);
    let result = json!({ "command_id": command_id, "steps": [{ "name": "0.aws:runShellScript", "status": "Success", "exit_code": 0, "started_at_ms": 1, "ended_at_ms": 2, "stdout_bytes": 3, "stderr_bytes": 0, "stdout_head": "hi\n", "stderr_head": "" }] });
    assert_eq!(send(&h, agent_post("/agent/v1/complete", &result, &agent)).await.0, StatusCode::NO_CONTENT);
    // Reporting twice is harmless.
    assert_eq!(send(&h, agent_post("/agent/v1/complete", &result, &agent)).await.0, StatusCode::NO_CONTENT);

    let (_, inv) = ssm(&h, "GetCommandInvocation", json!({ "CommandId": command_id, "InstanceId": id })).await;
    assert_eq!(
        (inv["Status"].as_str(), inv["StandardOutputContent"].as_str(), inv["PluginName"].as_str()),
        (Some("Success"), Some("hi\n"), Some("aws:runShellScript"))
    );
    let url = inv["StandardOutputUrl"].as_str().unwrap().trim_start_matches("http://127.0.0.1:8080").to_string();
    let (status, _) = send(&h, signed("GET", &url, &[], Vec::new(), &other, "ssm")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a node key may not read output");
    let response = fleetrun_server::router(h.state.clone())
        .oneshot(signed("GET", &url, &[], Vec::new(), &h.admin, "ssm"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&axum::body::to_bytes(response.into_body(), 1024).await.unwrap()[..], b"hi\n");

    let (_, command) = ssm(&h, "ListCommands", json!({ "CommandId": command_id })).await;
    assert_eq!(command["Commands"][0]["Status"], "InProgress", "the second node has not run it yet");
    assert_error(
        &ssm(&h, "GetCommandInvocation", json!({ "CommandId": command_id, "InstanceId": id, "PluginName": "nope" }))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidPluginName",
    );
    assert_error(
        &ssm(&h, "GetCommandInvocation", json!({ "CommandId": uuid(), "InstanceId": id })).await,
        StatusCode::BAD_REQUEST,
        "InvocationDoesNotExist",
    );
}

fn uuid() -> String {
    "00000000-0000-4000-8000-000000000000".to_string()
}

#[tokio::test]
async fn an_invocation_the_agent_never_received_ends_failed_not_in_progress_forever() {
    let h = harness().await;
    let (agent, id) = register(&h, "i-abcd1234").await;
    let (_, sent) = ssm(
        &h,
        "SendCommand",
        json!({ "DocumentName": "AWS-RunShellScript", "InstanceIds": [id], "Parameters": { "commands": ["true"] } }),
    )
    .await;
    let command_id = sent["Command"]["CommandId"].as_str().unwrap().to_string();
    let (_, polled) =
        send(&h, agent_post("/agent/v1/poll", &json!({ "running": [], "wait_seconds": 1 }), &agent)).await;
    assert_eq!(polled["assignments"][0]["command_id"], command_id.as_str());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // The answer "was lost": the next poll does not list the invocation as held.
    let (status, _) =
        send(&h, agent_post("/agent/v1/poll", &json!({ "running": [], "wait_seconds": 0 }), &agent)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, inv) = ssm(&h, "GetCommandInvocation", json!({ "CommandId": command_id, "InstanceId": id })).await;
    assert_eq!(inv["Status"], "Failed", "{inv:?}");
    assert!(inv["StandardErrorContent"].as_str().unwrap().contains("does not have this invocation"), "{inv:?}");
}

#[tokio::test]
async fn nul_characters_are_refused_before_anything_is_stored() {
    let h = harness().await;
    let input = json!({ "DocumentName": "AWS-RunShellScript", "Comment": "a\u{0}b", "InstanceIds": ["i-abcd1234"] });
    assert_error(&ssm(&h, "SendCommand", input).await, StatusCode::BAD_REQUEST, "SerializationException");
}
