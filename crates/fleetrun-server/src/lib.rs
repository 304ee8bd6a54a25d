//! The fleetrun control plane: an axum server with the AWS SSM JSON 1.1 API, the agent API and output
//! downloads, on a [`Store`](fleetrun_store::Store) and an object store.
//!
//! Layering: `ssm` and `agent_api` decode requests and call the store; `fleetrun_core` decides states and
//! rate control; `dispatch` wakes waiting agents and fires delivery timeouts. The only tower layer with
//! policy is `auth`: every route but enrolment and `/healthz` requires a valid SigV4 signature.

pub mod agent_api;
pub mod agent_secure;
pub mod app;
pub mod auth;
pub mod automation;
pub mod bootstrap;
pub mod config;
pub mod dispatch;
pub mod identity;
pub mod master_keys;
pub mod output;
pub mod ssm;
pub mod upkeep;

use app::AppState;
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use config::Config;
use object_store::ObjectStore;
use std::sync::Arc;

/// Builds the HTTP router. Tests call it directly with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/", post(ssm_entry))
        .route(fleetrun_proto::PATH_POLL, post(agent_api::poll))
        .route(fleetrun_proto::PATH_COMPLETE, post(agent_api::complete))
        .route(fleetrun_proto::PATH_SECURE_PARAMETERS, post(agent_secure::secure_parameters))
        .route(fleetrun_proto::PATH_DOCUMENT, post(agent_secure::document))
        .route(
            &format!("{}/{{command_id}}/{{step}}/{{stream}}", fleetrun_proto::PATH_OUTPUT),
            put(agent_api::upload_output),
        )
        .route("/output/{command_id}/{instance_id}/{step}/{stream}", get(output::download))
        .route("/attachments/{document}/{version}/{name}", get(ssm::attachments::download))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::layer));
    Router::new()
        .route(fleetrun_proto::PATH_REGISTER, post(agent_api::register))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(authenticated)
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_output_bytes))
        .with_state(state)
}

async fn ssm_entry(
    State(state): State<AppState>,
    Extension(principal): Extension<auth::Principal>,
    Extension(body): Extension<auth::RawBody>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    ssm::handle(&state, &principal, &headers, &body.0).await
}

/// Opens the store, the object store and the master keys named by the config (and `FLEETRUN_MASTER_KEYS`,
/// read here, once). Fails when the master keys are not the ones the database's secrets were sealed with.
pub async fn open(config: Config) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir)?;
    restrict_dir(&config.data_dir)?;
    let store = fleetrun_store::open_url(config.database_url.as_deref(), &config.data_dir.join("fleetrun.db")).await?;
    let objects = open_objects(&config)?;
    bootstrap::seed_documents(store.as_ref()).await?;
    let keys = master_keys::MasterKeys::load(&config, std::env::var(master_keys::ENV_MASTER_KEYS).ok())?;
    keys.verify(store.as_ref()).await?;
    let sealed = keys.seal_stored_access_keys(store.as_ref()).await?;
    if sealed > 0 {
        tracing::info!(keys = sealed, "Sealed access-key secrets stored in clear by an earlier version.");
    }
    bootstrap::ensure_admin_key(store.as_ref(), &keys, &config.data_dir).await?;
    let automation = Arc::new(automation::Driver::new(&config));
    Ok(AppState {
        config: Arc::new(config),
        store,
        objects,
        dispatch: Default::default(),
        keys: Arc::new(keys),
        automation,
    })
}

fn restrict_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn open_objects(config: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match &config.object_store_url {
        None => {
            let dir = config.data_dir.join("objects");
            std::fs::create_dir_all(&dir)?;
            Ok(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?))
        }
        Some(text) => {
            let url =
                url::Url::parse(text).map_err(|e| anyhow::anyhow!("object_store_url {text:?} is not a URL: {e}"))?;
            if url.scheme() == "file" {
                let dir =
                    url.to_file_path().map_err(|_| anyhow::anyhow!("object_store_url {text:?} is not a local path"))?;
                std::fs::create_dir_all(&dir)?;
                return Ok(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?));
            }
            let options: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let (store, prefix) = object_store::parse_url_opts(&url, options)?;
            Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
        }
    }
}

/// Serves until the process is stopped. Starts the upkeep jobs (timers, retention) and resumes interrupted
/// rollouts first.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    state.dispatch.connect_peers(state.store.clone()).await?;
    upkeep::start(&state);
    automation::start(&state);
    for command_id in state.store.commands_with_pending().await? {
        dispatch::settle(state.store.as_ref(), &state.dispatch, &command_id).await?;
    }
    tracing::info!(listen = %listener.local_addr()?, "fleetrun server ready.");
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).await?;
    Ok(())
}
