//! Grouping a finished command's invocations by result: status, exit code and the full output, so that
//! 4,812 nodes that printed the same thing read as one block.
//!
//! The work is tiered to stay cheap at fleet scale. ListCommandInvocations with `Details` (50 nodes a call)
//! already carries each node's plugin `Output`: stdout, then stderr after a separator, up to 2,500
//! characters. When it is not cut, it *is* the whole output and two nodes are grouped by its hash with no
//! further calls. When it is cut, nodes are first grouped by the hash of the cut text, and only groups of
//! two or more are then confirmed by hashing every member's full output from its URLs (streamed, never
//! held): two outputs that agree for 2,500 characters and differ after 24,000 must not be merged.
//! Finally each group's output is fetched once, from one member, for display. This module does not print.

use super::fetch;
use super::parallel::bounded;
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The separator between stdout and stderr in a plugin's listing `Output`.
const LISTING_ERROR_SEPARATOR: &str = "\n----------ERROR-------\n";
/// The markers the listing `Output` carries where it cut stdout or stderr.
const LISTING_CUT_MARKERS: [&str; 2] = ["\n---Output truncated---", "\n---Error truncated----"];

/// One node's invocation, as ListCommandInvocations with `Details` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Invocation {
    pub(super) instance_id: String,
    pub(super) status: String,
    pub(super) status_details: String,
    /// The script's exit code; `None` when no step ran or its end was never reported.
    pub(super) exit_code: Option<i64>,
    /// The plugin's `Output`: at most 2,500 characters of stdout and stderr.
    listing_output: String,
    stdout_url: String,
    stderr_url: String,
}

impl Invocation {
    /// Reads one `CommandInvocations` item. Its exit code is that of the step GetCommandInvocation would
    /// show: the last one that was not skipped.
    pub(super) fn from_json(value: &Value) -> Invocation {
        let text = |from: &Value, member: &str| from.get(member).and_then(Value::as_str).unwrap_or_default().to_owned();
        let plugins = value.get("CommandPlugins").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let plugin = plugins.iter().rev().find(|p| text(p, "StatusDetails") != "Skipped").or(plugins.last());
        let exit_code = plugin
            .filter(|p| text(p, "Status") != "Pending")
            .and_then(|p| p.get("ResponseCode"))
            .and_then(Value::as_i64)
            // SSM's -1 means "not started or not received", not an exit status.
            .filter(|code| *code >= 0);
        let from_plugin = |member: &str| plugin.map(|p| text(p, member)).unwrap_or_default();
        // fleetrun's own copy first: the SSM URLs may point at OutputS3BucketName.
        let url_of = |which: &str| {
            let own = from_plugin(&format!("FleetrunStandard{which}Url"));
            if own.is_empty() { from_plugin(&format!("Standard{which}Url")) } else { own }
        };
        Invocation {
            instance_id: text(value, "InstanceId"),
            status: text(value, "Status"),
            status_details: text(value, "StatusDetails"),
            exit_code,
            listing_output: from_plugin("Output"),
            stdout_url: url_of("Output"),
            stderr_url: url_of("Error"),
        }
    }

    /// Whether the listing cut this node's output, so that it does not identify it.
    fn listing_is_cut(&self) -> bool {
        LISTING_CUT_MARKERS.iter().any(|marker| self.listing_output.contains(marker))
    }
}

/// Nodes with the same status, exit code and output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Group {
    pub(super) status: String,
    pub(super) status_details: String,
    pub(super) exit_code: Option<i64>,
    /// Sorted. Invariant: never empty.
    pub(super) instance_ids: Vec<String>,
    /// The full stdout of one member (all members' are identical).
    pub(super) stdout: String,
    /// The full stderr of one member.
    pub(super) stderr: String,
}

impl Group {
    pub(super) fn succeeded(&self) -> bool {
        self.status == "Success"
    }

    /// This group as an element of `fleetrun run --output json`'s `Groups`.
    pub(super) fn to_json(&self) -> Value {
        json!({
            "Status": self.status,
            "StatusDetails": self.status_details,
            "ResponseCode": self.exit_code,
            "InstanceIds": self.instance_ids,
            "StandardOutput": self.stdout,
            "StandardError": self.stderr,
        })
    }
}

/// What two invocations must share to be in one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ResultKey {
    status: String,
    status_details: String,
    exit_code: Option<i64>,
    content: Content,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Content {
    /// SHA-256 of a listing `Output` that holds the whole output.
    ///
    /// Like a hash of "stdout+stderr", it cannot tell stdout that itself contains the separator line from
    /// real stderr; only a script that prints SSM's own separator can meet that.
    Listed([u8; 32]),
    /// SHA-256 of a listing `Output` that was cut: equal outputs have equal keys, but not the reverse.
    Cut([u8; 32]),
    /// SHA-256 over the SHA-256 of the full stdout and that of the full stderr.
    Full([u8; 32]),
}

/// Groups a finished command's invocations, downloading only what the listing cannot settle, and fetches
/// each group's output once. Groups come successes first, then larger before smaller.
pub(super) async fn group(
    client: &SsmClient,
    command_id: &str,
    invocations: Vec<Invocation>,
) -> anyhow::Result<Vec<Group>> {
    let mut settled: Vec<(ResultKey, Vec<Invocation>)> = Vec::new();
    for (key, members) in group_by_listing(invocations) {
        if matches!(key.content, Content::Cut(_)) && members.len() > 1 {
            // Different cut listings imply different outputs, so splitting one candidate group can
            // never produce a group that belongs with another one.
            for (full, members) in split_by_full_output(client, members).await? {
                let content = Content::Full(full);
                settled.push((ResultKey { content, ..key.clone() }, members));
            }
        } else {
            settled.push((key, members));
        }
    }
    let client = client.clone();
    let command_id = command_id.to_owned();
    let mut groups =
        bounded(settled, move |(key, members)| display_group(client.clone(), command_id.clone(), key, members)).await?;
    sort_groups(&mut groups);
    Ok(groups)
}

/// The first pass: invocations keyed by status, exit code and a hash of their listing `Output`.
fn group_by_listing(invocations: Vec<Invocation>) -> BTreeMap<ResultKey, Vec<Invocation>> {
    let mut groups: BTreeMap<ResultKey, Vec<Invocation>> = BTreeMap::new();
    for invocation in invocations {
        let hash = sha256(invocation.listing_output.as_bytes());
        let content = if invocation.listing_is_cut() { Content::Cut(hash) } else { Content::Listed(hash) };
        let key = ResultKey {
            status: invocation.status.clone(),
            status_details: invocation.status_details.clone(),
            exit_code: invocation.exit_code,
            content,
        };
        groups.entry(key).or_default().push(invocation);
    }
    groups
}

/// Splits candidates by the hash of their full output, streaming both streams of each member.
async fn split_by_full_output(
    client: &SsmClient,
    members: Vec<Invocation>,
) -> anyhow::Result<BTreeMap<[u8; 32], Vec<Invocation>>> {
    let client = client.clone();
    let hashed = bounded(members, move |invocation| {
        let client = client.clone();
        async move {
            let stdout = fetch::digest(&client, &invocation.stdout_url).await?;
            let stderr = fetch::digest(&client, &invocation.stderr_url).await?;
            Ok((sha256(&[stdout, stderr].concat()), invocation))
        }
    })
    .await?;
    let mut by_hash: BTreeMap<[u8; 32], Vec<Invocation>> = BTreeMap::new();
    for (hash, invocation) in hashed {
        by_hash.entry(hash).or_default().push(invocation);
    }
    Ok(by_hash)
}

/// Turns settled members into a `Group`, with the output of its first member by instance id.
async fn display_group(
    client: SsmClient,
    command_id: String,
    key: ResultKey,
    members: Vec<Invocation>,
) -> anyhow::Result<Group> {
    let mut instance_ids: Vec<String> = members.iter().map(|m| m.instance_id.clone()).collect();
    instance_ids.sort();
    let (stdout, stderr) = match &key.content {
        // The common case, free: a listing with no stderr part is exactly the stdout.
        Content::Listed(_) if !members[0].listing_output.contains(LISTING_ERROR_SEPARATOR) => {
            (members[0].listing_output.clone(), String::new())
        }
        _ => full_output(&client, &command_id, &instance_ids[0]).await?,
    };
    Ok(Group {
        status: key.status,
        status_details: key.status_details,
        exit_code: key.exit_code,
        instance_ids,
        stdout,
        stderr,
    })
}

/// The full stdout and stderr of one invocation: GetCommandInvocation's inline copies, completed from the
/// output URLs when SSM cut them.
async fn full_output(client: &SsmClient, command_id: &str, instance_id: &str) -> anyhow::Result<(String, String)> {
    let invocation =
        client.call("GetCommandInvocation", &json!({ "CommandId": command_id, "InstanceId": instance_id })).await?;
    let member = |name: &str| invocation.get(name).and_then(Value::as_str).unwrap_or_default();
    let url = |stream: &str| {
        let own = member(&format!("FleetrunStandard{stream}Url"));
        if own.is_empty() { member(&format!("Standard{stream}Url")) } else { own }
    };
    let stdout = fetch::full_stream(client, member("StandardOutputContent"), url("Output")).await?;
    let stderr = fetch::full_stream(client, member("StandardErrorContent"), url("Error")).await?;
    Ok((stdout, stderr))
}

/// Successes first, then bigger groups, then by first instance id, so the order is stable.
fn sort_groups(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        (!a.succeeded(), Reverse(a.instance_ids.len()), &a.instance_ids[0]).cmp(&(
            !b.succeeded(),
            Reverse(b.instance_ids.len()),
            &b.instance_ids[0],
        ))
    });
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(id: &str, status: &str, code: i64, output: &str) -> Invocation {
        Invocation::from_json(&json!({
            "InstanceId": id,
            "Status": status,
            "StatusDetails": status,
            "CommandPlugins": [{
                "Name": "aws:runShellScript",
                "Status": status,
                "StatusDetails": status,
                "ResponseCode": code,
                "Output": output,
                "StandardOutputUrl": format!("http://h/output/c/{id}/0/stdout"),
                "StandardErrorUrl": format!("http://h/output/c/{id}/0/stderr"),
            }],
        }))
    }

    #[test]
    fn reads_exit_code_and_urls_from_the_last_step_that_ran() {
        let value = json!({
            "InstanceId": "i-abcd1234",
            "Status": "Failed",
            "StatusDetails": "Failed",
            "CommandPlugins": [
                { "Status": "Failed", "StatusDetails": "Failed", "ResponseCode": 3, "Output": "no", "StandardOutputUrl": "u1" },
                { "Status": "Success", "StatusDetails": "Skipped", "ResponseCode": 0, "Output": "" },
            ],
        });
        let parsed = Invocation::from_json(&value);
        assert_eq!(parsed.exit_code, Some(3));
        assert_eq!(parsed.listing_output, "no");
        assert_eq!(parsed.stdout_url, "u1");
    }

    #[test]
    fn no_exit_code_when_nothing_ran() {
        let undeliverable = json!({
            "InstanceId": "i-abcd1234", "Status": "Failed", "StatusDetails": "Undeliverable", "CommandPlugins": [],
        });
        assert_eq!(Invocation::from_json(&undeliverable).exit_code, None);
        let lost = json!({
            "InstanceId": "i-abcd1234", "Status": "Failed", "StatusDetails": "Failed",
            "CommandPlugins": [{ "Status": "Failed", "StatusDetails": "Failed", "ResponseCode": -1 }],
        });
        assert_eq!(Invocation::from_json(&lost).exit_code, None);
    }

    #[test]
    fn first_pass_groups_by_status_code_and_listing() {
        let groups = group_by_listing(vec![
            invocation("i-00000001", "Success", 0, "hi\n"),
            invocation("i-00000002", "Success", 0, "hi\n"),
            invocation("i-00000003", "Failed", 1, "hi\n"),
            invocation("i-00000004", "Success", 0, "ho\n"),
            invocation("i-00000005", "Success", 0, "x\n---Output truncated---"),
            invocation("i-00000006", "Success", 0, "x\n---Output truncated---"),
        ]);
        let sizes: Vec<(bool, usize)> =
            groups.iter().map(|(key, members)| (matches!(key.content, Content::Cut(_)), members.len())).collect();
        assert_eq!(groups.len(), 4, "{sizes:?}");
        assert!(sizes.contains(&(false, 2)));
        assert!(sizes.contains(&(true, 2)), "cut listings are candidates");
        assert_eq!(sizes.iter().filter(|s| **s == (false, 1)).count(), 2);
    }

    #[test]
    fn stderr_cut_is_a_cut_listing() {
        let cut = invocation("i-00000001", "Failed", 1, "out\n----------ERROR-------\nerr\n---Error truncated----");
        assert!(cut.listing_is_cut());
        assert!(!invocation("i-00000001", "Failed", 1, "out\n----------ERROR-------\nerr").listing_is_cut());
    }

    #[test]
    fn successes_come_first_then_bigger_groups() {
        let group = |status: &str, ids: &[&str]| Group {
            status: status.into(),
            status_details: status.into(),
            exit_code: Some(0),
            instance_ids: ids.iter().map(|id| id.to_string()).collect(),
            stdout: String::new(),
            stderr: String::new(),
        };
        let mut groups = vec![
            group("Failed", &["i-00000009", "i-00000008", "i-00000007"]),
            group("Success", &["i-00000005"]),
            group("Success", &["i-00000003", "i-00000004"]),
            group("Failed", &["i-00000001"]),
        ];
        sort_groups(&mut groups);
        let firsts: Vec<&str> = groups.iter().map(|g| g.instance_ids[0].as_str()).collect();
        assert_eq!(firsts, ["i-00000003", "i-00000005", "i-00000009", "i-00000001"]);
    }
}
