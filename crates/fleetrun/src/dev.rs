//! `fleetrun dev`: the embedded default. One process runs the control plane (SQLite, local object store)
//! and one local agent, and writes `<data-dir>/dev.env` so that `aws ssm …` works after `source`.

use anyhow::Context;
use clap::Args;
use fleetrun_agent::{Agent, AgentConfig};
use fleetrun_server::bootstrap::{admin_credentials_path, read_credentials_file, write_credentials_file};
use fleetrun_server::identity::{self, ActivationSpec};
use fleetrun_store::KeyKind;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub(crate) struct DevArgs {
    /// Directory for all state (database, output, agent, dev.env).
    #[arg(long, default_value = "fleetrun-dev")]
    data_dir: PathBuf,
    /// Listen address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Instance id for the local agent (e.g. i-abcd1234), so examples that name one run unchanged.
    #[arg(long)]
    instance_id: Option<String>,
    /// Database URL (default: SQLite in the data directory); postgres://… to try the scale-out engine.
    #[arg(long, env = "FLEETRUN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Object store URL for command output (default: a directory in the data directory).
    #[arg(long, env = "FLEETRUN_OBJECT_STORE_URL")]
    object_store_url: Option<String>,
}

/// The activation more local agents can join with, kept in dev.env between runs.
struct DevActivation {
    id: String,
    code: String,
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = args.data_dir.canonicalize()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let raw = fleetrun_server::config::RawConfig {
        listen: Some(addr.to_string()),
        data_dir: Some(data_dir.clone()),
        database_url: args.database_url.clone(),
        object_store_url: args.object_store_url.clone(),
        // A single user on loopback: runbook attachments may come from local files.
        allow_file_attachments: Some(true),
        ..Default::default()
    };
    let state = fleetrun_server::open(raw.resolve()?).await?;
    let (key_id, secret) = admin_key(&state, &data_dir).await?;
    let activation = dev_activation(&state, &data_dir).await?;
    let url = format!("http://{addr}");
    tokio::spawn({
        let state = state.clone();
        async move {
            if let Err(error) = fleetrun_server::serve(state, listener).await {
                tracing::error!(error = %format!("{error:#}"), "The server stopped.");
            }
        }
    });
    let mut config = AgentConfig::new(&url, &activation.id, &activation.code, data_dir.join("agent"));
    config.instance_id = args.instance_id.clone();
    let agent = Agent::start(config).await?;
    let instance_id = agent.instance_id().to_string();
    if let Some(wanted) = &args.instance_id
        && wanted != &instance_id
    {
        tracing::warn!(wanted = %wanted, have = %instance_id, "The local agent enrolled earlier under another id; delete {}/agent to enrol again.", data_dir.display());
    }
    let env_path = data_dir.join("dev.env");
    write_env(
        &env_path,
        &[
            ("AWS_ENDPOINT_URL", url.as_str()),
            ("AWS_ACCESS_KEY_ID", key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("FLEETRUN_SERVER", url.as_str()),
            ("FLEETRUN_ACTIVATION_ID", activation.id.as_str()),
            ("FLEETRUN_ACTIVATION_CODE", activation.code.as_str()),
            ("FLEETRUN_DEV_INSTANCE_ID", instance_id.as_str()),
        ],
    )?;
    print_next_steps(&env_path, &url, &instance_id, started.elapsed());
    agent.run(crate::roles::shutdown_token()).await
}

/// The admin key from the credentials file; a new one when the file is gone (dev only).
async fn admin_key(state: &fleetrun_server::app::AppState, data_dir: &Path) -> anyhow::Result<(String, String)> {
    let path = admin_credentials_path(data_dir);
    if let Ok(pair) = read_credentials_file(&path) {
        return Ok(pair);
    }
    let key = identity::new_access_key(KeyKind::Admin, None, "fleetrun dev", fleetrun_server::app::now_ms());
    state.store.insert_access_key(&state.keys.seal_access_key(&key)?).await?;
    write_credentials_file(&path, &key)?;
    Ok((key.access_key_id, key.secret_access_key))
}

async fn dev_activation(state: &fleetrun_server::app::AppState, data_dir: &Path) -> anyhow::Result<DevActivation> {
    let env = std::fs::read_to_string(data_dir.join("dev.env")).unwrap_or_default();
    let value = |name: &str| {
        env.lines().find_map(|l| l.strip_prefix(&format!("export {name}="))).map(|v| v.trim_matches('\'').to_string())
    };
    if let (Some(id), Some(code)) = (value("FLEETRUN_ACTIVATION_ID"), value("FLEETRUN_ACTIVATION_CODE"))
        && state
            .store
            .list_activations()
            .await?
            .iter()
            .any(|a| a.activation_id == id && a.code_sha256 == identity::hash_code(&code))
    {
        return Ok(DevActivation { id, code });
    }
    let ten_years = 10 * 365 * 24 * 3600 * 1000;
    let (activation, code) = identity::new_activation(ActivationSpec {
        description: "fleetrun dev: local agents".into(),
        default_instance_name: "dev".into(),
        iam_role: "fleetrun-dev".into(),
        registration_limit: 1000,
        expiration_ms: fleetrun_server::app::now_ms() + ten_years,
    });
    state.store.create_activation(&activation).await?;
    Ok(DevActivation { id: activation.activation_id, code })
}

fn write_env(path: &Path, vars: &[(&str, &str)]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    for (name, value) in vars {
        writeln!(file, "export {name}='{value}'")?;
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_next_steps(env_path: &Path, url: &str, instance_id: &str, took: std::time::Duration) {
    println!(
        "fleetrun dev is ready at {url} ({} ms), with a local agent as {instance_id}.\n\n\
         Next:\n  source {}\n  aws ssm send-command --document-name AWS-RunShellScript --instance-ids {instance_id} --parameters commands='echo hello'\n  \
         aws ssm get-command-invocation --command-id <CommandId> --instance-id {instance_id}\n  fleetrun run --instance-ids {instance_id} -- uname -a\n\n\
         More agents: fleetrun agent --server {url} --activation-id \"$FLEETRUN_ACTIVATION_ID\" --activation-code \"$FLEETRUN_ACTIVATION_CODE\" --state-dir DIR\n",
        took.as_millis(),
        env_path.display()
    );
}
