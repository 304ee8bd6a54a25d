//! Finding and replacing `{{ssm:...}}` and `{{ssm-secure:...}}` references.

use std::convert::Infallible;
use std::ops::Range;

use crate::parameter::{ArnScope, Reference, ReferenceKind, Selector, find_references, replace_references};

/// `(kind, name, selector, target, span)` of a reference.
type Found = (ReferenceKind, String, Selector, String, Range<usize>);

/// [`Found`] for every reference in `text`.
fn found(text: &str) -> Vec<Found> {
    find_references(text)
        .into_iter()
        .map(|reference| (reference.kind, reference.name, reference.selector, reference.target, reference.span))
        .collect()
}

#[test]
fn finds_references() {
    use ReferenceKind::{Plain, Secure};
    type Row = (ReferenceKind, &'static str, Selector, &'static str, Range<usize>);
    let cases: Vec<(&str, Vec<Row>)> = vec![
        ("{{ssm:name}}", vec![(Plain, "name", Selector::Latest, "name", 0..12)]),
        ("echo {{ ssm:/app/db }}!", vec![(Plain, "/app/db", Selector::Latest, "/app/db", 5..22)]),
        ("{{   ssm:a   }}", vec![(Plain, "a", Selector::Latest, "a", 0..15)]),
        ("{{ssm:/a/b:3}}", vec![(Plain, "/a/b", Selector::Version(3), "/a/b:3", 0..14)]),
        ("{{ssm:/a/b:prod}}", vec![(Plain, "/a/b", Selector::Label("prod".into()), "/a/b:prod", 0..17)]),
        ("{{ssm-secure:gh-token}}", vec![(Secure, "gh-token", Selector::Latest, "gh-token", 0..23)]),
        ("{{ ssm-secure:/t:2 }}", vec![(Secure, "/t", Selector::Version(2), "/t:2", 0..21)]),
        (
            "{{ssm:a}}{{ssm:b}} and {{ssm-secure:c}}",
            vec![
                (Plain, "a", Selector::Latest, "a", 0..9),
                (Plain, "b", Selector::Latest, "b", 9..18),
                (Secure, "c", Selector::Latest, "c", 23..39),
            ],
        ),
        ("{{{ssm:a}}}", vec![(Plain, "a", Selector::Latest, "a", 1..10)]),
        // Targets that can't be a parameter still come back, as something that matches nothing.
        ("{{ssm:a:b:c}}", vec![(Plain, "a", Selector::Label("b:c".into()), "a:b:c", 0..13)]),
        ("{{ssm:a:}}", vec![(Plain, "a", Selector::Label(String::new()), "a:", 0..10)]),
        // Not references.
        ("{{ ssm :a}}", vec![]),
        ("{{ssm:}}", vec![]),
        ("{{ssm:a b}}", vec![]),
        ("{{ssm:é}}", vec![]),
        ("{{\tssm:a}}", vec![]),
        ("{{SSM:a}}", vec![]),
        ("{{ssmx:a}}", vec![]),
        ("{{ssm-secret:a}}", vec![]),
        ("{ssm:a}", vec![]),
        ("{{ssm:a}", vec![]),
        ("{{ name }}", vec![]),
        ("", vec![]),
    ];
    for (text, expected) in cases {
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(kind, name, selector, target, span)| (kind, name.to_owned(), selector, target.to_owned(), span))
            .collect();
        assert_eq!(found(text), expected, "{text:?}");
    }
}

#[test]
fn arn_targets() {
    let [reference] = find_references("{{ssm:arn:aws:ssm:us-east-1:111122223333:parameter/a/b:4}}")
        .try_into()
        .unwrap_or_else(|all: Vec<Reference>| panic!("{all:?}"));
    assert_eq!(reference.name, "/a/b");
    assert_eq!(reference.selector, Selector::Version(4));
    assert_eq!(
        reference.arn,
        Some(ArnScope { partition: "aws".into(), region: "us-east-1".into(), account: "111122223333".into() })
    );
}

#[test]
fn replaces_references() {
    let text = "host={{ssm:/db/host}} port={{ ssm:/db/port:2 }} pass={{ssm-secure:/db/pass}} {{x}}";
    let replaced = replace_references(text, |reference| {
        Ok::<_, Infallible>(match reference.kind {
            ReferenceKind::Plain => format!("<{}{}>", reference.name, reference.selector),
            ReferenceKind::Secure => "****".to_owned(),
        })
    })
    .unwrap();
    assert_eq!(replaced, "host=</db/host> port=</db/port:2> pass=**** {{x}}");

    let no_refs = replace_references("plain {{ text }}", |_| Err("called")).unwrap();
    assert_eq!(no_refs, "plain {{ text }}");

    let unicode = replace_references("é{{ssm:a}}ü", |_| Ok::<_, Infallible>("→".to_owned())).unwrap();
    assert_eq!(unicode, "é→ü");
}

#[test]
fn replacement_is_not_recursive_and_stops_at_the_first_error() {
    let once = replace_references("{{ssm:a}}", |_| Ok::<_, Infallible>("{{ssm:b}}".to_owned())).unwrap();
    assert_eq!(once, "{{ssm:b}}");

    let mut seen = Vec::new();
    let error = replace_references("{{ssm:a}} {{ssm:b}} {{ssm:c}}", |reference| {
        seen.push(reference.name.clone());
        if reference.name == "b" { Err(format!("{} not found", reference.target)) } else { Ok(String::new()) }
    })
    .unwrap_err();
    assert_eq!(error, "b not found");
    assert_eq!(seen, ["a", "b"]);
}
