//! Runs one Automation `aws:executeScript` step (a Python handler or a PowerShell script) as an
//! isolated process, and reports its payload, failure and log.
//!
//! Each [`run`] gets a fresh private directory (`workspace.rs`) holding a static wrapper
//! (`wrapper.py` or `wrapper.ps1`, compiled in), the customer's code and the inputs as JSON files.
//! The interpreter (`interpreter.rs`) runs the wrapper in its own process group with a scrubbed
//! environment and rlimits (`process.rs`); the wrapper calls the handler and writes its return
//! value or error to a result file (`outcome.rs`). On timeout or cancellation the whole group gets
//! SIGTERM, a grace period, then SIGKILL (`kill.rs`). The directory is deleted afterwards.
//!
//! This crate is not the Automation engine: it does not resolve `{{ }}` references, fetch
//! attachments, apply `onFailure`, select outputs or word SSM's failure messages. It does not
//! contain untrusted code either: rlimits, a process group and a scrubbed environment bound
//! accidents, they are not a sandbox. The script runs as the server's user and can read what that
//! user can read (see THREAT_MODEL.md).

mod interpreter;
mod kill;
mod outcome;
mod process;
mod runtime;
mod unzip;
mod workspace;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use outcome::{MAX_PAYLOAD_BYTES, MAX_PAYLOAD_ITEMS};
pub use runtime::{Runtime, UnknownRuntime};

use crate::interpreter::Interpreter;
use crate::process::{Ending, Finished, Launch, Rlimits};
use crate::workspace::{SetupError, Workspace};

/// Longest an `aws:executeScript` step may run; longer timeouts are clamped to it.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// How many bytes of the last lines of stderr a failure message quotes when the interpreter died
/// before the handler returned.
const STDERR_TAIL_BYTES: usize = 2048;

/// One `aws:executeScript` step, with every `{{ }}` reference already resolved.
#[derive(Clone)]
pub struct ScriptRequest {
    pub runtime: Runtime,
    /// Python: the name of a function of the inline `Script`, or `module.function` for an
    /// attachment (`module` may be dotted, `package.module`). Required for Python; ignored for
    /// PowerShell, where SSM does not support it.
    pub handler: Option<String>,
    /// The inline `Script`. Saved as `customer_script.py` (or `.ps1`), as SSM names it.
    pub script: Option<String>,
    /// The step's `Attachment`, already fetched: `.py` or `.zip` for Python, `.zip` for PowerShell.
    /// A zip is unpacked next to the inline script. Its checksum is verified before anything runs.
    pub attachment: Option<Attachment>,
    /// `InputPayload`: the handler's `events` argument; `$env:InputPayload` (as JSON) for PowerShell.
    pub input_payload: Value,
    /// The handler's `context` argument, at least `{"automation:EXECUTION_ID": …,
    /// "automation:DOCUMENT_NAME": …}`. Not passed to PowerShell scripts.
    pub context: Value,
    /// Wall-clock limit, clamped to [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// Extra environment variables (for example credentials of the assumed role), applied after
    /// the runner's own (`PATH`, `HOME`, `LANG`, `TMPDIR` and the interpreter's switches), so they
    /// can override them. Nothing else of the server's environment reaches the script.
    pub env: Vec<(String, String)>,
}

// Environment values may be credentials, so `Debug` shows only names and sizes.
impl fmt::Debug for ScriptRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ScriptRequest")
            .field("runtime", &self.runtime)
            .field("handler", &self.handler)
            .field("script_len", &self.script.as_ref().map(String::len))
            .field("attachment", &self.attachment)
            .field("timeout", &self.timeout)
            .field("env_names", &env_names)
            .finish_non_exhaustive()
    }
}

/// A runbook attachment and the checksum the runbook's `files` section declares for it.
#[derive(Clone)]
pub struct Attachment {
    /// File name, for example `handler.py` or `bundle.zip`. A plain name, no directories.
    pub name: String,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 from the runbook (`files.<name>.checksums.sha256`), either case.
    pub expected_sha256: String,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("len", &self.bytes.len())
            .field("expected_sha256", &self.expected_sha256)
            .finish()
    }
}

/// Where the interpreters are.
#[derive(Debug, Clone)]
pub struct Interpreters {
    /// Python used when the runtime's exact `python3.N` is not on [`Interpreters::search_path`] or
    /// does not start. A bare name is looked up on the search path. Default `python3`.
    pub python: PathBuf,
    /// PowerShell for every PowerShell runtime. A bare name is looked up on the search path.
    /// Default `pwsh`.
    pub pwsh: PathBuf,
    /// Directories searched for interpreters, `:`-separated; also the script's `PATH`.
    /// Default: this process's `PATH` when [`Interpreters::default`] is called.
    pub search_path: OsString,
}

impl Default for Interpreters {
    fn default() -> Interpreters {
        Interpreters {
            python: PathBuf::from("python3"),
            pwsh: PathBuf::from("pwsh"),
            search_path: interpreter::process_search_path(),
        }
    }
}

/// Resource limits of a script process. Each is lowered to the host's hard limit when that is
/// smaller; none can be raised above it. The CPU time limit is not configurable: it is the step's
/// timeout plus 5 s, a backstop for a process that escaped the group. Core dumps are always off.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `RLIMIT_AS` in bytes for Python processes; `None` leaves it as is. Default 1 GiB. Never
    /// applied to PowerShell: .NET reserves far more address space than it uses and does not start
    /// under a limit like this.
    pub address_space: Option<u64>,
    /// `RLIMIT_NOFILE`. Default 1024.
    pub open_files: u64,
    /// How many bytes of stdout, and separately of stderr, are kept; the rest is counted and
    /// replaced by a marker line. Default 64 KiB.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { address_space: Some(1 << 30), open_files: 1024, output_bytes: 64 * 1024 }
    }
}

/// Everything about the machine a run needs: interpreters, limits and where run directories go.
#[derive(Debug, Clone)]
pub struct ScriptHost {
    pub interpreters: Interpreters,
    pub limits: Limits,
    /// Parent of the per-run directories. Default: the system temporary directory.
    pub work_root: PathBuf,
}

impl Default for ScriptHost {
    fn default() -> ScriptHost {
        ScriptHost { interpreters: Interpreters::default(), limits: Limits::default(), work_root: std::env::temp_dir() }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptStatus {
    /// The handler returned a payload within SSM's limits.
    Success,
    /// Refused before running, the handler raised, its return value broke a limit, or the
    /// interpreter died before the handler returned.
    Failed,
    /// The timeout passed; the process group was killed.
    TimedOut,
    /// The cancel token fired; the process group was killed (or nothing was started).
    Cancelled,
}

/// The result of [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptOutcome {
    pub status: ScriptStatus,
    /// The handler's return value (after SSM's truncation); `Some` exactly on success. A handler
    /// that returns nothing gives `Some(Value::Null)`.
    pub payload: Option<Value>,
    /// Why the step did not succeed: for a handler exception, Python's traceback (or PowerShell's
    /// error record) as is; wording it as SSM does is the caller's concern. `None` on success.
    pub failure: Option<String>,
    /// The script's standard output and error: its log. Each keeps its first
    /// [`Limits::output_bytes`] bytes (lossy UTF-8) and then a marker line.
    pub stdout: String,
    pub stderr: String,
    /// The interpreter that ran, as `<path> (<version>)`; empty if none was started.
    pub interpreter: String,
    /// From the call of [`run`] until it returned, including preparation and cleanup.
    pub duration: Duration,
}

impl ScriptOutcome {
    fn new(status: ScriptStatus, failure: Option<String>) -> ScriptOutcome {
        ScriptOutcome {
            status,
            payload: None,
            failure,
            stdout: String::new(),
            stderr: String::new(),
            interpreter: String::new(),
            duration: Duration::ZERO,
        }
    }
}

/// Runs one step to its end and reports how it went. Every problem, including a request refused
/// before anything runs, is reported in the outcome, never as an error.
///
/// Dropping the future kills the script's process group (SIGKILL) but leaves the run directory to
/// be deleted by a blocking drop.
pub async fn run(request: &ScriptRequest, host: &ScriptHost, cancel: CancellationToken) -> ScriptOutcome {
    let started = Instant::now();
    let mut outcome = run_step(request, host, &cancel).await;
    outcome.duration = started.elapsed();
    let execution_id = request.context.get("automation:EXECUTION_ID").and_then(Value::as_str).unwrap_or_default();
    tracing::info!(
        execution_id, runtime = %request.runtime, status = ?outcome.status, interpreter = %outcome.interpreter,
        duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        "Script step finished."
    );
    outcome
}

async fn run_step(request: &ScriptRequest, host: &ScriptHost, cancel: &CancellationToken) -> ScriptOutcome {
    if cancel.is_cancelled() {
        return ScriptOutcome::new(ScriptStatus::Cancelled, Some("the step was cancelled before it started".into()));
    }
    // Probing an interpreter can take a while; a cancellation meanwhile starts nothing. (A run
    // directory being created on the blocking pool is deleted when its result is dropped.)
    let prepared = tokio::select! {
        prepared = prepare(request, host) => prepared,
        () = cancel.cancelled() => {
            return ScriptOutcome::new(ScriptStatus::Cancelled, Some("the step was cancelled before it started".into()));
        }
    };
    let (interpreter, workspace) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return ScriptOutcome::new(ScriptStatus::Failed, Some(error.to_string())),
    };
    let timeout = request.timeout.min(MAX_TIMEOUT);
    let launch = launch(request, host, &interpreter, &workspace, timeout);
    let finished = process::run(launch, timeout, cancel).await;
    let result_path = workspace.result.clone();
    let result = tokio::task::spawn_blocking(move || {
        let result = outcome::read(&result_path);
        if let Err(error) = workspace.remove() {
            tracing::warn!(%error, "Cannot delete the script's run directory.");
        }
        result
    })
    .await
    .unwrap_or_else(|error| Err(error.to_string()));
    match finished {
        Ok(finished) => conclude(finished, result, &interpreter, timeout),
        Err(error) => {
            let message = format!("cannot start {}: {error}", interpreter.path.display());
            ScriptOutcome::new(ScriptStatus::Failed, Some(message))
        }
    }
}

/// Checks the request, picks the interpreter and lays out the run directory, in that order: a bad
/// checksum is refused before an interpreter is even probed.
async fn prepare(request: &ScriptRequest, host: &ScriptHost) -> Result<(Interpreter, Workspace), SetupError> {
    workspace::validate(request)?;
    let interpreter = interpreter::resolve(request.runtime, &host.interpreters).await?;
    // The blocking pool needs owned values; attachments are small enough to copy.
    let work_root = host.work_root.clone();
    let request = request.clone();
    let workspace = tokio::task::spawn_blocking(move || workspace::prepare(&work_root, &request))
        .await
        .map_err(|error| SetupError::Io(std::io::Error::other(error)))??;
    Ok((interpreter, workspace))
}

/// The interpreter's command line and complete environment. Only paths and the handler name go
/// on the command line; the wrapper reads everything else from files.
fn launch(
    request: &ScriptRequest,
    host: &ScriptHost,
    interpreter: &Interpreter,
    workspace: &Workspace,
    timeout: Duration,
) -> Launch {
    let root = workspace.root().as_os_str();
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), host.interpreters.search_path.clone()),
        ("HOME".into(), root.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TMPDIR".into(), root.into()),
    ];
    let (args, address_space): (Vec<OsString>, _) = if request.runtime.is_python() {
        env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
        env.push(("PYTHONNOUSERSITE".into(), "1".into()));
        let handler = request.handler.clone().unwrap_or_default();
        // -B: no .pyc files; -s: no user site-packages; -u: unbuffered, so that the log of a killed
        // script is complete.
        let args = ["-B", "-s", "-u"].map(OsString::from).into_iter().chain([
            workspace.wrapper.clone().into(),
            workspace.code_dir.clone().into(),
            handler.into(),
            workspace.events.clone().into(),
            workspace.context.clone().into(),
            workspace.result.clone().into(),
        ]);
        (args.collect(), host.limits.address_space)
    } else {
        env.push(("POWERSHELL_TELEMETRY_OPTOUT".into(), "1".into()));
        env.push(("POWERSHELL_UPDATECHECK".into(), "Off".into()));
        let script = workspace.inline_script.clone().unwrap_or_default();
        let flags = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"].map(OsString::from);
        let args = flags.into_iter().chain([
            workspace.wrapper.clone().into(),
            script.into(),
            workspace.events.clone().into(),
            workspace.result.clone().into(),
        ]);
        (args.collect(), None)
    };
    env.extend(request.env.iter().map(|(name, value)| (name.into(), value.into())));
    Launch {
        program: interpreter.path.clone(),
        args,
        env,
        cwd: workspace.code_dir.clone(),
        rlimits: Rlimits {
            address_space,
            cpu_seconds: timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0) + 5,
            open_files: host.limits.open_files,
        },
        output_cap: host.limits.output_bytes,
    }
}

/// Combines how the process ended with what the wrapper wrote. Timeouts and cancellations win over
/// a result file (the handler may have returned and then hung in a thread or an `atexit` hook);
/// otherwise the result file decides, whatever the exit status of the interpreter after it.
fn conclude(
    finished: Finished,
    result: Result<Option<outcome::HandlerResult>, String>,
    interpreter: &Interpreter,
    timeout: Duration,
) -> ScriptOutcome {
    let version = match &result {
        Ok(Some(handler)) => handler.version.clone().or_else(|| interpreter.version.clone()),
        _ => interpreter.version.clone(),
    };
    let (status, payload, failure) = match (finished.ending, result) {
        (Ending::TimedOut, _) => {
            let message = format!("the script did not finish within {} s", timeout.as_secs_f64());
            (ScriptStatus::TimedOut, None, Some(message))
        }
        (Ending::Cancelled, _) => (ScriptStatus::Cancelled, None, Some("the step was cancelled".into())),
        (Ending::Exited(_), Ok(Some(handler))) => match handler.payload {
            Ok(payload) => (ScriptStatus::Success, Some(payload), None),
            Err(failure) => (ScriptStatus::Failed, None, Some(failure)),
        },
        (Ending::Exited(status), Ok(None)) => {
            let message = format!(
                "{} {} before the handler returned{}",
                interpreter.path.display(),
                process::describe_status(status),
                stderr_tail(&finished.stderr),
            );
            (ScriptStatus::Failed, None, Some(message))
        }
        (Ending::Exited(_), Err(error)) => {
            (ScriptStatus::Failed, None, Some(format!("cannot read the handler's result: {error}")))
        }
    };
    ScriptOutcome {
        status,
        payload,
        failure,
        stdout: finished.stdout,
        stderr: finished.stderr,
        interpreter: match version {
            Some(version) => format!("{} ({version})", interpreter.path.display()),
            None => interpreter.path.display().to_string(),
        },
        duration: Duration::ZERO,
    }
}

/// `"; stderr ends with:\n…"` quoting the end of stderr, or nothing if it is empty.
fn stderr_tail(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        return String::new();
    }
    let mut start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    while !stderr.is_char_boundary(start) {
        start += 1;
    }
    format!("; stderr ends with:\n{}", &stderr[start..])
}
