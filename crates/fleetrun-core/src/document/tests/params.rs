//! Resolving supplied parameters: every rule with good and bad values, injection attempts,
//! defaults, and the `to_wire` echo.

use serde_json::json;

use super::{Supplied, assert_message, command_yaml, supplied};
use crate::document::{Document, ParamValue, ParameterError, resolve_parameters};

/// `executionTimeout`'s pattern from AWS-RunShellScript.
const TIMEOUT_PATTERN: &str = "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)";

fn rules_document() -> Document {
    command_yaml(&format!(
        r#"
schemaVersion: "2.2"
parameters:
  text: {{type: String}}
  timeout: {{type: String, default: "3600", allowedPattern: "{TIMEOUT_PATTERN}"}}
  mode: {{type: String, default: fast, allowedValues: [fast, slow]}}
  tags: {{type: StringList, default: [a], maxItems: 3, allowedValues: [a, b, c]}}
  lines: {{type: StringList, default: [x, y], minItems: 2, maxItems: 2}}
  count: {{type: Integer, default: 1}}
  flag: {{type: Boolean, default: false}}
  info: {{type: StringMap, default: {{}}}}
  rows: {{type: MapList, default: []}}
  label: {{type: String, default: x, minChars: 1, maxChars: 5}}
  ident: {{type: String, default: abc, allowedPattern: "[a-z]+"}}
  region: {{type: String, default: "{{{{ssm:/fleet/region}}}}", allowedPattern: "[a-z]+"}}
mainSteps: [{{name: a, action: aws:runShellScript, inputs: {{}}}}]
"#
    ))
}

/// `Ok((parameter, its wire value))` or `Err(message)`.
type Expected = Result<(&'static str, &'static [&'static str]), &'static str>;

/// `(case, supplied parameters besides text=["hi"], expected outcome)`.
const CASES: &[(&str, Supplied, Expected)] = &[
    // executionTimeout-style pattern: whole-value match only.
    ("timeout in range", &[("timeout", &["172800"])], Ok(("timeout", &["172800"]))),
    ("timeout default on empty list", &[("timeout", &[])], Ok(("timeout", &["3600"]))),
    (
        "timeout too big",
        &[("timeout", &["99999999"])],
        Err(
            r#"Parameter "timeout" value "99999999" does not match the allowed pattern "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)""#,
        ),
    ),
    ("timeout one over", &[("timeout", &["172801"])], Err("Parameter \"timeout\" value \"172801\" does not match*")),
    ("timeout zero", &[("timeout", &["0"])], Err("Parameter \"timeout\" value \"0\" does not match*")),
    ("timeout empty text", &[("timeout", &[""])], Err("Parameter \"timeout\" value \"\" does not match*")),
    (
        "timeout injection",
        &[("timeout", &["3600; rm -rf /"])],
        Err("Parameter \"timeout\" value \"3600; rm -rf /\" does not match*"),
    ),
    (
        "timeout prefix injection",
        &[("timeout", &["200000; rm -rf /"])],
        Err("Parameter \"timeout\" value \"200000; rm -rf /\" does not match*"),
    ),
    (
        "timeout newline injection",
        &[("timeout", &["3600\nrm -rf /"])],
        Err("Parameter \"timeout\" value \"3600\\nrm -rf /\" does not match*"),
    ),
    (
        "timeout trailing newline",
        &[("timeout", &["3600\n"])],
        Err("Parameter \"timeout\" value \"3600\\n\" does not match*"),
    ),
    ("timeout leading space", &[("timeout", &[" 3600"])], Err("Parameter \"timeout\" value \" 3600\" does not match*")),
    (
        "timeout substitution",
        &[("timeout", &["$(reboot)"])],
        Err("Parameter \"timeout\" value \"$(reboot)\" does not match*"),
    ),
    ("timeout two values", &[("timeout", &["1", "2"])], Err("Parameter \"timeout\" takes exactly one value, got 2")),
    // allowedValues.
    ("mode allowed", &[("mode", &["slow"])], Ok(("mode", &["slow"]))),
    (
        "mode wrong case",
        &[("mode", &["Slow"])],
        Err("Parameter \"mode\" value \"Slow\" is not one of the allowed values: fast, slow"),
    ),
    ("mode injection", &[("mode", &["fast; reboot"])], Err("Parameter \"mode\" value \"fast; reboot\" is not one*")),
    ("mode as a list", &[("mode", &["fast", "slow"])], Err("Parameter \"mode\" takes exactly one value, got 2")),
    ("tags allowed", &[("tags", &["a", "c"])], Ok(("tags", &["a", "c"]))),
    (
        "tags bypass with a list",
        &[("tags", &["a", "d; rm -rf /"])],
        Err("Parameter \"tags\" value \"d; rm -rf /\" is not one of the allowed values: a, b, c"),
    ),
    ("tags bypass with a joined item", &[("tags", &["a,b"])], Err("Parameter \"tags\" value \"a,b\" is not one*")),
    ("tags bypass with a newline", &[("tags", &["a\nb"])], Err("Parameter \"tags\" value \"a\\nb\" is not one*")),
    ("tags too many", &[("tags", &["a", "b", "c", "a"])], Err("Parameter \"tags\" allows at most 3 items, got 4")),
    // Item counts.
    ("lines exact", &[("lines", &["1", "2"])], Ok(("lines", &["1", "2"]))),
    ("lines too few", &[("lines", &["1"])], Err("Parameter \"lines\" needs at least 2 items, got 1")),
    ("lines too many", &[("lines", &["1", "2", "3"])], Err("Parameter \"lines\" allows at most 2 items, got 3")),
    // Integer.
    ("count", &[("count", &["42"])], Ok(("count", &["42"]))),
    ("count negative", &[("count", &["-7"])], Ok(("count", &["-7"]))),
    ("count canonical form", &[("count", &["+007"])], Ok(("count", &["7"]))),
    ("count fraction", &[("count", &["4.5"])], Err("Parameter \"count\" value \"4.5\" is not an integer")),
    ("count text", &[("count", &["abc"])], Err("Parameter \"count\" value \"abc\" is not an integer")),
    (
        "count overflow",
        &[("count", &["99999999999999999999"])],
        Err("Parameter \"count\" value \"99999999999999999999\" is not an integer"),
    ),
    ("count injection", &[("count", &["1; ls"])], Err("Parameter \"count\" value \"1; ls\" is not an integer")),
    ("count two values", &[("count", &["1", "2"])], Err("Parameter \"count\" takes exactly one value, got 2")),
    // Boolean.
    ("flag upper case", &[("flag", &["TRUE"])], Ok(("flag", &["true"]))),
    ("flag false", &[("flag", &["False"])], Ok(("flag", &["false"]))),
    ("flag yes", &[("flag", &["yes"])], Err("Parameter \"flag\" value \"yes\" is not a boolean (true or false)")),
    ("flag one", &[("flag", &["1"])], Err("Parameter \"flag\" value \"1\" is not a boolean (true or false)")),
    // StringMap and MapList.
    (
        "info object",
        &[("info", &[r#"{"path": "https://example.com/x.sh"}"#])],
        Ok(("info", &[r#"{"path":"https://example.com/x.sh"}"#])),
    ),
    ("info array", &[("info", &["[1]"])], Err("Parameter \"info\" value \"[1]\" is not a JSON object")),
    ("info not JSON", &[("info", &["path=x"])], Err("Parameter \"info\" value \"path=x\" is not a JSON object")),
    ("rows", &[("rows", &[r#"[{"a": 1}, {}]"#])], Ok(("rows", &[r#"[{"a":1},{}]"#]))),
    ("rows of numbers", &[("rows", &["[1]"])], Err("Parameter \"rows\" value \"[1]\" is not a JSON array of objects")),
    ("rows object", &[("rows", &["{}"])], Err("Parameter \"rows\" value \"{}\" is not a JSON array of objects")),
    // Characters, not bytes.
    ("label five chars", &[("label", &["ééééé"])], Ok(("label", &["ééééé"]))),
    (
        "label six chars",
        &[("label", &["éééééé"])],
        Err("Parameter \"label\" value \"éééééé\" is longer than 5 characters"),
    ),
    ("label empty", &[("label", &[""])], Err("Parameter \"label\" value \"\" is shorter than 1 characters")),
    // A plain pattern is anchored at both ends.
    ("ident", &[("ident", &["xyz"])], Ok(("ident", &["xyz"]))),
    (
        "ident upper",
        &[("ident", &["ABC"])],
        Err("Parameter \"ident\" value \"ABC\" does not match the allowed pattern \"[a-z]+\""),
    ),
    ("ident suffix", &[("ident", &["abc;id"])], Err("Parameter \"ident\" value \"abc;id\" does not match*")),
    ("ident prefix", &[("ident", &[";id abc"])], Err("Parameter \"ident\" value \";id abc\" does not match*")),
    ("ident newline", &[("ident", &["abc\n"])], Err("Parameter \"ident\" value \"abc\\n\" does not match*")),
    // An ssm reference is exempt only as a default, not when a caller supplies it.
    ("region default", &[], Ok(("region", &["{{ssm:/fleet/region}}"]))),
    (
        "region supplied reference",
        &[("region", &["{{ssm:/other}}"])],
        Err("Parameter \"region\" value \"{{ssm:/other}}\" does not match*"),
    ),
    // Supplying the default itself is the same as leaving the parameter out.
    ("region supplied default", &[("region", &["{{ssm:/fleet/region}}"])], Ok(("region", &["{{ssm:/fleet/region}}"]))),
    // Names.
    ("undeclared", &[("foo", &["x"])], Err("Parameter \"foo\" is not declared by the document")),
    ("undeclared case", &[("Text", &["x"])], Err("Parameter \"Text\" is not declared by the document")),
    ("undeclared escaped", &[("a\nb", &["x"])], Err("Parameter \"a\\nb\" is not declared by the document")),
    ("undeclared sorted", &[("zz", &["x"]), ("aa", &["x"])], Err("Parameter \"aa\" is not declared by the document")),
    (
        "declared before undeclared",
        &[("aa", &["x"]), ("count", &["x"])],
        Err("Parameter \"count\" value \"x\" is not an integer"),
    ),
    (
        "declaration order",
        &[("ident", &["1"]), ("timeout", &["0"])],
        Err("Parameter \"timeout\" value \"0\" does not match*"),
    ),
];

#[test]
fn parameter_rules() {
    let doc = rules_document();
    for (case, extra, expected) in CASES {
        let mut pairs = vec![("text", &["hi"][..])];
        pairs.extend_from_slice(extra);
        let result = resolve_parameters(&doc, &supplied(&pairs));
        match (result, expected) {
            (Ok(resolved), Ok((name, wire))) => {
                assert_eq!(resolved.to_wire()[*name], *wire, "case {case:?}");
                assert_eq!(resolved.get(name).unwrap().to_wire(), *wire, "case {case:?}");
            }
            (Err(error), Err(message)) => assert_message(case, &error.to_string(), message),
            (result, _) => panic!("case {case:?}: unexpected {result:?}"),
        }
    }
}

#[test]
fn required_parameters() {
    let doc = rules_document();
    let cases: &[(&str, Supplied)] = &[
        ("missing", &[]),
        ("empty list", &[("text", &[])]),
        ("missing with others", &[("count", &["5"])]),
        // The required check comes first, in declaration order, before undeclared names.
        ("missing with undeclared", &[("foo", &["x"])]),
    ];
    for (case, pairs) in cases {
        let error = resolve_parameters(&doc, &supplied(pairs)).unwrap_err();
        assert_eq!(error, ParameterError::Required { name: "text".into() }, "case {case:?}");
        assert_eq!(error.to_string(), "Parameter \"text\" is required");
    }
    // An empty string is a value.
    let resolved = resolve_parameters(&doc, &supplied(&[("text", &[""])])).unwrap();
    assert_eq!(resolved.get("text"), Some(&ParamValue::String(String::new())));
}

#[test]
fn defaults_are_typed_and_echoed_on_the_wire() {
    let doc = rules_document();
    let resolved = resolve_parameters(&doc, &supplied(&[("text", &["hi"])])).unwrap();
    assert_eq!(resolved.get("count"), Some(&ParamValue::Integer(1)));
    assert_eq!(resolved.get("flag"), Some(&ParamValue::Boolean(false)));
    assert_eq!(resolved.get("info"), Some(&ParamValue::StringMap(Default::default())));
    assert_eq!(resolved.get("rows"), Some(&ParamValue::MapList(vec![])));
    assert_eq!(resolved.get("nope"), None);
    let names: Vec<_> = resolved.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        ["text", "timeout", "mode", "tags", "lines", "count", "flag", "info", "rows", "label", "ident", "region"]
    );
    let wire: Vec<(String, Vec<String>)> = resolved.to_wire().into_iter().collect();
    let expected: Vec<(String, Vec<String>)> = [
        ("count", vec!["1"]),
        ("flag", vec!["false"]),
        ("ident", vec!["abc"]),
        ("info", vec!["{}"]),
        ("label", vec!["x"]),
        ("lines", vec!["x", "y"]),
        ("mode", vec!["fast"]),
        ("region", vec!["{{ssm:/fleet/region}}"]),
        ("rows", vec!["[]"]),
        ("tags", vec!["a"]),
        ("text", vec!["hi"]),
        ("timeout", vec!["3600"]),
    ]
    .into_iter()
    .map(|(name, values)| (name.to_owned(), values.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(wire, expected);
}

#[test]
fn the_wire_echo_resolves_to_the_same_values() {
    let doc = rules_document();
    let cases: &[Supplied] = &[
        &[("text", &["hi"])],
        &[
            ("text", &["a b"]),
            ("tags", &["b", "c"]),
            ("count", &["-4"]),
            ("flag", &["TRUE"]),
            ("info", &[r#"{"k": {"n": [1]}}"#]),
            ("rows", &[r#"[{"a": null}]"#]),
            ("label", &["ééé"]),
        ],
    ];
    for pairs in cases {
        let resolved = resolve_parameters(&doc, &supplied(pairs)).unwrap();
        let again = resolve_parameters(&doc, &resolved.to_wire()).unwrap();
        assert_eq!(again, resolved, "{pairs:?}");
    }
}

#[test]
fn ssm_reference_defaults_for_lists() {
    let doc = command_yaml(
        r#"
schemaVersion: "2.2"
parameters:
  hosts: {type: StringList, default: "{{ ssm:/fleet/hosts }}", allowedValues: [a]}
mainSteps: [{name: a, action: aws:runShellScript, inputs: {}}]
"#,
    );
    let resolved = resolve_parameters(&doc, &supplied(&[])).unwrap();
    assert_eq!(resolved.to_wire()["hosts"], ["{{ ssm:/fleet/hosts }}"]);
}

#[test]
fn param_values_as_json_and_text() {
    let map = json!({"owner": "fleet", "path": "run.sh"});
    let cases = [
        (ParamValue::String("a b".into()), json!("a b"), "a b"),
        (ParamValue::StringList(vec!["x".into(), "y z".into()]), json!(["x", "y z"]), r#"["x","y z"]"#),
        (ParamValue::Integer(-3), json!(-3), "-3"),
        (ParamValue::Boolean(true), json!(true), "true"),
        (ParamValue::StringMap(map.as_object().unwrap().clone()), map.clone(), r#"{"owner":"fleet","path":"run.sh"}"#),
        (ParamValue::MapList(vec![json!({"a": 1})]), json!([{"a": 1}]), r#"[{"a":1}]"#),
    ];
    for (value, as_json, as_text) in cases {
        assert_eq!(value.to_json(), as_json, "{value:?}");
        assert_eq!(value.to_text(), as_text, "{value:?}");
    }
}

#[test]
fn long_values_are_shortened_in_messages() {
    let doc = rules_document();
    let long = format!("{}\n{}", "a".repeat(100), "b".repeat(100));
    let error = resolve_parameters(&doc, &supplied(&[("text", &["hi"]), ("mode", &[&long])])).unwrap_err();
    let expected =
        format!("Parameter \"mode\" value \"{}\"… is not one of the allowed values: fast, slow", "a".repeat(80));
    assert_eq!(error.to_string(), expected);
    // The error keeps the whole value for callers that need it.
    assert!(matches!(error, ParameterError::NotAllowedValue { value, .. } if value == long));
}
