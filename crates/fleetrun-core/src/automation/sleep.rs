//! `aws:sleep`: its `Duration` (ISO 8601, e.g. `PT10M`) or `Timestamp` (RFC 3339, e.g.
//! `2020-01-01T01:00:00Z`), checked when the runbook is created and turned into a wake-up time
//! when the step runs. The driver owns the clock: it passes in when the step started.
//!
//! Durations follow the subset Java's `Duration.parse` accepts, which is what SSM's examples
//! use: `P[nD][T[nH][nM][n[.f]S]]`, letters in either case. Years, months and weeks are refused
//! because their length depends on the calendar. SSM caps a delay at 7 days.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{RunbookError, StepError};
use super::refs::whole_reference;

/// The longest delay `aws:sleep` allows, in seconds (7 days).
pub const MAX_SLEEP_SECONDS: u64 = 604_800;

/// What an `aws:sleep` step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepSpec {
    For(Duration),
    Until(OffsetDateTime),
}

impl SleepSpec {
    /// Reads resolved inputs: exactly one of `Duration` and `Timestamp`.
    pub fn from_inputs(inputs: &Value) -> Result<Self, StepError> {
        let invalid =
            |field: &str, reason: &str| StepError::InvalidInput { field: field.to_owned(), reason: reason.to_owned() };
        let text = |field: &str| inputs.get(field).filter(|value| !value.is_null());
        match (text("Duration"), text("Timestamp")) {
            (Some(Value::String(duration)), None) => parse_iso8601_duration(duration)
                .map(SleepSpec::For)
                .ok_or_else(|| invalid("Duration", "it must be an ISO 8601 duration such as PT10M")),
            (None, Some(Value::String(timestamp))) => OffsetDateTime::parse(timestamp, &Rfc3339)
                .map(SleepSpec::Until)
                .map_err(|_| invalid("Timestamp", "it must be an ISO 8601 timestamp such as 2020-01-01T01:00:00Z")),
            (Some(_), Some(_)) => Err(invalid("Duration", "give Duration or Timestamp, not both")),
            (None, None) => Err(invalid("Duration", "give Duration or Timestamp")),
            (Some(_), None) => Err(invalid("Duration", "it must be a string")),
            (None, Some(_)) => Err(invalid("Timestamp", "it must be a string")),
        }
    }

    /// When a sleep that started at `started` ends. A timestamp in the past ends it at once
    /// (`started`); one more than [`MAX_SLEEP_SECONDS`] after `started` is an error.
    pub fn wake_at(&self, started: OffsetDateTime) -> Result<OffsetDateTime, StepError> {
        let wake = match *self {
            SleepSpec::For(duration) => started + duration,
            SleepSpec::Until(timestamp) => timestamp.max(started),
        };
        let seconds = (wake - started).whole_seconds();
        if seconds > MAX_SLEEP_SECONDS as i64 {
            return Err(StepError::SleepTooLong { requested_seconds: seconds, max_seconds: MAX_SLEEP_SECONDS });
        }
        Ok(wake)
    }
}

/// Parses an ISO 8601 duration in the form `P[nD][T[nH][nM][n[.f]S]]` (at least one component,
/// no sign, fractions only on seconds, at most nanosecond precision).
pub fn parse_iso8601_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix(['P', 'p'])?;
    let (date, time) = match rest.find(['T', 't']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let mut nanos: u128 = 0;
    let mut components = 0;
    if !date.is_empty() {
        let days = date.strip_suffix(['D', 'd'])?;
        nanos += whole(days)? * 86_400 * 1_000_000_000;
        components += 1;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (unit, seconds) in [(['H', 'h'], 3_600u128), (['M', 'm'], 60)] {
            if let Some(at) = time.find(unit) {
                nanos += whole(&time[..at])? * seconds * 1_000_000_000;
                time = &time[at + 1..];
                components += 1;
            }
        }
        if !time.is_empty() {
            nanos += fractional_seconds(time.strip_suffix(['S', 's'])?)?;
            components += 1;
        }
    }
    if components == 0 {
        return None;
    }
    let seconds = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

/// Digits only, at most 12 of them (no component of a sensible duration needs more).
fn whole(digits: &str) -> Option<u128> {
    let valid = !digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.parse().ok()).flatten()
}

/// `n` or `n.f` seconds as nanoseconds; `f` has 1 to 9 digits.
fn fractional_seconds(text: &str) -> Option<u128> {
    let (int, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut nanos = whole(int)? * 1_000_000_000;
    if text.contains('.') {
        if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{fraction:0<9}");
        nanos += padded.parse::<u128>().ok()?;
    }
    Some(nanos)
}

/// Checks an `aws:sleep` step's raw inputs at CreateDocument: exactly one of `Duration` and
/// `Timestamp`; a literal duration must parse and be at most 7 days, a literal timestamp must
/// parse. A `{{ reference }}` is checked when the step runs.
pub(super) fn check_sleep_inputs(step: &str, inputs: &serde_json::Map<String, Value>) -> Result<(), RunbookError> {
    super::actions::check_known_inputs(step, "aws:sleep", inputs, &["Duration", "Timestamp"])?;
    let invalid = |field: &str, reason: &str| RunbookError::InvalidInput {
        step: step.to_owned(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let present = |field: &str| inputs.get(field).filter(|value| !value.is_null());
    let (field, value) = match (present("Duration"), present("Timestamp")) {
        (Some(duration), None) => ("Duration", duration),
        (None, Some(timestamp)) => ("Timestamp", timestamp),
        (Some(_), Some(_)) => return Err(invalid("Duration", "give Duration or Timestamp, not both")),
        (None, None) => return Err(RunbookError::MissingInput { step: step.to_owned(), field: "Duration".to_owned() }),
    };
    let Value::String(text) = value else {
        return Err(invalid(field, "it must be a string"));
    };
    if whole_reference(text).is_some() {
        return Ok(());
    }
    if field == "Timestamp" {
        return match OffsetDateTime::parse(text, &Rfc3339) {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid(field, "it must be an ISO 8601 timestamp such as 2020-01-01T01:00:00Z")),
        };
    }
    match parse_iso8601_duration(text) {
        Some(duration) if duration.as_secs_f64() > MAX_SLEEP_SECONDS as f64 => {
            Err(invalid(field, "it may be at most 7 days (P7D or PT604800S)"))
        }
        Some(_) => Ok(()),
        None => Err(invalid(field, "it must be an ISO 8601 duration such as PT10M")),
    }
}
