//! StartAutomationExecution parameters, and resolving references in step inputs.

use std::collections::BTreeMap;

use serde_json::json;

use super::{NOW, Pairs, context, parameters, runbook, supplied};
use crate::automation::{
    Context, StepError, StepOutputs, inputs_to_wire, resolve_runbook_parameters, resolve_step_inputs, resolve_value,
};
use crate::document::{ParamValue, ParameterError};

const PARAMETERS: &str = r#"
schemaVersion: "0.3"
parameters:
  InstanceIds: {type: StringList, minItems: 1}
  Tags: {type: StringMap, default: {env: prod}}
  Count: {type: Integer, default: 3}
  Enabled: {type: Boolean, default: false}
  Mode: {type: String, allowedValues: [fast, slow], default: fast}
  Role: {type: String, default: ""}
mainSteps:
  - name: step_one
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: "def handler(events, context):\n  return '{{ Mode }}'"
      InputPayload:
        ids: "{{ InstanceIds }}"
        tags: "{{ Tags }}"
        count: "{{ Count }}"
        enabled: "{{Enabled}}"
        text: "{{ Count }} x {{ Mode }} for {{ InstanceIds }}"
        nested: {list: ["{{ Mode }}", "{{ InstanceIds }}", 7], untouched: "{{ssm:/my/param}}"}
        odd: "{{ a.b.c }} and {{ }} stay"
        ids_again: ["{{ InstanceIds }}", "i-extra"]
        run: "{{ automation:EXECUTION_ID }} of {{ automation:DOCUMENT_NAME }}"
        where: "{{ global:ACCOUNT_ID }}/{{ global:REGION }}/{{ global:AWS_PARTITION }}"
        when: "{{ global:DATE }} {{ global:DATE_TIME }}"
    outputs:
      - {Name: first, Selector: $.Payload.first, Type: String}
      - {Name: all, Selector: $.Payload.all, Type: StringList}
  - name: step_two
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{ step_one.all }}"]
      Comment: "first was {{ step_one.first }}"
      Parameters: {commands: ["echo {{ step_one.first }}"]}
"#;

#[test]
fn parameters_are_checked_and_defaulted() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["i-1", "i-2"]), ("Count", &["5"])]);
    assert_eq!(resolved.get("InstanceIds"), Some(&ParamValue::StringList(vec!["i-1".into(), "i-2".into()])));
    assert_eq!(resolved.get("Count"), Some(&ParamValue::Integer(5)));
    assert_eq!(resolved.get("Enabled"), Some(&ParamValue::Boolean(false)));
    assert_eq!(resolved.get("Mode"), Some(&ParamValue::String("fast".into())));
    let wire = resolved.to_wire();
    assert_eq!(wire["Role"], [""]);
    assert_eq!(wire["Tags"], [r#"{"env":"prod"}"#]);
}

#[test]
fn bad_parameters_name_the_parameter() {
    let runbook = runbook(PARAMETERS);
    let cases: &[(&str, Pairs, ParameterError)] = &[
        ("required missing", &[], ParameterError::Required { name: "InstanceIds".into() }),
        (
            "not declared",
            &[("InstanceIds", &["i-1"]), ("Other", &["x"])],
            ParameterError::NotDeclared { name: "Other".into() },
        ),
        (
            "not an integer",
            &[("InstanceIds", &["i-1"]), ("Count", &["many"])],
            ParameterError::NotAnInteger { name: "Count".into(), value: "many".into() },
        ),
        (
            "not allowed",
            &[("InstanceIds", &["i-1"]), ("Mode", &["medium"])],
            ParameterError::NotAllowedValue {
                name: "Mode".into(),
                value: "medium".into(),
                allowed: vec!["fast".into(), "slow".into()],
            },
        ),
        (
            "two values for a String",
            &[("InstanceIds", &["i-1"]), ("Mode", &["fast", "slow"])],
            ParameterError::NotSingleValue { name: "Mode".into(), count: 2 },
        ),
    ];
    for (case, pairs, expected) in cases {
        assert_eq!(resolve_runbook_parameters(&runbook, &supplied(pairs)).unwrap_err(), *expected, "case {case:?}");
    }
}

#[test]
fn references_resolve_to_values_and_text() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["i-1", "i-2"])]);
    let outputs = BTreeMap::new();
    let inputs = resolve_step_inputs(&runbook.steps[0], &context(&resolved, &outputs)).unwrap();
    assert_eq!(
        inputs["InputPayload"],
        json!({
            "ids": ["i-1", "i-2"],
            "tags": {"env": "prod"},
            "count": 3,
            "enabled": false,
            "text": r#"3 x fast for ["i-1","i-2"]"#,
            "nested": {"list": ["fast", "i-1", "i-2", 7], "untouched": "{{ssm:/my/param}}"},
            "odd": "{{ a.b.c }} and {{ }} stay",
            "ids_again": ["i-1", "i-2", "i-extra"],
            "run": "4105a4fc-f944-11e6-9d32-0123456789ab of MyRunbook",
            "where": "123456789012/eu-west-1/aws",
            "when": "2024-03-05 2024-03-05_07.08.09",
        })
    );
    // The script itself is passed through untouched.
    assert_eq!(inputs["Script"], "def handler(events, context):\n  return '{{ Mode }}'");
    assert_eq!(inputs["Runtime"], "python3.11");
}

#[test]
fn step_outputs_resolve_once_the_step_succeeded() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["i-1"])]);
    let mut outputs = BTreeMap::new();
    let error = resolve_step_inputs(&runbook.steps[1], &context(&resolved, &outputs)).unwrap_err();
    // Inputs are resolved in key order, so Comment's reference is the first to fail.
    assert_eq!(error, StepError::OutputNotAvailable { step: "step_one".into(), output: "first".into() });
    assert_eq!(
        error.to_string(),
        r#"Output "first" of step "step_one" is not available: the step has not run successfully"#
    );
    let mut step_one = StepOutputs::new();
    step_one.insert("first", ParamValue::String("i-9".into()));
    step_one.insert("all", ParamValue::StringList(vec!["i-9".into(), "i-8".into()]));
    outputs.insert("step_one".to_owned(), step_one);
    let inputs = resolve_step_inputs(&runbook.steps[1], &context(&resolved, &outputs)).unwrap();
    assert_eq!(
        inputs,
        json!({
            "DocumentName": "AWS-RunShellScript",
            "InstanceIds": ["i-9", "i-8"],
            "Comment": "first was i-9",
            "Parameters": {"commands": ["echo i-9"]},
        })
    );
    let wire = inputs_to_wire(&inputs);
    assert_eq!(wire["DocumentName"], r#""AWS-RunShellScript""#);
    assert_eq!(wire["InstanceIds"], r#"["i-9","i-8"]"#);
}

#[test]
fn unknown_references_are_errors_naming_them() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["i-1"])]);
    let outputs = BTreeMap::new();
    let ctx = context(&resolved, &outputs);
    for (text, expected) in [
        ("{{ Nope }}", StepError::UnknownReference { reference: "Nope".into() }),
        ("x {{ global:NOPE }}", StepError::UnknownReference { reference: "global:NOPE".into() }),
        ("{{automation:NOPE}}", StepError::UnknownReference { reference: "automation:NOPE".into() }),
        ("{{ other.Output }}", StepError::OutputNotAvailable { step: "other".into(), output: "Output".into() }),
    ] {
        assert_eq!(resolve_value(&json!(text), &ctx), Err(expected), "{text}");
    }
    assert_eq!(
        StepError::UnknownReference { reference: "Nope".into() }.to_string(),
        "Nope is not defined in the Automation Document or its execution"
    );
}

#[test]
fn resolution_is_not_recursive() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["{{ Mode }}"])]);
    let outputs = BTreeMap::new();
    let ctx = context(&resolved, &outputs);
    assert_eq!(resolve_value(&json!("{{ InstanceIds }}"), &ctx), Ok(json!(["{{ Mode }}"])));
    assert_eq!(resolve_value(&json!("a {{ InstanceIds }}"), &ctx), Ok(json!(r#"a ["{{ Mode }}"]"#)));
}

#[test]
fn dates_follow_the_time_passed_in() {
    let runbook = runbook(PARAMETERS);
    let resolved = parameters(&runbook, &[("InstanceIds", &["i-1"])]);
    let outputs = BTreeMap::new();
    let ctx = Context { now: NOW + time::Duration::days(300), ..context(&resolved, &outputs) };
    assert_eq!(resolve_value(&json!("{{global:DATE_TIME}}"), &ctx), Ok(json!("2024-12-30_07.08.09")));
    assert_eq!(resolve_value(&json!("{{ global:DATE }}"), &ctx), Ok(json!("2024-12-30")));
}
