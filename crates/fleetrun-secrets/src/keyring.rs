//! [`Keyring`]: named, versioned master keys, and sealing, opening and re-wrapping values with them.
//!
//! This module is the cryptography. Reading and writing the key file lives in `keyfile.rs`, and the sealed
//! value's byte format in `sealed.rs`.

use crate::sealed::{KEY_LEN, NONCE_LEN, Sealed};
use crate::{AWS_MANAGED_ALIAS, Error, Result, is_valid_key_name};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// 32 bytes of AES-256 key material, wiped when dropped.
pub(crate) type Material = Zeroizing<[u8; KEY_LEN]>;

/// Domain label in the associated data of a wrapped data key, so a wrapped key is never mistaken for a key
/// check value or anything else encrypted under a master key.
const WRAP_DOMAIN: &[u8] = b"fleetrun-secrets/v1/wrap\0";
/// Domain label in the associated data of a key check value.
const CHECK_DOMAIN: &[u8] = b"fleetrun-secrets/v1/key-check\0";
/// The constant a key check value encrypts.
const CHECK_PLAINTEXT: &[u8] = b"fleetrun master key check";
/// The leading byte of a key check value, so its layout can change later.
const CHECK_FORMAT_VERSION: u8 = 1;

/// Named master keys, each with one or more versions of key material, and a default name.
///
/// The newest version of a name seals; every version present can open. `Debug` shows names and versions only.
#[derive(Clone)]
pub struct Keyring {
    // Invariant: `default` is a key of `keys`; every name is valid (`is_valid_key_name`); every version map is
    // non-empty and has no version 0.
    pub(crate) default: String,
    pub(crate) keys: BTreeMap<String, BTreeMap<u32, Material>>,
}

impl Keyring {
    /// A keyring with one fresh random key named `default`, version 1, which is the default.
    ///
    /// Like every function here that needs randomness, this panics if the operating system's random number
    /// generator fails, which does not happen on a working Linux system.
    pub fn generate() -> Keyring {
        let default = "default".to_string();
        let keys = BTreeMap::from([(default.clone(), BTreeMap::from([(1, random_key())]))]);
        Keyring { default, keys }
    }

    /// The name of the default key.
    pub fn default_key_name(&self) -> &str {
        &self.default
    }

    /// Every (name, version) pair present, sorted.
    pub fn versions(&self) -> Vec<(String, u32)> {
        self.keys
            .iter()
            .flat_map(|(name, versions)| versions.keys().map(move |version| (name.clone(), *version)))
            .collect()
    }

    /// Resolves an SSM `KeyId` to a key name: `None` and [`AWS_MANAGED_ALIAS`] mean the default key.
    pub fn resolve_key_id<'a>(&'a self, key_id: Option<&'a str>) -> Result<&'a str> {
        match key_id {
            None | Some(AWS_MANAGED_ALIAS) => Ok(&self.default),
            Some(name) if self.keys.contains_key(name) => Ok(name),
            Some(name) => Err(Error::UnknownKey(name.to_string())),
        }
    }

    /// The newest version of a key, the one [`Keyring::seal`] and [`Keyring::rewrap`] use.
    pub fn newest_version(&self, key_name: &str) -> Result<u32> {
        let name = self.resolve_key_id(Some(key_name))?;
        Ok(self.newest(name)?.0)
    }

    /// Adds a key with fresh material as version 1. The default key does not change.
    pub fn add_key(&mut self, name: &str) -> Result<()> {
        if !is_valid_key_name(name) {
            return Err(Error::InvalidKeyName(name.to_string()));
        }
        if self.keys.contains_key(name) {
            return Err(Error::KeyExists(name.to_string()));
        }
        self.keys.insert(name.to_string(), BTreeMap::from([(1, random_key())]));
        Ok(())
    }

    /// Makes an existing key the default, the one that `None` and [`AWS_MANAGED_ALIAS`] resolve to.
    pub fn set_default(&mut self, name: &str) -> Result<()> {
        if !self.keys.contains_key(name) {
            return Err(Error::UnknownKey(name.to_string()));
        }
        self.default = name.to_string();
        Ok(())
    }

    /// Adds a new newest version with fresh material and returns its number.
    ///
    /// Values sealed before keep opening with their old version until [`Keyring::rewrap`] moves them.
    pub fn rotate(&mut self, name: &str) -> Result<u32> {
        let name = self.resolve_key_id(Some(name))?.to_string();
        let (newest, _) = self.newest(&name)?;
        let next = newest.checked_add(1).ok_or_else(|| Error::KeyVersionsExhausted(name.clone()))?;
        self.keys.entry(name).or_default().insert(next, random_key());
        Ok(next)
    }

    /// Drops the material of every version older than `version`, which must be present (and so survives).
    /// Returns how many versions were dropped.
    ///
    /// Values still wrapped with a dropped version fail to open with [`Error::UnknownKeyVersion`] from then on:
    /// rewrap them first.
    pub fn retire_versions_below(&mut self, name: &str, version: u32) -> Result<usize> {
        let name = self.resolve_key_id(Some(name))?.to_string();
        let versions = self.keys.get_mut(&name).ok_or_else(|| Error::UnknownKey(name.clone()))?;
        if !versions.contains_key(&version) {
            return Err(Error::UnknownKeyVersion { name, version });
        }
        let kept = versions.split_off(&version);
        let retired = std::mem::replace(versions, kept);
        Ok(retired.len())
    }

    /// Encrypts `plaintext` under a fresh data key, and wraps the data key under the newest version of
    /// `key_name` (a name or [`AWS_MANAGED_ALIAS`]). `context` is authenticated, not stored: [`Keyring::open`]
    /// must be given the same bytes.
    pub fn seal(&self, key_name: &str, plaintext: &[u8], context: &[u8]) -> Result<Sealed> {
        let name = self.resolve_key_id(Some(key_name))?;
        let data_key = random_key();
        let value_nonce = <[u8; NONCE_LEN]>::generate();
        let ciphertext = aes_encrypt(&data_key, &value_nonce, plaintext, context)?;
        self.wrap(name, &data_key, value_nonce, ciphertext, context)
    }

    /// Decrypts a sealed value, with the same `context` it was sealed with.
    ///
    /// Fails with [`Error::UnknownKey`] or [`Error::UnknownKeyVersion`] when the keyring lacks the key, and
    /// with [`Error::Decrypt`] when the key is a different one, the context differs or the bytes were changed.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let data_key = self.unwrap_data_key(sealed, context)?;
        aes_decrypt(&data_key, &sealed.value_nonce, &sealed.ciphertext, context)
    }

    /// Re-wraps the data key of `sealed` under the newest version of the same key name, leaving the value
    /// ciphertext unchanged. The value itself is never decrypted.
    pub fn rewrap(&self, sealed: &Sealed, context: &[u8]) -> Result<Sealed> {
        let data_key = self.unwrap_data_key(sealed, context)?;
        self.wrap(&sealed.key_name, &data_key, sealed.value_nonce, sealed.ciphertext.clone(), context)
    }

    /// A value that proves which key material a (name, version) had, without revealing it: the encryption of a
    /// fixed constant under that material with a random nonce.
    ///
    /// Store it next to data sealed with the key; at startup, [`Keyring::verify_check`] tells whether the key
    /// file still holds the same key, before any value fails to open.
    pub fn check_value(&self, name: &str, version: u32) -> Result<Vec<u8>> {
        let name = self.resolve_key_id(Some(name))?;
        let key = self.material(name, version)?;
        let nonce = <[u8; NONCE_LEN]>::generate();
        let mut out = vec![CHECK_FORMAT_VERSION];
        out.extend_from_slice(&nonce);
        out.extend(aes_encrypt(key, &nonce, CHECK_PLAINTEXT, &check_aad(name, version))?);
        Ok(out)
    }

    /// Whether `check` was made by [`Keyring::check_value`] with the same material this keyring has for
    /// (name, version). Fails only when the keyring lacks that key or version; a malformed `check` is `false`.
    pub fn verify_check(&self, name: &str, version: u32, check: &[u8]) -> Result<bool> {
        let name = self.resolve_key_id(Some(name))?;
        let key = self.material(name, version)?;
        let Some((&CHECK_FORMAT_VERSION, rest)) = check.split_first() else { return Ok(false) };
        let Some((nonce, ciphertext)) = rest.split_first_chunk::<NONCE_LEN>() else { return Ok(false) };
        Ok(aes_decrypt(key, nonce, ciphertext, &check_aad(name, version))
            .is_ok_and(|plaintext| plaintext.as_slice() == CHECK_PLAINTEXT))
    }

    /// The newest version of a key name (by the invariant, every present name has one).
    fn newest(&self, name: &str) -> Result<(u32, &Material)> {
        let newest = self.keys.get(name).and_then(|versions| versions.last_key_value());
        newest.map(|(version, key)| (*version, key)).ok_or_else(|| Error::UnknownKey(name.to_string()))
    }

    fn material(&self, name: &str, version: u32) -> Result<&Material> {
        let versions = self.keys.get(name).ok_or_else(|| Error::UnknownKey(name.to_string()))?;
        versions.get(&version).ok_or_else(|| Error::UnknownKeyVersion { name: name.to_string(), version })
    }

    /// Wraps `data_key` under the newest version of `name` and assembles the sealed value.
    fn wrap(
        &self,
        name: &str,
        data_key: &Material,
        value_nonce: [u8; NONCE_LEN],
        ciphertext: Vec<u8>,
        context: &[u8],
    ) -> Result<Sealed> {
        let (version, master_key) = self.newest(name)?;
        let wrap_nonce = <[u8; NONCE_LEN]>::generate();
        let wrapped_key = aes_encrypt(master_key, &wrap_nonce, data_key.as_slice(), &wrap_aad(name, version, context))?;
        Ok(Sealed {
            key_name: name.to_string(),
            key_version: version,
            wrap_nonce,
            wrapped_key,
            value_nonce,
            ciphertext,
        })
    }

    fn unwrap_data_key(&self, sealed: &Sealed, context: &[u8]) -> Result<Material> {
        let master_key = self.material(&sealed.key_name, sealed.key_version)?;
        let aad = wrap_aad(&sealed.key_name, sealed.key_version, context);
        let data_key = aes_decrypt(master_key, &sealed.wrap_nonce, &sealed.wrapped_key, &aad)?;
        if data_key.len() != KEY_LEN {
            // Authenticated but not a data key: only possible for bytes this crate did not make.
            return Err(Error::Decrypt);
        }
        let mut material = Material::default();
        material.copy_from_slice(&data_key);
        Ok(material)
    }
}

/// Names and versions only; the material never appears.
impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: BTreeMap<&str, Vec<u32>> =
            self.keys.iter().map(|(name, versions)| (name.as_str(), versions.keys().copied().collect())).collect();
        f.debug_struct("Keyring").field("default", &self.default).field("keys", &keys).finish()
    }
}

/// Fresh key material from the operating system's random number generator.
pub(crate) fn random_key() -> Material {
    let mut key = Material::default();
    *key = <[u8; KEY_LEN]>::generate();
    key
}

/// The associated data of a wrapped data key: domain, key name (length-prefixed), key version, then the
/// caller's context, which is last so it needs no length.
fn wrap_aad(name: &str, version: u32, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_DOMAIN.len() + 2 + name.len() + 4 + context.len());
    aad.extend_from_slice(WRAP_DOMAIN);
    push_name_version(&mut aad, name, version);
    aad.extend_from_slice(context);
    aad
}

fn check_aad(name: &str, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CHECK_DOMAIN.len() + 2 + name.len() + 4);
    aad.extend_from_slice(CHECK_DOMAIN);
    push_name_version(&mut aad, name, version);
    aad
}

fn push_name_version(out: &mut Vec<u8>, name: &str, version: u32) {
    // Key names are at most 256 bytes, so the length fits.
    out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
}

fn aes_encrypt(key: &Material, nonce: &[u8; NONCE_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new((&**key).into());
    // Encryption fails only past AES-GCM's length limits (about 64 GiB).
    cipher
        .encrypt(nonce.into(), Payload { msg: plaintext, aad })
        .map_err(|_| Error::Format("the value is too long to encrypt".to_string()))
}

fn aes_decrypt(key: &Material, nonce: &[u8; NONCE_LEN], ciphertext: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let cipher = Aes256Gcm::new((&**key).into());
    cipher.decrypt(nonce.into(), Payload { msg: ciphertext, aad }).map(Zeroizing::new).map_err(|_| Error::Decrypt)
}
