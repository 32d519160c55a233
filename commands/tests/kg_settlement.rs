//! A Kyrgyz dispensing recorded end to end through the command handler and the embedded log: the
//! `KgPeriodAggregate` adapter decides it under the KG policy, appends it on the KG contract's
//! period stream, and a refused dispensing appends nothing.

use std::sync::Arc;

use ledger::domain::error::DomainError;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::DrugId;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::kg::{
    ApproveKgPaymentReport, KgPeriodCommand, NoOtherKgPeriods, PayKgSettlement, RecordKgDispensing,
    SubmitKgPaymentReport, example,
};
use ledger::domain::values::{DocumentNumber, ReportingPeriod};
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{Actor, ActorId, ActorRole, CommandId, EventLog, StreamId, StreamVersion};
use ledger_commands::handler::{Handled, Handler};
use ledger_commands::writer::{
    Command, CommandMeta, KgPeriodAggregate, ReferenceBookAggregate, decode,
};
use uuid::Uuid;

fn open(dir: &std::path::Path) -> Arc<FileLog> {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    Arc::new(FileLog::open(dir, options).expect("open log"))
}

fn command(id: u128, single: KgPeriodCommand) -> Command<Vec<KgPeriodCommand>> {
    Command {
        meta: CommandMeta {
            command_id: CommandId(Uuid::from_u128(id)),
            at: single.at(),
            jurisdiction: Jurisdiction::KG,
            actor: Actor::new(
                ActorId::Kyrgyz("01234567890123".into()),
                ActorRole::Pharmacy,
            ),
            correlation_id: Uuid::from_u128(id),
            digest: None,
        },
        command: vec![single],
    }
}

fn sale(id: &str) -> RecordKgDispensing {
    RecordKgDispensing {
        dispensing_id: id.parse().unwrap(),
        dispensed_at: example::dispensed_at(),
        prescription: example::prescription(),
        dispensing: example::dispensing(),
    }
}

fn record(sale: RecordKgDispensing) -> KgPeriodCommand {
    KgPeriodCommand::RecordDispensing(Box::new(sale))
}

/// Builds the KG reference data and executes one dispensing through the handler.
async fn execute(
    handler: &Handler<KgPeriodAggregate>,
    log: &FileLog,
    id: u128,
    single: KgPeriodCommand,
) -> Handled<DomainError> {
    let reference = example::Reference::default();
    let decision = reference.decision();
    let period = ReportingPeriod::month(2026, 3).unwrap();
    let context = reference.context(&decision, period, &NoOtherKgPeriods);
    handler
        .execute(
            log,
            &stream(),
            CommandId(Uuid::from_u128(id)),
            &command(id, single),
            &context,
        )
        .await
        .unwrap()
}

fn stream() -> StreamId {
    StreamId::new("period/KG-1/2026-03").unwrap()
}

#[tokio::test]
async fn kg_dispensing_is_recorded_through_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let handler = Handler::<KgPeriodAggregate>::default();

    // another drug than the prescribed one: refused, nothing appended.
    let mut wrong = sale("D-0");
    wrong.dispensing.drug_id = DrugId::new("AML-5").unwrap();
    let outcome = execute(&handler, &log, 1, record(wrong)).await;
    let Handled::Rejected(DomainError::NotReimbursable { rule, .. }) = outcome else {
        panic!("expected an R-03 refusal, got {outcome:?}");
    };
    assert_eq!(rule, "R-03");
    assert_eq!(
        log.stream_version(&stream()).await.unwrap(),
        StreamVersion::NONE
    );

    let outcome = execute(&handler, &log, 2, record(sale("D-1"))).await;
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let records = log.read_stream(&stream(), StreamVersion(1)).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].body.jurisdiction, Jurisdiction::KG);
    let Event::KgDispensingRecorded(recorded) = decode(&records[0]).unwrap() else {
        panic!("expected KgDispensingRecorded");
    };
    assert_eq!(
        recorded.reimbursement.reimbursement,
        Money::new(15_000, Currency::KGS)
    );

    // the prescription is closed; the handler folds the stream and refuses a second sale.
    let Handled::Rejected(rejection) = execute(&handler, &log, 3, record(sale("D-2"))).await else {
        panic!("expected an A-18 refusal");
    };
    assert_eq!(rejection.rule(), "A-18");
    let (state, version) = handler.load(&*log, &stream()).await.unwrap();
    assert_eq!(version, StreamVersion(1));
    assert_eq!(state.dispensings.len(), 1);
}

/// P-09: the period is settled through the same handler: report, approval, payment.
#[tokio::test]
async fn kg_period_is_settled_through_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let handler = Handler::<KgPeriodAggregate>::default();
    let outcome = execute(&handler, &log, 1, record(sale("D-1"))).await;
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let submit = KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
        report_no: DocumentNumber::new("R-1").unwrap(),
        submitted_at: example::at("2026-04-02T10:00:00+06:00"),
    });
    let outcome = execute(&handler, &log, 2, submit).await;
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let (state, _) = handler.load(&*log, &stream()).await.unwrap();
    let approve = KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
        content_hash: state.report.unwrap().content_hash,
        approved_at: example::at("2026-04-05T10:00:00+06:00"),
    });
    let outcome = execute(&handler, &log, 3, approve).await;
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let pay = KgPeriodCommand::PaySettlement(PayKgSettlement {
        payment_order: DocumentNumber::new("PO-1").unwrap(),
        paid_at: example::at("2026-04-06T10:00:00+06:00"),
        amount: Money::new(15_000, Currency::KGS),
    });
    let outcome = execute(&handler, &log, 4, pay).await;
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let (state, version) = handler.load(&*log, &stream()).await.unwrap();
    assert_eq!(version, StreamVersion(4));
    assert_eq!(state.paid, Money::new(15_000, Currency::KGS));
}

/// M-10, A-28: the Reference Book is published through the handler; the books it folds are what a
/// KG dispensing is priced from, and a version is published once.
#[tokio::test]
async fn reference_book_is_published_through_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let handler = Handler::<ReferenceBookAggregate>::default();
    let stream = StreamId::new("reference/kg-reference-book").unwrap();
    let publish = |id: u128| Command {
        meta: CommandMeta {
            command_id: CommandId(Uuid::from_u128(id)),
            at: example::at("2025-12-20T10:00:00+06:00"),
            jurisdiction: Jurisdiction::KG,
            actor: Actor::new(ActorId::System("mhif".into()), ActorRole::System),
            correlation_id: Uuid::from_u128(id),
            digest: None,
        },
        command: example::book(),
    };
    let outcome = handler
        .execute(
            &*log,
            &stream,
            CommandId(Uuid::from_u128(1)),
            &publish(1),
            &(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Handled::Appended(_)), "{outcome:?}");
    let outcome = handler
        .execute(
            &*log,
            &stream,
            CommandId(Uuid::from_u128(2)),
            &publish(2),
            &(),
        )
        .await
        .unwrap();
    let Handled::Rejected(rejection) = outcome else {
        panic!("a version is published once");
    };
    assert_eq!(rejection.rule(), "A-28");
    let (books, _) = handler.load(&*log, &stream).await.unwrap();
    assert_eq!(books, example::books());
}
