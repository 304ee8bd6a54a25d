//! `fleetrun automation` against a real fleet: a runbook that succeeds (its step lines and outputs, exit
//! 0), one whose script raises (its failure message, exit 1), listings with and without filters, `get`
//! as a table and as JSON, `stop` of a sleeping runbook, and exit 1 with the SSM error for what the server
//! refuses. Runbooks are created with the aws CLI; without it these tests skip and say so.

mod common;

use common::{CliRun, Fleet};
use serde_json::Value;

const OK_RUNBOOK: &str = r#"schemaVersion: '0.3'
parameters:
  Greeting:
    type: String
    default: hi
mainSteps:
  - name: hello
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      InputPayload:
        greeting: '{{ Greeting }}'
      Script: |-
        def handler(events, context):
            assert events["greeting"] == "yo", events
            return {"ok": True}
    outputs:
      - Name: ok
        Selector: $.Payload.ok
        Type: Boolean
outputs:
  - hello.ok
"#;

const FAILING_RUNBOOK: &str = r#"schemaVersion: '0.3'
mainSteps:
  - name: boom
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise ValueError("the disk is full")
"#;

const SLEEPING_RUNBOOK: &str = r#"schemaVersion: '0.3'
mainSteps:
  - name: nap
    action: aws:sleep
    inputs:
      Duration: PT60S
"#;

/// A fleet with the three runbooks, or `None` (the test skips) without the aws CLI to create them.
fn fleet_with_runbooks() -> Option<Fleet> {
    if !common::has_aws_cli() {
        eprintln!("skipped: the aws CLI is needed to create runbooks and is not installed");
        return None;
    }
    let fleet = Fleet::start();
    fleet.create_document("OkBook", "Automation", "YAML", OK_RUNBOOK);
    fleet.create_document("FailBook", "Automation", "YAML", FAILING_RUNBOOK);
    fleet.create_document("SleepBook", "Automation", "YAML", SLEEPING_RUNBOOK);
    Some(fleet)
}

/// The execution id from `start`'s first line, `Started ID (DOCUMENT)`.
#[track_caller]
fn started_id(run: &CliRun) -> String {
    let line = run.stdout.lines().next().unwrap_or_default();
    let id = line.strip_prefix("Started ").and_then(|rest| rest.split(' ').next());
    id.unwrap_or_else(|| panic!("no `Started ID` line: {run:#?}")).to_owned()
}

/// Panics unless `run` failed with exit 1, an error naming `code`, and nothing on stdout.
#[track_caller]
fn assert_refused(run: &CliRun, code: &str) {
    run.assert_code(1);
    assert!(run.stderr.contains(&format!("({code})")), "expected {code}: {run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
}

#[test]
fn runbooks_succeed_fail_and_are_listed() {
    let Some(fleet) = fleet_with_runbooks() else { return };

    let ok = fleet.fleetrun(&["automation", "start", "OkBook", "--parameter", "Greeting=yo"]);
    ok.assert_code(0);
    let ok_id = started_id(&ok);
    assert!(ok.stdout.contains("hello (aws:executeScript) Success in "), "the step's end line: {ok:#?}");
    assert!(ok.stdout.contains("Outputs:\n  hello.ok = true\n"), "the runbook's output: {ok:#?}");
    assert!(ok.stdout.contains(&format!("Execution {ok_id} Success in ")), "the final status: {ok:#?}");

    let json = fleet.fleetrun(&["automation", "start", "OkBook", "--parameter", "Greeting=yo", "--json"]);
    let execution = &json.assert_code(0).json()["AutomationExecution"];
    assert_eq!(execution["AutomationExecutionStatus"], "Success", "{json:#?}");
    assert!(json.stderr.contains("hello (aws:executeScript) Success in "), "step lines on stderr: {json:#?}");

    let failed = fleet.fleetrun(&["automation", "start", "FailBook"]);
    failed.assert_code(1);
    let failed_id = started_id(&failed);
    assert!(failed.stdout.contains("boom (aws:executeScript) Failed in "), "the step's end line: {failed:#?}");
    assert!(failed.stdout.contains("ValueError: the disk is full"), "the failure message: {failed:#?}");
    assert!(failed.stdout.contains(&format!("Execution {failed_id} Failed in ")), "{failed:#?}");

    let list = fleet.fleetrun(&["automation", "list"]);
    list.assert_code(0);
    let rows: Vec<Vec<&str>> = list.stdout.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["ExecutionId", "Document", "Status", "Started", "Ended"], "{list:#?}");
    assert!(rows.iter().any(|row| row[..3] == [ok_id.as_str(), "OkBook", "Success"]), "{list:#?}");
    assert!(rows.iter().any(|row| row[..3] == [failed_id.as_str(), "FailBook", "Failed"]), "{list:#?}");
    let only_failed = fleet.fleetrun(&["automation", "list", "--status", "failed"]).assert_code(0).stdout.clone();
    assert!(only_failed.contains(&failed_id) && !only_failed.contains(&ok_id), "{only_failed}");
    let by_prefix = fleet.fleetrun(&["automation", "list", "--document-prefix", "Ok", "--json"]).assert_code(0).json();
    let listed = by_prefix["AutomationExecutionMetadataList"].as_array().expect("a list");
    assert_eq!(listed.len(), 2, "both OkBook runs: {by_prefix:#}");
    assert!(listed.iter().any(|item| item["AutomationExecutionId"] == ok_id.as_str()), "{by_prefix:#}");

    let got = fleet.fleetrun(&["automation", "get", &ok_id, "--json"]).assert_code(0).json();
    let execution = &got["AutomationExecution"];
    assert_eq!(execution["AutomationExecutionStatus"], "Success", "{got:#}");
    assert_eq!(execution["Outputs"]["hello.ok"], serde_json::json!(["true"]), "{got:#}");
    assert_eq!(execution["StepExecutions"][0]["StepName"], "hello", "{got:#}");
    let table = fleet.fleetrun(&["automation", "get", &failed_id]);
    table.assert_code(0);
    assert!(table.stdout.contains("Status    Failed"), "{table:#?}");
    assert!(table.stdout.contains("boom (aws:executeScript)  Failed"), "the steps table: {table:#?}");
    assert!(table.stdout.contains("ValueError: the disk is full"), "the failure: {table:#?}");
}

#[test]
fn stop_cancels_and_refusals_are_exit_1() {
    let Some(fleet) = fleet_with_runbooks() else { return };

    let started = fleet.fleetrun(&["automation", "start", "SleepBook", "--no-wait", "--json"]);
    let id = started.assert_code(0).json()["AutomationExecutionId"].as_str().expect("an id").to_owned();
    let stop = fleet.fleetrun(&["automation", "stop", &id]);
    assert_eq!(stop.assert_code(0).stdout, format!("{id}: stop requested (Cancel)\n"));
    let status = |fleet: &Fleet| -> Value {
        fleet.fleetrun(&["automation", "get", &id, "--json"]).assert_code(0).json()["AutomationExecution"]
            ["AutomationExecutionStatus"]
            .clone()
    };
    fleet.wait_for(&format!("{id} to be Cancelled"), || (status(&fleet) == "Cancelled").then_some(()));
    let got = fleet.fleetrun(&["automation", "get", &id]);
    assert!(got.assert_code(0).stdout.contains("nap (aws:sleep)  Cancelled"), "{got:#?}");

    interrupting_stops_following_not_the_execution(&fleet);

    let unknown = fleet.fleetrun(&["automation", "start", "NoSuchBook"]);
    assert_refused(&unknown, "AutomationDefinitionNotFoundException");
    assert!(unknown.stderr.contains("Automation definition NoSuchBook is not found"), "the SSM message: {unknown:#?}");
    let missing = "00000000-0000-0000-0000-000000000000";
    assert_refused(&fleet.fleetrun(&["automation", "get", missing]), "AutomationExecutionNotFoundException");
    assert_refused(&fleet.fleetrun(&["automation", "stop", missing]), "AutomationExecutionNotFoundException");
    let bad = fleet.fleetrun(&["automation", "start", "OkBook", "--parameter", "Nope=1"]);
    assert_refused(&bad, "InvalidAutomationExecutionParametersException");

    let usage = fleet.fleetrun(&["automation", "start", "OkBook", "--parameter", "no-equals-sign"]);
    usage.assert_code(2);
    assert!(usage.stderr.contains("KEY=VALUE"), "{usage:#?}");
}

/// Ctrl-C while following: exit 2 with how to stop it, and the execution carries on.
fn interrupting_stops_following_not_the_execution(fleet: &Fleet) {
    let out = tempfile::NamedTempFile::new().expect("a stdout file");
    let err = tempfile::NamedTempFile::new().expect("a stderr file");
    let mut child = fleet
        .command(&["automation", "start", "SleepBook"])
        .stdout(out.reopen().expect("stdout file reopens"))
        .stderr(err.reopen().expect("stderr file reopens"))
        .spawn()
        .expect("fleetrun starts");
    let stdout = || std::fs::read_to_string(out.path()).unwrap_or_default();
    fleet.wait_for("the sleep step to start", || stdout().contains("nap (aws:sleep) started").then_some(()));
    let id = stdout().lines().next().and_then(|l| l.split(' ').nth(1)).expect("a Started line").to_owned();
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(kill.expect("kill runs").success());
    let status = fleet.wait_for("fleetrun to exit after SIGINT", || child.try_wait().expect("waiting"));
    let stderr = std::fs::read_to_string(err.path()).unwrap_or_default();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("execution {id} carries on")), "{stderr}");
    assert!(stderr.contains(&format!("fleetrun automation stop {id}")), "{stderr}");
    let got = fleet.fleetrun(&["automation", "get", &id, "--json"]).assert_code(0).json();
    assert_eq!(got["AutomationExecution"]["AutomationExecutionStatus"], "InProgress", "{got:#}");
    fleet.fleetrun(&["automation", "stop", &id, "--complete"]).assert_code(0);
}
