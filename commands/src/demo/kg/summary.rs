//! The KG part of the demo's summary, folded from the KG contract streams and the Reference Book on
//! the log (not from what the demo meant to do), so that it shows what was actually recorded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger::domain::calendar::local_date;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::values::ReportingPeriod;
use ledger::log::StreamVersion;
use serde::Serialize;

use super::reference_books;
use crate::demo::engine::{Engine, contract_stream, period_stream};
use crate::demo::world::{KgPharmacy, World};

/// The Reference Book in force at the end of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceBookSummary {
    pub version: u32,
    pub effective_from: NaiveDate,
    pub drugs: u32,
}

/// One KG contract as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct KgContractSummary {
    pub contract_id: String,
    pub pharmacy: String,
    pub tin: String,
    pub region: String,
    /// `under review`, `refused`, `concluded`, `renewed` or `expired`.
    pub status: String,
    /// The current (or last) validity term, both ends inclusive (C-08).
    pub term_starts_on: Option<NaiveDate>,
    pub term_ends_on: Option<NaiveDate>,
    /// D-10, A-23: the refusal deadline of the application, and the day a refusal was sent.
    pub refusal_due: Option<NaiveDate>,
    pub refused_on: Option<NaiveDate>,
    pub refusal_reasons: Vec<String>,
    /// an objection to the renewal was filed.
    pub objected: bool,
    /// Each demo month with dispensings.
    pub periods: Vec<KgPeriodSummary>,
}

/// One KG contract's month as recorded: its dispensings and their settlement (KGS).
#[derive(Debug, Clone, Serialize)]
pub struct KgPeriodSummary {
    pub period: String,
    pub lines: u32,
    /// Σ reimbursement of the lines (M-13…M-15).
    pub reimbursement: Money,
    /// `open`, `submitted`, `rejected` or `approved`.
    pub report: String,
    pub net_payable: Option<Money>,
    pub paid: Money,
}

/// Counts over the KG contracts, and each contract.
#[derive(Debug, Clone, Serialize)]
pub struct KgSummary {
    pub reference_book: Option<ReferenceBookSummary>,
    pub applications: u32,
    pub concluded: u32,
    pub refused: u32,
    /// Refusals sent by their D-10 deadline.
    pub refused_on_time: u32,
    pub objections: u32,
    pub renewed: u32,
    pub expired: u32,
    /// KG dispensings recorded, and Σ their reimbursement and Σ paid settlements (KGS).
    pub dispensings: u32,
    pub reimbursement: Money,
    pub paid: Money,
    /// Scripted dispensings the domain refused, by rule ID (R-03, D-11): nothing of them is on the log.
    pub refused_dispensings: BTreeMap<String, u32>,
    pub contracts: Vec<KgContractSummary>,
}

impl Default for KgSummary {
    fn default() -> KgSummary {
        KgSummary {
            reference_book: None,
            applications: 0,
            concluded: 0,
            refused: 0,
            refused_on_time: 0,
            objections: 0,
            renewed: 0,
            expired: 0,
            dispensings: 0,
            reimbursement: Money::zero(Currency::KGS),
            paid: Money::zero(Currency::KGS),
            refused_dispensings: BTreeMap::new(),
            contracts: Vec::new(),
        }
    }
}

/// Reads the KG streams of `world` back from the log.
pub async fn summarise(
    engine: &Engine,
    world: &World,
    periods: &[ReportingPeriod],
) -> anyhow::Result<KgSummary> {
    let books = reference_books(engine).await?;
    let mut summary = KgSummary {
        reference_book: books.latest().map(|book| ReferenceBookSummary {
            version: book.version,
            effective_from: book.effective_from,
            drugs: u32::try_from(book.entries.len()).expect("M-10 bounds the book"),
        }),
        refused_dispensings: engine.kg_refusals.counts(),
        ..KgSummary::default()
    };
    for pharmacy in &world.kg_pharmacies {
        let mut contract = empty(pharmacy);
        for envelope in engine
            .log
            .read_stream(&contract_stream(&pharmacy.contract_id), StreamVersion(1))
            .await?
        {
            fold(
                &mut summary,
                &mut contract,
                &crate::writer::decode(&envelope)?,
            );
        }
        for period in periods {
            let month = read_period(engine, pharmacy, *period).await?;
            if month.lines > 0 {
                summary.dispensings += month.lines;
                summary.reimbursement = add(summary.reimbursement, month.reimbursement)?;
                summary.paid = add(summary.paid, month.paid)?;
                contract.periods.push(month);
            }
        }
        summary.contracts.push(contract);
    }
    Ok(summary)
}

/// One KG contract's month, read back from its period stream.
async fn read_period(
    engine: &Engine,
    pharmacy: &KgPharmacy,
    period: ReportingPeriod,
) -> anyhow::Result<KgPeriodSummary> {
    let mut month = KgPeriodSummary {
        period: period.key(),
        lines: 0,
        reimbursement: Money::zero(Currency::KGS),
        report: "open".into(),
        net_payable: None,
        paid: Money::zero(Currency::KGS),
    };
    let stream_id = period_stream(&pharmacy.contract_id, period);
    for envelope in engine.log.read_stream(&stream_id, StreamVersion(1)).await? {
        fold_period(&mut month, &crate::writer::decode(&envelope)?)?;
    }
    Ok(month)
}

fn empty(pharmacy: &KgPharmacy) -> KgContractSummary {
    KgContractSummary {
        contract_id: pharmacy.contract_id.clone(),
        pharmacy: pharmacy.name.clone(),
        tin: pharmacy.tin.to_string(),
        region: pharmacy.region.name_en().to_owned(),
        status: "not applied".into(),
        term_starts_on: None,
        term_ends_on: None,
        refusal_due: None,
        refused_on: None,
        refusal_reasons: Vec::new(),
        objected: false,
        periods: Vec::new(),
    }
}

fn add(sum: Money, amount: Money) -> anyhow::Result<Money> {
    sum.checked_add(amount)
        .map_err(|error| anyhow::anyhow!("KG totals: {error}"))
}

/// Folds one event of a KG period stream into its month.
fn fold_period(month: &mut KgPeriodSummary, event: &Event) -> anyhow::Result<()> {
    match event {
        Event::KgDispensingRecorded(recorded) => {
            month.lines += 1;
            month.reimbursement = add(month.reimbursement, recorded.reimbursement.reimbursement)?;
        }
        Event::KgPaymentReportSubmitted(_) => month.report = "submitted".into(),
        Event::KgPaymentReportRejected(_) => month.report = "rejected".into(),
        Event::KgPaymentReportApproved(approved) => {
            month.report = "approved".into();
            month.net_payable = Some(approved.net_payable);
        }
        Event::KgSettlementPaid(paid) => month.paid = add(month.paid, paid.amount)?,
        _ => {}
    }
    Ok(())
}

/// Folds one event of a KG contract stream into the contract and the counts.
fn fold(summary: &mut KgSummary, contract: &mut KgContractSummary, event: &Event) {
    let mut term = None;
    match event {
        Event::KgContractApplicationReceived(received) => {
            summary.applications += 1;
            contract.status = "under review".into();
            contract.refusal_due = Some(received.refusal.due);
        }
        Event::KgContractConcluded(concluded) => {
            summary.concluded += 1;
            contract.status = "concluded".into();
            term = Some(concluded.term);
        }
        Event::ContractRefused(refused) => {
            let refused_on = local_date(Jurisdiction::KG, refused.refused_at);
            summary.refused += 1;
            if contract.refusal_due.is_some_and(|due| refused_on <= due) {
                summary.refused_on_time += 1;
            }
            contract.status = "refused".into();
            contract.refused_on = Some(refused_on);
            contract.refusal_reasons = refused.reasons.iter().map(|r| r.detail.clone()).collect();
        }
        Event::ContractObjectionFiled(_) => {
            summary.objections += 1;
            contract.objected = true;
        }
        Event::ContractRenewed(renewed) => {
            summary.renewed += 1;
            contract.status = "renewed".into();
            term = Some(renewed.term);
        }
        Event::ContractExpired(_) => {
            summary.expired += 1;
            contract.status = "expired".into();
        }
        _ => {}
    }
    if let Some(term) = term {
        contract.term_starts_on = Some(term.starts_on);
        contract.term_ends_on = term.ends_on;
    }
}

/// ", N dispensings in M months, paid X" when the contract dispensed.
fn dispensed(contract: &KgContractSummary) -> String {
    let lines: u32 = contract.periods.iter().map(|month| month.lines).sum();
    let paid = Money::sum(
        Currency::KGS,
        contract.periods.iter().map(|month| &month.paid),
    );
    match paid {
        Ok(paid) if lines > 0 => format!(
            "; {lines} dispensings in {} months, paid {paid}",
            contract.periods.len()
        ),
        _ => String::new(),
    }
}

/// The KG section of the summary as a person reads it.
pub fn render(out: &mut String, kg: &KgSummary) {
    use std::fmt::Write;
    let book = kg.reference_book.as_ref().map_or_else(
        || "no Reference Book".to_owned(),
        |book| {
            format!(
                "Reference Book v{} ({} drugs) from {}",
                book.version, book.drugs, book.effective_from
            )
        },
    );
    let _ = writeln!(
        out,
        "\n  KG additional programme: {} applications, {} concluded, {} refused ({} on time), \
         {} objections, {} renewed, {} expired; {book}",
        kg.applications,
        kg.concluded,
        kg.refused,
        kg.refused_on_time,
        kg.objections,
        kg.renewed,
        kg.expired
    );
    let refused: Vec<String> = kg
        .refused_dispensings
        .iter()
        .map(|(rule, count)| format!("{count} by {rule}"))
        .collect();
    let _ = writeln!(
        out,
        "  KG dispensings: {} recorded, reimbursed {}, paid {}; refused {}",
        kg.dispensings,
        kg.reimbursement,
        kg.paid,
        if refused.is_empty() {
            "none".to_owned()
        } else {
            refused.join(", ")
        }
    );
    for contract in &kg.contracts {
        let detail = match (
            contract.term_starts_on,
            contract.term_ends_on,
            contract.refused_on,
        ) {
            (_, _, Some(refused_on)) => format!(
                "refused {refused_on} (due {})",
                contract
                    .refusal_due
                    .map_or_else(String::new, |due| due.to_string())
            ),
            (Some(starts_on), Some(ends_on), None) => format!("term {starts_on} … {ends_on}"),
            _ => String::new(),
        };
        let objected = if contract.objected {
            ", objection filed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<8} {:<20} {:<18} {:<12} {detail}{objected}{}",
            contract.contract_id,
            contract.pharmacy,
            contract.region,
            contract.status,
            dispensed(contract)
        );
    }
}
