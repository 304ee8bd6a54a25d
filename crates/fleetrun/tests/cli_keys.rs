//! `fleetrun keys`: a key created on the server's data directory works at once, is listed without its
//! secret, and stops working when deleted; a missing data directory is a clear error.

mod common;

use common::{Fleet, fleetrun_without_env};

#[test]
fn keys_create_list_delete() {
    let fleet = Fleet::start();
    let data_dir = fleet.data_dir();
    let data_dir = data_dir.to_str().unwrap();

    let created = fleetrun_without_env(&["keys", "create", "--data-dir", data_dir, "--description", "ci robot"]);
    created.assert_code(0);
    let value = |name: &str| {
        created.stdout.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).map(str::to_owned).unwrap()
    };
    let (id, secret) = (value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY"));

    let listed = fleetrun_without_env(&["keys", "list", "--data-dir", data_dir]);
    listed.assert_code(0);
    assert!(listed.stdout.contains(&id) && listed.stdout.contains("ci robot"), "{}", listed.stdout);
    assert!(!listed.stdout.contains(&secret), "list must never show a secret");

    let with_new_key = [("AWS_ACCESS_KEY_ID", id.as_str()), ("AWS_SECRET_ACCESS_KEY", secret.as_str())];
    fleet.fleetrun_with_env(&["commands", "list"], &with_new_key).assert_code(0);

    fleetrun_without_env(&["keys", "delete", &id, "--data-dir", data_dir]).assert_code(0);
    let refused = fleet.fleetrun_with_env(&["commands", "list"], &with_new_key);
    refused.assert_code(2);
    assert!(refused.stderr.contains("UnrecognizedClientException"), "{}", refused.stderr);
    fleetrun_without_env(&["keys", "delete", &id, "--data-dir", data_dir]).assert_code(2);

    let missing = fleetrun_without_env(&["keys", "list", "--data-dir", "/nonexistent/fleetrun"]);
    missing.assert_code(2);
    assert!(missing.stderr.contains("no fleetrun database"), "{}", missing.stderr);
}
