//! Key registration and signature checks, one test per rule, plus the bit-flip property.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;

const PHARMACY: &str = "100140000003";
const OTHER: &str = "200240000018";
const SIGNATORY: &str = "900101300007";

fn bin(text: &str) -> Bin {
    text.parse().unwrap()
}

fn instant(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn secret(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn register(key_id: &str, seed: u8) -> KeyCommand {
    KeyCommand::Register(RegisterSigningKey {
        key_id: KeyId::new(key_id).unwrap(),
        public_key: public_key_hex(&secret(seed)),
        valid_from: instant("2026-01-01T00:00:00Z"),
        valid_to: instant("2026-12-31T23:59:59Z"),
        signatory_iin: Some(SIGNATORY.parse().unwrap()),
    })
}

fn revoke(key_id: &str, at: &str) -> KeyCommand {
    KeyCommand::Revoke(RevokeSigningKey {
        key_id: KeyId::new(key_id).unwrap(),
        revoked_at: instant(at),
        reason: "token lost".into(),
    })
}

/// given: commands on one ring, folded into a registry.
fn given(owner: &str, commands: Vec<KeyCommand>) -> (KeyRing, KeyRegistry) {
    let mut ring = KeyRing::new(bin(owner));
    let mut registry = KeyRegistry::new();
    for command in commands {
        for event in decide(&ring, command).expect("given commands are accepted") {
            registry.apply(&event);
            ring = evolve(ring, &event);
        }
    }
    (ring, registry)
}

fn signed(seed: u8) -> ([u8; 32], [u8; SIGNATURE_BYTES]) {
    let hash = document_hash(b"registry R-104 canonical bytes");
    (hash, sign(&secret(seed), &hash))
}

fn rejection(result: Result<(), String>) -> String {
    result.expect_err("the check must refuse")
}

#[test]
fn s04_a_valid_signature_by_a_registered_key_passes() {
    let (_, registry) = given(PHARMACY, vec![register("k1", 7)]);
    let (hash, signature) = signed(7);
    let at = instant("2026-05-01T10:00:00Z");
    assert_eq!(
        registry.check(bin(PHARMACY), "k1", &hash, &signature, at),
        Ok(())
    );
}

#[test]
fn s01a_signature_outside_validity_is_rejected() {
    let (_, registry) = given(PHARMACY, vec![register("k1", 7)]);
    let (hash, signature) = signed(7);
    let early = registry.verify(
        bin(PHARMACY),
        "k1",
        &hash,
        &signature,
        instant("2025-12-31T23:59:59Z"),
    );
    assert!(matches!(
        early.unwrap_err().reason,
        Rejection::NotYetValid { .. }
    ));
    let late = registry.check(
        bin(PHARMACY),
        "k1",
        &hash,
        &signature,
        instant("2027-01-01T00:00:00Z"),
    );
    assert_eq!(
        rejection(late),
        "signature by BIN 100140000003 with key \"k1\" at 2027-01-01T00:00:00Z rejected: the key expired at 2026-12-31T23:59:59Z (S-01)"
    );
}

#[test]
fn s01b_signature_at_or_after_revocation_is_rejected_but_earlier_ones_stand() {
    let (_, registry) = given(
        PHARMACY,
        vec![register("k1", 7), revoke("k1", "2026-06-01T00:00:00Z")],
    );
    let (hash, signature) = signed(7);
    let before = registry.check(
        bin(PHARMACY),
        "k1",
        &hash,
        &signature,
        instant("2026-05-31T23:59:59Z"),
    );
    assert_eq!(before, Ok(()));
    let at = registry.verify(
        bin(PHARMACY),
        "k1",
        &hash,
        &signature,
        instant("2026-06-01T00:00:00Z"),
    );
    let rejected = at.unwrap_err();
    assert_eq!(rejected.rule, "S-01");
    assert!(matches!(rejected.reason, Rejection::Revoked { .. }));
}

#[test]
fn s03_key_of_another_bin_is_rejected() {
    // One registry over both rings, as the projection over keys/* holds it.
    let (_, mut registry) = given(OTHER, vec![register("k-other", 9)]);
    for event in decide(&KeyRing::new(bin(PHARMACY)), register("k1", 7)).unwrap() {
        registry.apply(&event);
    }
    let (hash, signature) = signed(9);
    let at = instant("2026-05-01T00:00:00Z");
    let rejected = registry
        .verify(bin(PHARMACY), "k-other", &hash, &signature, at)
        .unwrap_err();
    assert_eq!(rejected.rule, "S-03");
    assert_eq!(
        rejected.reason,
        Rejection::BinMismatch {
            key_bin: bin(OTHER)
        }
    );
    assert!(
        registry
            .verify(bin(OTHER), "k-other", &hash, &signature, at)
            .is_ok()
    );
}

#[test]
fn s04_unknown_key_wrong_signature_and_malformed_signature_are_rejected() {
    let (_, registry) = given(PHARMACY, vec![register("k1", 7)]);
    let at = instant("2026-05-01T00:00:00Z");
    let (hash, signature) = signed(7);
    let unknown = registry
        .verify(bin(PHARMACY), "nope", &hash, &signature, at)
        .unwrap_err();
    assert_eq!(
        (unknown.rule, unknown.reason),
        ("S-04", Rejection::UnknownKey)
    );
    let (_, foreign) = signed(8);
    let wrong = registry
        .verify(bin(PHARMACY), "k1", &hash, &foreign, at)
        .unwrap_err();
    assert_eq!(wrong.reason, Rejection::InvalidSignature);
    let short = registry
        .verify(bin(PHARMACY), "k1", &hash, &signature[..10], at)
        .unwrap_err();
    assert_eq!(short.reason, Rejection::MalformedSignature { length: 10 });
}

/// S-02: the refusal names the failed check in plain words.
#[test]
fn s02_refusal_names_the_failed_check() {
    let (_, registry) = given(PHARMACY, vec![register("k1", 7)]);
    let (hash, _) = signed(7);
    let message = rejection(registry.check(
        bin(PHARMACY),
        "k1",
        &hash,
        &[0u8; 64],
        instant("2026-05-01T00:00:00Z"),
    ));
    assert!(
        message.contains("the signature does not match the document hash (S-04)"),
        "{message}"
    );
}

/// the key must have been issued to the authorised signatory.
#[test]
fn a29_key_must_belong_to_the_authorised_signatory() {
    let (_, registry) = given(PHARMACY, vec![register("k1", 7)]);
    let (hash, signature) = signed(7);
    let at = instant("2026-05-01T00:00:00Z");
    let signatory: Iin = SIGNATORY.parse().unwrap();
    assert_eq!(
        registry.verify_signatory(bin(PHARMACY), signatory, "k1", &hash, &signature, at),
        Ok(())
    );
    let stranger: Iin = "900101300007".parse().unwrap();
    let (_, unnamed) = given(
        OTHER,
        vec![KeyCommand::Register(RegisterSigningKey {
            key_id: KeyId::new("k2").unwrap(),
            public_key: public_key_hex(&secret(3)),
            valid_from: instant("2026-01-01T00:00:00Z"),
            valid_to: instant("2026-12-31T00:00:00Z"),
            signatory_iin: None,
        })],
    );
    let signature = sign(&secret(3), &hash);
    let rejected = unnamed
        .verify_signatory(bin(OTHER), stranger, "k2", &hash, &signature, at)
        .unwrap_err();
    assert_eq!(rejected.rule, "A-29");
}

#[test]
fn registration_and_revocation_are_checked() {
    let (ring, _) = given(PHARMACY, vec![register("k1", 7)]);
    assert!(matches!(
        decide(&ring, register("k1", 8)),
        Err(KeyError::DuplicateKey { rule: "S-01", .. })
    ));
    let mut bad = register("k2", 7);
    if let KeyCommand::Register(command) = &mut bad {
        command.public_key = "zz".into();
    }
    assert!(matches!(
        decide(&ring, bad),
        Err(KeyError::MalformedPublicKey { rule: "S-04", .. })
    ));
    let mut empty = register("k3", 7);
    if let KeyCommand::Register(command) = &mut empty {
        command.valid_to = command.valid_from;
    }
    assert!(matches!(
        decide(&ring, empty),
        Err(KeyError::EmptyValidity { .. })
    ));
    assert!(matches!(
        decide(&ring, revoke("k9", "2026-02-01T00:00:00Z")),
        Err(KeyError::UnknownKey { .. })
    ));
    let (revoked, _) = given(
        PHARMACY,
        vec![register("k1", 7), revoke("k1", "2026-02-01T00:00:00Z")],
    );
    assert!(matches!(
        decide(&revoked, revoke("k1", "2026-03-01T00:00:00Z")),
        Err(KeyError::AlreadyRevoked { .. })
    ));
    assert!(KeyId::new("bad id").is_err());
    assert_eq!(stream_id(bin(PHARMACY)), "keys/100140000003");
}

#[test]
fn key_events_round_trip_through_the_codec() {
    let ring = KeyRing::new(bin(PHARMACY));
    for event in decide(&ring, register("k1", 7)).unwrap() {
        let bytes = crate::codec::encode(&event).unwrap();
        assert_eq!(crate::codec::decode::<KeyEvent>(&bytes).unwrap(), event);
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<KeyEvent>(&json).unwrap(), event);
    }
}

#[test]
fn key_event_schema_generates() {
    let text = serde_json::to_string(&schemars::schema_for!(KeyEvent)).unwrap();
    assert!(text.contains("SigningKeyRevoked"));
}

proptest! {
    /// S-04: flipping any single bit of the document hash or of the signature is rejected.
    #[test]
    fn s04_any_flipped_bit_of_hash_or_signature_is_rejected(bit in 0usize..(32 + 64) * 8, seed in 1u8..=255) {
        let (_, registry) = given(PHARMACY, vec![register("k1", seed)]);
        let (mut hash, mut signature) = signed(seed);
        let at = instant("2026-05-01T00:00:00Z");
        prop_assert_eq!(registry.check(bin(PHARMACY), "k1", &hash, &signature, at), Ok(()));
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        if byte < 32 {
            hash[byte] ^= mask;
        } else {
            signature[byte - 32] ^= mask;
        }
        prop_assert!(registry.check(bin(PHARMACY), "k1", &hash, &signature, at).is_err());
    }
}
