//! The Automation part of the conformance suite: executions and their steps, client-token idempotency,
//! compare-and-swap, stop requests, listing, per-execution leases and retention. Not the automation
//! driver's rules (which status follows which): the store is given plain data.
//!
//! Every check works on its own execution ids (`auto-<check>-…`) and document names (`AutoConf-<check>…`),
//! because the whole suite shares one store. Claims and purges reach every execution in the store, so their
//! checks look only at their own ids in what comes back, and the other checks keep their executions out of
//! the purge's way (finished ones end long after its cutoff).

use crate::*;

/// Runs every Automation check.
pub(super) async fn automation(store: &dyn Store) {
    create_get_and_steps(store).await;
    client_tokens_are_idempotent(store).await;
    updates_compare_and_swap(store).await;
    stop_requests(store).await;
    steps_are_upserted(store).await;
    list_filters_and_pages(store).await;
    claims_and_leases(store).await;
    purge_removes_old_finished_executions(store).await;
}

fn new_step(name: &str, action: &str) -> NewStepExecution {
    NewStepExecution {
        step_execution_id: format!("step-{name}"),
        step_name: name.into(),
        action: action.into(),
        timeout_seconds: 600,
        on_failure: "Abort".into(),
        max_attempts: 1,
        is_end: false,
        next_step: String::new(),
        is_critical: true,
        inputs_json: format!(r#"{{"Name":"\"{name}\""}}"#),
    }
}

fn new_execution(id: &str, document_name: &str, now_ms: i64) -> NewAutomationExecution {
    NewAutomationExecution {
        execution_id: id.into(),
        document_name: document_name.into(),
        document_version: "1".into(),
        mode: "Auto".into(),
        parameters_json: r#"{"Message":["hi"]}"#.into(),
        targets_json: "[]".into(),
        target_parameter_name: String::new(),
        max_concurrency: "10".into(),
        max_errors: "0".into(),
        parent_execution_id: None,
        client_token: None,
        executed_by: "arn:aws:iam::000000000000:user/conformance".into(),
        tags: Vec::new(),
        steps: Vec::new(),
        now_ms,
    }
}

async fn create(store: &dyn Store, execution: NewAutomationExecution) -> AutomationExecution {
    store.create_automation_execution(&execution).await.unwrap()
}

/// An update that rewrites an execution's mutable fields with what they are now.
fn unchanged(e: &AutomationExecution) -> AutomationUpdate {
    AutomationUpdate {
        execution_id: e.execution_id.clone(),
        expected_version: e.version,
        status: e.status.clone(),
        outputs_json: e.outputs_json.clone(),
        failure_message: e.failure_message.clone(),
        current_step_name: e.current_step_name.clone(),
        current_action: e.current_action.clone(),
        end_ms: e.end_ms,
    }
}

/// Moves an execution to `status` (ending at `end_ms`), which must succeed.
async fn set_status(store: &dyn Store, id: &str, status: &str, end_ms: i64) -> AutomationExecution {
    let current = store.get_automation_execution(id).await.unwrap().unwrap();
    let update = AutomationUpdate { status: status.into(), end_ms, ..unchanged(&current) };
    store.update_automation_execution(&update).await.unwrap()
}

fn ids(executions: &[AutomationExecution]) -> Vec<String> {
    executions.iter().map(|e| e.execution_id.clone()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn create_get_and_steps(store: &dyn Store) {
    let mut new = new_execution("auto-create-1", "AutoConf-Create", 10_000);
    new.steps = vec![
        new_step("first", "aws:sleep"),
        new_step("second", "aws:executeScript"),
        NewStepExecution { is_end: true, is_critical: false, ..new_step("third", "aws:approve") },
    ];
    new.tags = vec![("Env".into(), "prod".into()), ("Team".into(), "ops".into())];
    new.target_parameter_name = "InstanceId".into();
    new.targets_json = r#"[{"Key":"tag:Env","Values":["prod"]}]"#.into();
    let created = create(store, new).await;
    let expected = AutomationExecution {
        execution_id: "auto-create-1".into(),
        document_name: "AutoConf-Create".into(),
        document_version: "1".into(),
        status: "Pending".into(),
        mode: "Auto".into(),
        parameters_json: r#"{"Message":["hi"]}"#.into(),
        outputs_json: "{}".into(),
        failure_message: String::new(),
        current_step_name: String::new(),
        current_action: String::new(),
        parent_execution_id: None,
        executed_by: "arn:aws:iam::000000000000:user/conformance".into(),
        targets_json: r#"[{"Key":"tag:Env","Values":["prod"]}]"#.into(),
        target_parameter_name: "InstanceId".into(),
        max_concurrency: "10".into(),
        max_errors: "0".into(),
        start_ms: 10_000,
        end_ms: 0,
        client_token: None,
        stop_requested: None,
        version: 1,
        lease_owner: None,
        lease_until_ms: 0,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_automation_execution("auto-create-1").await.unwrap(), Some(expected));
    assert_eq!(store.get_automation_execution("auto-create-missing").await.unwrap(), None);

    let steps = store.list_step_executions("auto-create-1").await.unwrap();
    let names: Vec<_> = steps.iter().map(|s| (s.step_index, s.step_name.as_str())).collect();
    assert_eq!(names, vec![(0, "first"), (1, "second"), (2, "third")], "the runbook's steps, in order");
    let third = &steps[2];
    assert_eq!(
        (third.action.as_str(), third.status.as_str(), third.attempts, third.is_end, third.is_critical),
        ("aws:approve", "Pending", 0, true, false)
    );
    assert_eq!(
        (third.step_execution_id.as_str(), third.inputs_json.as_str(), third.outputs_json.as_str()),
        ("step-third", r#"{"Name":"\"third\""}"#, "{}")
    );
    assert_eq!((third.start_ms, third.end_ms, third.response_code), (0, 0, None));
    assert_eq!((third.timeout_seconds, third.on_failure.as_str(), third.max_attempts), (600, "Abort", 1));
    assert!(store.list_step_executions("auto-create-missing").await.unwrap().is_empty());
    assert_eq!(
        store.list_tags("Automation", "auto-create-1").await.unwrap(),
        vec![("Env".to_string(), "prod".to_string()), ("Team".to_string(), "ops".to_string())]
    );
}

async fn client_tokens_are_idempotent(store: &dyn Store) {
    let with_token = |id: &str, token: &str| NewAutomationExecution {
        client_token: Some(token.into()),
        steps: vec![new_step("only", "aws:sleep")],
        ..new_execution(id, "AutoConf-Token", 11_000)
    };
    let first = create(store, with_token("auto-token-1", "tok-conformance-1")).await;
    assert_eq!(first.client_token.as_deref(), Some("tok-conformance-1"));
    let again = store.create_automation_execution(&with_token("auto-token-2", "tok-conformance-1")).await;
    assert!(matches!(&again, Err(StoreError::AlreadyExists(id)) if id == "auto-token-1"), "{again:?}");
    assert_eq!(store.get_automation_execution("auto-token-2").await.unwrap(), None, "nothing was written");
    assert!(store.list_step_executions("auto-token-2").await.unwrap().is_empty());

    // Two creates racing with one token: one wins, the other is told the winner's id.
    let (a, b) = (with_token("auto-token-3", "tok-conformance-2"), with_token("auto-token-4", "tok-conformance-2"));
    let (a, b) = tokio::join!(store.create_automation_execution(&a), store.create_automation_execution(&b));
    match (&a, &b) {
        (Ok(won), Err(StoreError::AlreadyExists(id))) | (Err(StoreError::AlreadyExists(id)), Ok(won)) => {
            assert_eq!(&won.execution_id, id)
        }
        _ => panic!("one create wins, the other gets its id: {a:?} {b:?}"),
    }

    // Executions without a token never collide; a taken execution id is a Conflict, not idempotency.
    create(store, new_execution("auto-token-5", "AutoConf-Token", 11_000)).await;
    create(store, new_execution("auto-token-6", "AutoConf-Token", 11_000)).await;
    let taken = store.create_automation_execution(&with_token("auto-token-5", "tok-conformance-3")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let taken = store.create_automation_execution(&new_execution("auto-token-1", "AutoConf-Token", 1)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(store.get_automation_execution("auto-token-1").await.unwrap().unwrap(), first, "left as it was");
}

async fn updates_compare_and_swap(store: &dyn Store) {
    let created = create(store, new_execution("auto-cas-1", "AutoConf-Cas", 12_000)).await;
    let update = AutomationUpdate {
        status: "InProgress".into(),
        outputs_json: r#"{"first.Out":["x"]}"#.into(),
        failure_message: "not yet".into(),
        current_step_name: "first".into(),
        current_action: "aws:sleep".into(),
        end_ms: 0,
        ..unchanged(&created)
    };
    let updated = store.update_automation_execution(&update).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(
        (
            updated.status.as_str(),
            updated.outputs_json.as_str(),
            updated.failure_message.as_str(),
            updated.current_step_name.as_str(),
            updated.current_action.as_str()
        ),
        ("InProgress", r#"{"first.Out":["x"]}"#, "not yet", "first", "aws:sleep")
    );
    assert_eq!(store.get_automation_execution("auto-cas-1").await.unwrap().as_ref(), Some(&updated));

    // A writer that read version 1 is refused, and changes nothing.
    let stale = AutomationUpdate { status: "Failed".into(), ..update.clone() };
    let refused = store.update_automation_execution(&stale).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.get_automation_execution("auto-cas-1").await.unwrap().as_ref(), Some(&updated));

    // Two writers that read version 2: one wins.
    let (a, b) = (
        AutomationUpdate { current_step_name: "a".into(), ..unchanged(&updated) },
        AutomationUpdate { current_step_name: "b".into(), ..unchanged(&updated) },
    );
    let (a, b) = tokio::join!(store.update_automation_execution(&a), store.update_automation_execution(&b));
    assert!(
        matches!((&a, &b), (Ok(_), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(_))),
        "one of two writers of version 2 wins: {a:?} {b:?}"
    );
    assert_eq!(store.get_automation_execution("auto-cas-1").await.unwrap().unwrap().version, 3);

    let missing = AutomationUpdate { execution_id: "auto-cas-missing".into(), ..update };
    let missing = store.update_automation_execution(&missing).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

async fn stop_requests(store: &dyn Store) {
    let created = create(store, new_execution("auto-stop-1", "AutoConf-Stop", 13_000)).await;
    let stopped = store.request_stop("auto-stop-1", "Cancel").await.unwrap();
    assert_eq!((stopped.stop_requested.as_deref(), stopped.version), (Some("Cancel"), 2));
    assert_eq!(stopped.status, "Pending", "the driver, not the store, acts on a stop request");
    // The driver's next write, based on what it read before the request, fails: it must read the request.
    let refused = store.update_automation_execution(&unchanged(&created)).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    let cancelling = AutomationUpdate { status: "Cancelling".into(), ..unchanged(&stopped) };
    let cancelling = store.update_automation_execution(&cancelling).await.unwrap();
    assert_eq!(cancelling.stop_requested.as_deref(), Some("Cancel"), "an update keeps the request");

    let completed = store.request_stop("auto-stop-1", "Complete").await.unwrap();
    assert_eq!((completed.stop_requested.as_deref(), completed.version), (Some("Complete"), 4));
    let missing = store.request_stop("auto-stop-missing", "Cancel").await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    let bad = store.request_stop("auto-stop-1", "Pause").await;
    assert!(matches!(bad, Err(StoreError::Unsupported(_))), "{bad:?}");
    assert_eq!(store.get_automation_execution("auto-stop-1").await.unwrap(), Some(completed));
}

async fn steps_are_upserted(store: &dyn Store) {
    let mut new = new_execution("auto-steps-1", "AutoConf-Steps", 14_000);
    new.steps = vec![new_step("first", "aws:sleep"), new_step("second", "aws:sleep")];
    let created = create(store, new).await;
    let steps = store.list_step_executions("auto-steps-1").await.unwrap();
    let done = StepExecution {
        step_execution_id: "step-first-retried".into(),
        status: "Failed".into(),
        attempts: 2,
        outputs_json: r#"{"Out":["1"]}"#.into(),
        response: "boom".into(),
        failure_message: "Step fails when it is executing".into(),
        failure_details_json: r#"{"FailureStage":"Invocation","FailureType":"Action"}"#.into(),
        start_ms: 14_100,
        end_ms: 14_200,
        response_code: Some(1),
        next_step: "second".into(),
        inputs_json: r#"{"Duration":"\"PT1S\""}"#.into(),
        ..steps[0].clone()
    };
    store.put_step_execution(&done).await.unwrap();
    let steps = store.list_step_executions("auto-steps-1").await.unwrap();
    assert_eq!(steps[0], done, "everything but the identity is rewritten");
    assert_eq!(steps[1].status, "Pending", "other steps are untouched");

    // Steps the runbook did not list (a loop's iterations, a step run again) come after, in index order.
    let extra = |index: i64| StepExecution { step_index: index, step_name: format!("extra-{index}"), ..done.clone() };
    store.put_step_execution(&extra(5)).await.unwrap();
    store.put_step_execution(&extra(2)).await.unwrap();
    let order: Vec<i64> =
        store.list_step_executions("auto-steps-1").await.unwrap().iter().map(|s| s.step_index).collect();
    assert_eq!(order, vec![0, 1, 2, 5]);

    let orphan = StepExecution { execution_id: "auto-steps-missing".into(), ..done };
    let orphan = store.put_step_execution(&orphan).await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
    assert!(store.list_step_executions("auto-steps-missing").await.unwrap().is_empty());
    let after = store.get_automation_execution("auto-steps-1").await.unwrap().unwrap();
    assert_eq!(after.version, created.version, "step writes leave the execution's version alone");
}

async fn list_filters_and_pages(store: &dyn Store) {
    let mut a = new_execution("auto-list-a", "AutoConf-List-Alpha", 20_000);
    a.tags = vec![("Team".into(), "blue".into())];
    create(store, a).await;
    let mut b = new_execution("auto-list-b", "AutoConf-List-Beta", 21_000);
    b.parent_execution_id = Some("auto-list-a".into());
    b.tags = vec![("Owner".into(), "blue".into())];
    create(store, b).await;
    let mut c = new_execution("auto-list-c", "AutoConf-List-Alpha", 22_000);
    c.parent_execution_id = Some("auto-list-a".into());
    let c = create(store, c).await;
    let c = AutomationUpdate {
        status: "Success".into(),
        current_action: "aws:sleep".into(),
        end_ms: 2_000_000,
        ..unchanged(&c)
    };
    store.update_automation_execution(&c).await.unwrap();
    create(store, new_execution("auto-list-d", "AutoConf-Lister", 23_000)).await;

    let list = |filter: AutomationFilter| async move {
        let filter = AutomationFilter {
            document_name_prefix: filter.document_name_prefix.or(Some("AutoConf-List".into())),
            ..filter
        };
        ids(&store.list_automation_executions(&filter).await.unwrap())
    };
    let all = strings(&["auto-list-d", "auto-list-c", "auto-list-b", "auto-list-a"]);
    assert_eq!(list(AutomationFilter::default()).await, all, "newest first");
    let prefix = |p: &str| AutomationFilter { document_name_prefix: Some(p.into()), ..Default::default() };
    assert_eq!(list(prefix("AutoConf-List-")).await, strings(&["auto-list-c", "auto-list-b", "auto-list-a"]));
    assert_eq!(list(prefix("AutoConf-List-Alpha")).await, strings(&["auto-list-c", "auto-list-a"]));
    assert!(list(prefix("AutoConf-List-Gamma")).await.is_empty());
    let statuses = |s: &[&str]| AutomationFilter { statuses: strings(s), ..Default::default() };
    assert_eq!(list(statuses(&["Success"])).await, strings(&["auto-list-c"]));
    assert_eq!(list(statuses(&["Pending", "Success"])).await, all, "any of the statuses");
    assert!(list(statuses(&["Failed"])).await.is_empty());
    let parent = AutomationFilter { parent_execution_id: Some("auto-list-a".into()), ..Default::default() };
    assert_eq!(list(parent).await, strings(&["auto-list-c", "auto-list-b"]));
    let id = AutomationFilter { execution_id: Some("auto-list-b".into()), ..Default::default() };
    assert_eq!(list(id).await, strings(&["auto-list-b"]));
    let action = AutomationFilter { current_action: Some("aws:sleep".into()), ..Default::default() };
    assert_eq!(list(action).await, strings(&["auto-list-c"]));
    let window = AutomationFilter { start_after_ms: Some(21_000), start_before_ms: Some(22_000), ..Default::default() };
    assert_eq!(list(window).await, strings(&["auto-list-c", "auto-list-b"]), "both bounds are inclusive");
    let tag = AutomationFilter { tag: Some("Team".into()), ..Default::default() };
    assert_eq!(list(tag).await, strings(&["auto-list-a"]), "by tag key, whatever the value");
    let combined = AutomationFilter {
        statuses: strings(&["Pending"]),
        parent_execution_id: Some("auto-list-a".into()),
        ..Default::default()
    };
    assert_eq!(list(combined).await, strings(&["auto-list-b"]), "every filter given must match");

    let page = |offset, limit| AutomationFilter { offset, limit: Some(limit), ..Default::default() };
    assert_eq!(list(page(0, 2)).await, strings(&["auto-list-d", "auto-list-c"]));
    assert_eq!(list(page(2, 2)).await, strings(&["auto-list-b", "auto-list-a"]));
    assert!(list(page(4, 2)).await.is_empty());
}

/// Claims for `owner` in batches of 2 until a claim comes back empty; every batch must be within the limit
/// and leased to `owner`.
async fn claim_all(store: &dyn Store, owner: &str, now_ms: i64, lease_ms: i64) -> Vec<AutomationExecution> {
    let mut claimed = Vec::new();
    loop {
        let batch = store.claim_automation_executions(owner, now_ms, lease_ms, 2).await.unwrap();
        assert!(batch.len() <= 2, "a claim takes at most its limit: {batch:?}");
        for e in &batch {
            assert_eq!((e.lease_owner.as_deref(), e.lease_until_ms), (Some(owner), now_ms + lease_ms), "{e:?}");
        }
        if batch.is_empty() {
            return claimed;
        }
        tokio::task::yield_now().await;
        claimed.extend(batch);
    }
}

/// The ids among `claimed` that start with `auto-claim-`, sorted.
fn mine(claimed: &[AutomationExecution]) -> Vec<String> {
    let mut mine: Vec<String> = ids(claimed).into_iter().filter(|id| id.starts_with("auto-claim-")).collect();
    mine.sort();
    mine
}

async fn claims_and_leases(store: &dyn Store) {
    const T: i64 = 1_000_000;
    const LEASE: i64 = 60_000;
    let active: Vec<String> = (0..6).map(|i| format!("auto-claim-{i}")).collect();
    for id in &active {
        create(store, new_execution(id, "AutoConf-Claim", 30_000)).await;
    }
    set_status(store, "auto-claim-3", "Waiting", 0).await;
    set_status(store, "auto-claim-4", "InProgress", 0).await;
    set_status(store, "auto-claim-5", "Cancelling", 0).await;
    create(store, new_execution("auto-claim-x-done", "AutoConf-Claim", 30_000)).await;
    set_status(store, "auto-claim-x-done", "Success", 2_000_000).await;
    create(store, new_execution("auto-claim-x-approval", "AutoConf-Claim", 30_000)).await;
    set_status(store, "auto-claim-x-approval", "PendingApproval", 0).await;
    let versions_before: Vec<i64> = {
        let mut v = Vec::new();
        for id in &active {
            v.push(store.get_automation_execution(id).await.unwrap().unwrap().version);
        }
        v
    };

    // Two replicas claim at once: together they take every active execution, and never the same one.
    let (a, b) = tokio::join!(claim_all(store, "replica-a", T, LEASE), claim_all(store, "replica-b", T, LEASE));
    let mut both = mine(&a);
    both.extend(mine(&b));
    both.sort();
    assert_eq!(both, active, "each active execution is claimed exactly once; finished ones never");
    for e in a.iter().chain(&b).filter(|e| e.execution_id.starts_with("auto-claim-")) {
        let index: usize = e.execution_id["auto-claim-".len()..].parse().unwrap();
        assert_eq!(e.version, versions_before[index] + 1, "a claim bumps the version: {e:?}");
    }
    assert!(mine(&claim_all(store, "replica-c", T + LEASE - 1, LEASE).await).is_empty(), "running leases are kept");
    assert!(mine(&claim_all(store, "replica-a", T, LEASE).await).is_empty(), "nor re-claimed by their owner");

    // The lease of a replica that went silent ends: another takes the executions over, and the silent
    // replica can neither renew nor write with what it read.
    let (holder, held) =
        if a.iter().any(|e| e.execution_id == "auto-claim-0") { ("replica-a", &a) } else { ("replica-b", &b) };
    let stale = held.iter().find(|e| e.execution_id == "auto-claim-0").unwrap().clone();
    let taken = claim_all(store, "replica-c", T + LEASE, LEASE).await;
    assert_eq!(mine(&taken), active, "a lease ends at lease_until_ms");
    assert!(!store.renew_automation_lease("auto-claim-0", holder, T + LEASE, LEASE).await.unwrap());
    let refused = store.update_automation_execution(&unchanged(&stale)).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "a replica that lost its lease cannot write: {refused:?}");

    // Renewal keeps an execution from being taken over; the others' leases end.
    let t2 = T + 2 * LEASE;
    assert!(store.renew_automation_lease("auto-claim-0", "replica-c", t2 - 10, LEASE).await.unwrap());
    let renewed = store.get_automation_execution("auto-claim-0").await.unwrap().unwrap();
    assert_eq!((renewed.lease_owner.as_deref(), renewed.lease_until_ms), (Some("replica-c"), t2 - 10 + LEASE));
    assert!(!store.renew_automation_lease("auto-claim-missing", "replica-c", t2, LEASE).await.unwrap());
    let rest = claim_all(store, "replica-d", t2, LEASE).await;
    assert_eq!(mine(&rest), active[1..].to_vec());

    // Release: only by the holder, and the execution is free at once.
    store.release_automation_lease("auto-claim-0", "replica-d").await.unwrap();
    let kept = store.get_automation_execution("auto-claim-0").await.unwrap().unwrap();
    assert_eq!(kept.lease_owner.as_deref(), Some("replica-c"), "only the holder releases");
    store.release_automation_lease("auto-claim-0", "replica-c").await.unwrap();
    let released = store.get_automation_execution("auto-claim-0").await.unwrap().unwrap();
    assert_eq!((released.lease_owner, released.lease_until_ms), (None, 0));
    assert!(!store.renew_automation_lease("auto-claim-0", "replica-c", t2, LEASE).await.unwrap());
    assert_eq!(mine(&claim_all(store, "replica-e", t2, LEASE).await), strings(&["auto-claim-0"]));

    // An execution that finishes is never claimed again, even with its lease ended.
    set_status(store, "auto-claim-1", "Failed", 2_000_000).await;
    let later = claim_all(store, "replica-f", t2 + 10 * LEASE, LEASE).await;
    let expected: Vec<String> = active.iter().filter(|id| *id != "auto-claim-1").cloned().collect();
    assert_eq!(mine(&later), expected);
    for id in ["auto-claim-x-done", "auto-claim-x-approval"] {
        let e = store.get_automation_execution(id).await.unwrap().unwrap();
        assert_eq!((e.lease_owner, e.lease_until_ms), (None, 0), "{id} was never claimed");
    }
}

async fn purge_removes_old_finished_executions(store: &dyn Store) {
    // Ends at 1-3 ms: earlier than any other execution of the suite ends, so the purge's oldest-first
    // order is these three's.
    for (id, status, end_ms) in
        [("auto-purge-a", "Success", 2), ("auto-purge-b", "Failed", 1), ("auto-purge-c", "Cancelled", 3)]
    {
        let mut new = new_execution(id, "AutoConf-Purge", 0);
        new.steps = vec![new_step("only", "aws:sleep")];
        new.tags = vec![("Env".into(), "old".into())];
        create(store, new).await;
        set_status(store, id, status, end_ms).await;
    }
    create(store, new_execution("auto-purge-running", "AutoConf-Purge", 0)).await;
    set_status(store, "auto-purge-running", "InProgress", 0).await;
    create(store, new_execution("auto-purge-recent", "AutoConf-Purge", 0)).await;
    set_status(store, "auto-purge-recent", "Success", 10).await;

    assert_eq!(
        store.purge_automation_executions(4, 2).await.unwrap(),
        strings(&["auto-purge-b", "auto-purge-a"]),
        "oldest end first, at most the batch size"
    );
    assert_eq!(store.purge_automation_executions(4, 100).await.unwrap(), strings(&["auto-purge-c"]));
    assert!(store.purge_automation_executions(4, 100).await.unwrap().is_empty());
    for id in ["auto-purge-a", "auto-purge-b", "auto-purge-c"] {
        assert_eq!(store.get_automation_execution(id).await.unwrap(), None);
        assert!(store.list_step_executions(id).await.unwrap().is_empty(), "{id}: steps go with it");
        assert!(store.list_tags("Automation", id).await.unwrap().is_empty(), "{id}: tags go with it");
    }
    assert!(store.get_automation_execution("auto-purge-running").await.unwrap().is_some(), "unfinished is kept");
    assert!(store.get_automation_execution("auto-purge-recent").await.unwrap().is_some(), "newer is kept");
}
