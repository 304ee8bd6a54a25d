//! The `aws:executeScript` helpers (inputs, payload rules, output payload), `aws:sleep`
//! durations, and failure messages.

use std::time::Duration;

use serde_json::json;
use time::macros::datetime;

use super::NOW;
use crate::automation::{
    ExecuteScriptInputs, FailurePoint, FailureStage, FailureType, PAYLOAD_MAX_BYTES, PAYLOAD_MAX_ITEMS, Runtime,
    SleepSpec, StepError, StepFailure, failure_message, output_payload, parse_iso8601_duration, script_payload,
    script_result,
};

#[test]
fn resolved_script_inputs_are_read() {
    let inputs = ExecuteScriptInputs::from_resolved(&json!({
        "Runtime": "python3.11",
        "Handler": "handler",
        "Script": "def handler(events, context):\n  return events",
        "InputPayload": {"name": "web"},
    }))
    .unwrap();
    assert_eq!(inputs.runtime, Runtime::Python { minor: 11 });
    assert_eq!(inputs.handler.as_deref(), Some("handler"));
    assert_eq!(inputs.input_payload["name"], "web");
    let text_payload = ExecuteScriptInputs::from_resolved(
        &json!({"Runtime": "PowerShell 7.4", "Script": "x", "InputPayload": "{\"a\": 1}"}),
    )
    .unwrap();
    assert_eq!(text_payload.input_payload["a"], 1);
    assert_eq!(text_payload.handler, None);
    let none =
        ExecuteScriptInputs::from_resolved(&json!({"Runtime": "PowerShell 7.4", "Attachment": "a.zip"})).unwrap();
    assert!(none.input_payload.is_empty());
    for (inputs, expected) in [
        (json!({"Script": "x"}), r#"Input "Runtime" is invalid: it is required"#),
        (
            json!({"Runtime": "perl", "Script": "x"}),
            r#"Input "Runtime" is invalid: it must be python3.6 or later, PowerShell Core 6.0 or PowerShell 7.x"#,
        ),
        (json!({"Runtime": "python3.9", "Script": "x"}), r#"Input "Handler" is invalid: it is required for Python"#),
        (
            json!({"Runtime": "PowerShell 7.0", "Script": "x", "InputPayload": "[1]"}),
            r#"Input "InputPayload" is invalid: text must be a JSON object"#,
        ),
    ] {
        assert_eq!(ExecuteScriptInputs::from_resolved(&inputs).unwrap_err().to_string(), expected);
    }
}

#[test]
fn payloads_follow_ssms_limits() {
    assert_eq!(script_payload(r#"{"message": "hi"}"#), Ok(json!({"message": "hi"})));
    assert_eq!(script_payload(""), Ok(json!(null)));
    assert_eq!(script_payload("null"), Ok(json!(null)));
    let long_list = serde_json::to_string(&(0..250).collect::<Vec<_>>()).unwrap();
    let truncated = script_payload(&long_list).unwrap();
    assert_eq!(truncated.as_array().map(Vec::len), Some(PAYLOAD_MAX_ITEMS));
    assert_eq!(truncated[99], 99);
    // Nested lists are kept whole; only the returned value itself is truncated.
    let nested = script_payload(&format!(r#"{{"items": {long_list}}}"#)).unwrap();
    assert_eq!(nested["items"].as_array().map(Vec::len), Some(250));
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(PAYLOAD_MAX_BYTES));
    let error = script_payload(&big).unwrap_err();
    assert_eq!(error, StepError::PayloadTooLarge { size: PAYLOAD_MAX_BYTES + 11, max: PAYLOAD_MAX_BYTES });
    assert_eq!(error.to_string(), "The script's return value is 102411 bytes of JSON; the limit is 102400 bytes");
    // A list of 150 big items is first cut to 100, then measured.
    let items: Vec<String> = (0..150).map(|_| "y".repeat(1000)).collect();
    assert!(script_payload(&serde_json::to_string(&items).unwrap()).is_ok());
    assert!(matches!(script_payload("{not json"), Err(StepError::PayloadNotJson { .. })));
}

#[test]
fn output_payload_is_compact_json_of_the_result() {
    let result = script_result(json!({"message": "hi", "n": [1, 2]}));
    assert_eq!(output_payload(&result), r#"{"Payload":{"message":"hi","n":[1,2]}}"#);
}

#[test]
fn iso8601_durations() {
    for (text, expected) in [
        ("PT10S", Some(Duration::from_secs(10))),
        ("PT10M", Some(Duration::from_secs(600))),
        ("PT1H30M", Some(Duration::from_secs(5400))),
        ("P1D", Some(Duration::from_secs(86_400))),
        ("P1DT2H3M4S", Some(Duration::from_secs(93_784))),
        ("PT1.5S", Some(Duration::from_millis(1500))),
        ("pt3s", Some(Duration::from_secs(3))),
        ("PT0S", Some(Duration::ZERO)),
        ("PT", None),
        ("P", None),
        ("10S", None),
        ("PT-5S", None),
        ("-PT5S", None),
        ("P1M", None),
        ("P1Y", None),
        ("P1W", None),
        ("PT1.S", None),
        ("PT5S3M", None),
        ("PT1.5M", None),
        ("PT1.0000000001S", None),
    ] {
        assert_eq!(parse_iso8601_duration(text), expected, "{text}");
    }
}

#[test]
fn sleeps_end_at_the_right_time() {
    let spec = SleepSpec::from_inputs(&json!({"Duration": "PT10M"})).unwrap();
    assert_eq!(spec.wake_at(NOW), Ok(datetime!(2024-03-05 07:18:09 UTC)));
    let spec = SleepSpec::from_inputs(&json!({"Timestamp": "2024-03-06T00:00:00Z"})).unwrap();
    assert_eq!(spec.wake_at(NOW), Ok(datetime!(2024-03-06 00:00:00 UTC)));
    // A timestamp in the past ends the sleep at once.
    let spec = SleepSpec::from_inputs(&json!({"Timestamp": "2020-01-01T01:00:00Z"})).unwrap();
    assert_eq!(spec.wake_at(NOW), Ok(NOW));
    let spec = SleepSpec::from_inputs(&json!({"Timestamp": "2024-03-20T00:00:00+02:00"})).unwrap();
    assert!(matches!(spec.wake_at(NOW), Err(StepError::SleepTooLong { max_seconds: 604_800, .. })));
    let spec = SleepSpec::from_inputs(&json!({"Duration": "P8D"})).unwrap();
    assert!(spec.wake_at(NOW).is_err());
    assert_eq!(
        SleepSpec::from_inputs(&json!({"Duration": "soon"})).unwrap_err().to_string(),
        r#"Input "Duration" is invalid: it must be an ISO 8601 duration such as PT10M"#
    );
    assert!(SleepSpec::from_inputs(&json!({})).is_err());
}

#[test]
fn failure_messages_have_ssms_shape() {
    assert_eq!(
        failure_message("Poll action status for completion", "Traceback ...\nKeyError - 'x'"),
        "Step fails when it is Poll action status for completion. Traceback ...\nKeyError - 'x'. \
         Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
    );
    assert_eq!(
        failure_message("Execute/Cancelling action", "It broke."),
        "Step fails when it is Execute/Cancelling action. It broke. \
         Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
    );
    let failure = StepFailure::from_error(&StepError::UnknownReference { reference: "Nope".into() });
    assert_eq!(
        failure.message,
        "Step fails when it is validating and resolving the step inputs. \
         Nope is not defined in the Automation Document or its execution. \
         Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
    );
    assert_eq!(failure.details.stage, FailureStage::InputValidation);
    assert_eq!(failure.details.failure_type, FailureType::Action);
    assert_eq!(
        failure.details.details["ExceptionMessage"],
        ["Nope is not defined in the Automation Document or its execution"]
    );
    let mismatch = StepFailure::from_error(&StepError::OutputTypeMismatch {
        output: "o".into(),
        selector: "$.Payload".into(),
        expected: "String",
        found: "a list".into(),
    });
    assert_eq!(
        (mismatch.details.stage, mismatch.details.failure_type),
        (FailureStage::PostVerification, FailureType::Verification)
    );
    let timed_out = StepFailure::timed_out(FailurePoint::Polling, 120);
    assert_eq!(
        timed_out.message,
        "Step timed out while step is Poll action status for completion. Step execution timed out after 120 seconds. \
         Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
    );
    assert_eq!(FailureStage::Invocation.as_str(), "Invocation");
    assert_eq!(FailureType::Internal.as_str(), "Internal");
}
