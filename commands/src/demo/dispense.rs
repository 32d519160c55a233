//! A month of dispensings: generated deterministically from the seed, spread over the contracts by
//! network size, over the days of the month and the drugs of the catalogue, and recorded in batches of
//! [`BATCH_DISPENSINGS`] per period stream (one command id per batch), contracts in parallel.

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Quantity, UnitPrice, line_amount};
use ledger::domain::period::{PeriodCommand, RecordDispensing};
use ledger::domain::prices::ProductKey;
use ledger::domain::region::Programme;
use ledger::domain::values::{
    DispensingId, DocumentNumber, DoseForm, FiscalReceipt, Icd10, InnName, MarkingCode,
    OrganisationName, PrescriptionRef, ReportingPeriod, TradeName, UnitOfMeasure,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::engine::{Engine, period_stream};
use super::setup::kz_local;
use super::world::{ContractHolder, World};

/// Dispensings per append: one ISS upload. Bounded by the log's `EVENTS_PER_APPEND_MAX`.
pub const BATCH_DISPENSINGS: usize = 1000;

fn value<T, E: std::fmt::Display>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|error| anyhow::anyhow!("{error}"))
}

/// How many of `total` dispensings each KZ contract gets: proportional to its pharmacies.
pub fn shares(world: &World, total: u64) -> Vec<(usize, u64)> {
    let kz: Vec<(usize, u64)> = world
        .contracts
        .iter()
        .enumerate()
        .filter(|(_, holder)| holder.jurisdiction == Jurisdiction::KZ)
        .map(|(index, holder)| {
            (
                index,
                holder
                    .dispensers()
                    .map(|org| org.pharmacies.len() as u64)
                    .sum(),
            )
        })
        .collect();
    let pharmacies: u64 = kz.iter().map(|(_, count)| count).sum();
    let mut assigned = 0;
    let mut result: Vec<(usize, u64)> = kz
        .iter()
        .map(|&(index, count)| (index, total * count / pharmacies.max(1)))
        .inspect(|(_, n)| assigned += n)
        .collect();
    if let Some(first) = result.first_mut() {
        first.1 += total - assigned;
    }
    result
}

/// The random choices of one dispensing.
struct Draw<'w> {
    organisation: &'w super::world::Organisation,
    region: ledger::domain::region::Region,
    drug: &'w super::world::Drug,
    day: NaiveDate,
    hour: u32,
    units: i64,
    patient: ledger::domain::ident::Iin,
    written_days_before: i64,
    gobmp: bool,
}

fn draw<'w>(
    world: &'w World,
    holder: &'w ContractHolder,
    period: ReportingPeriod,
    index: u64,
) -> Draw<'w> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        world.seed
            ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ hash_str(&holder.contract_id)
            ^ u64::from(period.first_day().month()),
    );
    let dispensers: Vec<_> = holder.dispensers().collect();
    let organisation = dispensers[rng.gen_range(0..dispensers.len())];
    let (_, region) = &organisation.pharmacies[rng.gen_range(0..organisation.pharmacies.len())];
    let drug = &world.kz_drugs[rng.gen_range(0..world.kz_drugs.len())];
    let days = period.last_day().day() - period.first_day().day() + 1;
    let day = period.first_day() + chrono::Duration::days(i64::from(rng.gen_range(0..days)));
    Draw {
        organisation,
        region: *region,
        drug,
        day,
        hour: rng.gen_range(9..20),
        units: if drug.unit == "таблетка" {
            rng.gen_range(1..4) * 30
        } else {
            rng.gen_range(1..3)
        },
        patient: world.kz_patients[rng.gen_range(0..world.kz_patients.len())],
        written_days_before: rng.gen_range(0..10),
        gobmp: rng.gen_bool(0.6),
    }
}

/// Generates the `index`-th dispensing of a contract in a period (pure function of seed and index).
pub fn generate(
    world: &World,
    holder: &ContractHolder,
    period: ReportingPeriod,
    index: u64,
) -> anyhow::Result<RecordDispensing> {
    let draw = draw(world, holder, period, index);
    let drug = draw.drug;
    let dispensed_at = kz_local(draw.day, draw.hour);
    let quantity = value(Quantity::new(Decimal::from(draw.units)))?;
    let trade_price = value(UnitPrice::new(drug.trade_unit_price))?;
    let total = value(line_amount(quantity, trade_price, Currency::KZT))?;
    let serial = format!(
        "{}{:07}{:06}",
        &holder.contract_id[3..],
        period.first_day().month(),
        index
    );
    let rnm = format!("6004{:08}", hash_str(&draw.organisation.name) % 100_000_000);
    let fiscal_sign = format!("{}{index:08}", period.first_day().month());
    let prescription = value(DocumentNumber::new(format!(
        "RX-{}-{index:07}",
        holder.contract_id
    )))?;
    Ok(RecordDispensing {
        dispensing_id: value(DispensingId::new(format!(
            "D-{}-{}-{index:07}",
            holder.contract_id,
            period.key()
        )))?,
        dispensed_at,
        dispenser_name: value(OrganisationName::new(draw.organisation.name.as_str()))?,
        dispenser_bin: draw.organisation.bin,
        region: draw.region,
        patient_region: Some(draw.region),
        icd10: value(Icd10::new(drug.icd10))?,
        patient_iin: draw.patient,
        prescription: PrescriptionRef {
            number: prescription,
            written_on: draw.day - chrono::Duration::days(draw.written_days_before),
        },
        copayment_consent: true,
        programme: if draw.gobmp {
            Programme::Gobmp
        } else {
            Programme::Osms
        },
        product: ProductKey::Drug {
            inn: value(InnName::new(drug.inn))?,
            dose_form: value(DoseForm::new(drug.dose_form))?,
        },
        trade_name: value(TradeName::new(drug.trade_name))?,
        unit: value(UnitOfMeasure::new(drug.unit))?,
        quantity,
        trade_name_unit_price: trade_price,
        fiscal_receipt: value(FiscalReceipt::new(&rnm, &fiscal_sign, dispensed_at, total))?,
        marking_code: value(MarkingCode::new(format!("01{}21{serial}", drug.gtin)))?,
    })
}

fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Records `count` dispensings of one contract in one period, in batches; `progress` is told each
/// batch's size.
pub async fn dispense_contract(
    engine: &Engine,
    world: &World,
    holder: &ContractHolder,
    period: ReportingPeriod,
    count: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<()> {
    let batch = u64::try_from(BATCH_DISPENSINGS).expect("small constant");
    let mut start = 0;
    while start < count {
        let end = (start + batch).min(count);
        let commands = (start..end)
            .map(|index| {
                generate(world, holder, period, index)
                    .map(|command| PeriodCommand::RecordDispensing(Box::new(command)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let step = format!(
            "{}/dispense/{start}",
            period_stream(&holder.contract_id, period)
        );
        let at = match &commands[commands.len() - 1] {
            PeriodCommand::RecordDispensing(last) => last.dispensed_at,
            _ => unreachable!("only dispensings in a dispensing batch"),
        };
        let meta = engine.meta(
            &step,
            at,
            Jurisdiction::KZ,
            Engine::pharmacy_actor(holder.holder.bin),
        );
        if let Err(refused) = engine
            .period(
                &holder.contract_id,
                period,
                meta,
                |_| commands.clone(),
                None,
            )
            .await?
        {
            bail!("dispensing batch {step} was refused: {refused}");
        }
        progress(end - start);
        start = end;
    }
    // The month's keys reach the M-06 index when the demo catches the writer's state up at the
    // month's end; until the period is closed its state is folded again from the log when needed.
    engine
        .periods
        .evict(&period_stream(&holder.contract_id, period));
    Ok(())
}

/// KZ contracts dispensing at once. Each holds its month's period state until its last batch; a
/// few keep both cores busy and the group commit fed, more only add memory (issue #16 §5).
pub const CONTRACTS_IN_FLIGHT: usize = 3;

/// Records the month's dispensings of every KZ contract, [`CONTRACTS_IN_FLIGHT`] at a time, the
/// largest first (so that the last ones running are small).
pub async fn dispense_month(
    engine: &Engine,
    world: &World,
    period: ReportingPeriod,
    total: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<()> {
    let mut shares = shares(world, total);
    shares.sort_by_key(|&(index, count)| (std::cmp::Reverse(count), index));
    let work = shares.into_iter().map(|(index, count)| {
        dispense_contract(
            engine,
            world,
            &world.contracts[index],
            period,
            count,
            progress,
        )
    });
    futures::stream::iter(work)
        .buffer_unordered(CONTRACTS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// The month `first_day` falls in.
pub fn month_of(first_day: NaiveDate) -> anyhow::Result<ReportingPeriod> {
    value(ReportingPeriod::month(first_day.year(), first_day.month()))
}
