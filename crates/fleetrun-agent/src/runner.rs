//! Runs one script step as a supervised process tree that can outlive an agent restart.
//!
//! A step is a directory holding `_script.sh`, `stdout`, `stderr` and, once the script has
//! finished, `exit_code`, plus a process group led by a static `sh` wrapper (`runner/wrapper.sh`)
//! that runs the script and records its exit status. Output and status go to files, not pipes, so a
//! step keeps running and keeps its result when the agent dies; the next agent process re-attaches
//! with [`adopt`]. [`Running::wait`] and [`adopt`] are the only supervisors: they stop a step at
//! its deadline or on cancellation by killing the whole process group with [`kill_tree`].
//!
//! The exception is a *masked* step, one with secret environment values ([`RunSpec::secret_env`]):
//! its stdout and stderr are pipes into this process, where `runner/pump.rs` masks every
//! occurrence of a secret before anything reaches the files. Such a step cannot outlive the agent
//! process usefully (the pipes die with it), so it is never adopted: a restarted agent stops it with
//! [`abandon`].
//!
//! This module is not the agent loop (which decides what to run and reports outcomes), does not
//! fetch documents, and does not read, stream or truncate output: callers read the `stdout` and
//! `stderr` files themselves. A process that leaves the group (`setsid`, a daemon that double-forks
//! into a new session) escapes supervision; containing that needs cgroups, which this module does
//! not use.

mod kill;
mod probe;
mod pump;
mod spawn;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use tokio::process::Child;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

pub use kill::kill_tree;

/// Name of the file in the step directory that holds the script's exit status, written by the
/// wrapper.
pub const EXIT_CODE_FILE: &str = "exit_code";
/// Name of the file in the step directory that receives the script's standard output.
pub const STDOUT_FILE: &str = "stdout";
/// Name of the file in the step directory that receives the script's standard error.
pub const STDERR_FILE: &str = "stderr";
/// Name of the script file in the step directory, as the SSM agent names it.
pub const SCRIPT_FILE: &str = "_script.sh";
/// Name of a PowerShell step's script file (`pwsh -File` needs the `.ps1` extension).
pub const POWERSHELL_SCRIPT_FILE: &str = "_script.ps1";

/// How often [`adopt`] checks whether a step it does not own is still alive.
const ADOPT_POLL: Duration = Duration::from_millis(100);
/// How long after the kill sequence [`Running::wait`] keeps waiting to reap the wrapper before
/// leaving it to tokio.
const REAP_SLACK: Duration = Duration::from_secs(2);

/// What to run for one step, and where.
#[derive(Clone)]
pub struct RunSpec {
    /// Step directory. The runner creates it (and its parents) with mode 0700; it holds
    /// `_script.sh`, `stdout`, `stderr` and `exit_code`. A relative path is resolved against the
    /// agent's current directory.
    pub dir: PathBuf,
    /// Full script text, written to `dir/<script_file>` with mode 0700. A `#!` first line picks the
    /// interpreter; without one the script runs under `/bin/sh`.
    pub script: String,
    /// The script's file name in `dir`: [`SCRIPT_FILE`] or [`POWERSHELL_SCRIPT_FILE`].
    pub script_file: &'static str,
    /// Current directory of the script. It must exist: the runner refuses to start otherwise.
    pub workdir: PathBuf,
    /// Variables added to the agent's own environment for the script (for example
    /// `SSM_COMMAND_ID`).
    pub env: Vec<(String, String)>,
    /// Variables whose values are secret (SecureString parameters). They are added to the
    /// script's environment like `env`, and when there is any, the step is *masked*: every
    /// occurrence of any of these values in stdout or stderr is replaced by `****` before it
    /// reaches the output files. Values are zeroized when dropped and never shown by `Debug`; the
    /// runner keeps them (inside its maskers) only until the step's output is complete.
    pub secret_env: Vec<(String, Zeroizing<String>)>,
    /// Execution timeout. The runner does not apply it itself: the caller turns it into the
    /// `deadline` it passes to [`Running::wait`] or [`adopt`], because only the caller knows when
    /// the step really started.
    pub timeout: Duration,
}

// Environment values and script text may carry secrets, so `Debug` shows only names and sizes.
impl fmt::Debug for RunSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        let secret_env_names: Vec<&str> = self.secret_env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("RunSpec")
            .field("dir", &self.dir)
            .field("script_len", &self.script.len())
            .field("workdir", &self.workdir)
            .field("env_names", &env_names)
            .field("secret_env_names", &secret_env_names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A started step whose wrapper is a child of this agent process.
///
/// Dropping it without calling [`Running::wait`] leaves the step running (see `kill_on_drop` in
/// `runner/spawn.rs`); a later [`adopt`] with the same `pid` and directory picks it up again, or
/// for a masked step, [`abandon`] stops it.
#[derive(Debug)]
pub struct Running {
    /// Pid of the wrapper; it is also the process group id of the whole step.
    pub pid: i32,
    /// When the wrapper was spawned.
    pub started_at: SystemTime,
    // Invariant: the wrapper of this step, not yet reaped.
    child: Child,
    // Invariant: absolute path of the step directory.
    dir: PathBuf,
    // Invariant: present exactly when the step is masked; its pumps write the output files.
    output: Option<pump::Pumps>,
}

impl Running {
    /// Whether the step's output goes through masking pumps (see [`RunSpec::secret_env`]).
    pub fn is_masked(&self) -> bool {
        self.output.is_some()
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The script finished by itself. `code` is its exit status, 128+signo when a signal killed it.
    Exited { code: i32 },
    /// The deadline passed; the process group was killed.
    TimedOut,
    /// The cancel token fired; the process group was killed.
    Cancelled,
    /// The process is gone, it left no `exit_code` file, and it was not us who killed it
    /// (for example the machine rebooted, or someone killed the wrapper).
    Lost,
}

/// Why a supervisor killed a step's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    Timeout,
    Cancel,
}

impl KillReason {
    /// The outcome a step killed for this reason reports.
    pub fn outcome(self) -> Outcome {
        match self {
            KillReason::Timeout => Outcome::TimedOut,
            KillReason::Cancel => Outcome::Cancelled,
        }
    }
}

/// Why a step could not be started. Nothing was spawned when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot create step directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove the stale result file {}", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write script file {}", path.display())]
    WriteScript {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open output file {}", path.display())]
    OpenOutput {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("working directory {} does not exist or is not a directory", .0.display())]
    WorkdirMissing(PathBuf),
    #[error("cannot spawn the step wrapper")]
    Spawn(#[source] io::Error),
}

/// Prepares the step directory and starts the script in a new process group.
///
/// This does blocking file IO and a `fork`/`exec` on the calling task. Both are bounded and small
/// (a directory, a script file, two output files), and tokio's own `Command::spawn` blocks the same
/// way.
pub async fn start(spec: &RunSpec) -> Result<Running, RunnerError> {
    let spawned = spawn::spawn_step(spec)?;
    let running = Running {
        pid: spawned.pid,
        started_at: SystemTime::now(),
        child: spawned.child,
        dir: spawned.dir,
        output: spawned.output,
    };
    tracing::info!(pid = running.pid, dir = %running.dir.display(), masked = running.is_masked(), "Step started.");
    Ok(running)
}

impl Running {
    /// Waits for the step to exit, killing its process group at `deadline` or when `cancel` fires.
    ///
    /// An exit that has already happened wins over a deadline or cancellation that is also due. The
    /// wrapper is always reaped (after a kill, for at most `grace` plus a few seconds; then tokio's
    /// orphan reaper takes over).
    ///
    /// For a masked step, it returns once the output files are complete: when both pipes have
    /// closed, or a second after the wrapper is gone if a process left behind (a background child,
    /// or one that escaped the group) still holds one open; later output is discarded.
    pub async fn wait(mut self, deadline: Instant, cancel: CancellationToken, grace: Duration) -> Outcome {
        let output = self.output.take();
        let outcome = self.supervise(deadline, cancel, grace).await;
        if let Some(output) = output {
            output.finish().await;
        }
        outcome
    }

    async fn supervise(mut self, deadline: Instant, cancel: CancellationToken, grace: Duration) -> Outcome {
        let reason = tokio::select! {
            biased;
            status = self.child.wait() => return exited(&self.dir, status),
            () = cancel.cancelled() => KillReason::Cancel,
            () = tokio::time::sleep_until(deadline) => KillReason::Timeout,
        };
        self.kill_and_reap(reason, grace).await
    }

    async fn kill_and_reap(mut self, reason: KillReason, grace: Duration) -> Outcome {
        tracing::warn!(pid = self.pid, ?reason, "Killing the step's process group.");
        // Reap while killing: on systems where a zombie still counts as a group member, an unreaped
        // wrapper would keep the group "alive" for the whole grace period.
        let reap = tokio::time::timeout(grace + REAP_SLACK, self.child.wait());
        let ((), reaped) = tokio::join!(kill_tree(self.pid, grace), reap);
        if reaped.is_err() {
            tracing::warn!(pid = self.pid, "Step wrapper not reaped after SIGKILL; leaving it to tokio's reaper.");
        }
        reason.outcome()
    }
}

/// The outcome of a wrapper that exited: the code from `exit_code` if the wrapper wrote it, else
/// from the wait status.
fn exited(dir: &Path, status: io::Result<ExitStatus>) -> Outcome {
    if let Some(code) = read_exit_code(dir) {
        return Outcome::Exited { code };
    }
    match status.ok().and_then(status_code) {
        Some(code) => Outcome::Exited { code },
        // Someone else reaped our child: without a status or a file we cannot say how it ended.
        None => Outcome::Lost,
    }
}

/// Shell convention: the exit code, or 128+signo for a process killed by a signal.
fn status_code(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|signo| 128 + signo))
}

/// Re-attaches to a step started by an earlier agent process (the agent restarted while the script
/// ran).
///
/// `pid` is the wrapper's pid from [`Running::pid`] and `dir` the step directory. The process is
/// not our child, so there is nothing to await: this polls its liveness every 100 ms, which is
/// cheap (a `kill(pid, 0)`, a `getpgid` and one `/proc` read) and bounds how late an exit is
/// noticed. A pid that no longer leads its own process group is treated as gone, because the pid
/// was reused. A zombie counts as gone. Deadline and cancellation work as in [`Running::wait`].
pub async fn adopt(pid: i32, dir: &Path, deadline: Instant, cancel: CancellationToken, grace: Duration) -> Outcome {
    loop {
        if !probe::leader_alive(pid) {
            return finished_elsewhere(dir);
        }
        let reason = tokio::select! {
            biased;
            () = cancel.cancelled() => KillReason::Cancel,
            () = tokio::time::sleep_until(deadline) => KillReason::Timeout,
            () = tokio::time::sleep(ADOPT_POLL) => continue,
        };
        // Check once more so that a step that has just finished reports its exit, and so that we
        // never signal a group whose leader is gone and whose id may have been reused.
        if !probe::leader_alive(pid) {
            return finished_elsewhere(dir);
        }
        tracing::warn!(pid, ?reason, "Killing the adopted step's process group.");
        kill_tree(pid, grace).await;
        return reason.outcome();
    }
}

/// Stops a step started by an earlier agent process without re-attaching to it, as a restarted
/// agent must for a masked step (its output pipes died with the old process). Kills the process
/// group `pid` if any member is still alive, like a cancel would, and returns whether it did.
pub async fn abandon(pid: i32, grace: Duration) -> bool {
    let alive = pid > 1
        && tokio::task::spawn_blocking(move || probe::leader_alive(pid) || probe::group_alive(pid))
            .await
            .unwrap_or(true);
    if alive {
        tracing::warn!(pid, "Killing the process group of a step that cannot be re-attached.");
        kill_tree(pid, grace).await;
    }
    alive
}

/// The outcome of a step whose wrapper is gone and was not our child.
fn finished_elsewhere(dir: &Path) -> Outcome {
    match read_exit_code(dir) {
        Some(code) => Outcome::Exited { code },
        None => Outcome::Lost,
    }
}

/// Reads the exit status the wrapper recorded in `dir/exit_code`, if it has finished and the file
/// is well formed.
pub fn read_exit_code(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join(EXIT_CODE_FILE)).ok()?;
    text.trim().parse().ok()
}
