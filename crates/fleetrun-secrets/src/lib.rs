//! Envelope encryption for Parameter Store `SecureString` values, under master keys held in a local key file.
//!
//! A [`Keyring`] holds named master keys, each with one or more versions of 32-byte key material.
//! [`Keyring::seal`] encrypts a value with AES-256-GCM under a fresh random data key and wraps that data key
//! with AES-256-GCM under the newest version of a master key; the result is a [`Sealed`] value ready to store.
//! Both layers authenticate a caller-supplied *context* (for Parameter Store: [`parameter_context`]), so a
//! ciphertext copied to another parameter or version does not open.
//! Rotation adds a version; [`Keyring::rewrap`] moves a value's data key onto the newest version without
//! touching the value ciphertext, after which old versions can be retired.
//!
//! What this crate is not: it is not a KMS and does no networking, access control or auditing.
//! Anyone who can read the key file (or the `FLEETRUN_MASTER_KEYS` variable) can decrypt every value.
//! It does no logging, and no error or `Debug` output contains key material or plaintext.
//! Key material is zeroized when dropped, on a best-effort basis: copies made by the operating system, by
//! serialization buffers or by the caller are out of its reach.

mod keyfile;
mod keyring;
mod sealed;

pub use keyring::Keyring;
pub use sealed::Sealed;
pub use zeroize::Zeroizing;

use std::path::PathBuf;

/// The AWS-managed key alias; it, like an omitted `KeyId`, names the keyring's default key.
pub const AWS_MANAGED_ALIAS: &str = "alias/aws/ssm";

/// The longest key name, as in SSM's `KeyId`.
pub const MAX_KEY_NAME_LEN: usize = 256;

/// A failure to seal, open or manage keys.
///
/// Invariant: no variant carries key material, plaintext or ciphertext bytes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No master key has this name.
    #[error("unknown master key {0:?}")]
    UnknownKey(String),
    /// The master key exists but this version is not in the keyring (never added, or retired).
    #[error("master key {name:?} has no version {version} in this keyring (it may have been retired)")]
    UnknownKeyVersion {
        /// The key name.
        name: String,
        /// The missing version.
        version: u32,
    },
    /// Authentication failed while decrypting.
    #[error(
        "decryption failed: the master key does not match the one the value was sealed with, \
         or the value or its context was changed"
    )]
    Decrypt,
    /// The key file could not be read, created or written, or its content or permissions are not acceptable.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// Keyring text or sealed bytes are malformed.
    #[error("{0}")]
    Format(String),
    /// A new key name does not match `^[a-zA-Z0-9:/_-]{1,256}$` or is the AWS-managed alias.
    #[error("invalid master key name {0:?}: use 1 to 256 of a-z A-Z 0-9 : / _ - and not {AWS_MANAGED_ALIAS:?}")]
    InvalidKeyName(String),
    /// A key with this name already exists.
    #[error("master key {0:?} already exists")]
    KeyExists(String),
    /// The key already has version `u32::MAX`, so it cannot be rotated again.
    #[error("master key {0:?} cannot be rotated: its version number is at the maximum")]
    KeyVersionsExhausted(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether `name` may name a master key: SSM's `KeyId` pattern `^[a-zA-Z0-9:/_-]{1,256}$`, except the
/// AWS-managed alias, which always means the default key.
pub fn is_valid_key_name(name: &str) -> bool {
    (1..=MAX_KEY_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
        && name != AWS_MANAGED_ALIAS
}

/// The context Parameter Store binds a value to: the parameter name, a NUL byte, and the version in decimal.
///
/// Sealing and opening must build the context the same way, so both go through this function.
/// Parameter names cannot contain NUL, so distinct (name, version) pairs give distinct contexts.
pub fn parameter_context(name: &str, version: u64) -> Vec<u8> {
    let mut context = Vec::with_capacity(name.len() + 21);
    context.extend_from_slice(name.as_bytes());
    context.push(0);
    context.extend_from_slice(version.to_string().as_bytes());
    context
}

#[cfg(test)]
mod tests;
