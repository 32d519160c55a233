//! The cross-period facts a KG settlement decision needs and its own stream cannot answer (issue #4,
//! docs/kg.md): the contract's *other* KG periods (units already dispensed on a prescription that
//! D-11 lets span two months, A-18/M-14; the patient's compensation this calendar year, A-19) and the
//! pharmacy's outstanding recoveries with the offsets earlier settlements made.
//!
//! Scope, and why: the history is the contract's, that is the pharmacy's (one KG contract per
//! pharmacy, renewed in place, C-08/A-22). The law counts the course dose per prescription and A-19
//! per patient whatever the pharmacy (E-11), but A-19 is an indicative *prescribing* limit that only
//! warns (RULES A-19), and a prescription is closed by its first dispensing by default; reading
//! every pharmacy's periods would mean reading every partition for each sale. So the writer counts
//! within the contract's partition, and the patient-wide view is left to the information system.
//!
//! Cost: the contract's period streams live on the contract's partition (`StreamId::partition_key`).
//! The first KG period command on a partition reads it once and folds the KG periods of every
//! contract there (decoding only KG settlement events and recovery offsets); afterwards only what was
//! appended since is read, its own appends included. The history a decision reads is kept per
//! appended dispensing (all periods, and each period's own share) and handed out as two shared
//! handles, answered by subtraction: a KG command costs the same whether the contract has dispensed
//! a hundred times or a million (issue #17: no quadratic path in the KG settlement). The dispatcher's lock per partition key (one per contract) is held from
//! the read through the append, so two periods of one contract never decide on each other's stale history.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::domain::kg::DrugId;
use ledger::domain::kg::recovery::{self, Recoveries, RecoveryEvent, RecoveryOffset};
use ledger::domain::money::{Money, Quantity};
use ledger::domain::period::kg::{self, KgDispensingHistory, KgPeriodHistory, KgPeriodState};
use ledger::domain::time::Timestamp;
use ledger::log::{EventLog, Offset, PartitionId, StreamId, partition_of, read_partition};
use rust_decimal::Decimal;

use crate::handler::HandlerError;
use crate::writer::decode;

/// The folded KG period streams of one contract, with the dispensing history kept per append.
#[derive(Debug, Default)]
pub struct ContractPeriods {
    /// `period/<contract>/<YYYY-MM>` → its folded KG state.
    periods: BTreeMap<String, KgPeriodState>,
    /// Every period's dispensings together (A-18, A-19, V-03), kept up per event.
    all: Arc<KgPeriodHistory>,
    /// `period/<contract>/<YYYY-MM>` → that period's own dispensings, kept up per event.
    own: BTreeMap<String, Arc<KgPeriodHistory>>,
    /// Every recovery offset the contract's settlements made, in log order.
    offsets: Vec<RecoveryOffset>,
    /// `period/<contract>/<YYYY-MM>` → when its payment report was first submitted (A-27: a dispute
    /// window closes then, and a rejection and resubmission do not reopen it).
    first_reports: BTreeMap<String, Timestamp>,
}

impl ContractPeriods {
    fn apply(&mut self, stream: &str, event: &Event) {
        match event {
            Event::RecoveryOffset(offset) => self.offsets.push(offset.clone()),
            Event::KgPaymentReportSubmitted(report) => {
                self.first_reports
                    .entry(stream.to_owned())
                    .or_insert(report.submitted_at);
            }
            Event::KgDispensingRecorded(recorded) => {
                Arc::make_mut(&mut self.all).record(recorded);
                Arc::make_mut(self.own.entry(stream.to_owned()).or_default()).record(recorded);
            }
            Event::KgDispensingReversed(reversed) => {
                let withdrawn = self
                    .periods
                    .get(stream)
                    .and_then(|state| state.dispensings.get(&reversed.dispensing_id));
                if let Some(recorded) = withdrawn {
                    Arc::make_mut(&mut self.all).withdraw(recorded);
                    Arc::make_mut(self.own.entry(stream.to_owned()).or_default())
                        .withdraw(recorded);
                }
            }
            _ => {}
        }
        let state = self.periods.remove(stream).unwrap_or_default();
        self.periods
            .insert(stream.to_owned(), kg::evolve(state, event));
    }

    /// The dispensings of every period of the contract but `stream` (A-18, A-19, V-03): two shared
    /// handles, whatever the history's size (the writer asks this for every KG command).
    pub fn history_without(&self, stream: &StreamId) -> OtherPeriods {
        OtherPeriods {
            all: Arc::clone(&self.all),
            own: self.own.get(stream.as_str()).cloned(),
        }
    }

    /// `assessed` (the pharmacy's recovery stream) with the offsets the contract's settlements made
    /// what is still outstanding. An offset of a recovery that is not the pharmacy's
    /// (it cannot be: approval offsets only the pharmacy's) is skipped rather than trusted.
    pub fn recoveries(&self, assessed: Recoveries) -> Recoveries {
        self.offsets.iter().fold(assessed, |recoveries, offset| {
            if recoveries.get(&offset.recovery_id).is_none() {
                return recoveries;
            }
            recovery::evolve(recoveries, &RecoveryEvent::RecoveryOffset(offset.clone()))
        })
    }
}

/// The dispensings of a contract's other periods: all of its periods less the one being decided,
/// answered by subtraction (A-18 units, A-19 compensation; V-03 the prescription's drug).
#[derive(Debug, Clone, Default)]
pub struct OtherPeriods {
    all: Arc<KgPeriodHistory>,
    own: Option<Arc<KgPeriodHistory>>,
}

impl KgDispensingHistory for OtherPeriods {
    fn dispensed_units(&self, pin: &str, number: &str) -> Option<Quantity> {
        let all = self.all.dispensed_units(pin, number)?.value();
        let own = self
            .own
            .as_ref()
            .and_then(|own| own.dispensed_units(pin, number))
            .map_or(Decimal::ZERO, Quantity::value);
        Quantity::new(all - own).ok()
    }

    fn compensated(&self, pin: &str, year: i32) -> Option<Money> {
        let all = self.all.compensated(pin, year)?;
        let own = self.own.as_ref().and_then(|own| own.compensated(pin, year));
        let other = match own {
            Some(own) => all
                .checked_sub(own)
                .expect("a period's compensation is part of the whole"),
            None => all,
        };
        (other.minor != 0).then_some(other)
    }

    fn prescribed_drug(&self, pin: &str, number: &str) -> Option<DrugId> {
        // The first drug a prescription was recorded for; the period being decided checks its own.
        self.all.prescribed_drug(pin, number)
    }
}

/// The KG period streams of one partition, folded per contract, as far as the partition was read:
/// one scan serves every contract on the partition.
#[derive(Debug, Default)]
struct PartitionPeriods {
    /// The next partition offset to read.
    next: u64,
    contracts: HashMap<String, ContractPeriods>,
}

impl PartitionPeriods {
    /// Folds what `partition` gained since the last call. Only KG settlement events and recovery
    /// offsets are decoded; the (far more numerous) KZ records are skipped on their envelope.
    async fn catch_up(
        &mut self,
        log: &dyn EventLog,
        partition: PartitionId,
    ) -> Result<(), HandlerError> {
        let mut records = read_partition(log, partition, Offset(self.next));
        while let Some(record) = records.next().await {
            let envelope = record?;
            self.next = envelope.position.offset.0 + 1;
            let body = &envelope.body;
            let event_type = body.payload.event_type.as_str();
            if !(event_type.starts_with("Kg") || event_type == "RecoveryOffset") {
                continue;
            }
            let mut segments = body.stream.as_str().split('/');
            let (Some("period"), Some(contract_id)) = (segments.next(), segments.next()) else {
                continue;
            };
            let event = decode(&envelope)?;
            self.contracts
                .entry(contract_id.to_owned())
                .or_default()
                .apply(body.stream.as_str(), &event);
        }
        Ok(())
    }
}

/// The writer's cross-period view of the KG periods: one [`PartitionPeriods`] per partition (read
/// under a short lock). The dispatcher decides a contract's commands one at a time (its lock per
/// partition key, held through the append), so the next decision of any period of the contract reads
/// this one's events.
#[derive(Debug, Default)]
pub struct KgPeriodCache {
    partitions: Mutex<HashMap<PartitionId, Arc<tokio::sync::Mutex<PartitionPeriods>>>>,
}

impl KgPeriodCache {
    /// The history of every KG period of `contract` but `stream`, and `assessed` less the offsets
    /// the contract's settlements made, as of the end of the contract's partition.
    pub async fn context(
        &self,
        log: &dyn EventLog,
        contract: &StreamId,
        stream: &StreamId,
        assessed: Recoveries,
    ) -> Result<(OtherPeriods, Recoveries), HandlerError> {
        self.read(log, contract, |periods| match periods {
            Some(periods) => (
                periods.history_without(stream),
                periods.recoveries(assessed),
            ),
            None => (OtherPeriods::default(), assessed),
        })
        .await
    }

    /// When the payment report of the KG period `stream` of `contract` was first submitted, as of the
    /// end of the contract's partition (A-27, D-12: it closes the period's dispute window).
    pub async fn report_submitted_at(
        &self,
        log: &dyn EventLog,
        contract: &StreamId,
        stream: &StreamId,
    ) -> Result<Option<Timestamp>, HandlerError> {
        self.read(log, contract, |periods| {
            periods.and_then(|periods| periods.first_reports.get(stream.as_str()).copied())
        })
        .await
    }

    /// Brings the contract's partition up to date and reads the contract's folded periods (None when
    /// it has no KG period events).
    async fn read<R>(
        &self,
        log: &dyn EventLog,
        contract: &StreamId,
        read: impl FnOnce(Option<&ContractPeriods>) -> R,
    ) -> Result<R, HandlerError> {
        let partition = partition_of(contract, log.partitions());
        let scan = {
            let mut partitions = self.partitions.lock().expect("KG partition cache lock");
            Arc::clone(partitions.entry(partition).or_default())
        };
        let mut scan = scan.lock().await;
        scan.catch_up(log, partition).await?;
        let contract_id = contract.as_str().trim_start_matches("contract/");
        Ok(read(scan.contracts.get(contract_id)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use ledger::domain::kg::recovery::{Debtor, RecoveryAssessed, RecoveryGround};
    use ledger::domain::money::{Currency, Money, Quantity};
    use ledger::domain::period::kg::KgDispensingHistory;
    use proptest::prelude::*;

    use super::*;

    const PIN: &str = "21501199012345";

    fn period_stream(month: u32) -> String {
        format!("period/KG-1/2026-{month:02}")
    }

    /// Periods 1…3, each with `units` dispensed on RX-1 when positive, through the events a
    /// writer appends; with `reversed`, each period's dispensing is recorded twice and one reversed.
    fn periods(units: &[u32], reversed: bool) -> ContractPeriods {
        let mut periods = ContractPeriods::default();
        for (month, units) in (1..).zip(units) {
            if *units == 0 {
                continue;
            }
            let stream = period_stream(month);
            let mut recorded = kg::example::recorded();
            recorded.prescription.number = "RX-1".to_owned();
            recorded.reimbursement.dispensed_units = Quantity::new((*units).into()).unwrap();
            recorded.dispensing_id = format!("D-{month}").parse().unwrap();
            periods.apply(&stream, &Event::KgDispensingRecorded(recorded.clone()));
            if reversed {
                let mut again = recorded;
                again.dispensing_id = format!("D-{month}-again").parse().unwrap();
                periods.apply(&stream, &Event::KgDispensingRecorded(again.clone()));
                let reversal = kg::KgDispensingReversed {
                    contract_id: again.contract_id,
                    period: again.period,
                    dispensing_id: again.dispensing_id,
                    reversed_at: Timestamp::parse_rfc3339("2026-03-31T10:00:00Z").unwrap(),
                    reason: "entered twice".to_owned(),
                    reimbursement: again.reimbursement.reimbursement,
                };
                periods.apply(&stream, &Event::KgDispensingReversed(reversal));
            }
        }
        periods
    }

    proptest! {
        /// the history a period decides on holds exactly the other periods' units of the
        /// prescription, never its own.
        #[test]
        fn history_is_the_other_periods(
            units in proptest::collection::vec(0u32..100, 1..4),
            own in 0usize..4,
            reversed in any::<bool>(),
        ) {
            let own = own % units.len();
            let periods = periods(&units, reversed);
            let stream = StreamId::new(period_stream(u32::try_from(own + 1).unwrap())).unwrap();
            let others: u32 = units
                .iter()
                .enumerate()
                .filter(|(index, _)| *index != own)
                .map(|(_, units)| units)
                .sum();
            let seen = periods
                .history_without(&stream)
                .dispensed_units(PIN, "RX-1")
                .map(|units| units.value());
            prop_assert_eq!(seen, (others > 0).then(|| others.into()));
        }
    }

    fn assessed(recovery_id: &str, minor: i64) -> Recoveries {
        let assessment = RecoveryAssessed {
            recovery_id: recovery_id.to_owned(),
            debtor: Debtor::Pharmacy("01234567890123".to_owned()),
            ground: RecoveryGround::FaultyAfterDispensing,
            inspection_act_ref: "ACT-1".to_owned(),
            amount: Money::new(minor, Currency::KGS),
            assessed_on: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        };
        let event = recovery::decide_assessment(&Recoveries::new(), assessment).unwrap();
        recovery::evolve(Recoveries::new(), &event)
    }

    fn offset(recovery_id: &str, minor: i64) -> RecoveryOffset {
        RecoveryOffset {
            recovery_id: recovery_id.to_owned(),
            settlement_ref: format!("KG-1/2026-03/{recovery_id}"),
            inspection_act_ref: "ACT-1".to_owned(),
            amount: Money::new(minor, Currency::KGS),
            offset_on: NaiveDate::from_ymd_opt(2026, 4, 10).unwrap(),
        }
    }

    fn report(submission: u32, submitted_at: &str) -> Event {
        Event::KgPaymentReportSubmitted(kg::KgPaymentReportSubmitted {
            contract_id: "KG-1".parse().unwrap(),
            period: ledger::domain::values::ReportingPeriod::month(2026, 3).unwrap(),
            report_no: "KG-R-2026-03".parse().unwrap(),
            submitted_at: Timestamp::parse_rfc3339(submitted_at).unwrap(),
            submission,
            line_count: 0,
            content_hash: ledger::domain::values::DocumentHash::of(&submission),
            total_reimbursement: Money::zero(Currency::KGS),
            total_retail: Money::zero(Currency::KGS),
            total_patient_paid: Money::zero(Currency::KGS),
        })
    }

    /// A-27, D-12: a period's dispute window closes at its report's first submission; a
    /// resubmission after a rejection does not move it, and other periods are not affected.
    #[test]
    fn a27_the_first_report_submission_closes_the_window() {
        let mut periods = ContractPeriods::default();
        let march = period_stream(3);
        periods.apply(&march, &report(1, "2026-04-02T04:00:00Z"));
        periods.apply(&march, &report(2, "2026-04-09T04:00:00Z"));
        let first = Timestamp::parse_rfc3339("2026-04-02T04:00:00Z").unwrap();
        assert_eq!(periods.first_reports.get(&march), Some(&first));
        assert_eq!(periods.first_reports.get(&period_stream(4)), None);
    }

    /// what earlier settlements offset is no longer outstanding; an offset of a
    /// recovery the pharmacy's stream does not hold is not applied.
    #[test]
    fn r04_earlier_offsets_reduce_the_outstanding_debt() {
        let periods = ContractPeriods {
            offsets: vec![offset("REC-1", 1_500), offset("REC-9", 700)],
            ..ContractPeriods::default()
        };
        let recoveries = periods.recoveries(assessed("REC-1", 4_000));
        let outstanding = recoveries.get("REC-1").unwrap().outstanding();
        assert_eq!(outstanding, Money::new(2_500, Currency::KGS));
        assert!(recoveries.get("REC-9").is_none());
    }
}
