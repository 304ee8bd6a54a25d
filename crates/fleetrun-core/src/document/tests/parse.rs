//! Parsing: both formats, every schema version, and every reason a document is refused.

use serde_json::json;

use super::{assert_message, command_yaml};
use crate::document::{
    DocumentError, DocumentFormat, DocumentKind, MAX_DOCUMENT_BYTES, ParamType, Precondition, parse_document,
};

/// A schema 2.2 document in the style of AWS-RunRemoteScript, in YAML.
const REMOTE_SCRIPT_YAML: &str = r#"
schemaVersion: "2.2"
description: Fetch a script and run it.
parameters:
  sourceType:
    type: String
    description: Where the script lives.
    allowedValues: [GitHub, S3]
  sourceInfo:
    type: StringMap
    displayType: textarea
  commandLine:
    type: String
  workingDirectory:
    type: String
    default: ""
    maxChars: 4096
mainSteps:
  - action: aws:downloadContent
    name: downloadContent
    inputs:
      sourceType: "{{ sourceType }}"
      sourceInfo: "{{ sourceInfo }}"
      destinationPath: "{{ workingDirectory }}"
  - action: aws:runShellScript
    name: runShellScript
    precondition:
      StringEquals: [platformType, Linux]
    inputs:
      workingDirectory: "{{ workingDirectory }}"
      runCommand: ["", " {{ commandLine }} "]
outputs: [runShellScript.Output]
assumeRole: "{{ AutomationAssumeRole }}"
"#;

/// The same document in JSON, with the keys in another order.
const REMOTE_SCRIPT_JSON: &str = r#"{
  "assumeRole": "{{ AutomationAssumeRole }}",
  "description": "Fetch a script and run it.",
  "mainSteps": [
    {"name": "downloadContent", "action": "aws:downloadContent",
     "inputs": {"sourceType": "{{ sourceType }}", "sourceInfo": "{{ sourceInfo }}",
                "destinationPath": "{{ workingDirectory }}"}},
    {"name": "runShellScript", "action": "aws:runShellScript",
     "precondition": {"StringEquals": ["platformType", "Linux"]},
     "inputs": {"workingDirectory": "{{ workingDirectory }}", "runCommand": ["", " {{ commandLine }} "]}}
  ],
  "outputs": ["runShellScript.Output"],
  "parameters": {
    "sourceType": {"type": "String", "description": "Where the script lives.", "allowedValues": ["GitHub", "S3"]},
    "sourceInfo": {"type": "StringMap", "displayType": "textarea"},
    "commandLine": {"type": "String"},
    "workingDirectory": {"type": "String", "default": "", "maxChars": 4096}
  },
  "schemaVersion": "2.2"
}"#;

#[test]
fn yaml_and_json_give_the_same_document() {
    let from_yaml = command_yaml(REMOTE_SCRIPT_YAML);
    let from_json = parse_document(REMOTE_SCRIPT_JSON, DocumentFormat::Json, DocumentKind::Command).unwrap();
    assert_eq!(from_yaml, from_json);

    let doc = from_yaml;
    assert_eq!(doc.schema_version, "2.2");
    assert_eq!(doc.description, "Fetch a script and run it.");
    let names: Vec<_> = doc.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sourceType", "sourceInfo", "commandLine", "workingDirectory"]);
    let source_type = &doc.parameters[0];
    assert_eq!(source_type.kind, ParamType::String);
    assert_eq!(source_type.allowed_values, ["GitHub", "S3"]);
    assert!(source_type.is_required());
    assert_eq!(doc.parameters[1].kind, ParamType::StringMap);
    assert_eq!(doc.parameters[1].display_type.as_deref(), Some("textarea"));
    assert_eq!(doc.parameters[3].default, Some(json!("")));
    assert_eq!(doc.parameters[3].max_chars, Some(4096));

    assert_eq!(doc.steps.len(), 2);
    assert_eq!(doc.steps[0].name, "downloadContent");
    assert_eq!(doc.steps[0].action, "aws:downloadContent");
    assert_eq!(doc.steps[0].inputs["sourceInfo"], json!("{{ sourceInfo }}"));
    assert_eq!(doc.steps[0].precondition, None);
    assert_eq!(
        doc.steps[1].precondition,
        Some(Precondition { string_equals: ("platformType".into(), "Linux".into()) })
    );
    assert_eq!(doc.steps[1].inputs["runCommand"], json!(["", " {{ commandLine }} "]));
}

#[test]
fn schema_1_2_steps_come_from_runtime_config_in_order() {
    let doc = command_yaml(
        r#"
schemaVersion: "1.2"
runtimeConfig:
  aws:runShellScript:
    properties:
      - {id: first, runCommand: [a]}
      - {runCommand: [b]}
  aws:runPowerShellScript:
    properties: {runCommand: [c]}
"#,
    );
    let steps: Vec<_> = doc.steps.iter().map(|s| (s.name.as_str(), s.action.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("first", "aws:runShellScript"),
            ("1.aws:runShellScript", "aws:runShellScript"),
            ("0.aws:runPowerShellScript", "aws:runPowerShellScript"),
        ]
    );
    assert_eq!(doc.steps[0].inputs, json!({"id": "first", "runCommand": ["a"]}));
    assert!(doc.parameters.is_empty());
    assert_eq!(doc.description, "");
}

#[test]
fn schema_versions_accepted_per_kind() {
    let steps_2x = "mainSteps: [{name: s, action: aws:runShellScript, inputs: {runCommand: [x]}}]";
    let steps_1_2 = "runtimeConfig: {aws:runShellScript: {properties: [{runCommand: [x]}]}}";
    let cases = [
        ("schemaVersion: '1.2'", steps_1_2, DocumentKind::Command, "1.2"),
        ("schemaVersion: '2.0'", steps_2x, DocumentKind::Command, "2.0"),
        ("schemaVersion: '2.2'", steps_2x, DocumentKind::Command, "2.2"),
        ("schemaVersion: '0.3'", steps_2x, DocumentKind::Automation, "0.3"),
        // Unquoted numbers are tolerated and read as their text.
        ("schemaVersion: 1.2", steps_1_2, DocumentKind::Command, "1.2"),
        ("schemaVersion: 2.0", steps_2x, DocumentKind::Command, "2.0"),
        ("schemaVersion: 2.2", steps_2x, DocumentKind::Command, "2.2"),
        ("schemaVersion: 0.3", steps_2x, DocumentKind::Automation, "0.3"),
    ];
    for (version, steps, kind, expected) in cases {
        let content = format!("{version}\n{steps}\n");
        let doc = parse_document(&content, DocumentFormat::Yaml, kind).unwrap_or_else(|e| panic!("{content}: {e}"));
        assert_eq!(doc.schema_version, expected, "{content}");
    }
    let json = r#"{"schemaVersion": 2.2, "mainSteps": [{"name": "s", "action": "aws:runShellScript", "inputs": {}}]}"#;
    let doc = parse_document(json, DocumentFormat::Json, DocumentKind::Command).unwrap();
    assert_eq!(doc.schema_version, "2.2");
}

#[test]
fn automation_documents_parse_steps_and_ignore_their_extra_keys() {
    let content = r#"
schemaVersion: "0.3"
assumeRole: "{{ AutomationAssumeRole }}"
parameters:
  AutomationAssumeRole: {type: String, default: ""}
  Count: {type: Integer, default: 3}
mainSteps:
  - name: wait
    action: aws:sleep
    onFailure: Abort
    precondition: {StringEquals: ["{{ Count }}", "3"]}
    inputs: {Duration: PT1M}
outputs: [wait.Output]
files: {script.py: {checksums: {sha256: abc}}}
"#;
    let doc = parse_document(content, DocumentFormat::Yaml, DocumentKind::Automation).unwrap();
    assert_eq!(doc.steps.len(), 1);
    assert_eq!(doc.steps[0].action, "aws:sleep");
    assert_eq!(doc.steps[0].precondition, None);
    assert_eq!(doc.parameters[1].default, Some(json!(3)));
}

#[test]
fn yaml_anchors_within_budget_are_fine() {
    let doc = command_yaml(
        r#"
schemaVersion: "2.2"
mainSteps:
  - {name: one, action: aws:runShellScript, inputs: &shared {runCommand: [uptime]}}
  - {name: two, action: aws:runShellScript, inputs: *shared}
"#,
    );
    assert_eq!(doc.steps[0].inputs, doc.steps[1].inputs);
}

#[test]
fn dense_documents_near_the_size_limit_stay_within_the_budget() {
    // One-character items cost the most budget per byte an honest document can spend.
    let items = vec!["a"; 30_000].join(",");
    let content = format!(
        "schemaVersion: '2.2'\nparameters: {{p: {{type: StringList, default: [{items}]}}}}\n\
         mainSteps: [{{name: s, action: aws:runShellScript, inputs: {{}}}}]\n"
    );
    assert!(content.len() <= MAX_DOCUMENT_BYTES);
    let doc = command_yaml(&content);
    assert_eq!(doc.parameters[0].default.as_ref().unwrap().as_array().unwrap().len(), 30_000);
}

#[test]
fn content_of_exactly_the_size_limit_is_accepted() {
    let base =
        r#"{"schemaVersion": "2.2", "mainSteps": [{"name": "s", "action": "aws:runShellScript", "inputs": {}}]}"#;
    let content = format!("{base}{}", " ".repeat(MAX_DOCUMENT_BYTES - base.len()));
    assert_eq!(content.len(), MAX_DOCUMENT_BYTES);
    parse_document(&content, DocumentFormat::Json, DocumentKind::Command).unwrap();
    let content = format!("{content} ");
    let error = parse_document(&content, DocumentFormat::Json, DocumentKind::Command).unwrap_err();
    assert!(matches!(error, DocumentError::TooLarge { size: 65537, max: 65536 }), "{error}");
}

/// The classic "billion laughs": nine levels of nine aliases each.
fn billion_laughs() -> String {
    let mut content = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..=9 {
        let refs = vec![format!("*a{}", level - 1); 9].join(", ");
        content.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    content
}

/// Few aliases, each expanding to a large list: stays under yaml_serde's own repetition limit,
/// so it is fleetrun's budget that must stop it.
fn wide_alias_bomb() -> String {
    let items = vec!["0123456789"; 2000].join(", ");
    let refs = vec!["*big"; 200].join(", ");
    format!("schemaVersion: '2.2'\nbig: &big [{items}]\nwide: [{refs}]\n")
}

#[test]
fn alias_bombs_fail_cleanly() {
    for (case, content) in [("billion laughs", billion_laughs()), ("wide", wide_alias_bomb())] {
        assert!(content.len() <= MAX_DOCUMENT_BYTES, "{case}: {} bytes", content.len());
        let error = parse_document(&content, DocumentFormat::Yaml, DocumentKind::Command).expect_err(case);
        assert!(matches!(error, DocumentError::TooComplex { .. } | DocumentError::InvalidYaml(_)), "{case}: {error}");
    }
    let error = parse_document(&wide_alias_bomb(), DocumentFormat::Yaml, DocumentKind::Command).unwrap_err();
    assert_message(
        "wide",
        &error.to_string(),
        "Document content expands to more than 262144 values and characters; \
         YAML anchors and aliases may not be used to inflate a document",
    );
}

#[test]
fn deep_nesting_fails_cleanly() {
    let json = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let error = parse_document(&json, DocumentFormat::Json, DocumentKind::Command).unwrap_err();
    assert_message("json", &error.to_string(), "Document content is not valid JSON: recursion limit*");
    let yaml = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let error = parse_document(&yaml, DocumentFormat::Yaml, DocumentKind::Command).unwrap_err();
    assert_message("yaml", &error.to_string(), "Document content is not valid YAML: recursion limit*");
}

/// `(case, YAML content, expected message)`; the kind is Command unless the case says otherwise.
const REFUSED_YAML: &[(&str, &str, &str)] = &[
    ("syntax", "a: [", "Document content is not valid YAML: *"),
    ("two documents", "a: 1\n---\nb: 2\n", "Document content is not valid YAML: *"),
    ("tagged value", "schemaVersion: !Ref x\n", "Document content is not valid YAML: *"),
    ("not finite", "schemaVersion: '2.2'\nx: .nan\n", "Document content is not valid YAML: *"),
    (
        "duplicate key",
        "schemaVersion: '2.2'\nschemaVersion: '1.2'\n",
        "Key \"schemaVersion\" appears more than once in the same mapping",
    ),
    ("null key", "~: 1\n", "Mapping key must be a string, number or boolean, not null"),
    ("list key", "? [a]\n: 1\n", "Mapping key must be a string, number or boolean, not a list"),
    ("empty", "", "Document content must be a mapping (an object) at the top level"),
    ("list", "- a\n", "Document content must be a mapping (an object) at the top level"),
    ("scalar", "hello\n", "Document content must be a mapping (an object) at the top level"),
    ("no schemaVersion", "mainSteps: []\n", "Document field \"schemaVersion\" is required"),
    (
        "schemaVersion list",
        "schemaVersion: [2.2]\n",
        "Document field \"schemaVersion\" must be a string such as \"2.2\"",
    ),
    (
        "schema 3.0",
        "schemaVersion: '3.0'\n",
        "Schema version \"3.0\" is not supported for Command documents (supported: 1.2, 2.0, 2.2)",
    ),
    (
        "schema 0.3 as Command",
        "schemaVersion: '0.3'\n",
        "Schema version \"0.3\" is not supported for Command documents (supported: 1.2, 2.0, 2.2)",
    ),
    (
        "schema 2 as integer",
        "schemaVersion: 2\n",
        "Schema version \"2\" is not supported for Command documents (supported: 1.2, 2.0, 2.2)",
    ),
    (
        "description not text",
        "schemaVersion: '2.2'\ndescription: [a]\n",
        "Document field \"description\" must be a string",
    ),
    // Schema 1.2.
    ("1.2 no runtimeConfig", "schemaVersion: '1.2'\n", "Document field \"runtimeConfig\" is required"),
    (
        "1.2 runtimeConfig list",
        "schemaVersion: '1.2'\nruntimeConfig: [a]\n",
        "Document field \"runtimeConfig\" must be a mapping",
    ),
    (
        "1.2 empty runtimeConfig",
        "schemaVersion: '1.2'\nruntimeConfig: {}\n",
        "Document field \"runtimeConfig\" must contain at least one step",
    ),
    (
        "1.2 empty properties",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {properties: []}}\n",
        "Document field \"runtimeConfig\" must contain at least one step",
    ),
    (
        "1.2 bad plugin name",
        "schemaVersion: '1.2'\nruntimeConfig: {runShellScript: {properties: [{}]}}\n",
        "Step \"runShellScript\" has invalid action \"runShellScript\": an action is \"aws:\" followed by 3 to 25 letters",
    ),
    (
        "1.2 plugin not mapping",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: x}\n",
        "Document field \"runtimeConfig.aws:runShellScript\" must be a mapping",
    ),
    (
        "1.2 no properties",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {}}\n",
        "Document field \"runtimeConfig.aws:runShellScript.properties\" is required",
    ),
    (
        "1.2 properties text",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {properties: x}}\n",
        "Document field \"runtimeConfig.aws:runShellScript.properties\" must be a mapping or a list of mappings",
    ),
    (
        "1.2 property not mapping",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {properties: [x]}}\n",
        "Document field \"runtimeConfig.aws:runShellScript.properties[0]\" must be a mapping",
    ),
    (
        "1.2 id not text",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {properties: [{id: [1]}]}}\n",
        "Document field \"runtimeConfig.aws:runShellScript.properties[0].id\" must be a string",
    ),
    (
        "1.2 duplicate ids",
        "schemaVersion: '1.2'\nruntimeConfig: {aws:runShellScript: {properties: [{id: x}, {id: x}]}}\n",
        "Step name \"x\" is used more than once",
    ),
    // Schema 2.x.
    ("2.2 no mainSteps", "schemaVersion: '2.2'\n", "Document field \"mainSteps\" is required"),
    (
        "2.2 mainSteps mapping",
        "schemaVersion: '2.2'\nmainSteps: {a: 1}\n",
        "Document field \"mainSteps\" must be a list of steps",
    ),
    (
        "2.2 empty mainSteps",
        "schemaVersion: '2.2'\nmainSteps: []\n",
        "Document field \"mainSteps\" must contain at least one step",
    ),
    ("step not mapping", "schemaVersion: '2.2'\nmainSteps: [x]\n", "Document field \"mainSteps[0]\" must be a mapping"),
    (
        "step without name",
        "schemaVersion: '2.2'\nmainSteps: [{action: aws:runShellScript, inputs: {}}]\n",
        "Document field \"mainSteps[0].name\" is required",
    ),
    (
        "step name number",
        "schemaVersion: '2.2'\nmainSteps: [{name: [1], action: aws:runShellScript, inputs: {}}]\n",
        "Document field \"mainSteps[0].name\" must be a string",
    ),
    (
        "step without action",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, inputs: {}}]\n",
        "Document field \"mainSteps[0].action\" is required",
    ),
    (
        "step without inputs",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript}]\n",
        "Document field \"mainSteps[0].inputs\" is required",
    ),
    (
        "step inputs list",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: [x]}]\n",
        "Document field \"mainSteps[0].inputs\" must be a mapping",
    ),
    (
        "step name with space",
        "schemaVersion: '2.2'\nmainSteps: [{name: a b, action: aws:runShellScript, inputs: {}}]\n",
        "Step name \"a b\" is invalid: it must be 1 to 128 letters, digits, '_', '-' or '.'",
    ),
    (
        "step name empty",
        "schemaVersion: '2.2'\nmainSteps: [{name: '', action: aws:runShellScript, inputs: {}}]\n",
        "Step name \"\" is invalid: it must be 1 to 128 letters, digits, '_', '-' or '.'",
    ),
    (
        "step name injection",
        "schemaVersion: '2.2'\nmainSteps: [{name: \"a\\n;rm\", action: aws:runShellScript, inputs: {}}]\n",
        "Step name \"a\\n;rm\" is invalid: it must be 1 to 128 letters, digits, '_', '-' or '.'",
    ),
    (
        "duplicate step names",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}}, {name: a, action: aws:runShellScript, inputs: {}}]\n",
        "Step name \"a\" is used more than once",
    ),
    (
        "action without prefix",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: runShellScript, inputs: {}}]\n",
        "Step \"a\" has invalid action \"runShellScript\": an action is \"aws:\" followed by 3 to 25 letters",
    ),
    (
        "action too short",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: 'aws:ab', inputs: {}}]\n",
        "Step \"a\" has invalid action \"aws:ab\": an action is \"aws:\" followed by 3 to 25 letters",
    ),
    (
        "action with dash",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: 'aws:run-shell', inputs: {}}]\n",
        "Step \"a\" has invalid action \"aws:run-shell\": an action is \"aws:\" followed by 3 to 25 letters",
    ),
    (
        "precondition in 2.0",
        "schemaVersion: '2.0'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: {StringEquals: [platformType, Linux]}}]\n",
        "Step \"a\" has a precondition, which schema version 2.0 does not support (use 2.2)",
    ),
    (
        "precondition other operator",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: {StringNotEquals: [platformType, Linux]}}]\n",
        "Step \"a\" has an invalid precondition: only StringEquals is supported",
    ),
    (
        "precondition two keys",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: {StringEquals: [a, a], Or: [b, b]}}]\n",
        "Step \"a\" has an invalid precondition: it must be a mapping with the single key StringEquals",
    ),
    (
        "precondition list",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: [a]}]\n",
        "Step \"a\" has an invalid precondition: it must be a mapping with the single key StringEquals",
    ),
    (
        "precondition three operands",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: {StringEquals: [a, b, c]}}]\n",
        "Step \"a\" has an invalid precondition: StringEquals takes a list of exactly two strings",
    ),
    (
        "precondition number operand",
        "schemaVersion: '2.2'\nmainSteps: [{name: a, action: aws:runShellScript, inputs: {}, precondition: {StringEquals: [a, 1]}}]\n",
        "Step \"a\" has an invalid precondition: StringEquals takes a list of exactly two strings",
    ),
];

#[test]
fn refused_documents() {
    for (case, content, expected) in REFUSED_YAML {
        let error = parse_document(content, DocumentFormat::Yaml, DocumentKind::Command).expect_err(case);
        assert_message(case, &error.to_string(), expected);
    }
}

#[test]
fn refused_json_documents() {
    let too_large = format!("{{\"description\": \"{}\"}}", "x".repeat(MAX_DOCUMENT_BYTES));
    let cases: &[(&str, &str, DocumentKind, &str)] = &[
        ("syntax", "{", DocumentKind::Command, "Document content is not valid JSON: *"),
        (
            "trailing text",
            "{\"schemaVersion\": \"2.2\"} x",
            DocumentKind::Command,
            "Document content is not valid JSON: *",
        ),
        (
            "duplicate key",
            "{\"schemaVersion\": \"2.2\", \"schemaVersion\": \"1.2\"}",
            DocumentKind::Command,
            "Key \"schemaVersion\" appears more than once in the same mapping",
        ),
        ("array", "[1, 2]", DocumentKind::Command, "Document content must be a mapping (an object) at the top level"),
        ("too large", &too_large, DocumentKind::Command, "Document content is 65555 bytes; the limit is 65536 bytes"),
        (
            "2.2 as Automation",
            "{\"schemaVersion\": \"2.2\"}",
            DocumentKind::Automation,
            "Schema version \"2.2\" is not supported for Automation documents (supported: 0.3)",
        ),
    ];
    for (case, content, kind, expected) in cases {
        let error = parse_document(content, DocumentFormat::Json, *kind).expect_err(case);
        assert_message(case, &error.to_string(), expected);
    }
}

/// `(case, parameters section in YAML flow style, expected message)`.
const REFUSED_PARAMETERS: &[(&str, &str, &str)] = &[
    ("section is a list", "[a]", "Document field \"parameters\" must be a mapping"),
    (
        "name with dash",
        "{my-param: {type: String}}",
        "Parameter name \"my-param\" is invalid: it must be one or more ASCII letters or digits",
    ),
    (
        "name with underscore",
        "{my_param: {type: String}}",
        "Parameter name \"my_param\" is invalid: it must be one or more ASCII letters or digits",
    ),
    (
        "name with braces",
        "{'{{x}}': {type: String}}",
        "Parameter name \"{{x}}\" is invalid: it must be one or more ASCII letters or digits",
    ),
    ("declaration not mapping", "{p: String}", "Document field \"parameters.p\" must be a mapping"),
    ("no type", "{p: {default: x}}", "Document field \"parameters.p.type\" is required"),
    (
        "unknown type",
        "{p: {type: string}}",
        "Parameter \"p\" has type \"string\"; the supported types are String, StringList, Integer, Boolean, StringMap and MapList",
    ),
    (
        "description not text",
        "{p: {type: String, description: [a]}}",
        "Document field \"parameters.p.description\" must be a string",
    ),
    (
        "String default number",
        "{p: {type: String, default: 3600}}",
        "Parameter \"p\" has a default that is not a string",
    ),
    (
        "StringList default text",
        "{p: {type: StringList, default: a}}",
        "Parameter \"p\" has a default that is not a list of strings",
    ),
    (
        "StringList default numbers",
        "{p: {type: StringList, default: [1]}}",
        "Parameter \"p\" has a default that is not a list of strings",
    ),
    (
        "Integer default text",
        "{p: {type: Integer, default: '5'}}",
        "Parameter \"p\" has a default that is not an integer",
    ),
    (
        "Integer default fraction",
        "{p: {type: Integer, default: 1.5}}",
        "Parameter \"p\" has a default that is not an integer",
    ),
    (
        "Integer default too big",
        "{p: {type: Integer, default: 18446744073709551615}}",
        "Parameter \"p\" has a default that is not an integer that fits in 64 bits",
    ),
    (
        "Boolean default text",
        "{p: {type: Boolean, default: 'yes'}}",
        "Parameter \"p\" has a default that is not true or false",
    ),
    (
        "StringMap default list",
        "{p: {type: StringMap, default: [a]}}",
        "Parameter \"p\" has a default that is not a mapping",
    ),
    (
        "MapList default of strings",
        "{p: {type: MapList, default: [a]}}",
        "Parameter \"p\" has a default that is not a list of mappings",
    ),
    (
        "Integer default ssm reference",
        "{p: {type: Integer, default: '{{ssm:/x}}'}}",
        "Parameter \"p\" has a default that is not an integer",
    ),
    (
        "default breaks pattern",
        "{p: {type: String, default: abc, allowedPattern: '[0-9]+'}}",
        "Parameter \"p\" has a default that breaks its own constraints: Parameter \"p\" value \"abc\" does not match the allowed pattern \"[0-9]+\"",
    ),
    (
        "default not allowed",
        "{p: {type: String, default: c, allowedValues: [a, b]}}",
        "Parameter \"p\" has a default that breaks its own constraints: Parameter \"p\" value \"c\" is not one of the allowed values: a, b",
    ),
    (
        "default too long",
        "{p: {type: String, default: abcdef, maxChars: 3}}",
        "Parameter \"p\" has a default that breaks its own constraints: Parameter \"p\" value \"abcdef\" is longer than 3 characters",
    ),
    (
        "default too few items",
        "{p: {type: StringList, default: [a], minItems: 2}}",
        "Parameter \"p\" has a default that breaks its own constraints: Parameter \"p\" needs at least 2 items, got 1",
    ),
    (
        "allowedValues text",
        "{p: {type: String, allowedValues: a}}",
        "Document field \"parameters.p.allowedValues\" must be a list of strings",
    ),
    (
        "allowedValues numbers",
        "{p: {type: String, allowedValues: [1, 2]}}",
        "Document field \"parameters.p.allowedValues\" must be a list of strings",
    ),
    (
        "allowedPattern list",
        "{p: {type: String, allowedPattern: [a]}}",
        "Document field \"parameters.p.allowedPattern\" must be a string",
    ),
    (
        "allowedPattern unbalanced",
        "{p: {type: String, allowedPattern: '('}}",
        "Parameter \"p\" allowedPattern \"(\" is not a valid regular expression: unclosed group",
    ),
    (
        "allowedPattern escaping its anchor",
        "{p: {type: String, allowedPattern: 'a)|(b'}}",
        "Parameter \"p\" allowedPattern \"a)|(b\" is not a valid regular expression: unopened group",
    ),
    (
        "allowedPattern look-ahead",
        "{p: {type: String, allowedPattern: '(?=a)a'}}",
        "Parameter \"p\" allowedPattern \"(?=a)a\" is not a valid regular expression: look-around, including look-ahead and look-behind, is not supported",
    ),
    (
        "allowedPattern back-reference",
        "{p: {type: String, allowedPattern: '(a)\\1'}}",
        "Parameter \"p\" allowedPattern \"(a)\\1\" is not a valid regular expression: backreferences are not supported",
    ),
    (
        "minItems negative",
        "{p: {type: StringList, minItems: -1}}",
        "Parameter \"p\" field \"minItems\" must be a non-negative integer",
    ),
    (
        "maxItems fraction",
        "{p: {type: StringList, maxItems: 1.5}}",
        "Parameter \"p\" field \"maxItems\" must be a non-negative integer",
    ),
    (
        "minChars text",
        "{p: {type: String, minChars: abc}}",
        "Parameter \"p\" field \"minChars\" must be a non-negative integer",
    ),
    (
        "maxChars boolean",
        "{p: {type: String, maxChars: true}}",
        "Parameter \"p\" field \"maxChars\" must be a non-negative integer",
    ),
    (
        "items reversed",
        "{p: {type: StringList, minItems: 3, maxItems: '2'}}",
        "Parameter \"p\" has minItems 3 greater than maxItems 2",
    ),
    (
        "chars reversed",
        "{p: {type: String, minChars: '9', maxChars: 1}}",
        "Parameter \"p\" has minChars 9 greater than maxChars 1",
    ),
    (
        "displayType unknown",
        "{p: {type: String, displayType: dropdown}}",
        "Parameter \"p\" displayType \"dropdown\" is not one of textfield, textarea",
    ),
];

#[test]
fn refused_parameter_declarations() {
    for (case, parameters, expected) in REFUSED_PARAMETERS {
        let content = format!(
            "schemaVersion: '2.2'\nparameters: {parameters}\n\
             mainSteps: [{{name: a, action: aws:runShellScript, inputs: {{}}}}]\n"
        );
        let error = parse_document(&content, DocumentFormat::Yaml, DocumentKind::Command).expect_err(case);
        assert_message(case, &error.to_string(), expected);
    }
}

#[test]
fn parameter_declarations_accept_every_type_and_numeric_text_limits() {
    let doc = command_yaml(
        r#"
schemaVersion: "2.2"
parameters:
  s: {type: String, default: "{{ssm:/fleet/name}}", allowedPattern: "[a-z]+"}
  l: {type: StringList, default: [a, b], minItems: "1", maxItems: 5}
  i: {type: Integer, default: -7}
  b: {type: Boolean, default: true}
  m: {type: StringMap, default: {k: v}}
  ml: {type: MapList, default: [{k: v}], minChars: 0, maxChars: "100"}
  plain: {type: String, displayType: textfield, default: "x"}
mainSteps: [{name: a, action: aws:runShellScript, inputs: {}}]
"#,
    );
    let kinds: Vec<_> = doc.parameters.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, ["String", "StringList", "Integer", "Boolean", "StringMap", "MapList", "String"]);
    assert_eq!(doc.parameters[1].min_items, Some(1));
    assert_eq!(doc.parameters[1].max_items, Some(5));
    assert_eq!(doc.parameters[5].max_chars, Some(100));
    assert_eq!(doc.parameters[5].default, Some(json!([{"k": "v"}])));
    assert!(doc.parameters.iter().all(|p| !p.is_required()));
    for kind in ["String", "StringList", "Integer", "Boolean", "StringMap", "MapList"] {
        assert_eq!(ParamType::parse(kind).map(ParamType::as_str), Some(kind));
    }
    assert_eq!(ParamType::parse("string"), None);
}
