//! The report `fleetrun run` prints when a command has finished: one block per distinct result for people,
//! or one JSON document for scripts.
//!
//! A block names the status, the exit code and the nodes, then shows the output once, indented:
//!
//! ```text
//! ● Success, exit 0 — 4,812 nodes: mi-…, mi-…, … (+4,802 more)
//!   hello
//! ```
//!
//! This module only formats; grouping and downloads happen in `groups` before it is called.

use super::groups::Group;
use super::render::{self, thousands};
use serde_json::{Value, json};
use std::io::{self, Write};

/// Instance ids named in a block's heading; the rest are counted (`--output json` lists them all).
const SHOWN_INSTANCE_IDS: usize = 10;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// The blocks, then a one-line summary naming the command.
pub(super) fn write_table(out: &mut impl Write, command: &Value, groups: &[Group], color: bool) -> io::Result<()> {
    let paint = |code: &'static str| if color { code } else { "" };
    let reset = paint(RESET);
    for group in groups {
        let bullet = if group.succeeded() { GREEN } else { RED };
        writeln!(out, "{}●{reset} {}", paint(bullet), heading(group))?;
        if group.stdout.is_empty() && group.stderr.is_empty() {
            writeln!(out, "  {}(no output){reset}", paint(DIM))?;
        }
        write_indented(out, &group.stdout)?;
        if !group.stderr.is_empty() {
            writeln!(out, "  {}--- stderr ---{reset}", paint(DIM))?;
            write_indented(out, &group.stderr)?;
        }
        writeln!(out)?;
    }
    let total: usize = groups.iter().map(|g| g.instance_ids.len()).sum();
    let succeeded: usize = groups.iter().filter(|g| g.succeeded()).map(|g| g.instance_ids.len()).sum();
    writeln!(
        out,
        "Command {}: {} of {} {} succeeded.",
        render::text(command, "CommandId"),
        thousands(succeeded),
        thousands(total),
        if total == 1 { "node" } else { "nodes" },
    )
}

/// `{"Command": <SSM Command>, "Groups": [...]}` with every instance id and the full output of each group.
pub(super) fn write_json(out: &mut impl Write, command: &Value, groups: &[Group]) -> io::Result<()> {
    let groups: Vec<Value> = groups.iter().map(Group::to_json).collect();
    render::write_json(out, &json!({ "Command": command, "Groups": groups }))
}

/// `Success, exit 0 — 3 nodes: i-…, i-…, i-…`. The status shown is SSM's StatusDetails, the finer one
/// ("Delivery Timed Out" rather than "TimedOut").
fn heading(group: &Group) -> String {
    let status = if group.status_details.is_empty() { &group.status } else { &group.status_details };
    let exit = group.exit_code.map(|code| format!(", exit {code}")).unwrap_or_default();
    let n = group.instance_ids.len();
    let mut ids = group.instance_ids[..n.min(SHOWN_INSTANCE_IDS)].join(", ");
    if n > SHOWN_INSTANCE_IDS {
        ids.push_str(&format!(", … (+{} more)", thousands(n - SHOWN_INSTANCE_IDS)));
    }
    let noun = if n == 1 { "node" } else { "nodes" };
    format!("{status}{exit} — {} {noun}: {ids}", thousands(n))
}

/// Each line of `text` with two spaces in front (none on empty lines); a final newline ends the last line
/// rather than starting an empty one.
fn write_indented(out: &mut impl Write, text: &str) -> io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
        if line.is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(status: &str, code: Option<i64>, n: usize, stdout: &str, stderr: &str) -> Group {
        Group {
            status: status.into(),
            status_details: status.into(),
            exit_code: code,
            instance_ids: (0..n).map(|i| format!("mi-{i:017}")).collect(),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn table(groups: &[Group]) -> String {
        let mut out = Vec::new();
        let command = json!({ "CommandId": "c0ffee00-0000-4000-8000-000000000000" });
        write_table(&mut out, &command, groups, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn blocks_show_status_exit_nodes_and_output() {
        let text =
            table(&[group("Success", Some(0), 2, "hello\n", ""), group("Failed", Some(1), 1, "", "boom\nbang\n")]);
        assert_eq!(
            text,
            "● Success, exit 0 — 2 nodes: mi-00000000000000000, mi-00000000000000001\n  hello\n\n\
             ● Failed, exit 1 — 1 node: mi-00000000000000000\n  --- stderr ---\n  boom\n  bang\n\n\
             Command c0ffee00-0000-4000-8000-000000000000: 2 of 3 nodes succeeded.\n"
        );
    }

    #[test]
    fn long_node_lists_are_counted() {
        let heading = heading(&group("Success", Some(0), 4_812, "", ""));
        assert!(heading.starts_with("Success, exit 0 — 4,812 nodes: mi-00000000000000000, "));
        assert!(heading.ends_with("mi-00000000000000009, … (+4,802 more)"), "{heading}");
    }

    #[test]
    fn no_exit_code_and_no_output_are_said() {
        let mut undeliverable = group("Failed", None, 1, "", "");
        undeliverable.status_details = "Undeliverable".into();
        let text = table(&[undeliverable]);
        assert!(text.starts_with("● Undeliverable — 1 node: mi-00000000000000000\n  (no output)\n"), "{text}");
    }

    #[test]
    fn output_without_final_newline_keeps_its_last_line() {
        let text = table(&[group("Success", Some(0), 1, "a\n\nb", "")]);
        assert!(text.contains("\n  a\n\n  b\n\n"), "{text:?}");
    }
}
