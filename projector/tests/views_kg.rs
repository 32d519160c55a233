//! The Kyrgyz contract clock (D-10, A-23): KG_REFUSAL starts with the application and stops with the
//! conclusion; the contract view follows the KG contract stream.

use chrono::NaiveDate;
use ledger::domain::calendar::{CalendarSet, CalendarVersion};
use ledger::domain::clock::{ClockRule, ClockStatus, Deadline};
use ledger::domain::contract::events::ContractTerm;
use ledger::domain::contract::kg::{
    KgContractApplicationReceived, KgContractConcluded, TaxDebtCheck,
};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName};
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    PartitionId, Position, StreamId, StreamVersion,
};
use projector::views::contracts::ContractStatus;
use projector::views::deadlines::Party;
use projector::views::{contracts, deadlines};
use projector::{Projector, SimConfig, SimStore};

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("instant")
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn envelope(event: Event, version: u64) -> EventEnvelope {
    let body = EnvelopeBody {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(version))),
        stream: StreamId::new("contract/KG-1").expect("stream"),
        stream_version: StreamVersion(version),
        recorded_at: Timestamp::from_micros(i64::try_from(version).expect("small")),
        occurred_at: Timestamp::from_micros(i64::try_from(version).expect("small")),
        jurisdiction: Jurisdiction::KG,
        command_id: CommandId(uuid::Uuid::from_u128(u128::from(version))),
        causation_id: None,
        correlation_id: uuid::Uuid::nil(),
        actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
        payload: event.to_payload().expect("encodes"),
        command_digest: None,
    };
    EventEnvelope {
        position: Position {
            partition: PartitionId(0),
            offset: Offset(version - 1),
        },
        body,
        hash: ChainHash([0; 32]),
    }
}

#[test]
fn d10_kg_refusal_clock_runs_from_application_to_conclusion() {
    let contract_id = ContractId::new("KG-1").expect("id");
    let received = Event::KgContractApplicationReceived(KgContractApplicationReceived {
        contract_id: contract_id.clone(),
        received_at: at("2026-03-02T10:00:00+06:00"),
        applicant: KgTin::new("01234567890123").expect("tin"),
        name: OrganisationName::new("Dary Pharm").expect("name"),
        refusal: Deadline {
            rule: ClockRule::KgRefusal,
            calendar_version: CalendarVersion(1),
            started_on: day("2026-03-02"),
            due_strict: day("2026-03-05"),
            due: day("2026-03-05"),
        },
        rule_set_version: 1,
    });
    let concluded = Event::KgContractConcluded(KgContractConcluded {
        contract_id: contract_id.clone(),
        concluded_at: at("2026-03-04T10:00:00+06:00"),
        term: ContractTerm {
            starts_on: day("2026-03-04"),
            ends_on: Some(day("2027-03-03")),
        },
        tax_check: TaxDebtCheck {
            checked_on: day("2026-03-04"),
            has_debts: false,
            reference: DocumentNumber::new("TAX-1").expect("number"),
        },
        rule_set_version: 1,
    });
    let (mut projector, _) =
        Projector::open(SimStore::new(SimConfig::default()), projector::views::all())
            .expect("open");
    projector.step(&[envelope(received, 1)]).expect("step");
    let reader = projector.reader();
    let calendars = CalendarSet::embedded().expect("calendars");
    let clocks = deadlines::all(&reader).expect("clocks");
    assert_eq!(clocks.len(), 1);
    assert_eq!(
        (clocks[0].rule, clocks[0].party),
        (ClockRule::KgRefusal, Party::Fund)
    );
    let late = clocks[0]
        .status(&calendars, at("2026-03-10T12:00:00+06:00"))
        .expect("status");
    assert!(matches!(late, ClockStatus::Overdue { .. }), "{late:?}");

    projector.step(&[envelope(concluded, 2)]).expect("step");
    let clocks = deadlines::all(&projector.reader()).expect("clocks");
    assert_eq!(clocks[0].stopped_by.as_deref(), Some("KgContractConcluded"));
    let met = clocks[0]
        .status(&calendars, at("2026-03-10T12:00:00+06:00"))
        .expect("status");
    assert!(matches!(met, ClockStatus::MetOnTime { .. }), "{met:?}");
    let records = contracts::all(&projector.reader()).expect("contracts");
    assert_eq!(records[0].status, ContractStatus::Concluded);
    assert_eq!(records[0].jurisdiction, Some(Jurisdiction::KG));
    assert_eq!(records[0].ends_on, Some(day("2027-03-03")));
}
