//! Tests of the step runner against real processes (`/bin/sh`, `sleep`, `python3` when installed).
//!
//! Every wait is bounded by [`bounded`]. Tests that kill process trees make this test process a
//! child subreaper, so that the script's orphaned children are re-parented to it and can be reaped
//! here; that lets them assert that `kill(pid, 0)` fails with `ESRCH` even where PID 1 never reaps
//! orphans. These are not tests of the agent loop.

use std::collections::BTreeSet;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpgrp};
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::*;

/// Upper bound for any single wait in these tests.
const LIMIT: Duration = Duration::from_secs(20);
/// Grace period for tests whose processes honor SIGTERM.
const GRACE: Duration = Duration::from_secs(2);

/// Starts background children in every way a script commonly does, and records their pids in `pids`
/// (8 lines, 7 distinct pids: one is written twice). Then waits for them forever.
const TREE_SCRIPT: &str = r#"
sleep 1000 &
echo $! >> pids
( sleep 1000 & echo $! >> pids; wait ) &
echo $! >> pids
sh -c 'echo $$ >> "$1"; sleep 1000 & echo $! >> "$1"; wait' inner pids &
echo $! >> pids
nohup sleep 1000 >/dev/null 2>&1 &
echo $! >> pids
echo $$ >> pids
wait
"#;
const TREE_PID_LINES: usize = 8;

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish within {LIMIT:?}"),
    }
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// A step in a fresh temporary directory: `<tmp>/orch/cmd-1/step` as the step directory,
/// `<tmp>/work` as workdir.
struct Fixture {
    _tmp: TempDir,
    spec: RunSpec,
}

impl Fixture {
    fn new(script: &str) -> Fixture {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let workdir = tmp.path().join("work");
        std::fs::create_dir(&workdir).expect("create workdir");
        let spec = RunSpec {
            dir: tmp.path().join("orch/cmd-1/step"),
            script: script.to_owned(),
            script_file: SCRIPT_FILE,
            workdir,
            env: vec![("SSM_COMMAND_ID".to_owned(), "cmd-1".to_owned())],
            secret_env: Vec::new(),
            timeout: Duration::from_secs(60),
        };
        Fixture { _tmp: tmp, spec }
    }

    /// A masked step: `secret` in `FLEETRUN_SECURE_1`.
    fn masked(script: &str, secret: &str) -> Fixture {
        let mut fixture = Fixture::new(script);
        fixture.spec.secret_env.push(("FLEETRUN_SECURE_1".to_owned(), Zeroizing::new(secret.to_owned())));
        fixture
    }

    /// Contents of a file in the step directory.
    fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.spec.dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    fn work(&self, name: &str) -> PathBuf {
        self.spec.workdir.join(name)
    }

    async fn start(&self) -> Running {
        start(&self.spec).await.expect("start step")
    }

    /// Starts the step and waits for it with a far deadline and no cancellation.
    async fn run(&self) -> Outcome {
        let running = self.start().await;
        bounded("step", running.wait(far_deadline(), CancellationToken::new(), GRACE)).await
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// Makes this test process the reaper of orphaned descendants (see the module docs). Idempotent.
#[cfg(target_os = "linux")]
fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
}

/// Without subreapers, orphans go to PID 1, which is expected to reap them.
#[cfg(not(target_os = "linux"))]
fn become_subreaper() {}

/// Waits until `path` holds `lines` complete lines of pids, and returns the distinct pids.
async fn wait_for_pids(path: &Path, lines: usize) -> BTreeSet<i32> {
    bounded("pid file", async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.ends_with('\n') && text.lines().count() >= lines {
                return text.lines().map(|line| line.trim().parse().expect("pid")).collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Asserts that each pid disappears (reaping it if it is a zombie child of this process).
async fn assert_all_gone(pids: &BTreeSet<i32>) {
    for &pid in pids {
        let what = format!("disappearance of pid {pid}");
        bounded(&what, async {
            loop {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
                if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// SIGKILLs a step's process group if a test fails before its tree is gone. Defused when the test
/// passes.
struct GroupGuard(i32);

impl GroupGuard {
    fn defuse(self) {
        std::mem::forget(self);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

#[tokio::test]
async fn exit_zero_with_stdout() {
    let fixture = Fixture::new("echo hello\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    assert_eq!(fixture.output(STDOUT_FILE), "hello\n");
    assert_eq!(fixture.output(STDERR_FILE), "");
    assert_eq!(fixture.output(EXIT_CODE_FILE), "0\n");
    assert!(!fixture.spec.dir.join("exit_code.tmp").exists());
}

#[tokio::test]
async fn exit_three_with_stderr() {
    let fixture = Fixture::new("echo out\necho oops >&2\nexit 3\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 3 });
    assert_eq!(fixture.output(STDOUT_FILE), "out\n");
    assert_eq!(fixture.output(STDERR_FILE), "oops\n");
    assert_eq!(read_exit_code(&fixture.spec.dir), Some(3));
}

#[tokio::test]
async fn script_killed_by_signal_reports_128_plus_signo() {
    let fixture = Fixture::new("kill -KILL $$\necho unreachable\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 137 });
    assert_eq!(fixture.output(EXIT_CODE_FILE), "137\n");
    assert_eq!(fixture.output(STDOUT_FILE), "");
}

#[tokio::test]
async fn more_than_a_mebibyte_of_output_lands_in_files() {
    let script = "head -c 1500000 /dev/zero | tr '\\0' a\nhead -c 1200000 /dev/zero | tr '\\0' b >&2\n";
    let fixture = Fixture::new(script);
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    let stdout = fixture.output(STDOUT_FILE);
    let stderr = fixture.output(STDERR_FILE);
    assert_eq!(stdout.len(), 1_500_000);
    assert!(stdout.bytes().all(|b| b == b'a'));
    assert_eq!(stderr.len(), 1_200_000);
    assert!(stderr.bytes().all(|b| b == b'b'));
}

#[tokio::test]
async fn shebang_line_is_honoured() {
    if !on_path("python3") {
        eprintln!("skipping shebang_line_is_honoured: python3 is not on PATH");
        return;
    }
    let script = "#!/usr/bin/env python3\nimport sys\nprint('python', sys.version_info[0])\nsys.exit(5)\n";
    let fixture = Fixture::new(script);
    assert_eq!(fixture.run().await, Outcome::Exited { code: 5 });
    assert_eq!(fixture.output(STDOUT_FILE), "python 3\n");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn script_without_shebang_runs_under_sh() {
    // Without a #! line execve fails with ENOEXEC and sh runs the file itself.
    let fixture = Fixture::new("readlink /proc/$$/exe\necho \"sum=$((1 + 2))\"\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    let sh = std::fs::canonicalize("/bin/sh").expect("canonical /bin/sh");
    assert_eq!(fixture.output(STDOUT_FILE), format!("{}\nsum=3\n", sh.display()));
}

#[tokio::test]
async fn step_dir_and_script_are_private() {
    let fixture = Fixture::new("exit 0\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    assert_eq!(mode(&fixture.spec.dir), 0o700);
    assert_eq!(mode(&fixture.spec.dir.join(SCRIPT_FILE)), 0o700);
    assert_eq!(mode(&fixture.spec.dir.join(STDOUT_FILE)), 0o600);
    assert_eq!(mode(&fixture.spec.dir.join(STDERR_FILE)), 0o600);
    assert_eq!(fixture.output(SCRIPT_FILE), "exit 0\n");
}

#[tokio::test]
async fn existing_step_dir_is_tightened_and_stale_results_removed() {
    let fixture = Fixture::new("sleep 0.3\nexit 4\n");
    std::fs::create_dir_all(&fixture.spec.dir).expect("create step dir");
    std::fs::set_permissions(&fixture.spec.dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(fixture.spec.dir.join(EXIT_CODE_FILE), "99\n").expect("stale exit_code");
    let running = fixture.start().await;
    assert_eq!(read_exit_code(&fixture.spec.dir), None);
    assert_eq!(mode(&fixture.spec.dir), 0o700);
    let outcome = bounded("step", running.wait(far_deadline(), CancellationToken::new(), GRACE)).await;
    assert_eq!(outcome, Outcome::Exited { code: 4 });
}

#[tokio::test]
async fn workdir_is_honoured() {
    let fixture = Fixture::new("pwd -P\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    let workdir = std::fs::canonicalize(&fixture.spec.workdir).expect("canonical workdir");
    assert_eq!(fixture.output(STDOUT_FILE), format!("{}\n", workdir.display()));
}

#[tokio::test]
async fn missing_workdir_is_refused_before_anything_is_created() {
    let mut fixture = Fixture::new("echo never\n");
    fixture.spec.workdir = fixture.spec.workdir.join("missing");
    let error = start(&fixture.spec).await.expect_err("missing workdir must be refused");
    assert!(matches!(&error, RunnerError::WorkdirMissing(path) if *path == fixture.spec.workdir), "{error:?}");
    assert!(!fixture.spec.dir.exists());
}

#[tokio::test]
async fn environment_is_inherited_plus_spec_env() {
    let fixture = Fixture::new("printf '%s\\n' \"$SSM_COMMAND_ID\" \"$PATH\"\n");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    let path = std::env::var("PATH").expect("PATH is set for tests");
    assert_eq!(fixture.output(STDOUT_FILE), format!("cmd-1\n{path}\n"));
}

#[tokio::test]
async fn timeout_kills_the_whole_tree() {
    become_subreaper();
    let fixture = Fixture::new(TREE_SCRIPT);
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let mut pids = wait_for_pids(&fixture.work("pids"), TREE_PID_LINES).await;
    pids.insert(running.pid);
    let deadline = Instant::now() + Duration::from_millis(200);
    let outcome = bounded("step", running.wait(deadline, CancellationToken::new(), GRACE)).await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert_all_gone(&pids).await;
    assert_eq!(read_exit_code(&fixture.spec.dir), None);
    guard.defuse();
}

#[tokio::test]
async fn cancel_kills_the_whole_tree() {
    become_subreaper();
    let fixture = Fixture::new(TREE_SCRIPT);
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let mut pids = wait_for_pids(&fixture.work("pids"), TREE_PID_LINES).await;
    pids.insert(running.pid);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let outcome = bounded("step", running.wait(far_deadline(), cancel, GRACE)).await;
    assert_eq!(outcome, Outcome::Cancelled);
    assert_all_gone(&pids).await;
    guard.defuse();
}

#[tokio::test]
async fn sigterm_ignoring_tree_is_killed_after_grace() {
    become_subreaper();
    let fixture = Fixture::new("trap '' TERM\nsleep 1000 &\necho $! >> pids\necho $$ >> pids\nwait\n");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let mut pids = wait_for_pids(&fixture.work("pids"), 2).await;
    pids.insert(running.pid);
    let grace = Duration::from_millis(300);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let started = Instant::now();
    let outcome = bounded("step", running.wait(far_deadline(), cancel, grace)).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(elapsed >= grace, "SIGKILL came before the grace period ended: {elapsed:?}");
    assert!(elapsed < grace + Duration::from_secs(3), "kill took {elapsed:?}");
    assert_all_gone(&pids).await;
    guard.defuse();
}

#[tokio::test]
async fn exit_wins_over_a_deadline_that_is_also_due() {
    let fixture = Fixture::new("exit 5\n");
    let running = fixture.start().await;
    let pid = running.pid;
    bounded("exit", async {
        while probe::leader_alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let outcome = bounded("step", running.wait(Instant::now(), CancellationToken::new(), GRACE)).await;
    assert_eq!(outcome, Outcome::Exited { code: 5 });
}

#[tokio::test]
async fn adopt_after_agent_crash_gets_exit_code_and_full_output() {
    let script = "i=0\nwhile [ ! -e go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done\n\
                  seq 1 20000\necho done >&2\nexit 7\n";
    let fixture = Fixture::new(script);
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let pid = running.pid;
    // Simulates the agent dying: the handle goes away without a wait.
    drop(running);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(probe::leader_alive(pid), "dropping Running must not stop the step");
    std::fs::write(fixture.work("go"), "").expect("release the script");
    let outcome = adopt(pid, &fixture.spec.dir, far_deadline(), CancellationToken::new(), GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::Exited { code: 7 });
    let stdout = fixture.output(STDOUT_FILE);
    assert_eq!(stdout.lines().count(), 20000);
    assert!(stdout.ends_with("19999\n20000\n"));
    assert_eq!(fixture.output(STDERR_FILE), "done\n");
    guard.defuse();
}

#[tokio::test]
async fn adopt_of_a_gone_pid_without_exit_code_is_lost() {
    let fixture = Fixture::new("sleep 30\n");
    let running = fixture.start().await;
    let pid = running.pid;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = bounded("step", running.wait(far_deadline(), cancel, GRACE)).await;
    assert_eq!(outcome, Outcome::Cancelled);
    let outcome = adopt(pid, &fixture.spec.dir, far_deadline(), CancellationToken::new(), GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::Lost);
    // The same gone pid with a recorded exit status reports that status.
    std::fs::write(fixture.spec.dir.join(EXIT_CODE_FILE), "5\n").expect("write exit_code");
    let outcome = adopt(pid, &fixture.spec.dir, far_deadline(), CancellationToken::new(), GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::Exited { code: 5 });
}

#[tokio::test]
async fn adopt_treats_a_pid_that_leads_no_group_as_reused() {
    let fixture = Fixture::new("exit 0\n");
    std::fs::create_dir_all(&fixture.spec.dir).expect("step dir");
    // A live process in our own process group: its pid is not its group id, so it cannot be a step
    // wrapper.
    let mut stranger = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
    let pid = i32::try_from(stranger.id()).expect("pid fits i32");
    let started = Instant::now();
    let outcome = adopt(pid, &fixture.spec.dir, far_deadline(), CancellationToken::new(), GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::Lost);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(kill(Pid::from_raw(pid), None).is_ok(), "adopt must not signal a stranger");
    stranger.kill().expect("kill sleep");
    stranger.wait().expect("reap sleep");
}

#[tokio::test]
async fn adopt_honors_cancel_and_kills_the_tree() {
    become_subreaper();
    let fixture = Fixture::new(TREE_SCRIPT);
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let pid = running.pid;
    let mut pids = wait_for_pids(&fixture.work("pids"), TREE_PID_LINES).await;
    pids.insert(pid);
    drop(running);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let outcome = adopt(pid, &fixture.spec.dir, far_deadline(), cancel, GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::Cancelled);
    assert_all_gone(&pids).await;
    guard.defuse();
}

#[tokio::test]
async fn adopt_honors_the_deadline() {
    become_subreaper();
    let fixture = Fixture::new("echo $$ >> pids\nsleep 1000 &\necho $! >> pids\nwait\n");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let pid = running.pid;
    let mut pids = wait_for_pids(&fixture.work("pids"), 2).await;
    pids.insert(pid);
    drop(running);
    let deadline = Instant::now() + Duration::from_millis(300);
    let outcome = adopt(pid, &fixture.spec.dir, deadline, CancellationToken::new(), GRACE);
    assert_eq!(bounded("adopt", outcome).await, Outcome::TimedOut);
    assert_all_gone(&pids).await;
    guard.defuse();
}

#[tokio::test]
async fn kill_tree_of_a_gone_group_returns_at_once() {
    let started = Instant::now();
    // Pids above the default pid_max of 4194304 cannot exist.
    bounded("kill_tree", kill_tree(i32::MAX - 7, Duration::from_secs(30))).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn kill_tree_refuses_groups_that_are_not_steps() {
    for pgid in [-3, 0, 1, getpgrp().as_raw()] {
        assert!(kill::refusal(pgid).is_some(), "pgid {pgid} must be refused");
    }
    assert_eq!(kill::refusal(i32::MAX - 7), None);
}

#[test]
fn read_exit_code_parses_the_wrapper_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    assert_eq!(read_exit_code(dir.path()), None);
    std::fs::write(dir.path().join(EXIT_CODE_FILE), "12\n").expect("write");
    assert_eq!(read_exit_code(dir.path()), Some(12));
    std::fs::write(dir.path().join(EXIT_CODE_FILE), "").expect("write");
    assert_eq!(read_exit_code(dir.path()), None);
}

#[test]
fn debug_of_run_spec_hides_env_values_and_script() {
    let fixture = Fixture::masked("echo secret-script\n", "s3cr3t-value");
    let mut spec = fixture.spec.clone();
    spec.env.push(("AWS_SECRET_ACCESS_KEY".to_owned(), "hunter2".to_owned()));
    let debug = format!("{spec:?}");
    assert!(debug.contains("AWS_SECRET_ACCESS_KEY") && debug.contains("FLEETRUN_SECURE_1"), "{debug}");
    assert!(!debug.contains("hunter2") && !debug.contains("secret-script"), "{debug}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

// Masked steps: secret environment values, output through masking pumps.

#[tokio::test]
async fn masked_output_hides_a_secret_split_across_writes() {
    let script = "printf 'x ab'; sleep 0.05; printf 'c y\\n'\n\
                  printf 'ab' >&2; sleep 0.05; printf 'c' >&2; sleep 0.05; printf 'abd\\n' >&2\n\
                  exit 3\n";
    let fixture = Fixture::masked(script, "abc");
    let running = fixture.start().await;
    assert!(running.is_masked());
    let outcome = bounded("step", running.wait(far_deadline(), CancellationToken::new(), GRACE)).await;
    assert_eq!(outcome, Outcome::Exited { code: 3 });
    assert_eq!(fixture.output(STDOUT_FILE), "x **** y\n");
    assert_eq!(fixture.output(STDERR_FILE), "****abd\n");
    assert_eq!(fixture.output(EXIT_CODE_FILE), "3\n");
    assert_eq!(mode(&fixture.spec.dir.join(STDOUT_FILE)), 0o600);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn masked_step_gets_its_secret_in_the_environment_and_nowhere_else() {
    // The script copies its own and its wrapper's argv to the workdir (unmasked), prints the secret,
    // and proves it saw the right value by printing a transformation of it.
    let script = "tr '\\0' ' ' < /proc/$$/cmdline > argv\ntr '\\0' ' ' < /proc/$PPID/cmdline > wrapper-argv\n\
                  echo \"$FLEETRUN_SECURE_1\"\necho \"$FLEETRUN_SECURE_1\" >&2\n\
                  printf '%s\\n' \"$FLEETRUN_SECURE_1\" | tr 'a-z' 'A-Z'\n";
    let secret = "s3cr3t-value with spaces";
    let fixture = Fixture::masked(script, secret);
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    assert_eq!(fixture.output(STDOUT_FILE), "****\nS3CR3T-VALUE WITH SPACES\n");
    assert_eq!(fixture.output(STDERR_FILE), "****\n");
    for file in [fixture.work("argv"), fixture.work("wrapper-argv")] {
        let argv = std::fs::read_to_string(&file).expect("argv copy");
        assert!(argv.contains("_script.sh") && !argv.contains("s3cr3t"), "{}: {argv}", file.display());
    }
    let on_disk = std::fs::read_to_string(fixture.spec.dir.join(SCRIPT_FILE)).expect("script");
    assert!(!on_disk.contains("s3cr3t"));
}

#[tokio::test]
async fn masked_step_passes_large_output_through_unchanged() {
    let script = "head -c 1500000 /dev/zero | tr '\\0' a\nhead -c 1200000 /dev/zero | tr '\\0' b >&2\n";
    let fixture = Fixture::masked(script, "not-in-the-output");
    assert_eq!(fixture.run().await, Outcome::Exited { code: 0 });
    let stdout = fixture.output(STDOUT_FILE);
    let stderr = fixture.output(STDERR_FILE);
    assert_eq!(stdout.len(), 1_500_000);
    assert!(stdout.bytes().all(|b| b == b'a'));
    assert_eq!(stderr.len(), 1_200_000);
    assert!(stderr.bytes().all(|b| b == b'b'));
}

#[tokio::test]
async fn masked_timeout_kills_the_whole_tree_and_the_output_ends() {
    become_subreaper();
    let script = format!("echo \"$FLEETRUN_SECURE_1 started\"\n{TREE_SCRIPT}");
    let fixture = Fixture::masked(&script, "abc");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let mut pids = wait_for_pids(&fixture.work("pids"), TREE_PID_LINES).await;
    pids.insert(running.pid);
    let deadline = Instant::now() + Duration::from_millis(200);
    let outcome = bounded("step", running.wait(deadline, CancellationToken::new(), GRACE)).await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert_all_gone(&pids).await;
    assert_eq!(fixture.output(STDOUT_FILE), "**** started\n");
    guard.defuse();
}

#[tokio::test]
async fn masked_cancel_kills_the_whole_tree_and_the_output_ends() {
    become_subreaper();
    let fixture = Fixture::masked(TREE_SCRIPT, "abc");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let mut pids = wait_for_pids(&fixture.work("pids"), TREE_PID_LINES).await;
    pids.insert(running.pid);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let outcome = bounded("step", running.wait(far_deadline(), cancel, GRACE)).await;
    assert_eq!(outcome, Outcome::Cancelled);
    assert_all_gone(&pids).await;
    guard.defuse();
}

#[tokio::test]
async fn masked_wait_does_not_hang_on_a_background_child_holding_the_output() {
    become_subreaper();
    // The background child keeps stdout and stderr open long after the script exits.
    let script = "echo \"before $FLEETRUN_SECURE_1\"\n(sleep 30; echo late) &\necho $! >> pids\nexit 4\n";
    let fixture = Fixture::masked(script, "abc");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let started = Instant::now();
    let outcome = bounded("step", running.wait(far_deadline(), CancellationToken::new(), GRACE)).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome, Outcome::Exited { code: 4 });
    assert!(elapsed < pump::OUTPUT_DRAIN + Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(fixture.output(STDOUT_FILE), "before ****\n");
    let pids = wait_for_pids(&fixture.work("pids"), 1).await;
    assert!(pids.iter().all(|&pid| kill(Pid::from_raw(pid), None).is_ok()), "the background child keeps running");
    drop(guard);
    assert_all_gone(&pids).await;
}

#[tokio::test]
async fn abandon_stops_a_step_left_by_an_earlier_agent() {
    become_subreaper();
    let fixture = Fixture::masked("echo $$ >> pids\nsleep 1000 &\necho $! >> pids\nwait\n", "abc");
    let running = fixture.start().await;
    let guard = GroupGuard(running.pid);
    let pid = running.pid;
    let mut pids = wait_for_pids(&fixture.work("pids"), 2).await;
    pids.insert(pid);
    // Simulates the agent dying: the handle goes away without a wait.
    drop(running);
    assert!(bounded("abandon", abandon(pid, GRACE)).await, "a live step is stopped");
    assert_all_gone(&pids).await;
    assert!(!bounded("abandon", abandon(pid, GRACE)).await, "a gone step has nothing to stop");
    assert!(!bounded("abandon", abandon(0, GRACE)).await);
    guard.defuse();
}
