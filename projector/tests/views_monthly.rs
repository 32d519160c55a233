//! The monthly clocks of the deadline view (issue #17, D-02, D-13): a KZ contract's REGISTRY_SUBMISSION
//! clock exists for every month it is in force from the day the month ends, with no registry at all;
//! a recorded breach marks it; the first submission stops it; the termination ends the schedule.

use chrono::NaiveDate;
use ledger::domain::breach::DeadlineBreached;
use ledger::domain::calendar::{CalendarSet, CalendarVersion};
use ledger::domain::clock::{ClockRule, ClockStatus, Deadline, MonthlyDue};
use ledger::domain::contract::events::{
    ContractConcluded, ContractTerm, Party, TerminationNoticeReceived,
};
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::events::RegistrySubmitted;
use ledger::domain::signature::Signature;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, DocumentHash, DocumentNumber, ReportingPeriod};
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    PartitionId, Position, StreamId, StreamVersion,
};
use projector::views::deadlines::{self, ClockInstance};
use projector::{Projector, ProjectorReader, SimConfig, SimReader, SimStore};

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("instant")
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// Records in one partition: `(stream, stream version, event)`, offsets in order.
fn envelopes(events: Vec<(&str, u64, Event)>) -> Vec<EventEnvelope> {
    events
        .into_iter()
        .zip(0u64..)
        .map(|((stream, version, event), offset)| EventEnvelope {
            position: Position {
                partition: PartitionId(0),
                offset: Offset(offset),
            },
            body: EnvelopeBody {
                event_id: EventId(uuid::Uuid::from_u128(u128::from(offset) + 1)),
                stream: StreamId::new(stream).expect("stream"),
                stream_version: StreamVersion(version),
                recorded_at: Timestamp::from_micros(i64::try_from(offset).expect("small")),
                occurred_at: Timestamp::from_micros(i64::try_from(offset).expect("small")),
                jurisdiction: Jurisdiction::KZ,
                command_id: CommandId(uuid::Uuid::from_u128(u128::from(offset) + 1)),
                causation_id: None,
                correlation_id: uuid::Uuid::nil(),
                actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
                payload: event.to_payload().expect("encodes"),
                command_digest: None,
            },
            hash: ChainHash([0; 32]),
        })
        .collect()
}

fn holder() -> Bin {
    ledger::domain::testkit::bin("05014000001")
}

fn signature() -> Signature {
    Signature {
        key_id: "keys/test".to_owned(),
        signer: holder(),
        signature_hex: "ab".repeat(64),
        document_hash: DocumentHash([1; 32]),
    }
}

fn contract_id() -> ContractId {
    ContractId::new("KZ-1").expect("id")
}

fn january() -> ReportingPeriod {
    ReportingPeriod::month(2026, 1).expect("month")
}

fn concluded() -> Event {
    Event::ContractConcluded(ContractConcluded {
        contract_id: contract_id(),
        concluded_at: at("2025-12-03T11:00:00+05:00"),
        holder: holder(),
        term: ContractTerm {
            starts_on: day("2026-01-01"),
            ends_on: None,
        },
        pharmacies: 70,
        regions: 3,
        rule_set_version: 1,
        signature: signature(),
        registry_due: Some(MonthlyDue {
            rule: ClockRule::RegistrySubmission,
            due_day: 25,
            calendar_version: CalendarVersion(2),
        }),
    })
}

fn january_deadline() -> Deadline {
    Deadline {
        rule: ClockRule::RegistrySubmission,
        calendar_version: CalendarVersion(2),
        started_on: day("2026-01-31"),
        due_strict: day("2026-02-25"),
        due: day("2026-02-25"),
    }
}

fn breached() -> Event {
    Event::DeadlineBreached(DeadlineBreached {
        contract_id: contract_id(),
        period: Some(january()),
        deadline: january_deadline(),
        obliged: Party::ContractHolder,
        breached_at: at("2026-02-26T00:00:00+05:00"),
        observed_at: at("2026-02-27T09:00:00+05:00"),
    })
}

fn submitted() -> Event {
    let zero = Money::zero(Currency::KZT);
    Event::RegistrySubmitted(RegistrySubmitted {
        contract_id: contract_id(),
        period: january(),
        registry_no: DocumentNumber::new("R-1").expect("number"),
        submitted_at: at("2026-03-02T10:00:00+05:00"),
        submission: 1,
        line_count: 0,
        content_hash: DocumentHash([2; 32]),
        total_fund: zero,
        total_patient: zero,
        total: zero,
        due: january_deadline(),
        late: true,
        signature: signature(),
    })
}

fn terminated() -> Event {
    Event::TerminationNoticeReceived(TerminationNoticeReceived {
        contract_id: contract_id(),
        notice: DocumentNumber::new("TN-1").expect("number"),
        received_at: at("2026-03-10T10:00:00+05:00"),
    })
}

fn registry_clocks(reader: &ProjectorReader<SimReader>, as_of: &str) -> Vec<ClockInstance> {
    let calendars = CalendarSet::embedded().expect("calendars");
    deadlines::as_of(reader, &calendars, day(as_of))
        .expect("clocks")
        .into_iter()
        .filter(|clock| clock.rule == ClockRule::RegistrySubmission)
        .collect()
}

fn status(clock: &ClockInstance, as_of: &str) -> ClockStatus {
    let calendars = CalendarSet::embedded().expect("calendars");
    clock.status(&calendars, at(as_of)).expect("status")
}

fn months(clocks: &[ClockInstance]) -> Vec<String> {
    clocks
        .iter()
        .map(|clock| clock.period.expect("a period clock").key())
        .collect()
}

#[test]
fn d02_a_registry_clock_runs_from_the_month_end_until_the_first_submission() {
    let records = envelopes(vec![
        ("contract/KZ-1", 1, concluded()),
        ("period/KZ-1/2026-01", 1, breached()),
        ("period/KZ-1/2026-01", 2, submitted()),
        ("contract/KZ-1", 2, terminated()),
    ]);
    let (mut projector, _) =
        Projector::open(SimStore::new(SimConfig::default()), projector::views::all())
            .expect("open");
    projector.step(&records[..1]).expect("step");
    let reader = projector.reader();
    assert!(registry_clocks(&reader, "2026-01-30").is_empty());
    let clocks = registry_clocks(&reader, "2026-02-26");
    assert_eq!(months(&clocks), ["2026-01"], "February ends on the 28th");
    assert_eq!(clocks[0].deadline(), &january_deadline());
    assert!(
        matches!(
            status(&clocks[0], "2026-02-26T09:00:00+05:00"),
            ClockStatus::Overdue { .. }
        ),
        "a never-submitted registry is overdue the day after its due date"
    );

    projector.step(&records[1..2]).expect("step");
    let clocks = registry_clocks(&projector.reader(), "2026-02-28");
    assert_eq!(months(&clocks), ["2026-01", "2026-02"]);
    let breach = clocks[0]
        .breach
        .as_ref()
        .expect("the breach is on the clock");
    assert_eq!(breach.breached_at, at("2026-02-26T00:00:00+05:00"));
    assert!(clocks[1].breach.is_none());

    projector.step(&records[2..3]).expect("step");
    let clocks = registry_clocks(&projector.reader(), "2026-03-05");
    assert_eq!(clocks[0].stopped_by.as_deref(), Some("RegistrySubmitted"));
    assert!(matches!(
        status(&clocks[0], "2026-03-05T09:00:00+05:00"),
        ClockStatus::MetLate { .. }
    ));

    projector.step(&records[3..]).expect("step");
    let clocks = registry_clocks(&projector.reader(), "2026-06-30");
    assert_eq!(
        months(&clocks),
        ["2026-01", "2026-02", "2026-03"],
        "C-05: in force through the day the notice was received"
    );
    assert_eq!(
        deadlines::all(&projector.reader()).expect("clocks").len(),
        1,
        "only January's clock is fixed by the log; the others are derived when asked"
    );
}
