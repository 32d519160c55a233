//! `registry_lines.parquet`: the Appendix 1 lines (S001 App. 1, RULES §2.1) of every KZ period
//! stream exported, numbered as the registry numbers them (`period::registry::registry_lines`: the
//! live dispensings in line order). Columns follow the form: `line_no` (col 1) … `total_minor`
//! (col 17, = col 15 + col 16, M-07), with the contract and period in front and the programme (not
//! printed, A-34) at the end.

use std::collections::BTreeMap;
use std::path::Path;

use ledger::domain::event::Event;
use ledger::domain::period::{self, PeriodState};
use ledger::domain::prices::ProductKey;
use ledger::log::StreamId;

use super::columns::{Column, Kind, Step};
use super::flatten::Leaf;
use super::{ParquetError, Table, WrittenFile};
use crate::pseudonym::Pseudonymizer;

/// The file's name.
pub const REGISTRY_LINES_FILE: &str = "registry_lines.parquet";

fn columns() -> Vec<Column> {
    [
        ("contract_id", Kind::Text),
        ("period", Kind::Text),
        ("line_no", Kind::Int64),
        ("dispenser_name", Kind::Text),
        ("dispenser_bin", Kind::Text),
        ("region", Kind::Text),
        ("icd10", Kind::Text),
        ("patient_iin", Kind::Text),
        ("prescription_number", Kind::Text),
        ("prescription_date", Kind::Date),
        ("inn", Kind::Text),
        ("trade_name", Kind::Text),
        ("dose_form", Kind::Text),
        ("unit", Kind::Text),
        ("limit_unit_price", Kind::Decimal),
        ("fiscal_receipt", Kind::Text),
        ("marking_code", Kind::Text),
        ("fund_minor", Kind::Int64),
        ("patient_minor", Kind::Int64),
        ("total_minor", Kind::Int64),
        ("currency", Kind::Text),
        ("programme", Kind::Text),
    ]
    .into_iter()
    .map(|(name, kind)| Column {
        name: name.to_owned(),
        kind,
        path: vec![Step::Field(name.to_owned())],
    })
    .collect()
}

/// A value's wire text (`KZ:710000000`, `OSMS`), as the events' JSON writes it.
fn wire(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        other => format!("{other:?}"),
    }
}

/// The KZ period streams folded so far and the lines file.
pub(super) struct RegistryLines {
    table: Table,
    periods: BTreeMap<StreamId, PeriodState>,
    pseudonymizer: Option<Pseudonymizer>,
}

impl RegistryLines {
    pub(super) fn create(
        dir: &Path,
        pseudonymizer: Option<Pseudonymizer>,
    ) -> Result<RegistryLines, ParquetError> {
        Ok(RegistryLines {
            table: Table::create(dir.join(REGISTRY_LINES_FILE), columns())?,
            periods: BTreeMap::new(),
            pseudonymizer,
        })
    }

    /// Folds a KZ period event into its stream's state (other events are ignored).
    pub(super) fn fold(&mut self, stream: &StreamId, event: &Event) {
        let kz_period_event = matches!(
            event,
            Event::DispensingRecorded(_)
                | Event::DispensingReversed(_)
                | Event::RegistrySubmitted(_)
                | Event::RegistryApproved(_)
                | Event::RegistryRejected(_)
        );
        if !kz_period_event || stream.category() != "period" {
            return;
        }
        match self.periods.get_mut(stream) {
            Some(state) => *state = period::evolve(std::mem::take(state), event),
            None => {
                let state = period::evolve(PeriodState::default(), event);
                self.periods.insert(stream.clone(), state);
            }
        }
    }

    /// Writes the lines of every folded period, in stream order, and forgets them.
    pub(super) fn flush_periods(&mut self) -> Result<(), ParquetError> {
        for (stream, state) in std::mem::take(&mut self.periods) {
            let month = stream.as_str().rsplit('/').next().unwrap_or("").to_owned();
            let contract_id = state
                .contract_id
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
            for line in period::registry::registry_lines(&state) {
                let (inn, dose_form) = match &line.product {
                    ProductKey::Drug { inn, dose_form } => (inn.to_string(), dose_form.to_string()),
                    ProductKey::Device { characteristic } => {
                        (characteristic.to_string(), String::new())
                    }
                };
                let patient_iin = match &self.pseudonymizer {
                    Some(pseudonymizer) => {
                        pseudonymizer.pseudonym("KZ-IIN", &line.patient_iin.to_string())
                    }
                    None => line.patient_iin.to_string(),
                };
                let text = |value: String| Leaf::Str(value.into());
                let receipt = &line.fiscal_receipt;
                let row = [
                    text(contract_id.clone()),
                    text(month.clone()),
                    Leaf::U64(u64::from(line.line_no)),
                    text(line.dispenser_name.to_string()),
                    text(line.dispenser_bin.to_string()),
                    text(wire(&line.region)),
                    text(line.icd10.to_string()),
                    text(patient_iin),
                    text(line.prescription.number.to_string()),
                    text(line.prescription.written_on.to_string()),
                    text(inn),
                    text(line.trade_name.to_string()),
                    text(dose_form),
                    text(line.unit.to_string()),
                    text(line.limit_unit_price.to_string()),
                    text(format!("{}:{}", receipt.rnm(), receipt.fiscal_sign())),
                    text(line.marking_code.to_string()),
                    Leaf::I64(line.fund_amount.minor),
                    Leaf::I64(line.patient_amount.minor),
                    Leaf::I64(line.total_amount.minor),
                    text(line.fund_amount.currency.to_string()),
                    text(wire(&line.programme)),
                ];
                self.table.push_leaves(&row)?;
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<WrittenFile, ParquetError> {
        self.table.finish()
    }
}
