//! Refusals of key commands ([`KeyError`]) and of signatures ([`SignatureRejected`]).

use std::fmt;

use super::KeyId;
use crate::domain::ident::{Bin, Iin};
use crate::domain::time::Timestamp;

/// Why a key registration or revocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "key id \"{value}\" must be 1 to 64 characters of letters, digits, '.', '_', ':' or '-' ({rule})"
    )]
    InvalidKeyId { rule: &'static str, value: String },
    #[error(
        "key \"{key_id}\" of BIN {bin}: public key is not a valid ed25519 key: {reason} ({rule})"
    )]
    MalformedPublicKey {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
        reason: String,
    },
    #[error(
        "key \"{key_id}\" of BIN {bin}: validity {valid_from} .. {valid_to} is empty; valid_to must be after valid_from ({rule})"
    )]
    EmptyValidity {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
        valid_from: Timestamp,
        valid_to: Timestamp,
    },
    #[error(
        "key \"{key_id}\" is already registered to BIN {bin}; register a new key id instead of reusing one ({rule})"
    )]
    DuplicateKey {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
    },
    #[error("key \"{key_id}\" is not registered to BIN {bin} ({rule})")]
    UnknownKey {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
    },
    #[error("key \"{key_id}\" of BIN {bin} was already revoked at {revoked_at} ({rule})")]
    AlreadyRevoked {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
        revoked_at: Timestamp,
    },
    #[error("revocation of key \"{key_id}\" of BIN {bin} must give a reason ({rule})")]
    MissingReason {
        rule: &'static str,
        bin: Bin,
        key_id: KeyId,
    },
}

impl KeyError {
    /// The ID of the rule that refused the input (RULES.md).
    pub fn rule(&self) -> &'static str {
        match self {
            KeyError::InvalidKeyId { rule, .. } => rule,
            KeyError::MalformedPublicKey { rule, .. } => rule,
            KeyError::EmptyValidity { rule, .. } => rule,
            KeyError::DuplicateKey { rule, .. } => rule,
            KeyError::UnknownKey { rule, .. } => rule,
            KeyError::AlreadyRevoked { rule, .. } => rule,
            KeyError::MissingReason { rule, .. } => rule,
        }
    }
}

/// Implements S-02: a signature that fails a check is refused, naming the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signature by BIN {signer} with key \"{key_id}\" at {at} rejected: {reason} ({rule})")]
pub struct SignatureRejected {
    /// The rule of the failed check (S-01, S-03, S-04 or A-29).
    pub rule: &'static str,
    pub signer: Bin,
    pub key_id: String,
    pub at: Timestamp,
    pub reason: Rejection,
}

/// Which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// S-04: no such key is registered anywhere (the certification centre does not know it).
    UnknownKey,
    /// S-03: the key belongs to another organisation.
    BinMismatch { key_bin: Bin },
    /// S-01 a: signed before the key became valid.
    NotYetValid { valid_from: Timestamp },
    /// S-01 a: signed after the key expired.
    Expired { valid_to: Timestamp },
    /// S-01 b: signed at or after the key's revocation.
    Revoked {
        revoked_at: Timestamp,
        reason: String,
    },
    /// the key was not issued to the authorised signatory.
    SignatoryMismatch {
        expected: Iin,
        registered: Option<Iin>,
    },
    /// S-04: the signature bytes are not an ed25519 signature.
    MalformedSignature { length: usize },
    /// S-04: the signature does not verify against the document hash.
    InvalidSignature,
}

impl Rejection {
    /// The rule whose check failed.
    pub fn rule(&self) -> &'static str {
        match self {
            Rejection::UnknownKey | Rejection::MalformedSignature { .. } => "S-04",
            Rejection::InvalidSignature => "S-04",
            Rejection::BinMismatch { .. } => "S-03",
            Rejection::NotYetValid { .. } | Rejection::Expired { .. } => "S-01",
            Rejection::Revoked { .. } => "S-01",
            Rejection::SignatoryMismatch { .. } => "A-29",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::UnknownKey => f.write_str("no such key is registered"),
            Rejection::BinMismatch { key_bin } => {
                write!(
                    f,
                    "the key is registered to BIN {key_bin}, not to the signer"
                )
            }
            Rejection::NotYetValid { valid_from } => {
                write!(f, "the key is not valid until {valid_from}")
            }
            Rejection::Expired { valid_to } => write!(f, "the key expired at {valid_to}"),
            Rejection::Revoked { revoked_at, reason } => {
                write!(f, "the key was revoked at {revoked_at} ({reason})")
            }
            Rejection::SignatoryMismatch {
                expected,
                registered,
            } => match registered {
                Some(registered) => write!(
                    f,
                    "the key was issued to IIN {registered}, not to the authorised signatory {expected}"
                ),
                None => write!(
                    f,
                    "the key names no signatory, so it cannot prove authorised signatory {expected}"
                ),
            },
            Rejection::MalformedSignature { length } => {
                write!(
                    f,
                    "the signature is {length} bytes, not a 64-byte ed25519 signature"
                )
            }
            Rejection::InvalidSignature => {
                f.write_str("the signature does not match the document hash")
            }
        }
    }
}
