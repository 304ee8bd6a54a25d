//! Ends a script's whole process group: SIGTERM, a grace period, then SIGKILL.
//!
//! The same convention as the agent's `runner/kill.rs`, reimplemented in short because the agent
//! crate is not a dependency of the server. This module never signals single processes (a
//! handler's subprocesses share its group and must die with it) and does not decide when to kill;
//! that is `process.rs`.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgrp};
use tokio::time::Instant;

/// How often the group is checked while waiting for it to exit.
const GROUP_POLL: Duration = Duration::from_millis(25);
/// How long to wait for the group to disappear after SIGKILL (a process in uninterruptible sleep
/// dies only when its IO completes).
const KILL_SETTLE: Duration = Duration::from_secs(1);

/// Sends SIGTERM (and SIGCONT, so that stopped members can act on it) to group `pgid`, waits up
/// to `grace` for every member to exit, then sends SIGKILL. A group that is already gone is not an
/// error, so this is also how leftovers of a handler that returned are cleaned up.
pub(crate) async fn kill_tree(pgid: i32, grace: Duration) {
    // `killpg` with 0 means our own group and 1 is init's; neither can be a script's.
    if pgid <= 1 || Pid::from_raw(pgid) == getpgrp() {
        tracing::error!(pgid, "Refusing to kill a process group that is not a script's.");
        return;
    }
    if !signal_group(pgid, Signal::SIGTERM) {
        return;
    }
    signal_group(pgid, Signal::SIGCONT);
    if wait_group_gone(pgid, grace).await {
        return;
    }
    tracing::warn!(pgid, "Script process group outlived SIGTERM and the grace period; sending SIGKILL.");
    if signal_group(pgid, Signal::SIGKILL) && !wait_group_gone(pgid, KILL_SETTLE).await {
        tracing::warn!(pgid, "Script process group still has live members after SIGKILL.");
    }
}

/// Signals the group. Returns false when the group no longer exists.
pub(crate) fn signal_group(pgid: i32, signal: Signal) -> bool {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(errno) => {
            tracing::warn!(pgid, ?signal, %errno, "Cannot signal the script's process group.");
            true
        }
    }
}

async fn wait_group_gone(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let alive = tokio::task::spawn_blocking(move || group_alive(pgid)).await.unwrap_or(true);
        if !alive {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL.min(deadline - now)).await;
    }
}

/// Whether any member of the group has not exited yet.
///
/// Zombies do not count: an orphaned subprocess is reaped by whatever adopted it, and some
/// containers run a PID 1 that never reaps, so `killpg(pgid, 0)` alone would report a killed group
/// as alive for the whole grace period. Zombies are recognized through `/proc` on Linux only.
fn group_alive(pgid: i32) -> bool {
    if killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH) {
        return false;
    }
    if !cfg!(target_os = "linux") {
        return true;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .any(|stat| live_member_of(&stat, pgid))
}

/// Parses `pid (comm) state ppid pgrp ...` (fields counted from the last `)`, since `comm` may hold
/// anything) and tells whether it is a process of group `pgid` that is not a zombie (`Z`) or being
/// torn down (`X`).
fn live_member_of(stat: &str, pgid: i32) -> bool {
    let Some((_, rest)) = stat.rsplit_once(')') else { return false };
    let mut fields = rest.split_ascii_whitespace();
    let (Some(state), Some(_ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next()) else {
        return false;
    };
    pgrp.parse() == Ok(pgid) && !matches!(state, "Z" | "X")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_member_of_reads_state_and_group_after_the_last_parenthesis() {
        assert!(live_member_of("42 (a) b (c)) S 1 42 42 0", 42));
        assert!(!live_member_of("42 (a) b (c)) Z 1 42 42 0", 42));
        assert!(!live_member_of("42 (sleep) S 1 43 43 0", 42));
        assert!(!live_member_of("42 (sleep) S", 42));
    }
}
