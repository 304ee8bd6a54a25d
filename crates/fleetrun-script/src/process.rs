//! Runs one interpreter process under supervision: its own process group, a scrubbed environment,
//! rlimits, bounded capture of stdout and stderr, and SIGTERM → grace → SIGKILL on the whole group
//! at the deadline or on cancellation.
//!
//! This module knows nothing of handlers, payloads or runtimes; `lib.rs` builds the [`Launch`] and
//! reads the result file. A process that leaves the group (`setsid`, a daemon that double-forks
//! into a new session) escapes supervision; containing that needs cgroups, which are not used here.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};
use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::kill::{kill_tree, signal_group};

/// How long the group gets between SIGTERM and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long the output readers may go on after the group is gone. Without a process that escaped
/// the group and still holds a pipe, the pipes are already closed by then.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// Read size for the output pipes (the pipe itself buffers 64 KiB on Linux).
const CHUNK: usize = 16 * 1024;

/// Everything needed to start the interpreter. The environment is complete: nothing of this
/// process's own environment is inherited.
#[derive(Debug)]
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: PathBuf,
    pub(crate) rlimits: Rlimits,
    /// Bytes of stdout, and separately of stderr, that are kept.
    pub(crate) output_cap: usize,
}

/// Resource limits for the child, each lowered to the host's hard limit when that is smaller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rlimits {
    pub(crate) address_space: Option<rlim_t>,
    pub(crate) cpu_seconds: rlim_t,
    pub(crate) open_files: rlim_t,
}

/// How the process ended.
#[derive(Debug)]
pub(crate) enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) ending: Ending,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Starts the process and supervises it until it and every process of its group are gone.
///
/// Whatever ends the run, nothing of the group outlives this call: subprocesses a handler left
/// behind when it returned get the same SIGTERM → grace → SIGKILL as a timed-out handler. If this
/// future is dropped early, the group is sent SIGKILL.
pub(crate) async fn run(launch: Launch, timeout: Duration, cancel: &CancellationToken) -> io::Result<Finished> {
    let mut child = command(&launch).spawn()?;
    let pgid =
        child.id().and_then(|pid| i32::try_from(pid).ok()).ok_or_else(|| io::Error::other("child has no pid"))?;
    let mut guard = GroupGuard { pgid, armed: true };
    let stdout = Capture::start(child.stdout.take(), launch.output_cap);
    let stderr = Capture::start(child.stderr.take(), launch.output_cap);
    let deadline = Instant::now() + timeout;
    let ending = tokio::select! {
        biased;
        status = child.wait() => Ending::Exited(status?),
        () = cancel.cancelled() => Ending::Cancelled,
        () = tokio::time::sleep_until(deadline) => Ending::TimedOut,
    };
    if !matches!(ending, Ending::Exited(_)) {
        tracing::warn!(pgid, ?ending, "Killing the script's process group.");
    }
    // Reap while killing: where a zombie still counts as a group member, an unreaped leader would
    // keep the group "alive" for the whole grace period. A leader that exited is already reaped.
    let reap = async {
        if !matches!(ending, Ending::Exited(_)) {
            let _ = tokio::time::timeout(KILL_GRACE * 2, child.wait()).await;
        }
    };
    tokio::join!(kill_tree(pgid, KILL_GRACE), reap);
    guard.armed = false;
    let drain_deadline = Instant::now() + OUTPUT_DRAIN;
    let stdout = stdout.finish(drain_deadline).await;
    let stderr = stderr.finish(drain_deadline).await;
    Ok(Finished { ending, stdout, stderr })
}

fn command(launch: &Launch) -> Command {
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(name, value)| (name, value)))
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A new group whose id is the child's pid: `kill_tree(pid)` reaches every process the
        // handler starts and nothing of ours.
        .process_group(0)
        .kill_on_drop(true);
    let rlimits = launch.rlimits;
    // SAFETY: the closure runs in the forked child before `exec`, where only async-signal-safe
    // calls are allowed. It makes only `getrlimit`/`setrlimit` system calls on copied integers: no
    // allocation, no locks, no logging.
    unsafe {
        command.pre_exec(move || {
            apply_rlimits(rlimits);
            Ok(())
        });
    }
    command
}

/// Lowers the child's limits. Best effort: a limit the host does not allow to change stays as it
/// is, and a failure never stops the script from starting, since there is no way to report it
/// from between `fork` and `exec`.
fn apply_rlimits(rlimits: Rlimits) {
    fn lower(resource: Resource, soft: rlim_t, hard: rlim_t) {
        if let Ok((_, current_hard)) = getrlimit(resource) {
            let hard = hard.min(current_hard);
            let _ = setrlimit(resource, soft.min(hard), hard);
        }
    }
    lower(Resource::RLIMIT_CORE, 0, 0);
    lower(Resource::RLIMIT_NOFILE, rlimits.open_files, rlimits.open_files);
    // SIGXCPU at the soft limit, SIGKILL a second later at the hard one. Both are per process and
    // only back up the wall-clock timeout for a process that escaped the group.
    lower(Resource::RLIMIT_CPU, rlimits.cpu_seconds, rlimits.cpu_seconds.saturating_add(1));
    if let Some(bytes) = rlimits.address_space {
        lower(Resource::RLIMIT_AS, bytes, bytes);
    }
}

/// Sends SIGKILL to the group if the supervising future is dropped before the group is gone
/// (`kill_on_drop` alone would reach the leader only).
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, Signal::SIGKILL);
        }
    }
}

/// Keeps the first `cap` bytes of one output pipe and counts the rest, reading until the pipe
/// closes so that the script never blocks on a full pipe.
struct Capture {
    task: Option<JoinHandle<Captured>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
}

impl Capture {
    fn start<R>(pipe: Option<R>, cap: usize) -> Capture
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = pipe.map(|pipe| tokio::spawn(read_capped(pipe, cap, stop.clone())));
        Capture { task, stop }
    }

    /// The captured text (lossy UTF-8), with a marker if bytes were dropped. Waits for the pipe to
    /// close until `deadline`; a process that escaped the group may keep it open forever.
    async fn finish(self, deadline: Instant) -> String {
        let Some(mut task) = self.task else { return String::new() };
        let captured = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => joined.unwrap_or_default(),
            Err(_) => {
                self.stop.cancel();
                task.await.unwrap_or_default()
            }
        };
        let mut text = String::from_utf8_lossy(&captured.kept).into_owned();
        if captured.dropped > 0 {
            text.push_str(&format!("\n[fleetrun: output truncated, {} more bytes not kept]\n", captured.dropped));
        }
        text
    }
}

async fn read_capped<R: AsyncRead + Unpin>(mut pipe: R, cap: usize, stop: CancellationToken) -> Captured {
    let mut captured = Captured::default();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = pipe.read(&mut buffer) => read,
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                let keep = n.min(cap.saturating_sub(captured.kept.len()));
                captured.kept.extend_from_slice(&buffer[..keep]);
                captured.dropped += (n - keep) as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(%error, "Reading the script's output failed.");
                break;
            }
        }
    }
    captured
}

/// A wait status in words, for failure messages.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(signal) => format!("was killed by {signal}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended".to_owned(),
    }
}
