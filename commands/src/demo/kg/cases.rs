//! One KG contract's month of sales drawn from the seed (issue #17): mostly ordinary sales on
//! preferential prescriptions, and every case the KG engine decides, at volume: generic
//! substitution, units above the course dose, a reimbursement capped by what the patient paid, a
//! partial dispensing whose rest is carried into the next month, and the refusals (an expired
//! prescription, another drug than prescribed, an uninsured patient, a prescription number cited for
//! a second drug, a prescription dated after its sale).
//!
//! Pure and deterministic: the month's plan depends only on the world, the contract's position, the
//! month and the days it is in force, so the next month can draw the previous month's partial sales
//! again to carry their rest, and a re-run draws the same sales.

use chrono::{Datelike, NaiveDate};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::{KgDispensing, KgPrescription, PatientEligibility};
use ledger::domain::money::{Currency, Money, Quantity, UnitPrice, line_amount};
use ledger::domain::period::kg::RecordKgDispensing;
use ledger::domain::region::Region;
use ledger::domain::values::{DispensingId, KgPin, ReportingPeriod};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::{drug_id, generic_group, kg_local, package_size, value};
use crate::demo::world::{Drug, KgPharmacy, World};

/// What a sale is drawn to be, with the rule that decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Case {
    /// M-13: an ordinary sale, compensated per unit.
    Regular,
    /// M-18: another trade name of the prescribed generic group.
    Substituted,
    /// M-14: more units than the course dose; the patient pays the excess.
    OverCourse,
    /// M-15: the patient paid more than the retail total less the compensation; the reimbursement is
    /// capped at what is left.
    OverCap,
    /// half the course; the rest stays open (the demo's policy) and is carried.
    Partial,
    /// the rest of last month's partial sale, its earlier units read from the other period.
    Carried,
    /// D-11: sold 40 days after the prescription was written.
    Expired,
    /// a drug of another generic group than prescribed.
    OtherDrug,
    /// E-08: a patient not insured under CHI.
    Uninsured,
    /// V-03: the prescription number of an earlier sale of the month, cited for another drug.
    SecondDrug,
    /// O-01: a prescription dated after the sale.
    Backdated,
}

impl Case {
    /// The rule the case exercises (for a refusal, the rule that refuses it).
    pub fn rule(self) -> &'static str {
        match self {
            Case::Regular => "M-13",
            Case::Substituted => "M-18",
            Case::OverCourse => "M-14",
            Case::OverCap => "M-15",
            Case::Partial | Case::Carried => "A-18",
            Case::Expired => "D-11",
            Case::OtherDrug => "R-03",
            Case::Uninsured => "E-08",
            Case::SecondDrug => "V-03",
            Case::Backdated => "O-01",
        }
    }

    /// Whether the law refuses the sale.
    pub fn refused(self) -> bool {
        matches!(
            self,
            Case::Expired | Case::OtherDrug | Case::Uninsured | Case::SecondDrug | Case::Backdated
        )
    }

    /// The case of a roll of 0–99: 80 % ordinary, then 5 % substitutions, 3 % over the course, 3 %
    /// capped, 4 % partial, and 1 % of each refusal.
    fn of(roll: u32) -> Case {
        match roll {
            0..=4 => Case::Substituted,
            5..=7 => Case::OverCourse,
            8..=10 => Case::OverCap,
            11..=14 => Case::Partial,
            15 => Case::Expired,
            16 => Case::OtherDrug,
            17 => Case::Uninsured,
            18 => Case::SecondDrug,
            19 => Case::Backdated,
            _ => Case::Regular,
        }
    }
}

/// One drawn sale.
#[derive(Debug, Clone)]
pub struct Sale {
    pub case: Case,
    pub command: RecordKgDispensing,
}

/// A contract's month: the sales the engine records and those it refuses.
#[derive(Debug, Clone, Default)]
pub struct MonthPlan {
    pub recorded: Vec<Sale>,
    pub refused: Vec<Sale>,
}

/// The contract, month and days a plan is drawn for.
pub struct Month<'a> {
    pub world: &'a World,
    /// The contract's position among the KG pharmacies (its stream of the seed).
    pub index: usize,
    pub pharmacy: &'a KgPharmacy,
    pub period: ReportingPeriod,
    /// The days of the month the contract is in force (C-10).
    pub days: &'a [NaiveDate],
}

impl Month<'_> {
    fn rng(&self) -> ChaCha8Rng {
        let first = self.period.first_day();
        let salt = u64::from(first.year().unsigned_abs()) * 100 + u64::from(first.month());
        let index = u64::try_from(self.index).expect("a small index");
        ChaCha8Rng::seed_from_u64(self.world.seed ^ salt ^ (index << 32) ^ 0x4B47_5345_5454)
    }

    fn numbers(&self, n: u64) -> (String, String) {
        let key = format!("{}-{}-{n:05}", self.pharmacy.contract_id, self.period.key());
        (format!("RX-{key}"), format!("KGD-{key}"))
    }
}

/// Draws `count` sales of `month`; the carried rests of the previous month's partial sales come on
/// top (`carried`, drawn by [`carry`]).
pub fn plan(month: &Month<'_>, count: u64, carried: Vec<Sale>) -> anyhow::Result<MonthPlan> {
    let mut plan = MonthPlan {
        recorded: carried,
        refused: Vec::new(),
    };
    if month.days.is_empty() {
        return Ok(plan);
    }
    let mut rng = month.rng();
    let mut last_regular: Option<RecordKgDispensing> = None;
    for n in 0..count {
        let case = Case::of(rng.gen_range(0..100));
        let sale = draw(month, &mut rng, n, case, last_regular.as_ref())?;
        if sale.case == Case::Regular {
            last_regular = Some(sale.command.clone());
        }
        if sale.case.refused() {
            plan.refused.push(sale);
        } else {
            plan.recorded.push(sale);
        }
    }
    plan.recorded.sort_by(|a, b| {
        (a.command.dispensed_at, &a.command.dispensing_id)
            .cmp(&(b.command.dispensed_at, &b.command.dispensing_id))
    });
    Ok(plan)
}

/// The rests of `previous`'s partial sales, dispensed on the first days of `next`, when the
/// contract is in force then and the prescription still valid (D-11).
pub fn carry(previous: &MonthPlan, next: &Month<'_>) -> anyhow::Result<Vec<Sale>> {
    let early: Vec<NaiveDate> = next
        .days
        .iter()
        .copied()
        .filter(|day| day.day() <= 5)
        .collect();
    let mut carried = Vec::new();
    for (n, partial) in previous
        .recorded
        .iter()
        .filter(|sale| sale.case == Case::Partial)
        .enumerate()
    {
        let Some(day) = early.get(n % early.len().max(1)).copied() else {
            break;
        };
        let written = partial.command.prescription.written_on;
        if day > written + chrono::Duration::days(30) {
            continue;
        }
        let mut command = partial.command.clone();
        let course = command.prescription.course_dose_units.value();
        let rest = value(Quantity::new(course - command.dispensing.units.value()))?;
        let (_, id) = next.numbers(u64::try_from(n).expect("small"));
        command.dispensing_id = value(DispensingId::new(format!("{id}-R")))?;
        command.dispensed_at = kg_local(day, 10);
        command.dispensing.dispensed_on = day;
        command.dispensing.units = rest;
        let drug = drug_of(next.world, &command.dispensing)?;
        command.dispensing.patient_paid = paid(drug, rest, rest, Case::Carried)?;
        carried.push(Sale {
            case: Case::Carried,
            command,
        });
    }
    Ok(carried)
}

fn drug_of<'w>(world: &'w World, dispensing: &KgDispensing) -> anyhow::Result<&'w Drug> {
    world
        .kg_drugs
        .iter()
        .enumerate()
        .find(|(index, _)| drug_id(*index).ok().as_ref() == Some(&dispensing.drug_id))
        .map(|(_, drug)| drug)
        .ok_or_else(|| anyhow::anyhow!("drug {} is not in the demo catalogue", dispensing.drug_id))
}

/// M-12, M-15: what the patient paid: the retail total less the compensation of the eligible units;
/// for the capped case, more (half the compensation kept), so the cap binds.
fn paid(drug: &Drug, units: Quantity, eligible: Quantity, case: Case) -> anyhow::Result<Money> {
    let retail = value(line_amount(
        units,
        value(UnitPrice::new(drug.trade_unit_price))?,
        Currency::KGS,
    ))?;
    let compensation = value(line_amount(
        eligible,
        value(UnitPrice::new(drug.compensation_unit_price))?,
        Currency::KGS,
    ))?;
    let kept = if case == Case::OverCap {
        Money::new(compensation.minor / 2, Currency::KGS)
    } else {
        compensation
    };
    value(retail.checked_sub(kept))
}

/// Indices of the drugs that share a generic group with another (M-18 twins), and of the tablets.
fn twin_of(world: &World, index: usize) -> Option<usize> {
    let group = generic_group(&world.kg_drugs[index]);
    (0..world.kg_drugs.len())
        .find(|other| *other != index && generic_group(&world.kg_drugs[*other]) == group)
}

fn other_group(world: &World, index: usize) -> usize {
    let group = generic_group(&world.kg_drugs[index]);
    (1..world.kg_drugs.len())
        .map(|step| (index + step) % world.kg_drugs.len())
        .find(|other| generic_group(&world.kg_drugs[*other]) != group)
        .expect("the catalogue has more than one generic group")
}

/// The prescribed and dispensed drugs of a case.
fn drugs_of(world: &World, rng: &mut ChaCha8Rng, case: Case) -> (usize, usize) {
    let all = world.kg_drugs.len();
    let tablets: Vec<usize> = (0..all)
        .filter(|index| package_size(&world.kg_drugs[*index]) > 1)
        .collect();
    match case {
        Case::Substituted => {
            let twins: Vec<usize> = (0..all)
                .filter(|index| twin_of(world, *index).is_some())
                .collect();
            let prescribed = twins[rng.gen_range(0..twins.len())];
            (prescribed, twin_of(world, prescribed).expect("a twin"))
        }
        Case::OverCourse | Case::Partial => {
            let prescribed = tablets[rng.gen_range(0..tablets.len())];
            (prescribed, prescribed)
        }
        Case::OtherDrug => {
            let prescribed = rng.gen_range(0..all);
            (prescribed, other_group(world, prescribed))
        }
        _ => {
            let prescribed = rng.gen_range(0..all);
            (prescribed, prescribed)
        }
    }
}

/// The sale's day and how many days before it the prescription was written (negative: after).
fn dates_of(month: &Month<'_>, rng: &mut ChaCha8Rng, case: Case) -> (NaiveDate, i64) {
    let late: Vec<NaiveDate> = month
        .days
        .iter()
        .copied()
        .filter(|day| day.day() >= 20)
        .collect();
    let day = match case {
        Case::Partial if !late.is_empty() => late[rng.gen_range(0..late.len())],
        _ => month.days[rng.gen_range(0..month.days.len())],
    };
    let before = match case {
        Case::Expired => 40,
        Case::Backdated => -rng.gen_range(1..=3),
        Case::Partial => rng.gen_range(0..=3),
        _ => rng.gen_range(0..20),
    };
    (day, before)
}

/// V-03: the same patient's prescription number, recorded for one drug, now cited for a drug of
/// another group; returns that drug.
fn second_drug(
    world: &World,
    prescription: &mut KgPrescription,
    earlier: &RecordKgDispensing,
) -> anyhow::Result<usize> {
    let first = (0..world.kg_drugs.len())
        .find(|index| drug_id(*index).ok().as_ref() == Some(&earlier.prescription.drug_id))
        .expect("the earlier sale's drug is in the catalogue");
    let other = other_group(world, first);
    prescription.number = earlier.prescription.number.clone();
    prescription.patient_pin = earlier.prescription.patient_pin.clone();
    prescription.drug_id = drug_id(other)?;
    prescription.generic_group = generic_group(&world.kg_drugs[other]);
    Ok(other)
}

/// One sale of the month, `n` its number.
fn draw(
    month: &Month<'_>,
    rng: &mut ChaCha8Rng,
    n: u64,
    case: Case,
    last_regular: Option<&RecordKgDispensing>,
) -> anyhow::Result<Sale> {
    let world = month.world;
    let case = match case {
        Case::SecondDrug if last_regular.is_none() => Case::Regular,
        Case::Partial if !month.days.iter().any(|day| day.day() >= 20) => Case::Regular,
        other => other,
    };
    let (prescribed, dispensed) = drugs_of(world, rng, case);
    let tablets = package_size(&world.kg_drugs[dispensed]) > 1;
    let course: i64 = if tablets { 30 * rng.gen_range(1..3) } else { 1 };
    let course = if case == Case::Partial { 60 } else { course };
    let units = match case {
        Case::OverCourse => course + 30,
        Case::Partial => course / 2,
        _ => course,
    };
    let (day, before) = dates_of(month, rng, case);
    let written_on = day - chrono::Duration::days(before);
    let regions: Vec<Region> = Region::all(Jurisdiction::KG).collect();
    let (number, id) = month.numbers(n);
    let patient: KgPin = world.kg_patients[rng.gen_range(0..world.kg_patients.len())].clone();
    let checked_on = written_on.min(day) - chrono::Duration::days(rng.gen_range(0..3));
    let mut prescription = KgPrescription {
        number,
        patient_pin: patient,
        written_on,
        prescriber_region: regions[rng.gen_range(0..regions.len())],
        drug_id: drug_id(prescribed)?,
        generic_group: generic_group(&world.kg_drugs[prescribed]),
        course_dose_units: value(Quantity::new(Decimal::from(course)))?,
        eligibility: Some(PatientEligibility {
            insured: case != Case::Uninsured,
            phc_registered: true,
            checked_on,
        }),
    };
    let dispensed = match (case, last_regular) {
        (Case::SecondDrug, Some(earlier)) => second_drug(world, &mut prescription, earlier)?,
        _ => dispensed,
    };
    let drug = &world.kg_drugs[dispensed];
    let units = value(Quantity::new(Decimal::from(units)))?;
    let eligible = if case == Case::OverCourse {
        prescription.course_dose_units
    } else {
        units
    };
    let retail = value(UnitPrice::new(drug.trade_unit_price))?;
    let dispensing = KgDispensing {
        drug_id: drug_id(dispensed)?,
        units,
        dispensed_on: day,
        pharmacy_region: month.pharmacy.region,
        retail_unit_price: retail,
        shelf_unit_price: Some(retail),
        approved_retail_unit_price: None,
        patient_paid: paid(drug, units, eligible, case)?,
    };
    Ok(Sale {
        case,
        command: RecordKgDispensing {
            dispensing_id: value(DispensingId::new(id))?,
            dispensed_at: kg_local(day, rng.gen_range(9..20)),
            prescription,
            dispensing,
        },
    })
}
