//! The demo's closing summary: what a person reads at a glance, and the same as JSON for scripts.

use std::time::Duration;

use ledger::domain::budget::{BudgetId, FiscalYear};
use ledger::domain::calendar::local_date;
use ledger::domain::clock::Deadline;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::PeriodState;
use ledger::domain::region::Programme;
use ledger::domain::time::Timestamp;
use ledger::domain::values::ReportingPeriod;
use serde::Serialize;

use super::engine::{Engine, contract_stream, period_stream, stream};
use super::kg::summary::KgSummary;
use super::world::World;

/// How long the phases took.
#[derive(Debug, Clone)]
pub struct Timing {
    pub dispensing_elapsed: Duration,
    /// Each month's dispensing phase, its catch-up of the writer's state included (issue #16 §5).
    pub month_elapsed: Vec<Duration>,
    /// The KG sales phase (issue #17) and the sales it recorded.
    pub kg_elapsed: Duration,
    pub kg_recorded: u64,
    pub total_elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodSummary {
    pub period: String,
    pub lines: u64,
    /// Σ col 15, Σ col 16, Σ col 17 of the live lines.
    pub fund: Money,
    pub patient: Money,
    pub total: Money,
    pub registry: String,
    pub submissions: u32,
    pub submitted_late: bool,
    pub act_total: Option<Money>,
    pub paid: Option<Money>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContractSummary {
    pub contract_id: String,
    pub holder: String,
    pub status: String,
    pub periods: Vec<PeriodSummary>,
}

/// Counts of statutory clocks by outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClockCounts {
    pub met_on_time: u32,
    pub met_late: u32,
    pub open: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetSummary {
    pub budget: String,
    pub allocated: Money,
    pub committed: Money,
    pub paid: Money,
    pub balance: Money,
}

/// One month's dispensing phase.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRate {
    pub period: String,
    pub dispensings_per_second: u64,
    pub elapsed_ms: u64,
}

/// `count` per second over `elapsed`.
fn per_second(count: u64, elapsed: Duration) -> u64 {
    u64::try_from(u128::from(count) * 1000 / elapsed.as_millis().max(1)).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub seed: u64,
    pub months: Vec<String>,
    pub dispensings_per_month: u64,
    pub events_written: u64,
    pub dispensing_events_per_second: u64,
    /// Each month's dispensing rate (issue #16 §5: a later month is as fast as the first).
    pub month_rates: Vec<MonthRate>,
    /// KG sales drawn per month (`--kg-dispensings`), the KG phase's rate of recorded sales and its
    /// duration: timings stay out of `kg`, which compares equal across backends.
    pub kg_dispensings_per_month: u64,
    pub kg_dispensings_per_second: u64,
    pub kg_elapsed_ms: u64,
    pub elapsed_ms: u64,
    pub contracts: Vec<ContractSummary>,
    pub clocks: std::collections::BTreeMap<String, ClockCounts>,
    pub budgets: Vec<BudgetSummary>,
    /// The KG additional programme: Reference Book and contracts (KG budgets are in `budgets`).
    pub kg: KgSummary,
    pub exports: Vec<String>,
}

fn period_summary(state: &PeriodState, period: ReportingPeriod) -> PeriodSummary {
    let live = state.live_dispensings();
    let sum = |pick: fn(&ledger::domain::period::events::DispensingRecorded) -> Money| {
        Money::sum(
            Currency::KZT,
            live.iter()
                .map(|line| pick(line))
                .collect::<Vec<_>>()
                .iter(),
        )
        .expect("totals fit")
    };
    PeriodSummary {
        period: period.key(),
        lines: u64::try_from(live.len()).expect("line count fits"),
        fund: sum(|line| line.amounts.fund),
        patient: sum(|line| line.amounts.patient),
        total: sum(|line| line.amounts.total),
        registry: format!("{:?}", state.registry_stage).to_lowercase(),
        submissions: state.submissions,
        submitted_late: state.first_submission_late.unwrap_or(false),
        act_total: state.act.as_ref().map(|act| act.total),
        paid: state.paid_total,
    }
}

/// What the summary keeps of a closed KZ period once its state is dropped (DESIGN §10).
#[derive(Debug, Clone)]
pub struct Retired {
    pub summary: PeriodSummary,
    first_submission_late: Option<bool>,
    review: Option<Deadline>,
    approved_at: Option<Timestamp>,
    signing: Option<Deadline>,
    signed_at: Option<Timestamp>,
}

impl Retired {
    pub fn of(state: &PeriodState, period: ReportingPeriod) -> Retired {
        Retired {
            summary: period_summary(state, period),
            first_submission_late: state.first_submission_late,
            review: state.review,
            approved_at: state.approved.as_ref().map(|approved| approved.approved_at),
            signing: state.signing,
            signed_at: state.signed.as_ref().map(|signed| signed.signed_at),
        }
    }
}

fn count(counts: &mut ClockCounts, deadline: Option<&Deadline>, met_at: Option<Timestamp>) {
    match (deadline, met_at) {
        (Some(deadline), Some(at)) if local_date(Jurisdiction::KZ, at) <= deadline.due => {
            counts.met_on_time += 1
        }
        (Some(_), Some(_)) => counts.met_late += 1,
        (Some(_), None) => counts.open += 1,
        (None, _) => {}
    }
}

fn clocks(period: &Retired, all: &mut std::collections::BTreeMap<String, ClockCounts>) {
    let submission = all.entry("REGISTRY_SUBMISSION".into()).or_default();
    match period.first_submission_late {
        Some(false) => submission.met_on_time += 1,
        Some(true) => submission.met_late += 1,
        None => submission.open += 1,
    }
    count(
        all.entry("REGISTRY_REVIEW".into()).or_default(),
        period.review.as_ref(),
        period.approved_at,
    );
    count(
        all.entry("ACT_SIGNING".into()).or_default(),
        period.signing.as_ref(),
        period.signed_at,
    );
}

/// Brings every state the summary reads up to date with the log: on a re-run every command is a
/// duplicate, and a duplicate never loads the state it would have been decided against.
pub async fn load_states(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
) -> anyhow::Result<()> {
    use chrono::Datelike;
    for holder in world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == Jurisdiction::KZ)
    {
        engine
            .contracts
            .load(&*engine.log, &contract_stream(&holder.contract_id))
            .await?;
        for period in periods {
            // A re-run appends nothing and so closes nothing: its periods are read from the log.
            let stream_id = period_stream(&holder.contract_id, *period);
            let retired = engine
                .retired
                .lock()
                .expect("retired periods lock")
                .contains_key(&stream_id);
            if !retired {
                engine.retire_period(&holder.contract_id, *period).await?;
            }
        }
    }
    let years: std::collections::BTreeSet<i32> = periods
        .iter()
        .flat_map(|period| [period.first_day().year(), period.first_day().year() + 1])
        .collect();
    for year in years {
        for (jurisdiction, programme) in BUDGETS {
            if let Ok(id) = BudgetId::new(jurisdiction, programme, FiscalYear(year)) {
                engine
                    .budgets
                    .load(&*engine.log, &stream(id.stream_id()))
                    .await?;
            }
        }
    }
    Ok(())
}

const BUDGETS: [(Jurisdiction, Programme); 3] = [
    (Jurisdiction::KZ, Programme::Gobmp),
    (Jurisdiction::KZ, Programme::Osms),
    (Jurisdiction::KG, Programme::KgChiAdditional),
];

/// Builds the summary from the writer's folded states (see [`load_states`]).
pub fn build(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
    options: &super::DemoOptions,
    timing: Timing,
    events_written: u64,
    kg: KgSummary,
) -> DemoSummary {
    let dispensings = options.dispensings;
    let mut contracts = Vec::new();
    let mut all_clocks = std::collections::BTreeMap::new();
    for holder in world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == Jurisdiction::KZ)
    {
        let status = engine
            .contracts
            .peek(&contract_stream(&holder.contract_id), |state| {
                format!("{:?}", state.stage).to_lowercase()
            })
            .unwrap_or_else(|| "unknown".into());
        let mut summaries = Vec::new();
        for period in periods {
            let stream_id = period_stream(&holder.contract_id, *period);
            if let Some(retired) = engine
                .retired
                .lock()
                .expect("retired periods lock")
                .get(&stream_id)
            {
                clocks(retired, &mut all_clocks);
                summaries.push(retired.summary.clone());
            }
        }
        contracts.push(ContractSummary {
            contract_id: holder.contract_id.clone(),
            holder: holder.holder.name.clone(),
            status,
            periods: summaries,
        });
    }
    let dispensed = dispensings * u64::try_from(periods.len()).expect("month count fits");
    let month_rates = periods
        .iter()
        .zip(&timing.month_elapsed)
        .map(|(period, elapsed)| MonthRate {
            period: period.key(),
            dispensings_per_second: per_second(dispensings, *elapsed),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        })
        .collect();
    DemoSummary {
        seed: engine.seed,
        months: periods.iter().map(|period| period.key()).collect(),
        dispensings_per_month: dispensings,
        events_written,
        dispensing_events_per_second: per_second(dispensed, timing.dispensing_elapsed),
        month_rates,
        kg_dispensings_per_month: options.kg_dispensings,
        kg_dispensings_per_second: per_second(timing.kg_recorded, timing.kg_elapsed),
        kg_elapsed_ms: u64::try_from(timing.kg_elapsed.as_millis()).unwrap_or(u64::MAX),
        elapsed_ms: u64::try_from(timing.total_elapsed.as_millis()).unwrap_or(u64::MAX),
        contracts,
        clocks: all_clocks,
        budgets: budgets(engine, periods),
        kg,
        exports: Vec::new(),
    }
}

fn budgets(engine: &Engine, periods: &[ReportingPeriod]) -> Vec<BudgetSummary> {
    use chrono::Datelike;
    let years: std::collections::BTreeSet<i32> = periods
        .iter()
        .flat_map(|period| [period.first_day().year(), period.first_day().year() + 1])
        .collect();
    let mut result = Vec::new();
    for year in years {
        for (jurisdiction, programme) in BUDGETS {
            let Ok(id) = BudgetId::new(jurisdiction, programme, FiscalYear(year)) else {
                continue;
            };
            let totals = engine.budgets.peek(&stream(id.stream_id()), |budget| {
                budget.as_ref().map(|budget| {
                    let currency = Currency::of(jurisdiction);
                    let add = |pick: fn(&ledger::domain::budget::BudgetLine) -> Money| {
                        budget
                            .lines()
                            .map(|(_, line)| pick(line))
                            .try_fold(Money::zero(currency), |sum, amount| sum.checked_add(amount))
                            .expect("budget totals fit")
                    };
                    BudgetSummary {
                        budget: id.stream_id(),
                        allocated: add(|line| line.allocated),
                        committed: add(|line| line.committed),
                        paid: add(|line| line.paid),
                        balance: add(|line| line.balance),
                    }
                })
            });
            if let Some(Some(summary)) = totals {
                result.push(summary);
            }
        }
    }
    result
}

/// The summary as a person reads it.
pub fn render(summary: &DemoSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nledger demo (seed {}, months {})",
        summary.seed,
        summary.months.join(", ")
    );
    let _ = writeln!(
        out,
        "  events written: {}   dispensings recorded at {} events/s   elapsed {}.{:03} s",
        summary.events_written,
        summary.dispensing_events_per_second,
        summary.elapsed_ms / 1000,
        summary.elapsed_ms % 1000
    );
    render_month_rates(&mut out, summary);
    render_kg_rate(&mut out, summary);
    let _ = writeln!(
        out,
        "\n  {:<8} {:<8} {:>8}  {:>18}  {:>16}  {:<9} {:<11}",
        "contract", "period", "lines", "Fund Σ15", "patient Σ16", "registry", "status"
    );
    for contract in &summary.contracts {
        for period in &contract.periods {
            let late = if period.submitted_late { " (late)" } else { "" };
            let resubmitted = if period.submissions > 1 {
                " (resubmitted)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {:>8}  {:>18}  {:>16}  {:<9} {}{late}{resubmitted}",
                contract.contract_id,
                period.period,
                period.lines,
                period.fund.to_string(),
                period.patient.to_string(),
                period.registry,
                contract.status
            );
        }
    }
    let _ = writeln!(out, "\n  clocks           on time   late   open");
    for (rule, counts) in &summary.clocks {
        let _ = writeln!(
            out,
            "  {rule:<20} {:>5} {:>6} {:>6}",
            counts.met_on_time, counts.met_late, counts.open
        );
    }
    let _ = writeln!(
        out,
        "\n  budgets                                    allocated            paid           balance"
    );
    for budget in &summary.budgets {
        let _ = writeln!(
            out,
            "  {:<34} {:>17} {:>15} {:>17}",
            budget.budget,
            budget.allocated.to_string(),
            budget.paid.to_string(),
            budget.balance.to_string()
        );
    }
    super::kg::summary::render(&mut out, &summary.kg);
    render_exports(&mut out, &summary.exports);
    out
}

/// Issue #16 §5: each month's dispensing rate, and the last month's against the first.
fn render_month_rates(out: &mut String, summary: &DemoSummary) {
    use std::fmt::Write;
    let (Some(first), Some(last)) = (summary.month_rates.first(), summary.month_rates.last())
    else {
        return;
    };
    let rates: Vec<String> = summary
        .month_rates
        .iter()
        .map(|month| format!("{} {}/s", month.period, month.dispensings_per_second))
        .collect();
    let _ = writeln!(out, "  dispensings per month: {}", rates.join(", "));
    if summary.month_rates.len() > 1 {
        let _ = writeln!(
            out,
            "  last month at {}% of the first",
            last.dispensings_per_second * 100 / first.dispensings_per_second.max(1)
        );
    }
}

/// Issue #17: the KG phase's own rate.
fn render_kg_rate(out: &mut String, summary: &DemoSummary) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "  KG sales: {} a month drawn, recorded at {} dispensings/s (KG phase {}.{:03} s)",
        summary.kg_dispensings_per_month,
        summary.kg_dispensings_per_second,
        summary.kg_elapsed_ms / 1000,
        summary.kg_elapsed_ms % 1000
    );
}

fn render_exports(out: &mut String, exports: &[String]) {
    use std::fmt::Write;
    if let (Some(first), Some(last)) = (exports.first(), exports.last()) {
        let _ = writeln!(
            out,
            "\n  registries and acts (Appendix 1 and 2, CSV and printable HTML): {} files",
            exports.len()
        );
        let _ = writeln!(out, "    {first}\n    …\n    {last}");
    }
}
