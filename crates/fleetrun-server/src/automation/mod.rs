//! The Automation driver: runs the executions StartAutomationExecution stored, step by step.
//!
//! Every replica runs one [`Driver`]. It claims executions through the store's per-execution
//! leases (`claim_automation_executions`), so two replicas never drive the same execution, and an
//! execution whose replica died is claimed again once its lease runs out. A claimed execution gets
//! its own task (`driver.rs`), which renews the lease while it drives and releases it at the end.
//! The task loops over `fleetrun_core::automation::next_action`, runs each step (`steps.rs`) and
//! persists the [`ExecutionState`](fleetrun_core::automation::ExecutionState) after every change,
//! so that a restart resumes where the execution was (`state.rs` documents where it is kept).
//!
//! The driver claims at once when told ([`Driver::wake`], after StartAutomationExecution) and
//! otherwise every [`CLAIM_PERIOD`], which picks up executions of dead replicas.
//!
//! A rate-controlled parent (started with `Targets` or `TargetMaps`) is claimed the same way but
//! driven by `fanout.rs`, which starts its children as ordinary executions.

mod driver;
mod fanout;
mod signals;
mod state;
mod steps;

pub(crate) use driver::new_step_decl;
pub(crate) use fanout::{Plan, PlannedChild};
pub(crate) use signals::send_automation_signal;
pub(crate) use state::PersistedOutputs;

use crate::app::{AppState, now_ms};
use crate::config::Config;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// How often every replica looks for executions to claim when nothing woke it.
const CLAIM_PERIOD: Duration = Duration::from_secs(3);
/// Executions this replica drives at once at most (sleeping steps hold a task, not a runner).
const MAX_DRIVEN: usize = 256;
/// Executions claimed in one round.
const CLAIM_BATCH: u32 = 16;

/// The per-replica automation engine: who this replica is in lease rows, the script runners, and
/// the executions it drives now.
pub struct Driver {
    owner: String,
    wake: Notify,
    /// Bounds concurrent `aws:executeScript` processes (`automation_runners`).
    runners: Semaphore,
    host: fleetrun_script::ScriptHost,
    /// Executions driven here, with the token that cancels their step in flight.
    driven: Mutex<HashMap<String, CancellationToken>>,
}

impl Driver {
    pub fn new(config: &Config) -> Driver {
        let mut host = fleetrun_script::ScriptHost::default();
        host.interpreters.python = config.automation_python.clone();
        host.interpreters.pwsh = config.automation_pwsh.clone();
        let short = uuid::Uuid::new_v4().simple().to_string();
        Driver {
            owner: format!("automation:{}:{}", std::process::id(), &short[..8]),
            wake: Notify::new(),
            runners: Semaphore::new(config.automation_runners.max(1)),
            host,
            driven: Mutex::new(HashMap::new()),
        }
    }

    /// Claims at once (a new execution, or a stop request that another replica may be driving).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Cancels the step in flight of an execution driven by this replica (StopAutomationExecution).
    /// Other replicas notice the stored stop request within a second.
    pub fn cancel_local(&self, execution_id: &str) {
        if let Some(token) = self.driven.lock().expect("driver map lock").get(execution_id) {
            token.cancel();
        }
    }

    fn lease_ms(config: &Config) -> i64 {
        config.lease.as_millis() as i64
    }
}

/// Starts the claim loop (returns at once; it runs until the process ends). With `automation_runners = 0`
/// this replica drives no runbooks: it still accepts and reports them, and other replicas run them.
pub fn start(state: &AppState) {
    if state.config.automation_runners == 0 {
        tracing::info!("automation_runners is 0: this replica leaves runbooks to the other replicas.");
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            if let Err(error) = claim_round(&state).await {
                tracing::warn!(error = %error, "Claiming automation executions failed; retrying.");
            }
            let driver = state.automation.clone();
            let _ = tokio::time::timeout(CLAIM_PERIOD, driver.wake.notified()).await;
        }
    });
}

async fn claim_round(state: &AppState) -> anyhow::Result<()> {
    let driver = &state.automation;
    loop {
        let room = MAX_DRIVEN.saturating_sub(driver.driven.lock().expect("driver map lock").len());
        if room == 0 {
            return Ok(());
        }
        let limit = CLAIM_BATCH.min(room as u32);
        let claimed = state
            .store
            .claim_automation_executions(&driver.owner, now_ms(), Driver::lease_ms(&state.config), limit)
            .await?;
        let full = claimed.len() == limit as usize;
        for execution in claimed {
            let token = CancellationToken::new();
            driver.driven.lock().expect("driver map lock").insert(execution.execution_id.clone(), token.clone());
            let state = state.clone();
            tokio::spawn(async move {
                let id = execution.execution_id.clone();
                if fanout::is_parent(&execution) {
                    fanout::drive(&state, execution, token).await;
                } else {
                    driver::drive(&state, execution, token).await;
                }
                state.automation.driven.lock().expect("driver map lock").remove(&id);
                if let Err(error) = state.store.release_automation_lease(&id, &state.automation.owner).await {
                    tracing::warn!(execution_id = %id, error = %error, "Releasing an automation lease failed.");
                }
            });
        }
        if !full {
            return Ok(());
        }
    }
}

/// The driver of an [`AppState`], shared.
pub type SharedDriver = Arc<Driver>;
