//! The server's master keys for SecureString parameters: where they come from, the start-up check that
//! they are the keys the database's secrets were sealed with, and sealing/opening parameter values.
//!
//! Keys come from `FLEETRUN_MASTER_KEYS` (the key file's text) when it is set, else from the key file
//! (`master_key_file`, default `<data_dir>/master-keys.json`, created with mode 0600 on first start).
//! The database holds a check value per key version (never the key): a server whose keys do not match
//! refuses to start rather than serve garbage or seal new values under a key nobody else has.
//!
//! Rotation (`fleetrun keys rotate-master`) edits the key file while servers run: before sealing, a
//! server looks at the file's modification time and reloads it when it changed, so new values use the
//! newest version; a value whose key version this server has not loaded yet triggers one reload.

use crate::config::Config;
use fleetrun_secrets::{Keyring, Sealed, Zeroizing};
use fleetrun_store::{AccessKey, Store};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The environment variable that, when set, holds the keys instead of the key file.
pub const ENV_MASTER_KEYS: &str = "FLEETRUN_MASTER_KEYS";

/// The keyring in use and where it came from.
pub struct MasterKeys {
    source: Source,
    // The keyring and, for a file, the modification time it was read at.
    loaded: Mutex<(Arc<Keyring>, Option<SystemTime>)>,
}

enum Source {
    File(PathBuf),
    Env,
}

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The KeyId names no master key (SSM's `InvalidKeyId`).
    #[error("{0}")]
    UnknownKey(String),
    #[error("{0}")]
    Crypto(#[from] fleetrun_secrets::Error),
}

impl MasterKeys {
    /// Loads the keys named by the config, or by `env_keys` (the value of [`ENV_MASTER_KEYS`]) when given.
    pub fn load(config: &Config, env_keys: Option<String>) -> anyhow::Result<Self> {
        Self::load_from(&config.master_key_file, env_keys, true)
    }

    /// Like [`MasterKeys::load`] for tools: `create` false refuses a missing key file instead of creating one.
    pub fn load_from(key_file: &std::path::Path, env_keys: Option<String>, create: bool) -> anyhow::Result<Self> {
        match env_keys {
            Some(text) => {
                let keyring = Keyring::from_text(&text)
                    .map_err(|e| anyhow::anyhow!("{ENV_MASTER_KEYS} does not hold valid master keys: {e}"))?;
                Ok(Self { source: Source::Env, loaded: Mutex::new((Arc::new(keyring), None)) })
            }
            None => {
                let path = key_file.to_path_buf();
                let keyring = if create { Keyring::load_or_create(&path)? } else { Keyring::load(&path)? };
                let mtime = modified(&path);
                Ok(Self { source: Source::File(path), loaded: Mutex::new((Arc::new(keyring), mtime)) })
            }
        }
    }

    /// Checks every key version the database knows against this keyring, and records the check values of
    /// versions it does not know yet. Fails when a key differs or a version the database uses is missing.
    pub async fn verify(&self, store: &dyn Store) -> anyhow::Result<()> {
        let keyring = self.current();
        let source = self.describe();
        for (name, version, check) in store.master_key_checks().await? {
            match keyring.verify_check(&name, version, &check) {
                Ok(true) => {}
                Ok(false) => anyhow::bail!(
                    "master key {name:?} version {version} in {source} is not the key this database's SecureString values were sealed with; \
                     start the server with the original key file (refusing to start rather than serve undecryptable values)"
                ),
                Err(_) => anyhow::bail!(
                    "{source} has no master key {name:?} version {version}, which this database's SecureString values use; \
                     start the server with the key file they were sealed with"
                ),
            }
        }
        for (name, version) in keyring.versions() {
            let check = keyring.check_value(&name, version)?;
            if !store.put_master_key_check(&name, version, &check).await? {
                // Another process recorded this version first: it must be the same key.
                let known = store.master_key_checks().await?;
                let theirs = known.iter().find(|(n, v, _)| *n == name && *v == version);
                if let Some((_, _, check)) = theirs
                    && !keyring.verify_check(&name, version, check)?
                {
                    anyhow::bail!(
                        "master key {name:?} version {version} in {source} differs from the one another server recorded"
                    );
                }
            }
        }
        Ok(())
    }

    /// Where the keys came from, for messages (never the keys).
    pub fn describe(&self) -> String {
        match &self.source {
            Source::File(path) => format!("the key file {}", path.display()),
            Source::Env => format!("${ENV_MASTER_KEYS}"),
        }
    }

    /// The keyring, reloaded first when the key file changed since it was read.
    pub fn current(&self) -> Arc<Keyring> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Source::File(path) = &self.source {
            let now = modified(path);
            if now != loaded.1 {
                match Keyring::load(path) {
                    Ok(keyring) => *loaded = (Arc::new(keyring), now),
                    Err(error) => {
                        tracing::error!(error = %error, "Reloading the changed master key file failed; keeping the keys already loaded.")
                    }
                }
            }
        }
        loaded.0.clone()
    }

    /// The keyring as last read, without looking at the key file: for opening, which runs on every
    /// signed request (access-key secrets) and re-reads the file only when a value names a key version
    /// this keyring lacks.
    fn loaded(&self) -> Arc<Keyring> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// The name of the master key a KeyId selects (None and `alias/aws/ssm`: the default).
    pub fn resolve(&self, key_id: Option<&str>) -> Result<String, KeyError> {
        let keyring = self.current();
        keyring.resolve_key_id(key_id).map(str::to_string).map_err(|_| {
            KeyError::UnknownKey(format!(
                "KeyId {:?} names no master key of this server ({}).",
                key_id.unwrap_or_default(),
                self.describe()
            ))
        })
    }

    /// Seals version `version` of parameter `name`'s value under master key `key_name`.
    pub fn seal(&self, key_name: &str, name: &str, version: i64, value: &str) -> Result<Vec<u8>, KeyError> {
        let context = fleetrun_secrets::parameter_context(name, version as u64);
        Ok(self.current().seal(key_name, value.as_bytes(), &context)?.to_bytes())
    }

    /// Opens a sealed value of version `version` of parameter `name`.
    pub fn open(&self, name: &str, version: i64, bytes: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        let sealed = Sealed::from_bytes(bytes)?;
        let context = fleetrun_secrets::parameter_context(name, version as u64);
        let opened = match self.loaded().open(&sealed, &context) {
            // Sealed under a version added since this keyring was read: read the key file again.
            Err(fleetrun_secrets::Error::UnknownKeyVersion { .. }) => {
                self.force_reload();
                self.current().open(&sealed, &context)?
            }
            other => other?,
        };
        let text = String::from_utf8(opened.to_vec()).map_err(|_| fleetrun_secrets::Error::Decrypt)?;
        Ok(Zeroizing::new(text))
    }

    /// `key` with its secret sealed under the default master key, as it is stored. The secret is needed in
    /// clear to check SigV4 signatures, so it is opened per request ([`MasterKeys::access_secret`]).
    pub fn seal_access_key(&self, key: &AccessKey) -> Result<AccessKey, KeyError> {
        if key.secret_access_key.starts_with(SEALED_SECRET_PREFIX) {
            return Ok(key.clone());
        }
        let keyring = self.current();
        let name = keyring.default_key_name().to_string();
        let sealed = keyring.seal(&name, key.secret_access_key.as_bytes(), &access_key_context(&key.access_key_id))?;
        let text = format!("{SEALED_SECRET_PREFIX}{}", sealed.to_opaque_string());
        Ok(AccessKey { secret_access_key: text, ..key.clone() })
    }

    /// The clear secret of a stored key (sealed, or in clear as earlier versions stored it).
    pub fn access_secret(&self, key: &AccessKey) -> Result<Zeroizing<String>, KeyError> {
        let Some(opaque) = key.secret_access_key.strip_prefix(SEALED_SECRET_PREFIX) else {
            return Ok(Zeroizing::new(key.secret_access_key.clone()));
        };
        let sealed = Sealed::from_opaque_string(opaque)?;
        let context = access_key_context(&key.access_key_id);
        let opened = match self.loaded().open(&sealed, &context) {
            Err(fleetrun_secrets::Error::UnknownKeyVersion { .. }) => {
                self.force_reload();
                self.current().open(&sealed, &context)?
            }
            other => other?,
        };
        let text = String::from_utf8(opened.to_vec()).map_err(|_| fleetrun_secrets::Error::Decrypt)?;
        Ok(Zeroizing::new(text))
    }

    /// Seals every access-key secret still stored in clear (written before secrets were sealed).
    pub async fn seal_stored_access_keys(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let mut sealed = 0;
        for key in store.list_access_keys().await? {
            if key.secret_access_key.starts_with(SEALED_SECRET_PREFIX) {
                continue;
            }
            let new = self.seal_access_key(&key)?;
            if store
                .replace_access_key_secret(&key.access_key_id, &key.secret_access_key, &new.secret_access_key)
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// What the API shows for a SecureString value read without decryption: an opaque ciphertext.
    pub fn opaque(bytes: &[u8]) -> String {
        Sealed::from_bytes(bytes).map(|s| s.to_opaque_string()).unwrap_or_default()
    }

    fn force_reload(&self) {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).1 = None;
    }
}

/// How a sealed access-key secret starts in the store (a clear secret never does: they are base64-like).
pub const SEALED_SECRET_PREFIX: &str = "sealed:v1:";

/// What an access key's sealed secret is bound to (no parameter name can contain `:`).
fn access_key_context(access_key_id: &str) -> Vec<u8> {
    fleetrun_secrets::parameter_context(&format!("access-key:{access_key_id}"), 0)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// What [`rotate`] did.
#[derive(Debug)]
pub struct Rotation {
    pub key_name: String,
    pub new_version: u32,
    pub rewrapped: usize,
    /// Access-key secrets re-wrapped.
    pub rewrapped_access_keys: usize,
    pub retired: Vec<u32>,
}

/// How long [`rotate`] waits after adding the new version before re-wrapping, so that every server has
/// noticed the changed key file (they look at it before each seal) and seals new values under it.
pub const ROTATION_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Which part of a rotation to run. With several replicas that each have their own copy of the key file,
/// rotate in two steps and copy the file to every replica after each: [`Phase::Add`] (servers then seal
/// under the new version), then [`Phase::Finish`] (re-wrap and retire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Add a version, wait for running servers to notice, re-wrap, retire: everything, for one key file.
    All,
    /// Only add the new version (and record its check value).
    Add,
    /// Re-wrap every value onto the newest version already in the file, then retire the older ones.
    Finish,
}

/// Rotates master key `key` (None: the default) in the key file at `path`, with servers running: adds a
/// version and records its check value, waits [`ROTATION_SETTLE`], re-wraps every data key sealed under an
/// older version of that key (value ciphertexts are untouched), then retires the older versions from the
/// file and their check values from the database. Safe to run again after an interruption.
pub async fn rotate(
    store: &dyn Store,
    path: &std::path::Path,
    key: Option<&str>,
    phase: Phase,
) -> anyhow::Result<Rotation> {
    let mut keyring = Keyring::load(path)?;
    let key_name = keyring.resolve_key_id(key).map_err(|e| anyhow::anyhow!("{e}"))?.to_string();
    let new_version = if phase == Phase::Finish {
        keyring.newest_version(&key_name)?
    } else {
        let version = keyring.rotate(&key_name)?;
        keyring.save(path)?;
        store.put_master_key_check(&key_name, version, &keyring.check_value(&key_name, version)?).await?;
        version
    };
    if phase == Phase::Add {
        return Ok(Rotation { key_name, new_version, rewrapped: 0, rewrapped_access_keys: 0, retired: Vec::new() });
    }
    if phase == Phase::All {
        tokio::time::sleep(ROTATION_SETTLE).await;
    }
    let mut rewrapped = 0;
    // Passes until one finds nothing left under an older version (a write racing the first pass is
    // caught by the next).
    loop {
        let (moved, missed) = rewrap_pass(store, &keyring, &key_name, new_version).await?;
        rewrapped += moved;
        if moved == 0 && missed > 0 {
            anyhow::bail!(
                "{missed} values stayed sealed under older versions of {key_name:?} (they kept changing); nothing was retired — run the rotation again"
            );
        }
        if moved == 0 {
            break;
        }
    }
    let rewrapped_access_keys = rewrap_access_keys(store, &keyring, &key_name, new_version).await?;
    let older: Vec<u32> =
        keyring.versions().into_iter().filter(|(n, v)| *n == key_name && *v < new_version).map(|(_, v)| v).collect();
    if !older.is_empty() {
        keyring.retire_versions_below(&key_name, new_version)?;
        keyring.save(path)?;
    }
    for version in &older {
        store.delete_master_key_check(&key_name, *version).await?;
    }
    Ok(Rotation { key_name, new_version, rewrapped, rewrapped_access_keys, retired: older })
}

/// Re-wraps the sealed access-key secrets still under an older version of `key_name`. Keys are few, so one
/// pass; a key that changed meanwhile fails the rotation before anything is retired.
async fn rewrap_access_keys(
    store: &dyn Store,
    keyring: &Keyring,
    key_name: &str,
    newest: u32,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    for key in store.list_access_keys().await? {
        let Some(opaque) = key.secret_access_key.strip_prefix(SEALED_SECRET_PREFIX) else { continue };
        let sealed = Sealed::from_opaque_string(opaque)?;
        if sealed.key_name() != key_name || sealed.key_version() >= newest {
            continue;
        }
        let new = keyring.rewrap(&sealed, &access_key_context(&key.access_key_id))?;
        let text = format!("{SEALED_SECRET_PREFIX}{}", new.to_opaque_string());
        anyhow::ensure!(
            store.replace_access_key_secret(&key.access_key_id, &key.secret_access_key, &text).await?,
            "access key {} changed during the rotation; nothing was retired — run the rotation again",
            key.access_key_id
        );
        moved += 1;
    }
    Ok(moved)
}

/// One pass over every sealed value; returns how many it re-wrapped and how many it found under an older
/// version but could not replace (they changed meanwhile).
async fn rewrap_pass(
    store: &dyn Store,
    keyring: &Keyring,
    key_name: &str,
    newest: u32,
) -> anyhow::Result<(usize, usize)> {
    const BATCH: u32 = 500;
    let mut after: Option<(String, i64)> = None;
    let (mut moved, mut missed) = (0, 0);
    loop {
        let batch = store.sealed_values(after.as_ref().map(|(n, v)| (n.as_str(), *v)), BATCH).await?;
        for (name, version, bytes) in &batch {
            let sealed = Sealed::from_bytes(bytes)?;
            if sealed.key_name() != key_name || sealed.key_version() >= newest {
                continue;
            }
            let context = fleetrun_secrets::parameter_context(name, *version as u64);
            let new = keyring.rewrap(&sealed, &context)?.to_bytes();
            // False: the row changed or went away meanwhile; the next pass looks again.
            if store.replace_sealed(name, *version, bytes, &new).await? {
                moved += 1;
            } else {
                missed += 1;
            }
        }
        match batch.last() {
            Some((name, version, _)) if batch.len() == BATCH as usize => after = Some((name.clone(), *version)),
            _ => return Ok((moved, missed)),
        }
    }
}
