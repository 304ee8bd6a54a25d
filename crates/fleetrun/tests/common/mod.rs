//! Shared helpers for the `cli_*` tests: a real fleet of `fleetrun` processes in a temp dir, and a way to
//! run the `fleetrun` binary against it.
//!
//! `Fleet::start()` runs `fleetrun dev` on port 0 (it writes the URL and keys to `dev.env`), and
//! `Fleet::agent` adds `fleetrun agent` processes with tags. Every process is killed when the `Fleet` is
//! dropped, also when a test panics. Every wait is bounded and says what it was waiting for, with the tail
//! of the relevant log. These helpers do not talk HTTP themselves: they drive the binary, as a person would.

#![allow(dead_code)] // Each test binary uses a different subset.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const FLEETRUN: &str = env!("CARGO_BIN_EXE_fleetrun");

/// How long `fleetrun dev` may take to write dev.env, and an agent to enrol. Generous: the test binaries
/// share the machine with other builds and tests.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one CLI command may take (a `run` includes the commands' own run time).
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How often to look again while waiting for a process or a file.
const POLL: Duration = Duration::from_millis(20);

/// The variables of dev.env the CLI needs.
const CLIENT_VARIABLES: [&str; 4] =
    ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"];

/// A `fleetrun dev` server with its local agent, plus any agents added with `agent`.
pub(crate) struct Fleet {
    dir: tempfile::TempDir,
    /// dev.env, parsed.
    env: BTreeMap<String, String>,
    /// Invariant: `processes[0]` is `fleetrun dev`.
    processes: Vec<Process>,
    /// The local agent's instance id.
    pub(crate) dev_instance_id: String,
}

struct Process {
    child: Child,
    log: PathBuf,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Agents first, so that none is left polling a server that is gone.
        for process in self.processes.iter_mut().rev() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

impl Fleet {
    /// Starts `fleetrun dev --listen 127.0.0.1:0` and waits until it has written dev.env.
    pub(crate) fn start() -> Fleet {
        let dir = tempfile::Builder::new().prefix("fleetrun-cli-").tempdir().expect("a temp dir");
        let data_dir = dir.path().join("dev");
        let log = dir.path().join("dev.log");
        let child = Command::new(FLEETRUN)
            .args(["dev", "--listen", "127.0.0.1:0", "--instance-id", "i-abcd1234"])
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("fleetrun dev starts");
        let mut fleet = Fleet {
            dir,
            env: BTreeMap::new(),
            processes: vec![Process { child, log }],
            dev_instance_id: String::new(),
        };
        let env_path = data_dir.join("dev.env");
        fleet.env = fleet.wait_for("dev.env with the server's URL and keys", || read_dev_env(&env_path));
        fleet.dev_instance_id = fleet.env["FLEETRUN_DEV_INSTANCE_ID"].clone();
        fleet
    }

    /// Starts `fleetrun agent` as `instance_id` with `tags` (`Key=Value`), and waits until the server
    /// lists the node.
    pub(crate) fn agent(&mut self, instance_id: &str, tags: &[&str]) -> &mut Fleet {
        let state_dir = self.dir.path().join(instance_id);
        let log = self.dir.path().join(format!("{instance_id}.log"));
        let mut command = Command::new(FLEETRUN);
        command
            .args(["agent", "--server", &self.env["FLEETRUN_SERVER"]])
            .args(["--activation-id", &self.env["FLEETRUN_ACTIVATION_ID"]])
            .args(["--activation-code", &self.env["FLEETRUN_ACTIVATION_CODE"]])
            .args(["--instance-id", instance_id])
            .arg("--state-dir")
            .arg(&state_dir);
        for tag in tags {
            command.args(["--tag", tag]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("fleetrun agent starts");
        self.processes.push(Process { child, log });
        self.wait_for(&format!("node {instance_id} to enrol"), || {
            let nodes = self.fleetrun(&["nodes", "list", "--output", "json"]);
            let listed = nodes.code == 0
                && nodes.json()["InstanceInformationList"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|n| n["InstanceId"] == instance_id));
            listed.then_some(())
        });
        self
    }

    /// Runs `fleetrun ARGS` as a client of this fleet (only dev.env's variables are set), bounded by a
    /// timeout.
    #[track_caller]
    pub(crate) fn fleetrun(&self, args: &[&str]) -> CliRun {
        cli(self.command(args), self.dir.path())
    }

    /// Like `fleetrun`, with some variables overridden (e.g. another access key).
    #[track_caller]
    pub(crate) fn fleetrun_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> CliRun {
        let mut command = self.command(args);
        command.envs(vars.iter().copied());
        cli(command, self.dir.path())
    }

    /// Like `fleetrun`, with `input` on stdin (for `--value-stdin`), bounded by the same timeout as a
    /// wait. A file rather than a pipe, so no writer thread is needed.
    #[track_caller]
    pub(crate) fn fleetrun_with_stdin(&self, args: &[&str], input: &str) -> CliRun {
        let file = || tempfile::NamedTempFile::new_in(self.dir.path()).expect("a temp file");
        let (stdin, out, err) = (file(), file(), file());
        std::fs::write(stdin.path(), input).expect("the stdin file is written");
        let mut child = self
            .command(args)
            .stdin(stdin.reopen().expect("stdin file reopens"))
            .stdout(out.reopen().expect("stdout file reopens"))
            .stderr(err.reopen().expect("stderr file reopens"))
            .spawn()
            .expect("the fleetrun binary starts");
        let status =
            self.wait_for(&format!("fleetrun {args:?} to exit"), || child.try_wait().expect("waiting for fleetrun"));
        CliRun {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(out.path()).expect("stdout is UTF-8"),
            stderr: std::fs::read_to_string(err.path()).expect("stderr is UTF-8"),
        }
    }

    /// The dev server's data directory (for `fleetrun keys`).
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("dev")
    }

    /// `fleetrun ARGS` set up as a client of this fleet, for tests that need to drive the process
    /// themselves (pipes, signals). The caller must wait for it.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(FLEETRUN);
        command.args(args).env_clear();
        for name in CLIENT_VARIABLES {
            command.env(name, &self.env[name]);
        }
        command
    }

    /// Calls `check` until it returns `Some`, or panics after `START_TIMEOUT` naming `what` and showing
    /// the end of every log.
    #[track_caller]
    pub(crate) fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(value) = check() {
                return value;
            }
            if Instant::now() > deadline {
                panic!("timed out after {START_TIMEOUT:?} waiting for {what}\n{}", self.logs());
            }
            std::thread::sleep(POLL);
        }
    }

    /// The last lines of every process's log, for failure messages.
    pub(crate) fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- {}:\n{}", p.log.display(), tail(&p.log, 30)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What one run of the CLI did.
#[derive(Debug)]
pub(crate) struct CliRun {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl CliRun {
    /// stdout as JSON; panics with the whole run when it is not.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:#?}"))
    }

    /// Panics with the whole run unless the exit code is `code`.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &CliRun {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }
}

/// Runs the CLI `command` without any variables of this process and with no `AWS_*` set.
#[track_caller]
pub(crate) fn fleetrun_without_env(args: &[&str]) -> CliRun {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut command = Command::new(FLEETRUN);
    command.args(args).env_clear();
    cli(command, dir.path())
}

/// Runs `command` with stdout and stderr in files under `dir` (pipes would need reader threads to avoid
/// filling up), killing it after `CLI_TIMEOUT`.
#[track_caller]
fn cli(mut command: Command, dir: &Path) -> CliRun {
    let out = tempfile::NamedTempFile::new_in(dir).expect("a stdout file");
    let err = tempfile::NamedTempFile::new_in(dir).expect("a stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("stdout file reopens"))
        .stderr(err.reopen().expect("stderr file reopens"))
        .spawn()
        .expect("the fleetrun binary starts");
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for fleetrun") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "fleetrun {:?} did not finish within {CLI_TIMEOUT:?}; stderr:\n{}",
                command.get_args().collect::<Vec<_>>(),
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(POLL);
    };
    CliRun {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out.path()).expect("stdout is UTF-8"),
        stderr: std::fs::read_to_string(err.path()).expect("stderr is UTF-8"),
    }
}

fn log_file(path: &Path) -> File {
    File::options().create(true).append(true).open(path).expect("a log file")
}

/// dev.env's variables, once it holds all of them (it may be read while being written).
fn read_dev_env(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let env: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect();
    let complete = CLIENT_VARIABLES
        .iter()
        .chain(&["FLEETRUN_SERVER", "FLEETRUN_ACTIVATION_ID", "FLEETRUN_ACTIVATION_CODE", "FLEETRUN_DEV_INSTANCE_ID"])
        .all(|name| env.get(*name).is_some_and(|value| !value.is_empty()));
    complete.then_some(env)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether the aws CLI (v1 or v2) runs here; tests that need it to set up the server skip without it.
pub(crate) fn has_aws_cli() -> bool {
    Command::new("aws").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Fleet {
    /// Creates a document with `aws ssm create-document` against this fleet (the CLI has no command for
    /// it). Panics with the aws CLI's output when that fails.
    #[track_caller]
    pub(crate) fn create_document(&self, name: &str, document_type: &str, format: &str, content: &str) {
        let file = tempfile::NamedTempFile::new_in(self.dir.path()).expect("a document file");
        std::fs::write(file.path(), content).expect("the document file is written");
        let mut command = Command::new("aws");
        command
            .args(["ssm", "create-document", "--name", name, "--document-type", document_type])
            .args(["--document-format", format, "--content"])
            .arg(format!("file://{}", file.path().display()))
            // The aws CLI needs PATH and HOME, but no profile of whoever runs the tests.
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("no-aws-credentials"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        for name in CLIENT_VARIABLES {
            command.env(name, &self.env[name]);
        }
        let run = cli(command, self.dir.path());
        assert_eq!(run.code, 0, "aws ssm create-document {name} failed: {run:#?}");
    }
}
