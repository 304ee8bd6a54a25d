//! Tests of step execution against a fake control plane: SecureString references resolved through
//! the agent API, passed in the environment, masked in every byte that leaves the step, and refused
//! without running anything.
//!
//! The fake server is a few lines of HTTP/1.1 over a TCP listener: it records every request, answers
//! the secure-parameters call as the test says, and accepts output uploads. It checks no signature.
//! These are not tests of the server's access rules (the server's own tests hold those).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetrun_proto::{Assignment, PATH_OUTPUT, PATH_SECURE_PARAMETERS};
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Upper bound for any single run in these tests.
const LIMIT: Duration = Duration::from_secs(30);
const SECRET: &str = "s3cr3t-value";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// What the fake server answers to the secure-parameters call: a status and a JSON body.
#[derive(Clone)]
struct Reply(u16, String);

struct FakeServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeServer {
    async fn start(reply: Reply) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, reply.clone(), recorded.clone()));
            }
        });
        FakeServer { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    fn secure_calls(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path == PATH_SECURE_PARAMETERS).collect()
    }

    fn uploads(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path.starts_with(PATH_OUTPUT)).collect()
    }
}

/// Serves one request and closes the connection.
async fn serve(stream: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let (status, text) = if path == PATH_SECURE_PARAMETERS { (reply.0, reply.1) } else { (200, "{}".to_owned()) };
    requests.lock().expect("lock").push(Request { method, path, body });
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes()).await;
}

fn values(values: &[(&str, &str)]) -> Reply {
    let values: Vec<_> = values.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    Reply(200, json!({ "values": values }).to_string())
}

/// An agent state directory and the context of an agent using `server`.
struct Fixture {
    tmp: TempDir,
    ctx: Context,
}

impl Fixture {
    fn new(server: &FakeServer) -> Fixture {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let work_dir = tmp.path().join("orchestration");
        std::fs::create_dir_all(&work_dir).expect("work dir");
        let ctx = Context {
            server: Server::new(&server.url, "AKIDTEST", "test-secret"),
            journal: Journal::open(tmp.path()).expect("journal"),
            work_dir,
            instance_id: "mi-0123456789abcdef0".into(),
            platform_type: "Linux".into(),
            kill_grace: Duration::from_secs(2),
            max_output_bytes: 1 << 20,
            download: crate::download::NodeConfig::default(),
        };
        Fixture { tmp, ctx }
    }

    fn step_dir(&self) -> PathBuf {
        self.ctx.work_dir.join("cmd-1").join("0")
    }

    async fn run(&self, inputs: serde_json::Value) -> StepResult {
        self.run_entry(entry(inputs)).await
    }

    async fn run_entry(&self, entry: Entry) -> StepResult {
        let run = run(&self.ctx, entry, CancellationToken::new());
        let mut entry = tokio::time::timeout(LIMIT, run).await.expect("the invocation ends in time");
        assert_eq!(entry.results.len(), 1);
        entry.results.remove(0)
    }

    /// Asserts that no file under the state directory holds `needle`.
    #[track_caller]
    fn assert_nowhere_on_disk(&self, needle: &str) {
        for file in files_under(self.tmp.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let found = bytes.windows(needle.len()).any(|window| window == needle.as_bytes());
            assert!(!found, "{} holds the secret", file.display());
        }
    }
}

fn entry(inputs: serde_json::Value) -> Entry {
    let step =
        AssignedStep { name: "runShellScript".into(), action: "aws:runShellScript".into(), inputs, precondition: None };
    let assignment = Assignment {
        command_id: "cmd-1".into(),
        document_name: "AWS-RunShellScript".into(),
        steps: vec![step],
        output_s3: None,
    };
    Entry { assignment, results: Vec::new(), current: None }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(files_under(&path)) } else { files.push(path) }
    }
    files
}

#[tokio::test]
async fn a_script_without_references_calls_no_secure_endpoint() {
    let server = FakeServer::start(Reply(500, "{}".into())).await;
    let fixture = Fixture::new(&server);
    let result = fixture.run(json!({ "runCommand": ["echo hi {{ssm:plain}}"] })).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Success, 0));
    assert_eq!(result.stdout_head, "hi {{ssm:plain}}\n");
    assert!(server.secure_calls().is_empty());
    let journal = fixture.ctx.journal.load_all();
    assert!(journal[0].current.is_none() && journal[0].results.len() == 1);
}

#[tokio::test]
async fn secure_references_reach_the_script_and_nothing_else() {
    let server = FakeServer::start(values(&[("db/password", SECRET), ("/prod/token:3", "other-token")])).await;
    let fixture = Fixture::new(&server);
    let script = [
        "echo \"pw={{ssm-secure:db/password}}\"",
        "echo \"pw={{ ssm-secure:db/password }} token={{ssm-secure:/prod/token:3}}\" >&2",
        "printf '%s\\n' \"{{ssm-secure:db/password}}\" | tr 'a-z' 'A-Z'",
        "echo '{{ssm-secure:db/password}}'",
    ];
    let result = fixture.run(json!({ "runCommand": script })).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Success, 0), "{result:?}");
    // The script saw the value (upper-cased, it is not masked), inside single quotes only the
    // variable reference.
    assert_eq!(result.stdout_head, "pw=****\nS3CR3T-VALUE\n${FLEETRUN_SECURE_1}\n");
    assert_eq!(result.stderr_head, "pw=**** token=****\n");

    let calls = server.secure_calls();
    assert_eq!(calls.len(), 1, "one call per step");
    let body: serde_json::Value = serde_json::from_slice(&calls[0].body).expect("json request");
    assert_eq!(body, json!({ "command_id": "cmd-1", "names": ["db/password", "/prod/token:3"] }));
    assert_eq!(calls[0].method, "POST");

    let uploads = server.uploads();
    assert_eq!(uploads.len(), 2, "stdout and stderr are uploaded");
    for upload in &uploads {
        let text = String::from_utf8_lossy(&upload.body);
        assert!(text.contains("****") && !text.contains(SECRET) && !text.contains("other-token"), "{text}");
    }
    let script_file = std::fs::read_to_string(fixture.step_dir().join(runner::SCRIPT_FILE)).expect("script");
    assert!(script_file.contains("\"pw=${FLEETRUN_SECURE_1}\""), "{script_file}");
    assert!(script_file.contains("token=${FLEETRUN_SECURE_2}"), "{script_file}");
    fixture.assert_nowhere_on_disk(SECRET);
    fixture.assert_nowhere_on_disk("other-token");
    assert!(fixture.ctx.journal.load_all()[0].results.len() == 1);
}

#[tokio::test]
async fn a_refusal_fails_the_step_without_running_it() {
    let refusal = json!({ "code": "AccessDenied", "message": "the command does not reference db/other" });
    let server = FakeServer::start(Reply(400, refusal.to_string())).await;
    let fixture = Fixture::new(&server);
    let result = fixture.run(json!({ "runCommand": ["touch ran", "echo {{ssm-secure:db/other}}"] })).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Failed, 1));
    let stderr = &result.stderr_head;
    assert!(stderr.contains("{{ssm-secure:db/other}}"), "{stderr}");
    assert!(stderr.contains("the command does not reference db/other"), "{stderr}");
    assert_eq!(server.secure_calls().len(), 1, "a refusal is not retried");
    assert!(server.uploads().is_empty());
    assert!(!fixture.step_dir().exists(), "nothing was written or run");
}

#[tokio::test]
async fn a_server_error_is_retried_then_fails_the_step() {
    let error = json!({ "code": "InternalError", "message": "boom" });
    let server = FakeServer::start(Reply(500, error.to_string())).await;
    let fixture = Fixture::new(&server);
    let result = fixture.run(json!({ "runCommand": ["echo {{ssm-secure:db/password}}"] })).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Failed, 1));
    assert!(result.stderr_head.contains("could not be reached: boom"), "{}", result.stderr_head);
    assert_eq!(server.secure_calls().len(), 3);
    assert!(!fixture.step_dir().exists());
}

#[tokio::test]
async fn an_answer_that_does_not_fit_is_not_quoted() {
    for reply in
        [Reply(200, json!({ "values": SECRET }).to_string()), values(&[("db/password", SECRET), ("extra", SECRET)])]
    {
        let server = FakeServer::start(reply).await;
        let fixture = Fixture::new(&server);
        let result = fixture.run(json!({ "runCommand": ["echo {{ssm-secure:db/password}}"] })).await;
        assert_eq!((result.status, result.exit_code), (StepStatus::Failed, 1));
        assert!(result.stderr_head.contains("{{ssm-secure:db/password}}"), "{}", result.stderr_head);
        assert!(!result.stderr_head.contains(SECRET), "{}", result.stderr_head);
        fixture.assert_nowhere_on_disk(SECRET);
    }
}

#[tokio::test]
async fn a_reference_in_the_working_directory_is_refused_without_calling_the_server() {
    let server = FakeServer::start(values(&[("dir", "secret-dir")])).await;
    let fixture = Fixture::new(&server);
    let inputs = json!({ "runCommand": ["pwd"], "workingDirectory": "/tmp/{{ssm-secure:dir}}" });
    let result = fixture.run(inputs).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Failed, 1));
    assert!(result.stderr_head.contains("workingDirectory"), "{}", result.stderr_head);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_masked_step_found_after_a_restart_is_stopped_and_failed() {
    let server = FakeServer::start(Reply(500, "{}".into())).await;
    let fixture = Fixture::new(&server);
    // A masked step started by the "previous agent process", which then died.
    let spec = RunSpec {
        dir: fixture.step_dir(),
        script: "echo \"partial $FLEETRUN_SECURE_1\"\nsleep 1000\n".into(),
        script_file: runner::SCRIPT_FILE,
        workdir: fixture.tmp.path().to_path_buf(),
        env: Vec::new(),
        secret_env: vec![("FLEETRUN_SECURE_1".into(), SECRET.to_owned().into())],
        timeout: Duration::from_secs(60),
    };
    let running = runner::start(&spec).await.expect("start");
    let pid = running.pid;
    drop(running);
    let stdout = fixture.step_dir().join(runner::STDOUT_FILE);
    tokio::time::timeout(LIMIT, async {
        while std::fs::read_to_string(&stdout).unwrap_or_default().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the step prints");

    let mut entry = entry(json!({ "runCommand": ["unused"] }));
    let now = now_ms();
    entry.current = Some(CurrentStep { idx: 0, pid, started_ms: now, deadline_ms: now + 60_000, masked: true });
    let result = fixture.run_entry(entry).await;
    assert_eq!((result.status, result.exit_code), (StepStatus::Failed, -1));
    assert_eq!(result.stdout_head, "partial ****\n");
    assert!(result.stderr_head.contains("could not be masked any more, so it was stopped"), "{}", result.stderr_head);
    // The wrapper was this process's child: it is gone or a zombie now (the test does not reap it).
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
        assert!(matches!(state, None | Some("Z" | "X")), "the step's wrapper still runs: {stat}");
    }
    assert!(server.secure_calls().is_empty());
    fixture.assert_nowhere_on_disk(SECRET);
}

#[test]
fn a_powershell_step_runs_its_script_as_a_ps1_file_through_pwsh() {
    let (prepared, file) = Shell::PowerShell.prepare("Write-Output \"{{ssm-secure:db/pw}}\"\nexit 3\n");
    assert_eq!(file, runner::POWERSHELL_SCRIPT_FILE);
    assert_eq!(
        prepared.script,
        "#!/usr/bin/env -S pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File\n\
         Write-Output \"$env:FLEETRUN_SECURE_1\"\nexit 3\n"
    );
    assert_eq!(prepared.targets, ["db/pw"]);
    let (shell, file) = Shell::Sh.prepare("echo \"{{ssm-secure:db/pw}}\"\n");
    assert_eq!((shell.script.as_str(), file), ("echo \"${FLEETRUN_SECURE_1}\"\n", runner::SCRIPT_FILE));
}

/// A stand-in `pwsh` (a shell script that records its arguments) runs the step as the kernel would run the
/// real one from the script's `#!` line; the real PowerShell cannot be installed where these tests run.
#[tokio::test]
async fn a_powershell_step_hands_its_script_to_pwsh_with_the_expected_arguments() {
    use std::os::unix::fs::PermissionsExt;
    let server = FakeServer::start(Reply(500, "{}".into())).await;
    let fixture = Fixture::new(&server);
    let bin = fixture.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let fake = bin.join("pwsh");
    std::fs::write(&fake, "#!/bin/sh\nprintf 'pwsh got:'; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; echo\n")
        .expect("fake pwsh");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    // The step's environment comes from the agent's; PATH decides which pwsh `env` finds.
    let spec = RunSpec {
        dir: fixture.step_dir(),
        script: Shell::PowerShell.prepare("Write-Output hi\n").0.script,
        script_file: runner::POWERSHELL_SCRIPT_FILE,
        workdir: fixture.tmp.path().to_path_buf(),
        env: vec![("PATH".into(), path)],
        secret_env: Vec::new(),
        timeout: Duration::from_secs(30),
    };
    let running = runner::start(&spec).await.expect("start");
    let outcome =
        running.wait(tokio::time::Instant::now() + LIMIT, CancellationToken::new(), Duration::from_secs(1)).await;
    assert_eq!(outcome, runner::Outcome::Exited { code: 0 });
    let stdout = std::fs::read_to_string(fixture.step_dir().join(runner::STDOUT_FILE)).expect("stdout");
    let script = fixture.step_dir().join(runner::POWERSHELL_SCRIPT_FILE);
    assert_eq!(
        stdout,
        format!(
            "pwsh got: [-NoProfile] [-NonInteractive] [-ExecutionPolicy] [Bypass] [-File] [{}]\n",
            script.display()
        )
    );
}
