//! The built-in documents, hashes, document names, platform types, format conversion and the
//! small enums.

use serde_json::json;

use super::{Supplied, command_yaml, supplied};
use crate::document::tree::{self, Node};
use crate::document::{
    DocumentFormat, DocumentKind, ScriptInputs, builtin_document, builtin_documents, convert, document_hash,
    parse_document, platform_types, render_steps, resolve_parameters, script_text, validate_document_name,
};

#[test]
fn aws_run_shell_script_parses_resolves_and_renders() {
    let builtin = builtin_document("AWS-RunShellScript").unwrap();
    assert_eq!(builtin.kind, DocumentKind::Command);
    let doc = builtin.document();
    assert_eq!(doc.schema_version, "1.2");
    let names: Vec<_> = doc.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["commands", "workingDirectory", "executionTimeout"]);
    assert!(doc.parameters[0].is_required());
    assert_eq!(doc.parameters[0].display_type.as_deref(), Some("textarea"));
    assert_eq!(doc.steps.len(), 1);
    assert_eq!(doc.steps[0].name, "0.aws:runShellScript");
    assert_eq!(doc.steps[0].action, "aws:runShellScript");
    assert_eq!(platform_types(&doc), ["Linux", "MacOS"]);

    let params = resolve_parameters(&doc, &supplied(&[("commands", &["echo hello"])])).unwrap();
    let wire: Vec<_> = params.to_wire().into_iter().collect();
    assert_eq!(
        wire,
        [
            ("commands".to_owned(), vec!["echo hello".to_owned()]),
            ("executionTimeout".to_owned(), vec!["3600".to_owned()]),
            ("workingDirectory".to_owned(), vec![String::new()]),
        ]
    );
    let steps = render_steps(&doc, &params).unwrap();
    assert_eq!(
        steps[0].inputs,
        json!({
            "id": "0.aws:runShellScript",
            "runCommand": ["echo hello"],
            "workingDirectory": "",
            "timeoutSeconds": "3600",
        })
    );
    let script = ScriptInputs::from_inputs(&steps[0].inputs).unwrap();
    assert_eq!(script.timeout_seconds, 3600);
    assert_eq!(script_text(&script), "echo hello\n");
}

#[test]
fn aws_run_shell_script_refuses_injection_and_missing_commands() {
    let doc = builtin_document("AWS-RunShellScript").unwrap().document();
    let cases: &[(Supplied, &str)] = &[
        (
            &[("commands", &["id"]), ("executionTimeout", &["3600; rm -rf /"])],
            r#"Parameter "executionTimeout" value "3600; rm -rf /" does not match the allowed pattern "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)""#,
        ),
        (
            &[("commands", &["id"]), ("executionTimeout", &["99999999"])],
            r#"Parameter "executionTimeout" value "99999999" does not match the allowed pattern "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)""#,
        ),
        (&[], r#"Parameter "commands" is required"#),
        (&[("commands", &[])], r#"Parameter "commands" is required"#),
        (&[("commands", &["id"]), ("foo", &["x"])], r#"Parameter "foo" is not declared by the document"#),
    ];
    for (pairs, expected) in cases {
        let error = resolve_parameters(&doc, &supplied(pairs)).unwrap_err();
        assert_eq!(error.to_string(), *expected);
    }
}

#[test]
fn builtin_content_is_canonical_and_its_hash_is_stable() {
    for builtin in builtin_documents() {
        // Pretty-printed with a four-space indent, exactly as fleetrun would write it.
        let node = tree::load(builtin.content, DocumentFormat::Json).unwrap();
        assert_eq!(tree::write(&node, DocumentFormat::Json).unwrap(), builtin.content, "{}", builtin.name);
        // Users cannot create documents with these names.
        assert!(validate_document_name(builtin.name).is_err(), "{}", builtin.name);
        parse_document(builtin.content, DocumentFormat::Json, builtin.kind).unwrap();
    }
    let builtin = builtin_document("AWS-RunShellScript").unwrap();
    // Changing the content changes the Hash clients see; update this only on purpose.
    assert_eq!(document_hash(builtin.content), "369cc1993828d545523aaa5bb5d085d89c981de7a415c90c98cfc955185b094f");
    assert!(builtin_document("aws-runshellscript").is_none());
}

#[test]
fn document_hash_is_sha256_hex() {
    assert_eq!(document_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(document_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn document_names() {
    let long_ok = "a".repeat(128);
    let too_long = "a".repeat(129);
    let good = ["abc", "My-Doc_1.0", "x.y", "Deploy-App", "awx", "ama", "AW-Thing", long_ok.as_str()];
    for name in good {
        assert!(validate_document_name(name).is_ok(), "{name}");
    }
    let invalid =
        |name: &str| format!("Document name {name:?} is invalid: it must be 3 to 128 letters, digits, '_', '-' or '.'");
    let reserved =
        |name: &str, prefix: &str| format!("Document name {name:?} starts with the reserved prefix \"{prefix}\"");
    let bad = [
        ("ab".to_owned(), invalid("ab")),
        (String::new(), invalid("")),
        (
            too_long.clone(),
            format!(
                "Document name \"{}\"… is invalid: it must be 3 to 128 letters, digits, '_', '-' or '.'",
                "a".repeat(80)
            ),
        ),
        ("my doc".to_owned(), invalid("my doc")),
        ("doc/1".to_owned(), invalid("doc/1")),
        ("dóc".to_owned(), invalid("dóc")),
        ("doc\n".to_owned(), invalid("doc\n")),
        ("AWS-RunShellScript".to_owned(), reserved("AWS-RunShellScript", "aws")),
        ("aws-mine".to_owned(), reserved("aws-mine", "aws")),
        ("AwsThing".to_owned(), reserved("AwsThing", "aws")),
        ("awsec2-x".to_owned(), reserved("awsec2-x", "aws")),
        ("Amazon.x".to_owned(), reserved("Amazon.x", "amazon")),
        ("AMZN_thing".to_owned(), reserved("AMZN_thing", "amzn")),
    ];
    for (name, expected) in bad {
        let error = validate_document_name(&name).unwrap_err();
        assert_eq!(error.to_string(), expected, "{name:?}");
    }
}

#[test]
fn platform_types_follow_the_actions() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["aws:runShellScript"], &["Linux", "MacOS"]),
        (&["aws:runPowerShellScript"], &["Windows", "Linux", "MacOS"]),
        (&["aws:runShellScript", "aws:runShellScript"], &["Linux", "MacOS"]),
        (&["aws:downloadContent", "aws:runShellScript"], &["Windows", "Linux", "MacOS"]),
        (&["aws:runDocument"], &["Windows", "Linux", "MacOS"]),
        (&["aws:sleep"], &[]),
    ];
    for (actions, expected) in cases {
        let steps: Vec<String> = actions
            .iter()
            .enumerate()
            .map(|(i, action)| format!("{{name: s{i}, action: '{action}', inputs: {{}}}}"))
            .collect();
        let doc = command_yaml(&format!("schemaVersion: '2.2'\nmainSteps: [{}]\n", steps.join(", ")));
        assert_eq!(platform_types(&doc), *expected, "{actions:?}");
    }
}

#[test]
fn convert_round_trips_and_keeps_key_order() {
    let builtin = builtin_document("AWS-RunShellScript").unwrap();
    let yaml = convert(builtin.content, DocumentFormat::Json, DocumentFormat::Yaml).unwrap();
    assert!(yaml.starts_with("schemaVersion: '1.2'\ndescription: "), "{yaml}");
    assert_eq!(parse_document(&yaml, DocumentFormat::Yaml, DocumentKind::Command).unwrap(), builtin.document());
    assert_eq!(convert(&yaml, DocumentFormat::Yaml, DocumentFormat::Json).unwrap(), builtin.content);

    let yaml = "z: 1\na: [x, {m: true, b: null}]\nk: '2.2'\n";
    let json = convert(yaml, DocumentFormat::Yaml, DocumentFormat::Json).unwrap();
    assert_eq!(
        json,
        "{\n    \"z\": 1,\n    \"a\": [\n        \"x\",\n        {\n            \"m\": true,\n            \"b\": null\n        }\n    ],\n    \"k\": \"2.2\"\n}"
    );
    assert_eq!(
        convert(&json, DocumentFormat::Json, DocumentFormat::Yaml).unwrap(),
        "z: 1\na:\n- x\n- m: true\n  b: null\nk: '2.2'\n"
    );

    // Same format: unchanged, but still checked.
    assert_eq!(convert(yaml, DocumentFormat::Yaml, DocumentFormat::Yaml).unwrap(), yaml);
    assert!(convert("{", DocumentFormat::Json, DocumentFormat::Json).is_err());
    assert!(convert("a: [", DocumentFormat::Yaml, DocumentFormat::Json).is_err());
    assert!(convert("{\"a\": 1, \"a\": 2}", DocumentFormat::Json, DocumentFormat::Yaml).is_err());
}

#[test]
fn tree_nodes_keep_order_and_convert_to_json() {
    let node = tree::load("{\"b\": 1, \"a\": [true, null, \"x\", 1.5]}", DocumentFormat::Json).unwrap();
    let Node::Map(entries) = &node else { panic!("{node:?}") };
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b", "a"]);
    assert_eq!(node.to_json(), json!({"a": [true, null, "x", 1.5], "b": 1}));
    // Non-string YAML keys are read as their text.
    let node = tree::load("1: a\ntrue: b\n", DocumentFormat::Yaml).unwrap();
    assert_eq!(node.to_json(), json!({"1": "a", "true": "b"}));
}

#[test]
fn enum_spellings() {
    for format in [DocumentFormat::Json, DocumentFormat::Yaml] {
        assert_eq!(DocumentFormat::parse(format.as_str()), Some(format));
    }
    for kind in [DocumentKind::Command, DocumentKind::Automation] {
        assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
    }
    for text in ["json", "Yaml", "TEXT", ""] {
        assert_eq!(DocumentFormat::parse(text), None, "{text}");
    }
    for text in ["command", "Policy", "Session"] {
        assert_eq!(DocumentKind::parse(text), None, "{text}");
    }
}
