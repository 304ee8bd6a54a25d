//! `fleetrun run` against a real fleet: a `fleetrun dev` server with its local agent and two tagged
//! agents, all real processes. Covers grouping, exit codes (0 all succeeded, 1 some failed, 2 errors),
//! tag targets, large outputs and `--no-wait`. Listings and `fleetrun output` are in `cli_listing.rs`.

mod common;

use common::{Fleet, fleetrun_without_env};
use serde_json::Value;

/// The dev agent plus `i-1111aaaa` and `i-2222bbbb`, both tagged `Role=web`.
fn three_nodes() -> Fleet {
    let mut fleet = Fleet::start();
    fleet.agent("i-1111aaaa", &["Role=web", "Env=prod"]).agent("i-2222bbbb", &["Role=web", "Env=dev"]);
    fleet
}

/// The `Groups` of a `run --output json`.
#[track_caller]
fn groups_of(report: &Value) -> Vec<Value> {
    report["Groups"].as_array().unwrap_or_else(|| panic!("no Groups in {report:#}")).clone()
}

fn ids(group: &Value) -> Vec<&str> {
    group["InstanceIds"].as_array().expect("InstanceIds").iter().map(|id| id.as_str().expect("an id")).collect()
}

#[test]
fn the_same_output_everywhere_is_one_group() {
    let fleet = three_nodes();
    let all = [fleet.dev_instance_id.as_str(), "i-1111aaaa", "i-2222bbbb"];

    let by_ids = fleet.fleetrun(&["run", "--instance-ids", all[0], all[1], all[2], "--", "echo", "hi"]);
    by_ids.assert_code(0);
    assert!(
        by_ids.stdout.starts_with(&format!(
            "● Success, exit 0 — 3 nodes: i-1111aaaa, i-2222bbbb, {}\n  hi\n\n",
            fleet.dev_instance_id
        )),
        "{by_ids:#?}"
    );
    assert_eq!(by_ids.stdout.matches('●').count(), 1, "{by_ids:#?}");
    assert!(by_ids.stdout.ends_with("3 of 3 nodes succeeded.\n"), "{by_ids:#?}");
    assert_eq!(by_ids.stderr, "", "no progress bar when stderr is not a terminal");

    let by_id_target = fleet.fleetrun(&[
        "run",
        "--targets",
        &format!("Key=InstanceIds,Values={}", all.join(",")),
        "--output",
        "json",
        "--",
        "echo hi",
    ]);
    let report = by_id_target.assert_code(0).json();
    assert_eq!(groups_of(&report).len(), 1, "{report:#}");
    assert_eq!(groups_of(&report)[0]["InstanceIds"].as_array().map(Vec::len), Some(3));

    let by_tag =
        fleet.fleetrun(&["run", "--targets", "Key=tag:Role,Values=web", "--output", "json", "--", "echo", "hi"]);
    by_tag.assert_code(0);
    let report = by_tag.json();
    let groups = groups_of(&report);
    assert_eq!(groups.len(), 1, "{report:#}");
    assert_eq!(ids(&groups[0]), ["i-1111aaaa", "i-2222bbbb"]);
    assert_eq!(groups[0]["Status"], "Success");
    assert_eq!(groups[0]["ResponseCode"], 0);
    assert_eq!(groups[0]["StandardOutput"], "hi\n");
    assert_eq!(report["Command"]["TargetCount"], 2);

    // Targets are AND-ed and their values OR-ed, as in SSM.
    let both = fleet.fleetrun(&[
        "run",
        "--targets",
        "Key=tag:Role,Values=web",
        "Key=tag:Env,Values=prod,test",
        "--output",
        "json",
        "--",
        "true",
    ]);
    assert_eq!(ids(&groups_of(&both.assert_code(0).json())[0]), ["i-1111aaaa"]);
}

#[test]
fn a_failure_on_one_node_is_exit_1_and_its_own_group() {
    let fleet = three_nodes();
    // The agent tells the script which node it is on; the nodes share one host, so nothing else would.
    let script =
        r#"if [ "$AWS_SSM_INSTANCE_ID" = i-2222bbbb ]; then echo broken; echo "no disk" >&2; exit 3; fi; echo fine"#;
    let run =
        fleet.fleetrun(&["run", "--instance-ids", &fleet.dev_instance_id, "i-1111aaaa", "i-2222bbbb", "--", script]);
    run.assert_code(1);
    let expected = format!(
        "● Success, exit 0 — 2 nodes: i-1111aaaa, {}\n  fine\n\n\
         ● Failed, exit 3 — 1 node: i-2222bbbb\n  broken\n  --- stderr ---\n  no disk\n\n",
        fleet.dev_instance_id
    );
    assert!(run.stdout.starts_with(&expected), "{run:#?}");
    assert!(run.stdout.ends_with("2 of 3 nodes succeeded.\n"), "{run:#?}");

    let json = fleet.fleetrun(&["run", "--targets", "Key=tag:Role,Values=web", "--output", "json", "--", script]);
    let report = json.assert_code(1).json();
    let groups = groups_of(&report);
    assert_eq!(groups.len(), 2, "{report:#}");
    assert_eq!(
        (&groups[1]["Status"], &groups[1]["ResponseCode"], ids(&groups[1])),
        (&Value::from("Failed"), &Value::from(3), vec!["i-2222bbbb"])
    );
    assert_eq!(groups[1]["StandardError"], "no disk\n");
}

#[test]
fn outputs_beyond_the_inline_limits_are_grouped_and_shown_whole() {
    let fleet = three_nodes();
    // 30,000 characters everywhere; one node adds a line after them, past what any inline view shows,
    // and all write 9,000 characters to stderr, past its 8,000-character inline view.
    let script = r#"head -c 30000 /dev/zero | tr '\0' x; if [ "$AWS_SSM_INSTANCE_ID" = i-2222bbbb ]; then echo; echo tail; fi; head -c 9000 /dev/zero | tr '\0' e >&2"#;
    let run = fleet.fleetrun(&[
        "run",
        "--instance-ids",
        &fleet.dev_instance_id,
        "i-1111aaaa",
        "i-2222bbbb",
        "--output",
        "json",
        "--",
        script,
    ]);
    let report = run.assert_code(0).json();
    let groups = groups_of(&report);
    assert_eq!(groups.len(), 2, "the last line differs: {run:#?}");
    assert_eq!(ids(&groups[0]), ["i-1111aaaa", fleet.dev_instance_id.as_str()]);
    assert_eq!(groups[0]["StandardOutput"], "x".repeat(30_000));
    assert_eq!(ids(&groups[1]), ["i-2222bbbb"]);
    assert_eq!(groups[1]["StandardOutput"], format!("{}\ntail\n", "x".repeat(30_000)));
    for group in &groups {
        assert_eq!(group["StandardError"], "e".repeat(9_000));
    }
}

#[test]
fn no_wait_prints_the_command_id() {
    let fleet = Fleet::start();
    let run = fleet.fleetrun(&[
        "run",
        "--no-wait",
        "--instance-ids",
        &fleet.dev_instance_id,
        "--comment",
        "later",
        "--",
        "true",
    ]);
    run.assert_code(0);
    let command_id = run.stdout.trim();
    assert_eq!(command_id.len(), 36, "{run:#?}");
    let listed = fleet.fleetrun(&["commands", "list", "--max", "1", "--output", "json"]).assert_code(0).json();
    assert_eq!(listed["Commands"][0]["CommandId"], command_id);
    assert_eq!(listed["Commands"][0]["Comment"], "later");
}

#[test]
fn errors_are_exit_2_with_a_message() {
    let fleet = Fleet::start();

    let unknown = fleet.fleetrun(&["run", "--instance-ids", "i-0badbad0", "--", "true"]);
    unknown.assert_code(2);
    assert!(
        unknown
            .stderr
            .starts_with("fleetrun: An error occurred (InvalidInstanceId) when calling the SendCommand operation:")
            && unknown.stderr.contains("i-0badbad0"),
        "{unknown:#?}"
    );
    assert_eq!(unknown.stdout, "");

    let no_match = fleet.fleetrun(&["run", "--targets", "Key=tag:Env,Values=nowhere", "--", "true"]);
    no_match.assert_code(2);
    assert!(no_match.stderr.contains("no managed node matches"), "{no_match:#?}");

    let bad_target = fleet.fleetrun(&["run", "--targets", "Env=prod", "--", "true"]);
    bad_target.assert_code(2);
    assert!(bad_target.stderr.contains("Key=tag:Env,Values=prod,dev"), "{bad_target:#?}");

    let no_command = fleet.fleetrun(&["run", "--instance-ids", &fleet.dev_instance_id]);
    no_command.assert_code(2);

    let no_server = fleetrun_without_env(&["run", "--instance-ids", "i-abcd1234", "--", "true"]);
    no_server.assert_code(2);
    assert!(no_server.stderr.starts_with("fleetrun: "), "{no_server:#?}");
    assert!(no_server.stderr.contains("AWS_ENDPOINT_URL"), "{no_server:#?}");
}
