//! Label validity and LabelParameterVersion plans.

use crate::parameter::{LabelPlan, is_valid_label, plan_labels};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn label_rules() {
    let long = "l".repeat(100);
    let too_long = "l".repeat(101);
    let cases: &[(&str, bool)] = &[
        ("Production", true),
        ("v1.2-beta_3", true),
        ("a", true),
        ("awesome", true),
        ("awsome", false),
        ("AWS-x", false),
        ("ssm", false),
        ("Ssmx", false),
        ("as", true),
        ("ss", true),
        ("my-aws", true),
        ("1st", false),
        ("9", false),
        ("", false),
        ("has space", false),
        ("a/b", false),
        ("a:b", false),
        ("é", false),
        (&long, true),
        (&too_long, false),
    ];
    for (label, valid) in cases {
        assert_eq!(is_valid_label(label), *valid, "{label:?}");
    }
}

#[test]
fn plans() {
    let plan = plan_labels(&[], &strings(&["prod", "1bad", "prod", "awsx", "test"])).unwrap();
    assert_eq!(plan, LabelPlan { attach: strings(&["prod", "test"]), invalid: strings(&["1bad", "awsx"]) });

    let current = strings(&["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]);
    assert!(plan_labels(&current, &strings(&["b1"])).is_ok(), "the tenth label fits");
    assert!(plan_labels(&current, &strings(&["a1", "a2"])).is_ok(), "labels already there don't count twice");
    let error = plan_labels(&current, &strings(&["b1", "b2"])).unwrap_err();
    assert_eq!(error.code(), "ParameterVersionLabelLimitExceeded");
    assert_eq!(
        error.to_string(),
        "A parameter version can have maximum 10 labels. Move one or more labels to another version and try again."
    );
    assert!(plan_labels(&current, &strings(&["b1", "1bad"])).is_ok(), "invalid labels are not attached");
}

#[test]
fn request_limits() {
    let error = plan_labels(&[], &[]).unwrap_err();
    assert_eq!(error.code(), "ValidationException");
    let eleven: Vec<String> = (0..11).map(|n| format!("l{n}")).collect();
    let error = plan_labels(&[], &eleven).unwrap_err();
    assert_eq!(error.code(), "ValidationException");
    assert!(error.to_string().ends_with("Member must have length less than or equal to 10"), "{error}");
    let error = plan_labels(&[], &strings(&[&"l".repeat(101)])).unwrap_err();
    assert_eq!(error.code(), "ValidationException");
    assert!(error.to_string().contains("Member must have length less than or equal to 100"), "{error}");
    let error = plan_labels(&[], &strings(&[""])).unwrap_err();
    assert_eq!(error.code(), "ValidationException");
}
