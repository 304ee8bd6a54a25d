//! Rendering: whole-string and embedded interpolation, non-recursion, preconditions, and the
//! script plugin inputs.

use serde_json::{Value, json};

use super::{command_yaml, supplied};
use crate::document::{
    RenderError, RenderedStep, ResolvedParameters, ScriptInputs, render_steps, resolve_parameters, script_text,
};

const DOC: &str = r#"
schemaVersion: "2.2"
parameters:
  commands: {type: StringList}
  dir: {type: String, default: /tmp}
  count: {type: Integer, default: 2}
  flag: {type: Boolean, default: true}
  sourceInfo: {type: StringMap, default: {}}
  rows: {type: MapList, default: []}
  platform: {type: String, default: Linux}
mainSteps:
  - action: aws:runShellScript
    name: run
    precondition: {StringEquals: [platformType, "{{ platform }}"]}
    inputs:
      runCommand: "{{ commands }}"
      workingDirectory: "{{dir}}"
      timeoutSeconds: "{{   count   }}"
      flag: "{{ flag }}"
      embedded: "cd {{ dir }} && run {{ count }} {{flag}} {{ commands }}"
      untouched: ["{{ssm:/fleet/x}}", "{{ssm-secure:token}}", "{{ global:REGION }}", "{{ notDeclared }}", "{{ dir", "{ { dir } }"]
      nested: {list: [{deep: "{{ dir }}/x"}], "{{ dir }}": key}
      number: 5
  - action: aws:downloadContent
    name: fetch
    inputs:
      sourceType: GitHub
      sourceInfo: "{{ sourceInfo }}"
      inline: "info={{ sourceInfo }} rows={{ rows }}"
      rows: "{{ rows }}"
"#;

fn render(pairs: &[(&str, &[&str])]) -> Vec<RenderedStep> {
    let doc = command_yaml(DOC);
    let params = resolve_parameters(&doc, &supplied(pairs)).unwrap();
    render_steps(&doc, &params).unwrap()
}

#[test]
fn whole_strings_become_values_and_embedded_references_become_text() {
    let source_info =
        r#"{"owner": "fleet", "repository": "scripts", "path": "run.sh", "tokenInfo": "{{ssm-secure:gh}}"}"#;
    let steps = render(&[
        ("commands", &["echo one", "echo two"]),
        ("sourceInfo", &[source_info]),
        ("rows", &[r#"[{"k": "v"}]"#]),
    ]);
    let inputs = &steps[0].inputs;
    assert_eq!(inputs["runCommand"], json!(["echo one", "echo two"]));
    assert_eq!(inputs["workingDirectory"], json!("/tmp"));
    assert_eq!(inputs["timeoutSeconds"], json!(2));
    assert_eq!(inputs["flag"], json!(true));
    assert_eq!(inputs["embedded"], json!(r#"cd /tmp && run 2 true ["echo one","echo two"]"#));
    assert_eq!(
        inputs["untouched"],
        json!([
            "{{ssm:/fleet/x}}",
            "{{ssm-secure:token}}",
            "{{ global:REGION }}",
            "{{ notDeclared }}",
            "{{ dir",
            "{ { dir } }"
        ])
    );
    // Strings are interpolated at any depth; object keys are not.
    assert_eq!(inputs["nested"], json!({"list": [{"deep": "/tmp/x"}], "{{ dir }}": "key"}));
    assert_eq!(inputs["number"], json!(5));

    // A StringMap, as AWS-RunRemoteScript's sourceInfo uses it.
    let fetch = &steps[1].inputs;
    assert_eq!(
        fetch["sourceInfo"],
        json!({"owner": "fleet", "repository": "scripts", "path": "run.sh", "tokenInfo": "{{ssm-secure:gh}}"})
    );
    assert_eq!(fetch["rows"], json!([{"k": "v"}]));
    assert_eq!(
        fetch["inline"],
        json!(
            r#"info={"owner":"fleet","path":"run.sh","repository":"scripts","tokenInfo":"{{ssm-secure:gh}}"} rows=[{"k":"v"}]"#
        )
    );
    assert_eq!(fetch["sourceType"], json!("GitHub"));
}

#[test]
fn interpolation_is_not_recursive() {
    let steps = render(&[
        ("commands", &["{{ dir }}", "echo {{ count }}"]),
        ("dir", &["{{ commands }}"]),
        ("platform", &["{{ platform }}"]),
    ]);
    let inputs = &steps[0].inputs;
    assert_eq!(inputs["runCommand"], json!(["{{ dir }}", "echo {{ count }}"]));
    assert_eq!(inputs["workingDirectory"], json!("{{ commands }}"));
    assert_eq!(inputs["nested"]["list"][0]["deep"], json!("{{ commands }}/x"));
    assert_eq!(inputs["embedded"], json!(r#"cd {{ commands }} && run 2 true ["{{ dir }}","echo {{ count }}"]"#));
    assert_eq!(steps[0].precondition, Some(("platformType".into(), "{{ platform }}".into())));
}

#[test]
fn preconditions_are_interpolated_and_decide_platforms() {
    let steps = render(&[("commands", &["true"]), ("platform", &["Windows"])]);
    assert_eq!(steps[0].precondition, Some(("platformType".into(), "Windows".into())));
    assert!(steps[0].applies_to("Windows"));
    assert!(!steps[0].applies_to("Linux"));
    assert!(steps[1].applies_to("MacOS"), "no precondition applies everywhere");

    let step = |a: &str, b: &str| RenderedStep {
        name: "s".into(),
        action: "aws:runShellScript".into(),
        inputs: json!({}),
        precondition: Some((a.into(), b.into())),
    };
    let cases = [
        (step("platformType", "Linux"), "Linux", true),
        (step("platformType", "Linux"), "MacOS", false),
        (step("platformType", "linux"), "Linux", false),
        (step("Linux", "platformType"), "Linux", true),
        (step("platformType", "platformType"), "Windows", true),
        (step("a", "a"), "Linux", true),
        (step("a", "b"), "Linux", false),
        (step("", ""), "Linux", true),
    ];
    for (step, platform, expected) in cases {
        assert_eq!(step.applies_to(platform), expected, "{:?} on {platform}", step.precondition);
    }
}

#[test]
fn parameters_of_another_document_are_refused() {
    let doc = command_yaml(DOC);
    let other = command_yaml(
        "schemaVersion: '2.2'\nparameters: {dir: {type: String, default: x}}\n\
         mainSteps: [{name: a, action: aws:runShellScript, inputs: {}}]\n",
    );
    let params: ResolvedParameters = resolve_parameters(&other, &supplied(&[])).unwrap();
    let error = render_steps(&doc, &params).unwrap_err();
    assert_eq!(error, RenderError::UnresolvedParameter { step: "run".into(), name: "platform".into() });
    assert_eq!(error.to_string(), "Step \"run\" refers to parameter \"platform\", which has no resolved value");
}

#[test]
fn script_inputs_timeouts_follow_the_agent() {
    let cases: &[(Option<Value>, u64)] = &[
        (None, 3600),
        (Some(Value::Null), 3600),
        (Some(json!("0")), 3600),
        (Some(json!("4")), 3600),
        (Some(json!("5")), 5),
        (Some(json!("3600")), 3600),
        (Some(json!("172800")), 172800),
        (Some(json!("172801")), 3600),
        (Some(json!("abc")), 3600),
        (Some(json!("")), 3600),
        (Some(json!(" 30")), 3600),
        (Some(json!("-30")), 3600),
        (Some(json!("99999999999999999999")), 3600),
        (Some(json!("30.9")), 30),
        (Some(json!("1e2")), 100),
        (Some(json!("inf")), 3600),
        (Some(json!("NaN")), 3600),
        (Some(json!("4.9")), 3600),
        (Some(json!(30)), 30),
        (Some(json!(30.9)), 30),
        (Some(json!(4)), 3600),
        (Some(json!(172801)), 3600),
        (Some(json!(-30)), 3600),
        (Some(json!(1e300)), 3600),
        (Some(json!(true)), 3600),
        (Some(json!(["30"])), 3600),
    ];
    for (timeout, expected) in cases {
        let mut inputs = json!({"runCommand": ["true"]});
        if let Some(timeout) = timeout {
            inputs["timeoutSeconds"] = timeout.clone();
        }
        let script = ScriptInputs::from_inputs(&inputs).unwrap();
        assert_eq!(script.timeout_seconds, *expected, "timeoutSeconds {timeout:?}");
    }
}

#[test]
fn script_inputs_commands_and_directory() {
    let ok = |inputs: Value| ScriptInputs::from_inputs(&inputs).unwrap();
    let script = ok(json!({"runCommand": "echo hi"}));
    assert_eq!(
        script,
        ScriptInputs { run_command: vec!["echo hi".into()], working_directory: String::new(), timeout_seconds: 3600 }
    );
    let script = ok(json!({"runCommand": ["a", "b"], "workingDirectory": "/srv", "timeoutSeconds": "60"}));
    assert_eq!(script.run_command, ["a", "b"]);
    assert_eq!(script.working_directory, "/srv");
    assert_eq!(script.timeout_seconds, 60);
    assert_eq!(ok(json!({"runCommand": [], "workingDirectory": null})).working_directory, "");

    let refused = [
        (json!(["echo"]), RenderError::InputsNotAnObject),
        (json!({}), RenderError::MissingRunCommand),
        (json!({"runCommand": null}), RenderError::MissingRunCommand),
        (json!({"runCommand": 5}), RenderError::InvalidRunCommand),
        (json!({"runCommand": ["a", 5]}), RenderError::InvalidRunCommand),
        (json!({"runCommand": {"a": "b"}}), RenderError::InvalidRunCommand),
        (json!({"runCommand": "a", "workingDirectory": 5}), RenderError::InvalidWorkingDirectory),
    ];
    for (inputs, expected) in refused {
        assert_eq!(ScriptInputs::from_inputs(&inputs), Err(expected), "{inputs}");
    }
}

#[test]
fn script_text_joins_lines_with_a_trailing_newline() {
    let script = |lines: &[&str]| ScriptInputs {
        run_command: lines.iter().map(|l| l.to_string()).collect(),
        working_directory: String::new(),
        timeout_seconds: 3600,
    };
    assert_eq!(script_text(&script(&["echo hi"])), "echo hi\n");
    assert_eq!(script_text(&script(&["#!/bin/bash", "set -e", "ls"])), "#!/bin/bash\nset -e\nls\n");
    assert_eq!(script_text(&script(&["a\n"])), "a\n\n");
    assert_eq!(script_text(&script(&[])), "\n");
}
