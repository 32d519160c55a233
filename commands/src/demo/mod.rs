//! `ledger demo`: a national reporting period end to end on the embedded log. Builds a deterministic
//! world from a seed, publishes reference data and budgets, concludes the contracts, records the
//! months' dispensings, runs every period's registry, act and payment, terminates one contract, and
//! summarises what happened.

pub mod dispense;
pub mod engine;
pub mod kg;
pub mod lifecycle;
pub mod seal;
pub mod setup;
pub mod signing;
pub mod summary;
pub mod world;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::contract::events::{Party, TerminationGround};
use ledger::domain::contract::{ContractCommand, ReceiveTerminationNotice, SendTerminationNotice};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::values::{DocumentNumber, ReportingPeriod};
use ledger::log::EventLog;

use engine::Engine;
use setup::kz_local;
use signing::Signers;
use world::World;

/// KG pharmacies applying to the additional programme: enough for every path of [`kg::script`].
pub const KG_PHARMACIES: u32 = 4;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seed: u64,
    /// Dispensings per month, over all KZ contracts.
    pub dispensings: u64,
    pub months: u32,
    /// The first reporting month.
    pub first_month: NaiveDate,
    /// Single-company KZ networks (the consortium and the KG pharmacies come on top).
    pub networks: u32,
    /// KG sales drawn per month over the KG contracts in force (issue #17: the programme at volume).
    pub kg_dispensings: u64,
    /// Where the writer's state is kept (issue #16); none: a temporary store.
    pub state_dir: Option<std::path::PathBuf>,
}

impl DemoOptions {
    /// The KG volume by default: one KG sale per hundred KZ dispensings, and at least
    /// [`KG_DISPENSINGS_MIN`] a month.
    pub fn default_kg_dispensings(dispensings: u64) -> u64 {
        (dispensings / 100).max(KG_DISPENSINGS_MIN)
    }
}

/// The least KG sales a month the demo draws by default (issue #17).
pub const KG_DISPENSINGS_MIN: u64 = 10_000;

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 2026,
            dispensings: 1_000_000,
            months: 1,
            first_month: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
            networks: 8,
            kg_dispensings: KG_DISPENSINGS_MIN,
            state_dir: None,
        }
    }
}

/// Callbacks through which the CLI shows progress (the library stays free of terminal code).
pub trait Progress: Sync {
    fn phase(&self, name: &str, total: u64);
    fn advance(&self, by: u64);
    fn finish_phase(&self);
}

/// The months the demo covers.
pub fn months(options: &DemoOptions) -> anyhow::Result<Vec<ReportingPeriod>> {
    let mut periods = Vec::new();
    let mut first = options.first_month.with_day(1).expect("day 1 exists");
    for _ in 0..options.months {
        periods.push(dispense::month_of(first)?);
        first = (first + chrono::Duration::days(32))
            .with_day(1)
            .expect("day 1 exists");
    }
    Ok(periods)
}

/// The Fund's BIN in the demo of `seed` (also what `ledger pki dev` issues the Fund's certificate for).
pub fn fund_bin(seed: u64) -> ledger::domain::ident::Bin {
    world::random_bin(
        &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0xF0_0D),
    )
}

/// Runs the whole demo on `log`; returns the engine (with its folded states) and the world.
pub async fn run(
    log: Arc<dyn EventLog>,
    options: &DemoOptions,
    progress: &dyn Progress,
) -> anyhow::Result<(Engine, World, summary::Timing)> {
    let world = World::generate(options.seed, options.networks, KG_PHARMACIES, 20_000);
    let fund_bin = fund_bin(options.seed);
    let bins =
        std::iter::once(fund_bin).chain(world.contracts.iter().map(|holder| holder.holder.bin));
    let loaded = crate::writer_state::WriterState::open(&log, options.state_dir.as_deref()).await?;
    let snapshots = options
        .state_dir
        .as_deref()
        .and_then(crate::handler::SnapshotStore::in_state_dir);
    let engine = Engine::new(
        log,
        options.seed,
        fund_bin,
        Signers::generate(options.seed, bins),
    )?
    .with_state(loaded)
    .with_snapshots(snapshots);
    let periods = months(options)?;
    let setup_at = kz_local(options.first_month - chrono::Duration::days(40), 9);
    progress.phase("reference data, keys, budgets, contracts", 1);
    engine.register_keys(setup_at).await?;
    setup::publish_calendars(&engine, setup_at).await?;
    setup::publish_prices(&engine, &world, setup_at).await?;
    let years: BTreeSet<i32> = periods
        .iter()
        .flat_map(|period| [period.first_day().year(), period.first_day().year() + 1])
        .collect();
    setup::allocate_budgets(&engine, &years, setup_at).await?;
    setup::conclude_contracts(&engine, &world, options.first_month).await?;
    kg::setup(&engine, &world, options.first_month).await?;
    progress.advance(1);
    progress.finish_phase();
    let started = Instant::now();
    let mut month_elapsed = Vec::new();
    for period in &periods {
        progress.phase(
            &format!("dispensings {}", period.key()),
            options.dispensings,
        );
        let month_started = Instant::now();
        dispense::dispense_month(&engine, &world, *period, options.dispensings, &|count| {
            progress.advance(count)
        })
        .await?;
        engine.catch_up_state().await?;
        month_elapsed.push(month_started.elapsed());
        progress.finish_phase();
    }
    let dispensing_elapsed = started.elapsed();
    let (kg_elapsed, kg_recorded) =
        dispense_kg(&engine, &world, &periods, options, progress).await?;
    close_periods(&engine, &world, &periods, progress).await?;
    terminate_last(&engine, &world, &periods).await?;
    summary::load_states(&engine, &world, &periods).await?;
    engine.catch_up_state().await?;
    Ok((
        engine,
        world,
        summary::Timing {
            dispensing_elapsed,
            month_elapsed,
            kg_elapsed,
            kg_recorded,
            total_elapsed: started.elapsed(),
        },
    ))
}

/// The KG months (issue #17): `kg_dispensings` sales a month; returns the phase's duration and the
/// sales recorded (what the KG rate of the summary is measured on).
async fn dispense_kg(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
    options: &DemoOptions,
    progress: &dyn Progress,
) -> anyhow::Result<(std::time::Duration, u64)> {
    let started = Instant::now();
    let total = options.kg_dispensings * u64::try_from(periods.len())?;
    progress.phase("KG dispensings", total);
    let mut previous = None;
    let mut recorded = 0;
    for period in periods {
        let month = options.kg_dispensings;
        recorded += kg::dispense::dispense_month(engine, world, *period, month, previous).await?;
        previous = Some(month);
        progress.advance(month);
    }
    progress.finish_phase();
    Ok((started.elapsed(), recorded))
}

async fn close_periods(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let kz: Vec<_> = world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == Jurisdiction::KZ)
        .collect();
    let total = u64::try_from(kz.len() * periods.len()).expect("small count");
    progress.phase("registries, acts, payments", total);
    let first = *periods.first().expect("at least one month");
    // D-13: the KG contracts concluded before the first demo month report that month too.
    if let Some(before) = kg::settle::month_before(first) {
        kg::settle::settle_month(engine, world, before, first).await?;
    }
    for period in periods {
        for (index, holder) in kz.iter().enumerate() {
            lifecycle::close_period(engine, holder, *period, lifecycle::script(index, kz.len()))
                .await?;
            engine.retire_period(&holder.contract_id, *period).await?;
            progress.advance(1);
        }
        kg::settle::settle_month(engine, world, *period, first).await?;
        // Issue #15 §1: the month's acts and settlements are paid; the Fund seals it. The seal reads
        // the month's span in the writer's state and the log after its checkpoint (issue #16), so
        // the state catches up first: a seal then costs its month, not the history.
        engine.catch_up_state().await?;
        seal::seal_month(engine, Jurisdiction::KZ, *period).await?;
        seal::seal_month(engine, Jurisdiction::KG, *period).await?;
    }
    progress.finish_phase();
    Ok(())
}

/// C-04, C-05, A-25: the Fund terminates the last contract (its registry was late, a §22 ground) by
/// notice; the contract ends when the notice is received.
async fn terminate_last(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
) -> anyhow::Result<()> {
    let Some(holder) = world
        .contracts
        .iter()
        .rev()
        .find(|holder| holder.jurisdiction == Jurisdiction::KZ)
    else {
        return Ok(());
    };
    let last = periods.last().expect("at least one month");
    let sent_on = last.last_day() + chrono::Duration::days(50);
    let notice = DocumentNumber::new(format!("TN-{}", holder.contract_id))
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let step = format!("contract/{}/terminate", holder.contract_id);
    let meta = engine.meta(
        &step,
        kz_local(sent_on, 10),
        Jurisdiction::KZ,
        engine.fund_actor(),
    );
    let build = |signature: Option<_>| {
        ContractCommand::SendTerminationNotice(SendTerminationNotice {
            notice: notice.clone(),
            sent_at: kz_local(sent_on, 10),
            sender: Party::Fund,
            grounds: vec![TerminationGround::RegistrySubmission],
            signature: signature.expect("the Fund signs the notice"),
        })
    };
    if let Err(refused) = engine
        .contract(&holder.contract_id, meta, build, Some(engine.fund_bin))
        .await?
    {
        bail!(
            "the termination notice to {} was refused: {refused}",
            holder.contract_id
        );
    }
    let received_on = sent_on + chrono::Duration::days(3);
    let step = format!("contract/{}/notice-received", holder.contract_id);
    let meta = engine.meta(
        &step,
        kz_local(received_on, 10),
        Jurisdiction::KZ,
        engine.fund_actor(),
    );
    let receive = ContractCommand::ReceiveTerminationNotice(ReceiveTerminationNotice {
        received_at: kz_local(received_on, 10),
    });
    if let Err(refused) = engine
        .contract(&holder.contract_id, meta, |_| receive.clone(), None)
        .await?
    {
        bail!(
            "the notice receipt of {} was refused: {refused}",
            holder.contract_id
        );
    }
    Ok(())
}
