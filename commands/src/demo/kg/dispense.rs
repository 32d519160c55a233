//! The KG programme at volume (issue #17): `--kg-dispensings` sales a month over the KG contracts in
//! force, drawn by `cases` (E-11, D-11, M-10…M-19, R-03, A-18, E-08, V-03, O-01), recorded through the
//! KG period aggregate exactly as the JSON writer records them (`kg_context`: the contract's other
//! periods, the pharmacy's recoveries).
//!
//! The accepted sales of a contract's month go in batches of [`KG_BATCH_DISPENSINGS`] (one command id
//! each); each sale the law refuses is its own command, so that it refuses only itself, and is
//! counted by the rule that refused it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::bail;
use ledger::domain::contract::kg::KgContractStage;
use ledger::domain::period::kg::KgPeriodCommand;
use ledger::domain::values::ReportingPeriod;

use super::cases::{self, Month, MonthPlan};
use super::period::{KgMonth, valid_days};
use super::pharmacy_actor;
use crate::demo::engine::Engine;
use crate::demo::world::World;

/// Sales per append: a day's upload of a busy pharmacy, one group commit.
pub const KG_BATCH_DISPENSINGS: usize = 1000;

/// The sales and dispute claims the demo drew and the domain refused, by rule ID (they append
/// nothing, so the log cannot count them).
#[derive(Debug, Default)]
pub struct KgRefusals {
    dispensings: Mutex<BTreeMap<String, u32>>,
    claims: Mutex<BTreeMap<String, u32>>,
}

impl KgRefusals {
    fn record(&self, rule: &str) {
        count(&self.dispensings, rule);
    }

    pub fn record_claim(&self, rule: &str) {
        count(&self.claims, rule);
    }

    /// The refused sales by rule.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.dispensings.lock().expect("refusal count lock").clone()
    }

    /// The refused dispute claims by rule.
    pub fn claim_counts(&self) -> BTreeMap<String, u32> {
        self.claims.lock().expect("refusal count lock").clone()
    }
}

fn count(counts: &Mutex<BTreeMap<String, u32>>, rule: &str) {
    *counts
        .lock()
        .expect("refusal count lock")
        .entry(rule.to_owned())
        .or_default() += 1;
}

/// The contracts in force in `period` (and the days they are), and each one's share of `total`.
fn shares(months: &[KgMonth<'_>], total: u64) -> Vec<u64> {
    let active: Vec<bool> = months
        .iter()
        .map(|month| {
            month.contract.stage != KgContractStage::Refused
                && !valid_days(&month.contract, month.period).is_empty()
        })
        .collect();
    let count = u64::try_from(active.iter().filter(|active| **active).count()).expect("small");
    let mut left = total;
    let mut shares = Vec::new();
    for (position, in_force) in active.iter().enumerate() {
        if !*in_force {
            shares.push(0);
            continue;
        }
        let later =
            u64::try_from(active[position + 1..].iter().filter(|a| **a).count()).expect("small");
        let share = if later == 0 {
            left
        } else {
            total / count.max(1)
        };
        left -= share;
        shares.push(share);
    }
    shares
}

/// The month's plan of one contract, with the rests of last month's partial sales.
fn plan_of(
    world: &World,
    index: usize,
    month: &KgMonth<'_>,
    count: u64,
    previous_count: Option<u64>,
) -> anyhow::Result<MonthPlan> {
    let days = valid_days(&month.contract, month.period);
    let this = Month {
        world,
        index,
        pharmacy: month.pharmacy,
        period: month.period,
        days: &days,
    };
    let carried = match (previous_count, previous(month.period)) {
        (Some(count), Some(period)) => {
            let days = valid_days(&month.contract, period);
            let last = Month {
                period,
                days: &days,
                ..this
            };
            let last_plan = cases::plan(&last, count, Vec::new())?;
            cases::carry(&last_plan, &this)?
        }
        _ => Vec::new(),
    };
    cases::plan(&this, count, carried)
}

fn previous(period: ReportingPeriod) -> Option<ReportingPeriod> {
    let day = period.first_day().pred_opt()?;
    ReportingPeriod::month(chrono::Datelike::year(&day), chrono::Datelike::month(&day)).ok()
}

/// Records one contract's month: the accepted sales in batches, then each refusal on its own.
/// Returns how many sales were recorded.
async fn dispense_contract(month: &KgMonth<'_>, plan: MonthPlan) -> anyhow::Result<u64> {
    let engine = month.engine;
    let step = month.step("dispensings/0");
    if engine
        .log
        .command_outcome(engine.command_id(&step))
        .await?
        .is_some()
    {
        // Recorded by an earlier run of the same demo: its refusals were counted then, and would
        // now be refused for the closed report instead (P-09).
        return Ok(0);
    }
    let actor = pharmacy_actor(month.pharmacy);
    let mut recorded = 0u64;
    for (batch, sales) in plan.recorded.chunks(KG_BATCH_DISPENSINGS).enumerate() {
        let step = month.step(&format!("dispensings/{batch}"));
        let commands: Vec<KgPeriodCommand> = sales
            .iter()
            .map(|sale| KgPeriodCommand::RecordDispensing(Box::new(sale.command.clone())))
            .collect();
        if let Err(refusal) = month.execute(&step, actor.clone(), commands).await? {
            bail!("KG dispensings {step} were refused: {refusal}");
        }
        recorded += u64::try_from(sales.len()).expect("a small batch");
    }
    for sale in plan.refused {
        let step = month.step(&format!("dispensings/{}", sale.command.dispensing_id));
        let command = KgPeriodCommand::RecordDispensing(Box::new(sale.command));
        match month.execute(&step, actor.clone(), vec![command]).await? {
            Ok(()) => bail!(
                "KG dispensing {step} was accepted against {}",
                sale.case.rule()
            ),
            Err(refusal) if refusal.rule() != sale.case.rule() => bail!(
                "KG dispensing {step} drawn to be refused by {} was refused by {}: {refusal}",
                sale.case.rule(),
                refusal.rule()
            ),
            Err(refusal) => engine.kg_refusals.record(refusal.rule()),
        }
    }
    Ok(recorded)
}

/// Records the month's KG sales (`total` over the KG contracts in force; the previous month's
/// `previous_total`, if the demo drew one, for the rests carried from it). Renewals falling in the
/// month are decided first: a sale after the first term needs the second (C-10). Returns the number
/// of sales recorded.
pub async fn dispense_month(
    engine: &Engine,
    world: &World,
    period: ReportingPeriod,
    total: u64,
    previous_total: Option<u64>,
) -> anyhow::Result<u64> {
    super::decide_renewals(engine, world, period.last_day()).await?;
    let mut months = Vec::new();
    for pharmacy in &world.kg_pharmacies {
        months.push(KgMonth::load(engine, pharmacy, period).await?);
    }
    let counts = shares(&months, total);
    let previous_counts = previous(period).and_then(|before| {
        previous_total.map(|total| {
            let months: Vec<KgMonth<'_>> = months
                .iter()
                .map(|month| KgMonth {
                    period: before,
                    contract: month.contract.clone(),
                    books: month.books.clone(),
                    ..*month
                })
                .collect();
            shares(&months, total)
        })
    });
    let mut recorded = 0;
    for (index, month) in months.iter().enumerate() {
        let previous_count = previous_counts.as_ref().map(|counts| counts[index]);
        let plan = plan_of(world, index, month, counts[index], previous_count)?;
        recorded += dispense_contract(month, plan).await?;
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::cases::Case;
    use super::*;

    /// A month's plan at volume holds every case, drawn the same for the same seed, and the rests of
    /// the partial sales are carried into the next month with their prescriptions.
    #[test]
    fn a_month_at_volume_holds_every_case_and_carries_its_partial_sales() {
        let world = World::generate(11, 3, 4, 500);
        let january = ReportingPeriod::month(2026, 1).unwrap();
        let february = ReportingPeriod::month(2026, 2).unwrap();
        let days = |period: ReportingPeriod| -> Vec<chrono::NaiveDate> {
            period
                .first_day()
                .iter_days()
                .take_while(|day| *day <= period.last_day())
                .collect()
        };
        let (january_days, february_days) = (days(january), days(february));
        let month = |period, days| Month {
            world: &world,
            index: 0,
            pharmacy: &world.kg_pharmacies[0],
            period,
            days,
        };
        let plan = cases::plan(&month(january, &january_days), 2_000, Vec::new()).unwrap();
        let again = cases::plan(&month(january, &january_days), 2_000, Vec::new()).unwrap();
        assert_eq!(
            format!("{:?}", plan.recorded),
            format!("{:?}", again.recorded)
        );
        let cases: std::collections::BTreeSet<Case> = plan
            .recorded
            .iter()
            .chain(&plan.refused)
            .map(|sale| sale.case)
            .collect();
        for case in [
            Case::Regular,
            Case::Substituted,
            Case::OverCourse,
            Case::OverCap,
            Case::Partial,
            Case::Expired,
            Case::OtherDrug,
            Case::Uninsured,
            Case::SecondDrug,
            Case::Backdated,
        ] {
            assert!(cases.contains(&case), "{case:?} is drawn");
        }
        assert_eq!(plan.recorded.len() + plan.refused.len(), 2_000);
        let carried = cases::carry(&plan, &month(february, &february_days)).unwrap();
        let partial = plan
            .recorded
            .iter()
            .filter(|sale| sale.case == Case::Partial)
            .count();
        assert!(!carried.is_empty() && carried.len() <= partial);
        for sale in &carried {
            let first = plan
                .recorded
                .iter()
                .find(|first| first.command.prescription.number == sale.command.prescription.number)
                .expect("a carried sale continues a January prescription");
            let course = sale.command.prescription.course_dose_units.value();
            assert_eq!(
                first.command.dispensing.units.value() + sale.command.dispensing.units.value(),
                course,
                "A-18: the rest of the course"
            );
        }
    }
}
