//! `fleetrun keys`: create, list and delete API access keys, directly in the server's store. Run it on the
//! server's machine; the secret of a new key is printed once and never stored anywhere else.

use clap::Subcommand;
use fleetrun_store::sqlite::SqliteStore;
use fleetrun_store::{KeyKind, Store};
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an admin key pair and print it.
    Create {
        #[arg(long, env = "FLEETRUN_DATA_DIR", default_value = "fleetrun-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long, env = "FLEETRUN_DATA_DIR", default_value = "fleetrun-data")]
        data_dir: PathBuf,
    },
    /// Delete a key; requests signed with it fail from then on.
    Delete {
        access_key_id: String,
        #[arg(long, env = "FLEETRUN_DATA_DIR", default_value = "fleetrun-data")]
        data_dir: PathBuf,
    },
}

async fn open(data_dir: &std::path::Path) -> anyhow::Result<SqliteStore> {
    let path = data_dir.join("fleetrun.db");
    anyhow::ensure!(path.exists(), "no fleetrun database at {} (give --data-dir)", path.display());
    Ok(SqliteStore::open(&path).await?)
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { data_dir, description } => {
            let store = open(&data_dir).await?;
            let key = fleetrun_server::identity::new_access_key(
                KeyKind::Admin,
                None,
                &description,
                fleetrun_server::app::now_ms(),
            );
            store.insert_access_key(&key).await?;
            println!("AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}", key.access_key_id, key.secret_access_key);
        }
        KeysCommand::List { data_dir } => {
            let store = open(&data_dir).await?;
            for key in store.list_access_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.access_key_id,
                    key.kind.as_str(),
                    key.instance_id.as_deref().unwrap_or("-"),
                    key.description
                );
            }
        }
        KeysCommand::Delete { access_key_id, data_dir } => {
            let store = open(&data_dir).await?;
            store.delete_access_key(&access_key_id).await?;
            println!("Deleted {access_key_id}.");
        }
    }
    Ok(())
}
