//! `SsmClient` against canned loopback responses: error decoding, pagination, the agent-API POST
//! and signed GETs, and that every request it sends passes the server-side verifier.

use std::time::SystemTime;

use fleetrun_client::sigv4_verify::{AuthError, parse_authorization, verify};
use fleetrun_client::{ClientError, Credentials, Endpoint, SsmClient};
use serde_json::json;

use crate::support::{Canned, Captured, Responder};

const SECRET: &str = "client-test-secret";

fn client(url: &str, session_token: Option<&str>) -> SsmClient {
    SsmClient::new(
        Endpoint { url: url.to_owned(), region: "eu-central-1".to_owned() },
        Credentials {
            access_key_id: "AKIDCLIENTTEST".to_owned(),
            secret_access_key: SECRET.to_owned(),
            session_token: session_token.map(str::to_owned),
        },
    )
}

/// Asserts the request verifies for `service` with the right secret and not with a wrong one.
#[track_caller]
fn assert_verifies(request: &Captured, service: &str) {
    let auth = parse_authorization(&request.headers).expect("Authorization parses");
    assert_eq!(auth.access_key_id, "AKIDCLIENTTEST");
    assert_eq!(auth.region, "eu-central-1");
    assert_eq!(auth.service, service);
    let check = |secret: &str| {
        verify(&request.method, &request.uri, &request.headers, &request.body, &auth, secret, SystemTime::now())
    };
    assert_eq!(check(SECRET), Ok(()));
    assert_eq!(check("wrong"), Err(AuthError::SignatureMismatch));
}

#[tokio::test]
async fn call_decodes_aws_error_and_its_request_verifies() {
    let responder = Responder::start(vec![Canned::amz_json(
        400,
        r#"{"__type":"com.amazonaws.ssm#InvalidDocument","Message":"x"}"#,
    )]);
    let error = client(&responder.url(), None).call("SendCommand", &json!({"DocumentName": "nope"})).await.unwrap_err();

    let ClientError::Api { ref operation, status, ref code, ref message } = error else {
        panic!("expected an Api error, got {error:?}");
    };
    assert_eq!(
        (operation.as_str(), status, code.as_str(), message.as_str()),
        ("SendCommand", 400, "InvalidDocument", "x")
    );
    assert_eq!(error.to_string(), "An error occurred (InvalidDocument) when calling the SendCommand operation: x");

    let request = &responder.finish()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri, "/");
    assert_eq!(request.header("x-amz-target"), "AmazonSSM.SendCommand");
    assert_eq!(request.header("content-type"), "application/x-amz-json-1.1");
    assert_eq!(request.body, br#"{"DocumentName":"nope"}"#);
    assert_verifies(request, "ssm");
}

#[tokio::test]
async fn call_with_session_token_verifies_and_decodes_success() {
    let responder = Responder::start(vec![Canned::amz_json(200, r#"{"Commands":[]}"#)]);
    let output = client(&responder.url(), Some("session-token")).call("ListCommands", &json!({})).await.unwrap();
    assert_eq!(output, json!({"Commands": []}));

    let request = &responder.finish()[0];
    assert_eq!(request.header("x-amz-security-token"), "session-token");
    assert_verifies(request, "ssm");
}

#[tokio::test]
async fn empty_success_body_is_an_empty_object() {
    let responder = Responder::start(vec![Canned::amz_json(200, "")]);
    let output = client(&responder.url(), None).call("CancelCommand", &json!({"CommandId": "c"})).await.unwrap();
    assert_eq!(output, json!({}));
    responder.finish();
}

#[tokio::test]
async fn non_json_success_body_is_a_decode_error() {
    let responder = Responder::start(vec![Canned::amz_json(200, "<html>")]);
    let error = client(&responder.url(), None).call("ListCommands", &json!({})).await.unwrap_err();
    assert!(matches!(error, ClientError::Decode(_)), "{error:?}");
    responder.finish();
}

#[tokio::test]
async fn paginate_follows_next_token() {
    let responder = Responder::start(vec![
        Canned::amz_json(200, r#"{"Commands":[{"CommandId":"a"}],"NextToken":"t1"}"#),
        Canned::amz_json(200, r#"{"Commands":[{"CommandId":"b"}],"NextToken":""}"#),
    ]);
    let items =
        client(&responder.url(), None).paginate("ListCommands", &json!({"MaxResults": 1}), "Commands").await.unwrap();
    assert_eq!(items, [json!({"CommandId": "a"}), json!({"CommandId": "b"})]);

    let requests = responder.finish();
    let bodies: Vec<serde_json::Value> =
        requests.iter().map(|request| serde_json::from_slice(&request.body).unwrap()).collect();
    assert_eq!(bodies, [json!({"MaxResults": 1}), json!({"MaxResults": 1, "NextToken": "t1"})]);
    for request in &requests {
        assert_verifies(request, "ssm");
    }
}

#[tokio::test]
async fn paginate_stops_on_a_repeated_token() {
    let page = r#"{"Commands":[],"NextToken":"same"}"#;
    let responder = Responder::start(vec![Canned::amz_json(200, page), Canned::amz_json(200, page)]);
    let error = client(&responder.url(), None).paginate("ListCommands", &json!({}), "Commands").await.unwrap_err();
    assert!(matches!(error, ClientError::Decode(_)), "{error:?}");
    responder.finish();
}

#[tokio::test]
async fn post_json_signed_signs_for_the_given_service() {
    let responder = Responder::start(vec![Canned {
        status: 200,
        content_type: "application/json",
        body: r#"{"assignments":[]}"#.to_owned(),
    }]);
    let base = format!("{}/", responder.url());
    let output = client(&base, None)
        .post_json_signed("/agent/v1/poll", "fleetrun", &json!({"agent_id": "node-1"}))
        .await
        .unwrap();
    assert_eq!(output, json!({"assignments": []}));

    let request = &responder.finish()[0];
    assert_eq!(request.uri, "/agent/v1/poll");
    assert_eq!(request.header("content-type"), "application/json");
    assert_verifies(request, "fleetrun");
}

#[tokio::test]
async fn get_signed_returns_success_and_maps_errors() {
    let responder = Responder::start(vec![
        Canned { status: 200, content_type: "text/plain", body: "full output\n".to_owned() },
        Canned::amz_json(404, r#"{"__type":"InvocationDoesNotExist"}"#),
    ]);
    let client = client(&responder.url(), None);
    let url = format!("{}/output/cmd-1/i-1/stdout?part=0", responder.url());

    let response = client.get_signed(&url, "fleetrun").await.unwrap();
    assert_eq!(response.text().await.unwrap(), "full output\n");

    let error = client.get_signed(&url, "fleetrun").await.unwrap_err();
    assert_eq!(error.aws_code(), Some("InvocationDoesNotExist"));
    assert!(error.to_string().contains("when calling the GET /output/cmd-1/i-1/stdout operation"), "{error}");

    let requests = responder.finish();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].uri, "/output/cmd-1/i-1/stdout?part=0");
    assert!(requests[0].body.is_empty());
    for request in &requests {
        assert_verifies(request, "fleetrun");
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = client(&format!("http://127.0.0.1:{port}"), None).call("ListCommands", &json!({})).await.unwrap_err();
    assert!(matches!(error, ClientError::Transport(_)), "{error:?}");
}
