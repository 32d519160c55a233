//! The query commands over the views: `ledger registry show`, `ledger act show`, `ledger deadlines`,
//! `ledger budget`, `ledger contracts`. Each catches the views up from the log first (with a progress
//! bar), then answers. Bad input exits 2 with a one-line message.

pub(crate) mod answers;
pub(crate) mod convert;
pub(crate) mod deadlines;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ledger::domain::values::{ContractId, ReportingPeriod};
use projector::{FlushPolicy, Projector, SledStore};
use serde::Serialize;

use super::{GlobalOpts, UsageError, open};
use crate::project::{Projected, catch_up_views, views_dir};

pub use deadlines::{DeadlinesArgs, OverdueClock, run_deadlines};

/// The output formats of a printed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum FormFormat {
    #[default]
    Table,
    Csv,
    Json,
    Html,
}

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// The summary registry (Appendix 1) of a contract and period.
    Show(FormArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum ActCommand {
    /// The payment act (Appendix 2) of a contract and period.
    Show(FormArgs),
}

/// Where a query reads its views.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ViewsOpt {
    /// Read the views in DIR as they are (e.g. built by `ledger replay`) instead of catching up the
    /// live views of the data directory.
    #[arg(long, value_name = "DIR")]
    pub views: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FormArgs {
    #[command(flatten)]
    pub source: ViewsOpt,
    #[arg(long)]
    pub contract: String,
    /// The reporting month, YYYY-MM.
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormFormat,
}

#[derive(Debug, clap::Args)]
pub struct BudgetArgs {
    #[command(flatten)]
    pub source: ViewsOpt,
    /// KZ or KG.
    #[arg(long)]
    pub country: String,
    /// The fiscal year.
    #[arg(long)]
    pub year: String,
    /// Only this region (its code, e.g. 710000000).
    #[arg(long)]
    pub region: Option<String>,
    /// Only this programme (e.g. OSMS, GOBMP, KG_CHI_ADDITIONAL).
    #[arg(long)]
    pub programme: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

#[derive(Debug, clap::Args)]
pub struct ContractsArgs {
    #[command(flatten)]
    pub source: ViewsOpt,
    /// Also list each contract's clocks overdue at the end of this day (YYYY-MM-DD), a registry
    /// never submitted included (D-02).
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

/// The views a query reads: those in `--views DIR` as they are, or the live views caught up first.
pub fn open_views(global: &GlobalOpts, source: &ViewsOpt) -> anyhow::Result<Projected> {
    let Some(dir) = &source.views else {
        return project_live(global);
    };
    if !dir.is_dir() {
        return Err(UsageError(format!("--views {}: no such directory", dir.display())).into());
    }
    let store = SledStore::open(dir, FlushPolicy::Background { every_ms: 500 })
        .with_context(|| format!("cannot open the views in {}", dir.display()))?;
    let (projector, _) = Projector::open(store, projector::views::all())?;
    Ok(Projected {
        projector,
        report: projector::CatchUpReport::default(),
    })
}

/// Opens the log read-only and catches the live views up, printing the summary on stderr.
pub fn project_live(global: &GlobalOpts) -> anyhow::Result<Projected> {
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let projected = runtime.block_on(catch_up_views(
        log.as_ref(),
        &views_dir(&global.data_dir),
        projector::CatchUpOptions::default(),
    ))?;
    // The summary is for a person watching; scripts get only the answer (and errors) on stderr.
    if projected.report.events > 0 && std::io::stderr().is_terminal() {
        eprintln!("{}", projected.report);
    }
    Ok(projected)
}

pub fn parse_contract(text: &str) -> anyhow::Result<ContractId> {
    ContractId::new(text)
        .map_err(|error| UsageError(format!("--contract {text:?}: {error}")).into())
}

pub fn parse_month(text: &str) -> anyhow::Result<ReportingPeriod> {
    let month = super::history::parse_period(text)?;
    let (year, month) = month.split_once('-').expect("validated YYYY-MM");
    let (year, month) = (
        year.parse().expect("digits"),
        month.parse().expect("digits"),
    );
    ReportingPeriod::month(year, month)
        .map_err(|error| UsageError(format!("--period {text:?}: {error}")).into())
}

pub fn run_registry(command: RegistryCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let RegistryCommand::Show(args) = command;
    let contract_id = parse_contract(&args.contract)?;
    let period = parse_month(&args.period)?;
    let projected = open_views(global, &args.source)?;
    let answer = answers::registry(&projected.reader(), &contract_id, period, args.format, None)?;
    let Some(text) = answer else {
        return Err(UsageError(format!(
            "no registry for contract \"{contract_id}\" in period {period}: no dispensing or submission recorded"
        ))
        .into());
    };
    print(&text)
}

pub fn run_act(command: ActCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let ActCommand::Show(args) = command;
    let contract_id = parse_contract(&args.contract)?;
    let period = parse_month(&args.period)?;
    let projected = open_views(global, &args.source)?;
    let Some(text) = answers::act(&projected.reader(), &contract_id, period, args.format)? else {
        return Err(UsageError(format!(
            "no payment act for contract \"{contract_id}\" in period {period}: none was sent"
        ))
        .into());
    };
    print(&text)
}

pub fn run_budget(args: BudgetArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let country = args.country.to_ascii_uppercase();
    if country != "KZ" && country != "KG" {
        return Err(UsageError(format!("--country {:?} is not KZ or KG", args.country)).into());
    }
    let year: i32 = args
        .year
        .parse()
        .ok()
        .filter(|year| (1990..=2100).contains(year))
        .ok_or_else(|| UsageError(format!("--year {:?} is not a fiscal year YYYY", args.year)))?;
    let projected = open_views(global, &args.source)?;
    let query = answers::BudgetQuery {
        country,
        year,
        region: args.region,
        programme: args.programme,
    };
    print(&answers::budget(&projected.reader(), &query, args.format)?)
}

pub fn run_contracts(args: ContractsArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let as_of = args
        .as_of
        .as_deref()
        .map(|text| {
            text.parse::<chrono::NaiveDate>()
                .map_err(|_| UsageError(format!("--as-of {text:?} is not a date YYYY-MM-DD")))
        })
        .transpose()?;
    let projected = open_views(global, &args.source)?;
    let text = answers::contracts(&projected.reader(), as_of, args.format, &|_| true)?;
    print(&text)
}

pub fn json(value: &impl Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

pub fn print(text: &str) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
