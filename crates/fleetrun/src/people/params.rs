//! `fleetrun params put|get|list|history|label|delete`: Parameter Store for people.
//!
//! Each subcommand is one SSM operation (two for `list`, and `delete` batches its names ten at a time),
//! with the API's semantics: a name may carry `:version` or `:label` wherever the API takes one, `put`
//! needs `--overwrite` to write a new version, and a type is only required when creating. What this
//! module adds is care with secrets: a SecureString's value is shown only when `--decrypt` asks for it
//! (`list` never asks), as `****` otherwise, never as the API's opaque ciphertext; and `put` can read a
//! value from a file or stdin so that a secret never has to be on the command line.
//!
//! Exit codes follow the other people commands, with one addition: when the server refuses a request
//! because of what it names or carries (no such parameter or version, an invalid name or value, an
//! existing name without `--overwrite`), the error is printed and the exit code is 1, as it is for a
//! `delete` of a name that does not exist. Credentials, transport and server faults stay 2.

mod put;
mod read;
mod write;

use super::Verdict;
use clap::Subcommand;
use fleetrun_client::{ClientError, SsmClient};
use serde_json::{Value, json};
use std::io::Write;

/// What a SecureString's value is shown as when it was not decrypted.
const MASK: &str = "****";

/// The error codes with which the server refuses a Parameter Store request because of the parameters it
/// names or the values it carries: the person has to change the request, not their setup (exit 1).
/// Anything else, such as `UnrecognizedClientException` or `ThrottlingException`, is exit 2.
///
/// `AccessDeniedException` is here because Parameter Store answers a name under the reserved `/aws`
/// path with it; it is also what a node's key gets for any SSM call, which is equally a refusal of what
/// was asked rather than a fault.
const REFUSED: &[&str] = &[
    "AccessDeniedException",
    "HierarchyLevelLimitExceededException",
    "HierarchyTypeMismatchException",
    "InvalidAllowedPatternException",
    "InvalidKeyId",
    "InvalidPolicyTypeException",
    "ParameterAlreadyExists",
    "ParameterLimitExceeded",
    "ParameterMaxVersionLimitExceeded",
    "ParameterNotFound",
    "ParameterPatternMismatchException",
    "ParameterVersionLabelLimitExceeded",
    "ParameterVersionNotFound",
    "UnsupportedParameterType",
    "ValidationException",
];

#[derive(Subcommand)]
pub(crate) enum ParamsCommand {
    /// Create a parameter, or write a new version of one with --overwrite; prints the version written.
    #[command(after_help = PUT_EXAMPLES)]
    Put(put::PutArgs),
    /// Print a parameter's value (`****` for a SecureString unless --decrypt).
    Get(read::GetArgs),
    /// List parameters: all of them, or the ones under a path with their values.
    List(read::ListArgs),
    /// Every version of a parameter, with its labels and values.
    History(read::HistoryArgs),
    /// Attach labels to a version of a parameter (moving them from any other version of it).
    Label(write::LabelArgs),
    /// Delete parameters with all their versions.
    Delete(write::DeleteArgs),
}

const PUT_EXAMPLES: &str = "\
Examples:
  fleetrun params put /app/prod/url --type String --value https://example.com
  fleetrun params put /app/prod/db-password --type SecureString --value-file ./password.txt
  printf %s \"$TOKEN\" | fleetrun params put /app/prod/token --type SecureString --value-stdin --overwrite

Exit status: 0 when the version was written, 1 when the server refused it (for example an existing
name without --overwrite, or an invalid name), 2 for usage, network and server errors.";

pub(super) async fn run(command: ParamsCommand) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    let result = match command {
        ParamsCommand::Put(args) => put::put(&client, args).await,
        ParamsCommand::Get(args) => read::get(&client, args).await,
        ParamsCommand::List(args) => read::list(&client, args).await,
        ParamsCommand::History(args) => read::history(&client, args).await,
        ParamsCommand::Label(args) => write::label(&client, args).await,
        ParamsCommand::Delete(args) => write::delete(&client, args).await,
    };
    match result {
        Err(error) if is_refused(&error) => {
            // Displays like the aws CLI: `An error occurred (ParameterNotFound) when calling …: message`.
            warn(&format!("{error:#}"));
            Ok(Verdict::SomeFailed)
        }
        other => other,
    }
}

/// Whether `error` is the server refusing the request for what it asks (see [`REFUSED`]).
fn is_refused(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<ClientError>().and_then(ClientError::aws_code).is_some_and(|code| REFUSED.contains(&code))
    })
}

/// Writes `fleetrun: MESSAGE` to stderr. A failed write is ignored: there is nobody left to tell.
fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "fleetrun: {message}");
}

/// Replaces the `Value` of an SSM `Parameter` or `ParameterHistory` object with `****` unless it was
/// decrypted. Fails closed: anything not known to be a String or StringList counts as secret. Without
/// decryption the API answers with an opaque ciphertext, which is of no use to a person and not worth
/// leaking into a terminal's scrollback.
fn mask(item: &mut Value, decrypted: bool) {
    let plain = matches!(item.get("Type").and_then(Value::as_str), Some("String" | "StringList"));
    if let Some(object) = item.as_object_mut()
        && !decrypted
        && !plain
        && object.contains_key("Value")
    {
        object.insert("Value".to_owned(), json!(MASK));
    }
}

/// A value or description for a table cell: control characters escaped (`\n`), so that each row stays
/// one line for `grep` and `awk`; "-" when empty.
fn cell(text: &str) -> String {
    if text.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if control.is_control() => out.extend(control.escape_unicode()),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_values_are_masked_unless_decrypted() {
        let mut secure = json!({ "Name": "/a", "Type": "SecureString", "Value": "AQICAHg…opaque" });
        mask(&mut secure, false);
        assert_eq!(secure["Value"], MASK);
        let mut decrypted = json!({ "Type": "SecureString", "Value": "hunter2" });
        mask(&mut decrypted, true);
        assert_eq!(decrypted["Value"], "hunter2");
        for kind in ["String", "StringList"] {
            let mut plain = json!({ "Type": kind, "Value": "a,b" });
            mask(&mut plain, false);
            assert_eq!(plain["Value"], "a,b");
        }
        let mut unknown = json!({ "Value": "x" });
        mask(&mut unknown, false);
        assert_eq!(unknown["Value"], MASK, "no type: fail closed");
        let mut metadata = json!({ "Type": "SecureString" });
        mask(&mut metadata, false);
        assert!(metadata.get("Value").is_none(), "no value to mask, none added");
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(cell("x\u{1b}y"), "x\\u{1b}y");
        assert_eq!(cell(""), "-");
        assert_eq!(cell("C:\\dir ü"), "C:\\dir ü");
    }

    #[test]
    fn only_refusals_about_parameters_are_exit_1() {
        let api = |code: &str| ClientError::Api {
            operation: "GetParameter".to_owned(),
            status: 400,
            code: code.to_owned(),
            message: "m".to_owned(),
        };
        assert!(is_refused(&anyhow::Error::from(api("ParameterNotFound")).context("reading /a")));
        assert!(is_refused(&api("ValidationException").into()));
        assert!(!is_refused(&api("UnrecognizedClientException").into()));
        assert!(!is_refused(&api("InternalServerError").into()));
        assert!(!is_refused(&anyhow::anyhow!("ParameterNotFound")));
    }
}
