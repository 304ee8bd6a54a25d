//! The `Runtime` input of an `aws:executeScript` step, parsed from SSM's text.
//!
//! This is only the name of a language version. Which interpreter binary serves it is decided in
//! `interpreter.rs`.

use std::fmt;
use std::str::FromStr;

/// A language runtime of `aws:executeScript`, as named by the step's `Runtime` input.
///
/// Accepted texts are exactly SSM's: `python3.N` for N ≥ 6 (SSM has offered python3.6 to python3.11),
/// `PowerShell Core 6.0` and `PowerShell 7.N`. Parsing and [`fmt::Display`] round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `python3.<minor>`.
    Python { minor: u32 },
    /// `PowerShell Core 6.0` (major 6) or `PowerShell <major>.<minor>` (major ≥ 7).
    PowerShell { major: u32, minor: u32 },
}

/// The oldest Python runtime SSM ever offered: python3.6.
const MIN_PYTHON_MINOR: u32 = 6;

/// A `Runtime` text that names no runtime this crate runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported aws:executeScript runtime {0:?}; expected python3.N (N >= 6), PowerShell Core 6.0 or PowerShell 7.N"
)]
pub struct UnknownRuntime(pub String);

impl Runtime {
    /// Whether this is a Python runtime.
    pub fn is_python(self) -> bool {
        matches!(self, Runtime::Python { .. })
    }
}

impl FromStr for Runtime {
    type Err = UnknownRuntime;

    fn from_str(text: &str) -> Result<Runtime, UnknownRuntime> {
        let parsed = if let Some(minor) = text.strip_prefix("python3.") {
            minor.parse().ok().filter(|&minor| minor >= MIN_PYTHON_MINOR).map(|minor| Runtime::Python { minor })
        } else if text == "PowerShell Core 6.0" {
            Some(Runtime::PowerShell { major: 6, minor: 0 })
        } else if let Some(version) = text.strip_prefix("PowerShell ") {
            version
                .split_once('.')
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
                .filter(|&(major, _)| major >= 7)
                .map(|(major, minor)| Runtime::PowerShell { major, minor })
        } else {
            None
        };
        // The round trip rejects spellings that `parse` tolerates but SSM does not, such as
        // "python3.011" or "PowerShell 7.+2".
        parsed.filter(|runtime| runtime.to_string() == text).ok_or_else(|| UnknownRuntime(text.to_owned()))
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Runtime::Python { minor } => write!(f, "python3.{minor}"),
            Runtime::PowerShell { major: 6, minor } => write!(f, "PowerShell Core 6.{minor}"),
            Runtime::PowerShell { major, minor } => write!(f, "PowerShell {major}.{minor}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssm_runtime_names() {
        for (text, runtime) in [
            ("python3.6", Runtime::Python { minor: 6 }),
            ("python3.11", Runtime::Python { minor: 11 }),
            ("python3.13", Runtime::Python { minor: 13 }),
            ("PowerShell Core 6.0", Runtime::PowerShell { major: 6, minor: 0 }),
            ("PowerShell 7.0", Runtime::PowerShell { major: 7, minor: 0 }),
            ("PowerShell 7.4", Runtime::PowerShell { major: 7, minor: 4 }),
        ] {
            assert_eq!(text.parse(), Ok(runtime), "{text}");
            assert_eq!(runtime.to_string(), text);
        }
    }

    #[test]
    fn rejects_other_spellings() {
        for text in [
            "",
            "python3",
            "python3.5",
            "python2.7",
            "Python3.11",
            "python3.011",
            "python3.11 ",
            "python3.+8",
            "PowerShell 7",
            "PowerShell 6.0",
            "PowerShell Core 7.0",
            "powershell 7.0",
            "PowerShell 7.+2",
            "pwsh",
        ] {
            assert_eq!(text.parse::<Runtime>(), Err(UnknownRuntime(text.to_owned())), "{text:?}");
        }
    }
}
