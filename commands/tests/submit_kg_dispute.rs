//! KG prescription disputes through the JSON writer (X-01…X-03, D-12, A-27; S002 §48–50): through
//! the dispatcher that `ledger submit` drives, and through the HTTP router of `ledger serve`.
//!
//! The world: KG contract KG-1, concluded in January, with the Reference Book published and RX-1
//! dispensed on 10 March 2026; disputes are filed on `contract/KG-1/dispute/<id>`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::dispute::DisputeDecision;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::kg::{RecordKgDispensing, example};
use ledger::domain::testkit;
use ledger::domain::time::Timestamp;
use ledger::domain::values::ContractId;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendOutcome, CommandId, EventLog, StreamId, StreamVersion,
};
use ledger_commands::serve::{ServeState, router};
use ledger_commands::submit::Refusal;
use ledger_commands::submit::dispatch::{Dispatcher, Outcome};
use ledger_commands::submit::dispute::{FileKgDisputeClaim, ResolveKgDispute};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};
use ledger_commands::writer::decode;
use tower::ServiceExt;

const FUND_BIN: &str = "900101300007";
const CONTRACT: &str = "contract/KG-1";
const MARCH: &str = "period/KG-1/2026-03";

fn at(text: &str) -> Timestamp {
    example::at(text)
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn dispute(id: &str) -> String {
    format!("{CONTRACT}/dispute/{id}")
}

/// `command` in the envelope of the checked-in example of its type (actor, jurisdiction KG), on
/// `stream`, with an id derived from `name` (so a repeated name is a retry).
fn envelope(name: &str, stream: &str, command: WireCommand) -> CommandEnvelope {
    let example = example_command(command.type_name());
    CommandEnvelope {
        command_id: CommandId::derived("submit-kg-dispute-test", name),
        stream: StreamId::new(stream).unwrap(),
        command,
        ..example
    }
}

/// the pharmacy's written claim `text` about RX-1 (dispensed 10 March), filed at `filed_at`.
fn claim(dispute_id: &str, filed_at: &str, text: &str) -> CommandEnvelope {
    let claim = FileKgDisputeClaim {
        dispute_id: dispute_id.into(),
        contract_id: ContractId::new("KG-1").unwrap(),
        prescription_number: "RX-1".into(),
        dispensed_on: date("2026-03-10"),
        filed_at: at(filed_at),
        claimant: "Osh Pharm".into(),
        claim: text.into(),
    };
    envelope(
        &format!("claim-{dispute_id}-{filed_at}-{text}"),
        &dispute(dispute_id),
        WireCommand::FileKgDisputeClaim(claim),
    )
}

/// the commission of `members` resolves `dispute_id` in protocol PR-1: pay 15.00 KGS.
fn resolution(dispute_id: &str, members: &[&str]) -> CommandEnvelope {
    let resolve = ResolveKgDispute {
        protocol_id: "PR-1".into(),
        commission_members: members.iter().map(|member| (*member).to_owned()).collect(),
        decision: DisputeDecision::PayAmount(Money::new(1_500, Currency::KGS)),
        resolved_on: date("2026-03-27"),
    };
    envelope(
        &format!("resolve-{dispute_id}-{}", members.len()),
        &dispute(dispute_id),
        WireCommand::ResolveKgDispute(resolve),
    )
}

const THREE: &[&str] = &["A. Asanov", "B. Bekova", "C. Chynybaev"];

/// A checked-in example command (`schemas/commands/examples/<type>.json`): contract KG-1 of the
/// pharmacy with TIN 01234567890123, and its documents.
fn example_command(command_type: &str) -> CommandEnvelope {
    let path = format!(
        "{}/../schemas/commands/examples/{command_type}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    CommandEnvelope::parse(&std::fs::read(&path).unwrap()).unwrap()
}

/// The contract concluded, the Reference Book, and RX-1 sold on 10 March (the examples' contract).
fn world() -> Vec<CommandEnvelope> {
    let sale = RecordKgDispensing {
        dispensing_id: "KG-D-1".parse().unwrap(),
        dispensed_at: example::dispensed_at(),
        prescription: example::prescription(),
        dispensing: example::dispensing(),
    };
    let mut commands: Vec<CommandEnvelope> = [
        "ReceiveKgContractApplication",
        "ConcludeKgContract",
        "PublishReferenceBook",
    ]
    .into_iter()
    .map(example_command)
    .collect();
    commands.push(envelope(
        "sale",
        MARCH,
        WireCommand::RecordKgDispensing(Box::new(sale)),
    ));
    commands
}

/// The March payment report, submitted on 2 April (D-13: after the period ends).
fn march_report() -> CommandEnvelope {
    let report = example_command("SubmitKgPaymentReport");
    assert_eq!(report.stream.as_str(), MARCH);
    report
}

/// A writer on a fresh log in `dir`, with [`world`] appended.
async fn writer(dir: &std::path::Path) -> Dispatcher {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir, options).unwrap());
    let dispatcher = Dispatcher::open(log, FUND_BIN.parse().unwrap())
        .await
        .unwrap();
    for command in world() {
        appended(&dispatcher, &command).await;
    }
    dispatcher
}

async fn appended(dispatcher: &Dispatcher, command: &CommandEnvelope) -> AppendOutcome {
    match dispatcher.submit(command).await.unwrap() {
        Outcome::Appended(outcome) => outcome,
        Outcome::Refused(refusal) => panic!("{}: {refusal:?}", command.stream),
    }
}

/// Submits `command`, expects a refusal by `rule` naming `field`, and checks that nothing was
/// appended to the command's stream.
async fn refused(
    dispatcher: &Dispatcher,
    command: &CommandEnvelope,
    rule: &str,
    field: Option<&str>,
) -> Refusal {
    let before = version(dispatcher, command.stream.as_str()).await;
    let refusal = match dispatcher.submit(command).await.unwrap() {
        Outcome::Refused(refusal) => refusal,
        Outcome::Appended(outcome) => panic!("{}: appended {outcome:?}", command.stream),
    };
    assert_eq!(refusal.rule, rule, "{refusal:?}");
    assert_eq!(refusal.field.as_deref(), field, "{refusal:?}");
    let after = version(dispatcher, command.stream.as_str()).await;
    assert_eq!(after, before, "a refusal appends nothing: {refusal:?}");
    refusal
}

async fn events(dispatcher: &Dispatcher, stream: &str) -> Vec<Event> {
    let records = dispatcher
        .log()
        .read_stream(&StreamId::new(stream).unwrap(), StreamVersion(1))
        .await
        .unwrap();
    records
        .iter()
        .map(|record| decode(record).unwrap())
        .collect()
}

async fn version(dispatcher: &Dispatcher, stream: &str) -> StreamVersion {
    let stream = StreamId::new(stream).unwrap();
    dispatcher.log().stream_version(&stream).await.unwrap()
}

/// a written claim in the dispensing month is appended with its Bishkek filing date and
/// the window's last day, on the contract's partition; the same command id again appends nothing.
#[tokio::test]
async fn a27_x01_claim_in_the_window_is_appended_once() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    let command = claim("DSP-1", "2026-03-20T10:00:00+06:00", "RX-1 is legible");
    let first = appended(&dispatcher, &command).await;
    assert!(!first.duplicate);
    let filed = match events(&dispatcher, &dispute("DSP-1")).await.as_slice() {
        [Event::DisputeClaimFiled(filed)] => filed.clone(),
        other => panic!("one claim expected: {other:?}"),
    };
    assert_eq!(
        (filed.filed_on, filed.window_closes_on),
        (date("2026-03-20"), date("2026-03-31"))
    );
    assert_eq!(
        (filed.contract_id.as_str(), filed.claim.as_str()),
        ("KG-1", "RX-1 is legible")
    );
    let stream = StreamId::new(dispute("DSP-1")).unwrap();
    assert_eq!(
        stream.partition_key(),
        CONTRACT,
        "a dispute lands on its contract's partition (docs/decisions.md #11)"
    );

    let again = appended(&dispatcher, &command).await;
    assert!(again.duplicate, "a repeated command id appends nothing");
    assert_eq!(again.positions, first.positions);
    assert_eq!(
        version(&dispatcher, &dispute("DSP-1")).await,
        StreamVersion(1)
    );
}

/// the window closes at the end of the dispensing month on the Asia/Bishkek calendar: 23:00 on
/// 31 March local (17:00 UTC) is in, 01:00 on 1 April local (still 31 March in UTC) is out.
#[tokio::test]
async fn a27_claim_after_month_end_in_bishkek_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    let late = claim("DSP-2", "2026-03-31T19:00:00Z", "late");
    let refusal = refused(&dispatcher, &late, "A-27", Some("command.filed_at")).await;
    assert!(refusal.message.contains("2026-04-01"), "{refusal:?}");

    let last_hour = claim("DSP-3", "2026-03-31T17:00:00Z", "in time");
    appended(&dispatcher, &last_hour).await;
}

/// A-27, D-12: once the March report is submitted a claim about a March dispensing is refused
/// (the report comes after the month, so the month bound refuses first), while a claim received
/// before the report and entered later is still taken.
#[tokio::test]
async fn a27_claim_after_the_payment_report_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    appended(&dispatcher, &march_report()).await;

    let after = claim("DSP-4", "2026-04-03T09:00:00+06:00", "after the report");
    refused(&dispatcher, &after, "A-27", Some("command.filed_at")).await;

    let received_before = claim("DSP-5", "2026-03-30T09:00:00+06:00", "received in March");
    appended(&dispatcher, &received_before).await;
}

/// a claim without text is not a written claim; nothing is appended.
#[tokio::test]
async fn x01_empty_claim_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    let blank = claim("DSP-6", "2026-03-20T10:00:00+06:00", "  ");
    refused(&dispatcher, &blank, "X-01", Some("command.claim")).await;
}

/// two members cannot decide; three resolve the dispute in a protocol; a resolved dispute is
/// not resolved twice, and one never filed cannot be resolved, named by its stream's id.
#[tokio::test]
async fn x02_commission_of_three_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    appended(
        &dispatcher,
        &claim("DSP-7", "2026-03-20T10:00:00+06:00", "claim"),
    )
    .await;

    let two = resolution("DSP-7", &THREE[..2]);
    refused(
        &dispatcher,
        &two,
        "X-02",
        Some("command.commission_members"),
    )
    .await;

    appended(&dispatcher, &resolution("DSP-7", THREE)).await;
    let resolved = match events(&dispatcher, &dispute("DSP-7")).await.as_slice() {
        [
            Event::DisputeClaimFiled(_),
            Event::DisputeResolved(resolved),
        ] => resolved.clone(),
        other => panic!("a claim and its resolution expected: {other:?}"),
    };
    assert_eq!(
        (
            resolved.protocol_id.as_str(),
            resolved.commission_members.len()
        ),
        ("PR-1", 3)
    );

    let mut twice = resolution("DSP-7", THREE);
    twice.command_id = CommandId::derived("submit-kg-dispute-test", "resolve-again");
    refused(&dispatcher, &twice, "X-02", None).await;
    let never_filed = resolution("DSP-8", THREE);
    let refusal = refused(&dispatcher, &never_filed, "X-01", None).await;
    assert!(refusal.message.contains("\"DSP-8\""), "{refusal:?}");
}

/// DESIGN §1, A-15: a claim goes to the stream its contract and dispute ids name, under KG, and
/// never under a KZ contract.
#[tokio::test]
async fn a15_claim_on_another_stream_or_jurisdiction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    let mut elsewhere = claim("DSP-9", "2026-03-20T10:00:00+06:00", "claim");
    elsewhere.stream = StreamId::new("contract/KG-2/dispute/DSP-9").unwrap();
    refused(&dispatcher, &elsewhere, "DESIGN §1", Some("stream")).await;
    let mut on_contract = resolution("DSP-9", THREE);
    on_contract.stream = StreamId::new(CONTRACT).unwrap();
    refused(&dispatcher, &on_contract, "DESIGN §1", Some("stream")).await;
    let mut kazakh = claim("DSP-9", "2026-03-20T10:00:00+06:00", "claim");
    kazakh.jurisdiction = Jurisdiction::KZ;
    refused(&dispatcher, &kazakh, "A-15", Some("jurisdiction")).await;

    let kz_contract = testkit::company_application(
        "2026-01-05T09:00:00Z",
        testkit::network("P", 1, 1, testkit::holder_bin()),
    );
    let apply = CommandEnvelope {
        command_id: CommandId::derived("submit-kg-dispute-test", "kz-apply"),
        stream: StreamId::new("contract/C-1").unwrap(),
        actor: Actor::new(
            ActorId::Organisation(testkit::holder_bin()),
            ActorRole::Pharmacy,
        ),
        jurisdiction: Jurisdiction::KZ,
        command: WireCommand::ReceiveApplication(kz_contract),
        ..example_command("ReceiveKgContractApplication")
    };
    appended(&dispatcher, &apply).await;
    let mut on_kz_contract = claim("DSP-9", "2026-03-20T10:00:00+06:00", "claim");
    if let WireCommand::FileKgDisputeClaim(claim) = &mut on_kz_contract.command {
        claim.contract_id = ContractId::new("C-1").unwrap();
    }
    on_kz_contract.stream = StreamId::new("contract/C-1/dispute/DSP-9").unwrap();
    refused(&dispatcher, &on_kz_contract, "A-15", Some("command.type")).await;
}

async fn post(app: &axum::Router, command: &CommandEnvelope) -> (StatusCode, serde_json::Value) {
    let request = Request::post("/v1/commands")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_string(command).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The same rules over HTTP: 201 for a claim in the window, 200 for its retry, 422 with the rule and
/// the field for an empty claim, a late claim and a commission of two, and 201
/// for the resolution by three.
#[tokio::test]
async fn a27_x01_x02_disputes_through_the_http_router() {
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = writer(dir.path()).await;
    let state = Arc::new(ServeState::default());
    let app = router(Arc::clone(&state));
    tokio::task::LocalSet::new()
        .run_until(async {
            state.ready(dispatcher);
            let filed = claim("DSP-10", "2026-03-20T10:00:00+06:00", "claim");
            let (status, created) = post(&app, &filed).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let (status, repeated) = post(&app, &filed).await;
            assert_eq!(status, StatusCode::OK, "{repeated}");
            assert_eq!(repeated["duplicate"], true);
            assert_eq!(repeated["positions"], created["positions"]);

            let refusals = [
                (
                    claim("DSP-11", "2026-03-20T10:00:00+06:00", ""),
                    "X-01",
                    "command.claim",
                ),
                (
                    claim("DSP-12", "2026-04-01T09:00:00+06:00", "late"),
                    "A-27",
                    "command.filed_at",
                ),
                (
                    resolution("DSP-10", &THREE[..2]),
                    "X-02",
                    "command.commission_members",
                ),
            ];
            for (command, rule, field) in refusals {
                let (status, refusal) = post(&app, &command).await;
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
                assert_eq!(
                    (refusal["rule"].as_str(), refusal["field"].as_str()),
                    (Some(rule), Some(field))
                );
            }
            let (status, resolved) = post(&app, &resolution("DSP-10", THREE)).await;
            assert_eq!(status, StatusCode::CREATED, "{resolved}");
            assert_eq!(resolved["first_version"], 2);
        })
        .await;
}
