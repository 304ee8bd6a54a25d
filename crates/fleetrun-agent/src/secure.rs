//! SecureString parameters on the agent: `{{ssm-secure:name}}` references in a shell step, resolved
//! only here, only when the step starts, and kept out of every file.
//!
//! Before an `aws:runShellScript` step runs, each `{{ssm-secure:target}}` in its script becomes
//! `${FLEETRUN_SECURE_n}` ([`substitute`]): `n` counts the distinct targets (the text after
//! `ssm-secure:`, as written) from 1, in order of first appearance, so a target used twice uses one
//! variable. Only that fixed variable reference is inserted; no value is ever formatted into script
//! text. The agent asks the server for the values once per step ([`fetch`], `POST
//! /agent/v1/secure-parameters`; the server answers only for references of an invocation in
//! progress on this node) and passes them to the script in its environment, never in argv or a file,
//! so `_script.sh` in the step directory and `/proc/<pid>/cmdline` never hold them. The runner masks
//! every occurrence of a value in stdout and stderr (`****`) before it reaches the output files, from
//! which the inline heads and the uploaded full output are made. Values live in memory only, in
//! zeroize-on-drop buffers, until the step's output is complete; the journal records only that the
//! step is masked, and a step still running when the agent restarts is stopped and reported Failed,
//! because its output can no longer be masked.
//!
//! What the substitution means for script authors: it is a shell parameter expansion.
//! - Inside double quotes (`"{{ssm-secure:db/password}}"`) it is exactly the value. Unquoted, the
//!   value undergoes word splitting and globbing like any unquoted variable, so quote it.
//! - Inside single quotes or a quoted here-document (`<<'EOF'`) it stays the literal text
//!   `${FLEETRUN_SECURE_1}`, as any variable would.
//! - A script with a non-shell `#!` line (Python, …) gets the same text, which that language does not
//!   expand: read the variable from the environment instead (`os.environ["FLEETRUN_SECURE_1"]`). The
//!   reference must still appear in the script (a comment will do), because the server hands out
//!   only values the command references.
//! - The value is in the environment of the script and of every process it starts, which the same
//!   user and root can read in `/proc/<pid>/environ` (as they can read the process's memory).
//! - PowerShell would need `$env:FLEETRUN_SECURE_1`; only `aws:runShellScript` runs so far.
//! - Masking matches the exact bytes of each value. Output that transforms it (base64, upper case,
//!   one character per line) is not masked: the script holds the value and can always reveal it;
//!   masking protects against printing it by accident, as SSM's does.
//!
//! A reference in `workingDirectory` is refused: a secret makes no sense as a directory name, and it
//! would show in process listings. Plain `{{ssm:...}}` references are not touched here (the server
//! resolves them when the command is sent). This module never logs a value, nor an error text that
//! could quote one.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use fleetrun_core::parameter::{ReferenceKind, find_references, replace_references};
use fleetrun_proto::{PATH_SECURE_PARAMETERS, SecureParametersRequest, SecureParametersResponse};
use zeroize::Zeroizing;

use crate::server::{CallError, Server};

/// Prefix of the variables that carry the values: `FLEETRUN_SECURE_1`, `FLEETRUN_SECURE_2`, …
pub const VARIABLE_PREFIX: &str = "FLEETRUN_SECURE_";

/// How many times a call that failed for a reason that may pass (transport, 5xx, no answer) is made.
const ATTEMPTS: u32 = 3;
/// How long one call may take. The client has no overall timeout (it serves long polls too).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A script whose SecureString references have been replaced by variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    /// The script text; it holds no value, only `${FLEETRUN_SECURE_n}`.
    pub script: String,
    /// The distinct targets, in order: the value of `targets[i]` goes in [`variable_name`]`(i)`.
    pub targets: Vec<String>,
}

/// The variable for the `index`th (from 0) distinct target.
pub fn variable_name(index: usize) -> String {
    format!("{VARIABLE_PREFIX}{}", index + 1)
}

/// Replaces every `{{ssm-secure:...}}` in a shell `script` by `${FLEETRUN_SECURE_n}`; see the module docs.
pub fn substitute(script: &str) -> Substituted {
    substitute_with(script, |name| format!("${{{name}}}"))
}

/// Replaces every `{{ssm-secure:...}}` in a PowerShell `script` by `$env:FLEETRUN_SECURE_n`.
pub fn substitute_powershell(script: &str) -> Substituted {
    substitute_with(script, |name| format!("$env:{name}"))
}

fn substitute_with(script: &str, variable: impl Fn(&str) -> String) -> Substituted {
    let mut targets: Vec<String> = Vec::new();
    let replaced = replace_references(script, |reference| {
        if reference.kind != ReferenceKind::Secure {
            return Ok::<_, Infallible>(script[reference.span.clone()].to_owned());
        }
        let index = match targets.iter().position(|target| *target == reference.target) {
            Some(index) => index,
            None => {
                targets.push(reference.target.clone());
                targets.len() - 1
            }
        };
        Ok(variable(&variable_name(index)))
    });
    let script = match replaced {
        Ok(script) => script,
        Err(never) => match never {},
    };
    Substituted { script, targets }
}

/// Refuses SecureString references in a step's `workingDirectory`, with the message for its stderr.
pub fn check_working_directory(text: &str) -> Result<(), String> {
    let targets: Vec<String> = find_references(text)
        .into_iter()
        .filter(|reference| reference.kind == ReferenceKind::Secure)
        .map(|reference| reference.target)
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    Err(format!(
        "The step did not run: its workingDirectory contains {}. SecureString parameters can only be used in \
         the script (runCommand), where they are passed in the environment; a directory name would show in \
         process listings and on disk.\n",
        quote_references(&targets)
    ))
}

/// Why the values could not be had. No variant holds text that could quote a value.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server refused: the parameter does not exist, is not a SecureString, or this invocation
    /// may not read it.
    #[error("the server refused: {0}")]
    Refused(String),
    /// Transport failures, server errors or no answer, after every attempt.
    #[error("the server could not be reached: {0}")]
    Unavailable(String),
    /// An answer that is not a list of values (its text is not shown: it might hold values).
    #[error("the server's answer could not be read")]
    BadAnswer,
    #[error("the server answered {got} values for {asked} references")]
    WrongCount { asked: usize, got: usize },
}

impl FetchError {
    fn from_call(error: CallError) -> Self {
        if error.is_decode() {
            return FetchError::BadAnswer;
        }
        let text = match (error.code(), error.message()) {
            // The agent API's error bodies carry `code`, which the client does not read (it reads
            // AWS's `__type`), so the code it has is often just the HTTP status.
            (Some(code), Some(message)) if code.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{message} (HTTP {code})")
            }
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => error.to_string(),
        };
        if error.is_permanent() { FetchError::Refused(text) } else { FetchError::Unavailable(text) }
    }

    fn is_transient(&self) -> bool {
        matches!(self, FetchError::Unavailable(_))
    }
}

/// Asks the server for the values of `targets` (as [`Substituted::targets`]) for invocation
/// `command_id`, retrying failures that may pass. Returns the values in the order of `targets`.
pub async fn fetch(
    server: &Server,
    command_id: &str,
    targets: &[String],
) -> Result<Vec<Zeroizing<String>>, FetchError> {
    let request = SecureParametersRequest { command_id: command_id.to_owned(), names: targets.to_vec() };
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    let response = loop {
        let call = server.post::<_, SecureParametersResponse>(PATH_SECURE_PARAMETERS, &request);
        let error = match tokio::time::timeout(ATTEMPT_TIMEOUT, call).await {
            Ok(Ok(response)) => break response,
            Ok(Err(error)) => FetchError::from_call(error),
            Err(_) => FetchError::Unavailable(format!("no answer within {} seconds", ATTEMPT_TIMEOUT.as_secs())),
        };
        if !error.is_transient() || attempt >= ATTEMPTS {
            return Err(error);
        }
        tracing::warn!(command_id, attempt, error = %error, "Resolving SecureString parameters failed; retrying.");
        tokio::time::sleep(delay).await;
        delay *= 4;
        attempt += 1;
    };
    // Move each value into a zeroizing buffer before anything else can fail and drop it.
    let values: Vec<Zeroizing<String>> =
        response.values.into_iter().map(|secure_value| Zeroizing::new(secure_value.value)).collect();
    if values.len() != targets.len() {
        return Err(FetchError::WrongCount { asked: targets.len(), got: values.len() });
    }
    Ok(values)
}

/// The step's secret environment: `FLEETRUN_SECURE_n` for the `n`th value.
pub fn environment(values: Vec<Zeroizing<String>>) -> Vec<(String, Zeroizing<String>)> {
    values.into_iter().enumerate().map(|(index, value)| (variable_name(index), value)).collect()
}

/// The stderr of a step that did not run because its references could not be resolved.
pub fn failure_message(targets: &[String], error: &FetchError) -> String {
    let what = if targets.len() == 1 { "reference" } else { "references" };
    format!(
        "The step did not run: the SecureString parameter {what} {} could not be resolved: {error}\n",
        quote_references(targets)
    )
}

/// `{{ssm-secure:a}}, {{ssm-secure:b}}`.
fn quote_references(targets: &[String]) -> String {
    let mut text = String::new();
    for (index, target) in targets.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{{{{ssm-secure:{target}}}}}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_become_variable_references() {
        let script = "echo \"{{ssm-secure:db/password}}\"\n\
                      curl -H \"X: {{ ssm-secure:/prod/token:3 }}\" -u \"u:{{ssm-secure:db/password}}\"\n\
                      echo {{ssm:plain}} '{{ssm-secure:/prod/token:current}}'\n";
        let substituted = substitute(script);
        assert_eq!(
            substituted.script,
            "echo \"${FLEETRUN_SECURE_1}\"\n\
             curl -H \"X: ${FLEETRUN_SECURE_2}\" -u \"u:${FLEETRUN_SECURE_1}\"\n\
             echo {{ssm:plain}} '${FLEETRUN_SECURE_3}'\n"
        );
        assert_eq!(substituted.targets, ["db/password", "/prod/token:3", "/prod/token:current"]);
        assert!(!substituted.script.contains("ssm-secure"));
    }

    #[test]
    fn a_script_without_secure_references_is_unchanged() {
        for script in ["echo hi\n", "echo {{ssm:name}} {{ ssm-secure :x}} {{ssm-secure:}}\n", ""] {
            let substituted = substitute(script);
            assert_eq!(substituted.script, script);
            assert!(substituted.targets.is_empty(), "{script:?}");
        }
    }

    #[test]
    fn variable_names_count_from_one() {
        assert_eq!(variable_name(0), "FLEETRUN_SECURE_1");
        assert_eq!(variable_name(11), "FLEETRUN_SECURE_12");
        let many: String = (0..12).map(|i| format!("{{{{ssm-secure:p{i}}}}}\n")).collect();
        let substituted = substitute(&many);
        assert!(substituted.script.ends_with("${FLEETRUN_SECURE_12}\n"), "{}", substituted.script);
        assert_eq!(substituted.targets.len(), 12);
    }

    #[test]
    fn environment_pairs_values_with_their_variables() {
        let env = environment(vec![Zeroizing::new("one".to_owned()), Zeroizing::new("two".to_owned())]);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        assert_eq!(pairs, [("FLEETRUN_SECURE_1", "one"), ("FLEETRUN_SECURE_2", "two")]);
    }

    #[test]
    fn working_directory_references_are_refused() {
        assert_eq!(check_working_directory("/tmp/{{ssm:plain}}"), Ok(()));
        assert_eq!(check_working_directory(""), Ok(()));
        let message = check_working_directory("/srv/{{ssm-secure:dir}}").expect_err("refused");
        assert!(message.contains("{{ssm-secure:dir}}") && message.contains("workingDirectory"), "{message}");
    }

    #[test]
    fn failure_messages_name_the_references() {
        let one = failure_message(&["db/password".to_owned()], &FetchError::Refused("Parameter not found".into()));
        assert_eq!(
            one,
            "The step did not run: the SecureString parameter reference {{ssm-secure:db/password}} could not be \
             resolved: the server refused: Parameter not found\n"
        );
        let two = failure_message(&["a".to_owned(), "b:2".to_owned()], &FetchError::BadAnswer);
        assert!(two.contains("references {{ssm-secure:a}}, {{ssm-secure:b:2}}"), "{two}");
    }
}
