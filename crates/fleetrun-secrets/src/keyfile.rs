//! The keyring's text format and its key file: parsing, writing, and the permission and atomicity rules.
//!
//! This module does not read environment variables: the caller passes their text to [`Keyring::from_text`].
//!
//! The format is JSON:
//!
//! ```json
//! {
//!   "default": "default",
//!   "keys": [
//!     { "name": "default", "version": 1, "material": "<standard base64 of 32 bytes>" },
//!     { "name": "default", "version": 2, "material": "..." }
//!   ]
//! }
//! ```

use crate::keyring::{Keyring, Material};
use crate::sealed::KEY_LEN;
use crate::{Error, Result, is_valid_key_name};
use aes_gcm::aead::Generate;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// What a key file looks like, for error messages.
const EXPECTED_SHAPE: &str =
    r#"{"default": NAME, "keys": [{"name": NAME, "version": NUMBER, "material": BASE64 OF 32 BYTES}, ...]}"#;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyring {
    default: String,
    keys: Vec<RawKey>,
}

/// One version of one key. It holds base64 key material, so it wipes itself when dropped.
#[derive(serde::Serialize, serde::Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    version: u32,
    material: String,
}

impl Keyring {
    /// Parses the key file format from text, such as the value of `FLEETRUN_MASTER_KEYS`.
    pub fn from_text(text: &str) -> Result<Keyring> {
        parse(text).map_err(|reason| Error::Format(format!("master key text: {reason}")))
    }

    /// Reads an existing key file, refusing it when group or others may access it or it is malformed.
    pub fn load(path: &Path) -> Result<Keyring> {
        let file = File::open(path).map_err(|e| key_file_error(path, format!("cannot open it: {e}")))?;
        read_key_file(path, file)
    }

    /// Reads the key file, or, when there is none, creates it (mode 0600, never overwriting a file that
    /// appears meanwhile) holding one fresh key named `default`, version 1.
    pub fn load_or_create(path: &Path) -> Result<Keyring> {
        match File::open(path) {
            Ok(file) => read_key_file(path, file),
            Err(e) if e.kind() == ErrorKind::NotFound => create_key_file(path),
            Err(e) => Err(key_file_error(path, format!("cannot open it: {e}"))),
        }
    }

    /// Writes the keyring to `path` atomically: a 0600 temporary file in the same directory, synced, then
    /// renamed over `path`, then the directory synced. A crash leaves either the old file or the new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = parent_dir(path);
        let file_name = path.file_name().ok_or_else(|| key_file_error(path, "the path has no file name".into()))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".tmp-{}-{:08x}", std::process::id(), u32::generate()));
        let temp_path = dir.join(temp_name);
        let written = to_text(self)
            .and_then(|text| write_new_file(&temp_path, &text))
            .and_then(|()| std::fs::rename(&temp_path, path))
            .and_then(|()| sync_dir(dir));
        written.map_err(|e| {
            // Best effort: the temporary file may not exist, or may already have been renamed.
            let _ = std::fs::remove_file(&temp_path);
            key_file_error(path, format!("cannot write it: {e}"))
        })
    }
}

fn read_key_file(path: &Path, mut file: File) -> Result<Keyring> {
    let metadata = file.metadata().map_err(|e| key_file_error(path, format!("cannot read it: {e}")))?;
    if !metadata.is_file() {
        return Err(key_file_error(path, "it is not a regular file".into()));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(key_file_error(
            path,
            format!(
                "its mode {mode:04o} lets group or others access it; run `chmod 600 {}` after checking who read it",
                path.display()
            ),
        ));
    }
    // Reserve the whole file up front, so growing the buffer leaves no unwiped copies of the material.
    let mut text = Zeroizing::new(String::with_capacity(usize::try_from(metadata.len()).unwrap_or(0) + 1));
    file.read_to_string(&mut text).map_err(|e| key_file_error(path, format!("cannot read it: {e}")))?;
    parse(&text).map_err(|reason| key_file_error(path, reason))
}

fn create_key_file(path: &Path) -> Result<Keyring> {
    let keyring = Keyring::generate();
    match to_text(&keyring).and_then(|text| write_new_file(path, &text)) {
        Ok(()) => {}
        // Another process created it between our open and our create: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Keyring::load(path),
        Err(e) => return Err(key_file_error(path, format!("cannot create it: {e}"))),
    }
    sync_dir(parent_dir(path)).map_err(|e| key_file_error(path, format!("cannot sync its directory: {e}")))?;
    Ok(keyring)
}

/// Creates `path` (which must not exist) with mode 0600, writes `text` and syncs it. Removes the file again
/// if writing fails, so no half-written key file is left behind.
fn write_new_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn key_file_error(path: &Path, reason: String) -> Error {
    Error::KeyFile { path: PathBuf::from(path), reason }
}

/// Parses and checks the text format. The error is a reason in words that never quotes key material.
fn parse(text: &str) -> Result<Keyring, String> {
    let raw: RawKeyring = serde_json::from_str(text).map_err(|e| describe_json_error(&e))?;
    if raw.keys.is_empty() {
        return Err("it holds no keys".into());
    }
    let mut keys: BTreeMap<String, BTreeMap<u32, Material>> = BTreeMap::new();
    for (index, key) in raw.keys.iter().enumerate() {
        if !is_valid_key_name(&key.name) {
            // The name is not quoted: a file with fields mixed up could have key material there.
            return Err(format!(
                "key #{} has an invalid name (use 1 to 256 of a-z A-Z 0-9 : / _ -, and not alias/aws/ssm)",
                index + 1
            ));
        }
        let (name, version) = (&key.name, key.version);
        if version == 0 {
            return Err(format!("key {name:?} has version 0; versions start at 1"));
        }
        let material =
            decode_material(&key.material).map_err(|reason| format!("key {name:?} version {version}: {reason}"))?;
        if keys.entry(name.clone()).or_default().insert(version, material).is_some() {
            return Err(format!("key {name:?} version {version} appears more than once"));
        }
    }
    if !is_valid_key_name(&raw.default) {
        return Err("the default key name is not a valid key name".into());
    }
    if !keys.contains_key(&raw.default) {
        return Err(format!("the default key {:?} is not among the keys", raw.default));
    }
    Ok(Keyring { default: raw.default.clone(), keys })
}

fn decode_material(text: &str) -> Result<Material, String> {
    // The decoder's own error names the offending byte, so it is not passed on.
    let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| "material is not valid base64".to_string())?);
    if bytes.len() != KEY_LEN {
        return Err(format!("material is {} bytes, expected {KEY_LEN}", bytes.len()));
    }
    let mut material = Material::default();
    material.copy_from_slice(&bytes);
    Ok(material)
}

/// Describes a JSON error without serde_json's message, which can quote the offending value (key material,
/// if the file has fields mixed up), except for the messages that only name a field.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let message = error.to_string();
    let what = match error.classify() {
        Category::Io => "cannot be read".to_string(),
        Category::Syntax => "is not valid JSON".to_string(),
        Category::Eof => "ends too early".to_string(),
        Category::Data
            if ["missing field", "unknown field", "duplicate field"].iter().any(|safe| message.starts_with(safe)) =>
        {
            // "unknown field `x`, expected one of ..." up to " at line": names only.
            let detail = message.split(" at line ").next().unwrap_or_default();
            format!("does not have the expected shape ({detail})")
        }
        Category::Data => "does not have the expected shape".to_string(),
    };
    format!("it {what} at line {} column {}; expected {EXPECTED_SHAPE}", error.line(), error.column())
}

/// The text format, pretty-printed. The buffer is sized up front so it is not reallocated, which would leave
/// unwiped copies of the material behind.
fn to_text(keyring: &Keyring) -> std::io::Result<Zeroizing<String>> {
    let keys = keyring
        .keys
        .iter()
        .flat_map(|(name, versions)| {
            versions.iter().map(|(version, material)| RawKey {
                name: name.clone(),
                version: *version,
                material: STANDARD.encode(material.as_slice()),
            })
        })
        .collect();
    let raw = RawKeyring { default: keyring.default.clone(), keys };
    let mut out = Zeroizing::new(Vec::with_capacity(200 + raw.keys.len() * (KEY_LEN * 2 + 2 * 256 + 100)));
    serde_json::to_writer_pretty(&mut *out, &raw)?;
    out.push(b'\n');
    let text =
        String::from_utf8(std::mem::take(&mut *out)).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
    Ok(Zeroizing::new(text))
}
