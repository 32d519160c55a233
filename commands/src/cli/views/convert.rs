//! From view data to the printed-form models of `crate::render` and to the JSON DTOs (the views stay
//! free of presentation; STYLE §2.1: wire types live in `commands`).

use std::fmt::Write;

use chrono::NaiveDate;
use ledger::domain::context::local_date;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::prices::ProductKey;
use ledger::domain::region::Region;
use projector::views::act::Act;
use projector::views::budgets::{BudgetChange, BudgetLine};
use projector::views::contracts::ContractRecord;
use projector::views::registry::{HolderFacts, Registry};
use serde::Serialize;

use crate::render::forms::{self, FormHeader};
use crate::render::{ActForm, RegistryForm};

/// `Астана (KZ:710000000)`: the region as printed on the forms.
pub fn region_text(region: Region) -> String {
    format!(
        "{} ({}:{})",
        region.name_ru(),
        region.jurisdiction(),
        region.code()
    )
}

fn header(
    holder: &HolderFacts,
    contract: &str,
    period: ledger::domain::values::ReportingPeriod,
    document_number: Option<String>,
    document_date: Option<NaiveDate>,
    currency: Currency,
) -> FormHeader {
    FormHeader {
        document_number: document_number.unwrap_or_else(|| "—".to_owned()),
        document_date: document_date.unwrap_or(period.last_day()),
        period_from: period.first_day(),
        period_to: period.last_day(),
        contract_number: contract.to_owned(),
        contract_date: holder.concluded_on.unwrap_or(period.first_day()),
        supplier_name: holder
            .holder_name
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        supplier_bin: holder
            .holder_bin
            .map(|bin| bin.to_string())
            .unwrap_or_default(),
        currency,
    }
}

fn jurisdiction(holder: &HolderFacts) -> Jurisdiction {
    holder.jurisdiction.unwrap_or(Jurisdiction::KZ)
}

/// Appendix 1 from the registry view.
pub fn registry_form(registry: &Registry) -> RegistryForm {
    let date = registry
        .header
        .submitted_at
        .map(|at| local_date(jurisdiction(&registry.holder), at));
    RegistryForm {
        header: header(
            &registry.holder,
            registry.contract_id.as_str(),
            registry.period,
            registry
                .header
                .registry_no
                .as_ref()
                .map(ToString::to_string),
            date,
            registry.totals.fund.currency,
        ),
        status: registry.header.status.name().to_owned(),
        lines: registry.lines.iter().map(registry_line).collect(),
    }
}

fn registry_line(line: &ledger::domain::period::events::RegistryLine) -> forms::RegistryLine {
    let (inn, dose_form) = match &line.product {
        ProductKey::Drug { inn, dose_form } => (inn.to_string(), dose_form.to_string()),
        ProductKey::Device { characteristic } => (characteristic.to_string(), String::new()),
    };
    forms::RegistryLine {
        number: line.line_no,
        dispenser_name: line.dispenser_name.to_string(),
        dispenser_bin: line.dispenser_bin.to_string(),
        region: region_text(line.region),
        icd10: line.icd10.to_string(),
        patient_iin: line.patient_iin.to_string(),
        prescription_number: line.prescription.number.to_string(),
        prescription_date: line.prescription.written_on,
        inn,
        trade_name: line.trade_name.to_string(),
        dose_form,
        unit: line.unit.to_string(),
        limit_unit_price: line.limit_unit_price.to_string(),
        fiscal_receipt: format!(
            "{}:{}",
            line.fiscal_receipt.rnm(),
            line.fiscal_receipt.fiscal_sign()
        ),
        marking_code: line.marking_code.to_string(),
        fund: line.fund_amount,
        patient: line.patient_amount,
        total: line.total_amount,
    }
}

/// Appendix 2 from the act view and the holder facts.
pub fn act_form(act: &Act, holder: &HolderFacts) -> ActForm {
    let date = local_date(jurisdiction(holder), act.submitted_at);
    ActForm {
        header: header(
            holder,
            act.contract_id.as_str(),
            act.period,
            Some(act.act_no.to_string()),
            Some(date),
            act.total.currency,
        ),
        status: act.status.name().to_owned(),
        rows: act
            .rows
            .iter()
            .map(|row| forms::ActRow {
                number: row.row_no,
                region: region_text(row.region),
                supplier_name: row.supplier.to_string(),
                prescriptions: u64::from(row.prescriptions),
                fund: row.fund_amount,
            })
            .collect(),
    }
}

/// A terminal table of an act: rows, total, status and payments.
pub fn act_table(act: &Act, form: &ActForm) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Act {} for contract {} ({} {}), period {} – {}, status {}",
        form.header.document_number,
        form.header.contract_number,
        form.header.supplier_name,
        form.header.supplier_bin,
        form.header.period_from,
        form.header.period_to,
        form.status
    );
    for row in &form.rows {
        let _ = writeln!(
            out,
            "{:>4}  {:<40}  {:>8} prescriptions  {:>16}",
            row.number,
            row.region,
            row.prescriptions,
            row.fund.to_plain_string()
        );
    }
    let _ = writeln!(out, "total {}  paid {}", form.total(), act.paid_total);
    for payment in &act.payments {
        let _ = writeln!(
            out,
            "  paid {} on {} ref {} (fiscal year {}, event {})",
            payment.amount,
            payment.paid_at,
            payment.payment_ref,
            payment.fiscal_year,
            payment.event_id
        );
    }
    out
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct RegistryJson<'a> {
    pub form: &'a RegistryForm,
    pub totals: forms::RegistryTotals,
    pub submissions: u32,
    pub late: bool,
    pub content_hash: Option<String>,
}

impl<'a> RegistryJson<'a> {
    pub fn new(registry: &Registry, form: &'a RegistryForm) -> RegistryJson<'a> {
        RegistryJson {
            form,
            totals: form.totals(),
            submissions: registry.header.submissions,
            late: registry.header.late,
            content_hash: registry.header.content_hash.map(|hash| hash.to_string()),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ActJson<'a> {
    pub form: &'a ActForm,
    pub total: Money,
    pub paid_total: Money,
    pub fiscal_year: Option<i32>,
    pub payments: Vec<serde_json::Value>,
}

impl<'a> ActJson<'a> {
    pub fn new(act: &Act, form: &'a ActForm) -> ActJson<'a> {
        let payments = act
            .payments
            .iter()
            .map(|payment| {
                serde_json::json!({
                    "payment_ref": payment.payment_ref.to_string(),
                    "paid_at": payment.paid_at.to_string(),
                    "amount": payment.amount,
                    "fiscal_year": payment.fiscal_year,
                    "event_id": payment.event_id.to_string(),
                })
            })
            .collect();
        ActJson {
            form,
            total: act.total,
            paid_total: act.paid_total,
            fiscal_year: act.fiscal_year,
            payments,
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct BudgetJson {
    pub line: BudgetLine,
    pub history: Vec<BudgetChange>,
}

pub fn budget_text(country: &str, year: i32, lines: &[BudgetJson]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Budget {country} fiscal year {year}: {} lines",
        lines.len()
    );
    for BudgetJson { line, history } in lines {
        let _ = writeln!(
            out,
            "{} {}: allocated {} transferred {} committed {} paid {} balance {}{}{}{}",
            line.programme,
            region_text(line.region),
            line.allocated,
            line.transferred,
            line.committed,
            line.paid,
            line.balance,
            nonzero(" carried forward ", line.carried_forward),
            nonzero(" expired ", line.expired),
            line.closed_on
                .map(|on| format!(" closed {on}"))
                .unwrap_or_default(),
        );
        for change in history {
            let _ = writeln!(
                out,
                "  {} {:<28} {:>18} {} {}",
                change.on,
                change.event_type,
                change.amount.to_string(),
                change.event_id,
                change.note
            );
        }
    }
    out
}

fn nonzero(label: &str, amount: Money) -> String {
    if amount.minor == 0 {
        String::new()
    } else {
        format!("{label}{amount}")
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ContractJson<'a> {
    pub record: &'a ContractRecord,
    pub network_by_region: std::collections::BTreeMap<&'static str, u32>,
    pub pharmacies: usize,
    pub eligible: bool,
    /// The clocks overdue as of `--as-of` (empty without it).
    pub overdue: Vec<super::OverdueClock>,
}

impl<'a> ContractJson<'a> {
    pub fn new(record: &'a ContractRecord, overdue: Vec<super::OverdueClock>) -> ContractJson<'a> {
        ContractJson {
            record,
            network_by_region: record.network_by_region(),
            pharmacies: record.pharmacies.len(),
            eligible: record.eligible(),
            overdue,
        }
    }
}

pub fn contracts_text(
    records: &[ContractRecord],
    overdue: &std::collections::BTreeMap<String, Vec<super::OverdueClock>>,
) -> String {
    let mut out = String::new();
    for record in records {
        let by_region = record.network_by_region();
        let regions: Vec<String> = by_region
            .iter()
            .map(|(region, count)| format!("{region}:{count}"))
            .collect();
        let _ = writeln!(
            out,
            "{}  {}  {} {}  pharmacies {} in {} regions [{}]  iss {}  eligible {}  grounds {}",
            record.contract_id,
            record.status.name(),
            record
                .holder_name
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            record
                .holder_bin
                .map(|bin| bin.to_string())
                .unwrap_or_default(),
            record.pharmacies.len(),
            by_region.len(),
            regions.join(" "),
            if record.iss_certified { "yes" } else { "no" },
            if record.eligible() { "yes" } else { "no" },
            record.grounds.len(),
        );
        for ground in &record.grounds {
            let _ = writeln!(
                out,
                "  ground {:?} ({}) at {}: {}",
                ground.ground, ground.finding.rule, ground.detected_at, ground.finding.detail
            );
        }
        for clock in overdue.get(&record.contract_id).into_iter().flatten() {
            let _ = writeln!(
                out,
                "  overdue {} {} due {}: {}{}",
                clock.rule,
                clock.period.as_deref().unwrap_or("-"),
                clock.due,
                clock.overdue,
                clock
                    .breached_at
                    .as_deref()
                    .map(|at| format!(" (breach recorded, {at})"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
