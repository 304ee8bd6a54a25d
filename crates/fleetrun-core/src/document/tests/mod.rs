//! Tests of the document module, grouped by stage: parsing, parameters, rendering, and the small
//! free functions (names, hashes, conversion, built-ins). Shared helpers live here.
//!
//! Most tests are tables whose rows name the case; a failing row says which one it was.

mod misc;
mod params;
mod parse;
mod render;

use std::collections::BTreeMap;

use super::{Document, DocumentFormat, DocumentKind, parse_document};

/// Parses a Command document written in YAML, panicking with the error if it is refused.
#[track_caller]
fn command_yaml(content: &str) -> Document {
    parse_document(content, DocumentFormat::Yaml, DocumentKind::Command)
        .unwrap_or_else(|error| panic!("document refused: {error}\n{content}"))
}

/// Supplied parameters as `(name, values)` pairs, for tables.
type Supplied = &'static [(&'static str, &'static [&'static str])];

/// Builds SSM's `Parameters` map from `(name, values)` pairs.
fn supplied(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(name, values)| (name.to_string(), values.iter().map(|v| v.to_string()).collect())).collect()
}

/// Checks an error message: equal to `expected`, or, when `expected` ends in `*`, starting with
/// the text before it (for messages that embed a parser's position report).
#[track_caller]
fn assert_message(case: &str, actual: &str, expected: &str) {
    match expected.strip_suffix('*') {
        Some(prefix) => {
            assert!(actual.starts_with(prefix), "case {case:?}: message {actual:?} does not start with {prefix:?}")
        }
        None => assert_eq!(actual, expected, "case {case:?}"),
    }
}
