//! The key ring of one organisation (`keys/<BIN>` aggregate) and the registry of all rings that checks
//! signatures.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, VerifyingKey};

use super::error::{KeyError, Rejection, SignatureRejected};
use super::{KeyEvent, KeyId, SIGNATURE_BYTES, SigningKeyRegistered, SigningKeyRevoked};
use crate::domain::ident::{Bin, Iin};
use crate::domain::time::Timestamp;

/// A registered key as the ring holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    pub public_key: VerifyingKey,
    pub valid_from: Timestamp,
    pub valid_to: Timestamp,
    pub signatory_iin: Option<Iin>,
    /// The revocation instant and reason, if revoked.
    pub revoked: Option<(Timestamp, String)>,
}

/// The keys of one organisation: the state of stream `keys/<BIN>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    bin: Bin,
    keys: BTreeMap<KeyId, RegisteredKey>,
}

/// Register a new key to the ring's organisation.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RegisterSigningKey {
    pub key_id: KeyId,
    /// 64 hex digits of the ed25519 public key.
    pub public_key: String,
    pub valid_from: Timestamp,
    pub valid_to: Timestamp,
    pub signatory_iin: Option<Iin>,
}

/// Revoke a key from `revoked_at` on.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RevokeSigningKey {
    pub key_id: KeyId,
    pub revoked_at: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCommand {
    Register(RegisterSigningKey),
    Revoke(RevokeSigningKey),
}

impl KeyRing {
    /// The empty ring of an organisation, before its first event.
    pub fn new(bin: Bin) -> KeyRing {
        KeyRing {
            bin,
            keys: BTreeMap::new(),
        }
    }

    pub fn bin(&self) -> Bin {
        self.bin
    }

    pub fn key(&self, key_id: &str) -> Option<&RegisteredKey> {
        self.keys.get(key_id)
    }
}

/// Decides a key command. A refusal appends nothing.
pub fn decide(ring: &KeyRing, command: KeyCommand) -> Result<Vec<KeyEvent>, KeyError> {
    let event = match command {
        KeyCommand::Register(register) => decide_register(ring, register)?,
        KeyCommand::Revoke(revoke) => decide_revoke(ring, revoke)?,
    };
    Ok(vec![event])
}

/// Implements S-01 (a certificate has a validity period) and S-04 (the key must be a usable ed25519
/// key) at registration.
fn decide_register(ring: &KeyRing, register: RegisterSigningKey) -> Result<KeyEvent, KeyError> {
    let bin = ring.bin;
    if ring.keys.contains_key(&register.key_id) {
        return Err(KeyError::DuplicateKey {
            rule: "S-01",
            bin,
            key_id: register.key_id,
        });
    }
    let public_key =
        parse_public_key(&register.public_key).map_err(|reason| KeyError::MalformedPublicKey {
            rule: "S-04",
            bin,
            key_id: register.key_id.clone(),
            reason,
        })?;
    if register.valid_to <= register.valid_from {
        return Err(KeyError::EmptyValidity {
            rule: "S-01",
            bin,
            key_id: register.key_id,
            valid_from: register.valid_from,
            valid_to: register.valid_to,
        });
    }
    Ok(KeyEvent::SigningKeyRegistered(SigningKeyRegistered {
        bin,
        key_id: register.key_id,
        public_key: hex::encode(public_key.to_bytes()),
        valid_from: register.valid_from,
        valid_to: register.valid_to,
        signatory_iin: register.signatory_iin,
    }))
}

/// Implements S-01 b (the revocation list): a key is revoked once, with a reason.
fn decide_revoke(ring: &KeyRing, revoke: RevokeSigningKey) -> Result<KeyEvent, KeyError> {
    let bin = ring.bin;
    let Some(key) = ring.keys.get(&revoke.key_id) else {
        return Err(KeyError::UnknownKey {
            rule: "S-01",
            bin,
            key_id: revoke.key_id,
        });
    };
    if let Some((revoked_at, _)) = &key.revoked {
        return Err(KeyError::AlreadyRevoked {
            rule: "S-01",
            bin,
            key_id: revoke.key_id,
            revoked_at: *revoked_at,
        });
    }
    if revoke.reason.trim().is_empty() {
        return Err(KeyError::MissingReason {
            rule: "S-01",
            bin,
            key_id: revoke.key_id,
        });
    }
    Ok(KeyEvent::SigningKeyRevoked(SigningKeyRevoked {
        bin,
        key_id: revoke.key_id,
        revoked_at: revoke.revoked_at,
        reason: revoke.reason,
    }))
}

/// Rejects anything but 64 hex digits of a valid, non-weak ed25519 point.
fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|error| format!("\"{text}\" is not 64 hex digits: {error}"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|error| error.to_string())?;
    if key.is_weak() {
        return Err("the key is a weak (small-order) point".to_owned());
    }
    Ok(key)
}

/// Folds one event into the ring. Events are facts: evolve never refuses, it only asserts.
pub fn evolve(mut ring: KeyRing, event: &KeyEvent) -> KeyRing {
    assert_eq!(event.bin(), ring.bin, "a key event belongs to its own ring");
    match event {
        KeyEvent::SigningKeyRegistered(registered) => {
            let public_key = parse_public_key(&registered.public_key)
                .expect("a registered key was validated by decide");
            let key = RegisteredKey {
                public_key,
                valid_from: registered.valid_from,
                valid_to: registered.valid_to,
                signatory_iin: registered.signatory_iin,
                revoked: None,
            };
            let previous = ring.keys.insert(registered.key_id.clone(), key);
            assert!(previous.is_none(), "a key id is registered once per ring");
        }
        KeyEvent::SigningKeyRevoked(revoked) => {
            let key = ring
                .keys
                .get_mut(&revoked.key_id)
                .expect("a revoked key was registered first");
            assert!(key.revoked.is_none(), "a key is revoked once");
            key.revoked = Some((revoked.revoked_at, revoked.reason.clone()));
        }
    }
    ring
}

/// Every organisation's key ring: what signature checks consult (a projection over `keys/*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRegistry {
    rings: BTreeMap<Bin, KeyRing>,
}

impl KeyRegistry {
    pub fn new() -> KeyRegistry {
        KeyRegistry::default()
    }

    /// Folds an event of any `keys/<BIN>` stream.
    pub fn apply(&mut self, event: &KeyEvent) {
        let bin = event.bin();
        let ring = self.rings.remove(&bin).unwrap_or_else(|| KeyRing::new(bin));
        self.rings.insert(bin, evolve(ring, event));
    }

    pub fn ring(&self, bin: Bin) -> Option<&KeyRing> {
        self.rings.get(&bin)
    }

    /// Implements S-01, S-02, S-03 and S-04: the check a document signature must pass, in the shape
    /// the domain engine's signature-check trait uses; the error is the [`SignatureRejected`] message.
    pub fn check(
        &self,
        signer: Bin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<(), String> {
        self.verify(signer, key_id, document_hash, signature, at)
            .map(|_| ())
            .map_err(|rejected| rejected.to_string())
    }

    /// Typed form of [`KeyRegistry::check`]. Checks, in order: the key exists (S-04) and belongs to the
    /// signer's BIN (S-03), was valid at `at` (S-01 a), was not revoked at `at` (S-01 b), and the
    /// signature verifies against the hash (S-04). The first failing check is reported.
    pub fn verify(
        &self,
        signer: Bin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<&RegisteredKey, SignatureRejected> {
        let reject = |reason: Rejection| SignatureRejected {
            rule: reason.rule(),
            signer,
            key_id: key_id.to_owned(),
            at,
            reason,
        };
        let key = self.find_key(signer, key_id).map_err(reject)?;
        check_key_at(key, at).map_err(reject)?;
        verify_signature(key, document_hash, signature).map_err(reject)?;
        Ok(key)
    }

    /// A-29 (3): as [`KeyRegistry::verify`], and the key was issued to the authorised signatory (for a
    /// consortium, its official representative, S001 §14).
    pub fn verify_signatory(
        &self,
        signer: Bin,
        signatory: Iin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<(), SignatureRejected> {
        let key = self.verify(signer, key_id, document_hash, signature, at)?;
        if key.signatory_iin == Some(signatory) {
            return Ok(());
        }
        let reason = Rejection::SignatoryMismatch {
            expected: signatory,
            registered: key.signatory_iin,
        };
        Err(SignatureRejected {
            rule: reason.rule(),
            signer,
            key_id: key_id.to_owned(),
            at,
            reason,
        })
    }

    /// S-03: a key found only under another BIN is a BIN mismatch, not an unknown key.
    fn find_key(&self, signer: Bin, key_id: &str) -> Result<&RegisteredKey, Rejection> {
        if let Some(key) = self.rings.get(&signer).and_then(|ring| ring.key(key_id)) {
            return Ok(key);
        }
        let owner = self
            .rings
            .values()
            .find(|ring| ring.key(key_id).is_some())
            .map(KeyRing::bin);
        match owner {
            Some(key_bin) => Err(Rejection::BinMismatch { key_bin }),
            None => Err(Rejection::UnknownKey),
        }
    }
}

/// S-01 a and b, judged at the signing instant.
fn check_key_at(key: &RegisteredKey, at: Timestamp) -> Result<(), Rejection> {
    if at < key.valid_from {
        return Err(Rejection::NotYetValid {
            valid_from: key.valid_from,
        });
    }
    if at > key.valid_to {
        return Err(Rejection::Expired {
            valid_to: key.valid_to,
        });
    }
    match &key.revoked {
        Some((revoked_at, reason)) if *revoked_at <= at => Err(Rejection::Revoked {
            revoked_at: *revoked_at,
            reason: reason.clone(),
        }),
        _ => Ok(()),
    }
}

/// S-04: the cryptographic check (strict ed25519 verification, which refuses malleable signatures).
fn verify_signature(
    key: &RegisteredKey,
    document_hash: &[u8; 32],
    signature: &[u8],
) -> Result<(), Rejection> {
    if signature.len() != SIGNATURE_BYTES {
        return Err(Rejection::MalformedSignature {
            length: signature.len(),
        });
    }
    let signature =
        Signature::from_slice(signature).map_err(|_| Rejection::MalformedSignature {
            length: SIGNATURE_BYTES,
        })?;
    key.public_key
        .verify_strict(document_hash, &signature)
        .map_err(|_| Rejection::InvalidSignature)
}

/// Implements S-01…S-04 as the engine's signature check: the domain asks, the key registry answers.
impl crate::domain::signature::SignatureCheck for KeyRegistry {
    fn check(
        &self,
        signer: Bin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<(), String> {
        KeyRegistry::check(self, signer, key_id, document_hash, signature, at)
    }
}
