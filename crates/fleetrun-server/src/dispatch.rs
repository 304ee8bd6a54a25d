//! Wake-ups, not polling: how new work reaches a waiting agent, and how delivery timeouts fire.
//!
//! Each connected agent's long poll waits on a per-node [`Notify`]; whoever makes work for a node (a new
//! command, a finished invocation freeing a rate-control slot, a cancel) wakes that node. Delivery timeouts
//! are one timer task that sleeps until the earliest deadline the store knows of and is woken when a new
//! command may have an earlier one. With no work, the server touches the database only when agents call.
//!
//! When several replicas share a PostgreSQL store, each wake-up is also announced to the others (LISTEN/
//! NOTIFY), so a node long-polling replica B is woken by a command sent to replica A; a new command's
//! deadline is announced the same way (as the empty node id), so the one replica running the timer (under
//! a lease, see `upkeep`) re-arms for it. Announcements can be lost while a listener reconnects, so the
//! timer also re-reads the deadlines at least every [`SHARED_TIMER_PERIOD`].

use crate::app::now_ms;
use fleetrun_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How often the timer of a replica sharing its store re-reads the deadlines, as a backstop for re-arm
/// announcements lost while a listener reconnected.
pub const SHARED_TIMER_PERIOD: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Dispatch {
    nodes: Mutex<HashMap<String, Arc<Notify>>>,
    timer: Notify,
    // Set when the store is shared with other replicas: wake-ups to announce to them.
    announce: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl Dispatch {
    /// The wake-up handle of one node (created on first use).
    pub fn node(&self, instance_id: &str) -> Arc<Notify> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.entry(instance_id.to_string()).or_default().clone()
    }

    /// Wakes a node's long poll, here and on the other replicas. If no poll is waiting, the next one
    /// returns at once (Notify keeps a permit).
    pub fn wake(&self, instance_id: &str) {
        self.node(instance_id).notify_one();
        if let Some(announce) = self.announce.get() {
            let _ = announce.send(instance_id.to_string());
        }
    }

    /// Connects this replica's wake-ups with the other processes sharing the store (no-op for SQLite).
    pub async fn connect_peers(self: &Arc<Self>, store: Arc<dyn Store>) -> fleetrun_store::Result<()> {
        let Some(mut incoming) = store.announcements().await? else { return Ok(()) };
        let local = self.clone();
        tokio::spawn(async move {
            while let Some(instance_id) = incoming.recv().await {
                if instance_id.is_empty() {
                    local.timer.notify_one();
                } else {
                    local.node(&instance_id).notify_one();
                }
            }
        });
        let (tx, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<String>();
        let _ = self.announce.set(tx);
        tokio::spawn(async move {
            while let Some(first) = outgoing.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = outgoing.try_recv() {
                    batch.push(more);
                }
                if let Err(error) = store.announce(&batch).await {
                    tracing::warn!(error = %error, nodes = batch.len(), "Announcing wake-ups to other replicas failed; their agents pick the work up at their next poll.");
                }
            }
        });
        Ok(())
    }

    pub fn wake_all<'a>(&self, instance_ids: impl IntoIterator<Item = &'a String>) {
        for id in instance_ids {
            self.wake(id);
        }
    }

    /// Tells the delivery timer to look again at the earliest deadline, here and on the other replicas
    /// (whichever runs the timer).
    pub fn rearm_timer(&self) {
        self.timer.notify_one();
        if let Some(announce) = self.announce.get() {
            let _ = announce.send(String::new());
        }
    }

    /// Runs the deadline timer until the process ends: delivery timeouts, and the expiry backstop for
    /// invocations held by nodes that went silent.
    pub async fn run_deadline_timer(self: Arc<Self>, store: Arc<dyn Store>, ping_timeout: Duration) {
        loop {
            let sleep_for = match next_wake(store.as_ref(), ping_timeout).await {
                Ok(wait) if store.shared() => wait.min(SHARED_TIMER_PERIOD),
                Ok(wait) => wait,
                Err(error) => {
                    tracing::error!(error = %error, "Reading the next deadline failed; retrying in 5 s.");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep_for) => {}
                _ = self.timer.notified() => continue,
            }
            let now = now_ms();
            match store.expire_deliveries(now).await {
                Ok(changed) if !changed.is_empty() => {
                    tracing::info!(
                        commands = changed.len(),
                        "Invocations not delivered in time ended Delivery Timed Out."
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = %error, "Expiring deliveries failed."),
            }
            match store.abandon_silent(now, now - ping_timeout.as_millis() as i64).await {
                Ok(changed) if !changed.is_empty() => {
                    tracing::warn!(
                        commands = changed.len(),
                        "Invocations on silent nodes passed ExpiresAfter and ended Abandoned."
                    );
                    for command_id in &changed {
                        if let Err(error) = settle(store.as_ref(), &self, command_id).await {
                            tracing::error!(error = %error, "Settling an expired command failed.");
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = %error, "Abandoning expired invocations failed."),
            }
        }
    }
}

/// How long until the timer has something to do. While some unfinished command is past its
/// ExpiresAfter (its node may yet come back), it looks again once per ping timeout; otherwise it sleeps
/// until the next delivery deadline or expiry, and a new command re-arms it.
async fn next_wake(store: &dyn Store, ping_timeout: Duration) -> fleetrun_store::Result<Duration> {
    let now = now_ms();
    let outlook = store.expiry_outlook(now).await?;
    let candidates = [
        store.next_delivery_deadline().await?,
        outlook.next_ms,
        outlook.overdue.then(|| now + ping_timeout.as_millis() as i64),
    ];
    let wake = candidates.into_iter().flatten().min();
    Ok(wake.map_or(Duration::from_secs(3600), |at| Duration::from_millis((at - now).max(0) as u64)))
}

/// Applies rate control to a command and wakes the nodes that got work.
pub async fn settle(store: &dyn Store, dispatch: &Dispatch, command_id: &str) -> fleetrun_store::Result<()> {
    let settled = store.settle(command_id, now_ms()).await?;
    dispatch.wake_all(&settled.released);
    Ok(())
}
