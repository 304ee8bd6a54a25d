//! Step outputs: selectors, type conversion, the wire form, and runbook-level outputs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::validate::EXECUTE_SCRIPT_EXAMPLE;
use super::{drive, failed, runbook};
use crate::automation::{
    ExecutionState, NO_OUTPUT_YET, Selector, StepError, StepOutcome, StepOutputs, evaluate_outputs, runbook_outputs,
    script_result,
};
use crate::document::ParamValue;

/// A runbook whose only step declares one output per `(name, selector, type)`.
fn with_outputs(outputs: &[(&str, &str, &str)]) -> crate::automation::Runbook {
    let outputs: String = outputs
        .iter()
        .map(|(name, selector, kind)| format!("      - {{Name: {name}, Selector: \"{selector}\", Type: {kind}}}\n"))
        .collect();
    runbook(&format!(
        "schemaVersion: '0.3'\nmainSteps:\n  - name: s\n    action: aws:executeScript\n    inputs: {{Runtime: PowerShell 7.0, Script: x}}\n    outputs:\n{outputs}"
    ))
}

fn wire(outputs: &StepOutputs) -> BTreeMap<String, Vec<String>> {
    outputs.to_wire()
}

#[test]
fn selectors_convert_to_their_types() {
    let runbook = with_outputs(&[
        ("text", "$.Payload.name", "String"),
        ("number_as_text", "$.Payload.count", "String"),
        ("count", "$.Payload.count", "Integer"),
        ("whole_float", "$.Payload.ratio", "Integer"),
        ("flag", "$.Payload.enabled", "Boolean"),
        ("ids", "$.Payload.ids", "StringList"),
        ("first_id", "$.Payload.ids[0]", "String"),
        ("last_id", "$.Payload.ids[-1]", "String"),
        ("map", "$.Payload.tags", "StringMap"),
        ("maps", "$.Payload.instances", "MapList"),
        ("deep_ids", "$..InstanceId", "StringList"),
        ("wildcard", "$.Payload.instances[*].State", "StringList"),
        ("quoted", "$.Payload['odd key']", "String"),
        ("missing", "$.Payload.nothing", "String"),
        ("empty", "$.Payload.empty", "String"),
    ]);
    let result = script_result(json!({
        "name": "web",
        "count": 3,
        "ratio": 2.0,
        "enabled": true,
        "ids": ["i-1", "i-2"],
        "tags": {"env": "prod", "team": "ops"},
        "instances": [{"InstanceId": "i-1", "State": "running"}, {"InstanceId": "i-2", "State": "stopped"}],
        "odd key": "yes",
        "empty": null,
    }));
    let outputs = evaluate_outputs(&runbook.steps[0], &result).unwrap();
    assert_eq!(outputs.get("text"), Some(&ParamValue::String("web".into())));
    assert_eq!(outputs.get("count"), Some(&ParamValue::Integer(3)));
    assert_eq!(outputs.get("whole_float"), Some(&ParamValue::Integer(2)));
    assert_eq!(outputs.get("flag"), Some(&ParamValue::Boolean(true)));
    assert_eq!(outputs.get("missing"), None, "a selector that selects nothing gives no output");
    assert_eq!(outputs.get("empty"), None, "a null value gives no output");
    let expected: BTreeMap<String, Vec<String>> = [
        ("OutputPayload", vec![result.to_string()]),
        ("count", vec!["3".into()]),
        ("deep_ids", vec!["i-1".into(), "i-2".into()]),
        ("first_id", vec!["i-1".into()]),
        ("flag", vec!["true".into()]),
        ("ids", vec!["i-1".into(), "i-2".into()]),
        ("last_id", vec!["i-2".into()]),
        ("map", vec![r#"{"env":"prod","team":"ops"}"#.into()]),
        (
            "maps",
            vec![
                r#"{"InstanceId":"i-1","State":"running"}"#.into(),
                r#"{"InstanceId":"i-2","State":"stopped"}"#.into(),
            ],
        ),
        ("number_as_text", vec!["3".into()]),
        ("quoted", vec!["yes".into()]),
        ("text", vec!["web".into()]),
        ("whole_float", vec!["2".into()]),
        ("wildcard", vec!["running".into(), "stopped".into()]),
    ]
    .into_iter()
    .map(|(name, values)| (name.to_owned(), values))
    .collect();
    assert_eq!(wire(&outputs), expected);
}

#[test]
fn type_mismatches_name_the_output() {
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "$.Payload",
            "String",
            json!({"a": 1}),
            r#"Output "o" selector $.Payload selected an object {"a":1}, which is not a String"#,
        ),
        (
            "$.Payload",
            "Integer",
            json!("3"),
            r#"Output "o" selector $.Payload selected a string "3", which is not a Integer"#,
        ),
        (
            "$.Payload",
            "Integer",
            json!(2.5),
            r#"Output "o" selector $.Payload selected a number 2.5, which is not a Integer"#,
        ),
        (
            "$.Payload",
            "Boolean",
            json!("true"),
            r#"Output "o" selector $.Payload selected a string "true", which is not a Boolean"#,
        ),
        (
            "$.Payload",
            "StringList",
            json!("a"),
            r#"Output "o" selector $.Payload selected a string "a", which is not a StringList"#,
        ),
        (
            "$.Payload",
            "StringList",
            json!([{"a": 1}]),
            r#"Output "o" selector $.Payload selected a list [{"a":1}], which is not a StringList"#,
        ),
        (
            "$.Payload",
            "StringMap",
            json!([1]),
            r#"Output "o" selector $.Payload selected a list [1], which is not a StringMap"#,
        ),
        (
            "$.Payload",
            "MapList",
            json!(["a"]),
            r#"Output "o" selector $.Payload selected a list ["a"], which is not a MapList"#,
        ),
        // A deep scan always gives a list, so it does not fit a String.
        (
            "$..x",
            "String",
            json!({"x": "a"}),
            r#"Output "o" selector $..x selected a list ["a"], which is not a String"#,
        ),
    ];
    for (selector, kind, payload, expected) in cases {
        let runbook = with_outputs(&[("o", selector, kind)]);
        let error = evaluate_outputs(&runbook.steps[0], &script_result(payload.clone())).unwrap_err();
        assert!(matches!(error, StepError::OutputTypeMismatch { .. }), "{error:?}");
        assert_eq!(error.to_string(), *expected, "{selector} as {kind}");
    }
}

#[test]
fn selectors_know_whether_they_are_singular() {
    for (text, singular) in [
        ("$.Payload", true),
        ("$.Payload.a.b", true),
        ("$.Payload.list[3]", true),
        ("$['a.b']", true),
        ("$['a..b*']", true),
        ("$..a", false),
        ("$.list[*]", false),
        ("$.list[1:3]", false),
        ("$.list[0,1]", false),
        ("$.list[?@.x == 1]", false),
    ] {
        let selector = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(selector.is_singular(), singular, "{text}");
    }
    assert!(Selector::parse("$").is_err());
    assert!(Selector::parse("Payload").is_err());
}

#[test]
fn run_command_has_builtin_outputs() {
    let runbook = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n  - name: run\n    action: aws:runCommand\n    inputs: {DocumentName: AWS-RunShellScript, InstanceIds: [i-1]}\n    outputs:\n      - {Name: Output, Selector: $.Output, Type: String}\n",
    );
    let result = json!({"CommandId": "c-1", "Status": "Success", "ResponseCode": 0, "Output": "hello\n"});
    let outputs = evaluate_outputs(&runbook.steps[0], &result).unwrap();
    assert_eq!(
        wire(&outputs),
        BTreeMap::from([
            ("CommandId".to_owned(), vec!["c-1".to_owned()]),
            ("Output".to_owned(), vec!["hello\n".to_owned()]),
            (
                "OutputPayload".to_owned(),
                vec![r#"{"CommandId":"c-1","Output":"hello\n","ResponseCode":0,"Status":"Success"}"#.to_owned()]
            ),
            ("ResponseCode".to_owned(), vec!["0".to_owned()]),
            ("Status".to_owned(), vec!["Success".to_owned()]),
        ])
    );
}

#[test]
fn runbook_outputs_show_values_or_that_the_step_did_not_succeed() {
    let runbook = runbook(EXECUTE_SCRIPT_EXAMPLE);
    let mut state = ExecutionState::new();
    let before = runbook_outputs(&runbook, &state);
    assert_eq!(before["getPrimaryInstanceState.primaryPatchGroupKey"], [NO_OUTPUT_YET]);
    let payload = json!({"tagKey": "tag:Role", "states": {"i-1": "running"}});
    let step = runbook.steps[0].clone();
    let (_, ending) = drive(&runbook, &mut state, |run| {
        if run.step == "getPrimaryInstanceState" {
            let outputs = evaluate_outputs(&step, &script_result(payload.clone())).unwrap();
            StepOutcome::Success { outputs, branch_choice: None }
        } else {
            failed("boom")
        }
    });
    assert_eq!(ending.status.as_str(), "Failed");
    let after = runbook_outputs(&runbook, &state);
    assert_eq!(after["getPrimaryInstanceState.primaryPatchGroupKey"], ["tag:Role"]);
    assert_eq!(
        after["getPrimaryInstanceState.OutputPayload"],
        [r#"{"Payload":{"states":{"i-1":"running"},"tagKey":"tag:Role"}}"#]
    );
    assert_eq!(NO_OUTPUT_YET, "No output available yet because the step is not successfully executed");
}
