//! The answers of the query commands as text, computed from open views: the CLI prints them and the
//! reader service (`ledger read`, issue #14) serves them, so both show the same bytes for the same
//! views.

use chrono::NaiveDate;
use ledger::domain::values::{ContractId, ReportingPeriod};
use projector::views::{act, budgets, contracts, registry};
use projector::{ProjectorReader, ViewRead};

use super::{FormFormat, convert, json};
use crate::cli::Format;
use crate::pseudonym::Pseudonymizer;
use crate::render;

/// The registry (Appendix 1) of a contract and period in `format`, as `ledger registry show` prints
/// it; `None` when there is none. With `patients`, each line's patient IIN is its keyed pseudonym.
pub fn registry<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
    period: ReportingPeriod,
    format: FormFormat,
    patients: Option<&Pseudonymizer>,
) -> anyhow::Result<Option<String>> {
    let Some(registry) = registry::read(reader, contract_id, period)? else {
        return Ok(None);
    };
    let mut form = convert::registry_form(&registry);
    if let Some(pseudonymizer) = patients {
        for line in &mut form.lines {
            line.patient_iin = pseudonymizer.pseudonym("KZ-IIN", &line.patient_iin);
        }
    }
    Ok(Some(match format {
        FormFormat::Table => render::registry_table(&form),
        FormFormat::Csv => render::registry_csv(&form),
        FormFormat::Html => render::registry_html(&form),
        FormFormat::Json => json(&convert::RegistryJson::new(&registry, &form))?,
    }))
}

/// The payment act (Appendix 2) of a contract and period in `format`, as `ledger act show` prints
/// it; `None` when none was sent.
pub fn act<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
    period: ReportingPeriod,
    format: FormFormat,
) -> anyhow::Result<Option<String>> {
    let Some(act) = act::read(reader, contract_id, period)? else {
        return Ok(None);
    };
    let holder = registry::read_holder(reader, contract_id)?;
    let form = convert::act_form(&act, &holder);
    Ok(Some(match format {
        FormFormat::Table => convert::act_table(&act, &form),
        FormFormat::Csv => render::act_csv(&form),
        FormFormat::Html => render::act_html(&form),
        FormFormat::Json => json(&convert::ActJson::new(&act, &form))?,
    }))
}

/// Which budget lines: a country's fiscal year, optionally one region and one programme.
#[derive(Debug, Clone)]
pub struct BudgetQuery {
    /// `KZ` or `KG`.
    pub country: String,
    pub year: i32,
    pub region: Option<String>,
    pub programme: Option<String>,
}

/// The budget lines with every change, as `ledger budget` prints them.
pub fn budget<R: ViewRead>(
    reader: &ProjectorReader<R>,
    query: &BudgetQuery,
    format: Format,
) -> anyhow::Result<String> {
    let mut selected = Vec::new();
    for line in budgets::lines(reader, &query.country, query.year)? {
        let region_ok = query
            .region
            .as_deref()
            .is_none_or(|region| line.region.code() == region);
        let programme_ok = query
            .programme
            .as_deref()
            .is_none_or(|programme| line.programme.eq_ignore_ascii_case(programme));
        if region_ok && programme_ok {
            let history = budgets::history(reader, &line)?;
            selected.push(convert::BudgetJson { line, history });
        }
    }
    Ok(match format {
        Format::Json => json(&selected)?,
        Format::Text => convert::budget_text(&query.country, query.year, &selected),
    })
}

/// The contracts `visible` accepts, as `ledger contracts` prints them; with `as_of`, each with its
/// clocks overdue at the end of that day.
pub fn contracts<R: ViewRead>(
    reader: &ProjectorReader<R>,
    as_of: Option<NaiveDate>,
    format: Format,
    visible: &dyn Fn(&contracts::ContractRecord) -> bool,
) -> anyhow::Result<String> {
    let records: Vec<contracts::ContractRecord> = contracts::all(reader)?
        .into_iter()
        .filter(|record| visible(record))
        .collect();
    let overdue = match as_of {
        Some(as_of) => super::deadlines::overdue_by_contract(reader, as_of)?,
        None => std::collections::BTreeMap::new(),
    };
    let overdue_of = |record: &contracts::ContractRecord| {
        overdue
            .get(record.contract_id.as_str())
            .cloned()
            .unwrap_or_default()
    };
    Ok(match format {
        Format::Json => json(
            &records
                .iter()
                .map(|record| convert::ContractJson::new(record, overdue_of(record)))
                .collect::<Vec<_>>(),
        )?,
        Format::Text => convert::contracts_text(&records, &overdue),
    })
}

/// One contract as an element of `ledger contracts --format json`; `None` when the views do not
/// know it.
pub fn contract<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &str,
    as_of: Option<NaiveDate>,
) -> anyhow::Result<Option<String>> {
    let Some(record) = contracts::all(reader)?
        .into_iter()
        .find(|record| record.contract_id == contract_id)
    else {
        return Ok(None);
    };
    let overdue = match as_of {
        Some(as_of) => super::deadlines::overdue_by_contract(reader, as_of)?
            .remove(contract_id)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(Some(json(&convert::ContractJson::new(&record, overdue))?))
}
