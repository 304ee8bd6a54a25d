//! `params put`: create a parameter or write a new version of one (PutParameter).
//!
//! The value comes from `--value`, `--value-file` or `--value-stdin`; the last two exist so that a secret
//! need not appear on a command line, where shell history and `ps` would show it, and `--value` with
//! `--type SecureString` warns about exactly that. The value is sent as is, minus one trailing newline
//! from a file or stdin, and is never printed. The server checks names, values, types and tiers; this
//! module only shapes the request and reports the version written.

use super::super::Verdict;
use super::warn;
use anyhow::Context;
use clap::{ArgGroup, Args};
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["value", "value_file", "value_stdin"])))]
pub(crate) struct PutArgs {
    /// The parameter's name: a path such as `/app/prod/db-url`, or one level such as `db-url`.
    name: String,
    /// The value. It is visible in shell history and `ps`: for a secret use --value-file or --value-stdin.
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    /// Read the value from FILE (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,
    /// Read the value from standard input (one trailing newline is dropped).
    #[arg(long)]
    value_stdin: bool,
    /// The parameter's type. Required to create a parameter; an overwrite keeps the type it has.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["String", "StringList", "SecureString"])]
    kind: Option<String>,
    /// A description of the parameter (at most 1024 characters).
    #[arg(long)]
    description: Option<String>,
    /// For a SecureString: the master key to encrypt it with (the server's default key when omitted).
    #[arg(long)]
    key_id: Option<String>,
    /// Write a new version of an existing parameter. Without it, putting an existing name is refused.
    #[arg(long)]
    overwrite: bool,
    /// A regular expression that this and every later value must match.
    #[arg(long, value_name = "REGEX")]
    allowed_pattern: Option<String>,
    /// The storage tier; Intelligent-Tiering picks Advanced only when the value needs it.
    #[arg(long, value_parser = ["Standard", "Advanced", "Intelligent-Tiering"])]
    tier: Option<String>,
    /// A tag for a new parameter (repeat for more). Not with --overwrite: SSM tags only at creation.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
}

pub(super) async fn put(client: &SsmClient, args: PutArgs) -> anyhow::Result<Verdict> {
    if args.value.is_some() && args.kind.as_deref() == Some("SecureString") {
        warn(
            "warning: a value given with --value is visible in shell history and to `ps`; \
             --value-file or --value-stdin keep a secret off the command line",
        );
    }
    let value = read_value(&args)?;
    let written = client.call("PutParameter", &put_input(&args, value)).await?;
    let version = written.get("Version").and_then(Value::as_i64).context("PutParameter answered without a Version")?;
    let tier = written.get("Tier").and_then(Value::as_str).unwrap_or("Standard");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} version {version} ({tier})", args.name)?;
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// The value from whichever of `--value`, `--value-file` and `--value-stdin` was given (clap makes sure
/// exactly one was).
fn read_value(args: &PutArgs) -> anyhow::Result<String> {
    if let Some(value) = &args.value {
        return Ok(value.clone());
    }
    let text = match &args.value_file {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading the value from {}", path.display()))?;
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?
        }
        None => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                warn("reading the value from standard input; end it with Ctrl-D");
            }
            let mut text = String::new();
            stdin.read_to_string(&mut text).context("reading the value from standard input")?;
            text
        }
    };
    Ok(without_trailing_newline(text))
}

/// Drops one trailing `\n` (or `\r\n`): editors and `echo` add one that is not part of the value.
fn without_trailing_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// The PutParameter request: members the flags leave out are left out, so the API's defaults apply.
fn put_input(args: &PutArgs, value: String) -> Value {
    let mut input = json!({ "Name": args.name, "Value": value, "Overwrite": args.overwrite });
    let optional = [
        ("Type", args.kind.as_ref()),
        ("Description", args.description.as_ref()),
        ("KeyId", args.key_id.as_ref()),
        ("AllowedPattern", args.allowed_pattern.as_ref()),
        ("Tier", args.tier.as_ref()),
    ];
    for (member, flag) in optional {
        if let Some(flag) = flag {
            input[member] = json!(flag);
        }
    }
    if !args.tags.is_empty() {
        input["Tags"] = args.tags.iter().map(|(key, value)| json!({ "Key": key, "Value": value })).collect();
    }
    input
}

/// `--tag Env=prod` → `("Env", "prod")`; the value may be empty, the key may not.
fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("tag {text:?} must look like KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        put: PutArgs,
    }

    fn parse(args: &[&str]) -> Result<PutArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("put").chain(args.iter().copied())).map(|cli| cli.put)
    }

    #[test]
    fn exactly_one_value_source() {
        assert!(parse(&["/a"]).is_err(), "none");
        assert!(parse(&["/a", "--value", "x", "--value-stdin"]).is_err(), "two");
        assert!(parse(&["/a", "--value", "-x"]).is_ok(), "a value may start with a hyphen");
        assert!(parse(&["/a", "--value-stdin", "--type", "securestring"]).is_err(), "types are spelled as SSM does");
    }

    #[test]
    fn put_sends_only_the_flags_given() {
        let args =
            parse(&["/a", "--value", "v", "--type", "SecureString", "--tag", "Env=prod", "--tag", "Empty="]).unwrap();
        let input = put_input(&args, "v".to_owned());
        assert_eq!(
            input,
            json!({
                "Name": "/a", "Value": "v", "Overwrite": false, "Type": "SecureString",
                "Tags": [{ "Key": "Env", "Value": "prod" }, { "Key": "Empty", "Value": "" }],
            })
        );
        let args = parse(&["/a", "--value", "v", "--overwrite", "--tier", "Intelligent-Tiering"]).unwrap();
        assert_eq!(
            put_input(&args, "v".to_owned()),
            json!({ "Name": "/a", "Value": "v", "Overwrite": true, "Tier": "Intelligent-Tiering" })
        );
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(without_trailing_newline("s3cret\n".to_owned()), "s3cret");
        assert_eq!(without_trailing_newline("s3cret\r\n".to_owned()), "s3cret");
        assert_eq!(without_trailing_newline("a\n\n".to_owned()), "a\n");
        assert_eq!(without_trailing_newline("a".to_owned()), "a");
        assert_eq!(without_trailing_newline(String::new()), "");
    }
}
