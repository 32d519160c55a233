//! Signing keys and document signatures (RULES S-01…S-06, A-29).
//!
//! An ed25519 key registered to an organisation's BIN stands in for the national EDS certificate
//! (source term: «ЭЦП / ЭЦҚ тіркеу куәлігі»). Registration and revocation are events on the stream
//! `keys/<BIN>` ([`KeyRing`]); every signed document is checked against the key registered for its
//! signer at signing time ([`KeyRegistry::verify`]): within validity (S-01 a), not revoked (S-01 b),
//! the key's BIN is the organisation's (S-03), optionally the authorised signatory's IIN, and
//! the signature itself (S-04). A failed check is refused with the check named (S-02).
//!
//! What a real NCA integration replaces is described in `docs/signatures.md`.

mod error;
mod registry;
#[cfg(test)]
mod tests;

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::{KeyError, Rejection, SignatureRejected};
pub use registry::{
    KeyCommand, KeyRegistry, KeyRing, RegisterSigningKey, RegisteredKey, RevokeSigningKey, decide,
    evolve,
};

use super::ident::{Bin, Iin};
use super::time::Timestamp;

/// The longest key id accepted.
pub const KEY_ID_BYTES_MAX: usize = 64;

/// The length of an ed25519 signature in bytes.
pub const SIGNATURE_BYTES: usize = 64;

/// The identifier of a signing key (stands in for a certificate serial number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
pub struct KeyId(String);

/// Decoding validates like [`KeyId::new`]: a stored id is never trusted blindly.
impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        KeyId::new(&text).map_err(serde::de::Error::custom)
    }
}

impl KeyId {
    /// 1…64 characters of `A–Z a–z 0–9 . _ : -`, so that ids are safe in paths, logs and CSV.
    pub fn new(value: &str) -> Result<KeyId, KeyError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if value.is_empty() || value.len() > KEY_ID_BYTES_MAX || !value.chars().all(allowed) {
            return Err(KeyError::InvalidKeyId {
                rule: "S-01",
                value: value.to_owned(),
            });
        }
        Ok(KeyId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets a ring look a key up by the plain id a signature block carries.
impl std::borrow::Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key registered to an organisation (stands in for the issue of an EDS certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SigningKeyRegistered {
    pub bin: Bin,
    pub key_id: KeyId,
    /// The ed25519 public key, 64 lower-case hex digits.
    pub public_key: String,
    /// First instant at which a signature by this key is valid (inclusive).
    pub valid_from: Timestamp,
    /// Last instant at which a signature by this key is valid (inclusive).
    pub valid_to: Timestamp,
    /// The authorised person the key was issued to, when known.
    pub signatory_iin: Option<Iin>,
}

/// A key revoked (stands in for the certificate's entry on the revocation list). Signatures made
/// before `revoked_at` stay valid (S-01 b is judged at signing time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SigningKeyRevoked {
    pub bin: Bin,
    pub key_id: KeyId,
    pub revoked_at: Timestamp,
    pub reason: String,
}

/// Every event of a `keys/<BIN>` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum KeyEvent {
    SigningKeyRegistered(SigningKeyRegistered),
    SigningKeyRevoked(SigningKeyRevoked),
}

impl KeyEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            KeyEvent::SigningKeyRegistered(_) => "SigningKeyRegistered",
            KeyEvent::SigningKeyRevoked(_) => "SigningKeyRevoked",
        }
    }

    pub fn bin(&self) -> Bin {
        match self {
            KeyEvent::SigningKeyRegistered(registered) => registered.bin,
            KeyEvent::SigningKeyRevoked(revoked) => revoked.bin,
        }
    }
}

/// The stream of an organisation's keys, e.g. `keys/100140000009` (DESIGN §1).
pub fn stream_id(bin: Bin) -> String {
    format!("keys/{bin}")
}

/// The SHA-256 of a document's canonical bytes: what is signed and verified.
pub fn document_hash(canonical_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical_bytes).into()
}

/// Signs a document hash (for tests and the demo; a real signer holds the key in a token or HSM).
pub fn sign(secret_key: &SigningKey, document_hash: &[u8; 32]) -> [u8; SIGNATURE_BYTES] {
    secret_key.sign(document_hash).to_bytes()
}

/// The hex public key of a secret key, as [`SigningKeyRegistered::public_key`] carries it.
pub fn public_key_hex(secret_key: &SigningKey) -> String {
    hex::encode(secret_key.verifying_key().to_bytes())
}
