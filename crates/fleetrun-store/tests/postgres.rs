//! Runs the store conformance suite against PostgreSQL, and checks the engine's locking with two stores
//! (two pools, as two server replicas would have) racing on one database.
//!
//! Each test creates a fresh database `fleetrun_test_<random hex>` on the server named by
//! `FLEETRUN_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it when it
//! ends, passing or failing. An unreachable server fails the test: CI has PostgreSQL, and a silently
//! skipped engine would be untested. This is not a benchmark.

use fleetrun_core::state::{Finish, InvocationState, Tally, command_status};
use fleetrun_store::postgres::PgStore;
use fleetrun_store::{FinishedInvocation, InvocationFilter, Store, conformance};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test and dropped (with any connections left open) when this is dropped,
/// also when the test panics.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> TestDb {
        let admin_url = std::env::var("FLEETRUN_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is unreachable at {admin_url} ({e}); start it or set FLEETRUN_TEST_PG_URL to a server \
                 where this user may CREATE DATABASE"
            )
        });
        let name = format!("fleetrun_test_{}", random_hex());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} at {admin_url}: {e}"));
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        TestDb { admin_url, name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread with its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// `url` with its database (the path) replaced by `name`, keeping any `?options`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// 64 random bits as hex, from the standard library's randomly keyed hasher.
fn random_hex() -> String {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let seed = std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()));
    format!("{seed:016x}")
}

#[tokio::test]
async fn postgres_conforms() {
    let db = TestDb::create().await;
    let store = PgStore::connect(&db.url).await.unwrap();
    conformance::run_all(&store).await;
    // Connecting again runs the migrations again (a no-op) and sees the same data.
    let again = PgStore::connect(&db.url).await.unwrap();
    assert!(again.get_command("cmd-rc").await.unwrap().is_some());
    again.close().await;
    store.close().await;
}

fn finished(command_id: &str, instance_id: &str, finish: Finish, now_ms: i64) -> FinishedInvocation {
    FinishedInvocation {
        command_id: command_id.into(),
        instance_id: instance_id.into(),
        finish,
        response_code: if finish == Finish::Success { 0 } else { 1 },
        started_ms: now_ms,
        ended_ms: now_ms,
        plugins: Vec::new(),
        now_ms,
    }
}

/// Two replicas' agents poll one node for 40 queued invocations at once: each is handed out exactly once.
/// With `started`, the commands are already InProgress (another node claimed first), so claims take only
/// invocation rows, with SKIP LOCKED; without, they are Pending and each first claim locks its command.
async fn claims_are_exclusive(stores: &[Arc<PgStore>; 2], prefix: &str, started: bool) {
    const COMMANDS: usize = 40;
    let (hot, warm) = (format!("mi-{prefix}-hot"), format!("mi-{prefix}-warm"));
    let nodes = vec![hot.clone(), warm.clone()];
    for i in 0..COMMANDS {
        let id = format!("cmd-{prefix}-{i:02}");
        stores[0].create_command(&conformance::command(&id, &nodes, 10, 0)).await.unwrap();
        assert_eq!(stores[1].settle(&id, 1_000).await.unwrap().released, nodes);
    }
    if started {
        assert_eq!(stores[0].claim(&warm, 1_500, COMMANDS as u32).await.unwrap().len(), COMMANDS);
    }
    let total = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (store, total, hot) = (stores[worker % 2].clone(), total.clone(), hot.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while total.load(Ordering::SeqCst) < COMMANDS {
                let got = store.claim(&hot, 2_000, 3).await.unwrap();
                total.fetch_add(got.len(), Ordering::SeqCst);
                mine.extend(got.into_iter().map(|c| c.command_id));
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed
            .extend(tokio::time::timeout(Duration::from_secs(60), task).await.expect("claims finish in 60 s").unwrap());
    }
    claimed.sort();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!(before, claimed.len(), "an invocation was handed out twice");
    assert_eq!(claimed.len(), COMMANDS, "every queued invocation was handed out");
    for id in &claimed {
        let c = stores[1].get_command(id).await.unwrap().unwrap();
        assert_eq!(c.status, "InProgress", "{id}: the first claim moves the command to InProgress");
    }
}

/// Agents on both replicas claim and finish a 30-node command with MaxConcurrency 3 while settles race on
/// both: no more than 3 invocations ever hold a slot, and each node runs exactly once.
async fn rate_control_holds_across_replicas(stores: &[Arc<PgStore>; 2]) {
    const NODES: usize = 30;
    const MAX_CONCURRENCY: usize = 3;
    let command_id = "cmd-race";
    let nodes: Vec<String> = (0..NODES).map(|i| format!("mi-race-{i:02}")).collect();
    stores[0].create_command(&conformance::command(command_id, &nodes, MAX_CONCURRENCY as u32, 100)).await.unwrap();
    stores[1].settle(command_id, 1_000).await.unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let mut agents = Vec::new();
    // Two agents per group of nodes, one on each replica, poll the same nodes; the one that gets an
    // invocation reports its result through the other replica.
    for group in nodes.chunks(5) {
        for side in 0..2 {
            let (claimer, reporter) = (stores[side].clone(), stores[1 - side].clone());
            let (group, done) = (group.to_vec(), done.clone());
            agents.push(tokio::spawn(async move {
                let mut runs = Vec::new();
                while done.load(Ordering::SeqCst) < NODES {
                    for (i, node) in group.iter().enumerate() {
                        for claimed in claimer.claim(node, 2_000, 1).await.unwrap() {
                            tokio::task::yield_now().await;
                            let finish = if i % 4 == 0 { Finish::Failed } else { Finish::Success };
                            let r = reporter.finish(&finished(&claimed.command_id, node, finish, 3_000)).await.unwrap();
                            assert!(r.is_some(), "{node}: its first result is recorded");
                            runs.push(node.clone());
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    tokio::task::yield_now().await;
                }
                runs
            }));
        }
    }
    // Settles racing with the finishes, from both replicas.
    let mut settlers = Vec::new();
    for store in stores {
        let (store, done) = (store.clone(), done.clone());
        settlers.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < NODES {
                store.settle(command_id, 2_500).await.unwrap();
            }
        }));
    }
    // A watcher: each read is one statement, so one consistent snapshot of the command's invocations.
    let watcher = {
        let (store, done) = (stores[0].clone(), done.clone());
        tokio::spawn(async move {
            let mut most = 0;
            let filter = InvocationFilter { command_id: Some(command_id.into()), ..Default::default() };
            while done.load(Ordering::SeqCst) < NODES {
                let in_flight = store
                    .list_invocations(&filter)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|i| {
                        matches!(
                            i.state,
                            InvocationState::Queued | InvocationState::InProgress | InvocationState::Cancelling
                        )
                    })
                    .count();
                assert!(in_flight <= MAX_CONCURRENCY, "{in_flight} invocations in flight, MaxConcurrency is 3");
                most = most.max(in_flight);
            }
            most
        })
    };

    let mut runs: HashMap<String, usize> = HashMap::new();
    for agent in agents {
        let agent = tokio::time::timeout(Duration::from_secs(60), agent).await.expect("the rollout ends in 60 s");
        for node in agent.unwrap() {
            *runs.entry(node).or_default() += 1;
        }
    }
    for settler in settlers {
        settler.await.unwrap();
    }
    let most = watcher.await.unwrap();
    assert!(most >= 1, "the watcher saw the rollout");
    assert_eq!(runs.len(), NODES, "every node ran");
    assert!(runs.values().all(|&n| n == 1), "a node ran twice: {runs:?}");
    let c = stores[1].get_command(command_id).await.unwrap().unwrap();
    let failed = (0..NODES).filter(|i| i % 5 % 4 == 0).count() as i64;
    assert_eq!((c.completed_count, c.error_count), (NODES as i64, failed));
    let mut tally = Tally::default();
    tally.add(InvocationState::Success, NODES as u32 - failed as u32);
    tally.add(InvocationState::Failed, failed as u32);
    let (status, details) = command_status(&tally, false, 100);
    assert_eq!((c.status.as_str(), c.status_details.as_str()), (status.as_str(), details));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_share_one_database() {
    let db = TestDb::create().await;
    let stores = [
        Arc::new(PgStore::connect_with(&db.url, 6).await.unwrap()),
        Arc::new(PgStore::connect_with(&db.url, 6).await.unwrap()),
    ];
    claims_are_exclusive(&stores, "started", true).await;
    claims_are_exclusive(&stores, "fresh", false).await;
    rate_control_holds_across_replicas(&stores).await;
    for store in &stores {
        store.close().await;
    }
}
