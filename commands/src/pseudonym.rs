//! Keyed pseudonyms of patients for analysis (issue #15 §5, DESIGN §9): a patient's IIN (KZ) or PIN
//! (KG) becomes `P-` + 32 hex digits of HMAC-SHA256 under a secret key, the same patient always the
//! same pseudonym under one key, and nothing that leads back without the key. Person names of
//! patients are dropped. Exports, replays and audit packs use it (`--pseudonymize KEYFILE`), and the
//! read service for analysts is to reuse it; only the key's fingerprint is ever written down.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The shortest key accepted, in bytes (256 bits).
pub const KEY_BYTES_MIN: usize = 32;

/// The longest key file read, in bytes.
pub const KEY_BYTES_MAX: usize = 4096;

/// The JSON fields that name a patient by identifier: replaced by a pseudonym.
pub const PATIENT_ID_FIELDS: [&str; 2] = ["patient_iin", "patient_pin"];

/// The JSON fields that name a patient in words: dropped (none of today's events carries one; the
/// list is here so that a future event's field is dropped by adding its name).
pub const PATIENT_NAME_FIELDS: [&str; 1] = ["patient_name"];

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymKeyError {
    #[error("cannot read the pseudonymization key {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the pseudonymization key {path} holds {len} bytes; it needs {KEY_BYTES_MIN}–{KEY_BYTES_MAX} secret bytes (e.g. `head -c 32 /dev/urandom > {path}`)"
    )]
    Length { path: String, len: usize },
}

/// An HMAC-SHA256 pseudonymizer under one secret key.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pseudonymizer(key {})", self.fingerprint())
    }
}

impl Pseudonymizer {
    /// The key is the file's bytes exactly (32 to 4096 of them).
    pub fn from_key_file(path: &Path) -> Result<Pseudonymizer, PseudonymKeyError> {
        let shown = path.display().to_string();
        let key = std::fs::read(path).map_err(|source| PseudonymKeyError::Read {
            path: shown.clone(),
            source,
        })?;
        Pseudonymizer::from_key(key).map_err(|len| PseudonymKeyError::Length { path: shown, len })
    }

    /// A pseudonymizer over `key`; `Err` carries the length of a key too short or too long.
    pub fn from_key(key: Vec<u8>) -> Result<Pseudonymizer, usize> {
        if (KEY_BYTES_MIN..=KEY_BYTES_MAX).contains(&key.len()) {
            Ok(Pseudonymizer { key })
        } else {
            Err(key.len())
        }
    }

    /// Names the key without revealing it: the first 16 bytes of SHA-256 over a fixed label and the
    /// key, in hex. Two exports with one fingerprint were pseudonymized under the same key.
    pub fn fingerprint(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"ledger pseudonym key fingerprint\0");
        digest.update(&self.key);
        hex::encode(&digest.finalize()[..16])
    }

    /// The pseudonym of a patient identifier of `scheme` (`KZ-IIN`, `KG-PIN`): stable under one key,
    /// and the scheme is part of the input, so equal digits under two schemes do not collide.
    pub fn pseudonym(&self, scheme: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(scheme.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        format!("P-{}", hex::encode(&mac.finalize().into_bytes()[..16]))
    }

    /// Replaces every patient identifier in a decoded event (any depth) by its pseudonym and drops
    /// patient names.
    pub fn apply(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for name in PATIENT_NAME_FIELDS {
                    map.remove(name);
                }
                for (name, field) in map.iter_mut() {
                    match (name.as_str(), &*field) {
                        ("patient_iin", serde_json::Value::String(iin)) => {
                            *field = self.pseudonym("KZ-IIN", iin).into();
                        }
                        ("patient_pin", serde_json::Value::String(pin)) => {
                            *field = self.pseudonym("KG-PIN", pin).into();
                        }
                        _ => self.apply(field),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

/// The public form's hook (DESIGN §9): CloudEvents for analysts carry pseudonyms in `data`.
impl ledger::public::DataMap for Pseudonymizer {
    fn map(&self, _event_type: &str, data: &mut serde_json::Value) {
        self.apply(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Pseudonymizer {
        Pseudonymizer::from_key(vec![byte; 32]).unwrap()
    }

    #[test]
    fn one_patient_one_pseudonym_per_key() {
        let first = key(1).pseudonym("KZ-IIN", "850912495552");
        assert_eq!(first, key(1).pseudonym("KZ-IIN", "850912495552"));
        assert_ne!(first, key(2).pseudonym("KZ-IIN", "850912495552"));
        assert_ne!(first, key(1).pseudonym("KZ-IIN", "900101300007"));
        assert_ne!(first, key(1).pseudonym("KG-PIN", "850912495552"));
        assert!(first.starts_with("P-") && first.len() == 34, "{first}");
        assert!(!first.contains("850912495552"));
    }

    /// RFC 4231 test case 2 (key "Jefe"): the HMAC is the standard one, so anyone holding the key can
    /// recompute a pseudonym with any HMAC-SHA256 implementation.
    #[test]
    fn hmac_is_rfc4231() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn identifiers_are_replaced_at_any_depth_and_names_dropped() {
        let pseudonymizer = key(7);
        let mut value = serde_json::json!({
            "patient_iin": "850912495552",
            "patient_name": "Айгерим",
            "lines": [{"patient_iin": "850912495552", "fund_amount": 5}],
            "prescription": {"patient_pin": "21501199012345"}
        });
        pseudonymizer.apply(&mut value);
        let text = value.to_string();
        assert!(
            !text.contains("850912495552") && !text.contains("21501199012345"),
            "{text}"
        );
        assert!(value.get("patient_name").is_none());
        assert_eq!(value["patient_iin"], value["lines"][0]["patient_iin"]);
        assert_eq!(value["lines"][0]["fund_amount"], 5);
    }

    #[test]
    fn short_keys_are_refused_and_fingerprints_differ() {
        assert_eq!(Pseudonymizer::from_key(vec![0; 16]).unwrap_err(), 16);
        assert_ne!(key(1).fingerprint(), key(2).fingerprint());
        assert_eq!(key(1).fingerprint().len(), 32);
    }
}
