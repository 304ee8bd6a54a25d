//! Small pieces of the SSM wire format shared by the handlers: timestamps, pagination tokens, input decoding
//! and the server-side checks of the model's constraints (botocore checks only `required` and `min`).

use super::error::SsmError;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes an operation's input; a body of the wrong shape is a `SerializationException`, as AWS answers.
pub(crate) fn decode<T: DeserializeOwned>(input: Value) -> Result<T, SsmError> {
    serde_json::from_value(input)
        .map_err(|e| SsmError::new("SerializationException", format!("Malformed request: {e}")))
}

/// SSM `timestamp`: epoch seconds with a fraction.
pub(crate) fn epoch(ms: i64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}

/// SSM `StringDateTime`: ISO-8601 in UTC with milliseconds, or "" for 0.
pub(crate) fn iso(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// ISO-8601 duration, as SSM's ExecutionElapsedTime (`PT0.091S`).
pub(crate) fn elapsed(start_ms: i64, end_ms: i64) -> String {
    if start_ms <= 0 || end_ms < start_ms {
        return String::new();
    }
    let ms = end_ms - start_ms;
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// Parses a filter timestamp such as `2024-07-07T00:00:00Z` (or a date alone).
pub(crate) fn parse_time(member: &str, text: &str) -> Result<i64, SsmError> {
    let full = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339);
    let parsed = full.or_else(|_| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, &format).map(|d| d.midnight().assume_utc())
    });
    parsed.map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64).map_err(|_| {
        SsmError::new(
            "InvalidFilterValue",
            format!("{member} value '{text}' is not a timestamp like 2024-07-07T00:00:00Z"),
        )
    })
}

/// Page size: the caller's MaxResults within `min..=max`, else the default.
pub(crate) fn page_size(max_results: Option<i64>, min: i64, max: i64, default: i64) -> Result<u32, SsmError> {
    match max_results {
        None => Ok(default as u32),
        Some(n) if (min..=max).contains(&n) => Ok(n as u32),
        Some(n) => {
            Err(SsmError::validation("maxResults", n, &format!("Member must have value between {min} and {max}")))
        }
    }
}

/// NextToken in: the offset it stands for.
pub(crate) fn offset_from_token(token: Option<&str>) -> Result<u32, SsmError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let invalid = || SsmError::new("InvalidNextToken", "The specified token is not valid.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("offset:").and_then(|n| n.parse().ok()).ok_or_else(invalid)
}

/// NextToken out: a token for the page after this one, when there is more (callers fetch one row beyond
/// the page to know, so the last page never carries a token).
pub(crate) fn next_token(offset: u32, page: u32, more: bool) -> Option<String> {
    more.then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + page)))
}

/// Checks a string member's length (in characters) against the model.
pub(crate) fn check_len(member: &str, value: &str, min: usize, max: usize) -> Result<(), SsmError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(SsmError::validation(member, value, &format!("Member must have length between {min} and {max}")));
    }
    Ok(())
}

/// Checks an enum member.
pub(crate) fn check_enum(member: &str, value: &str, allowed: &[&str]) -> Result<(), SsmError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(SsmError::validation(member, value, &format!("Member must satisfy enum value set: [{}]", allowed.join(", "))))
}

/// Checks a member against a whole-string regular expression from the model.
pub(crate) fn check_pattern(member: &str, value: &str, pattern: &regex::Regex, shown: &str) -> Result<(), SsmError> {
    if pattern.is_match(value) {
        return Ok(());
    }
    Err(SsmError::validation(member, value, &format!("Member must satisfy regular expression pattern: {shown}")))
}

/// A tag list as `[{Key, Value}]`.
pub(crate) fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(tags.iter().map(|(k, v)| serde_json::json!({ "Key": k, "Value": v })).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_tokens() {
        assert_eq!(iso(1_582_136_283_419), "2020-02-19T18:18:03.419Z");
        assert_eq!(iso(0), "");
        assert_eq!(elapsed(1_000, 1_091), "PT0.091S");
        assert_eq!(elapsed(1_000, 62_500), "PT61.500S");
        assert_eq!(epoch(1_550_173_814_717), serde_json::json!(1_550_173_814.717));
        let token = next_token(0, 10, true).unwrap();
        assert_eq!(offset_from_token(Some(&token)).unwrap(), 10);
        assert!(next_token(0, 10, false).is_none());
        assert!(offset_from_token(Some("garbage!")).is_err());
        assert_eq!(offset_from_token(Some("")).unwrap(), 0);
        assert_eq!(parse_time("t", "2024-07-07T00:00:00Z").unwrap(), 1_720_310_400_000);
        assert!(parse_time("t", "yesterday").is_err());
    }
}
