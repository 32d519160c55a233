//! Kyrgyz commands through `ledger submit` with the real binary (issues #8, #4): a KG contract
//! concluded, a Reference Book published, a recovery assessed against the pharmacy, dispensings (one
//! good, one of the wrong drug refused by R-03, one whose prescription is carried into the next month
//! and closed by the previous month's dispensing, A-18, which only the cross-period history loaded by
//! the writer can know), the March report submitted, approved with the recovery offset
//! and paid; a re-run appends nothing.
//!
//! The files are submitted one after the other: within a file only the lines of one stream keep their
//! order, and these steps cross streams (contract → period, March → April).

mod common;

use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::recovery::{Debtor, RecoveryAssessed, RecoveryGround};
use ledger::domain::kg::{DrugId, KgDispensing, KgPrescription};
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::kg::{
    ApproveKgPaymentReport, PayKgSettlement, RecordKgDispensing, SubmitKgPaymentReport, example,
};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName};
use ledger::log::file::FileLog;
use ledger::log::{Actor, ActorId, ActorRole, CommandId, EventLog, StreamId, StreamVersion};
use ledger_commands::submit::kg::{ConcludeKgContract, ReceiveKgContractApplication};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};
use ledger_commands::writer::decode;

const PHARMACY_TIN: &str = "01234567890123";
const MARCH: &str = "period/KG-1/2026-03";
const APRIL: &str = "period/KG-1/2026-04";

/// The pharmacy's debt under inspection act ACT-7, in tyiyn.
const DEBT_MINOR: i64 = 4_000;

fn at(text: &str) -> Timestamp {
    example::at(text)
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn kgs(minor: i64) -> Money {
    Money::new(minor, Currency::KGS)
}

fn envelope(name: &str, stream: &str, role: ActorRole, command: WireCommand) -> CommandEnvelope {
    CommandEnvelope {
        command_id: CommandId::derived("submit-kg-test", name),
        stream: StreamId::new(stream).unwrap(),
        actor: Actor::new(ActorId::Kyrgyz(PHARMACY_TIN.into()), role),
        jurisdiction: Jurisdiction::KG,
        occurred_at: None,
        correlation_id: None,
        expected_version: None,
        command,
    }
}

fn reference_data() -> Vec<CommandEnvelope> {
    let contract = "contract/KG-1";
    let apply = ReceiveKgContractApplication {
        contract_id: ContractId::new("KG-1").unwrap(),
        received_at: at("2026-01-02T09:00:00+06:00"),
        applicant: KgTin::new(PHARMACY_TIN).unwrap(),
        name: OrganisationName::new("Osh Pharm").unwrap(),
    };
    let conclude = ConcludeKgContract {
        concluded_at: at("2026-01-02T10:00:00+06:00"),
        tax_check: ledger::domain::contract::kg::TaxDebtCheck {
            checked_on: date("2026-01-02"),
            has_debts: false,
            reference: DocumentNumber::new("STS-1").unwrap(),
        },
    };
    let debt = RecoveryAssessed {
        recovery_id: "REC-7".into(),
        debtor: Debtor::Pharmacy(PHARMACY_TIN.into()),
        ground: RecoveryGround::FaultyAfterDispensing,
        inspection_act_ref: "ACT-7".into(),
        amount: kgs(DEBT_MINOR),
        assessed_on: date("2026-02-15"),
    };
    let fund = ActorRole::Fund;
    vec![
        envelope(
            "apply",
            contract,
            ActorRole::Pharmacy,
            WireCommand::ReceiveKgContractApplication(apply),
        ),
        envelope(
            "conclude",
            contract,
            fund,
            WireCommand::ConcludeKgContract(conclude),
        ),
        envelope(
            "book-1",
            "reference/kg-reference-book",
            ActorRole::Publisher,
            WireCommand::PublishReferenceBook(example::book()),
        ),
        envelope(
            "rec-7",
            &format!("recovery/pharmacy/{PHARMACY_TIN}"),
            ActorRole::Regulator,
            WireCommand::AssessRecovery(debt),
        ),
    ]
}

/// A sale of `units` metformin tablets at 3.00 on prescription `number` (a 60-tablet course written on
/// `written_on`), the patient paying `paid_minor`.
fn sale(
    id: &str,
    number: &str,
    written_on: &str,
    on: &str,
    units: u32,
    paid_minor: i64,
) -> RecordKgDispensing {
    let prescription = KgPrescription {
        number: number.into(),
        written_on: date(written_on),
        ..example::prescription()
    };
    let dispensing = KgDispensing {
        units: units.to_string().parse().unwrap(),
        dispensed_on: date(on),
        patient_paid: kgs(paid_minor),
        ..example::dispensing()
    };
    RecordKgDispensing {
        dispensing_id: id.parse().unwrap(),
        dispensed_at: at(&format!("{on}T11:00:00+06:00")),
        prescription,
        dispensing,
    }
}

fn record(stream: &str, sale: RecordKgDispensing) -> CommandEnvelope {
    let name = sale.dispensing_id.as_str().to_owned();
    envelope(
        &name,
        stream,
        ActorRole::Pharmacy,
        WireCommand::RecordKgDispensing(Box::new(sale)),
    )
}

/// A KZ dispensing (the checked-in example) sent to the KG contract's March stream under KZ: refused
/// by A-15, since the stream holds a KG contract, whatever the envelope says.
fn kz_dispensing_on_kg_contract() -> String {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/commands/examples/RecordDispensing.json"
    );
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    value["stream"] = MARCH.into();
    value["command_id"] = CommandId::derived("submit-kg-test", "kz-on-kg")
        .0
        .to_string()
        .into();
    value.to_string()
}

/// March: RX-1 in full (60 tablets, 30.00 paid), RX-9 of metformin sold as amlodipine,
/// RX-2 written on 25 March, 30 of its 60 tablets sold on the 28th (15.00 paid), and a KZ dispensing
/// on the KG stream.
fn march() -> Vec<String> {
    let mut wrong_drug = sale("KG-D-2", "RX-9", "2026-03-01", "2026-03-12", 10, 0);
    wrong_drug.dispensing.drug_id = DrugId::new("AML-5").unwrap();
    let mut lines: Vec<String> = [
        record(
            MARCH,
            sale("KG-D-1", "RX-1", "2026-03-01", "2026-03-10", 60, 3_000),
        ),
        record(MARCH, wrong_drug),
        record(
            MARCH,
            sale("KG-D-3", "RX-2", "2026-03-25", "2026-03-28", 30, 1_500),
        ),
    ]
    .iter()
    .map(|envelope| serde_json::to_string(envelope).unwrap())
    .collect();
    lines.push(kz_dispensing_on_kg_contract());
    lines
}

/// April: the rest of RX-2 (within D-11's 30 days), and the March report.
fn april() -> Vec<CommandEnvelope> {
    let report = SubmitKgPaymentReport {
        report_no: DocumentNumber::new("KG-R-2026-03").unwrap(),
        submitted_at: at("2026-04-02T10:00:00+06:00"),
    };
    vec![
        record(
            APRIL,
            sale("KG-D-4", "RX-2", "2026-03-25", "2026-04-05", 30, 1_500),
        ),
        envelope(
            "report-march",
            MARCH,
            ActorRole::Pharmacy,
            WireCommand::SubmitKgPaymentReport(report),
        ),
    ]
}

fn settlement(
    content_hash: ledger::domain::values::DocumentHash,
    net: Money,
) -> Vec<CommandEnvelope> {
    let approve = ApproveKgPaymentReport {
        content_hash,
        approved_at: at("2026-04-10T10:00:00+06:00"),
    };
    let pay = PayKgSettlement {
        payment_order: DocumentNumber::new("PO-1").unwrap(),
        paid_at: at("2026-04-15T10:00:00+06:00"),
        amount: net,
    };
    vec![
        envelope(
            "approve-march",
            MARCH,
            ActorRole::Fund,
            WireCommand::ApproveKgPaymentReport(approve),
        ),
        envelope(
            "pay-march",
            MARCH,
            ActorRole::Fund,
            WireCommand::PayKgSettlement(pay),
        ),
    ]
}

fn write_file(path: &Path, envelopes: &[CommandEnvelope]) {
    let lines: Vec<String> = envelopes
        .iter()
        .map(|envelope| serde_json::to_string(envelope).unwrap())
        .collect();
    write_lines(path, &lines);
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut file = std::fs::File::create(path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// Submits `file` and returns the summary line and the rejects file.
fn submit(data_dir: &Path, file: &Path) -> (String, String) {
    let (_, text) = common::submit(data_dir, file);
    let rejects = std::fs::read_to_string(file.with_extension("rejects.csv")).unwrap_or_default();
    (text, rejects)
}

fn events(data_dir: &Path, stream: &str) -> Vec<Event> {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(log.read_stream(&StreamId::new(stream).unwrap(), StreamVersion(1)))
        .unwrap()
        .iter()
        .map(|record| decode(record).unwrap())
        .collect()
}

/// Reference Book v1 (`example::book`): 2.50 KGS compensation per metformin tablet; the sales are at
/// 3.00 a tablet (tyiyn).
const COMPENSATION_PER_UNIT_MINOR: i64 = 250;
const RETAIL_PER_UNIT_MINOR: i64 = 300;

/// M-13, M-15, A-17: min(eligible units × compensation per unit, retail total − patient paid).
fn reimbursement(units: i64, paid_minor: i64) -> Money {
    let compensation = units * COMPENSATION_PER_UNIT_MINOR;
    let cap = units * RETAIL_PER_UNIT_MINOR - paid_minor;
    kgs(compensation.min(cap))
}

/// Submits the reference data, March and April (with the March report); checks each file's
/// refusals and returns the files.
fn submit_until_report(dir: &Path, data_dir: &Path) -> Vec<std::path::PathBuf> {
    let files: Vec<_> = ["reference", "march", "april"]
        .iter()
        .map(|name| dir.join(format!("{name}.jsonl")))
        .collect();
    let mut foreign = reference_data().remove(1);
    foreign.command_id = CommandId::derived("submit-kg-test", "foreign");
    foreign.jurisdiction = Jurisdiction::KZ;
    let mut first = reference_data();
    first.push(foreign);
    write_file(&files[0], &first);
    write_lines(&files[1], &march());
    write_file(&files[2], &april());

    let (text, rejects) = submit(data_dir, &files[0]);
    assert!(
        text.contains("4 appended, 0 already appended, 1 rejected"),
        "{text}"
    );
    assert!(
        rejects.contains("5,jurisdiction,A-15,"),
        "A-15 at the edge: {rejects}"
    );
    let (text, rejects) = submit(data_dir, &files[1]);
    assert!(
        text.contains("2 appended, 0 already appended, 2 rejected"),
        "{text}"
    );
    assert!(
        rejects.contains("4,command.type,A-15,"),
        "a KZ command on a KG contract: {rejects}"
    );
    assert!(
        rejects.contains("2,(command),R-03,"),
        "wrong drug: {rejects}"
    );
    let (text, rejects) = submit(data_dir, &files[2]);
    assert!(
        text.contains("1 appended, 0 already appended, 1 rejected"),
        "{text}"
    );
    assert!(
        rejects.contains("1,(command),A-18,"),
        "RX-2 was closed by its March dispensing, which only the loaded history knows: {rejects}"
    );
    files
}

/// The March settlement as appended: approval with the offset and the payment.
fn assert_settled(data_dir: &Path, gross: Money, offset: Money, net: Money) {
    let march_events = events(data_dir, MARCH);
    let approved = march_events
        .iter()
        .find_map(|event| match event {
            Event::KgPaymentReportApproved(approved) => Some(approved.clone()),
            _ => None,
        })
        .expect("approved");
    assert_eq!(
        (approved.gross, approved.offset_total, approved.net_payable),
        (gross, offset, net)
    );
    let offsets: Vec<_> = march_events
        .iter()
        .filter_map(|event| match event {
            Event::RecoveryOffset(offset) => Some(offset.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(offsets.len(), 1);
    assert_eq!(
        (offsets[0].recovery_id.as_str(), offsets[0].amount),
        ("REC-7", offset)
    );
    assert_eq!(offsets[0].inspection_act_ref, "ACT-7");
    assert!(march_events.iter().any(|event| matches!(
        event,
        Event::KgSettlementPaid(paid) if paid.amount == net
    )));
    assert!(
        events(data_dir, APRIL).is_empty(),
        "the April sale of RX-2 was refused"
    );
}

fn event_count(data_dir: &Path) -> usize {
    [MARCH, APRIL, "contract/KG-1"]
        .iter()
        .map(|stream| events(data_dir, stream).len())
        .sum()
}

#[test]
fn kg_contract_dispensings_and_settlement_through_submit() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut files = submit_until_report(dir.path(), &data_dir);

    let gross = reimbursement(60, 3_000)
        .checked_add(reimbursement(30, 1_500))
        .unwrap();
    let offset = kgs(DEBT_MINOR.min(gross.minor));
    let net = kgs(gross.minor - offset.minor);
    let submitted = events(&data_dir, MARCH)
        .into_iter()
        .find_map(|event| match event {
            Event::KgPaymentReportSubmitted(report) => Some(report),
            _ => None,
        })
        .expect("the March report was submitted");
    assert_eq!(submitted.total_reimbursement, gross);
    assert_eq!(submitted.line_count, 2);
    let last = dir.path().join("settlement.jsonl");
    write_file(&last, &settlement(submitted.content_hash, net));
    let (text, _) = submit(&data_dir, &last);
    assert!(
        text.contains("2 appended, 0 already appended, 0 rejected"),
        "{text}"
    );
    assert_settled(&data_dir, gross, offset, net);

    let before = event_count(&data_dir);
    files.push(last);
    for file in &files {
        let (text, _) = submit(&data_dir, file);
        assert!(
            text.contains(" 0 appended,"),
            "a re-run appends nothing: {text}"
        );
    }
    assert_eq!(event_count(&data_dir), before);
}
