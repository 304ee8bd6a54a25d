//! Rate control: SSM's `MaxConcurrency` and `MaxErrors`, as numbers or percentages of the targets.
//!
//! Percentages are resolved against the number of targets once, when the command is created:
//! MaxConcurrency rounds **up** and is at least 1 (10% of 5 nodes runs one at a time, never zero);
//! MaxErrors rounds **down** (10% of 15 nodes allows 1 error), so a fractional allowance never lets
//! more errors through than the operator asked for. This module does not keep time or talk to the store.

use crate::state::Tally;
use std::fmt;

/// A limit as the caller wrote it: `"10"` or `"10%"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Count(u32),
    Percent(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError(pub String);

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitError {}

impl Limit {
    /// Parses MaxConcurrency (`^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$`).
    pub fn parse_concurrency(text: &str) -> Result<Self, LimitError> {
        let limit = Self::parse(text, "MaxConcurrency")?;
        match limit {
            Limit::Count(0) | Limit::Percent(0) => {
                Err(LimitError(format!("MaxConcurrency '{text}' must be at least 1 or 1%")))
            }
            other => Ok(other),
        }
    }

    /// Parses MaxErrors (`^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$`).
    pub fn parse_errors(text: &str) -> Result<Self, LimitError> {
        Self::parse(text, "MaxErrors")
    }

    fn parse(text: &str, what: &str) -> Result<Self, LimitError> {
        let bad = || {
            LimitError(format!(
                "{what} '{text}' is not valid: give a whole number (e.g. 10) or a percentage from 0% to 100% (e.g. 10%)"
            ))
        };
        if text.is_empty() || text.len() > 7 {
            return Err(bad());
        }
        let (digits, percent) = match text.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // No leading zeros, as in SSM's patterns ("0" alone is allowed).
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(bad());
        }
        let value: u32 = digits.parse().map_err(|_| bad())?;
        if percent {
            if value > 100 {
                return Err(bad());
            }
            Ok(Limit::Percent(value))
        } else {
            Ok(Limit::Count(value))
        }
    }

    /// The concurrency for `targets` nodes: percentages round up, never below 1.
    pub fn concurrency_for(self, targets: u32) -> u32 {
        match self {
            Limit::Count(n) => n.max(1),
            Limit::Percent(p) => ((u64::from(p) * u64::from(targets)).div_ceil(100) as u32).max(1),
        }
    }

    /// The error allowance for `targets` nodes: percentages round down.
    pub fn errors_for(self, targets: u32) -> u32 {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => (u64::from(p) * u64::from(targets) / 100) as u32,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// What the scheduler should do next for one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Release this many Pending invocations (oldest first) to their agents.
    Release(u32),
    /// Errors exceeded the allowance: every invocation not yet picked up ends as Terminated.
    TerminateUnstarted,
    /// Nothing to do until something changes.
    Wait,
}

/// Decides the next step from the current tally and the resolved limits.
///
/// "MaxErrors = 3" means the fourth error stops the rollout (SSM's wording); invocations already running
/// are left to finish.
pub fn next_step(tally: &Tally, max_concurrency: u32, max_errors: u32) -> Step {
    if tally.errors() > max_errors {
        if tally.pending + tally.queued > 0 {
            return Step::TerminateUnstarted;
        }
        return Step::Wait;
    }
    let free = max_concurrency.saturating_sub(tally.in_flight());
    let release = free.min(tally.pending);
    if release > 0 { Step::Release(release) } else { Step::Wait }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InvocationState as S;

    #[test]
    fn parse_table() {
        let cases = [
            ("1", Some(Limit::Count(1)), Some(Limit::Count(1))),
            ("50", Some(Limit::Count(50)), Some(Limit::Count(50))),
            ("0", None, Some(Limit::Count(0))),
            ("0%", None, Some(Limit::Percent(0))),
            ("10%", Some(Limit::Percent(10)), Some(Limit::Percent(10))),
            ("100%", Some(Limit::Percent(100)), Some(Limit::Percent(100))),
            ("101%", None, None),
            ("05", None, None),
            ("-1", None, None),
            ("1.5", None, None),
            ("%", None, None),
            ("", None, None),
            ("12345678", None, None),
            ("ten", None, None),
        ];
        for (text, concurrency, errors) in cases {
            assert_eq!(Limit::parse_concurrency(text).ok(), concurrency, "MaxConcurrency {text:?}");
            assert_eq!(Limit::parse_errors(text).ok(), errors, "MaxErrors {text:?}");
        }
    }

    #[test]
    fn rounding_table() {
        // (limit, targets, concurrency, errors)
        let cases = [
            (Limit::Percent(10), 50, 5, 5),
            (Limit::Percent(10), 5, 1, 0),
            (Limit::Percent(10), 15, 2, 1),
            (Limit::Percent(100), 7, 7, 7),
            (Limit::Percent(1), 0, 1, 0),
            (Limit::Count(3), 100, 3, 3),
        ];
        for (limit, targets, concurrency, errors) in cases {
            assert_eq!(limit.concurrency_for(targets), concurrency, "{limit} of {targets}");
            assert_eq!(limit.errors_for(targets), errors, "{limit} of {targets}");
        }
    }

    fn tally(states: &[(S, u32)]) -> Tally {
        let mut t = Tally::default();
        for &(s, n) in states {
            t.add(s, n);
        }
        t
    }

    /// (invocation states, max concurrency, max errors, expected step)
    type Case = (&'static [(S, u32)], u32, u32, Step);

    #[test]
    fn next_step_table() {
        let cases: &[Case] = &[
            (&[(S::Pending, 10)], 3, 0, Step::Release(3)),
            (&[(S::Pending, 10), (S::InProgress, 2)], 3, 0, Step::Release(1)),
            (&[(S::Pending, 10), (S::Queued, 1), (S::InProgress, 2)], 3, 0, Step::Wait),
            (&[(S::Pending, 2), (S::Success, 5)], 50, 0, Step::Release(2)),
            // MaxErrors 0: the first error stops the rollout.
            (&[(S::Pending, 5), (S::Failed, 1)], 1, 0, Step::TerminateUnstarted),
            (&[(S::Queued, 1), (S::Failed, 1)], 1, 0, Step::TerminateUnstarted),
            // MaxErrors 1: the second error stops it.
            (&[(S::Pending, 5), (S::Failed, 1)], 1, 1, Step::Release(1)),
            (&[(S::Pending, 5), (S::Failed, 1), (S::ExecutionTimedOut, 1)], 1, 1, Step::TerminateUnstarted),
            // Delivery timeouts are not errors.
            (&[(S::Pending, 5), (S::DeliveryTimedOut, 3)], 1, 0, Step::Release(1)),
            (&[(S::InProgress, 2), (S::Failed, 3)], 5, 0, Step::Wait),
            (&[(S::Success, 3)], 5, 0, Step::Wait),
        ];
        for (states, concurrency, errors, want) in cases {
            assert_eq!(
                next_step(&tally(states), *concurrency, *errors),
                *want,
                "{states:?} c={concurrency} e={errors}"
            );
        }
    }
}
