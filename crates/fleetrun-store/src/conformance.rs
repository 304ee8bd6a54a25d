//! The store conformance suite: one set of behaviours every engine must show, run against each engine's
//! fresh, empty store (`tests/sqlite.rs` for SQLite; the PostgreSQL engine will call the same functions).
//!
//! Each check panics with a message on failure. The suite exercises the invocation lifecycle through the
//! trait only, so it also checks that the engine's SQL agrees with `fleetrun_core::state::transition`.

mod automation;
mod parameters;

use crate::*;
use fleetrun_core::state::{Finish, InvocationState as S};

/// Runs every check, each on its own resources in the same store.
pub async fn run_all(store: &dyn Store) {
    access_keys(store).await;
    activations_and_nodes(store).await;
    documents(store).await;
    rate_control_releases_and_terminates(store).await;
    claim_finish_and_duplicates(store).await;
    cancel_pending_and_running(store).await;
    delivery_timeout(store).await;
    deregistration_makes_undeliverable(store).await;
    silent_nodes_are_abandoned_after_expiry(store).await;
    list_filters_and_pages(store).await;
    leases_are_exclusive_until_they_expire(store).await;
    retention_purges_old_finished_commands_in_batches(store).await;
    parameters::parameter_store(store).await;
    automation::automation(store).await;
}

fn key(id: &str, kind: KeyKind, instance: Option<&str>) -> AccessKey {
    AccessKey {
        access_key_id: id.into(),
        secret_access_key: format!("secret-{id}"),
        kind,
        instance_id: instance.map(Into::into),
        description: String::new(),
        created_ms: 1,
    }
}

async fn access_keys(store: &dyn Store) {
    store.insert_access_key(&key("AKADMIN1", KeyKind::Admin, None)).await.unwrap();
    assert!(matches!(
        store.insert_access_key(&key("AKADMIN1", KeyKind::Admin, None)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let got = store.get_access_key("AKADMIN1").await.unwrap().unwrap();
    assert_eq!(got.secret_access_key, "secret-AKADMIN1");
    assert!(!store.replace_access_key_secret("AKADMIN1", "stale", "sealed").await.unwrap(), "compare-and-swap");
    assert!(store.replace_access_key_secret("AKADMIN1", "secret-AKADMIN1", "sealed").await.unwrap());
    assert_eq!(store.get_access_key("AKADMIN1").await.unwrap().unwrap().secret_access_key, "sealed");
    assert!(store.get_access_key("nope").await.unwrap().is_none());
    store.delete_access_key("AKADMIN1").await.unwrap();
    assert!(matches!(store.delete_access_key("AKADMIN1").await, Err(StoreError::NotFound(_))));
}

fn activation(id: &str, limit: i64, expiration_ms: i64) -> Activation {
    Activation {
        activation_id: id.into(),
        code_sha256: format!("hash-{id}"),
        description: String::new(),
        default_instance_name: "web".into(),
        iam_role: "role".into(),
        registration_limit: limit,
        registrations_count: 0,
        expiration_ms,
        created_ms: 0,
    }
}

fn registration(activation_id: &str, code: &str, instance_id: &str, tags: &[(&str, &str)]) -> Registration {
    Registration {
        activation_id: activation_id.into(),
        code_sha256: code.into(),
        instance_id: instance_id.into(),
        facts: NodeFacts { platform_type: "Linux".into(), ..Default::default() },
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        agent_key: key(&format!("AKAGENT{instance_id}"), KeyKind::Agent, Some(instance_id)),
        now_ms: 100,
    }
}

async fn activations_and_nodes(store: &dyn Store) {
    store.create_activation(&activation("act-1", 2, 1_000)).await.unwrap();
    store.create_activation(&activation("act-old", 5, 50)).await.unwrap();
    let refused = |r: Result<Node>| assert!(matches!(r, Err(StoreError::ActivationRefused(_))), "{r:?}");
    refused(store.register_node(&registration("act-1", "wrong", "mi-00000000000000001", &[])).await);
    refused(store.register_node(&registration("act-old", "hash-act-old", "mi-00000000000000001", &[])).await);
    refused(store.register_node(&registration("act-none", "x", "mi-00000000000000001", &[])).await);
    let node = store
        .register_node(&registration("act-1", "hash-act-1", "mi-00000000000000001", &[("Env", "prod")]))
        .await
        .unwrap();
    assert_eq!(node.tags, vec![("Env".to_string(), "prod".to_string())]);
    assert_eq!(node.name, "web");
    // A second registration under the same id fails and leaves the count as it was.
    assert!(store.register_node(&registration("act-1", "hash-act-1", "mi-00000000000000001", &[])).await.is_err());
    store.register_node(&registration("act-1", "hash-act-1", "mi-00000000000000002", &[])).await.unwrap();
    refused(store.register_node(&registration("act-1", "hash-act-1", "mi-00000000000000003", &[])).await);
    let agent_key = store.get_access_key("AKAGENTmi-00000000000000001").await.unwrap().unwrap();
    assert_eq!(agent_key.instance_id.as_deref(), Some("mi-00000000000000001"));
    store.touch_node("mi-00000000000000001", 500, None).await.unwrap();
    assert_eq!(store.get_node("mi-00000000000000001").await.unwrap().unwrap().last_ping_ms, 500);
    assert!(store.touch_node("mi-00000000000000404", 500, None).await.is_err());
    store.add_tags("ManagedInstance", "mi-00000000000000002", &[("Role".into(), "db".into())]).await.unwrap();
    let nodes = store.list_nodes().await.unwrap();
    let ids: Vec<_> = nodes.iter().map(|n| n.instance_id.as_str()).collect();
    assert!(ids.contains(&"mi-00000000000000001") && ids.contains(&"mi-00000000000000002"));
    store.remove_tags("ManagedInstance", "mi-00000000000000002", &["Role".into()]).await.unwrap();
    assert!(store.list_tags("ManagedInstance", "mi-00000000000000002").await.unwrap().is_empty());
}

fn new_version(content: &str) -> NewDocumentVersion {
    NewDocumentVersion {
        content: content.into(),
        format: "JSON".into(),
        hash: format!("h:{content}"),
        version_name: None,
        display_name: String::new(),
        target_type: String::new(),
        now_ms: 1,
    }
}

async fn documents(store: &dyn Store) {
    let doc = NewDocument {
        name: "Doc-1".into(),
        owner: "self".into(),
        document_type: "Command".into(),
        version: new_version("a"),
        now_ms: 1,
    };
    let v1 = store.create_document(&doc).await.unwrap();
    assert_eq!((v1.version, v1.default_version, v1.latest_version), (1, 1, 1));
    assert!(matches!(store.create_document(&doc).await, Err(StoreError::AlreadyExists(_))));
    assert!(matches!(store.add_document_version("Doc-1", &new_version("a")).await, Err(StoreError::Conflict(_))));
    let v2 = store.add_document_version("Doc-1", &new_version("b")).await.unwrap();
    assert_eq!((v2.version, v2.default_version, v2.latest_version), (2, 1, 2));
    assert_eq!(store.get_document("Doc-1", VersionSelector::Default).await.unwrap().unwrap().content, "a");
    assert_eq!(store.get_document("Doc-1", VersionSelector::Latest).await.unwrap().unwrap().content, "b");
    assert!(store.get_document("Doc-1", VersionSelector::Number(3)).await.unwrap().is_none());
    store.set_default_version("Doc-1", 2).await.unwrap();
    assert!(matches!(store.delete_document("Doc-1", Some(2)).await, Err(StoreError::Conflict(_))));
    store.delete_document("Doc-1", Some(1)).await.unwrap();
    assert_eq!(store.list_document_versions("Doc-1").await.unwrap().len(), 1);
    store.delete_document("Doc-1", None).await.unwrap();
    assert!(store.get_document("Doc-1", VersionSelector::Default).await.unwrap().is_none());
    let builtin = NewDocument {
        name: "AWS-Test".into(),
        owner: "Amazon".into(),
        document_type: "Command".into(),
        version: new_version("x"),
        now_ms: 1,
    };
    store.upsert_builtin_document(&builtin).await.unwrap();
    store.upsert_builtin_document(&NewDocument { version: new_version("y"), ..builtin }).await.unwrap();
    let got = store.get_document("AWS-Test", VersionSelector::Default).await.unwrap().unwrap();
    assert_eq!((got.content.as_str(), got.version, got.owner.as_str()), ("y", 1, "Amazon"));
}

/// A command on `n` nodes named `{prefix}-{i}`.
pub fn command(id: &str, nodes: &[String], max_concurrency: u32, max_errors: u32) -> NewCommand {
    NewCommand {
        command_id: id.into(),
        document_name: "AWS-RunShellScript".into(),
        document_version: "1".into(),
        comment: String::new(),
        parameters_json: "{}".into(),
        instance_ids_json: "[]".into(),
        targets_json: "[]".into(),
        steps_json: "[]".into(),
        requested_ms: 1_000,
        timeout_seconds: 60,
        delivery_deadline_ms: 61_000,
        expires_ms: 3_661_000,
        output_s3_bucket: String::new(),
        output_s3_prefix: String::new(),
        max_concurrency: max_concurrency.to_string(),
        max_errors: max_errors.to_string(),
        max_concurrency_n: max_concurrency,
        max_errors_n: max_errors,
        service_role: String::new(),
        extra_json: "{}".into(),
        targets: nodes.iter().map(|n| (n.clone(), String::new())).collect(),
    }
}

fn nodes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn finished(command_id: &str, instance_id: &str, finish: Finish, code: i64) -> FinishedInvocation {
    FinishedInvocation {
        command_id: command_id.into(),
        instance_id: instance_id.into(),
        finish,
        response_code: code,
        started_ms: 2_000,
        ended_ms: 3_000,
        plugins: vec![Plugin {
            idx: 0,
            name: "aws:runShellScript".into(),
            action: "aws:runShellScript".into(),
            status: "Success".into(),
            response_code: code,
            started_ms: 2_000,
            ended_ms: 3_000,
            stdout_head: "out".into(),
            stderr_head: String::new(),
            stdout_bytes: 3,
            stderr_bytes: 0,
            provenance_json: r#"{"source_type":"S3"}"#.into(),
        }],
        now_ms: 3_000,
    }
}

async fn states(store: &dyn Store, command_id: &str) -> Vec<S> {
    let filter = InvocationFilter { command_id: Some(command_id.into()), ..Default::default() };
    store.list_invocations(&filter).await.unwrap().into_iter().map(|i| i.state).collect()
}

async fn rate_control_releases_and_terminates(store: &dyn Store) {
    let targets = nodes("rc", 5);
    store.create_command(&command("cmd-rc", &targets, 2, 0)).await.unwrap();
    assert_eq!(states(store, "cmd-rc").await, vec![S::Pending; 5]);
    let settled = store.settle("cmd-rc", 1_000).await.unwrap();
    assert_eq!(settled.released, vec!["rc-0".to_string(), "rc-1".to_string()]);
    // Settling again releases nothing: both slots are taken.
    assert!(store.settle("cmd-rc", 1_000).await.unwrap().released.is_empty());
    assert!(store.claim("rc-0", 1_500, 0).await.unwrap().is_empty(), "an agent with no free slot claims nothing");
    assert_eq!(store.claim("rc-0", 1_500, 8).await.unwrap().len(), 1);
    assert!(store.claim("rc-0", 1_500, 8).await.unwrap().is_empty(), "an invocation is claimed at most once");
    assert_eq!(store.get_command("cmd-rc").await.unwrap().unwrap().status, "InProgress");
    let settled = store.finish(&finished("cmd-rc", "rc-0", Finish::Success, 0)).await.unwrap().unwrap();
    assert_eq!(settled.released, vec!["rc-2".to_string()]);
    store.claim("rc-1", 1_600, 8).await.unwrap();
    // MaxErrors 0: the first failure terminates everything not yet picked up (rc-2 Queued, rc-3/rc-4 Pending).
    store.finish(&finished("cmd-rc", "rc-1", Finish::Failed, 1)).await.unwrap().unwrap();
    assert_eq!(states(store, "cmd-rc").await, vec![S::Success, S::Failed, S::Terminated, S::Terminated, S::Terminated]);
    let c = store.get_command("cmd-rc").await.unwrap().unwrap();
    assert_eq!((c.status.as_str(), c.status_details.as_str()), ("Failed", "Failed"));
    assert_eq!((c.target_count, c.completed_count, c.error_count), (5, 5, 1));
}

async fn claim_finish_and_duplicates(store: &dyn Store) {
    let targets = nodes("cf", 1);
    store.create_command(&command("cmd-cf", &targets, 50, 0)).await.unwrap();
    store.settle("cmd-cf", 1_000).await.unwrap();
    let claimed = store.claim("cf-0", 1_100, 8).await.unwrap();
    assert_eq!(claimed[0].command_id, "cmd-cf");
    assert!(store.finish(&finished("cmd-cf", "cf-0", Finish::Success, 0)).await.unwrap().is_some());
    // A resent result changes nothing.
    assert!(store.finish(&finished("cmd-cf", "cf-0", Finish::Failed, 9)).await.unwrap().is_none());
    let inv = store.get_invocation("cmd-cf", "cf-0").await.unwrap().unwrap();
    assert_eq!((inv.state, inv.response_code), (S::Success, 0));
    let plugins = store.list_plugins("cmd-cf", "cf-0").await.unwrap();
    assert_eq!(plugins[0].stdout_head, "out");
    assert_eq!(plugins[0].provenance_json, r#"{"source_type":"S3"}"#, "provenance is kept with the step");
    assert_eq!(store.get_command("cmd-cf").await.unwrap().unwrap().status, "Success");
    assert!(store.finish(&finished("cmd-cf", "nope", Finish::Success, 0)).await.is_err());
}

async fn cancel_pending_and_running(store: &dyn Store) {
    let targets = nodes("cc", 3);
    store.create_command(&command("cmd-cc", &targets, 1, 0)).await.unwrap();
    store.settle("cmd-cc", 1_000).await.unwrap();
    store.claim("cc-0", 1_100, 8).await.unwrap();
    let running = store.cancel("cmd-cc", None, 1_200).await.unwrap();
    assert_eq!(running, vec!["cc-0".to_string()]);
    assert_eq!(states(store, "cmd-cc").await, vec![S::Cancelling, S::Cancelled, S::Cancelled]);
    assert_eq!(store.get_command("cmd-cc").await.unwrap().unwrap().status, "Cancelling");
    assert_eq!(store.cancels_for("cc-0").await.unwrap(), vec!["cmd-cc".to_string()]);
    store.finish(&finished("cmd-cc", "cc-0", Finish::Cancelled, -1)).await.unwrap();
    assert_eq!(store.get_command("cmd-cc").await.unwrap().unwrap().status, "Cancelled");
    assert!(store.cancels_for("cc-0").await.unwrap().is_empty());
    assert!(matches!(store.cancel("cmd-none", None, 1).await, Err(StoreError::NotFound(_))));
}

async fn delivery_timeout(store: &dyn Store) {
    let targets = nodes("dt", 2);
    let mut cmd = command("cmd-dt", &targets, 1, 0);
    cmd.delivery_deadline_ms = 5_000;
    store.create_command(&cmd).await.unwrap();
    store.settle("cmd-dt", 1_000).await.unwrap();
    assert!(store.next_delivery_deadline().await.unwrap().is_some_and(|d| d <= 5_000));
    assert!(!store.expire_deliveries(4_999).await.unwrap().contains(&"cmd-dt".to_string()));
    assert!(store.expire_deliveries(5_000).await.unwrap().contains(&"cmd-dt".to_string()));
    assert_eq!(states(store, "cmd-dt").await, vec![S::DeliveryTimedOut, S::DeliveryTimedOut]);
    let c = store.get_command("cmd-dt").await.unwrap().unwrap();
    assert_eq!(
        (c.status.as_str(), c.status_details.as_str(), c.delivery_timed_out_count, c.error_count),
        ("TimedOut", "Delivery Timed Out", 2, 0)
    );
    assert!(store.claim("dt-0", 6_000, 8).await.unwrap().is_empty(), "a timed-out invocation is never delivered");
}

async fn deregistration_makes_undeliverable(store: &dyn Store) {
    store.create_activation(&activation("act-dr", 1, i64::MAX)).await.unwrap();
    store.register_node(&registration("act-dr", "hash-act-dr", "mi-0000000000000dead", &[])).await.unwrap();
    let targets = vec!["mi-0000000000000dead".to_string()];
    store.create_command(&command("cmd-dr", &targets, 1, 0)).await.unwrap();
    store.settle("cmd-dr", 1_000).await.unwrap();
    let changed = store.deregister_node("mi-0000000000000dead", 2_000).await.unwrap();
    assert_eq!(changed, vec!["cmd-dr".to_string()]);
    assert_eq!(states(store, "cmd-dr").await, vec![S::Undeliverable]);
    assert!(store.get_access_key("AKAGENTmi-0000000000000dead").await.unwrap().is_none());
}

async fn silent_nodes_are_abandoned_after_expiry(store: &dyn Store) {
    store.create_activation(&activation("act-ab", 2, i64::MAX)).await.unwrap();
    let mut quiet = registration("act-ab", "hash-act-ab", "mi-000000000000000ab", &[]);
    quiet.now_ms = 1_000;
    store.register_node(&quiet).await.unwrap();
    let mut chatty = registration("act-ab", "hash-act-ab", "mi-000000000000000cd", &[]);
    chatty.now_ms = 1_000;
    store.register_node(&chatty).await.unwrap();
    let targets = vec!["mi-000000000000000ab".to_string(), "mi-000000000000000cd".to_string()];
    let mut cmd = command("cmd-ab", &targets, 50, 0);
    cmd.expires_ms = 10_000;
    store.create_command(&cmd).await.unwrap();
    store.settle("cmd-ab", 1_000).await.unwrap();
    store.claim("mi-000000000000000ab", 1_100, 8).await.unwrap();
    store.claim("mi-000000000000000cd", 1_100, 8).await.unwrap();
    store.touch_node("mi-000000000000000cd", 20_000, None).await.unwrap();
    assert_eq!(store.expiry_outlook(5_000).await.unwrap().next_ms, Some(10_000));
    assert!(store.expiry_outlook(10_000).await.unwrap().overdue);
    assert!(store.abandon_silent(9_999, 15_000).await.unwrap().is_empty(), "not before ExpiresAfter");
    assert_eq!(store.abandon_silent(20_000, 15_000).await.unwrap(), vec!["cmd-ab".to_string()]);
    // Only the silent node's invocation is abandoned; the node that keeps polling keeps its run.
    assert_eq!(states(store, "cmd-ab").await, vec![S::Abandoned, S::InProgress]);
    assert_eq!(store.get_command("cmd-ab").await.unwrap().unwrap().error_count, 1);
    // The silent node comes back with its result: it replaces Abandoned.
    store.finish(&finished("cmd-ab", "mi-000000000000000ab", Finish::Success, 0)).await.unwrap().unwrap();
    store.finish(&finished("cmd-ab", "mi-000000000000000cd", Finish::Success, 0)).await.unwrap().unwrap();
    let c = store.get_command("cmd-ab").await.unwrap().unwrap();
    assert_eq!((c.status.as_str(), c.error_count), ("Success", 0));
    assert!(!store.expiry_outlook(30_000).await.unwrap().overdue);
}

async fn list_filters_and_pages(store: &dyn Store) {
    let targets = nodes("lf", 3);
    for i in 0..3 {
        let mut cmd = command(&format!("cmd-lf-{i}"), &targets, 50, 0);
        cmd.requested_ms = 10_000 + i;
        store.create_command(&cmd).await.unwrap();
    }
    let page = |offset, limit| CommandFilter {
        instance_id: Some("lf-1".into()),
        offset,
        limit: Some(limit),
        ..Default::default()
    };
    let first: Vec<_> = store.list_commands(&page(0, 2)).await.unwrap().into_iter().map(|c| c.command_id).collect();
    assert_eq!(first, vec!["cmd-lf-2".to_string(), "cmd-lf-1".to_string()], "newest first");
    let second = store.list_commands(&page(2, 2)).await.unwrap();
    assert_eq!(second.len(), 1);
    let pending =
        CommandFilter { statuses: vec!["Pending".into()], instance_id: Some("lf-0".into()), ..Default::default() };
    assert_eq!(store.list_commands(&pending).await.unwrap().len(), 3);
    let executing = CommandFilter { executing: Some(false), instance_id: Some("lf-0".into()), ..Default::default() };
    assert!(store.list_commands(&executing).await.unwrap().is_empty());
    let inv =
        InvocationFilter { instance_id: Some("lf-2".into()), statuses: vec!["Pending".into()], ..Default::default() };
    assert_eq!(store.list_invocations(&inv).await.unwrap().len(), 3);
    let none =
        InvocationFilter { instance_id: Some("lf-2".into()), statuses: vec!["Success".into()], ..Default::default() };
    assert!(store.list_invocations(&none).await.unwrap().is_empty());
}

async fn leases_are_exclusive_until_they_expire(store: &dyn Store) {
    assert!(store.acquire_lease("timers", "replica-a", 10_000).await.unwrap());
    assert!(!store.acquire_lease("timers", "replica-b", 10_000).await.unwrap(), "a live lease is not taken");
    assert!(store.acquire_lease("timers", "replica-a", 10_000).await.unwrap(), "its holder renews it");
    assert!(store.acquire_lease("retention", "replica-b", 10_000).await.unwrap(), "leases are independent");
    store.release_lease("timers", "replica-b").await.unwrap();
    assert!(!store.acquire_lease("timers", "replica-b", 10_000).await.unwrap(), "only the holder releases");
    store.release_lease("timers", "replica-a").await.unwrap();
    assert!(store.acquire_lease("timers", "replica-b", 10_000).await.unwrap(), "a released lease is free");
    // A renewal with a negative TTL leaves the lease already expired: the next holder takes it over.
    assert!(store.acquire_lease("timers", "replica-b", -1_000).await.unwrap());
    assert!(store.acquire_lease("timers", "replica-a", 10_000).await.unwrap(), "an expired lease is taken over");
}

async fn retention_purges_old_finished_commands_in_batches(store: &dyn Store) {
    for (id, finish) in
        [("cmd-old-ok", Some(Finish::Success)), ("cmd-old-bad", Some(Finish::Failed)), ("cmd-old-run", None)]
    {
        let targets = nodes(id, 2);
        let mut cmd = command(id, &targets, 10, 10);
        cmd.requested_ms = 500;
        store.create_command(&cmd).await.unwrap();
        store.settle(id, 600).await.unwrap();
        if let Some(finish) = finish {
            for node in &targets {
                store.claim(node, 600, 8).await.unwrap();
                store.finish(&finished(id, node, finish, 0)).await.unwrap();
            }
        }
    }
    let first = store.finished_before(501, 1).await.unwrap();
    assert_eq!(first, vec!["cmd-old-ok".to_string()], "oldest first, at most the batch size");
    let all = store.finished_before(501, 100).await.unwrap();
    assert_eq!(all, vec!["cmd-old-ok".to_string(), "cmd-old-bad".to_string()], "unfinished commands are kept");
    let mut asked = all.clone();
    asked.push("cmd-old-run".into());
    asked.push("cmd-missing".into());
    assert_eq!(store.delete_commands(&asked).await.unwrap(), all, "only finished commands are deleted");
    assert!(store.finished_before(501, 100).await.unwrap().is_empty());
    assert!(store.get_command("cmd-old-ok").await.unwrap().is_none());
    assert!(store.get_invocation("cmd-old-ok", "cmd-old-ok-0").await.unwrap().is_none());
    assert!(store.list_plugins("cmd-old-bad", "cmd-old-bad-0").await.unwrap().is_empty());
    assert!(store.get_command("cmd-old-run").await.unwrap().is_some());
    assert!(store.get_command("cmd-cf").await.unwrap().is_some(), "newer commands are kept");
}
