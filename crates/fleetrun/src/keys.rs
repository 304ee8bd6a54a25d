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
    /// Create an admin key pair and print it. Its secret is stored sealed under the master key when the key
    /// file (or FLEETRUN_MASTER_KEYS) is at hand, else in clear until a server seals it at its first use.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyFileArgs,
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
    /// Rotate a master key of SecureString parameters, with servers running: add a new version, re-wrap
    /// every data key sealed under an older one, then retire the older versions.
    RotateMaster {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyFileArgs,
        /// The master key to rotate (default: the default key).
        #[arg(long)]
        key: Option<String>,
        /// Only add the new version (step 1 of 2 when replicas have their own copies of the key file:
        /// copy the file to every replica, then run again with --finish).
        #[arg(long, conflicts_with = "finish")]
        add_only: bool,
        /// Only re-wrap onto the newest version already in the file and retire the older ones (step 2).
        #[arg(long)]
        finish: bool,
    },
    /// Add a named master key (usable as a SecureString's KeyId); `--default` makes it the default.
    AddMaster {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyFileArgs,
        #[arg(long)]
        default: bool,
    },
    /// List master keys and their versions (never the keys).
    ListMasters {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyFileArgs,
    },
}

/// Where the master keys are: the server's key file.
#[derive(Args)]
pub(crate) struct KeyFileArgs {
    /// The server's master key file (default: `<data-dir>/master-keys.json`, as the server's default).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

impl KeyFileArgs {
    fn path(&self, store: &StoreArgs) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| store.data_dir.join("master-keys.json"))
    }
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
        KeysCommand::Create { store: args, keys, description } => {
            let store = open(&args).await?;
            let now = fleetrun_server::app::now_ms();
            let key = fleetrun_server::identity::new_access_key(KeyKind::Admin, None, &description, now);
            let env_keys = std::env::var(fleetrun_server::master_keys::ENV_MASTER_KEYS).ok();
            let stored = match fleetrun_server::master_keys::MasterKeys::load_from(&keys.path(&args), env_keys, false) {
                Ok(master) => {
                    master.verify(store.as_ref()).await?;
                    master.seal_access_key(&key)?
                }
                Err(_) => {
                    eprintln!(
                        "fleetrun: no master keys here; the new secret is stored in clear until a server seals it at its first use"
                    );
                    key.clone()
                }
            };
            store.insert_access_key(&stored).await?;
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
        KeysCommand::RotateMaster { store: args, keys, key, add_only, finish } => {
            use fleetrun_server::master_keys::{Phase, rotate};
            let path = keys.path(&args);
            let store = open(&args).await?;
            let phase = if add_only {
                Phase::Add
            } else if finish {
                Phase::Finish
            } else {
                Phase::All
            };
            let done = rotate(store.as_ref(), &path, key.as_deref(), phase).await?;
            if phase == Phase::Add {
                println!(
                    "Added version {} of master key {}. Copy {} to every replica, then run again with --finish.",
                    done.new_version,
                    done.key_name,
                    path.display()
                );
                return Ok(());
            }
            let retired: Vec<String> = done.retired.iter().map(u32::to_string).collect();
            println!(
                "Rotated master key {} to version {}: re-wrapped {} values and {} access keys; retired version(s) {}.",
                done.key_name,
                done.new_version,
                done.rewrapped,
                done.rewrapped_access_keys,
                if retired.is_empty() { "none".to_string() } else { retired.join(", ") }
            );
        }
        KeysCommand::AddMaster { name, store: args, keys, default } => {
            let path = keys.path(&args);
            let store = open(&args).await?;
            let mut keyring = fleetrun_secrets::Keyring::load(&path)?;
            keyring.add_key(&name)?;
            if default {
                keyring.set_default(&name)?;
            }
            store.put_master_key_check(&name, 1, &keyring.check_value(&name, 1)?).await?;
            keyring.save(&path)?;
            println!("Added master key {name}{}.", if default { " (now the default)" } else { "" });
        }
        KeysCommand::ListMasters { store: args, keys } => {
            let keyring = fleetrun_secrets::Keyring::load(&keys.path(&args))?;
            for (name, version) in keyring.versions() {
                let default = if name == keyring.default_key_name() { "\tdefault" } else { "" };
                println!("{name}\tversion {version}{default}");
            }
        }
    }
    Ok(())
}
