//! End to end with the real `ledger` binary (issue #8): the demo on a small seed, history and export
//! for analysts and regulators, `audit verify` passing, then two kinds of tampering it must catch and
//! name: a forged document signature with a perfectly valid hash chain, and a flipped byte in a segment.
//!
//! Lives in `commands/tests/` because Cargo gives only a package's own tests its binaries.

mod common;

use std::path::Path;
use std::process::Output;

use common::ledger;

use ledger::domain::event::Event;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{AppendRequest, CommandId, EventLog, NewEvent, StreamId, StreamVersion};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run_demo(data_dir: &Path, summary: &Path) {
    let output = ledger(
        data_dir,
        &[
            "demo",
            "--dispensings",
            "300",
            "--kg-dispensings",
            "600",
            "--no-sync",
            "--seed",
            "7",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    let contracts = summary["contracts"].as_array().unwrap();
    assert_eq!(contracts.len(), 9, "8 networks and one consortium");
    let lines: u64 = contracts
        .iter()
        .map(|contract| contract["periods"][0]["lines"].as_u64().unwrap())
        .sum();
    assert_eq!(
        lines,
        300 - 1,
        "every dispensing is a registry line but the one reversed after the rejection"
    );
    assert!(
        contracts
            .iter()
            .all(|contract| contract["periods"][0]["registry"] == "approved")
    );
    assert_eq!(
        summary["clocks"]["REGISTRY_SUBMISSION"]["met_late"], 2,
        "two registries were late (D-02)"
    );
    assert_eq!(contracts.last().unwrap()["status"], "terminated");
    check_exports(&summary);
    check_kg(data_dir, &summary["kg"]);
}

/// The demo's log, opened beside no running writer.
fn open_log(data_dir: &Path) -> FileLog {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    FileLog::open(data_dir, options).unwrap()
}

/// Every event of the `contract/KG-…` and `period/KG-…` streams and of the Reference Book, decoded
/// from the log.
fn kg_events(data_dir: &Path) -> Vec<(String, Event)> {
    use futures::StreamExt;
    use ledger::log::{Offset, PartitionId, read_partition};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = open_log(data_dir);
        let mut events = Vec::new();
        for partition in 0..log.partitions() {
            let mut records = read_partition(&log, PartitionId(partition), Offset(0));
            while let Some(envelope) = records.next().await {
                let body = envelope.unwrap().body;
                let stream = body.stream.to_string();
                let kg = stream.starts_with("contract/KG-") || stream.starts_with("period/KG-");
                if kg || stream == "reference/kg-reference-book" {
                    events.push((stream, Event::from_payload(&body.payload).unwrap()));
                }
            }
        }
        events
    })
}

/// The KG part (C-07…C-09, D-10, E-10, A-22, A-23, M-10): the counts the summary prints agree with
/// the events on the log, and the log holds what the law requires.
fn check_kg(data_dir: &Path, kg: &serde_json::Value) {
    let events = kg_events(data_dir);
    let count = |wanted: &str| {
        events
            .iter()
            .filter(|(_, event)| event.event_type() == wanted)
            .count() as u64
    };
    let concluded = count("KgContractConcluded");
    let refused = count("ContractRefused");
    assert_eq!((concluded, refused), (3, 1), "of 4 KG applications");
    assert_eq!(kg["applications"], count("KgContractApplicationReceived"));
    assert_eq!(kg["concluded"], concluded);
    assert_eq!(kg["refused"], refused);
    assert_eq!(kg["objections"], count("ContractObjectionFiled"));
    assert_eq!(kg["reference_book"]["version"], 1);
    assert_eq!(count("ReferenceBookPublished"), 1);
    // D-10, A-23: the refusal was sent by its deadline, with reasons, and never after a conclusion.
    let (refused_stream, refusal) = events
        .iter()
        .find_map(|(stream, event)| match event {
            Event::ContractRefused(refusal) => Some((stream, refusal)),
            _ => None,
        })
        .unwrap();
    let due = events
        .iter()
        .find_map(|(stream, event)| match event {
            Event::KgContractApplicationReceived(received) if stream == refused_stream => {
                Some(received.refusal.due)
            }
            _ => None,
        })
        .unwrap();
    let refused_on = ledger::domain::calendar::local_date(
        ledger::domain::jurisdiction::Jurisdiction::KG,
        refusal.refused_at,
    );
    assert!(refused_on <= due, "refused {refused_on}, due {due}");
    assert!(refusal.reasons[0].detail.contains("E-10"));
    assert!(
        !events.iter().any(|(stream, event)| stream == refused_stream
            && matches!(event, Event::KgContractConcluded(_)))
    );
    check_kg_dispensings(&events, kg);
    // E-10: every conclusion rests on a clean tax check of its own day.
    for (_, event) in &events {
        if let Event::KgContractConcluded(concluded) = event {
            assert!(!concluded.tax_check.has_debts);
            assert_eq!(concluded.tax_check.checked_on, concluded.term.starts_on);
        }
    }
}

/// The projectors ran: Appendix 1 and 2, CSV and HTML, for each of the 9 contracts, from the views,
/// agreeing with what the writer decided.
fn check_exports(summary: &serde_json::Value) {
    let contracts = summary["contracts"].as_array().unwrap();
    let exports = summary["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 9 * 4);
    let registry = exports
        .iter()
        .map(|path| path.as_str().unwrap())
        .find(|path| path.ends_with("KZ-001-2026-01-appendix1.csv"))
        .unwrap();
    let csv = std::fs::read_to_string(registry).unwrap();
    let first = &contracts[0]["periods"][0];
    assert_eq!(
        csv.lines().count() as u64,
        first["lines"].as_u64().unwrap() + 1,
        "one line per registry line plus the header"
    );
    let fund_minor: i64 = csv
        .lines()
        .skip(1)
        .map(|line| {
            line.rsplit(',')
                .nth(2)
                .unwrap()
                .replace('.', "")
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        fund_minor,
        first["fund"]["minor"].as_i64().unwrap(),
        "Σ col 15 of the exported registry = the writer's total"
    );
}

fn check_history_and_export(data_dir: &Path, export_dir: &Path) {
    let history = stdout(&ledger(data_dir, &["history", "--contract", "KZ-001"]));
    for fact in [
        "ContractApplicationReceived",
        "ContractConcluded",
        "DispensingRecorded",
        "RegistryApproved",
        "PaymentMade",
    ] {
        assert!(history.contains(fact), "history of KZ-001 lacks {fact}");
    }
    let history = stdout(&ledger(data_dir, &["history", "--contract", "KG-001"]));
    assert!(
        history.contains("KgContractApplicationReceived")
            && history.contains("KgContractConcluded"),
        "{history}"
    );
    assert!(
        !history.contains("KZ-002"),
        "a contract's history holds only its own streams"
    );
    let output = ledger(
        data_dir,
        &[
            "export",
            "--period",
            "2026-01",
            "--out",
            export_dir.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export_dir.join("manifest.json")).unwrap()).unwrap();
    let exported = std::fs::read(export_dir.join("events.jsonl")).unwrap();
    let lines = exported
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    assert_eq!(
        manifest["events"].as_u64().unwrap(),
        u64::try_from(lines).unwrap()
    );
    use sha2::Digest;
    assert_eq!(
        manifest["file_sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&exported))
    );
}

/// Appends a copy of a signed registry approval whose signature has one nibble changed, through the
/// log itself: the chain stays intact, only the signature check can catch it.
fn append_forged_signature(data_dir: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = open_log(data_dir);
        let stream = StreamId::new("period/KZ-001/2026-01").unwrap();
        let approved = log
            .read_stream(&stream, StreamVersion(1))
            .await
            .unwrap()
            .into_iter()
            .find(|envelope| envelope.body.payload.event_type == "RegistryApproved")
            .expect("KZ-001 has an approved registry");
        let Event::RegistryApproved(mut event) =
            Event::from_payload(&approved.body.payload).unwrap()
        else {
            unreachable!()
        };
        let flipped = if event.signature.signature_hex.starts_with('0') {
            "1"
        } else {
            "0"
        };
        event.signature.signature_hex.replace_range(0..1, flipped);
        let forged = NewEvent {
            payload: Event::RegistryApproved(event).to_payload().unwrap(),
            ..new_event_like(&approved)
        };
        let target = StreamId::new("period/KZ-001/forged").unwrap();
        let request = AppendRequest {
            stream: target,
            expected: StreamVersion::NONE,
            command_id: CommandId::derived("e2e", "forged"),
            events: vec![forged],
        };
        log.append(request).await.unwrap();
    });
}

fn new_event_like(envelope: &ledger::log::EventEnvelope) -> NewEvent {
    let body = &envelope.body;
    NewEvent {
        event_id: ledger::log::EventId::derived("e2e", "forged-event"),
        occurred_at: body.occurred_at,
        jurisdiction: body.jurisdiction,
        causation_id: None,
        correlation_id: body.correlation_id,
        actor: body.actor.clone(),
        payload: body.payload.clone(),
        command_digest: None,
    }
}

/// KG dispensings (E-11, M-19, M-13, P-09): recorded by PIN, within the Reference Book, each KG
/// month paid its approved net; the summary's totals are the log's; the scripted refusals (R-03,
/// D-11) left nothing on the log and are counted.
fn check_kg_dispensings(events: &[(String, Event)], kg: &serde_json::Value) {
    let book: Vec<String> = events
        .iter()
        .find_map(|(_, event)| match event {
            Event::ReferenceBookPublished(book) => Some(
                book.entries
                    .iter()
                    .map(|entry| entry.drug_id.to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap();
    let (mut lines, mut reimbursed, mut paid, mut approved) = (0_u64, 0_i64, 0_i64, 0_i64);
    for (_, event) in events {
        match event {
            Event::KgDispensingRecorded(recorded) => {
                lines += 1;
                reimbursed += recorded.reimbursement.reimbursement.minor;
                assert!(
                    recorded
                        .prescription
                        .eligibility
                        .is_some_and(|patient| patient.insured),
                    "E-08: every recorded KG patient is insured"
                );
                let pin = recorded.prescription.patient_pin.as_str();
                assert!(pin.len() == 14 && pin.bytes().all(|b| b.is_ascii_digit()));
                assert!(book.contains(&recorded.dispensing.drug_id.to_string()));
            }
            Event::KgDispensingReversed(reversed) => {
                lines -= 1;
                reimbursed -= reversed.reimbursement.minor;
            }
            Event::KgPaymentReportApproved(report) => approved += report.net_payable.minor,
            Event::KgSettlementPaid(settlement) => paid += settlement.amount.minor,
            _ => {}
        }
    }
    assert!(lines > 0, "the demo records KG dispensings");
    assert_eq!(kg["dispensings"], lines);
    assert_eq!(kg["reimbursement"]["minor"], reimbursed);
    assert_eq!(kg["paid"]["minor"], paid);
    assert_eq!(paid, approved, "every approved KG report is paid");
    for rule in ["R-03", "D-11", "E-08", "V-03", "O-01"] {
        assert!(
            kg["refused_dispensings"][rule].as_u64().unwrap() > 0,
            "{rule}"
        );
    }
}

fn flip_byte_in_a_segment(data_dir: &Path) {
    let partition = data_dir.join("log").join("p-0000");
    let segment = std::fs::read_dir(&partition)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "seg"))
        .min()
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&segment, bytes).unwrap();
}

#[test]
fn demo_history_export_and_audit_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    run_demo(&data_dir, &dir.path().join("summary.json"));
    check_history_and_export(&data_dir, &dir.path().join("export"));

    let audit = ledger(&data_dir, &["audit", "verify"]);
    assert!(
        audit.status.success(),
        "a clean demo passes the audit: {}",
        stdout(&audit)
    );
    assert!(stdout(&audit).contains("audit: ok"));

    append_forged_signature(&data_dir);
    let audit = ledger(&data_dir, &["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(2), "{}", stdout(&audit));
    let report = stdout(&audit);
    assert!(
        report.contains("verdict: ok"),
        "the chain itself is intact: {report}"
    );
    assert!(
        report.contains("audit: FAILED: registry approval at")
            && report.contains("period/KZ-001/forged@1"),
        "{report}"
    );

    flip_byte_in_a_segment(&data_dir);
    let audit = ledger(&data_dir, &["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(2));
    let report = stdout(&audit);
    assert!(
        report.contains("first bad position 0:"),
        "the damaged record is named by position: {report}"
    );
}
