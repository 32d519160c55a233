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
use crate::demo::engine::{Engine, contract_stream, period_stream, stream};
use crate::demo::world::{KgPharmacy, World};
use crate::submit::dispute::dispute_stream;
use crate::submit::route::recovery_stream;
use ledger::domain::kg::recovery::Debtor;

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
    /// KG dispensings recorded and not reversed, and Σ their reimbursement and Σ paid settlements
    /// (KGS).
    pub dispensings: u32,
    pub reimbursement: Money,
    pub paid: Money,
    /// The recorded dispensings by the rule their case exercises, read from the log: `M-18
    /// substituted`, `M-14 over the course dose`, `M-15 capped`, `A-18 partial` (the rest left
    /// open), `A-18 carried` (a later sale on a prescription already dispensed), `P-09 reversed`.
    pub cases: BTreeMap<String, u32>,
    /// Drawn dispensings the domain refused, by rule ID (D-11, R-03, E-08, V-03, O-01): nothing of
    /// them is on the log, so this count comes from the run.
    pub refused_dispensings: BTreeMap<String, u32>,
    /// The settlements (P-09, D-13, R-04, X-01…X-03), read from the log.
    pub settlement: KgSettlementCounts,
    pub contracts: Vec<KgContractSummary>,
}

/// What the KG settlements went through, counted on the log (and the refused claims, from the run).
#[derive(Debug, Clone, Serialize)]
pub struct KgSettlementCounts {
    /// First submissions, rejections, resubmissions and approvals of payment reports (P-09).
    pub reports: u32,
    pub rejected: u32,
    pub resubmitted: u32,
    pub approved: u32,
    /// recoveries assessed against pharmacies, and offsets made at approvals.
    pub recoveries_assessed: u32,
    pub recovered: Money,
    pub offsets: u32,
    pub offset: Money,
    /// X-01…X-03: claims filed and resolved in protocols; claims refused, by rule (A-27, D-12).
    pub disputes_filed: u32,
    pub disputes_resolved: u32,
    pub refused_claims: BTreeMap<String, u32>,
}

impl Default for KgSettlementCounts {
    fn default() -> KgSettlementCounts {
        KgSettlementCounts {
            reports: 0,
            rejected: 0,
            resubmitted: 0,
            approved: 0,
            recoveries_assessed: 0,
            recovered: Money::zero(Currency::KGS),
            offsets: 0,
            offset: Money::zero(Currency::KGS),
            disputes_filed: 0,
            disputes_resolved: 0,
            refused_claims: BTreeMap::new(),
        }
    }
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
            cases: BTreeMap::new(),
            refused_dispensings: BTreeMap::new(),
            settlement: KgSettlementCounts::default(),
            contracts: Vec::new(),
        }
    }
}

/// Reads the KG streams of `world` back from the log: the contracts, every period from the month
/// before the first demo month (the KG contracts are concluded in it) to the last, the pharmacies'
/// recovery streams and the scripted dispute streams.
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
    summary.settlement.refused_claims = engine.kg_refusals.claim_counts();
    let months: Vec<ReportingPeriod> = periods
        .first()
        .and_then(|first| super::settle::month_before(*first))
        .into_iter()
        .chain(periods.iter().copied())
        .collect();
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
        let mut seen = std::collections::BTreeSet::new();
        for period in &months {
            let month = read_period(engine, pharmacy, *period, &mut summary, &mut seen).await?;
            if month.lines > 0 || month.report != "open" {
                summary.dispensings += month.lines;
                summary.reimbursement = add(summary.reimbursement, month.reimbursement)?;
                summary.paid = add(summary.paid, month.paid)?;
                contract.periods.push(month);
            }
            read_disputes(engine, pharmacy, *period, &mut summary.settlement).await?;
        }
        read_recoveries(engine, pharmacy, &mut summary.settlement).await?;
        summary.contracts.push(contract);
    }
    Ok(summary)
}

/// The recoveries assessed against a pharmacy.
async fn read_recoveries(
    engine: &Engine,
    pharmacy: &KgPharmacy,
    counts: &mut KgSettlementCounts,
) -> anyhow::Result<()> {
    let debtor = Debtor::Pharmacy(pharmacy.tin.to_string());
    let stream_id = stream(recovery_stream(&debtor));
    for envelope in engine.log.read_stream(&stream_id, StreamVersion(1)).await? {
        if let Event::RecoveryAssessed(assessed) = crate::writer::decode(&envelope)? {
            counts.recoveries_assessed += 1;
            counts.recovered = add(counts.recovered, assessed.amount)?;
        }
    }
    Ok(())
}

/// The disputes the demo could have filed about the month (X-01…X-03).
async fn read_disputes(
    engine: &Engine,
    pharmacy: &KgPharmacy,
    period: ReportingPeriod,
    counts: &mut KgSettlementCounts,
) -> anyhow::Result<()> {
    for n in 1..=2 {
        let dispute_id = format!("DSP-{}-{}-{n}", pharmacy.contract_id, period.key());
        let stream_id = stream(dispute_stream(&pharmacy.contract_id, &dispute_id));
        for envelope in engine.log.read_stream(&stream_id, StreamVersion(1)).await? {
            match crate::writer::decode(&envelope)? {
                Event::DisputeClaimFiled(_) => counts.disputes_filed += 1,
                Event::DisputeResolved(_) => counts.disputes_resolved += 1,
                _ => {}
            }
        }
    }
    Ok(())
}

/// One KG contract's month, read back from its period stream; its cases and settlement steps are
/// counted into `summary` (`seen`: the prescriptions dispensed in earlier months, A-18).
async fn read_period(
    engine: &Engine,
    pharmacy: &KgPharmacy,
    period: ReportingPeriod,
    summary: &mut KgSummary,
    seen: &mut std::collections::BTreeSet<(String, String)>,
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
        let event = crate::writer::decode(&envelope)?;
        count_case(summary, seen, &event);
        fold_period(&mut month, &mut summary.settlement, &event)?;
    }
    Ok(month)
}

/// Counts a recorded dispensing's case by the rule it exercises.
fn count_case(
    summary: &mut KgSummary,
    seen: &mut std::collections::BTreeSet<(String, String)>,
    event: &Event,
) {
    let mut case = |name: &str| *summary.cases.entry(name.to_owned()).or_default() += 1;
    match event {
        Event::KgDispensingRecorded(recorded) => {
            let reimbursement = &recorded.reimbursement;
            if reimbursement.substituted {
                case("M-18 substituted");
            }
            if reimbursement.excess_units.is_some() {
                case("M-14 over the course dose");
            }
            if reimbursement.reimbursement.minor < reimbursement.compensation.minor {
                case("M-15 capped");
            }
            if !reimbursement.prescription_closed {
                case("A-18 partial");
            }
            let key = (
                recorded.prescription.patient_pin.to_string(),
                recorded.prescription.number.clone(),
            );
            if !seen.insert(key) {
                case("A-18 carried");
            }
        }
        Event::KgDispensingReversed(_) => case("P-09 reversed"),
        _ => {}
    }
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

/// Folds one event of a KG period stream into its month and the settlement counts.
fn fold_period(
    month: &mut KgPeriodSummary,
    counts: &mut KgSettlementCounts,
    event: &Event,
) -> anyhow::Result<()> {
    match event {
        Event::KgDispensingRecorded(recorded) => {
            month.lines += 1;
            month.reimbursement = add(month.reimbursement, recorded.reimbursement.reimbursement)?;
        }
        Event::KgDispensingReversed(reversed) => {
            month.lines -= 1;
            month.reimbursement = month
                .reimbursement
                .checked_sub(reversed.reimbursement)
                .map_err(|error| anyhow::anyhow!("KG totals: {error}"))?;
        }
        Event::KgPaymentReportSubmitted(report) => {
            month.report = "submitted".into();
            if report.submission == 1 {
                counts.reports += 1;
            } else {
                counts.resubmitted += 1;
            }
        }
        Event::KgPaymentReportRejected(_) => {
            month.report = "rejected".into();
            counts.rejected += 1;
        }
        Event::KgPaymentReportApproved(approved) => {
            month.report = "approved".into();
            month.net_payable = Some(approved.net_payable);
            counts.approved += 1;
        }
        Event::RecoveryOffset(offset) => {
            counts.offsets += 1;
            counts.offset = add(counts.offset, offset.amount)?;
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
    render_counts(out, kg);
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

/// The recorded cases and the settlement counts.
fn render_counts(out: &mut String, kg: &KgSummary) {
    use std::fmt::Write;
    let cases: Vec<String> = kg
        .cases
        .iter()
        .map(|(case, count)| format!("{count} {case}"))
        .collect();
    let _ = writeln!(out, "  KG cases recorded: {}", cases.join(", "));
    let settlement = &kg.settlement;
    let claims: Vec<String> = settlement
        .refused_claims
        .iter()
        .map(|(rule, count)| format!("{count} by {rule}"))
        .collect();
    let _ = writeln!(
        out,
        "  KG settlements: {} reports ({} rejected, {} resubmitted, {} approved); {} recoveries \
         assessed ({}), {} offset ({}); {} disputes filed, {} resolved, claims refused {}",
        settlement.reports,
        settlement.rejected,
        settlement.resubmitted,
        settlement.approved,
        settlement.recoveries_assessed,
        settlement.recovered,
        settlement.offsets,
        settlement.offset,
        settlement.disputes_filed,
        settlement.disputes_resolved,
        if claims.is_empty() {
            "none".to_owned()
        } else {
            claims.join(", ")
        }
    );
}
