//! The wire contract (STYLE §2.8): JSON Schemas generated from the Rust types must equal the checked-in
//! files under `schemas/`, and the checked-in golden records must decode to the canonical instances.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger --test schemas`; the diff must show in review.

use std::path::{Path, PathBuf};

use ledger::domain::ident::{Bin, Iin};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::envelope::ENVELOPE_LAYOUT;
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandDigest, CommandId, EnvelopeBody, EventEnvelope,
    EventId, Offset, PartitionId, Payload, Position, StreamId, StreamVersion,
};
use uuid::Uuid;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Compares `actual` with the checked-in file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(relative: &str, actual: &[u8]) {
    let path = schemas_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden files sit in a folder"))
            .expect("create folder");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let expected_text = String::from_utf8_lossy(&expected);
        let actual_text = String::from_utf8_lossy(actual);
        let first_difference = expected_text
            .lines()
            .zip(actual_text.lines())
            .position(|(left, right)| left != right)
            .map_or_else(
                || "lengths differ".to_owned(),
                |line| format!("first difference at line {}", line + 1),
            );
        panic!(
            "{} differs from the generated output ({first_difference}).\n--- checked in\n{expected_text}\n--- generated\n{actual_text}\nIf the wire change is deliberate, bump the schema version (docs/schema-evolution.md) and run UPDATE_GOLDEN=1.",
            path.display()
        );
    }
}

fn pretty_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("serialise to JSON");
    text.push('\n');
    text.into_bytes()
}

/// The canonical envelope used by the golden records: the v1 record's content, which the v2 record
/// extends with a person and a command digest.
fn canonical_body() -> EnvelopeBody {
    let at = Timestamp::parse_rfc3339("2026-02-03T04:05:06Z").expect("valid instant");
    let bin = "900101300007".parse::<Bin>().expect("valid BIN");
    EnvelopeBody {
        event_id: EventId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
        stream: StreamId::new("period/C-1/2026-01").expect("valid stream"),
        stream_version: StreamVersion(1),
        recorded_at: at,
        occurred_at: at,
        jurisdiction: Jurisdiction::KZ,
        command_id: CommandId(Uuid::from_u128(2)),
        causation_id: Some(Uuid::from_u128(3)),
        correlation_id: Uuid::from_u128(4),
        actor: Actor::new(ActorId::Organisation(bin), ActorRole::Pharmacy),
        payload: Payload {
            event_type: "Example".into(),
            schema_version: 1,
            data: vec![1, 2, 3],
        },
        command_digest: None,
    }
}

/// The v2 canonical record: a person acted for the pharmacy, and the command bound its digest.
fn canonical_body_v2() -> EnvelopeBody {
    let mut body = canonical_body();
    body.actor.person = Some("900101300007".parse::<Iin>().expect("valid IIN"));
    body.command_digest = Some(CommandDigest::of(b"canonical command"));
    body
}

fn position_zero() -> Position {
    Position {
        partition: PartitionId(0),
        offset: Offset(0),
    }
}

#[test]
fn envelope_schema_matches_checked_in() {
    let schema = schemars::schema_for!(EnvelopeBody);
    check_golden("envelope.schema.json", &pretty_json(&schema));
}

#[test]
fn envelope_golden_record_decodes() {
    let body = canonical_body_v2();
    let (bytes, hash) = EventEnvelope::seal(&body, &ChainHash::GENESIS).expect("seal");
    assert_eq!(
        bytes[0], ENVELOPE_LAYOUT,
        "records are written in the current layout"
    );
    check_golden("golden/envelope/v2.bin", &bytes);
    check_golden("golden/envelope/v2.json", &pretty_json(&body));
    let stored =
        std::fs::read(schemas_dir().join("golden/envelope/v2.bin")).expect("golden record");
    let decoded =
        EventEnvelope::decode(position_zero(), &stored).expect("the checked-in record decodes");
    assert_eq!(decoded.body, body);
    assert_eq!(decoded.hash, hash);
    assert_eq!(
        EventEnvelope::verify_link(&ChainHash::GENESIS, &stored),
        Some(hash)
    );
    let json = std::fs::read(schemas_dir().join("golden/envelope/v2.json")).expect("golden JSON");
    let from_json: EnvelopeBody =
        serde_json::from_slice(&json).expect("the checked-in JSON decodes");
    assert_eq!(from_json, body);
}

/// The frozen v1 record (format byte 1, written before issue #13) still decodes, upcast to no person
/// and no digest, and its hash link still verifies over its stored bytes.
#[test]
fn envelope_v1_record_upcasts() {
    let stored = std::fs::read(schemas_dir().join("golden/envelope/v1.bin")).expect("v1 record");
    assert_eq!(stored[0], 1, "the v1 record keeps its layout byte");
    let decoded = EventEnvelope::decode(position_zero(), &stored).expect("the v1 record decodes");
    assert_eq!(decoded.body, canonical_body());
    assert_eq!(decoded.body.actor.person, None);
    assert_eq!(decoded.body.command_digest, None);
    assert_eq!(
        EventEnvelope::verify_link(&ChainHash::GENESIS, &stored),
        Some(decoded.hash)
    );
    // Re-sealing the upcast body writes the v2 layout, which is another record: history is never
    // rewritten, so the stored bytes are what the chain covers.
    let (resealed, _) = EventEnvelope::seal(&decoded.body, &ChainHash::GENESIS).expect("seal");
    assert_ne!(resealed, stored);
}

/// Every event struct's JSON Schema at its current version, and the frozen older versions, equal the
/// checked-in files under `schemas/events/`.
#[test]
fn event_schemas_match_checked_in() {
    use ledger::domain::event::Event;
    let mut all = Event::json_schemas();
    all.extend(ledger::domain::upcast::old_json_schemas());
    for (event_type, version, schema) in all {
        check_golden(
            &format!("events/{event_type}.v{version}.schema.json"),
            &pretty_json(&schema),
        );
    }
    check_golden(
        "event.schema.json",
        &pretty_json(&schemars::schema_for!(Event)),
    );
}

mod upcast {
    use ledger::domain::calendar::CalendarVersion;
    use ledger::domain::clock::{ClockRule, Deadline};
    use ledger::domain::event::Event;
    use ledger::domain::money::{Currency, Money};
    use ledger::domain::period::events::RegistryLine;
    use ledger::domain::prices::ProductKey;
    use ledger::domain::region::Region;
    use ledger::domain::signature::Signature;
    use ledger::domain::time::Timestamp;
    use ledger::domain::upcast::RegistrySubmittedV1;
    use ledger::domain::values::{
        ContractId, DispensingId, DocumentHash, DocumentNumber, DoseForm, FiscalReceipt, Icd10,
        InnName, MarkingCode, OrganisationName, PrescriptionRef, ReportingPeriod, TradeName,
        UnitOfMeasure,
    };
    use ledger::log::Payload;

    use super::{check_golden, pretty_json, schemas_dir};

    fn date(text: &str) -> chrono::NaiveDate {
        text.parse().expect("valid date")
    }

    fn line(line_no: u32, fund: i64, patient: i64) -> RegistryLine {
        let at = Timestamp::parse_rfc3339("2026-01-15T07:00:00Z").unwrap();
        let kzt = |minor| Money::new(minor, Currency::KZT);
        RegistryLine {
            line_no,
            dispensing_id: DispensingId::new(format!("D-{line_no}")).unwrap(),
            dispenser_name: OrganisationName::new("ТОО «Аптека»").unwrap(),
            dispenser_bin: "900101300007".parse().unwrap(),
            region: Region::new(ledger::domain::jurisdiction::Jurisdiction::KZ, "710000000")
                .unwrap(),
            icd10: Icd10::new("E11.9").unwrap(),
            patient_iin: "900101300007".parse().unwrap(),
            prescription: PrescriptionRef {
                number: DocumentNumber::new(format!("RX-{line_no}")).unwrap(),
                written_on: date("2026-01-10"),
            },
            product: ProductKey::Drug {
                inn: InnName::new("Метформин").unwrap(),
                dose_form: DoseForm::new("850 мг, таблетки").unwrap(),
            },
            trade_name: TradeName::new("Сиофор 850").unwrap(),
            unit: UnitOfMeasure::new("таблетка").unwrap(),
            limit_unit_price: "41.5".parse().unwrap(),
            fiscal_receipt: FiscalReceipt::new(
                "600400012345",
                &line_no.to_string(),
                at,
                kzt(fund + patient),
            )
            .unwrap(),
            marking_code: MarkingCode::new(format!("01046012345678902100000{line_no}")).unwrap(),
            programme: ledger::domain::region::Programme::Gobmp,
            fund_amount: kzt(fund),
            patient_amount: kzt(patient),
            total_amount: kzt(fund + patient),
        }
    }

    /// A registry as v1 recorded it: with its lines copied in.
    fn v1() -> RegistrySubmittedV1 {
        let lines = vec![line(1, 124_500, 0), line(2, 249_000, 31_050)];
        RegistrySubmittedV1 {
            contract_id: ContractId::new("KZ-001").unwrap(),
            period: ReportingPeriod::month(2026, 1).unwrap(),
            registry_no: DocumentNumber::new("R-KZ-001-2026-01").unwrap(),
            submitted_at: Timestamp::parse_rfc3339("2026-02-10T06:00:00Z").unwrap(),
            submission: 1,
            content_hash: DocumentHash::of(&lines),
            lines,
            total_fund: Money::new(373_500, Currency::KZT),
            total_patient: Money::new(31_050, Currency::KZT),
            total: Money::new(404_550, Currency::KZT),
            due: Deadline {
                rule: ClockRule::RegistrySubmission,
                calendar_version: CalendarVersion(1),
                started_on: date("2026-01-31"),
                due_strict: date("2026-02-25"),
                due: date("2026-02-25"),
            },
            late: false,
            signature: Signature {
                key_id: "EDS-900101300007-1".into(),
                signer: "900101300007".parse().unwrap(),
                signature_hex: "ab".repeat(64),
                document_hash: DocumentHash([7; 32]),
            },
        }
    }

    /// STYLE §2.8: a real v1 record (checked in, never edited) still decodes, upcast to v2: the lines
    /// become `line_count`, everything else is carried over unchanged.
    #[test]
    fn registry_submitted_v1_upcasts_to_v2() {
        let v1 = v1();
        check_golden(
            "golden/RegistrySubmitted/v1.bin",
            &ledger::codec::encode(&v1).unwrap(),
        );
        check_golden("golden/RegistrySubmitted/v1.json", &pretty_json(&v1));
        let stored = std::fs::read(schemas_dir().join("golden/RegistrySubmitted/v1.bin")).unwrap();
        let payload = Payload {
            event_type: "RegistrySubmitted".into(),
            schema_version: 1,
            data: stored,
        };
        let Event::RegistrySubmitted(v2) = Event::from_payload(&payload).expect("v1 upcasts")
        else {
            panic!("a RegistrySubmitted payload upcasts to RegistrySubmitted")
        };
        assert_eq!(v2.line_count, 2);
        assert_eq!(v2.content_hash, v1.content_hash);
        assert_eq!(
            (v2.total_fund, v2.total_patient, v2.total),
            (v1.total_fund, v1.total_patient, v1.total)
        );
        assert_eq!(
            (v2.submission, v2.late, v2.due),
            (v1.submission, v1.late, v1.due)
        );
        // The current version decodes directly, and re-encoding gives v2, never v1.
        let current = Event::RegistrySubmitted(v2.clone()).to_payload().unwrap();
        assert_eq!(current.schema_version, 2);
        assert_eq!(
            Event::from_payload(&current).unwrap(),
            Event::RegistrySubmitted(v2)
        );
    }
}
