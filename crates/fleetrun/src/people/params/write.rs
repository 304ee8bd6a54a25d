//! `params label` and `params delete`: moving labels onto a version (LabelParameterVersion) and deleting
//! parameters (DeleteParameters, ten names a call). Names that are not found and labels that break SSM's
//! rules are reported on stderr and make the exit code 1; the rest of the request still takes effect,
//! as it does in the API.

use super::super::Verdict;
use super::warn;
use anyhow::Context;
use clap::Args;
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::Write;

/// The most names one DeleteParameters call takes.
const MAX_DELETE_BATCH: usize = 10;

#[derive(Args)]
pub(crate) struct LabelArgs {
    /// The parameter, with the version to label: NAME:VERSION, or NAME for the latest version.
    name: String,
    /// The labels to attach (1 to 10). A label on another version of the parameter moves to this one.
    #[arg(required = true)]
    labels: Vec<String>,
}

#[derive(Args)]
pub(crate) struct DeleteArgs {
    /// The parameters to delete.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub(super) async fn label(client: &SsmClient, args: LabelArgs) -> anyhow::Result<Verdict> {
    let (name, version) = split_version(&args.name);
    let mut input = json!({ "Name": name, "Labels": args.labels });
    if let Some(version) = version {
        input["ParameterVersion"] = json!(version);
    }
    let answer = client.call("LabelParameterVersion", &input).await?;
    let invalid: Vec<&str> =
        answer["InvalidLabels"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let attached: Vec<&str> = args.labels.iter().map(String::as_str).filter(|label| !invalid.contains(label)).collect();
    let mut out = std::io::stdout().lock();
    if !attached.is_empty() {
        let version =
            answer["ParameterVersion"].as_i64().context("LabelParameterVersion answered without a version")?;
        writeln!(out, "{name} version {version}: {}", attached.join(", "))?;
    }
    out.flush()?;
    if invalid.is_empty() {
        return Ok(Verdict::AllSucceeded);
    }
    // SSM's label rules: letters, digits, `.-_`, at most 100 characters, not starting with a digit or
    // with `aws`/`ssm`.
    warn(&format!("invalid labels, not attached: {}", invalid.join(", ")));
    Ok(Verdict::SomeFailed)
}

/// `name:3` → `("name", Some(3))`; anything else is a name without a version (LabelParameterVersion
/// takes the version as a number of its own, not as part of the name).
fn split_version(text: &str) -> (&str, Option<i64>) {
    match text.rsplit_once(':') {
        Some((name, version)) if !name.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) => {
            match version.parse() {
                Ok(version) => (name, Some(version)),
                Err(_) => (text, None),
            }
        }
        _ => (text, None),
    }
}

pub(super) async fn delete(client: &SsmClient, args: DeleteArgs) -> anyhow::Result<Verdict> {
    // A name given twice would be "not found" the second time, in a later batch.
    let mut names: Vec<&str> = Vec::with_capacity(args.names.len());
    for name in &args.names {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut out = std::io::stdout().lock();
    let mut n_missing = 0;
    for batch in names.chunks(MAX_DELETE_BATCH) {
        let answer = client.call("DeleteParameters", &json!({ "Names": batch })).await?;
        for deleted in answer["DeletedParameters"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            writeln!(out, "{deleted}")?;
        }
        out.flush()?;
        for missing in answer["InvalidParameters"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            warn(&format!("parameter {missing} not found"));
            n_missing += 1;
        }
    }
    Ok(if n_missing == 0 { Verdict::AllSucceeded } else { Verdict::SomeFailed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_suffix_is_the_version() {
        assert_eq!(split_version("/app/db:3"), ("/app/db", Some(3)));
        assert_eq!(split_version("/app/db"), ("/app/db", None));
        assert_eq!(split_version("/app/db:prod"), ("/app/db:prod", None));
        assert_eq!(split_version("/app/db:"), ("/app/db:", None));
        assert_eq!(split_version("/app/db:+3"), ("/app/db:+3", None));
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db";
        assert_eq!(split_version(arn), (arn, None));
        assert_eq!(split_version(&format!("{arn}:2")), (arn, Some(2)));
    }
}
