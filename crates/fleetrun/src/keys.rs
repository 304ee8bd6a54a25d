//! `fleetrun keys`: create, list and delete API access keys, directly in the server's store. Run it where
//! the server's data directory (SQLite) or database (`--database-url`) is reachable; the secret of a new key
//! is printed once and never stored anywhere else.

use clap::{Args, Subcommand};
use fleetrun_store::{KeyKind, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// Which store to open: the same settings as `fleetrun server`.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// The server's data directory (its SQLite database).
    #[arg(long, env = "FLEETRUN_DATA_DIR", default_value = "fleetrun-data")]
    data_dir: PathBuf,
    /// The server's database URL, when it is not the data directory's SQLite file.
    #[arg(long, env = "FLEETRUN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an admin key pair and print it.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a key; requests signed with it fail from then on.
    Delete {
        access_key_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

async fn open(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let path = args.data_dir.join("fleetrun.db");
    if args.database_url.is_none() {
        anyhow::ensure!(
            path.exists(),
            "no fleetrun database at {} (give --data-dir or --database-url)",
            path.display()
        );
    }
    Ok(fleetrun_store::open_url(args.database_url.as_deref(), &path).await?)
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { store, description } => {
            let store = open(&store).await?;
            let now = fleetrun_server::app::now_ms();
            let key = fleetrun_server::identity::new_access_key(KeyKind::Admin, None, &description, now);
            store.insert_access_key(&key).await?;
            println!("AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}", key.access_key_id, key.secret_access_key);
        }
        KeysCommand::List { store } => {
            let store = open(&store).await?;
            for key in store.list_access_keys().await? {
                let instance = key.instance_id.as_deref().unwrap_or("-");
                println!("{}\t{}\t{}\t{}", key.access_key_id, key.kind.as_str(), instance, key.description);
            }
        }
        KeysCommand::Delete { access_key_id, store } => {
            let store = open(&store).await?;
            store.delete_access_key(&access_key_id).await?;
            println!("Deleted {access_key_id}.");
        }
    }
    Ok(())
}
