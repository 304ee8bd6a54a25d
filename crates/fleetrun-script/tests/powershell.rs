//! PowerShell runtimes, with a fake `pwsh` (`tests/fixtures/fake-pwsh/pwsh`, a shell script)
//! because PowerShell cannot be installed on the test machines. These tests pin the exact command
//! line, the files the wrapper gets and the environment; `wrapper.ps1` itself is not executed here.

mod support;

use std::io::{Cursor, Write};
use std::path::Path;

use fleetrun_script::{Attachment, Interpreters, Runtime};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::{Fixture, failure, fixture_dir, payload, request, search_path_with};

const POWERSHELL_7: Runtime = Runtime::PowerShell { major: 7, minor: 4 };

fn read(log: &Path, name: &str) -> String {
    std::fs::read_to_string(log.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[tokio::test]
async fn runs_the_wrapper_with_the_exact_command_line() {
    let fixture = Fixture::new(Interpreters {
        search_path: search_path_with(&fixture_dir("fake-pwsh")),
        ..Interpreters::default()
    });
    let log = tempfile::tempdir().unwrap();
    let script = "$inputs = $env:InputPayload | ConvertFrom-Json\nreturn @{ Message = \"Hello $($inputs.name)\" }\n";
    let mut step = request(POWERSHELL_7, script, None);
    step.input_payload = json!({ "name": "World" });
    step.env = vec![("FAKE_PWSH_LOG".to_owned(), log.path().to_str().unwrap().to_owned())];
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("Helpers.psm1", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(b"function Get-Thing { 1 }").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let expected_sha256 = hex::encode(Sha256::digest(&bytes));
    step.attachment = Some(Attachment { name: "modules.zip".to_owned(), bytes, expected_sha256 });

    let outcome = fixture.run(&step).await;

    assert_eq!(payload(&outcome), &json!({ "name": "World" }), "the fake echoes the payload file");
    assert_eq!(outcome.stdout, "fake pwsh ran\n");
    let pwsh = fixture_dir("fake-pwsh").join("pwsh");
    assert_eq!(outcome.interpreter, format!("{} (7.4.0-fake)", pwsh.display()));

    let argv = read(log.path(), "argv");
    let argv: Vec<&str> = argv.lines().collect();
    let cwd = read(log.path(), "cwd");
    let code_dir = Path::new(cwd.trim_end());
    let io_dir = code_dir.parent().unwrap().join("fleetrun");
    let in_io = |name: &str| io_dir.join(name).to_str().unwrap().to_owned();
    let script_path = code_dir.join("customer_script.ps1");
    assert_eq!(
        argv,
        [
            "-NoProfile",
            "-NonInteractive",
            "-ExecutionPolicy",
            "Bypass",
            "-File",
            &in_io("wrapper.ps1"),
            script_path.to_str().unwrap(),
            &in_io("events.json"),
            &in_io("result.json"),
        ]
    );
    assert_eq!(read(log.path(), "wrapper.ps1"), include_str!("../src/wrapper.ps1"));
    assert_eq!(read(log.path(), "script.ps1"), script);
    assert_eq!(read(log.path(), "script-dir"), "Helpers.psm1\ncustomer_script.ps1\n");

    let env = read(log.path(), "env");
    let home = code_dir.parent().unwrap().to_str().unwrap();
    for line in [
        format!("HOME={home}"),
        format!("TMPDIR={home}"),
        "LANG=C.UTF-8".to_owned(),
        "POWERSHELL_TELEMETRY_OPTOUT=1".to_owned(),
        "POWERSHELL_UPDATECHECK=Off".to_owned(),
    ] {
        assert!(env.lines().any(|env_line| env_line == line), "{line} missing from\n{env}");
    }
    assert!(!env.contains("CARGO_MANIFEST_DIR") && !env.contains("PYTHON"), "{env}");
}

#[tokio::test]
async fn missing_pwsh_names_it_and_how_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let fixture =
        Fixture::new(Interpreters { search_path: empty.path().as_os_str().to_owned(), ..Interpreters::default() });
    let outcome = fixture.run(&request(POWERSHELL_7, "return 1", None)).await;
    let message = failure(&outcome);
    assert!(
        message.starts_with("runtime PowerShell 7.4 needs PowerShell, but pwsh is not on the search path"),
        "{message}"
    );
    assert!(message.contains("install PowerShell 7 (https://learn.microsoft.com/"), "{message}");
}

#[tokio::test]
async fn powershell_needs_an_inline_script_and_zip_attachments() {
    let fixture = Fixture::new(Interpreters {
        search_path: search_path_with(&fixture_dir("fake-pwsh")),
        ..Interpreters::default()
    });
    let mut no_script = request(POWERSHELL_7, "", None);
    no_script.script = None;
    no_script.attachment =
        Some(Attachment { name: "a.zip".to_owned(), bytes: vec![], expected_sha256: hex::encode(Sha256::digest([])) });
    assert_eq!(
        failure(&fixture.run(&no_script).await),
        "PowerShell runtimes need an inline Script; an Attachment only adds files next to it"
    );
    let mut python_file = request(POWERSHELL_7, "return 1", None);
    python_file.attachment =
        Some(Attachment { name: "a.py".to_owned(), bytes: vec![], expected_sha256: hex::encode(Sha256::digest([])) });
    assert_eq!(failure(&fixture.run(&python_file).await), "attachment a.py: PowerShell 7.4 needs a .zip file");
}
