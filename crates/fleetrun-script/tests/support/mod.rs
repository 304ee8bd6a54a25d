//! Shared set-up for the integration tests: a private work root per test (so that each test can
//! check its run directory was deleted), requests with SSM-like defaults, and process probes.
//!
//! Not a test harness for other crates; `fleetrun-testkit` is the place for that if one is needed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetrun_script::{Interpreters, Limits, Runtime, ScriptHost, ScriptOutcome, ScriptRequest};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Longest any single run may take in a test before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A host whose run directories go to a private temporary directory.
pub(crate) struct Fixture {
    pub(crate) host: ScriptHost,
    work_root: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new(interpreters: Interpreters) -> Fixture {
        let work_root = tempfile::tempdir().expect("create the work root");
        let host = ScriptHost { interpreters, limits: Limits::default(), work_root: work_root.path().to_path_buf() };
        Fixture { host, work_root }
    }

    pub(crate) async fn run(&self, request: &ScriptRequest) -> ScriptOutcome {
        self.run_cancellable(request, CancellationToken::new()).await
    }

    /// Runs the request and checks that its run directory is gone afterwards.
    pub(crate) async fn run_cancellable(&self, request: &ScriptRequest, cancel: CancellationToken) -> ScriptOutcome {
        let outcome = tokio::time::timeout(RUN_LIMIT, fleetrun_script::run(request, &self.host, cancel))
            .await
            .expect("the run did not end within a minute");
        let left: Vec<_> =
            std::fs::read_dir(self.work_root.path()).unwrap().map(|entry| entry.unwrap().path()).collect();
        assert!(left.is_empty(), "run directories left behind: {left:?}");
        outcome
    }
}

/// An SSM-like request with an inline script and nothing else.
pub(crate) fn request(runtime: Runtime, script: &str, handler: Option<&str>) -> ScriptRequest {
    ScriptRequest {
        runtime,
        handler: handler.map(str::to_owned),
        script: Some(script.to_owned()),
        attachment: None,
        input_payload: json!({}),
        context: json!({
            "automation:EXECUTION_ID": "4105a4fc-f944-11e6-9d32-0123456789ab",
            "automation:DOCUMENT_NAME": "MyRunbook",
        }),
        timeout: Duration::from_secs(30),
        env: Vec::new(),
    }
}

/// This process's `PATH` with `dir` in front.
pub(crate) fn search_path_with(dir: &Path) -> OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest))).unwrap()
}

/// Polls for `path` to exist, failing the test after `limit`.
#[allow(dead_code, reason = "used by some of the test binaries only")]
pub(crate) async fn wait_for_file(path: &Path, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while !path.exists() {
        assert!(tokio::time::Instant::now() < deadline, "{} did not appear within {limit:?}", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether process `pid` has exited (it may linger as a zombie of whoever adopted it).
#[allow(dead_code, reason = "used by some of the test binaries only")]
pub(crate) fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// The fixture directory `tests/fixtures/<name>`.
#[allow(dead_code, reason = "used by some of the test binaries only")]
pub(crate) fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The payload of a successful outcome, or a test failure showing the whole outcome.
#[track_caller]
#[allow(dead_code, reason = "used by some of the test binaries only")]
pub(crate) fn payload(outcome: &ScriptOutcome) -> &Value {
    match (&outcome.status, &outcome.payload) {
        (fleetrun_script::ScriptStatus::Success, Some(payload)) => payload,
        _ => panic!("expected success, got {outcome:#?}"),
    }
}

/// The failure message of a failed outcome, or a test failure showing the whole outcome.
#[track_caller]
#[allow(dead_code, reason = "used by some of the test binaries only")]
pub(crate) fn failure(outcome: &ScriptOutcome) -> &str {
    match (&outcome.status, &outcome.failure) {
        (fleetrun_script::ScriptStatus::Failed, Some(failure)) => failure,
        _ => panic!("expected a failure, got {outcome:#?}"),
    }
}
