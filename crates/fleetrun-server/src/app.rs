//! The state every request handler shares, and the server's clock.

use crate::config::Config;
use crate::dispatch::Dispatch;
use fleetrun_store::Store;
use object_store::ObjectStore;
use std::sync::Arc;

/// Shared by all handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn ObjectStore>,
    pub dispatch: Arc<Dispatch>,
    /// The master keys of SecureString parameters.
    pub keys: Arc<crate::master_keys::MasterKeys>,
    /// The Automation driver of this replica.
    pub automation: Arc<crate::automation::Driver>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
