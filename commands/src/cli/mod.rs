//! The `ledger` command line. Exit codes: 0 success, 1 a command was rejected by a domain rule,
//! 2 an operational error or bad input. A broken pipe exits 0.

mod audit;
mod batch;
mod bench;
mod bench_month;
mod calendar;
mod demo;
pub(crate) mod export;
mod export_bench;
mod export_import;
mod feed_bench;
mod history;
mod import;
#[cfg(feature = "kafka")]
mod kafka_bench;
mod log;
mod open;
mod pki;
mod project;
mod project_bench;
mod public;
mod read;
mod replay;
mod serve;
mod serve_bench;
mod startup_bench;
mod submit;
mod trust;
pub mod views;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An error that the user caused by bad input: printed as one line, exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

/// A command refused by a domain rule: printed as one line, exit code 1.
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

impl std::error::Error for UsageError {}

/// The pharmacy co-payment reimbursement ledger.
#[derive(Debug, Parser)]
#[command(name = "ledger", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// The data directory of the embedded log and the views.
    #[arg(
        long,
        global = true,
        env = "LEDGER_DATA_DIR",
        default_value = "./ledger-data"
    )]
    pub data_dir: PathBuf,
    /// The event log: `kafka://HOST:PORT[,HOST:PORT][?prefix=ledger&partitions=8&…]` for Kafka; by
    /// default the embedded log in --data-dir.
    #[arg(long, global = true, env = "LEDGER_LOG")]
    pub log: Option<String>,
    /// The deployment's URN, the CloudEvents `source` of every event's public form (the Kafka topic
    /// `<prefix>.events.json`, `log tail --format json`); e.g. `urn:example-fund:ledger:kz-prod`.
    #[arg(
        long,
        global = true,
        env = "LEDGER_EVENT_SOURCE",
        default_value = ledger::public::SOURCE_DEFAULT
    )]
    pub event_source: ledger::public::EventSource,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and verify the event log.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Working-day calendars and statutory deadlines (no data directory needed).
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// Audit for regulators: prove the history was not altered.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The main job: a national reporting period end to end on the embedded log.
    Demo(demo::DemoArgs),
    /// Import dispensings from a CSV file, validating every row (rejects go to a file).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Every event of a contract or a reporting period, with time, actor, cause and summary.
    History(history::HistoryArgs),
    /// Writes the events of a reporting period, with a manifest of counts and hash-chain heads.
    Export(history::ExportArgs),
    /// Summary registries (Appendix 1) from the views.
    #[command(subcommand)]
    Registry(views::RegistryCommand),
    /// Payment acts (Appendix 2) from the views.
    #[command(subcommand)]
    Act(views::ActCommand),
    /// Statutory deadline clocks and their status as of a date.
    Deadlines(views::DeadlinesArgs),
    /// Budget lines per programme and region for a fiscal year.
    Budget(views::BudgetArgs),
    /// Contracts: status, holder, network by region, termination grounds.
    Contracts(views::ContractsArgs),
    /// Catches every view up with the log and prints a summary; `--follow` keeps following it.
    Project(project::ProjectArgs),
    /// Builds the views as of a point in history, or of one period, into another directory.
    Replay(replay::ReplayArgs),
    /// Benchmarks of this machine (no data directory needed).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Submit commands as JSON lines, validating every line (rejects go to a file).
    Submit(submit::SubmitArgs),
    /// The writer service: JSON commands over HTTP (POST /v1/commands).
    Serve(serve::ServeArgs),
    /// The reader service: the event feed (SSE, NDJSON) and the views over HTTP(S), by policy.
    Read(read::ReadArgs),
    /// A development PKI: CA, certificates, CRL, JWKS and tokens for the demo (like mkcert).
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Records every statutory clock past its due date as a `DeadlineBreached` fact, once.
    Watch(watch::WatchArgs),
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Log(command) => log::run(command, &cli.global),
        Command::Calendar(command) => calendar::run(command),
        Command::Audit(command) => audit::run(command, &cli.global),
        Command::Demo(args) => demo::run(args, &cli.global),
        Command::Import(command) => import::run(command, &cli.global),
        Command::History(args) => history::run_history(args, &cli.global),
        Command::Export(args) => history::run_export(args, &cli.global),
        Command::Registry(command) => views::run_registry(command, &cli.global),
        Command::Act(command) => views::run_act(command, &cli.global),
        Command::Deadlines(args) => views::run_deadlines(args, &cli.global),
        Command::Budget(args) => views::run_budget(args, &cli.global),
        Command::Contracts(args) => views::run_contracts(args, &cli.global),
        Command::Project(args) => project::run(&args, &cli.global),
        Command::Replay(args) => replay::run(args, &cli.global),
        Command::Bench(command) => bench::run(command),
        Command::Submit(args) => submit::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
        Command::Read(args) => read::run(args, &cli.global),
        Command::Pki(command) => pki::run(command),
        Command::Watch(args) => watch::run(args, &cli.global),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints the error chain once and picks the exit code by audience.
fn report(error: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        eprintln!("error: {usage}");
        return ExitCode::from(2);
    }
    if let Some(rejected) = error.downcast_ref::<Rejected>() {
        eprintln!("rejected: {rejected}");
        return ExitCode::from(1);
    }
    eprintln!("error: {error:#}");
    ExitCode::from(2)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Builds the tokio runtime for commands that do I/O on the log.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Output format shared by the query commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}
