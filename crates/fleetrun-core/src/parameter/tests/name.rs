//! Names and paths: every rule of [`validate_name`], the looser reads, paths, trimming, levels and
//! storage keys.

use super::{Expected, assert_outcome};
use crate::parameter::{
    NameProblem, ParameterError, hierarchy_levels, storage_key, trim_name, validate_name, validate_path,
    validate_reference_name,
};

const INVALID: &str = "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it \
                       can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of \
                       letters, numbers and the following 3 symbols .-_";
const PREFIXED: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).";

/// `/l1/l2/.../l{levels - 1}/name`.
fn deep(levels: usize) -> String {
    let mut name: String = (1..levels).map(|level| format!("/l{level}")).collect();
    name.push_str("/name");
    name
}

#[test]
fn put_names() {
    let longest = format!("/{}", "a".repeat(1010));
    let too_long = format!("/{}", "a".repeat(1011));
    let over_model = "a".repeat(2049);
    let (levels_15, levels_16, levels_17) = (deep(15), deep(16), deep(17));
    let cases: Vec<(&str, &str, Expected)> = vec![
        ("one level", "name", Ok(())),
        ("one level rooted", "/name", Ok(())),
        ("hierarchy", "/Dev/Production/East/Project-ABC/MyParameter", Ok(())),
        ("all symbols", "/a.b-c_d/E9", Ok(())),
        ("prefix inside is fine", "/app/aws/ssm", Ok(())),
        ("similar prefix", "awt", Ok(())),
        ("longest", &longest, Ok(())),
        ("15 levels", &levels_15, Ok(())),
        ("empty", "", Err(("ValidationException", "1 validation error detected: Value '' at 'name'*"))),
        ("over the model", &over_model, Err(("ValidationException", "1 validation error detected: Value 'aaaa*"))),
        (
            "too long",
            &too_long,
            Err(("ValidationException", "Parameter name is 1012 characters long; the limit is 1011")),
        ),
        ("aws", "awsTestParameter", Err(("ValidationException", PREFIXED))),
        ("SSM upper", "SSM-testparameter", Err(("ValidationException", PREFIXED))),
        ("rooted aws one level", "/AWS", Err(("ValidationException", PREFIXED))),
        (
            "aws path",
            "/aws/testparam1",
            Err(("AccessDeniedException", "No access to reserved parameter name: /aws/testparam1.")),
        ),
        ("AWS path", "/AWS/x/y", Err(("AccessDeniedException", "No access to reserved parameter name: /AWS/x/y."))),
        ("aws-ish path", "/awsome/x", Err(("AccessDeniedException", "*"))),
        ("ssm path", "/ssm_test/path/to/var", Err(("ValidationException", INVALID))),
        ("ssm with space", "ssm name", Err(("ValidationException", PREFIXED))),
        ("space", "my name", Err(("ValidationException", INVALID))),
        ("colon", "name:1", Err(("ValidationException", INVALID))),
        ("at sign", "/myPrefix/support@example.com", Err(("ValidationException", INVALID))),
        ("braces", "{test}-test", Err(("ValidationException", INVALID))),
        ("unicode", "/é", Err(("ValidationException", INVALID))),
        ("newline", "a\nb", Err(("ValidationException", INVALID))),
        ("not fully qualified", "MyParameter3/L1", Err(("ValidationException", INVALID))),
        ("root alone", "/", Err(("ValidationException", INVALID))),
        ("empty level", "/a//b", Err(("ValidationException", INVALID))),
        ("trailing slash", "/a/b/", Err(("ValidationException", INVALID))),
        (
            "16 levels",
            &levels_16,
            Err(("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels; /l1/*")),
        ),
        ("17 levels", &levels_17, Err(("HierarchyLevelLimitExceededException", "*"))),
    ];
    for (case, name, expected) in cases {
        assert_outcome(case, validate_name(name), expected);
    }
}

#[test]
fn invalid_names_say_what_was_wrong() {
    let problem = |name| match validate_name(name) {
        Err(ParameterError::InvalidName { problem, .. }) => problem,
        other => panic!("{name:?}: {other:?}"),
    };
    assert_eq!(problem("a b"), NameProblem::Characters);
    assert_eq!(problem("a/b"), NameProblem::NotFullyQualified);
    assert_eq!(problem("/a//b"), NameProblem::EmptyLevel);
    assert_eq!(problem("/"), NameProblem::EmptyLevel);
    assert_eq!(problem("/a/"), NameProblem::TrailingSlash);
    assert_eq!(problem("/SSM/PATH/TO/VAR"), NameProblem::ReservedPrefix);
}

#[test]
fn reads_allow_reserved_names_but_not_broken_ones() {
    for name in ["/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", "ssm-thing", "/ssm/a/b"] {
        assert_outcome(name, validate_reference_name(name), Ok(()));
    }
    let long = format!("/{}", "a".repeat(1500));
    assert_outcome("long read", validate_reference_name(&long), Ok(()));
    assert_outcome("read with space", validate_reference_name("{test}-test"), Err(("ValidationException", INVALID)));
    assert_outcome("read not qualified", validate_reference_name("a/b"), Err(("ValidationException", INVALID)));
    assert_outcome("read empty", validate_reference_name(""), Err(("ValidationException", "*")));
    assert_outcome(
        "read 16 levels",
        validate_reference_name(&deep(16)),
        Err(("HierarchyLevelLimitExceededException", "*")),
    );
}

#[test]
fn paths() {
    const BAD_PATH: &str = "The parameter doesn't meet the parameter name requirements. The parameter name must \
                            begin with a forward slash*";
    let cases: &[(&str, Expected)] = &[
        ("/", Ok(())),
        ("/a", Ok(())),
        ("/a/", Ok(())),
        ("/a/b.c-d_e", Ok(())),
        ("/aws/service", Ok(())),
        ("", Err(("ValidationException", "1 validation error detected: Value '' at 'path'*"))),
        ("a", Err(("ValidationException", BAD_PATH))),
        ("a/b", Err(("ValidationException", BAD_PATH))),
        ("//", Err(("ValidationException", BAD_PATH))),
        ("/a//b", Err(("ValidationException", BAD_PATH))),
        ("/###", Err(("ValidationException", BAD_PATH))),
        ("/a b", Err(("ValidationException", BAD_PATH))),
    ];
    for (path, expected) in cases {
        assert_outcome(path, validate_path(path), *expected);
    }
}

#[test]
fn trimming_levels_and_keys() {
    assert_eq!(trim_name("  /a/b  "), "/a/b");
    assert_eq!(trim_name("a b"), "a b", "inner spaces stay, to be refused");
    assert_eq!(trim_name("\t/a"), "\t/a", "only spaces are trimmed");

    assert_eq!(hierarchy_levels("name"), 1);
    assert_eq!(hierarchy_levels("/name"), 1);
    assert_eq!(hierarchy_levels("/a/b/name"), 3);
    assert_eq!(hierarchy_levels(&deep(15)), 15);

    assert_eq!(storage_key("/TestParam1"), "TestParam1", "/x and x are the same parameter");
    assert_eq!(storage_key("TestParam1"), "TestParam1");
    assert_eq!(storage_key("/Test/TestParam1"), "/Test/TestParam1");
}

#[test]
fn echoed_names_are_escaped() {
    let error = validate_reference_name("/a\n/b".repeat(20).as_str()).unwrap_err();
    assert_eq!(error.code(), "ValidationException");
    let error = ParameterError::NotFound { name: "x\ny".to_owned() };
    assert_eq!(error.to_string(), "Parameter x\\ny not found.");
}
