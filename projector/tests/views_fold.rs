//! The domain views equal a straightforward in-memory fold of the same generated events (STYLE §2.6),
//! for any batching, and two builds of the same events are byte-identical (issue #6).

use std::collections::BTreeMap;

use ledger::domain::budget::{self, Budget, BudgetEvent, BudgetId, FiscalYear};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::Money;
use ledger::domain::period::registry::registry_lines;
use ledger::domain::period::{self, PeriodState, RegistryStage};
use ledger::domain::region::Programme;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, ReportingPeriod};
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    Position, StreamVersion, partition_of,
};
use projector::views::registry::RegistryStatus;
use projector::views::sample::{self, SampleConfig, SampleEvent};
use projector::views::{act, budgets, contracts, deadlines, registry};
use projector::{Projector, ProjectorReader, SimConfig, SimReader, SimStore, ViewRead, ViewStore};
use proptest::prelude::*;

const PARTITIONS: u32 = 3;

/// The sample as envelopes per partition, with gapless stream versions.
fn envelopes(events: &[SampleEvent]) -> Vec<Vec<EventEnvelope>> {
    let mut partitions = vec![Vec::new(); usize::try_from(PARTITIONS).unwrap()];
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for (sample, n) in events.iter().zip(1u64..) {
        let partition = partition_of(&sample.stream, PARTITIONS);
        let slot = &mut partitions[usize::try_from(partition.0).unwrap()];
        let version = versions
            .entry(sample.stream.as_str().to_owned())
            .or_insert(0);
        *version += 1;
        let body = EnvelopeBody {
            event_id: EventId(uuid::Uuid::from_u128(u128::from(n))),
            stream: sample.stream.clone(),
            stream_version: StreamVersion(*version),
            recorded_at: Timestamp::from_micros(i64::try_from(n).unwrap()),
            occurred_at: Timestamp::from_micros(i64::try_from(n).unwrap()),
            jurisdiction: Jurisdiction::KZ,
            command_id: CommandId(uuid::Uuid::from_u128(u128::from(n))),
            causation_id: None,
            correlation_id: uuid::Uuid::nil(),
            actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
            payload: sample.event.to_payload().unwrap(),
            command_digest: None,
        };
        let offset = Offset(u64::try_from(slot.len()).unwrap());
        slot.push(EventEnvelope {
            position: Position { partition, offset },
            body,
            hash: ChainHash([0; 32]),
        });
    }
    partitions
}

fn build<S: ViewStore>(
    store: S,
    partitions: &[Vec<EventEnvelope>],
    cuts: &[usize],
) -> Projector<S> {
    let (mut projector, _) = Projector::open(store, projector::views::all()).unwrap();
    let mut cut = cuts.iter().copied().cycle();
    for events in partitions {
        let mut start = 0;
        while start < events.len() {
            let end = (start + cut.next().unwrap_or(1).max(1)).min(events.len());
            projector.step(&events[start..end]).unwrap();
            start = end;
        }
    }
    projector
}

/// The periods of the sample, folded by the domain aggregate itself.
fn period_states(events: &[SampleEvent]) -> BTreeMap<(ContractId, ReportingPeriod), PeriodState> {
    let mut states: BTreeMap<(ContractId, ReportingPeriod), PeriodState> = BTreeMap::new();
    for sample in events {
        let key = match &sample.event {
            Event::DispensingRecorded(e) => (e.contract_id.clone(), e.period),
            Event::DispensingReversed(e) => (e.contract_id.clone(), e.period),
            Event::RegistrySubmitted(e) => (e.contract_id.clone(), e.period),
            Event::RegistryReceived(e) => (e.contract_id.clone(), e.period),
            Event::RegistryApproved(e) => (e.contract_id.clone(), e.period),
            Event::RegistryRejected(e) => (e.contract_id.clone(), e.period),
            _ => continue,
        };
        let state = states.remove(&key).unwrap_or_default();
        states.insert(key, period::evolve(state, &sample.event));
    }
    states
}

fn expected_status(state: &PeriodState) -> RegistryStatus {
    match state.registry_stage {
        RegistryStage::Open => RegistryStatus::Open,
        RegistryStage::Submitted if state.submissions > 1 => RegistryStatus::Resubmitted,
        RegistryStage::Submitted => RegistryStatus::Submitted,
        RegistryStage::Received => RegistryStatus::Received,
        RegistryStage::Rejected => RegistryStatus::Rejected,
        RegistryStage::Approved => RegistryStatus::Approved,
    }
}

fn check_registries(reader: &ProjectorReader<SimReader>, events: &[SampleEvent]) {
    for ((contract_id, period), state) in period_states(events) {
        let view = registry::read(reader, &contract_id, period)
            .unwrap()
            .expect("registry in view");
        let lines = registry_lines(&state);
        assert_eq!(view.lines, lines, "lines of {contract_id} {period}");
        assert_eq!(
            view.header.status,
            expected_status(&state),
            "status of {contract_id} {period}"
        );
        assert_eq!(view.header.submissions, state.submissions);
        let fund = Money::sum(
            view.totals.fund.currency,
            lines.iter().map(|line| &line.fund_amount),
        )
        .unwrap();
        assert_eq!(view.totals.fund, fund, "Σ15 of {contract_id} {period}");
    }
}

/// A plain fold of the act events: (status name, total, paid total, payments).
fn check_acts(reader: &ProjectorReader<SimReader>, events: &[SampleEvent]) {
    let mut model: BTreeMap<(ContractId, ReportingPeriod), (&str, Money, Money, usize)> =
        BTreeMap::new();
    for sample in events {
        match &sample.event {
            Event::PaymentActSubmitted(e) => {
                model.insert(
                    (e.contract_id.clone(), e.period),
                    ("sent", e.total, Money::zero(e.total.currency), 0),
                );
            }
            Event::PaymentActReceived(e) => {
                model.get_mut(&(e.contract_id.clone(), e.period)).unwrap().0 = "received"
            }
            Event::PaymentActSigned(e) => {
                model.get_mut(&(e.contract_id.clone(), e.period)).unwrap().0 = "signed"
            }
            Event::PaymentMade(e) => {
                let act = model.get_mut(&(e.contract_id.clone(), e.period)).unwrap();
                act.2 = e.paid_total;
                act.3 += 1;
                act.0 = if e.paid_total == act.1 {
                    "paid"
                } else {
                    "partly paid"
                };
            }
            _ => {}
        }
    }
    for ((contract_id, period), (status, total, paid, payments)) in model {
        let view = act::read(reader, &contract_id, period)
            .unwrap()
            .expect("act in view");
        assert_eq!(view.status.name(), status);
        assert_eq!(
            (view.total, view.paid_total, view.payments.len()),
            (total, paid, payments)
        );
    }
}

/// The budget lines against the domain's own budget fold.
fn check_budgets(reader: &ProjectorReader<SimReader>, events: &[SampleEvent]) {
    let mut model: BTreeMap<i32, Budget> = BTreeMap::new();
    for sample in events {
        let Some(year) = sample.stream.as_str().strip_prefix("budget/KZ/OSMS/") else {
            continue;
        };
        let year: i32 = year.parse().unwrap();
        let id = BudgetId::new(Jurisdiction::KZ, Programme::Osms, FiscalYear(year)).unwrap();
        let state = model.remove(&year).unwrap_or_else(|| Budget::new(id));
        let event: BudgetEvent = match sample.event.clone() {
            Event::BudgetAllocated(e) => BudgetEvent::BudgetAllocated(e),
            Event::BudgetTransferredToFund(e) => BudgetEvent::BudgetTransferredToFund(e),
            Event::BudgetCommitted(e) => BudgetEvent::BudgetCommitted(e),
            Event::BudgetPaid(e) => BudgetEvent::BudgetPaid(e),
            other => panic!("unexpected budget event {}", other.event_type()),
        };
        model.insert(year, budget::evolve(state, &event));
    }
    for (year, state) in model {
        let lines = budgets::lines(reader, "KZ", year).unwrap();
        assert_eq!(lines.len(), state.lines().count(), "lines of {year}");
        for (view, (region, line)) in lines.iter().zip(state.lines()) {
            assert_eq!(view.region, region);
            let figures = (
                view.allocated,
                view.transferred,
                view.committed,
                view.paid,
                view.balance,
            );
            assert_eq!(
                figures,
                (
                    line.allocated,
                    line.transferred,
                    line.committed,
                    line.paid,
                    line.balance
                )
            );
            assert!(!budgets::history(reader, view).unwrap().is_empty());
        }
    }
}

fn check_contracts_and_clocks(reader: &ProjectorReader<SimReader>, events: &[SampleEvent]) {
    let mut network: BTreeMap<String, usize> = BTreeMap::new();
    let mut clocks = 0;
    for sample in events {
        match &sample.event {
            Event::ContractApplicationReceived(e) => {
                network.insert(e.contract_id.to_string(), e.pharmacies.len());
                clocks += 1;
            }
            Event::RegistrySubmitted(e) if e.submission == 1 => clocks += 1,
            Event::RegistryReceived(_)
            | Event::PaymentActReceived(_)
            | Event::PaymentActSigned(_) => clocks += 1,
            _ => {}
        }
    }
    let records = contracts::all(reader).unwrap();
    let actual: BTreeMap<String, usize> = records
        .iter()
        .map(|record| (record.contract_id.clone(), record.pharmacies.len()))
        .collect();
    assert_eq!(actual, network);
    let instances = deadlines::all(reader).unwrap();
    assert_eq!(instances.len(), clocks, "one instance per clock start");
    // Every generated lifecycle runs to the end, so every clock was stopped.
    assert!(
        instances
            .iter()
            .all(|instance| instance.stopped_by.is_some())
    );
}

fn arb_config() -> impl Strategy<Value = SampleConfig> {
    (any::<u64>(), 1u32..4, 1u32..3, 0u32..30, any::<bool>()).prop_map(
        |(seed, contracts, periods, dispensings_per_period, lifecycle)| SampleConfig {
            seed,
            contracts,
            periods,
            dispensings_per_period,
            lifecycle,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn views_equal_the_in_memory_fold(config in arb_config(), cuts in prop::collection::vec(1usize..40, 1..5)) {
        let events = sample::events(config);
        let projector = build(SimStore::new(SimConfig::default()), &envelopes(&events), &cuts);
        let reader = projector.reader();
        check_registries(&reader, &events);
        check_acts(&reader, &events);
        check_budgets(&reader, &events);
        check_contracts_and_clocks(&reader, &events);
    }

    #[test]
    fn two_builds_of_the_same_events_are_byte_identical(
        config in arb_config(),
        first in prop::collection::vec(1usize..40, 1..5),
        second in prop::collection::vec(1usize..40, 1..5),
    ) {
        let partitions = envelopes(&sample::events(config));
        let one = build(SimStore::new(SimConfig::default()), &partitions, &first);
        let two = build(SimStore::new(SimConfig::default()), &partitions, &second);
        prop_assert_eq!(one.store().export().unwrap(), two.store().export().unwrap());
    }
}
