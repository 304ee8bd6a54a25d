//! Wake-ups, not polling: how new work reaches a waiting agent, and how delivery timeouts fire.
//!
//! Each connected agent's long poll waits on a per-node [`Notify`]; whoever makes work for a node (a new
//! command, a finished invocation freeing a rate-control slot, a cancel) wakes that node. Delivery timeouts
//! are one timer task that sleeps until the earliest deadline the store knows of and is woken when a new
//! command may have an earlier one. With no work, the server touches the database only when agents call.

use crate::app::now_ms;
use fleetrun_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Dispatch {
    nodes: Mutex<HashMap<String, Arc<Notify>>>,
    timer: Notify,
}

impl Dispatch {
    /// The wake-up handle of one node (created on first use).
    pub fn node(&self, instance_id: &str) -> Arc<Notify> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.entry(instance_id.to_string()).or_default().clone()
    }

    /// Wakes a node's long poll. If no poll is waiting, the next one returns at once (Notify keeps a permit).
    pub fn wake(&self, instance_id: &str) {
        self.node(instance_id).notify_one();
    }

    pub fn wake_all<'a>(&self, instance_ids: impl IntoIterator<Item = &'a String>) {
        for id in instance_ids {
            self.wake(id);
        }
    }

    /// Tells the delivery timer to look again at the earliest deadline.
    pub fn rearm_timer(&self) {
        self.timer.notify_one();
    }

    /// Runs the delivery-timeout timer until the process ends.
    pub async fn run_delivery_timer(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            let sleep_for = match store.next_delivery_deadline().await {
                Ok(Some(deadline)) => Duration::from_millis((deadline - now_ms()).max(0) as u64),
                Ok(None) => Duration::from_secs(3600),
                Err(error) => {
                    tracing::error!(error = %error, "Reading the next delivery deadline failed; retrying in 5 s.");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep_for) => {}
                _ = self.timer.notified() => continue,
            }
            match store.expire_deliveries(now_ms()).await {
                Ok(changed) if !changed.is_empty() => {
                    tracing::info!(
                        commands = changed.len(),
                        "Invocations not delivered in time ended Delivery Timed Out."
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = %error, "Expiring deliveries failed."),
            }
        }
    }
}

/// Applies rate control to a command and wakes the nodes that got work.
pub async fn settle(store: &dyn Store, dispatch: &Dispatch, command_id: &str) -> fleetrun_store::Result<()> {
    let settled = store.settle(command_id, now_ms()).await?;
    dispatch.wake_all(&settled.released);
    Ok(())
}
