//! The facts of issue #17 the deadline view folds: the conclusions that start a contract's monthly
//! schedule, the renewals and terminations that extend or end it, the first submissions that stop a
//! month's clock, and the breaches recorded for any clock (`DeadlineBreached`).

use ledger::domain::calendar::{deadline_end, local_date};
use ledger::domain::clock::ClockRule;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::log::EventEnvelope;

use super::{Breach, ClockInstance, change_open, monthly, open_instance, start, stop_open};
use crate::view::{ViewError, ViewTxn};

/// Folds what concerns the monthly clocks and breaches; `true` when the event is fully handled.
pub(super) fn fold(
    txn: &mut ViewTxn<'_>,
    envelope: &EventEnvelope,
    event: &Event,
) -> Result<bool, ViewError> {
    let event_id = envelope.body.event_id;
    match event {
        Event::ContractConcluded(e) => {
            concluded(txn, envelope, e)?;
            Ok(false)
        }
        Event::KgContractConcluded(e) => {
            let due = e.report_due;
            monthly::conclude(
                txn,
                &e.contract_id,
                Jurisdiction::KG,
                due,
                None,
                e.term,
                event_id,
            )?;
            Ok(false)
        }
        Event::ContractRenewed(e) => {
            monthly::change_schedule(
                txn,
                &e.contract_id,
                ClockRule::KgPaymentReport,
                |schedule| {
                    schedule.terms.push(e.term);
                },
            )?;
            Ok(true)
        }
        Event::TerminationNoticeReceived(e) => {
            let ended_on = local_date(Jurisdiction::KZ, e.received_at);
            let rule = ClockRule::RegistrySubmission;
            monthly::change_schedule(txn, &e.contract_id, rule, |schedule| {
                schedule.ended_on = Some(ended_on);
            })?;
            Ok(true)
        }
        Event::RegistrySubmitted(e) if e.submission == 1 => {
            registry_submitted(txn, envelope, event, e)?;
            Ok(true)
        }
        Event::KgPaymentReportSubmitted(e) if e.submission == 1 && e.period.is_whole_month() => {
            let rule = ClockRule::KgPaymentReport;
            let stop = (e.submitted_at, monthly::stopped_by(rule).to_owned());
            monthly::change_month(txn, &e.contract_id, rule, e.period, event_id, |facts| {
                facts.stopped.get_or_insert(stop);
            })?;
            Ok(true)
        }
        Event::KgPaymentReportSubmitted(_) | Event::RegistrySubmitted(_) => Ok(true),
        Event::DeadlineBreached(e) => {
            record_breach(txn, envelope, event, e)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// A KZ contract's schedule of registries (D-02). A v1 conclusion carried no due terms: the law's
/// 25th on the calendar version of the contract's own review clock, which this conclusion stops.
fn concluded(
    txn: &mut ViewTxn<'_>,
    envelope: &EventEnvelope,
    e: &ledger::domain::contract::events::ContractConcluded,
) -> Result<(), ViewError> {
    let review = open_instance(
        txn,
        envelope.body.stream.as_str(),
        ClockRule::ContractReview,
    )?
    .map(|key| txn.get_decoded::<ClockInstance>(&key))
    .transpose()?
    .flatten()
    .map(|instance| instance.deadline().calendar_version);
    monthly::conclude(
        txn,
        &e.contract_id,
        Jurisdiction::KZ,
        e.registry_due,
        review,
        e.term,
        envelope.body.event_id,
    )
}

/// D-02, A-06: the first submission stops the registry's clock, judged on the deadline the
/// submission was decided with. A calendar month's clock is a monthly clock; a shorter period's
/// (P-02) is stored on its stream.
fn registry_submitted(
    txn: &mut ViewTxn<'_>,
    envelope: &EventEnvelope,
    event: &Event,
    e: &ledger::domain::period::events::RegistrySubmitted,
) -> Result<(), ViewError> {
    let rule = ClockRule::RegistrySubmission;
    if e.period.is_whole_month() {
        let stop = (e.submitted_at, monthly::stopped_by(rule).to_owned());
        let event_id = envelope.body.event_id;
        return monthly::change_month(txn, &e.contract_id, rule, e.period, event_id, |facts| {
            facts.deadline = Some(e.due);
            facts.stopped.get_or_insert(stop);
        });
    }
    let stream = envelope.body.stream.as_str();
    if open_instance(txn, stream, rule)?.is_none() {
        start(txn, envelope, event, e.due, e.submitted_at)?;
    }
    stop_open(
        txn,
        stream,
        rule,
        e.submitted_at,
        "RegistrySubmitted",
        |_| true,
    )
}

/// Issue #17: a `DeadlineBreached` marks its clock; a monthly clock's breach also fixes the month's
/// deadline to the one the breach was decided with (DESIGN §2).
fn record_breach(
    txn: &mut ViewTxn<'_>,
    envelope: &EventEnvelope,
    event: &Event,
    e: &ledger::domain::breach::DeadlineBreached,
) -> Result<(), ViewError> {
    let rule = e.deadline.rule;
    let breach = Breach {
        breached_at: e.breached_at,
        observed_at: e.observed_at,
        event_id: envelope.body.event_id,
    };
    let monthly_period = e.period.filter(|period| {
        period.is_whole_month()
            && matches!(
                rule,
                ClockRule::RegistrySubmission | ClockRule::KgPaymentReport
            )
    });
    if let Some(period) = monthly_period {
        let event_id = envelope.body.event_id;
        return monthly::change_month(txn, &e.contract_id, rule, period, event_id, |facts| {
            facts.deadline.get_or_insert(e.deadline);
            facts.breach = Some(breach);
        });
    }
    let stream = envelope.body.stream.as_str();
    if open_instance(txn, stream, rule)?.is_none() {
        // A clock the view did not store (a shorter period's registry): it runs from its deadline.
        let started_at = deadline_end(envelope.body.jurisdiction, e.deadline.started_on);
        start(
            txn,
            envelope,
            event,
            e.deadline,
            started_at.min(e.breached_at),
        )?;
    }
    change_open(txn, stream, rule, |instance| {
        instance.breach = Some(breach);
        Ok(())
    })
}
