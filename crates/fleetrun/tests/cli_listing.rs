//! The read-only commands against a real fleet: `fleetrun output` (whole output, beyond the API's inline
//! limits), and `commands list`, `invocations` and `nodes list` as tables and as JSON.

mod common;

use common::Fleet;
use std::io::Read;
use std::process::Stdio;

/// Runs `script` on every node given and returns the command id.
#[track_caller]
fn run(fleet: &Fleet, instance_ids: &[&str], script: &str) -> (String, i32) {
    let mut args = vec!["run", "--output", "json", "--instance-ids"];
    args.extend_from_slice(instance_ids);
    args.extend(["--", script]);
    let run = fleet.fleetrun(&args);
    let command_id = run.json()["Command"]["CommandId"].as_str().expect("a CommandId").to_owned();
    (command_id, run.code)
}

#[test]
fn output_prints_the_whole_stream() {
    let fleet = Fleet::start();
    let dev = fleet.dev_instance_id.as_str();
    let script = "head -c 30000 /dev/zero | tr '\\0' x; head -c 20000 /dev/zero | tr '\\0' e >&2";
    let (command_id, code) = run(&fleet, &[dev], script);
    assert_eq!(code, 0);

    let stdout = fleet.fleetrun(&["output", &command_id, dev]);
    stdout.assert_code(0);
    assert_eq!(stdout.stdout.len(), 30_000, "{}", stdout.stderr);
    assert!(stdout.stdout.bytes().all(|b| b == b'x'));

    let stderr = fleet.fleetrun(&["output", &command_id, dev, "--stderr"]);
    stderr.assert_code(0);
    assert_eq!(stderr.stdout, "e".repeat(20_000));

    let small = run(&fleet, &[dev], "printf 'a\\nb'").0;
    assert_eq!(fleet.fleetrun(&["output", &small, dev]).stdout, "a\nb");

    let unknown = fleet.fleetrun(&["output", &command_id, "i-0badbad0"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("InvocationDoesNotExist"), "{unknown:#?}");
}

#[test]
fn listings_print_tables_and_json() {
    let mut fleet = Fleet::start();
    fleet.agent("i-1111aaaa", &["Role=web"]);
    let dev = fleet.dev_instance_id.clone();
    let (ok, _) = run(&fleet, &[&dev, "i-1111aaaa"], "true");
    let (failed, code) = run(&fleet, &[&dev, "i-1111aaaa"], "exit 7");
    assert_eq!(code, 1);

    let commands = fleet.fleetrun(&["commands", "list", "--output", "json"]).assert_code(0).json();
    let listed: Vec<&str> = commands["Commands"]
        .as_array()
        .expect("Commands")
        .iter()
        .map(|c| c["CommandId"].as_str().expect("CommandId"))
        .collect();
    assert_eq!(listed, [failed.as_str(), ok.as_str()], "newest first");
    assert_eq!(commands["Commands"][0]["ErrorCount"], 2);
    let one = fleet.fleetrun(&["commands", "list", "--max", "1", "--output", "json"]).json();
    assert_eq!(one["Commands"].as_array().map(Vec::len), Some(1));
    let table = fleet.fleetrun(&["commands", "list"]);
    let lines: Vec<&str> = table.assert_code(0).stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{table:#?}");
    assert!(
        lines[0].split_whitespace().eq([
            "CommandId",
            "Document",
            "Requested",
            "Status",
            "Targets",
            "Completed",
            "Errors"
        ]),
        "{table:#?}"
    );
    assert!(lines[1].starts_with(&failed) && lines[1].contains("AWS-RunShellScript"), "{table:#?}");

    let invocations = fleet.fleetrun(&["invocations", &failed, "--output", "json"]).assert_code(0).json();
    let items = invocations["CommandInvocations"].as_array().expect("CommandInvocations");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["Status"] == "Failed"));
    let table = fleet.fleetrun(&["invocations", &failed]);
    let rows: Vec<Vec<&str>> =
        table.assert_code(0).stdout.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["InstanceId", "Status", "StatusDetails", "ResponseCode"]);
    assert!(rows.contains(&vec!["i-1111aaaa", "Failed", "Failed", "7"]), "{table:#?}");

    let nodes = fleet.fleetrun(&["nodes", "list", "--tags", "--output", "json"]).assert_code(0).json();
    let nodes = nodes["InstanceInformationList"].as_array().expect("InstanceInformationList");
    assert_eq!(nodes.len(), 2);
    let tagged = nodes.iter().find(|n| n["InstanceId"] == "i-1111aaaa").expect("the tagged node");
    assert_eq!(tagged["PingStatus"], "Online");
    assert_eq!(tagged["Tags"], serde_json::json!([{ "Key": "Role", "Value": "web" }]));
    let table = fleet.fleetrun(&["nodes", "list", "--tags"]);
    assert!(
        table.assert_code(0).stdout.lines().any(|line| line.starts_with("i-1111aaaa") && line.ends_with("Role=web")),
        "{table:#?}"
    );

    let unknown = fleet.fleetrun(&["invocations", "00000000-0000-4000-8000-000000000000"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("InvalidCommandId"), "{unknown:#?}");
}

#[test]
fn a_closed_pipe_on_stdout_is_exit_0_and_quiet() {
    let fleet = Fleet::start();
    let dev = fleet.dev_instance_id.as_str();
    // Far more than a pipe's buffer, so that the write fails once the reader has gone.
    let (command_id, _) = run(&fleet, &[dev], "yes 0123456789 | head -c 4000000");
    let mut child = fleet
        .command(&["output", &command_id, dev])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fleetrun output starts");
    let mut first = [0; 11];
    child.stdout.take().expect("a stdout pipe").read_exact(&mut first).expect("the output starts");
    assert_eq!(&first, b"0123456789\n");
    // Dropping our end closes the pipe, like `| head -1` does.
    let status = fleet.wait_for("fleetrun output to exit", || child.try_wait().expect("waiting for fleetrun"));
    let mut stderr = String::new();
    child.stderr.take().expect("a stderr pipe").read_to_string(&mut stderr).expect("stderr");
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
}
