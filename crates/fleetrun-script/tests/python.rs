//! Python handlers run by real `python3` processes: the SSM handler contract, attachments, failure
//! reporting, SSM's payload limits, timeouts and cancellation of whole process trees, the scrubbed
//! environment, rlimits and interpreter choice.
//!
//! Most tests run the real interpreter behind `python3` through a symlink named `python3.<minor>`
//! in a private directory, so that the runtime's exact-version lookup finds it without version
//! managers' shims (which add their own environment variables) in between.

mod support;

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use fleetrun_script::{Attachment, Interpreters, Runtime, ScriptRequest, ScriptStatus};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Fixture, failure, payload, process_gone, request, search_path_with};
use tokio_util::sync::CancellationToken;

/// The interpreter `python3` on this machine runs: its minor version and real executable.
fn host_python() -> &'static (u32, PathBuf) {
    static PYTHON: OnceLock<(u32, PathBuf)> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.version_info[1]); print(sys.executable)"])
            .output()
            .expect("python3 must be installed to run these tests");
        let text = String::from_utf8(output.stdout).unwrap();
        let (minor, executable) = text.trim().split_once('\n').expect("minor version and executable");
        (minor.parse().unwrap(), PathBuf::from(executable))
    })
}

/// A directory holding `python3.<minor>` → the real interpreter, and a fixture that searches it
/// first. The directory must outlive the fixture.
fn exact_python() -> (tempfile::TempDir, Fixture, Runtime) {
    let (minor, executable) = host_python();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(executable, bin.path().join(format!("python3.{minor}"))).unwrap();
    let interpreters = Interpreters { search_path: search_path_with(bin.path()), ..Interpreters::default() };
    (bin, Fixture::new(interpreters), Runtime::Python { minor: *minor })
}

fn attachment(name: &str, bytes: Vec<u8>) -> Attachment {
    let expected_sha256 = hex::encode(Sha256::digest(&bytes));
    Attachment { name: name.to_owned(), bytes, expected_sha256 }
}

fn attachment_request(runtime: Runtime, handler: &str, attachment: Attachment) -> ScriptRequest {
    ScriptRequest { script: None, attachment: Some(attachment), ..request(runtime, "", Some(handler)) }
}

/// The handler of the `aws:executeScript` example in the SSM user guide, with the `boto3` call
/// replaced by arithmetic: `events` in, a dict out, `print` to the log.
#[tokio::test]
async fn ssm_documentation_example() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "\
def script_handler(events, context):
    print('Hello from', context['automation:EXECUTION_ID'])
    return {'message': 'Hello', 'doubled': events['parameter'] * 2, 'document': context['automation:DOCUMENT_NAME']}
";
    let mut step = request(runtime, script, Some("script_handler"));
    step.input_payload = json!({ "parameter": 21 });
    let outcome = fixture.run(&step).await;
    assert_eq!(payload(&outcome), &json!({ "message": "Hello", "doubled": 42, "document": "MyRunbook" }));
    assert_eq!(outcome.stdout, "Hello from 4105a4fc-f944-11e6-9d32-0123456789ab\n");
    assert_eq!(outcome.failure, None);
}

#[tokio::test]
async fn py_attachment_with_file_dot_function_handler() {
    let (_bin, fixture, runtime) = exact_python();
    let code = b"import os\n\ndef handler(events, context):\n    return {'file': os.path.basename(__file__), 'n': events['n']}\n";
    let mut step = attachment_request(runtime, "my_module.handler", attachment("my_module.py", code.to_vec()));
    step.input_payload = json!({ "n": 7 });
    let outcome = fixture.run(&step).await;
    assert_eq!(payload(&outcome), &json!({ "file": "my_module.py", "n": 7 }));
}

#[tokio::test]
async fn zip_attachment_with_a_package_and_sibling_modules() {
    let (_bin, fixture, runtime) = exact_python();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let files: [(&str, &str); 5] = [
        ("__init__.py", ""),
        (
            "main.py",
            "import helper\nfrom lib import tools\n\ndef handler(events, context):\n    return helper.greet(tools.name(events))\n",
        ),
        (
            "helper.py",
            "import json, os\n\ndef greet(name):\n    with open(os.path.join(os.path.dirname(__file__), 'data.json')) as f:\n        return {'greeting': json.load(f)['word'] + ', ' + name}\n",
        ),
        ("lib/__init__.py", ""),
        ("lib/tools.py", "def name(events):\n    return events['who']\n"),
    ];
    for (name, text) in files {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("data.json", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(br#"{"word": "Hello"}"#).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let mut step = attachment_request(runtime, "main.handler", attachment("bundle.zip", bytes));
    step.input_payload = json!({ "who": "fleetrun" });
    let outcome = fixture.run(&step).await;
    assert_eq!(payload(&outcome), &json!({ "greeting": "Hello, fleetrun" }));
}

#[tokio::test]
async fn checksum_mismatch_is_refused_before_anything_runs() {
    let (_bin, fixture, runtime) = exact_python();
    let marker = tempfile::tempdir().unwrap();
    let marker_path = marker.path().join("ran");
    let code = format!("open({:?}, 'w').close()\n\ndef handler(events, context):\n    return 1\n", marker_path);
    let mut bad = attachment("tool.py", code.into_bytes());
    bad.expected_sha256 = "00".repeat(32);
    let outcome = fixture.run(&attachment_request(runtime, "tool.handler", bad)).await;
    let message = failure(&outcome);
    assert!(message.starts_with("attachment tool.py: its SHA-256 is "), "{message}");
    assert!(message.contains(&format!("but the runbook declares {}", "00".repeat(32))), "{message}");
    assert!(!marker_path.exists(), "the attachment ran");
    assert_eq!(outcome.interpreter, "", "no interpreter may be started");
}

#[tokio::test]
async fn exception_reports_the_customer_traceback() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "def parse_event(events, context):\n    print('parsing')\n    my_control_id = events['expected_control_id']\n    return my_control_id\n";
    let outcome = fixture.run(&request(runtime, script, Some("parse_event"))).await;
    let traceback = failure(&outcome);
    assert!(traceback.starts_with("Traceback (most recent call last):\n"), "{traceback}");
    assert!(traceback.contains("customer_script.py\", line 3, in parse_event\n"), "{traceback}");
    assert!(traceback.contains("my_control_id = events['expected_control_id']"), "{traceback}");
    assert!(traceback.ends_with("KeyError: 'expected_control_id'\n"), "{traceback}");
    assert!(!traceback.contains("wrapper.py") && !traceback.contains("importlib"), "{traceback}");
    assert_eq!(outcome.stdout, "parsing\n");
}

#[tokio::test]
async fn syntax_errors_and_missing_handlers_are_reported_clearly() {
    let (_bin, fixture, runtime) = exact_python();
    let outcome = fixture.run(&request(runtime, "def handler(events, context)\n    return 1\n", Some("handler"))).await;
    let message = failure(&outcome);
    assert!(message.contains("customer_script.py\", line 1") && message.contains("SyntaxError"), "{message}");

    let outcome = fixture.run(&request(runtime, "def handler(events, context):\n    return 1\n", Some("hadler"))).await;
    assert_eq!(failure(&outcome), "handler 'hadler': module 'customer_script' has no function 'hadler'");

    let outcome = fixture.run(&request(runtime, "handler = 3\n", Some("handler"))).await;
    assert_eq!(failure(&outcome), "handler 'handler' is a int, not a function");

    let step = attachment_request(runtime, "missing.handler", attachment("tool.py", b"x = 1\n".to_vec()));
    assert_eq!(failure(&fixture.run(&step).await), "ModuleNotFoundError: No module named 'missing'\n");
}

#[tokio::test]
async fn non_serialisable_return_value() {
    let (_bin, fixture, runtime) = exact_python();
    let outcome =
        fixture.run(&request(runtime, "def handler(events, context):\n    return {1, 2}\n", Some("handler"))).await;
    assert_eq!(
        failure(&outcome),
        "the handler returned a set, which is not JSON-serialisable: Object of type set is not JSON serializable"
    );
    let outcome = fixture
        .run(&request(runtime, "def handler(events, context):\n    return float('nan')\n", Some("handler")))
        .await;
    assert!(failure(&outcome).starts_with("the handler returned a float, which is not JSON-serialisable"));
}

#[tokio::test]
async fn returning_nothing_is_a_null_payload() {
    let (_bin, fixture, runtime) = exact_python();
    let outcome = fixture.run(&request(runtime, "def handler(events, context):\n    pass\n", Some("handler"))).await;
    assert_eq!(payload(&outcome), &Value::Null);
}

#[tokio::test]
async fn payload_over_100_kb_fails() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "def handler(events, context):\n    return 'x' * 110000\n";
    let outcome = fixture.run(&request(runtime, script, Some("handler"))).await;
    assert_eq!(
        failure(&outcome),
        "the handler's return value is 110002 bytes of JSON; aws:executeScript allows at most 102400"
    );
    let script = "def handler(events, context):\n    return 'é' * 50000\n";
    assert_eq!(
        payload(&fixture.run(&request(runtime, script, Some("handler"))).await).as_str().unwrap().len(),
        100_000
    );
}

#[tokio::test]
async fn top_level_list_is_truncated_to_100_items() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "def handler(events, context):\n    return [{'i': i} for i in range(150)]\n";
    let outcome = fixture.run(&request(runtime, script, Some("handler"))).await;
    let items = payload(&outcome).as_array().unwrap();
    assert_eq!(items.len(), 100);
    assert_eq!((&items[0], &items[99]), (&json!({ "i": 0 }), &json!({ "i": 99 })));
}

/// The handler ignores SIGTERM (and so does its `sleep` child, which inherits the disposition), so
/// only SIGKILL after the grace period ends them.
#[tokio::test]
async fn timeout_kills_the_whole_process_tree() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "\
import os, signal, subprocess, time
def handler(events, context):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(['sleep', '1000'])
    print(os.getpid(), child.pid, flush=True)
    time.sleep(60)
";
    let mut step = request(runtime, script, Some("handler"));
    step.timeout = Duration::from_secs(1);
    let outcome = fixture.run(&step).await;
    assert_eq!(outcome.status, ScriptStatus::TimedOut, "{outcome:#?}");
    assert_eq!(outcome.failure.as_deref(), Some("the script did not finish within 1 s"));
    assert!(outcome.duration >= Duration::from_secs(3), "SIGKILL came before the grace period: {outcome:#?}");
    let pids: Vec<u32> = outcome.stdout.split_whitespace().map(|pid| pid.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{outcome:#?}");
    for pid in pids {
        assert!(process_gone(pid), "process {pid} survived the timeout");
    }
}

/// A handler that returns while a subprocess still runs does not leave it behind.
#[tokio::test]
async fn background_children_of_a_finished_handler_are_killed() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "\
import subprocess
def handler(events, context):
    return subprocess.Popen(['sleep', '1000']).pid
";
    let outcome = fixture.run(&request(runtime, script, Some("handler"))).await;
    let pid = payload(&outcome).as_u64().unwrap();
    assert!(process_gone(u32::try_from(pid).unwrap()), "the handler's child {pid} survived");
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:#?}");
}

#[tokio::test]
async fn cancel_kills_a_running_handler() {
    let (_bin, fixture, runtime) = exact_python();
    let scratch = tempfile::tempdir().unwrap();
    let ready = scratch.path().join("ready");
    let script = "\
import os, time
def handler(events, context):
    open(os.environ['READY_FILE'], 'w').close()
    time.sleep(60)
";
    let mut step = request(runtime, script, Some("handler"));
    step.env = vec![("READY_FILE".to_owned(), ready.to_str().unwrap().to_owned())];
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            support::wait_for_file(&ready, Duration::from_secs(30)).await;
            cancel.cancel();
        })
    };
    let outcome = fixture.run_cancellable(&step, cancel).await;
    canceller.await.unwrap();
    assert_eq!(outcome.status, ScriptStatus::Cancelled, "{outcome:#?}");
    assert_eq!(outcome.payload, None);
    assert!(outcome.duration < Duration::from_secs(20), "{outcome:#?}");

    // A token cancelled before the call runs nothing.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = fixture.run_cancellable(&step, cancel).await;
    assert_eq!((outcome.status, outcome.interpreter.as_str()), (ScriptStatus::Cancelled, ""));
}

/// `CARGO_MANIFEST_DIR` is set in this test process by cargo (a variable set here with
/// `std::env::set_var` would race with other test threads), so it stands for the server's own
/// environment, which must not reach the script.
#[tokio::test]
async fn environment_is_scrubbed() {
    let (_bin, fixture, runtime) = exact_python();
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some(), "cargo sets CARGO_MANIFEST_DIR for tests");
    let script =
        "import os\n\ndef handler(events, context):\n    return {'env': dict(os.environ), 'cwd': os.getcwd()}\n";
    let mut step = request(runtime, script, Some("handler"));
    step.env = vec![("AWS_REGION".to_owned(), "eu-west-1".to_owned())];
    let outcome = fixture.run(&step).await;
    let result = payload(&outcome);
    let env = result["env"].as_object().unwrap();
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["AWS_REGION", "HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "TMPDIR"],
        "{env:#?}"
    );
    let cwd = PathBuf::from(result["cwd"].as_str().unwrap());
    let home = cwd.parent().unwrap().to_str().unwrap();
    assert_eq!((env["HOME"].as_str(), env["TMPDIR"].as_str()), (Some(home), Some(home)));
    assert_eq!(env["LANG"], "C.UTF-8");
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["PATH"].as_str(), fixture.host.interpreters.search_path.to_str());
    assert!(home.starts_with(fixture.host.work_root.to_str().unwrap()), "{home}");
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_and_bounded() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "\
import sys
def handler(events, context):
    print('to stdout')
    print('to stderr', file=sys.stderr)
    sys.stderr.write('e' * 100000)
    return 1
";
    let outcome = fixture.run(&request(runtime, script, Some("handler"))).await;
    assert_eq!(payload(&outcome), &json!(1));
    assert_eq!(outcome.stdout, "to stdout\n");
    let kept = 64 * 1024;
    assert!(outcome.stderr.starts_with("to stderr\neeee"), "{}", &outcome.stderr[..40]);
    let dropped = "to stderr\n".len() + 100_000 - kept;
    assert!(
        outcome.stderr.ends_with(&format!("e\n[fleetrun: output truncated, {dropped} more bytes not kept]\n")),
        "{}",
        &outcome.stderr[kept - 10..]
    );
}

#[tokio::test]
async fn rlimits_are_applied() {
    let (_bin, fixture, runtime) = exact_python();
    let script = "\
import resource
def handler(events, context):
    return {name: resource.getrlimit(getattr(resource, name)) for name in ['RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_NOFILE']}
";
    let mut step = request(runtime, script, Some("handler"));
    step.timeout = Duration::from_secs(7);
    let outcome = fixture.run(&step).await;
    let limits = payload(&outcome);
    assert_eq!(limits["RLIMIT_AS"], json!([1 << 30, 1 << 30]));
    assert_eq!(limits["RLIMIT_CORE"], json!([0, 0]));
    assert_eq!(limits["RLIMIT_CPU"], json!([12, 13]));
    // This host's hard limit on open files is above 1024; on a host with a lower one, the limit stays at it.
    assert_eq!(limits["RLIMIT_NOFILE"], json!([1024, 1024]));

    let script = "def handler(events, context):\n    return len(bytearray(2 * 1024 ** 3))\n";
    let message = failure(&fixture.run(&request(runtime, script, Some("handler"))).await).to_owned();
    assert!(message.contains("MemoryError"), "{message}");
}

#[tokio::test]
async fn interpreter_dying_before_the_handler_returns() {
    let (_bin, fixture, runtime) = exact_python();
    let script =
        "import os, sys\n\ndef handler(events, context):\n    sys.stderr.write('going down\\n')\n    os._exit(3)\n";
    let outcome = fixture.run(&request(runtime, script, Some("handler"))).await;
    let message = failure(&outcome);
    assert!(
        message.contains(" exited with status 3 before the handler returned; stderr ends with:\ngoing down"),
        "{message}"
    );
}

#[tokio::test]
async fn exact_interpreter_is_recorded() {
    let (bin, fixture, runtime) = exact_python();
    let outcome = fixture.run(&request(runtime, "def h(e, c):\n    return 1\n", Some("h"))).await;
    let expected_path = bin.path().join(format!("{runtime}"));
    let (path, version) = outcome.interpreter.split_once(" (").unwrap();
    assert_eq!(path, expected_path.to_str().unwrap());
    let (minor, _) = host_python();
    assert!(version.starts_with(&format!("3.{minor}.")), "{}", outcome.interpreter);
}

/// `python3.40` in the fixture directory exits with 127 the way a pyenv shim for a version that is
/// not selected does; the runtime falls back to `python3`.
#[tokio::test]
async fn missing_or_broken_exact_interpreter_falls_back_to_python3() {
    let search_path = search_path_with(&support::fixture_dir("broken-python"));
    let fixture = Fixture::new(Interpreters { search_path, ..Interpreters::default() });
    for runtime in [Runtime::Python { minor: 40 }, Runtime::Python { minor: 99 }] {
        let outcome = fixture.run(&request(runtime, "def h(e, c):\n    return 1\n", Some("h"))).await;
        assert_eq!(payload(&outcome), &json!(1));
        let (path, _) = outcome.interpreter.split_once(" (").unwrap();
        assert!(path.ends_with("/python3"), "{runtime}: {}", outcome.interpreter);
    }
}

#[tokio::test]
async fn no_interpreter_at_all() {
    let empty = tempfile::tempdir().unwrap();
    let interpreters = Interpreters { search_path: empty.path().as_os_str().to_owned(), ..Interpreters::default() };
    let fixture = Fixture::new(interpreters);
    let outcome = fixture.run(&request(Runtime::Python { minor: 11 }, "def h(e, c):\n    pass\n", Some("h"))).await;
    assert_eq!(
        failure(&outcome),
        "runtime python3.11 needs a Python interpreter, but python3.11 is not on the search path and python3 is not \
         on the search path; install Python 3.11 (for example `apt-get install python3.11` or `pyenv install 3.11`) \
         or configure a fallback python3"
    );
}

#[tokio::test]
async fn requests_that_cannot_run_are_refused() {
    let (_bin, fixture, runtime) = exact_python();
    let no_handler = request(runtime, "def h(e, c):\n    pass\n", None);
    assert_eq!(failure(&fixture.run(&no_handler).await), "Handler is required for Python runtimes");
    let gzip = attachment_request(runtime, "a.handler", attachment("a.tar.gz", vec![1, 2, 3]));
    assert_eq!(failure(&fixture.run(&gzip).await), format!("attachment a.tar.gz: {runtime} needs a .py or .zip file"));
    let sneaky = attachment_request(runtime, "a.handler", attachment("../a.py", vec![]));
    assert_eq!(failure(&fixture.run(&sneaky).await), "attachment name \"../a.py\" is not a plain file name");
}

/// Through whatever `python3.<minor>` the machine's own `PATH` offers (on a pyenv machine, a shim).
#[tokio::test]
async fn default_interpreters_from_the_process_path() {
    let fixture = Fixture::new(Interpreters::default());
    let (minor, _) = host_python();
    let step =
        request(Runtime::Python { minor: *minor }, "import sys\ndef h(e, c):\n    return sys.version\n", Some("h"));
    let outcome = fixture.run(&step).await;
    let version = payload(&outcome).as_str().unwrap().lines().next().unwrap().to_owned();
    // `python3.<minor>` where the machine has it by that name, else the fallback `python3`.
    let exact = outcome.interpreter.ends_with(&format!("/python3.{minor} ({version})"));
    let fallback = outcome.interpreter.ends_with(&format!("/python3 ({version})"));
    assert!(exact || fallback, "{}", outcome.interpreter);
}
