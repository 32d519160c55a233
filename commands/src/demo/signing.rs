//! Signatures for the demo: one ed25519 key per organisation (standing in for the national EDS,
//! S-01…S-04), derived from the seed, registered on `keys/<BIN>`, and a two-step signing that asks the
//! domain which document hash a command must be signed over.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use ledger::domain::ident::Bin;
use ledger::domain::keys::{self, KeyRegistry};
use ledger::domain::signature::{SignatureCheck, SignedBy};
use ledger::domain::time::Timestamp;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The organisations' secret keys, by BIN.
pub struct Signers {
    keys: BTreeMap<Bin, SigningKey>,
}

impl Signers {
    /// One key per BIN, derived from `seed` so the same demo signs the same way.
    pub fn generate(seed: u64, bins: impl IntoIterator<Item = Bin>) -> Signers {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5167);
        let mut keys = BTreeMap::new();
        for bin in bins {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            keys.entry(bin)
                .or_insert_with(|| SigningKey::from_bytes(&secret));
        }
        Signers { keys }
    }

    pub fn key_id(bin: Bin) -> String {
        format!("EDS-{bin}-1")
    }

    pub fn public_key_hex(&self, bin: Bin) -> String {
        keys::public_key_hex(self.secret(bin))
    }

    pub fn bins(&self) -> impl Iterator<Item = Bin> + '_ {
        self.keys.keys().copied()
    }

    fn secret(&self, bin: Bin) -> &SigningKey {
        self.keys
            .get(&bin)
            .unwrap_or_else(|| panic!("the demo holds a key for BIN {bin}"))
    }

    /// A signature by `bin` over `document_hash`.
    pub fn sign(&self, bin: Bin, document_hash: &[u8; 32]) -> SignedBy {
        SignedBy {
            key_id: Signers::key_id(bin),
            signer: bin,
            signature_hex: hex::encode(keys::sign(self.secret(bin), document_hash)),
        }
    }

    /// A well-formed signature over nothing in particular, used only to learn the document hash.
    pub fn placeholder(bin: Bin) -> SignedBy {
        SignedBy {
            key_id: Signers::key_id(bin),
            signer: bin,
            signature_hex: "00".repeat(64),
        }
    }
}

/// A signature check that accepts and remembers the document hash it was asked about: deciding a
/// command once with it tells the client what to sign.
#[derive(Default)]
pub struct CaptureHash(Mutex<Option<[u8; 32]>>);

impl CaptureHash {
    pub fn take(&self) -> Option<[u8; 32]> {
        self.0.lock().expect("capture lock").take()
    }
}

impl SignatureCheck for CaptureHash {
    fn check(
        &self,
        _: Bin,
        _: &str,
        document_hash: &[u8; 32],
        _: &[u8],
        _: Timestamp,
    ) -> Result<(), String> {
        *self.0.lock().expect("capture lock") = Some(*document_hash);
        Ok(())
    }
}

/// The key registry (a fold of `keys/*`) as the domain's signature check (S-01…S-04).
pub struct RegistryCheck<'a>(pub &'a KeyRegistry);

impl SignatureCheck for RegistryCheck<'_> {
    fn check(
        &self,
        signer: Bin,
        key_id: &str,
        document_hash: &[u8; 32],
        signature: &[u8],
        at: Timestamp,
    ) -> Result<(), String> {
        self.0.check(signer, key_id, document_hash, signature, at)
    }
}
