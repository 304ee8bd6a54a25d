//! [`Sealed`], an envelope-encrypted value, and its store-ready binary encoding.
//!
//! This module only moves bytes in and out of the format; it holds no keys and does no cryptography.
//!
//! Format version 1, all integers big-endian:
//!
//! ```text
//! u8   format version (1)
//! u16  key name length n (1..=256), then n bytes of key name (ASCII)
//! u32  key version
//! [12] nonce of the wrapped data key
//! u16  wrapped data key length (48: 32 bytes of key and a 16-byte tag)
//! [..] wrapped data key
//! [12] nonce of the value ciphertext
//! [..] value ciphertext with its 16-byte tag, to the end
//! ```

use crate::{Error, Result, is_valid_key_name};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// The AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// The length of a data key or a master key.
pub(crate) const KEY_LEN: usize = 32;
/// The length of a wrapped data key.
pub(crate) const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;

const FORMAT_VERSION: u8 = 1;

/// An envelope-encrypted value: the value's ciphertext, and the data key it was encrypted with, wrapped under a
/// named, versioned master key.
///
/// Made by [`Keyring::seal`](crate::Keyring::seal) and opened by [`Keyring::open`](crate::Keyring::open).
/// It holds no plaintext and no unwrapped key, so it may be stored, copied and shown freely.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    // Invariant (for values made by this crate or parsed by `from_bytes`): `key_name` is a valid key name,
    // `wrapped_key` is `WRAPPED_KEY_LEN` long and `ciphertext` at least `TAG_LEN` long.
    pub(crate) key_name: String,
    pub(crate) key_version: u32,
    pub(crate) wrap_nonce: [u8; NONCE_LEN],
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) value_nonce: [u8; NONCE_LEN],
    pub(crate) ciphertext: Vec<u8>,
}

impl Sealed {
    /// The master key name the data key is wrapped under (never the alias: the resolved name).
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The master key version the data key is wrapped under.
    pub fn key_version(&self) -> u32 {
        self.key_version
    }

    /// The binary encoding, for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        let name = self.key_name.as_bytes();
        let mut out = Vec::with_capacity(
            1 + 2 + name.len() + 4 + NONCE_LEN + 2 + self.wrapped_key.len() + NONCE_LEN + self.ciphertext.len(),
        );
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out.extend_from_slice(&self.wrap_nonce);
        out.extend_from_slice(&u16::try_from(self.wrapped_key.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out.extend_from_slice(&self.value_nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses [`Sealed::to_bytes`] output; anything else is a [`Error::Format`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sealed> {
        let mut reader = Reader { rest: bytes };
        let format_version = reader.u8()?;
        if format_version != FORMAT_VERSION {
            return Err(format_error(&format!("unsupported format version {format_version}")));
        }
        let name_len = usize::from(reader.u16()?);
        let key_name = std::str::from_utf8(reader.take(name_len)?)
            .ok()
            .filter(|name| is_valid_key_name(name))
            .ok_or_else(|| format_error("the key name is not valid"))?
            .to_string();
        let key_version = reader.u32()?;
        let wrap_nonce = reader.array()?;
        let wrapped_len = usize::from(reader.u16()?);
        if wrapped_len != WRAPPED_KEY_LEN {
            return Err(format_error(&format!("the wrapped key is {wrapped_len} bytes, expected {WRAPPED_KEY_LEN}")));
        }
        let wrapped_key = reader.take(wrapped_len)?.to_vec();
        let value_nonce = reader.array()?;
        if reader.rest.len() < TAG_LEN {
            return Err(format_error("the ciphertext is shorter than its tag"));
        }
        let ciphertext = reader.rest.to_vec();
        Ok(Sealed { key_name, key_version, wrap_nonce, wrapped_key, value_nonce, ciphertext })
    }

    /// Standard base64 of [`Sealed::to_bytes`]: what the API returns in place of a `SecureString` value when
    /// decryption is not requested. It is ciphertext only.
    pub fn to_opaque_string(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// Parses [`Sealed::to_opaque_string`] output.
    pub fn from_opaque_string(text: &str) -> Result<Sealed> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| format_error("the text is not valid base64"))?;
        Sealed::from_bytes(&bytes)
    }
}

/// Shows the key and the ciphertext length only, to keep logs short.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_name", &self.key_name)
            .field("key_version", &self.key_version)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

fn format_error(reason: &str) -> Error {
    Error::Format(format!("sealed value is malformed: {reason}"))
}

/// A cursor over the encoded bytes whose reads fail, rather than panic, at the end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(format_error("it is truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
}
