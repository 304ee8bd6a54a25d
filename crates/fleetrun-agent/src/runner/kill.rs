//! Kills a step's whole process group: SIGTERM, up to a grace period for the group to exit, then
//! SIGKILL.
//!
//! This is the only code in the agent that signals script processes. It does not decide when to
//! kill (that is `Running::wait` and `adopt`) and never signals single processes: a script's
//! background children share its group and must die with it.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgrp};
use tokio::time::Instant;

use super::probe;

/// How often the group is checked while waiting for it to exit.
const GROUP_POLL: Duration = Duration::from_millis(25);
/// How long to wait for the group to disappear after SIGKILL before giving up (a process in
/// uninterruptible sleep dies only when its IO completes).
const KILL_SETTLE: Duration = Duration::from_secs(1);

/// Sends SIGTERM to process group `pgid`, waits up to `grace` for every member to exit, then sends
/// SIGKILL.
///
/// A group that is already gone (`ESRCH`) is not an error. Stopped members are sent SIGCONT after
/// SIGTERM so that they can act on it. Returns once the group is gone, or about a second after
/// SIGKILL if something lingers (logged). Refuses, with an error log, ids that cannot be a step's
/// group: 0, 1, negative ids and the agent's own group.
pub async fn kill_tree(pgid: i32, grace: Duration) {
    if let Some(why) = refusal(pgid) {
        tracing::error!(pgid, why, "Refusing to kill a process group.");
        return;
    }
    if !signal_group(pgid, Signal::SIGTERM) {
        return;
    }
    signal_group(pgid, Signal::SIGCONT);
    if wait_group_gone(pgid, grace).await {
        return;
    }
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    tracing::warn!(pgid, grace_ms, "Process group outlived SIGTERM and the grace period; sending SIGKILL.");
    if !signal_group(pgid, Signal::SIGKILL) {
        return;
    }
    if !wait_group_gone(pgid, KILL_SETTLE).await {
        tracing::warn!(pgid, "Process group still has live members after SIGKILL.");
    }
}

/// Why `pgid` must not be signalled, if it must not. `killpg` with 0 means our own group, and 1 is
/// init's.
pub(super) fn refusal(pgid: i32) -> Option<&'static str> {
    if pgid <= 1 {
        Some("not the process group of a step")
    } else if Pid::from_raw(pgid) == getpgrp() {
        Some("it is the agent's own process group")
    } else {
        None
    }
}

/// Signals the group. Returns false when the group no longer exists.
fn signal_group(pgid: i32, signal: Signal) -> bool {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(errno) => {
            tracing::warn!(pgid, ?signal, %errno, "Cannot signal the process group.");
            true
        }
    }
}

/// Polls until the group has no live member or `limit` has passed. Returns whether the group is
/// gone.
async fn wait_group_gone(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !group_alive(pgid).await {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL.min(deadline - now)).await;
    }
}

/// Runs the group probe on the blocking pool: on Linux it reads `/proc`, one file per process on
/// the machine.
async fn group_alive(pgid: i32) -> bool {
    tokio::task::spawn_blocking(move || probe::group_alive(pgid)).await.unwrap_or(true)
}
