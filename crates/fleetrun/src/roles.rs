//! `fleetrun server` and `fleetrun agent`: flags, config resolution and start-up.

use anyhow::Context;
use clap::Args;
use fleetrun_agent::{Agent, AgentConfig};
use fleetrun_proto::Tag;
use fleetrun_server::config::RawConfig;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(crate) struct ServerArgs {
    /// TOML configuration file (every key is documented in docs/CONFIG.md).
    #[arg(long, env = "FLEETRUN_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (overrides the file's `listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (overrides the file's `data_dir`).
    #[arg(long, env = "FLEETRUN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// URL clients reach this server at, for output links (overrides `public_url`).
    #[arg(long)]
    public_url: Option<String>,
    /// Database URL: postgres://… (shared by replicas) or sqlite:///path (overrides `database_url`).
    #[arg(long, env = "FLEETRUN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Object store URL for command output (overrides `object_store_url`).
    #[arg(long, env = "FLEETRUN_OBJECT_STORE_URL")]
    object_store_url: Option<String>,
}

pub(crate) fn server_config(args: &ServerArgs) -> anyhow::Result<fleetrun_server::config::Config> {
    let mut raw = match &args.config {
        Some(path) => RawConfig::load(path)?,
        None => RawConfig::default(),
    };
    if args.listen.is_some() {
        raw.listen = args.listen.clone();
    }
    if args.data_dir.is_some() {
        raw.data_dir = args.data_dir.clone();
    }
    if args.public_url.is_some() {
        raw.public_url = args.public_url.clone();
    }
    if args.object_store_url.is_some() {
        raw.object_store_url = args.object_store_url.clone();
    }
    if args.database_url.is_some() {
        raw.database_url = args.database_url.clone();
    }
    Ok(raw.resolve()?)
}

pub(crate) async fn server(args: ServerArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let mut config = server_config(&args)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // The default public URL follows the address really bound (port 0 picks one).
    if config.public_url == format!("http://{}", config.listen) {
        config.public_url = format!("http://{}", listener.local_addr()?);
    }
    let state = fleetrun_server::open(config).await?;
    fleetrun_server::serve(state, listener).await
}

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The control plane's URL, e.g. http://10.0.0.5:8080; for several replicas, a comma-separated list
    /// (the agent moves to the next one when the current one is unreachable) or one load-balanced URL.
    #[arg(long, env = "FLEETRUN_SERVER")]
    server: String,
    /// Activation id (from `aws ssm create-activation` or dev.env).
    #[arg(long, env = "FLEETRUN_ACTIVATION_ID")]
    activation_id: String,
    /// Activation code.
    #[arg(long, env = "FLEETRUN_ACTIVATION_CODE", hide_env_values = true)]
    activation_code: String,
    /// Directory for the agent's identity, journal and script work directories.
    #[arg(long)]
    state_dir: PathBuf,
    /// A tag for this node, Key=Value (repeatable).
    #[arg(long = "tag", value_parser = parse_tag)]
    tags: Vec<Tag>,
    /// Ask for this instance id at enrolment (e.g. i-abcd1234) instead of a generated mi-… id.
    #[arg(long)]
    instance_id: Option<String>,
    /// Invocations that may run at once on this node.
    #[arg(long, default_value_t = 8)]
    max_concurrent: usize,
    /// Seconds between SIGTERM and SIGKILL when a script is cancelled or times out.
    #[arg(long, default_value_t = 5)]
    kill_grace_seconds: u64,
}

fn parse_tag(text: &str) -> Result<Tag, String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("tag {text:?} must be Key=Value"))?;
    if key.is_empty() {
        return Err(format!("tag {text:?} has an empty key"));
    }
    Ok(Tag { key: key.to_string(), value: value.to_string() })
}

pub(crate) async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let mut config = AgentConfig::new(&args.server, &args.activation_id, &args.activation_code, args.state_dir);
    config.tags = args.tags;
    config.instance_id = args.instance_id;
    config.max_concurrent = args.max_concurrent;
    config.kill_grace = Duration::from_secs(args.kill_grace_seconds);
    let agent = Agent::start(config).await?;
    tracing::info!(instance_id = agent.instance_id(), "fleetrun agent running.");
    agent.run(shutdown_token()).await
}

/// A token cancelled on SIGINT or SIGTERM.
pub(crate) fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        trigger.cancel();
    });
    token
}
