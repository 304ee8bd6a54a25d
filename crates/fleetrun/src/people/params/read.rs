//! `params get`, `params list` and `params history`: reading parameters, with SecureString values masked
//! unless `--decrypt` (and always in `list`).
//!
//! With `--json` each prints the API's answer under the API's own key (`{"Parameter": …}`,
//! `{"Parameters": […]}`), so `jq` filters written for `aws ssm` work unchanged; only SecureString values
//! that were not decrypted differ, as `****` instead of the opaque ciphertext. Nothing here changes state.

use super::super::Verdict;
use super::super::render::{self, number, text, timestamp};
use super::{cell, mask};
use anyhow::Context;
use clap::Args;
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::Write;

#[derive(Args)]
pub(crate) struct GetArgs {
    /// The parameter: NAME, NAME:VERSION or NAME:LABEL (or its ARN).
    name: String,
    /// Show a SecureString's value in clear (SSM's WithDecryption).
    #[arg(long)]
    decrypt: bool,
    /// Print the API's answer (`{"Parameter": {…}}`) instead of the bare value.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Show only the parameters under this path (such as `/app/prod`), with their values; a SecureString's
    /// value shows as `****` (list never decrypts: `params get --decrypt` does).
    path: Option<String>,
    /// With PATH: also the parameters in the levels below it, not just directly under it.
    #[arg(long, requires = "path")]
    recursive: bool,
    /// Print the API's answer (`{"Parameters": […]}`, every page) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct HistoryArgs {
    /// The parameter.
    name: String,
    /// Show a SecureString's values in clear (SSM's WithDecryption).
    #[arg(long)]
    decrypt: bool,
    /// Print the API's answer (`{"Parameters": […]}`, every page) instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) async fn get(client: &SsmClient, args: GetArgs) -> anyhow::Result<Verdict> {
    let answer = client.call("GetParameter", &json!({ "Name": args.name, "WithDecryption": args.decrypt })).await?;
    let mut parameter = answer.get("Parameter").cloned().context("GetParameter answered without a Parameter")?;
    mask(&mut parameter, args.decrypt);
    let mut out = std::io::stdout().lock();
    if args.json {
        render::write_json(&mut out, &json!({ "Parameter": parameter }))?;
    } else {
        // The bare value, so that `$(fleetrun params get … --decrypt)` is the value.
        writeln!(out, "{}", text(&parameter, "Value"))?;
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

pub(super) async fn list(client: &SsmClient, args: ListArgs) -> anyhow::Result<Verdict> {
    let Some(path) = &args.path else { return describe(client, args.json).await };
    let input = json!({ "Path": path, "Recursive": args.recursive, "WithDecryption": false, "MaxResults": 10 });
    let mut parameters = client.paginate("GetParametersByPath", &input, "Parameters").await?;
    for parameter in &mut parameters {
        mask(parameter, false);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        render::write_json(&mut out, &json!({ "Parameters": parameters }))?;
    } else {
        let mut table = render::table(&["Name", "Type", "Version", "Value"]);
        for parameter in &parameters {
            table.add_row(vec![
                text(parameter, "Name").to_owned(),
                text(parameter, "Type").to_owned(),
                number(parameter, "Version"),
                cell(text(parameter, "Value")),
            ]);
        }
        render::write_table(&mut out, &table)?;
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// `params list` without a path: every parameter's metadata (DescribeParameters has no values).
async fn describe(client: &SsmClient, json: bool) -> anyhow::Result<Verdict> {
    let parameters = client.paginate("DescribeParameters", &json!({ "MaxResults": 50 }), "Parameters").await?;
    let mut out = std::io::stdout().lock();
    if json {
        render::write_json(&mut out, &json!({ "Parameters": parameters }))?;
    } else {
        let mut table = render::table(&["Name", "Type", "Version", "LastModified", "Description"]);
        for parameter in &parameters {
            table.add_row(vec![
                text(parameter, "Name").to_owned(),
                text(parameter, "Type").to_owned(),
                number(parameter, "Version"),
                timestamp(parameter.get("LastModifiedDate")),
                cell(text(parameter, "Description")),
            ]);
        }
        render::write_table(&mut out, &table)?;
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

pub(super) async fn history(client: &SsmClient, args: HistoryArgs) -> anyhow::Result<Verdict> {
    let input = json!({ "Name": args.name, "WithDecryption": args.decrypt, "MaxResults": 50 });
    let mut versions = client.paginate("GetParameterHistory", &input, "Parameters").await?;
    for version in &mut versions {
        mask(version, args.decrypt);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        render::write_json(&mut out, &json!({ "Parameters": versions }))?;
    } else {
        let mut table = render::table(&["Version", "Labels", "LastModified", "Value"]);
        for version in &versions {
            table.add_row(vec![
                number(version, "Version"),
                labels_cell(&version["Labels"]),
                timestamp(version.get("LastModifiedDate")),
                cell(text(version, "Value")),
            ]);
        }
        render::write_table(&mut out, &table)?;
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// `prod,stable`, or "-" for a version without labels.
fn labels_cell(labels: &Value) -> String {
    let labels: Vec<&str> =
        labels.as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(Value::as_str).collect();
    cell(&labels.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_joined() {
        assert_eq!(labels_cell(&json!(["prod", "stable"])), "prod,stable");
        assert_eq!(labels_cell(&json!([])), "-");
        assert_eq!(labels_cell(&Value::Null), "-");
    }
}
