//! Values, descriptions, allowed patterns, key ids, tiers, types, data types and the version limit.

use super::{Expected, assert_outcome};
use crate::parameter::{
    DataType, MAX_VERSIONS, ParameterError, ParameterType, Tier, check_allowed_pattern, check_type_change,
    compile_allowed_pattern, resolve_tier, validate_description, validate_key_id, validate_value, version_to_evict,
};

#[test]
fn values() {
    let standard_max = "x".repeat(4096);
    let standard_over = "x".repeat(4097);
    let advanced_max = "x".repeat(8192);
    let advanced_over = "x".repeat(8193);
    // Two bytes a character: 2,049 characters are 4,098 bytes.
    let wide = "é".repeat(2049);
    let cases: Vec<(&str, &str, Tier, Expected)> = vec![
        ("plain", "value", Tier::Standard, Ok(())),
        ("list", "a,b,c", Tier::Standard, Ok(())),
        ("standard max", &standard_max, Tier::Standard, Ok(())),
        (
            "standard over",
            &standard_over,
            Tier::Standard,
            Err((
                "ValidationException",
                "Standard tier parameters support a maximum parameter value of 4096 bytes; this value has 4097. \
                 To store a larger value, use the advanced-parameter tier.",
            )),
        ),
        ("bytes not characters", &wide, Tier::Standard, Err(("ValidationException", "*this value has 4098.*"))),
        ("advanced max", &advanced_max, Tier::Advanced, Ok(())),
        (
            "advanced over",
            &advanced_over,
            Tier::Advanced,
            Err((
                "ValidationException",
                "Advanced tier parameters support a maximum parameter value of 8192 bytes; this value has 8193.",
            )),
        ),
        (
            "empty",
            "",
            Tier::Standard,
            Err((
                "ValidationException",
                "1 validation error detected: Value '' at 'value' failed to satisfy constraint: \
                 Member must have length greater than or equal to 1",
            )),
        ),
        ("single braces", "{a}", Tier::Standard, Ok(())),
        ("open only", "{{ not closed", Tier::Standard, Ok(())),
        ("close before open", "}} then {{", Tier::Standard, Ok(())),
        (
            "reference",
            "{{ssm:other}}",
            Tier::Standard,
            Err((
                "ValidationException",
                "Parameter value can't nest another parameter. Do not use \"{{}}\" in the value.",
            )),
        ),
        ("empty braces", "x{{}}y", Tier::Standard, Err(("ValidationException", "Parameter value can't nest*"))),
        ("template", "Hello {{ name }}!", Tier::Standard, Err(("ValidationException", "*"))),
        ("across lines", "{{\n}}", Tier::Standard, Err(("ValidationException", "*"))),
    ];
    for (case, value, tier, expected) in cases {
        assert_outcome(case, validate_value(value, tier), expected);
    }
}

#[test]
fn value_errors_never_echo_the_value() {
    let secret = format!("hunter2{}", "x".repeat(5000));
    let error = validate_value(&secret, Tier::Standard).unwrap_err();
    assert!(!error.to_string().contains("hunter2") && !format!("{error:?}").contains("hunter2"));
    let error = validate_value("hunter2 {{x}}", Tier::Standard).unwrap_err();
    assert!(!error.to_string().contains("hunter2") && !format!("{error:?}").contains("hunter2"));
    let error = check_allowed_pattern("hunter2", "[0-9]+").unwrap_err();
    assert!(!error.to_string().contains("hunter2") && !format!("{error:?}").contains("hunter2"));
}

#[test]
fn descriptions() {
    assert_outcome("empty", validate_description(""), Ok(()));
    assert_outcome("max", validate_description(&"d".repeat(1024)), Ok(()));
    assert_outcome("max in characters", validate_description(&"é".repeat(1024)), Ok(()));
    assert_outcome(
        "over",
        validate_description(&"d".repeat(1025)),
        Err((
            "ValidationException",
            "1 validation error detected: Value 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd…' \
             at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024",
        )),
    );
}

#[test]
fn allowed_patterns_match_whole_values() {
    let cases: &[(&str, &str, Expected)] = &[
        ("^\\d+$", "123", Ok(())),
        ("\\d{1,4}", "1000", Ok(())),
        // AWS's own example: a search would find "10" in "10,000".
        (
            "\\d{1,4}",
            "10,000",
            Err((
                "ParameterPatternMismatchException",
                "Parameter value, cannot be validated against allowedPattern: \\d{1,4}",
            )),
        ),
        ("[a-z]+", "abc; rm -rf /", Err(("ParameterPatternMismatchException", "*"))),
        ("a|b", "ab", Err(("ParameterPatternMismatchException", "*"))),
        ("a|b", "b", Ok(())),
        (".{8,20}", "p#sW*rd33", Ok(())),
        (".{8,20}", "short", Err(("ParameterPatternMismatchException", "*"))),
        ("", "anything at all", Ok(())),
        (
            "(",
            "x",
            Err(("InvalidAllowedPatternException", "The allowed pattern \"(\" is not a valid regular expression: *")),
        ),
        ("a)|(b", "a)|(b", Err(("InvalidAllowedPatternException", "*"))),
        ("(?=x)x", "x", Err(("InvalidAllowedPatternException", "*"))),
    ];
    for (pattern, value, expected) in cases {
        assert_outcome(pattern, check_allowed_pattern(value, pattern), *expected);
    }
    assert!(compile_allowed_pattern("").unwrap().is_none());
    let long = "a".repeat(1025);
    assert_outcome(
        "long pattern",
        compile_allowed_pattern(&long).map(drop),
        Err(("ValidationException", "1 validation error detected: Value 'aaaa*")),
    );
    assert!(compile_allowed_pattern(&"a".repeat(1024)).unwrap().is_some());
}

#[test]
fn key_ids() {
    let cases: &[(&str, ParameterType, Expected)] = &[
        ("alias/aws/ssm", ParameterType::SecureString, Ok(())),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", ParameterType::SecureString, Ok(())),
        ("arn:aws:kms:us-east-2:111122223333:key/1234abcd", ParameterType::SecureString, Ok(())),
        ("", ParameterType::SecureString, Err(("ValidationException", "*at 'keyId'*"))),
        (
            "alias/my key",
            ParameterType::SecureString,
            Err((
                "ValidationException",
                "1 validation error detected: Value 'alias/my key' at 'keyId' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$",
            )),
        ),
        ("alias/x\n", ParameterType::SecureString, Err(("ValidationException", "*"))),
        (
            "alias/aws/ssm",
            ParameterType::String,
            Err(("ValidationException", "KeyId can only be used with SecureString parameters, not String")),
        ),
        ("alias/aws/ssm", ParameterType::StringList, Err(("ValidationException", "*StringList"))),
    ];
    for (key_id, parameter_type, expected) in cases {
        assert_outcome(key_id, validate_key_id(key_id, *parameter_type), *expected);
    }
    assert_outcome("longest", validate_key_id(&"k".repeat(256), ParameterType::SecureString), Ok(()));
    assert!(validate_key_id(&"k".repeat(257), ParameterType::SecureString).is_err());
}

#[test]
fn enums_parse_and_print() {
    for parameter_type in [ParameterType::String, ParameterType::StringList, ParameterType::SecureString] {
        assert_eq!(ParameterType::parse(parameter_type.as_str()).unwrap(), parameter_type);
    }
    assert_outcome(
        "type",
        ParameterType::parse("str").map(drop),
        Err((
            "ValidationException",
            "1 validation error detected: Value 'str' at 'type' failed to satisfy constraint: \
             Member must satisfy enum value set: [SecureString, StringList, String]",
        )),
    );
    assert!(ParameterType::parse("string").is_err(), "case-sensitive");

    for tier in [Tier::Standard, Tier::Advanced, Tier::IntelligentTiering] {
        assert_eq!(Tier::parse(tier.as_str()).unwrap(), tier);
    }
    assert_eq!(Tier::IntelligentTiering.as_str(), "Intelligent-Tiering");
    assert_outcome("tier", Tier::parse("IntelligentTiering").map(drop), Err(("ValidationException", "*")));

    for data_type in [DataType::Text, DataType::Ec2Image, DataType::SsmIntegration] {
        assert_eq!(DataType::parse(data_type.as_str()).unwrap(), data_type);
    }
    assert_eq!(DataType::default(), DataType::Text);
    assert_outcome(
        "data type",
        DataType::parse("Text").map(drop),
        Err((
            "ValidationException",
            "The following data type is not supported: Text (Data type names are all lowercase.)",
        )),
    );
    assert_eq!(ParameterError::MissingType.to_string(), "A parameter type is required when you create a parameter.");
}

#[test]
fn tiers() {
    let small = "x".repeat(4096);
    let large = "x".repeat(4097);
    assert_eq!(Tier::IntelligentTiering.resolve(&small), Tier::Standard);
    assert_eq!(Tier::IntelligentTiering.resolve(&large), Tier::Advanced);
    assert_eq!(Tier::Standard.resolve(&large), Tier::Standard, "explicit tiers are kept; the size check refuses");
    assert_eq!(Tier::Advanced.resolve("x"), Tier::Advanced);

    assert_eq!(resolve_tier(Tier::Standard, "x", None), Ok(Tier::Standard));
    assert_eq!(resolve_tier(Tier::IntelligentTiering, &large, None), Ok(Tier::Advanced));
    assert_eq!(resolve_tier(Tier::Advanced, "x", Some(Tier::Standard)), Ok(Tier::Advanced), "upgrades are fine");
    assert_eq!(resolve_tier(Tier::IntelligentTiering, "x", Some(Tier::Advanced)), Ok(Tier::Advanced));
    assert_eq!(resolve_tier(Tier::Advanced, "x", Some(Tier::Advanced)), Ok(Tier::Advanced));
    let downgrade = resolve_tier(Tier::Standard, "x", Some(Tier::Advanced)).unwrap_err();
    assert_eq!(downgrade.code(), "ValidationException");
    assert!(downgrade.to_string().starts_with("This parameter uses the advanced-parameter tier."));
}

#[test]
fn type_changes() {
    assert_eq!(check_type_change("/a", ParameterType::String, ParameterType::String), Ok(()));
    let error = check_type_change("/a", ParameterType::String, ParameterType::SecureString).unwrap_err();
    assert_eq!(error.code(), "HierarchyTypeMismatchException");
    assert_eq!(
        error.to_string(),
        "Parameter Store doesn't support changing a parameter's type: /a is String, not SecureString"
    );
}

#[test]
fn version_limit() {
    assert_eq!(MAX_VERSIONS, 100);
    assert_eq!(version_to_evict("/a", 0, 1, 0), Ok(None));
    assert_eq!(version_to_evict("/a", 99, 1, 3), Ok(None), "room for the 100th");
    assert_eq!(version_to_evict("/a", 100, 7, 0), Ok(Some(7)));
    let error = version_to_evict("/a", 100, 7, 1).unwrap_err();
    assert_eq!(error.code(), "ParameterMaxVersionLimitExceeded");
    assert_eq!(
        error.to_string(),
        "You attempted to create a new version of /a by calling the PutParameter API with the overwrite flag. \
         Version 7, the oldest version, can't be deleted because it has a label associated with it. Move the label \
         to another version of the parameter, and try again."
    );
}

#[test]
fn codes() {
    let cases = [
        (ParameterError::AlreadyExists { name: "a".into() }, "ParameterAlreadyExists"),
        (ParameterError::NotFound { name: "a".into() }, "ParameterNotFound"),
        (ParameterError::VersionNotFound { name: "a".into(), version: "2".into() }, "ParameterVersionNotFound"),
        (ParameterError::LabelLimitExceeded { max: 10 }, "ParameterVersionLabelLimitExceeded"),
        (ParameterError::MixedFilters, "ValidationException"),
        (ParameterError::ReservedPath { name: "/aws/a/b".into() }, "AccessDeniedException"),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error:?}");
    }
    assert_eq!(
        ParameterError::AlreadyExists { name: "a".into() }.to_string(),
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
    );
}
