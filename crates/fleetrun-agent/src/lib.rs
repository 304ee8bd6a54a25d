//! The fleetrun agent: enrols a node, long-polls the control plane for invocations, runs them as
//! supervised process trees, and reports results — resending from its journal anything the server has
//! not acknowledged, across server restarts and its own.
//!
//! One loop ([`Agent::run`]) owns polling; each invocation runs on its own task and reports its own
//! result. Scripts outlive an agent restart on purpose: the restarted agent re-attaches to them.

pub mod download;
pub mod execute;
pub mod identity;
pub mod journal;
pub mod runner;
pub mod s3client;
pub mod secure;
pub mod server;

use fleetrun_proto::{Assignment, CompleteRequest, PollRequest, PollResponse, Tag};
use journal::{Entry, Journal};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How the agent is set up (`fleetrun agent` flags).
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub server: String,
    pub activation_id: String,
    pub activation_code: String,
    pub state_dir: PathBuf,
    pub tags: Vec<Tag>,
    /// Ask for this instance id at enrolment instead of a generated `mi-…`.
    pub instance_id: Option<String>,
    /// How many invocations may run at once on this node.
    pub max_concurrent: usize,
    /// Time between SIGTERM and SIGKILL when a script is cancelled or times out.
    pub kill_grace: Duration,
    /// How long the server may hold a poll.
    pub poll_wait: Duration,
    pub max_output_bytes: u64,
}

impl AgentConfig {
    pub fn new(server: &str, activation_id: &str, activation_code: &str, state_dir: PathBuf) -> Self {
        Self {
            server: server.to_string(),
            activation_id: activation_id.to_string(),
            activation_code: activation_code.to_string(),
            state_dir,
            tags: Vec::new(),
            instance_id: None,
            max_concurrent: 8,
            kill_grace: Duration::from_secs(5),
            poll_wait: Duration::from_secs(20),
            max_output_bytes: 64 << 20,
        }
    }
}

type Running = Arc<Mutex<HashMap<String, CancellationToken>>>;

pub struct Agent {
    config: AgentConfig,
    ctx: execute::Context,
    running: Running,
    // Invariant: one permit per invocation this node may start; an invocation holds its permit from
    // acceptance to the end of its run. The agent claims only as many invocations as there are free
    // permits, so an invocation the server shows InProgress has really started.
    slots: Arc<Semaphore>,
    slot_freed: Arc<tokio::sync::Notify>,
}

impl Agent {
    /// Enrols (or loads the saved identity) and prepares the state directory.
    pub async fn start(config: AgentConfig) -> anyhow::Result<Self> {
        restrict_dir(&config.state_dir)?;
        let enrolment = identity::Enrolment {
            server: &config.server,
            activation_id: &config.activation_id,
            activation_code: &config.activation_code,
            instance_id: config.instance_id.as_deref(),
            tags: &config.tags,
        };
        let identity = identity::load_or_enrol(&config.state_dir, &enrolment).await?;
        let work_dir = config.state_dir.join("orchestration");
        restrict_dir(&work_dir)?;
        let ctx = execute::Context {
            server: server::Server::new(&config.server, &identity.access_key_id, &identity.secret_access_key),
            journal: Journal::open(&config.state_dir)?,
            work_dir,
            instance_id: identity.instance_id.clone(),
            platform_type: identity::node_info().platform_type,
            kill_grace: config.kill_grace,
            max_output_bytes: config.max_output_bytes,
            download: download::NodeConfig::from_env(),
        };
        let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        Ok(Self { config, ctx, running: Default::default(), slots, slot_freed: Default::default() })
    }

    pub fn instance_id(&self) -> &str {
        &self.ctx.instance_id
    }

    /// Polls and runs until `shutdown` fires. Running scripts are left running at shutdown; the next
    /// agent process re-attaches to them through the journal.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        for entry in self.ctx.journal.load_all() {
            tracing::info!(command_id = %entry.assignment.command_id, "Resuming an invocation from the journal.");
            self.spawn(entry);
        }
        let mut backoff = Duration::from_millis(250);
        loop {
            let capacity = self.slots.available_permits() as u32;
            let request = PollRequest {
                running: self.running_ids(),
                wait_seconds: self.config.poll_wait.as_secs(),
                info: Some(identity::node_info()),
                capacity: Some(capacity),
            };
            // A full node still polls (for cancels); when a slot frees up it polls again at once to take
            // new work. Dropping a poll made with no capacity is safe: it cannot have claimed anything.
            let slot_freed = self.slot_freed.notified();
            let poll = self.ctx.server.post::<_, PollResponse>(fleetrun_proto::PATH_POLL, &request);
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = slot_freed, if capacity == 0 => continue,
                result = poll => result,
            };
            match result {
                Ok(response) => {
                    backoff = Duration::from_millis(250);
                    self.handle(response);
                }
                Err(error) if error.code() == Some("UnrecognizedClientException") => {
                    anyhow::bail!(
                        "the server no longer knows this node's credentials (it was deregistered, or its key deleted); \
                         remove {} to enrol again: {error}",
                        self.config.state_dir.join("identity.json").display()
                    );
                }
                Err(error) => {
                    if error.status() == Some(403) {
                        tracing::error!(error = %error, "The server refused this node's request; retrying slowly.");
                        backoff = Duration::from_secs(30);
                    } else {
                        tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "Polling the server failed.");
                    }
                    let jitter = Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 2));
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff + jitter) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    fn running_ids(&self) -> Vec<String> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    fn handle(&self, response: PollResponse) {
        for command_id in &response.cancel {
            if let Some(token) = self.running.lock().unwrap_or_else(|e| e.into_inner()).get(command_id) {
                tracing::info!(command_id = %command_id, "Cancelling.");
                token.cancel();
            }
        }
        for assignment in response.assignments {
            self.accept(assignment);
        }
    }

    fn accept(&self, assignment: Assignment) {
        if self.running.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&assignment.command_id) {
            return;
        }
        let entry = Entry { assignment, results: Vec::new(), current: None };
        if let Err(error) = self.ctx.journal.save(&entry) {
            tracing::error!(error = %error, "Journaling a new invocation failed; running it anyway.");
        }
        // The server hands out at most `capacity` invocations, so a permit is free; an older server that
        // ignores capacity makes the invocation wait for one inside its task instead.
        let permit = self.slots.clone().try_acquire_owned().ok();
        self.spawn_with(entry, permit);
    }

    /// Runs an invocation resumed from the journal. It started before the restart, so it takes no slot.
    fn spawn(&self, entry: Entry) {
        self.spawn_with(entry, None);
    }

    fn spawn_with(&self, entry: Entry, permit: Option<tokio::sync::OwnedSemaphorePermit>) {
        let command_id = entry.assignment.command_id.clone();
        let token = CancellationToken::new();
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(command_id.clone(), token.clone());
        let ctx = self.ctx.clone();
        let running = self.running.clone();
        let slots = self.slots.clone();
        let slot_freed = self.slot_freed.clone();
        let fresh = entry.current.is_none() && entry.results.is_empty();
        tokio::spawn(async move {
            let permit = match permit {
                Some(permit) => Some(permit),
                None if fresh => slots.acquire_owned().await.ok(),
                None => None,
            };
            tracing::info!(command_id = %command_id, "Invocation started.");
            let entry = execute::run(&ctx, entry, token).await;
            if permit.is_some() {
                drop(permit);
                slot_freed.notify_one();
            }
            report(&ctx, &entry).await;
            running.lock().unwrap_or_else(|e| e.into_inner()).remove(&command_id);
        });
    }
}

/// Sends an invocation's result until the server accepts it (or refuses it for good), then forgets it.
async fn report(ctx: &execute::Context, entry: &Entry) {
    let command_id = &entry.assignment.command_id;
    let request = CompleteRequest { command_id: command_id.clone(), steps: entry.results.clone() };
    let mut delay = Duration::from_millis(250);
    loop {
        match ctx.server.post::<_, serde_json::Value>(fleetrun_proto::PATH_COMPLETE, &request).await {
            Ok(_) => break,
            Err(error) if error.is_permanent() => {
                tracing::error!(command_id = %command_id, error = %error, "The server refused the result; dropping it.");
                break;
            }
            Err(error) => {
                tracing::warn!(command_id = %command_id, error = %error, "Reporting a result failed; it stays in the journal and is retried.");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
    tracing::info!(command_id = %command_id, "Result reported.");
    if let Err(error) = ctx.journal.remove(command_id) {
        tracing::warn!(command_id = %command_id, error = %error, "Removing a journal entry failed.");
    }
}

fn restrict_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
