//! Selectors, ARNs and partitions.

use crate::parameter::{ArnScope, ParameterRef, Selector, arn, partition};

fn scope(region: &str) -> Option<ArnScope> {
    Some(ArnScope {
        partition: partition(region).to_owned(),
        region: region.to_owned(),
        account: "111122223333".into(),
    })
}

#[test]
fn parses_names_versions_labels_and_arns() {
    let cases: Vec<(&str, &str, Selector, Option<ArnScope>)> = vec![
        ("name", "name", Selector::Latest, None),
        ("/a/b", "/a/b", Selector::Latest, None),
        ("name:3", "name", Selector::Version(3), None),
        ("/a/b:12", "/a/b", Selector::Version(12), None),
        ("name:0", "name", Selector::Version(0), None),
        ("name:007", "name", Selector::Version(7), None),
        ("name:prod", "name", Selector::Label("prod".into()), None),
        ("/a/b:Release-1.2_x", "/a/b", Selector::Label("Release-1.2_x".into()), None),
        ("name:3a", "name", Selector::Label("3a".into()), None),
        ("name:-3", "name", Selector::Label("-3".into()), None),
        ("name:+3", "name", Selector::Label("+3".into()), None),
        ("arn:aws:ssm:us-east-1:111122223333:parameter/a/b", "/a/b", Selector::Latest, scope("us-east-1")),
        ("arn:aws:ssm:us-east-1:111122223333:parameter/name", "name", Selector::Latest, scope("us-east-1")),
        ("arn:aws:ssm:us-east-1:111122223333:parameter/a/b:4", "/a/b", Selector::Version(4), scope("us-east-1")),
        (
            "arn:aws-cn:ssm:cn-north-1:111122223333:parameter/x:live",
            "x",
            Selector::Label("live".into()),
            scope("cn-north-1"),
        ),
    ];
    for (text, name, selector, arn) in cases {
        let parsed = ParameterRef::parse(text).unwrap_or_else(|error| panic!("{text:?}: {error}"));
        assert_eq!(parsed, ParameterRef { name: name.to_owned(), selector, arn }, "{text:?}");
    }
}

#[test]
fn refuses_what_cannot_name_a_parameter() {
    let cases: &[(&str, &str, &str)] = &[
        ("test-2:2:3", "ParameterNotFound", "Parameter test-2:2:3 not found."),
        ("name:", "ParameterNotFound", "Parameter name: not found."),
        (
            "name:99999999999999999999",
            "ParameterVersionNotFound",
            "Systems Manager could not find version 99999999999999999999 of name. Verify the version and try again.",
        ),
        ("{test}-test", "ValidationException", "Parameter name: can't be prefixed with \"ssm\"*"),
        ("a/b:1", "ValidationException", "Parameter name: can't be prefixed with \"ssm\"*"),
        (":1", "ValidationException", "1 validation error detected: Value '' at 'name'*"),
        (
            "arn:aws:ssm:us-east-1:111122223333:parameter/",
            "ValidationException",
            "arn:aws:ssm:*is not a valid parameter ARN*",
        ),
        ("arn:aws:s3:::bucket/key", "ValidationException", "*is not a valid parameter ARN*"),
        ("arn:aws:ssm:us-east-1::parameter/x", "ValidationException", "*is not a valid parameter ARN*"),
        ("arn:aws:ssm:us-east-1:1:document/x", "ValidationException", "*is not a valid parameter ARN*"),
    ];
    for (text, code, message) in cases {
        let result = ParameterRef::parse(text).map(drop);
        super::assert_outcome(text, result, Err((code, message)));
    }
}

#[test]
fn prints_selectors_and_refs() {
    assert_eq!(Selector::Latest.to_string(), "");
    assert_eq!(Selector::Version(3).to_string(), ":3");
    assert_eq!(Selector::Label("prod".into()).to_string(), ":prod");
    let parsed = ParameterRef::parse("arn:aws:ssm:us-east-1:111122223333:parameter/a/b:prod").unwrap();
    assert_eq!(parsed.to_string(), "/a/b:prod");
}

#[test]
fn arns_and_partitions() {
    assert_eq!(arn("us-east-1", "111122223333", "/a/b"), "arn:aws:ssm:us-east-1:111122223333:parameter/a/b");
    assert_eq!(arn("us-east-1", "111122223333", "name"), "arn:aws:ssm:us-east-1:111122223333:parameter/name");
    assert_eq!(arn("us-east-1", "111122223333", "/name"), "arn:aws:ssm:us-east-1:111122223333:parameter/name");
    assert_eq!(arn("cn-north-1", "1", "x"), "arn:aws-cn:ssm:cn-north-1:1:parameter/x");
    assert_eq!(arn("us-gov-west-1", "1", "x"), "arn:aws-us-gov:ssm:us-gov-west-1:1:parameter/x");
    for name in ["/a/b", "name", "/x/y/z"] {
        let round_trip = ParameterRef::parse(&arn("eu-west-1", "111122223333", name)).unwrap();
        assert_eq!(round_trip.name, name);
    }
}
