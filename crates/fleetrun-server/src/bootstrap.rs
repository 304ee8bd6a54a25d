//! First-start and every-start duties: the data directory, the admin key pair, the built-in documents, and
//! resuming rate control for commands that were mid-rollout when the server stopped.

use crate::app::now_ms;
use crate::identity;
use fleetrun_core::document;
use fleetrun_store::{AccessKey, KeyKind, NewDocument, NewDocumentVersion, Store};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file that holds the first admin key, in AWS shared-credentials format.
pub fn admin_credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-credentials")
}

/// Creates the first admin key when the store has none, writing it to a 0600 file (never to the log).
/// Returns the key when one was created.
pub async fn ensure_admin_key(
    store: &dyn Store,
    master_keys: &crate::master_keys::MasterKeys,
    data_dir: &Path,
) -> anyhow::Result<Option<AccessKey>> {
    let keys = store.list_access_keys().await?;
    if keys.iter().any(|k| k.kind == KeyKind::Admin) {
        return Ok(None);
    }
    let key = identity::new_access_key(KeyKind::Admin, None, "created at first start", now_ms());
    write_credentials_file(&admin_credentials_path(data_dir), &key)?;
    store.insert_access_key(&master_keys.seal_access_key(&key)?).await?;
    tracing::info!(access_key_id = %key.access_key_id, path = %admin_credentials_path(data_dir).display(), "Created the first admin key.");
    Ok(Some(key))
}

/// Writes `[default]` credentials, readable by the owner only.
pub fn write_credentials_file(path: &Path, key: &AccessKey) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(
        file,
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}",
        key.access_key_id, key.secret_access_key
    )
}

/// Reads back a credentials file written by [`write_credentials_file`].
pub fn read_credentials_file(path: &Path) -> std::io::Result<(String, String)> {
    let text = std::fs::read_to_string(path)?;
    let field = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} has no {name}", path.display()))
            })
    };
    Ok((field("aws_access_key_id")?, field("aws_secret_access_key")?))
}

/// Inserts or refreshes the built-in documents.
pub async fn seed_documents(store: &dyn Store) -> anyhow::Result<()> {
    for builtin in document::builtin_documents() {
        let now = now_ms();
        let doc = NewDocument {
            name: builtin.name.to_string(),
            owner: "Amazon".into(),
            document_type: builtin.kind.as_str().into(),
            version: NewDocumentVersion {
                content: builtin.content.to_string(),
                format: "JSON".into(),
                hash: document::document_hash(builtin.content),
                version_name: None,
                display_name: String::new(),
                target_type: "/AWS::EC2::Instance".into(),
                now_ms: now,
            },
            now_ms: now,
        };
        store.upsert_builtin_document(&doc).await?;
    }
    Ok(())
}
