//! Periodic work any replica could do but one at a time should: the deadline timer and retention.
//!
//! With a shared store (PostgreSQL) each job runs only on the replica holding its lease. Every
//! replica tries to take or renew each lease every third of [`Config::lease`]; the holder renews, the
//! others find it held. When the holder dies its lease expires, and a survivor takes the job over within
//! one TTL plus one renewal period. A holder that cannot renew (its database connection broke) stops its
//! job at once, since it can no longer tell whether another replica took over. Correctness never depends
//! on leases: every job is made of conditional transactions that are safe to run twice, so a replica
//! paused past its lease at worst repeats a step. With SQLite the process owns the database and runs
//! every job with no lease traffic.

use crate::app::{AppState, now_ms};
use fleetrun_store::Store;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Name of the deadline timer's lease (delivery timeouts, the expiry backstop).
pub const TIMERS: &str = "timers";
/// Name of the retention job's lease.
pub const RETENTION: &str = "retention";
/// Commands deleted per retention transaction: short transactions, short locks.
const PURGE_BATCH: u32 = 100;

/// Starts the upkeep jobs (returns at once; they run until the process ends).
pub fn start(state: &AppState) {
    let holder = holder_id();
    let timer_state = state.clone();
    spawn_leased(state.store.clone(), TIMERS, holder.clone(), state.config.lease, move || {
        let state = timer_state.clone();
        async move { state.dispatch.clone().run_deadline_timer(state.store.clone(), state.config.ping_timeout).await }
    });
    if let Some(retention) = state.config.command_retention {
        let retention_state = state.clone();
        spawn_leased(state.store.clone(), RETENTION, holder, state.config.lease, move || {
            run_retention(retention_state.clone(), retention)
        });
    }
}

/// A name for this process in lease rows: host, pid and a random part (a restarted process is a new holder).
fn holder_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}:{}:{}", host.trim(), std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Runs `job` (a loop that never ends by itself) while this process holds lease `name`.
fn spawn_leased<F, Fut>(store: Arc<dyn Store>, name: &'static str, holder: String, ttl: Duration, job: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !store.shared() {
        tokio::spawn(job());
        return;
    }
    tokio::spawn(async move {
        let mut running: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let held = match store.acquire_lease(name, &holder, ttl.as_millis() as i64).await {
                Ok(held) => held,
                Err(error) => {
                    tracing::warn!(lease = name, error = %error, "Renewing a lease failed; pausing its job.");
                    false
                }
            };
            match (held, running.take()) {
                (true, Some(task)) if !task.is_finished() => running = Some(task),
                (true, _) => {
                    tracing::info!(lease = name, "This replica took the lease; starting its job.");
                    running = Some(tokio::spawn(job()));
                }
                (false, Some(task)) => {
                    tracing::info!(lease = name, "This replica no longer holds the lease; stopping its job.");
                    task.abort();
                }
                (false, None) => {}
            }
            tokio::time::sleep(ttl / 3).await;
        }
    });
}

/// Deletes finished commands older than `retention`, with their invocations and output, in batches;
/// then sleeps a quarter of the retention period (at least a second, at most an hour).
async fn run_retention(state: AppState, retention: Duration) {
    let period = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        if let Err(error) = purge_once(&state, retention).await {
            tracing::error!(error = %error, "Retention failed; retrying at the next round.");
        }
        tokio::time::sleep(period).await;
    }
}

/// One retention round, in batches until one is not full. Output objects go first, then rows: a crash in
/// between leaves finished commands whose output is gone, which the next round deletes, and never
/// objects no row leads to.
pub async fn purge_once(state: &AppState, retention: Duration) -> anyhow::Result<usize> {
    let before = now_ms() - retention.as_millis() as i64;
    let mut purged = 0;
    loop {
        let ids = state.store.finished_before(before, PURGE_BATCH).await?;
        for id in &ids {
            delete_output(state, id).await;
        }
        purged += state.store.delete_commands(&ids).await?.len();
        if ids.len() < PURGE_BATCH as usize {
            break;
        }
    }
    if purged > 0 {
        tracing::info!(commands = purged, "Retention deleted finished commands past the retention period.");
    }
    Ok(purged)
}

/// Deletes every output object of a command (best effort: a failure is logged, not retried).
async fn delete_output(state: &AppState, command_id: &str) {
    let prefix = crate::output::command_prefix(command_id);
    let paths = state.objects.list(Some(&prefix)).map(|meta| meta.map(|m| m.location)).boxed();
    let results: Vec<_> = state.objects.delete_stream(paths).collect().await;
    for result in results {
        if let Err(error) = result {
            tracing::warn!(command_id, error = %error, "Deleting a command's output object failed.");
        }
    }
}
