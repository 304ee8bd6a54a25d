//! `fleetrun params` against a real fleet: put and get of each kind of value (a SecureString shows as
//! `****` unless `--decrypt`, and its value never appears otherwise, neither in `get` nor in `list` nor
//! in `history`), versions, labels, listings with and without a path, deletes in batches, and exit 1
//! with the SSM error for what the server refuses.

mod common;

use common::{CliRun, Fleet};
use serde_json::json;
use std::collections::BTreeSet;

const SECRET: &str = "hunter2-correct-horse";
const STDIN_SECRET: &str = "battery-staple";
const FILE_SECRET: &str = "multi\nline-key";

/// stdout's lines split into words (table rows), header included.
fn rows(run: &CliRun) -> Vec<Vec<&str>> {
    run.stdout.lines().map(|line| line.split_whitespace().collect()).collect()
}

/// Panics unless `run` failed with exit 1 and an error naming `code`.
#[track_caller]
fn assert_refused(run: &CliRun, code: &str) {
    run.assert_code(1);
    assert!(run.stderr.contains(&format!("({code})")), "expected {code}: {run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
}

#[test]
fn values_versions_and_secrets() {
    let fleet = Fleet::start();
    let mut without_decrypt = Vec::new();

    let put = fleet.fleetrun(&["params", "put", "/app/prod/url", "--type", "String", "--value", "https://a"]);
    assert_eq!(put.assert_code(0).stdout, "/app/prod/url version 1 (Standard)\n");
    let put = fleet.fleetrun(&["params", "put", "/app/prod/pw", "--type", "SecureString", "--value", SECRET]);
    assert_eq!(put.assert_code(0).stdout, "/app/prod/pw version 1 (Standard)\n");
    assert!(put.stderr.contains("visible in shell history"), "--value of a secret warns: {put:#?}");
    let args = ["params", "put", "/app/prod/token", "--type", "SecureString", "--value-stdin"];
    let put = fleet.fleetrun_with_stdin(&args, &format!("{STDIN_SECRET}\n"));
    assert_eq!(put.assert_code(0).stdout, "/app/prod/token version 1 (Standard)\n");
    assert_eq!(put.stderr, "", "no warning when the value is not on the command line");
    let file = tempfile::NamedTempFile::new().expect("a value file");
    std::fs::write(file.path(), format!("{FILE_SECRET}\r\n")).expect("the value file is written");
    let path = file.path().to_str().expect("a UTF-8 path");
    let args = ["params", "put", "/app/prod/key", "--type", "SecureString", "--value-file", path];
    assert_eq!(fleet.fleetrun(&args).assert_code(0).stdout, "/app/prod/key version 1 (Standard)\n");
    let get = fleet.fleetrun(&["params", "get", "/app/prod/key", "--decrypt"]);
    assert_eq!(get.assert_code(0).stdout, format!("{FILE_SECRET}\n"), "one trailing newline dropped");

    assert_eq!(fleet.fleetrun(&["params", "get", "/app/prod/url"]).assert_code(0).stdout, "https://a\n");
    let get = fleet.fleetrun(&["params", "get", "/app/prod/pw"]);
    assert_eq!(get.assert_code(0).stdout, "****\n", "neither the value nor the ciphertext");
    without_decrypt.push(get);
    let get = fleet.fleetrun(&["params", "get", "/app/prod/pw", "--decrypt"]);
    assert_eq!(get.assert_code(0).stdout, format!("{SECRET}\n"));
    let get = fleet.fleetrun(&["params", "get", "/app/prod/token", "--decrypt"]);
    assert_eq!(get.assert_code(0).stdout, format!("{STDIN_SECRET}\n"), "one trailing newline dropped");
    let json = fleet.fleetrun(&["params", "get", "/app/prod/pw", "--json"]);
    let parameter = &json.assert_code(0).json()["Parameter"];
    assert_eq!(
        [&parameter["Name"], &parameter["Type"], &parameter["Value"], &parameter["Version"]],
        [&json!("/app/prod/pw"), &json!("SecureString"), &json!("****"), &json!(1)]
    );
    without_decrypt.push(json);
    let json = fleet.fleetrun(&["params", "get", "/app/prod/pw", "--json", "--decrypt"]).assert_code(0).json();
    assert_eq!(json["Parameter"]["Value"], SECRET);

    let again = fleet.fleetrun(&["params", "put", "/app/prod/url", "--value", "https://b"]);
    assert_refused(&again, "ParameterAlreadyExists");
    let overwrite = fleet.fleetrun(&["params", "put", "/app/prod/url", "--value", "https://b", "--overwrite"]);
    assert_eq!(overwrite.assert_code(0).stdout, "/app/prod/url version 2 (Standard)\n", "the type is kept");
    assert_eq!(fleet.fleetrun(&["params", "get", "/app/prod/url"]).stdout, "https://b\n");
    assert_eq!(fleet.fleetrun(&["params", "get", "/app/prod/url:1"]).assert_code(0).stdout, "https://a\n");
    assert_refused(&fleet.fleetrun(&["params", "get", "/app/prod/url:9"]), "ParameterVersionNotFound");
    assert_refused(&fleet.fleetrun(&["params", "get", "/app/nope"]), "ParameterNotFound");

    let bad = fleet.fleetrun(&["params", "put", "aws/x", "--type", "String", "--value", "x"]);
    assert_refused(&bad, "ValidationException");
    assert!(bad.stderr.contains("Parameter name: can't be prefixed with \"aws\""), "the SSM message: {bad:#?}");

    let listed = fleet.fleetrun(&["params", "list", "/app/prod"]);
    assert_eq!(
        rows(listed.assert_code(0)),
        [
            vec!["Name", "Type", "Version", "Value"],
            vec!["/app/prod/key", "SecureString", "1", "****"],
            vec!["/app/prod/pw", "SecureString", "1", "****"],
            vec!["/app/prod/token", "SecureString", "1", "****"],
            vec!["/app/prod/url", "String", "2", "https://b"],
        ],
        "{listed:#?}"
    );
    without_decrypt.push(listed);
    let json = fleet.fleetrun(&["params", "list", "/app/prod", "--json"]);
    let body = json.assert_code(0).json();
    let values: Vec<&str> = body["Parameters"]
        .as_array()
        .expect("Parameters")
        .iter()
        .map(|p| p["Value"].as_str().expect("a Value"))
        .collect();
    assert_eq!(values, ["****", "****", "****", "https://b"]);
    without_decrypt.push(json);
    for args in [&["params", "list"][..], &["params", "list", "--json"], &["params", "list", "/", "--recursive"]] {
        let listed = fleet.fleetrun(args);
        listed.assert_code(0);
        without_decrypt.push(listed);
    }
    let history = fleet.fleetrun(&["params", "history", "/app/prod/pw"]);
    assert_eq!(rows(history.assert_code(0))[1][3], "****", "{history:#?}");
    without_decrypt.push(history);
    let history = fleet.fleetrun(&["params", "history", "/app/prod/pw", "--decrypt"]);
    assert_eq!(rows(history.assert_code(0))[1][3], SECRET, "{history:#?}");

    for run in &without_decrypt {
        for secret in [SECRET, STDIN_SECRET, "line-key"] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} shown: {run:#?}");
        }
    }
}

#[test]
fn listings_history_labels_and_deletes() {
    let fleet = Fleet::start();
    let put = |name: &str, value: &str, extra: &[&str]| {
        let mut args = vec!["params", "put", name, "--value", value];
        args.extend_from_slice(extra);
        fleet.fleetrun(&args).assert_code(0).stdout.clone()
    };
    put("/svc/a", "1", &["--type", "String", "--description", "first\nof two"]);
    put("/svc/deep/b", "x,y", &["--type", "StringList"]);
    put("/svc/s", SECRET, &["--type", "SecureString"]);
    put("top", "t", &["--type", "String", "--tag", "Env=prod"]);
    assert_eq!(put("/svc/a", "2", &["--overwrite"]), "/svc/a version 2 (Standard)\n");
    assert_eq!(put("/svc/a", "3", &["--overwrite"]), "/svc/a version 3 (Standard)\n");

    let all = fleet.fleetrun(&["params", "list"]);
    let table = rows(all.assert_code(0));
    assert_eq!(table[0], ["Name", "Type", "Version", "LastModified", "Description"], "{all:#?}");
    let names: Vec<&str> = table[1..].iter().map(|row| row[0]).collect();
    assert_eq!(names, ["/svc/a", "/svc/deep/b", "/svc/s", "top"], "{all:#?}");
    assert_eq!(table[1][1..3], ["String", "3"]);
    assert!(all.stdout.lines().nth(1).is_some_and(|line| line.ends_with("first\\nof two")), "one line a row: {all:#?}");
    assert!(!all.stdout.contains(SECRET));
    let json = fleet.fleetrun(&["params", "list", "--json"]).assert_code(0).json();
    assert_eq!(json["Parameters"].as_array().map(Vec::len), Some(4));
    assert!(json["Parameters"].as_array().unwrap().iter().all(|p| p.get("Value").is_none()), "metadata only");

    let direct: BTreeSet<String> =
        rows(&fleet.fleetrun(&["params", "list", "/svc"]))[1..].iter().map(|row| row.join(" ")).collect();
    assert_eq!(direct, BTreeSet::from(["/svc/a String 3 3".to_owned(), "/svc/s SecureString 1 ****".to_owned()]));
    let recursive = fleet.fleetrun(&["params", "list", "/svc", "--recursive"]);
    let names: Vec<&str> = rows(recursive.assert_code(0))[1..].iter().map(|row| row[0]).collect();
    assert_eq!(names, ["/svc/a", "/svc/deep/b", "/svc/s"], "{recursive:#?}");
    assert!(!recursive.stdout.contains(SECRET), "list never decrypts");
    fleet.fleetrun(&["params", "list", "--recursive"]).assert_code(2);

    let labeled = fleet.fleetrun(&["params", "label", "/svc/a:1", "stable", "blue"]);
    assert_eq!(labeled.assert_code(0).stdout, "/svc/a version 1: stable, blue\n");
    assert_eq!(fleet.fleetrun(&["params", "get", "/svc/a:stable"]).assert_code(0).stdout, "1\n");
    let partly = fleet.fleetrun(&["params", "label", "/svc/a", "latest", "1bad"]);
    assert_eq!(partly.assert_code(1).stdout, "/svc/a version 3: latest\n");
    assert!(partly.stderr.contains("invalid labels, not attached: 1bad"), "{partly:#?}");
    assert_refused(&fleet.fleetrun(&["params", "label", "/svc/nope", "x"]), "ParameterNotFound");
    let history = fleet.fleetrun(&["params", "history", "/svc/a"]);
    let table = rows(history.assert_code(0));
    assert_eq!(table[0], ["Version", "Labels", "LastModified", "Value"]);
    let summary: Vec<(&str, &str, &str)> = table[1..].iter().map(|row| (row[0], row[1], row[3])).collect();
    assert_eq!(summary, [("1", "blue,stable", "1"), ("2", "-", "2"), ("3", "latest", "3")], "{history:#?}");

    let deleted = fleet.fleetrun(&["params", "delete", "/svc/a", "/svc/nope", "top"]);
    assert_eq!(deleted.assert_code(1).stdout, "/svc/a\ntop\n");
    assert!(deleted.stderr.contains("parameter /svc/nope not found"), "{deleted:#?}");
    assert_refused(&fleet.fleetrun(&["params", "get", "/svc/a"]), "ParameterNotFound");

    // More than one DeleteParameters call takes.
    let many: Vec<String> = (0..12).map(|n| format!("/bulk/p{n:02}")).collect();
    for name in &many {
        put(name, "v", &["--type", "String"]);
    }
    let mut args = vec!["params", "delete"];
    args.extend(many.iter().map(String::as_str));
    args.push("/svc/s");
    let deleted = fleet.fleetrun(&args);
    assert_eq!(deleted.assert_code(0).stdout.lines().count(), 13, "{deleted:#?}");
    let rest = fleet.fleetrun(&["params", "list"]);
    let names: Vec<&str> = rows(rest.assert_code(0))[1..].iter().map(|row| row[0]).collect();
    assert_eq!(names, ["/svc/deep/b"], "{rest:#?}");
}
