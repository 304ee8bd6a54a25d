//! Filters: parsing for both operations, matching every key and option, legacy filters, and paths.

use super::{Expected, assert_outcome};
use crate::parameter::{
    DataType, DescribeFilters, FilterKey, FilterOperation, FilterOption, ParamView, ParameterFilter, ParameterType,
    RawFilter, RawLegacyFilter, Tier, in_path, matches_all, parse_filters,
};

use FilterOperation::{DescribeParameters as Describe, GetParametersByPath as ByPath};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Parses one filter; `option` and `values` as on the wire.
fn parse_one(
    key: &str,
    option: Option<&str>,
    values: &[&str],
    operation: FilterOperation,
) -> Result<ParameterFilter, crate::parameter::ParameterError> {
    let values = strings(values);
    parse_filters(&[RawFilter { key, option, values: &values }], operation).map(|mut filters| filters.remove(0))
}

#[test]
fn describe_filters_parse() {
    let long_key = format!("tag:{}", "t".repeat(129));
    // (case, key, option, values, outcome)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [&'a str], Expected);
    let cases: Vec<Case> = vec![
        ("name default", "Name", None, &["x"], Ok(())),
        ("name contains", "Name", Some("Contains"), &["x"], Ok(())),
        ("name begins", "Name", Some("BeginsWith"), &["/x"], Ok(())),
        ("path default", "Path", None, &["/a"], Ok(())),
        ("path recursive", "Path", Some("Recursive"), &["/a/b", "/c"], Ok(())),
        ("type", "Type", None, &["String", "SecureString"], Ok(())),
        ("tier", "Tier", Some("BeginsWith"), &["Intelligent-Tiering"], Ok(())),
        ("data type", "DataType", None, &["text"], Ok(())),
        ("key id", "KeyId", None, &["alias/aws/ssm"], Ok(())),
        ("tag", "tag:env", None, &["prod"], Ok(())),
        ("tag exists", "tag:env", None, &[], Ok(())),
        (
            "unknown key",
            "key",
            None,
            &["x"],
            Err((
                "ValidationException",
                "1 validation error detected: Value 'key' at 'parameterFilters.1.member.key' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType",
            )),
        ),
        ("bare tag", "tag:", None, &["x"], Err(("ValidationException", "*regular expression pattern*"))),
        ("case matters", "name", None, &["x"], Err(("ValidationException", "*"))),
        (
            "long key",
            &long_key,
            None,
            &["x"],
            Err(("ValidationException", "*Member must have length less than or equal to 132")),
        ),
        (
            "long option",
            "Name",
            Some("over 10 chars"),
            &["x"],
            Err(("ValidationException", "*'parameterFilters.1.member.option'*less than or equal to 10")),
        ),
        (
            "label",
            "Label",
            None,
            &["x"],
            Err((
                "InvalidFilterKey",
                "The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, \
                 Tier, DataType, tag:<key>].",
            )),
        ),
        (
            "missing values",
            "Name",
            None,
            &[],
            Err(("InvalidFilterValue", "The following filter values are missing : null for filter key Name.")),
        ),
        ("missing key id values", "KeyId", None, &[], Err(("InvalidFilterValue", "*KeyId."))),
        (
            "path equals",
            "Path",
            Some("Equals"),
            &["/a"],
            Err((
                "InvalidFilterOption",
                "The following filter option is not valid: Equals. Valid options include: [Recursive, OneLevel].",
            )),
        ),
        (
            "bad option",
            "Name",
            Some("option"),
            &["x"],
            Err((
                "InvalidFilterOption",
                "The following filter option is not valid: option. Valid options include: [BeginsWith, Equals, Contains].",
            )),
        ),
        (
            "type contains",
            "Type",
            Some("Contains"),
            &["String"],
            Err(("InvalidFilterOption", "*[BeginsWith, Equals].")),
        ),
        ("name one level", "Name", Some("OneLevel"), &["x"], Err(("InvalidFilterOption", "*"))),
        (
            "bad tier",
            "Tier",
            None,
            &["test"],
            Err((
                "InvalidFilterValue",
                "The following filter value is not valid: test. Valid values include: [Standard, Advanced, \
                 Intelligent-Tiering].",
            )),
        ),
        (
            "bad type",
            "Type",
            None,
            &["String", "test"],
            Err((
                "InvalidFilterValue",
                "The following filter value is not valid: test. Valid values include: [String, StringList, SecureString].",
            )),
        ),
        (
            "reserved path",
            "Path",
            None,
            &["/aws", "/ssm"],
            Err(("ValidationException", "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\"*")),
        ),
        ("reserved path case", "Path", None, &["/SSM/x"], Err(("ValidationException", "Filters for common*"))),
        ("path not rooted", "Path", None, &["test"], Err(("ValidationException", "The parameter doesn't meet*"))),
        ("path empty level", "Path", None, &["//"], Err(("ValidationException", "The parameter doesn't meet*"))),
        ("path characters", "Path", None, &["/###"], Err(("ValidationException", "The parameter doesn't meet*"))),
    ];
    for (case, key, option, values, expected) in cases {
        assert_outcome(case, parse_one(key, option, values, Describe).map(drop), expected);
    }
}

#[test]
fn value_limits() {
    let many = vec!["test".to_owned(); 51];
    let result = parse_filters(&[RawFilter { key: "Name", option: None, values: &many }], Describe);
    assert_outcome("51 values", result.map(drop), Err(("ValidationException", "*less than or equal to 50")));
    let long = vec!["t".repeat(1025)];
    let result = parse_filters(&[RawFilter { key: "Name", option: None, values: &long }], Describe);
    assert_outcome(
        "long value",
        result.map(drop),
        Err((
            "ValidationException",
            "*[Member must have length less than or equal to 1024, Member must have length greater than or equal to 1]",
        )),
    );
    let fifty = vec!["test".to_owned(); 50];
    assert!(parse_filters(&[RawFilter { key: "Name", option: None, values: &fifty }], Describe).is_ok());
}

#[test]
fn model_limits_come_before_key_rules() {
    let values = strings(&["x"]);
    let raw = [
        RawFilter { key: "Label", option: None, values: &values },
        RawFilter { key: "bogus", option: None, values: &values },
    ];
    let error = parse_filters(&raw, Describe).unwrap_err();
    assert_eq!(error.code(), "ValidationException", "{error}");
    assert!(error.to_string().contains("parameterFilters.2.member.key"), "{error}");
}

#[test]
fn duplicates() {
    let values = strings(&["x"]);
    let raw = [
        RawFilter { key: "Name", option: None, values: &values },
        RawFilter { key: "Name", option: Some("Contains"), values: &values },
    ];
    assert_outcome(
        "duplicate",
        parse_filters(&raw, Describe).map(drop),
        Err((
            "InvalidFilterKey",
            "The following filter is duplicated in the request: Name. A request can contain only one occurrence of a \
             specific filter.",
        )),
    );
    let raw = [
        RawFilter { key: "tag:a", option: None, values: &values },
        RawFilter { key: "tag:b", option: None, values: &values },
    ];
    assert!(parse_filters(&raw, Describe).is_ok(), "different tags are different filters");
}

#[test]
fn by_path_filters_parse() {
    let cases: Vec<(&str, &str, Option<&str>, Expected)> = vec![
        ("type", "Type", Some("BeginsWith"), Ok(())),
        ("key id", "KeyId", None, Ok(())),
        ("label", "Label", None, Ok(())),
        ("label equals", "Label", Some("Equals"), Ok(())),
        (
            "label begins",
            "Label",
            Some("BeginsWith"),
            Err((
                "InvalidFilterOption",
                "The following filter option is not valid: BeginsWith. Valid options include: [Equals].",
            )),
        ),
        (
            "name",
            "Name",
            None,
            Err((
                "InvalidFilterKey",
                "The following filter key is not valid: Name. Valid filter keys include: [Type, KeyId, Label].",
            )),
        ),
        ("path", "Path", None, Err(("InvalidFilterKey", "*: Path.*"))),
        ("tier", "Tier", None, Err(("InvalidFilterKey", "*: Tier.*"))),
        ("data type", "DataType", None, Err(("InvalidFilterKey", "*: DataType.*"))),
        ("tag", "tag:env", None, Err(("InvalidFilterKey", "*: tag:env.*"))),
    ];
    let values: &[&str] = &["String"];
    for (case, key, option, expected) in cases {
        assert_outcome(case, parse_one(key, option, values, ByPath).map(drop), expected);
    }
}

#[test]
fn defaults() {
    assert_eq!(parse_one("Path", None, &["/a"], Describe).unwrap().option, FilterOption::OneLevel);
    assert_eq!(parse_one("Name", None, &["a"], Describe).unwrap().option, FilterOption::Equals);
    assert_eq!(parse_one("Label", None, &["a"], ByPath).unwrap().option, FilterOption::Equals);
    assert_eq!(parse_one("tag:team", None, &[], Describe).unwrap().key, FilterKey::Tag("team".into()));
}

/// A parameter to filter: `/app/db/password`, a SecureString with a key, labels and tags.
fn view<'a>(name: &'a str, labels: &'a [String], tags: &'a [(String, String)]) -> ParamView<'a> {
    ParamView {
        name,
        parameter_type: ParameterType::SecureString,
        key_id: Some("alias/app"),
        tier: Tier::Advanced,
        data_type: DataType::Text,
        labels,
        tags,
    }
}

#[test]
fn matching() {
    let labels = strings(&["prod", "blue"]);
    let tags = vec![("env".to_owned(), "production".to_owned()), ("team".to_owned(), "db".to_owned())];
    let param = view("/app/db/password", &labels, &tags);
    let plain = ParamView {
        key_id: None,
        parameter_type: ParameterType::String,
        tier: Tier::Standard,
        data_type: DataType::Ec2Image,
        ..view("plain", &[], &[])
    };
    // (key, option, values, operation, matches `param`, matches `plain`)
    type Case<'a> = (&'a str, Option<&'a str>, &'a [&'a str], FilterOperation, bool, bool);
    let cases: Vec<Case> = vec![
        ("Name", None, &["/app/db/password"], Describe, true, false),
        ("Name", None, &["app/db/password"], Describe, true, false),
        ("Name", None, &["/app/db"], Describe, false, false),
        ("Name", None, &["plain"], Describe, false, true),
        ("Name", None, &["/plain"], Describe, false, true),
        ("Name", Some("BeginsWith"), &["/app/"], Describe, true, false),
        ("Name", Some("BeginsWith"), &["app"], Describe, true, false),
        ("Name", Some("BeginsWith"), &["/pl"], Describe, false, true),
        ("Name", Some("BeginsWith"), &["/"], Describe, true, true),
        ("Name", Some("Contains"), &["db"], Describe, true, false),
        ("Name", Some("Contains"), &["/db/"], Describe, true, false),
        ("Name", Some("Contains"), &["/pla"], Describe, false, true),
        ("Name", Some("Contains"), &["nope", "lai"], Describe, false, true),
        ("Path", None, &["/app/db"], Describe, true, false),
        ("Path", None, &["/app"], Describe, false, false),
        ("Path", Some("Recursive"), &["/app"], Describe, true, false),
        ("Path", None, &["/"], Describe, false, true),
        ("Path", Some("Recursive"), &["/"], Describe, true, true),
        ("Path", Some("OneLevel"), &["/other", "/app/db/"], Describe, true, false),
        ("Type", None, &["SecureString"], Describe, true, false),
        ("Type", None, &["String"], Describe, false, true),
        ("Type", Some("BeginsWith"), &["String"], Describe, false, true),
        ("KeyId", None, &["alias/app"], Describe, true, false),
        ("KeyId", Some("BeginsWith"), &["alias/"], Describe, true, false),
        ("KeyId", None, &["alias/other"], Describe, false, false),
        ("Tier", None, &["Advanced"], Describe, true, false),
        ("Tier", None, &["Standard"], Describe, false, true),
        ("Tier", None, &["Intelligent-Tiering"], Describe, false, false),
        ("DataType", None, &["text"], Describe, true, false),
        ("DataType", None, &["aws:ec2:image"], Describe, false, true),
        ("DataType", Some("BeginsWith"), &["aws:"], Describe, false, true),
        ("tag:env", None, &["production"], Describe, true, false),
        ("tag:env", None, &["prod"], Describe, false, false),
        ("tag:env", Some("BeginsWith"), &["prod"], Describe, true, false),
        ("tag:env", None, &[], Describe, true, false),
        ("tag:owner", None, &[], Describe, false, false),
        ("Label", None, &["prod"], ByPath, true, false),
        ("Label", None, &["green", "blue"], ByPath, true, false),
        ("Label", None, &["green"], ByPath, false, false),
        ("Label", None, &["Prod"], ByPath, false, false),
    ];
    for (key, option, values, operation, expect_param, expect_plain) in cases {
        let filter =
            parse_one(key, option, values, operation).unwrap_or_else(|error| panic!("{key} {values:?}: {error}"));
        let case = format!("{key} {option:?} {values:?}");
        assert_eq!(filter.matches(&param), expect_param, "{case} on /app/db/password");
        assert_eq!(filter.matches(&plain), expect_plain, "{case} on plain");
    }
}

#[test]
fn filters_are_anded() {
    let name = strings(&["/app/"]);
    let secure = strings(&["SecureString"]);
    let string = strings(&["String"]);
    let param = view("/app/db/password", &[], &[]);
    let both = parse_filters(
        &[
            RawFilter { key: "Name", option: Some("BeginsWith"), values: &name },
            RawFilter { key: "Type", option: None, values: &secure },
        ],
        Describe,
    )
    .unwrap();
    assert!(matches_all(&both, &param));
    let contradicting = parse_filters(
        &[
            RawFilter { key: "Name", option: Some("BeginsWith"), values: &name },
            RawFilter { key: "Type", option: None, values: &string },
        ],
        Describe,
    )
    .unwrap();
    assert!(!matches_all(&contradicting, &param));
    assert!(matches_all(&[], &param), "no filters match everything");
}

#[test]
fn describe_filter_kinds() {
    let values = strings(&["/app"]);
    let legacy = [RawLegacyFilter { key: "Name", values: &values }];
    let parameter = [RawFilter { key: "Name", option: None, values: &values }];
    assert_outcome(
        "both",
        DescribeFilters::parse(&legacy, &parameter).map(drop),
        Err(("ValidationException", "You can use either Filters or ParameterFilters in a single request.")),
    );
    let param = view("/app/db/password", &[], &[]);
    assert_eq!(DescribeFilters::parse(&[], &[]).unwrap(), DescribeFilters::All);
    assert!(DescribeFilters::parse(&[], &[]).unwrap().matches(&param));
    assert!(DescribeFilters::parse(&legacy, &[]).unwrap().matches(&param), "legacy Name is a prefix match");
    assert!(!DescribeFilters::parse(&[], &parameter).unwrap().matches(&param), "Name defaults to Equals");

    let secure = strings(&["SecureString"]);
    let string = strings(&["String", "StringList"]);
    let key = strings(&["alias/app"]);
    let matches = |key_text: &str, values: &[String]| {
        DescribeFilters::parse(&[RawLegacyFilter { key: key_text, values }], &[]).unwrap().matches(&param)
    };
    assert!(matches("Type", &secure));
    assert!(!matches("Type", &string));
    assert!(matches("KeyId", &key));
    assert!(!matches("KeyId", &secure));

    assert_outcome(
        "legacy key",
        DescribeFilters::parse(&[RawLegacyFilter { key: "Path", values: &values }], &[]).map(drop),
        Err((
            "ValidationException",
            "1 validation error detected: Value 'Path' at 'filters.1.member.key' failed to satisfy constraint: \
             Member must satisfy enum value set: [Name, Type, KeyId]",
        )),
    );
    assert_outcome(
        "legacy values",
        DescribeFilters::parse(&[RawLegacyFilter { key: "Name", values: &[] }], &[]).map(drop),
        Err(("ValidationException", "*'filters.1.member.values'*")),
    );
}

#[test]
fn paths_hold_children() {
    let cases: &[(&str, &str, bool, bool)] = &[
        // (name, path, under it one level down, under it at any depth)
        ("/a/b", "/a", true, true),
        ("/a/b", "/a/", true, true),
        ("/a/b/c", "/a", false, true),
        ("/a/b/c", "/a/b", true, true),
        ("/a", "/a", false, false),
        ("/ab/c", "/a", false, false),
        ("/abc", "/a", false, false),
        ("/x/a/b", "/a", false, false),
        ("/a", "/", true, true),
        ("a", "/", true, true),
        ("/a/b", "/", false, true),
        ("/A/b", "/a", false, false),
    ];
    for (name, path, one_level, recursive) in cases {
        assert_eq!(in_path(name, path, false), *one_level, "{name} in {path}, one level");
        assert_eq!(in_path(name, path, true), *recursive, "{name} in {path}, recursive");
    }
}
