//! Small pieces of presentation shared by the people commands: tables, JSON, numbers, timestamps, and the
//! broken-pipe test behind "`fleetrun … | head` exits 0".
//!
//! Everything here writes to a caller-given `Write` and returns `io::Result`, never `println!`, because
//! `println!` panics when stdout is a closed pipe. Nothing here talks to the server.

use comfy_table::{Table, presets};
use serde_json::Value;
use std::io::{self, IsTerminal, Write};

/// True when `error` comes from writing to a pipe whose reader has gone away.
pub(super) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|io_error| io_error.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// A table in the style of `docker ps`: a header row, no borders, so `grep` and `awk` work on it.
pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.to_vec());
    table
}

/// Writes `table` without the padding comfy-table leaves at the start and end of each line.
pub(super) fn write_table(out: &mut impl Write, table: &Table) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim())?;
    }
    Ok(())
}

/// Writes `value` as pretty JSON followed by a newline.
pub(super) fn write_json(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// `4812` → `4,812`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An SSM timestamp (epoch seconds with a fraction) as `2024-07-07T09:30:00Z`, or "-" when absent.
pub(super) fn timestamp(value: Option<&Value>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    value
        .and_then(Value::as_f64)
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128).ok())
        .and_then(|moment| moment.format(&format).ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// A string member of an SSM object, or "" when it is missing.
pub(super) fn text<'a>(value: &'a Value, member: &str) -> &'a str {
    value.get(member).and_then(Value::as_str).unwrap_or_default()
}

/// A number member of an SSM object shown in a table cell, or "-" when it is missing.
pub(super) fn number(value: &Value, member: &str) -> String {
    value.get(member).and_then(Value::as_i64).map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// Whether to color what goes to stdout: only for a terminal, and never when `NO_COLOR` is set.
pub(super) fn stdout_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4_812), "4,812");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(timestamp(Some(&json!(1_550_173_814.717))), "2019-02-14T19:50:14Z");
        assert_eq!(timestamp(Some(&json!(0))), "-");
        assert_eq!(timestamp(None), "-");
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let error = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing the results");
        assert!(is_broken_pipe(&error));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn tables_have_no_borders() {
        let mut table = table(&["A", "Bee"]);
        table.add_row(vec!["1", "2"]);
        let mut out = Vec::new();
        write_table(&mut out, &table).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("A "), "{text}");
        assert!(lines[1].starts_with("1 "), "{text}");
    }
}
