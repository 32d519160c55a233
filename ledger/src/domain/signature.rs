//! Document signatures (S-01…S-03, A-29) as the domain sees them.
//!
//! A signed document (contract, registry, act, notice) carries a [`Signature`] over its
//! [`DocumentHash`]. The domain checks that the hash is the document's own and that the signer is
//! the organisation the law expects; whether the key was valid and unrevoked at signing time is the
//! key registry's answer through the [`SignatureCheck`] hook (implemented on the `domain2` branch).

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::ident::Bin;
use super::time::Timestamp;
use super::values::DocumentHash;

/// The longest signature accepted, in bytes (ed25519 needs 64).
pub const SIGNATURE_BYTES_MAX: usize = 1024;

/// A signature block as carried by a signed event (source term: «ЭЦП», S003).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signature {
    /// The registered key's id (`keys/<BIN>` stream).
    pub key_id: String,
    /// The organisation that signed (S-03: must be the organisation the document belongs to).
    pub signer: Bin,
    /// The signature bytes, lower-case hex.
    pub signature_hex: String,
    /// The hash the signature is over; must equal the document's own hash.
    pub document_hash: DocumentHash,
}

/// Implemented by the key registry: is `signature` a valid signature of `signer` with `key_id` over
/// `document_hash`, by a key valid and unrevoked at `at` (S-01, S-03)? `Err` carries the reason (S-02).
pub trait SignatureCheck {
    fn check(
        &self,
        signer: Bin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<(), String>;
}

/// A signature as a command presents it: the domain supplies the document hash it must be over.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SignedBy {
    pub key_id: String,
    pub signer: Bin,
    pub signature_hex: String,
}

/// Implements S-01…S-03 from the domain's side: the signer is the organisation the law expects (S-03)
/// and the key registry accepts the signature over the document's own hash at `at` (S-01). A failure
/// is refused with its reason (S-02). Returns the signature block the event carries.
pub fn verify(
    check: &dyn SignatureCheck,
    document: &str,
    signed: &SignedBy,
    expected_signer: Bin,
    document_hash: DocumentHash,
    at: Timestamp,
) -> Result<Signature, DomainError> {
    let reject = |rule: &'static str, reason: String| DomainError::SignatureRejected {
        rule,
        document: document.to_owned(),
        signer: signed.signer.to_string(),
        reason,
    };
    if signed.signer != expected_signer {
        return Err(reject(
            "S-03",
            format!("the document must be signed by BIN {expected_signer}"),
        ));
    }
    let bytes = hex::decode(&signed.signature_hex)
        .ok()
        .filter(|bytes| !bytes.is_empty() && bytes.len() <= SIGNATURE_BYTES_MAX)
        .ok_or_else(|| {
            reject(
                "S-02",
                "the signature is not 1–1024 bytes of hex".to_owned(),
            )
        })?;
    check
        .check(signed.signer, &signed.key_id, &document_hash.0, &bytes, at)
        .map_err(|reason| reject("S-02", reason))?;
    Ok(Signature {
        key_id: signed.key_id.clone(),
        signer: signed.signer,
        signature_hex: signed.signature_hex.clone(),
        document_hash,
    })
}
