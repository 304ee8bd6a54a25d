//! Runs one invocation: its steps in order, each through the runner, with its output uploaded and its
//! progress journaled so that an agent restart in the middle resumes instead of losing the run.
//!
//! Step semantics (SSM's): a step whose precondition does not match this node is Skipped; a failed step
//! does not stop the next ones unless its inputs say `onFailure: exit`; a timeout or a cancel stops the
//! invocation. Only `aws:runShellScript` runs here so far; other actions fail with a clear message.
//!
//! `{{ssm-secure:...}}` references in a script are resolved here, just before the step starts, and
//! passed to it in its environment with its output masked (see `secure.rs`). A step that cannot get
//! its values fails without running; a masked step found running after an agent restart is stopped.

use crate::journal::{CurrentStep, Entry, Journal};
use crate::runner::{self, Outcome, RunSpec};
use crate::secure;
use crate::server::Server;

mod download;
mod run_document;
mod s3_output;
use fleetrun_core::document::{ScriptInputs, script_text};
use fleetrun_core::output::{MAX_STDERR_CHARS, MAX_STDOUT_CHARS};
use fleetrun_proto::{AssignedStep, StepResult, StepStatus};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What an execution needs from the agent.
#[derive(Clone)]
pub struct Context {
    pub server: Server,
    pub journal: Journal,
    pub work_dir: PathBuf,
    pub instance_id: String,
    pub platform_type: String,
    pub kill_grace: Duration,
    pub max_output_bytes: u64,
    /// How this node reaches download sources (`aws:downloadContent`).
    pub download: crate::download::NodeConfig,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Runs (or resumes) an invocation to its end and records each step in the journal.
pub async fn run(ctx: &Context, mut entry: Entry, cancel: CancellationToken) -> Entry {
    let command_dir = ctx.work_dir.join(&entry.assignment.command_id);
    let downloads = command_dir.join("downloads");
    let _ = std::fs::create_dir_all(&downloads);
    while !entry.finished() {
        let idx = entry.results.len();
        let step = entry.assignment.steps[idx].clone();
        let mut result = run_step(ctx, &mut entry, idx, &step, &command_dir, &downloads, &cancel).await;
        if let Some(target) = &entry.assignment.output_s3
            && result.status != StepStatus::Skipped
            && let Some(note) =
                s3_output::upload(ctx, target, &entry.assignment.command_id, &step, &command_dir.join(idx.to_string()))
                    .await
        {
            result.stderr_head.push_str(&note);
        }
        let stop = matches!(result.status, StepStatus::TimedOut | StepStatus::Cancelled)
            || (result.status == StepStatus::Failed
                && step.inputs.get("onFailure").and_then(|v| v.as_str()) == Some("exit"));
        entry.results.push(result);
        entry.current = None;
        if stop {
            let rest = entry.assignment.steps[entry.results.len()..].to_vec();
            for later in rest {
                entry.results.push(not_run(&later.name, StepStatus::Skipped));
            }
        }
        save(ctx, &entry);
    }
    entry
}

fn save(ctx: &Context, entry: &Entry) {
    if let Err(error) = ctx.journal.save(entry) {
        tracing::error!(command_id = %entry.assignment.command_id, error = %error, "Writing the journal failed.");
    }
}

fn not_run(name: &str, status: StepStatus) -> StepResult {
    StepResult {
        name: name.to_string(),
        status,
        exit_code: -1,
        started_at_ms: 0,
        ended_at_ms: 0,
        stdout_bytes: 0,
        stderr_bytes: 0,
        stdout_head: String::new(),
        stderr_head: String::new(),
        provenance: None,
    }
}

fn failed_before_start(name: &str, message: String) -> StepResult {
    let now = now_ms();
    StepResult {
        exit_code: 1,
        started_at_ms: now,
        ended_at_ms: now,
        stderr_bytes: message.len() as u64,
        stderr_head: message,
        ..not_run(name, StepStatus::Failed)
    }
}

async fn run_step(
    ctx: &Context,
    entry: &mut Entry,
    idx: usize,
    step: &AssignedStep,
    command_dir: &Path,
    downloads: &Path,
    cancel: &CancellationToken,
) -> StepResult {
    if let Some((a, b)) = &step.precondition {
        let operand = |s: &str| {
            if s == "platformType" { ctx.platform_type.clone() } else { s.to_string() }
        };
        if operand(a) != operand(b) {
            return not_run(&step.name, StepStatus::Skipped);
        }
    }
    if cancel.is_cancelled() {
        return not_run(&step.name, StepStatus::Cancelled);
    }
    let dir = command_dir.join(idx.to_string());
    let shell = match step.action.as_str() {
        "aws:runShellScript" => Shell::Sh,
        "aws:runPowerShellScript" => Shell::PowerShell,
        "aws:downloadContent" => {
            return download::run(ctx, &entry.assignment.command_id, idx, step, &dir, downloads).await;
        }
        "aws:runDocument" => return run_document_step(ctx, entry, idx, step, &dir, downloads, cancel).await,
        other => return failed_before_start(&step.name, format!("fleetrun's agent does not run {other} steps yet.\n")),
    };
    let inputs = match ScriptInputs::from_inputs(&step.inputs) {
        Ok(inputs) => inputs,
        Err(error) => {
            return failed_before_start(&step.name, format!("The step's inputs are not valid: {error}\n"));
        }
    };
    if let Err(message) = secure::check_working_directory(&inputs.working_directory) {
        return failed_before_start(&step.name, message);
    }
    let command_id = &entry.assignment.command_id;
    let ending = match entry.current.filter(|c| c.idx == idx) {
        Some(current) if current.masked => abandon_masked(ctx, command_id, current).await,
        Some(current) => {
            tracing::info!(command_id = %command_id, pid = current.pid, "Re-attaching to a step started before the agent restarted.");
            let deadline = instant_at(current.deadline_ms);
            let outcome = runner::adopt(current.pid, &dir, deadline, cancel.clone(), ctx.kill_grace).await;
            Ending::of(outcome, current.started_ms)
        }
        None => {
            let workdir = working_directory(&inputs.working_directory, downloads);
            if let Err(message) = shell.check_installed() {
                return failed_before_start(&step.name, message);
            }
            let launch = Launch { idx, name: &step.name, inputs: &inputs, dir: dir.clone(), workdir, shell };
            match start_and_wait(ctx, entry, launch, cancel).await {
                Ok(ending) => ending,
                Err(not_started) => return not_started,
            }
        }
    };
    finish_step(ctx, &entry.assignment.command_id, idx, &step.name, &dir, ending).await
}

/// A step about to start for the first time.
struct Launch<'a> {
    idx: usize,
    name: &'a str,
    inputs: &'a ScriptInputs,
    dir: PathBuf,
    workdir: PathBuf,
    shell: Shell,
}

/// Which interpreter runs a script step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shell {
    /// `aws:runShellScript`: the script's own `#!` line, else `/bin/sh`.
    Sh,
    /// `aws:runPowerShellScript`: PowerShell 7 (`pwsh`).
    PowerShell,
}

/// The first line of a PowerShell step's script: `env -S` splits it, and the kernel appends the
/// script's path, so the step runs as `pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File
/// <dir>/_script.ps1` (`#` starts a comment in PowerShell, so the line is harmless to it).
pub(crate) const POWERSHELL_SHEBANG: &str =
    "#!/usr/bin/env -S pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File";

impl Shell {
    /// The script as the runner writes it, with its secure references replaced, and its file name.
    fn prepare(self, text: &str) -> (secure::Substituted, &'static str) {
        match self {
            Shell::Sh => (secure::substitute(text), runner::SCRIPT_FILE),
            Shell::PowerShell => {
                let mut substituted = secure::substitute_powershell(text);
                substituted.script = format!("{POWERSHELL_SHEBANG}\n{}", substituted.script);
                (substituted, runner::POWERSHELL_SCRIPT_FILE)
            }
        }
    }

    /// Refuses a PowerShell step on a node without `pwsh`, naming what to install.
    fn check_installed(self) -> Result<(), String> {
        match self {
            Shell::Sh => Ok(()),
            Shell::PowerShell if on_path("pwsh") => Ok(()),
            Shell::PowerShell => Err("PowerShell (pwsh) is not installed on this node, so it cannot run \
                 aws:runPowerShellScript steps; install PowerShell 7 (see https://aka.ms/install-powershell).\n"
                .to_string()),
        }
    }
}

/// Whether `program` is an executable file in a directory of `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Resolves the step's SecureString references, starts it, journals it and waits for its end. An
/// `Err` is the result of a step that did not start.
async fn start_and_wait(
    ctx: &Context,
    entry: &mut Entry,
    launch: Launch<'_>,
    cancel: &CancellationToken,
) -> Result<Ending, StepResult> {
    let command_id = entry.assignment.command_id.clone();
    let (substituted, script_file) = launch.shell.prepare(&script_text(launch.inputs));
    let secret_env = if substituted.targets.is_empty() {
        Vec::new()
    } else {
        // Names only: values are never logged.
        tracing::debug!(
            command_id = %command_id,
            count = substituted.targets.len(),
            names = ?substituted.targets,
            "Resolving SecureString parameter references."
        );
        let fetched = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(not_run(launch.name, StepStatus::Cancelled)),
            fetched = secure::fetch(&ctx.server, &command_id, &substituted.targets) => fetched,
        };
        match fetched {
            Ok(values) => secure::environment(values),
            Err(error) => {
                tracing::warn!(
                    command_id = %command_id,
                    error = %error,
                    "SecureString parameters could not be resolved; the step fails without running."
                );
                return Err(failed_before_start(launch.name, secure::failure_message(&substituted.targets, &error)));
            }
        }
    };
    let mut spec = RunSpec {
        dir: launch.dir,
        script: substituted.script,
        script_file,
        workdir: launch.workdir,
        env: vec![
            ("SSM_COMMAND_ID".into(), command_id.clone()),
            ("AWS_SSM_INSTANCE_ID".into(), ctx.instance_id.clone()),
        ],
        secret_env,
        timeout: Duration::from_secs(launch.inputs.timeout_seconds),
    };
    let started = runner::start(&spec).await;
    // The runner's maskers hold what they need; the values are wiped here as early as possible.
    spec.secret_env.clear();
    let running = match started {
        Ok(running) => running,
        Err(error) => return Err(failed_before_start(launch.name, format!("The step could not start: {error}\n"))),
    };
    let started_ms = now_ms();
    let deadline_ms = started_ms + spec.timeout.as_millis() as i64;
    let masked = running.is_masked();
    entry.current = Some(CurrentStep { idx: launch.idx, pid: running.pid, started_ms, deadline_ms, masked });
    save(ctx, entry);
    let outcome = running.wait(instant_at(deadline_ms), cancel.clone(), ctx.kill_grace).await;
    Ok(Ending::of(outcome, started_ms))
}

/// An `aws:runDocument` step: the nested document's steps run as one step (see `run_document.rs`). It is
/// journaled with no pid: after an agent restart it is reported Failed rather than run a second time.
async fn run_document_step(
    ctx: &Context,
    entry: &mut Entry,
    idx: usize,
    step: &AssignedStep,
    dir: &Path,
    downloads: &Path,
    cancel: &CancellationToken,
) -> StepResult {
    let command_id = entry.assignment.command_id.clone();
    if let Some(current) = entry.current.filter(|c| c.idx == idx) {
        let note = "\nThe agent restarted while this aws:runDocument step ran; its nested steps are not re-attached, \
                    so the step is reported failed.\n";
        let ending =
            Ending { status: StepStatus::Failed, exit_code: -1, started_ms: current.started_ms, note: Some(note) };
        return finish_step(ctx, &command_id, idx, &step.name, dir, ending).await;
    }
    let started_ms = now_ms();
    let files = std::fs::create_dir_all(dir).and_then(|()| {
        Ok((
            std::fs::File::create(dir.join(runner::STDOUT_FILE))?,
            std::fs::File::create(dir.join(runner::STDERR_FILE))?,
        ))
    });
    let (stdout, stderr) = match files {
        Ok(files) => files,
        Err(error) => {
            return failed_before_start(&step.name, format!("The step's directory could not be created: {error}\n"));
        }
    };
    entry.current = Some(CurrentStep { idx, pid: 0, started_ms, deadline_ms: i64::MAX, masked: false });
    save(ctx, entry);
    let mut nest = run_document::Nest { ctx, command_id: &command_id, downloads, cancel, stdout, stderr };
    let (status, exit_code) = run_document::run(&mut nest, &step.inputs, &dir.join("steps"), 0).await;
    drop(nest);
    finish_step(ctx, &command_id, idx, &step.name, dir, Ending { status, exit_code, started_ms, note: None }).await
}

/// A masked step cannot be re-attached after an agent restart: its output went through pipes into
/// the old agent process, and whatever it prints now could not be masked. So it is stopped (if it
/// still runs) and reported Failed; its output files hold only what was masked before the restart.
async fn abandon_masked(ctx: &Context, command_id: &str, current: CurrentStep) -> Ending {
    tracing::warn!(
        command_id,
        pid = current.pid,
        "A step using SecureString parameters was running when the agent restarted; stopping it."
    );
    let stopped = runner::abandon(current.pid, ctx.kill_grace).await;
    let note = if stopped {
        "\nThe agent restarted while a step using SecureString parameters was running; its output could not be \
         masked any more, so it was stopped.\n"
    } else {
        "\nThe agent restarted while a step using SecureString parameters was running; its output after the \
         restart could not be captured, so the step is reported failed.\n"
    };
    Ending { status: StepStatus::Failed, exit_code: -1, started_ms: current.started_ms, note: Some(note) }
}

/// SSM's rule: an absolute working directory is used as it is; an empty or relative one is taken
/// inside the invocation's `downloads` directory.
fn working_directory(text: &str, downloads: &Path) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() { path.to_path_buf() } else { downloads.join(path) }
}

fn instant_at(epoch_ms: i64) -> tokio::time::Instant {
    let left = (epoch_ms - now_ms()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(left)
}

/// How a step that started ended, as it is reported.
struct Ending {
    status: StepStatus,
    exit_code: i32,
    started_ms: i64,
    /// Appended to the stderr head.
    note: Option<&'static str>,
}

impl Ending {
    fn of(outcome: Outcome, started_ms: i64) -> Self {
        let (status, exit_code) = match outcome {
            Outcome::Exited { code: 0 } => (StepStatus::Success, 0),
            Outcome::Exited { code } => (StepStatus::Failed, code),
            Outcome::TimedOut => (StepStatus::TimedOut, 124),
            Outcome::Cancelled => (StepStatus::Cancelled, 137),
            Outcome::Lost => (StepStatus::Failed, -1),
        };
        let note = (outcome == Outcome::Lost).then_some(
            "\nThe script's process ended without an exit status (the node may have rebooted, or something killed \
             it).\n",
        );
        Self { status, exit_code, started_ms, note }
    }
}

/// Uploads the step's output and builds its result. The output files hold only masked bytes for a
/// masked step (the runner writes them so), so nothing here needs to know about secrets.
async fn finish_step(
    ctx: &Context,
    command_id: &str,
    idx: usize,
    name: &str,
    dir: &Path,
    ending: Ending,
) -> StepResult {
    let Ending { status, exit_code, started_ms, note } = ending;
    let ended_ms = now_ms();
    let mut result =
        StepResult { status, exit_code, started_at_ms: started_ms, ended_at_ms: ended_ms, ..not_run(name, status) };
    for (stream, file, max_chars) in
        [("stdout", runner::STDOUT_FILE, MAX_STDOUT_CHARS), ("stderr", runner::STDERR_FILE, MAX_STDERR_CHARS)]
    {
        let path = dir.join(file);
        let (bytes, head) = upload(ctx, command_id, idx, stream, &path, max_chars).await;
        match stream {
            "stdout" => (result.stdout_bytes, result.stdout_head) = (bytes, head),
            _ => (result.stderr_bytes, result.stderr_head) = (bytes, head),
        }
    }
    if let Some(note) = note {
        result.stderr_head.push_str(note);
    }
    result
}

/// Uploads one output file in full (up to the size limit) and returns its size and the head the
/// server keeps inline. An upload failure is retried by the report loop's retry of the whole result.
async fn upload(
    ctx: &Context,
    command_id: &str,
    idx: usize,
    stream: &str,
    path: &Path,
    max_chars: usize,
) -> (u64, String) {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    let total = bytes.len() as u64;
    if total > ctx.max_output_bytes {
        bytes.truncate(ctx.max_output_bytes as usize);
        bytes.extend_from_slice(b"\n--output truncated by the agent's max_output_bytes--\n");
    }
    let head: String =
        String::from_utf8_lossy(&bytes[..bytes.len().min(4 * (max_chars + 1))]).chars().take(max_chars + 1).collect();
    if !bytes.is_empty() {
        let path = format!("{}/{command_id}/{idx}/{stream}", fleetrun_proto::PATH_OUTPUT);
        let mut delay = Duration::from_millis(200);
        while let Err(error) = ctx.server.put_bytes(&path, bytes.clone()).await {
            if error.is_permanent() {
                tracing::error!(command_id, error = %error, "The server refused an output upload; it is lost.");
                break;
            }
            tracing::warn!(command_id, error = %error, "Uploading output failed; retrying.");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
    (total, head)
}

#[cfg(test)]
mod tests;
