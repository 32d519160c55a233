//! A KG contract's month of dispensings on preferential prescriptions by PIN (E-11, D-11,
//! M-10…M-19), a few refused as the law requires (R-03: another drug than prescribed; D-11: an expired
//! prescription).
//!
//! The accepted dispensings of a contract's month are one batch (one upload, one append); each
//! scripted refusal is its own command, so that it refuses only itself.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::contract::kg::KgContractStage;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::{KgDispensing, KgPrescription};
use ledger::domain::money::{Currency, Quantity, UnitPrice, line_amount};
use ledger::domain::period::kg::{KgPeriodCommand, RecordKgDispensing};
use ledger::domain::region::Region;
use ledger::domain::values::{DispensingId, ReportingPeriod};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::period::{KgMonth, valid_days};
use super::{kg_local, pharmacy_actor, value};
use crate::demo::engine::Engine;
use crate::demo::world::{KgPharmacy, World};

/// Dispensings per concluded KG contract and month: the KG part is a small programme beside the
/// national KZ volume, and its size does not follow `--dispensings`.
pub const KG_DISPENSINGS_PER_MONTH: u32 = 40;

/// Refusals the demo scripted and the domain made, by rule ID (they append nothing, so the log
/// cannot count them).
#[derive(Debug, Default)]
pub struct KgRefusals(Mutex<BTreeMap<String, u32>>);

impl KgRefusals {
    fn record(&self, rule: &str) {
        *self
            .0
            .lock()
            .expect("refusal count lock")
            .entry(rule.to_owned())
            .or_default() += 1;
    }

    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.0.lock().expect("refusal count lock").clone()
    }
}

/// What a dispensing is scripted to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    /// R-03, M-18: a drug of another generic group than prescribed: nothing is reimbursed.
    OtherDrug,
    /// D-11: dispensed more than 30 calendar days after the prescription was written.
    Expired,
}

fn kind(index: u32) -> Kind {
    match index % 20 {
        7 => Kind::OtherDrug,
        13 => Kind::Expired,
        _ => Kind::Valid,
    }
}

/// One dispensing of the month, drawn from the seed.
fn draw(
    world: &World,
    pharmacy: &KgPharmacy,
    rng: &mut ChaCha8Rng,
    day: NaiveDate,
    number: String,
    kind: Kind,
) -> anyhow::Result<RecordKgDispensing> {
    let drugs = &world.kg_drugs;
    let prescribed_index = rng.gen_range(0..drugs.len());
    let prescribed = &drugs[prescribed_index];
    let dispensed_index = match kind {
        Kind::OtherDrug => (prescribed_index + 1) % drugs.len(),
        _ => prescribed_index,
    };
    let dispensed = &drugs[dispensed_index];
    let units: i64 = if super::package_size(dispensed) > 1 {
        30 * rng.gen_range(1..3)
    } else {
        1
    };
    let written_days_before = match kind {
        Kind::Expired => 40,
        _ => rng.gen_range(0..20),
    };
    let regions: Vec<Region> = Region::all(Jurisdiction::KG).collect();
    let quantity = value(Quantity::new(rust_decimal::Decimal::from(units)))?;
    let retail = value(UnitPrice::new(dispensed.trade_unit_price))?;
    let compensation = value(UnitPrice::new(dispensed.compensation_unit_price))?;
    // M-12: the patient pays the retail total less the compensation.
    let patient_paid = value(
        value(line_amount(quantity, retail, Currency::KGS))?.checked_sub(value(line_amount(
            quantity,
            compensation,
            Currency::KGS,
        ))?),
    )?;
    let dispensed_on = day;
    Ok(RecordKgDispensing {
        dispensing_id: value(DispensingId::new(number.replace("RX", "KGD")))?,
        dispensed_at: kg_local(dispensed_on, rng.gen_range(9..20)),
        prescription: KgPrescription {
            number,
            patient_pin: world.kg_patients[rng.gen_range(0..world.kg_patients.len())].clone(),
            written_on: dispensed_on - chrono::Duration::days(written_days_before),
            prescriber_region: regions[rng.gen_range(0..regions.len())],
            drug_id: super::drug_id(prescribed_index)?,
            generic_group: super::generic_group(prescribed),
            course_dose_units: quantity,
            eligibility: Some(ledger::domain::kg::PatientEligibility {
                insured: true,
                phc_registered: true,
                checked_on: dispensed_on - chrono::Duration::days(written_days_before),
            }),
        },
        dispensing: KgDispensing {
            drug_id: super::drug_id(dispensed_index)?,
            units: quantity,
            dispensed_on,
            pharmacy_region: pharmacy.region,
            retail_unit_price: retail,
            shelf_unit_price: Some(retail),
            approved_retail_unit_price: None,
            patient_paid,
        },
    })
}

/// The month's dispensings of one contract: (accepted batch, scripted refusals).
fn month_of_dispensings(
    world: &World,
    index: usize,
    pharmacy: &KgPharmacy,
    period: ReportingPeriod,
    days: &[NaiveDate],
) -> anyhow::Result<(Vec<KgPeriodCommand>, Vec<KgPeriodCommand>)> {
    let salt = u64::from(period.first_day().year().unsigned_abs()) * 100
        + u64::from(period.first_day().month());
    let mut rng = ChaCha8Rng::seed_from_u64(world.seed ^ salt ^ (u64::try_from(index)? << 32));
    let (mut valid, mut refused) = (Vec::new(), Vec::new());
    for number in 0..KG_DISPENSINGS_PER_MONTH {
        let day = days[rng.gen_range(0..days.len())];
        let rx = format!(
            "RX-{}-{}-{:04}",
            pharmacy.contract_id,
            period.key(),
            number + 1
        );
        let command = KgPeriodCommand::RecordDispensing(Box::new(draw(
            world,
            pharmacy,
            &mut rng,
            day,
            rx,
            kind(number),
        )?));
        if kind(number) == Kind::Valid {
            valid.push(command);
        } else {
            refused.push(command);
        }
    }
    valid.sort_by_key(KgPeriodCommand::at);
    Ok((valid, refused))
}

/// Records one contract's month: the accepted batch, then each scripted refusal on its own.
async fn dispense_contract(world: &World, index: usize, month: &KgMonth<'_>) -> anyhow::Result<()> {
    let days = valid_days(&month.contract, month.period);
    if month.contract.stage == KgContractStage::Refused || days.is_empty() {
        return Ok(());
    }
    let pharmacy = month.pharmacy;
    let (valid, refused) = month_of_dispensings(world, index, pharmacy, month.period, &days)?;
    let step = month.step("dispensings");
    let engine = month.engine;
    if engine
        .log
        .command_outcome(engine.command_id(&step))
        .await?
        .is_some()
    {
        // Recorded by an earlier run of the same demo: its refusals were counted then, and would
        // now be refused for the closed report instead (P-09).
        return Ok(());
    }
    let actor = pharmacy_actor(pharmacy);
    if let Err(refusal) = month.execute(&step, actor.clone(), valid).await? {
        bail!("KG dispensings {step} were refused: {refusal}");
    }
    for command in refused {
        let KgPeriodCommand::RecordDispensing(record) = &command else {
            unreachable!("only dispensings are scripted to be refused")
        };
        let step = format!("{step}/{}", record.dispensing_id);
        match month.execute(&step, actor.clone(), vec![command]).await? {
            Ok(()) => bail!("KG dispensing {step} was accepted against the law"),
            Err(refusal) => engine.kg_refusals.record(refusal.rule()),
        }
    }
    Ok(())
}

/// Records the month's KG dispensings of every KG contract in force in it. Renewals falling in the
/// month are decided first: a dispensing after the first term needs the second (C-10).
pub async fn dispense_month(
    engine: &Engine,
    world: &World,
    period: ReportingPeriod,
) -> anyhow::Result<()> {
    super::decide_renewals(engine, world, period.last_day()).await?;
    for (index, pharmacy) in world.kg_pharmacies.iter().enumerate() {
        let month = KgMonth::load(engine, pharmacy, period).await?;
        dispense_contract(world, index, &month).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::domain::kg::DrugId;

    #[test]
    fn two_refusals_scripted_in_every_twenty() {
        let kinds: Vec<Kind> = (0..20).map(kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::OtherDrug).count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Expired).count(), 1);
    }

    #[test]
    fn drug_ids_name_the_book_entries() {
        assert_eq!(
            super::super::drug_id(0).unwrap(),
            DrugId::new("KG-RB-0001").unwrap()
        );
    }
}
