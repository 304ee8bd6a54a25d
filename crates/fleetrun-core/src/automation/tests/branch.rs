//! `aws:branch`: parsing choices, every operator, And/Or/Not, Default, and the refusals.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Pairs, context, parameters, refused, runbook};
use crate::automation::{
    Action, BranchDecl, BranchOutcome, Condition, Operator, StepError, StepOutputs, compare, evaluate_branch,
};
use crate::document::ParamValue;

/// SSM's "complex branching" example shapes: And, Or, Not, and a Default.
const BRANCHING: &str = r#"
schemaVersion: "0.3"
parameters:
  Platform: {type: String}
  Ping: {type: String, default: running}
  Size: {type: Integer, default: 5}
  Force: {type: Boolean, default: false}
  Zones: {type: StringList, default: [a, b]}
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - And:
            - Variable: "{{ Ping }}"
              StringEquals: running
            - Variable: "{{ Platform }}"
              StringEquals: Windows
          NextStep: windows
        - Or:
            - Variable: "{{ Platform }}"
              EqualsIgnoreCase: LINUX
            - Variable: "{{ Force }}"
              BooleanEquals: true
          NextStep: linux
        - NextStep: big
          Not:
            Variable: "{{ Size }}"
            NumericLesserOrEquals: 10
      Default: other
  - name: windows
    action: aws:pause
    inputs: {}
    isEnd: true
  - name: linux
    action: aws:pause
    inputs: {}
    isEnd: true
  - name: big
    action: aws:pause
    inputs: {}
    isEnd: true
  - name: other
    action: aws:pause
    inputs: {}
"#;

fn branch_of(runbook: &crate::automation::Runbook) -> &BranchDecl {
    match &runbook.steps[0].action {
        Action::Branch(branch) => branch,
        other => panic!("not a branch: {other:?}"),
    }
}

#[test]
fn choices_are_parsed() {
    let runbook = runbook(BRANCHING);
    let branch = branch_of(&runbook);
    assert_eq!(branch.choices.len(), 3);
    assert_eq!(branch.default.as_deref(), Some("other"));
    let Condition::And(conditions) = &branch.choices[0].condition else { panic!("{:?}", branch.choices[0]) };
    assert_eq!(
        conditions[0],
        Condition::Compare {
            variable: json!("{{ Ping }}"),
            operator: Operator::StringEquals,
            operand: json!("running")
        }
    );
    assert!(matches!(branch.choices[2].condition, Condition::Not(_)));
    assert_eq!(runbook.steps[0].valid_next_steps(&runbook), ["windows", "linux", "big", "other"]);
}

#[test]
fn the_first_true_choice_wins_else_the_default() {
    let runbook = runbook(BRANCHING);
    let branch = branch_of(&runbook);
    let outputs = BTreeMap::new();
    let cases: &[(Pairs, BranchOutcome)] = &[
        (&[("Platform", &["Windows"])], BranchOutcome::Choice { index: 0, next_step: "windows".into() }),
        (&[("Platform", &["Windows"]), ("Ping", &["stopped"])], BranchOutcome::Default("other".into())),
        (&[("Platform", &["linux"])], BranchOutcome::Choice { index: 1, next_step: "linux".into() }),
        (
            &[("Platform", &["MacOS"]), ("Force", &["true"])],
            BranchOutcome::Choice { index: 1, next_step: "linux".into() },
        ),
        (&[("Platform", &["MacOS"]), ("Size", &["11"])], BranchOutcome::Choice { index: 2, next_step: "big".into() }),
        (&[("Platform", &["MacOS"]), ("Size", &["10"])], BranchOutcome::Default("other".into())),
    ];
    for (pairs, expected) in cases {
        let resolved = parameters(&runbook, pairs);
        let outcome = evaluate_branch(branch, &context(&resolved, &outputs)).unwrap();
        assert_eq!(outcome, *expected, "{pairs:?}");
    }
}

#[test]
fn without_a_default_nothing_matches() {
    let runbook = runbook(
        r#"
schemaVersion: "0.3"
parameters: {Os: {type: String}}
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - {NextStep: end, Variable: "{{ Os }}", StringEquals: Windows}
  - name: end
    action: aws:pause
    inputs: {}
"#,
    );
    let resolved = parameters(&runbook, &[("Os", &["Linux"])]);
    let outputs = BTreeMap::new();
    let outcome = evaluate_branch(branch_of(&runbook), &context(&resolved, &outputs)).unwrap();
    assert_eq!(outcome, BranchOutcome::NoMatch);
    assert_eq!(outcome.next_step(), None);
}

#[test]
fn variables_from_step_outputs_are_resolved_lazily() {
    let runbook = runbook(
        r#"
schemaVersion: "0.3"
mainSteps:
  - name: check
    action: aws:executeScript
    inputs: {Runtime: python3.11, Handler: h, Script: x}
    outputs:
      - {Name: platform, Selector: $.Payload.platform, Type: String}
  - name: other
    action: aws:executeScript
    inputs: {Runtime: python3.11, Handler: h, Script: x}
    outputs:
      - {Name: flag, Selector: $.Payload.flag, Type: Boolean}
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - {NextStep: check, Variable: "{{ check.platform }}", StringEquals: Linux}
        - {NextStep: other, Variable: "{{ other.flag }}", BooleanEquals: true}
"#,
    );
    let Action::Branch(branch) = &runbook.steps[2].action else { panic!() };
    let resolved = parameters(&runbook, &[]);
    let mut check = StepOutputs::new();
    check.insert("platform", ParamValue::String("Linux".into()));
    let outputs = BTreeMap::from([("check".to_owned(), check)]);
    // The second choice's variable refers to a step that has not run; it is never evaluated.
    let outcome = evaluate_branch(branch, &context(&resolved, &outputs)).unwrap();
    assert_eq!(outcome, BranchOutcome::Choice { index: 0, next_step: "check".into() });
    let mut check = StepOutputs::new();
    check.insert("platform", ParamValue::String("Windows".into()));
    let outputs = BTreeMap::from([("check".to_owned(), check)]);
    let error = evaluate_branch(branch, &context(&resolved, &outputs)).unwrap_err();
    assert_eq!(error, StepError::OutputNotAvailable { step: "other".into(), output: "flag".into() });
}

#[test]
fn operators() {
    let cases = [
        (Operator::StringEquals, json!("Linux"), json!("Linux"), true),
        (Operator::StringEquals, json!("Linux"), json!("linux"), false),
        (Operator::StringEquals, json!(5), json!("5"), true),
        (Operator::EqualsIgnoreCase, json!("Linux"), json!("LINUX"), true),
        (Operator::StartsWith, json!("i-0123"), json!("i-"), true),
        (Operator::StartsWith, json!("x-0123"), json!("i-"), false),
        (Operator::EndsWith, json!("file.zip"), json!(".zip"), true),
        (Operator::Contains, json!("hello world"), json!("lo w"), true),
        (Operator::Contains, json!(["a", "b"]), json!("b"), true),
        (Operator::Contains, json!(["a", "b"]), json!("c"), false),
        (Operator::NumericEquals, json!(3), json!("3.0"), true),
        (Operator::NumericGreater, json!("10"), json!(9), true),
        (Operator::NumericGreater, json!(9), json!(9), false),
        (Operator::NumericGreaterOrEquals, json!(9), json!(9), true),
        (Operator::NumericLesser, json!(-1), json!(0), true),
        (Operator::NumericLesserOrEquals, json!(1.5), json!(1.5), true),
        (Operator::BooleanEquals, json!(true), json!(true), true),
        (Operator::BooleanEquals, json!("False"), json!(false), true),
        (Operator::BooleanEquals, json!("true"), json!(false), false),
    ];
    for (operator, variable, operand, expected) in cases {
        assert_eq!(compare(operator, &variable, &operand, 0), Ok(expected), "{variable} {operator:?} {operand}");
    }
    assert_eq!(
        compare(Operator::NumericEquals, &json!("many"), &json!(3), 2).unwrap_err().to_string(),
        r#"Choice 2 operator NumericEquals needs a number, got "many""#
    );
    assert_eq!(
        compare(Operator::BooleanEquals, &json!("yes"), &json!(true), 0).unwrap_err().to_string(),
        r#"Choice 0 operator BooleanEquals needs true or false, got "yes""#
    );
    assert_eq!(
        compare(Operator::StringEquals, &json!({"a": 1}), &json!("x"), 1).unwrap_err().to_string(),
        r#"Choice 1 operator StringEquals needs text, got {"a":1}"#
    );
}

#[test]
fn refusals() {
    let wrap = |choices: &str| {
        format!(
            "schemaVersion: '0.3'\nparameters: {{P: {{type: String, default: x}}}}\nmainSteps:\n  - name: b\n    action: aws:branch\n    inputs:\n{choices}\n  - {{name: t, action: aws:pause, inputs: {{}}}}\n"
        )
    };
    let cases: &[(&str, &str, &str)] = &[
        ("no choices", "      Default: t", r#"Step "b" input "Choices" is required"#),
        (
            "empty choices",
            "      Choices: []",
            r#"Step "b" input "Choices" is invalid: it must be a non-empty list of choices"#,
        ),
        (
            "unknown operator",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', StringMatches: x}",
            r#"Step "b" input "Choices[0].StringMatches" is invalid: it is not a supported operator (StringEquals, EqualsIgnoreCase, StartsWith, EndsWith, Contains, NumericEquals, NumericGreater, NumericGreaterOrEquals, NumericLesser, NumericLesserOrEquals, BooleanEquals, And, Or, Not)"#,
        ),
        (
            "no NextStep",
            "      Choices:\n        - {Variable: '{{ P }}', StringEquals: x}",
            r#"Step "b" input "Choices[0].NextStep" is required"#,
        ),
        (
            "NextStep names no step",
            "      Choices:\n        - {NextStep: nowhere, Variable: '{{ P }}', StringEquals: x}",
            r#"Step "b" field "inputs.Choices[0].NextStep" names step "nowhere", which does not exist"#,
        ),
        (
            "Default names no step",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', StringEquals: x}\n      Default: nowhere",
            r#"Step "b" field "inputs.Default" names step "nowhere", which does not exist"#,
        ),
        (
            "no Variable",
            "      Choices:\n        - {NextStep: t, StringEquals: x}",
            r#"Step "b" input "Choices[0].Variable" is invalid: it is required with a comparison operator"#,
        ),
        (
            "two operators",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', StringEquals: x, StartsWith: y}",
            r#"Step "b" input "Choices[0]" is invalid: it may have only one operator"#,
        ),
        (
            "no operator",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}'}",
            r#"Step "b" input "Choices[0]" is invalid: it needs an operator"#,
        ),
        (
            "numeric operator with text",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', NumericGreater: big}",
            r#"Step "b" input "Choices[0].NumericGreater" is invalid: it must be a number"#,
        ),
        (
            "boolean operator with text",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', BooleanEquals: maybe}",
            r#"Step "b" input "Choices[0].BooleanEquals" is invalid: it must be true or false"#,
        ),
        (
            "empty And",
            "      Choices:\n        - {NextStep: t, And: []}",
            r#"Step "b" input "Choices[0].And" is invalid: it must be a non-empty list of conditions"#,
        ),
        (
            "NextStep inside And",
            "      Choices:\n        - NextStep: t\n          And:\n            - {NextStep: t, Variable: '{{ P }}', StringEquals: x}",
            r#"Step "b" input "Choices[0].And[0].NextStep" is invalid: only a top-level choice has NextStep"#,
        ),
        (
            "bad operator inside Not",
            "      Choices:\n        - NextStep: t\n          Not: {Variable: '{{ P }}', Equals: x}",
            r#"Step "b" input "Choices[0].Not.Equals" is invalid: it is not a supported operator (StringEquals, EqualsIgnoreCase, StartsWith, EndsWith, Contains, NumericEquals, NumericGreater, NumericGreaterOrEquals, NumericLesser, NumericLesserOrEquals, BooleanEquals, And, Or, Not)"#,
        ),
        (
            "Variable beside Or",
            "      Choices:\n        - NextStep: t\n          Variable: '{{ P }}'\n          Or:\n            - {Variable: '{{ P }}', StringEquals: x}",
            r#"Step "b" input "Choices[0].Variable" is invalid: Variable goes inside the conditions of And, Or and Not"#,
        ),
        (
            "variable refers to an undeclared parameter",
            "      Choices:\n        - {NextStep: t, Variable: '{{ Q }}', StringEquals: x}",
            r#"Step "b" input "Choices" refers to "{{ Q }}": no parameter of that name is declared"#,
        ),
        (
            "unknown input",
            "      Choices:\n        - {NextStep: t, Variable: '{{ P }}', StringEquals: x}\n      Otherwise: t",
            r#"Step "b" input "Otherwise" is not supported by aws:branch"#,
        ),
    ];
    for (case, choices, expected) in cases {
        assert_eq!(refused(&wrap(choices)), *expected, "case {case:?}");
    }
}
