//! Tests of the parameter module, one file per rule family: names and paths, values and tiers,
//! selectors and ARNs, labels, filters, and references.
//!
//! Most tests are tables whose rows name the case; a failing row says which one it was.

mod filter;
mod label;
mod name;
mod reference;
mod selector;
mod value;

use super::ParameterError;

/// What a table row expects: success, or an error's SSM code and message (see [`assert_outcome`]).
type Expected = Result<(), (&'static str, &'static str)>;

/// The error's SSM code and message, for comparing against a table row.
fn code_and_message(error: &ParameterError) -> (&'static str, String) {
    (error.code(), error.to_string())
}

/// Checks an outcome: `Ok(())` or the error's code and message. In the expected message, `*`
/// stands for any text, so `"Value '*' at 'name'*"` checks the start and the middle.
#[track_caller]
fn assert_outcome(case: &str, actual: Result<(), ParameterError>, expected: Expected) {
    match (actual, expected) {
        (Ok(()), Ok(())) => {}
        (Err(error), Err((code, pattern))) => {
            let (actual_code, message) = code_and_message(&error);
            assert_eq!(actual_code, code, "case {case:?}: {message}");
            assert!(glob_matches(pattern, &message), "case {case:?}: message {message:?} does not match {pattern:?}");
        }
        (actual, expected) => panic!("case {case:?}: got {actual:?}, expected {expected:?}"),
    }
}

/// Whether `text` matches `pattern`, where `*` in the pattern stands for any text.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}
