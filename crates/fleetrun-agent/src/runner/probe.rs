//! Liveness probes for step processes and process groups, without signalling them.
//!
//! A zombie counts as dead here: it has exited and only waits for its parent to collect its status.
//! That matters because an orphan is reaped by whatever process adopts it, and some containers run
//! a PID 1 that never reaps, so `kill(pid, 0)` would report a killed script as alive forever.
//! Zombies are recognized through `/proc` on Linux; elsewhere they count as alive. This module does
//! not send signals that change anything (see `kill.rs`).

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg};
use nix::unistd::{Pid, getpgid};

/// Whether `pid` is a live process that leads its own process group, as a step wrapper does.
///
/// A pid that exists but leads no group, or belongs to another user (`EPERM`), is not the step we
/// started: the pid was reused after the step ended.
pub(super) fn leader_alive(pid: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    let process = Pid::from_raw(pid);
    if kill(process, None).is_err() {
        return false;
    }
    if getpgid(Some(process)) != Ok(process) {
        return false;
    }
    !is_zombie(pid)
}

/// Whether any live (non-zombie) process is left in process group `pgid`.
pub(super) fn group_alive(pgid: i32) -> bool {
    match killpg(Pid::from_raw(pgid), None) {
        Err(Errno::ESRCH) => false,
        // `EPERM` means members exist that we may not signal; they still count.
        _ => group_has_live_member(pgid),
    }
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|stat| stat.is_dead())
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(_pid: i32) -> bool {
    false
}

/// Scans `/proc` for a member of the group that has not exited. If `/proc` cannot be read, assumes
/// there is one.
#[cfg(target_os = "linux")]
fn group_has_live_member(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .any(|stat| stat.pgrp == pgid && !stat.is_dead())
}

#[cfg(not(target_os = "linux"))]
fn group_has_live_member(_pgid: i32) -> bool {
    true
}

/// The fields of `/proc/<pid>/stat` this module needs.
#[cfg(target_os = "linux")]
#[derive(Debug, PartialEq, Eq)]
struct ProcStat {
    state: char,
    pgrp: i32,
}

#[cfg(target_os = "linux")]
impl ProcStat {
    /// `Z` is a zombie, `X` a process being torn down; both have exited.
    fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

#[cfg(target_os = "linux")]
fn proc_stat(pid: i32) -> Option<ProcStat> {
    parse_proc_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses `pid (comm) state ppid pgrp ...`. `comm` may contain spaces and parentheses, so fields
/// are counted from the last `)`.
#[cfg(target_os = "linux")]
fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, pgrp })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parse_proc_stat_counts_fields_from_the_last_parenthesis() {
        let stat = parse_proc_stat("42 (a) b (c)) Z 1 42 42 0 -1 4194560");
        assert_eq!(stat, Some(ProcStat { state: 'Z', pgrp: 42 }));
        assert_eq!(parse_proc_stat("42 (sleep) S 7"), None);
        assert_eq!(parse_proc_stat(""), None);
    }

    #[test]
    fn own_process_is_not_dead() {
        let stat = proc_stat(std::process::id() as i32).expect("our own /proc entry");
        assert!(!stat.is_dead());
        assert!(!leader_alive(0) && !leader_alive(1) && !leader_alive(-5));
    }
}
