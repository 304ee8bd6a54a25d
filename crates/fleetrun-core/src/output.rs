//! SSM's views of command output: the first 24,000 characters of stdout and 8,000 of stderr for
//! GetCommandInvocation, and the 2,500-character plugin `Output` for ListCommandInvocations with Details.
//!
//! The full output is never cut: it is kept in the object store. These functions only make the inline copies.

/// GetCommandInvocation's StandardOutputContent limit.
pub const MAX_STDOUT_CHARS: usize = 24_000;
/// GetCommandInvocation's StandardErrorContent limit.
pub const MAX_STDERR_CHARS: usize = 8_000;
/// ListCommandInvocations' CommandPlugin.Output limit.
pub const MAX_PLUGIN_OUTPUT_CHARS: usize = 2_500;

const TRUNCATED: &str = "\n--output truncated--";
const PLUGIN_STDOUT_TRUNCATED: &str = "\n---Output truncated---";
const PLUGIN_STDERR_TRUNCATED: &str = "\n---Error truncated----";
const ERROR_SEPARATOR: &str = "\n----------ERROR-------\n";

/// The first `max` characters of `text`; when text was cut, the last characters are replaced by a marker so
/// that the result still fits in `max`.
pub fn head(text: &str, max: usize) -> String {
    cut(text, max, TRUNCATED)
}

fn cut(text: &str, max: usize, marker: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(marker.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(marker);
    out
}

/// The plugin `Output` of ListCommandInvocations: stdout, then stderr after a separator, within 2,500 characters.
pub fn plugin_output(stdout: &str, stderr: &str) -> String {
    if stderr.is_empty() {
        return cut(stdout, MAX_PLUGIN_OUTPUT_CHARS, PLUGIN_STDOUT_TRUNCATED);
    }
    let budget = MAX_PLUGIN_OUTPUT_CHARS - ERROR_SEPARATOR.chars().count();
    let err_budget = (budget / 2).max(budget.saturating_sub(stdout.chars().count()));
    let err = cut(stderr, err_budget, PLUGIN_STDERR_TRUNCATED);
    let out = cut(stdout, budget - err.chars().count(), PLUGIN_STDOUT_TRUNCATED);
    format!("{out}{ERROR_SEPARATOR}{err}")
}

/// Decodes output bytes for the inline views (scripts may print anything; invalid UTF-8 is replaced).
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_keeps_short_text_and_marks_long_text() {
        assert_eq!(head("hello\n", MAX_STDOUT_CHARS), "hello\n");
        let long = "x".repeat(30_000);
        let cut = head(&long, MAX_STDOUT_CHARS);
        assert_eq!(cut.chars().count(), MAX_STDOUT_CHARS);
        assert!(cut.ends_with("--output truncated--"));
        let exact = "é".repeat(MAX_STDERR_CHARS);
        assert_eq!(head(&exact, MAX_STDERR_CHARS), exact, "counts characters, not bytes");
    }

    #[test]
    fn plugin_output_fits_and_separates() {
        assert_eq!(plugin_output("out", ""), "out");
        assert_eq!(plugin_output("out", "err"), "out\n----------ERROR-------\nerr");
        for (o, e) in [(5000, 0), (5000, 5000), (10, 5000), (5000, 10)] {
            let text = plugin_output(&"o".repeat(o), &"e".repeat(e));
            assert!(text.chars().count() <= MAX_PLUGIN_OUTPUT_CHARS, "{o}/{e}: {}", text.chars().count());
        }
        assert!(plugin_output(&"o".repeat(10), &"e".repeat(5000)).starts_with("oooooooooo\n---"));
    }
}
