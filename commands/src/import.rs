//! `ledger import dispensings FILE.csv`: dispensings in the Appendix 1 column layout (columns 2–14,
//! plus the contract, the dispensing instant, quantity, trade-name unit price, programme and consent),
//! validated row by row; refused rows go to a rejects file with line, column and rule; accepted rows are
//! appended in chunks. docs/import.md has every column and the forms each accepts.
//!
//! Round trip (issue #17): every column accepts the forms the ledger itself prints: a region as the
//! bare KATO code, `KZ:710000000` or the printed `город Астана (KZ:710000000)` (or its name alone), a
//! prescription as the form prints it (`R-1 от 05.01.2026`) or with an ISO date; `ledger export
//! --format import-csv` writes this layout.
//!
//! Prices (M-02, A-14): a row's limit price (col 12) is what the pharmacy's system believes; the row is
//! priced at the list in force on the dispensing date, and a disagreement is a [`PriceWarning`]
//! (or, with `--strict-prices`, a reject).
//!
//! Idempotency: a row whose dispensing id is already recorded with the same content is counted as
//! already imported; new rows are appended in chunks whose command id derives from their content. A
//! re-run of the same file, even after a crash in the middle, appends nothing twice (and the domain
//! refuses a dispensing id twice anyway).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger::domain::error::DomainError;
use ledger::domain::ident::{Bin, Iin};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Quantity, UnitPrice, line_amount};
use ledger::domain::period::{PeriodCommand, RecordDispensing};
use ledger::domain::prices::ProductKey;
use ledger::domain::region::{Programme, Region};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{
    DispensingId, DocumentNumber, DoseForm, FiscalReceipt, Icd10, InnName, MarkingCode,
    OrganisationName, PrescriptionRef, ReportingPeriod, TradeName, UnitOfMeasure,
};

/// The CSV header: Appendix 1 columns 2–14 in form order, then what the form does not print.
pub const HEADER: [&str; 19] = [
    "dispenser_name",
    "dispenser_bin",
    "region",
    "icd10",
    "patient_iin",
    "prescription",
    "inn",
    "trade_name",
    "dose_form",
    "unit",
    "limit_unit_price",
    "fiscal_receipt",
    "marking_code",
    "contract_id",
    "dispensing_id",
    "dispensed_at",
    "quantity",
    "trade_unit_price",
    "programme",
];

/// The largest file accepted, in rows (external input is bounded).
pub const IMPORT_ROWS_MAX: usize = 5_000_000;

/// Why one row was refused: its line in the file, the column, the rule and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReject {
    pub line: u64,
    pub column: String,
    pub rule: String,
    pub message: String,
}

/// One parsed row: where it goes and the command it becomes.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub contract_id: String,
    pub period: ReportingPeriod,
    pub command: RecordDispensing,
    /// Col 12 as the pharmacy's system sent it (`None` when empty): compared, never used to price.
    pub claimed_limit_price: Option<UnitPrice>,
}

/// M-02, A-14: a row whose limit price disagrees with the list in force on its dispensing date. The
/// row is priced at the published price; the pharmacy's system is told (the warnings file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceWarning {
    pub line: u64,
    pub column: String,
    pub claimed: String,
    pub published: String,
    pub list_version: u32,
    pub rule: String,
}

/// The price warning of `row`, priced by the domain at `recorded`'s price, if the row claimed
/// another.
pub fn price_warning(
    row: &Row,
    recorded: &ledger::domain::period::events::DispensingRecorded,
) -> Option<PriceWarning> {
    let claimed = row.claimed_limit_price?;
    (claimed != recorded.limit_unit_price).then(|| PriceWarning {
        line: row.line,
        column: HEADER[10].to_owned(),
        claimed: claimed.to_string(),
        published: recorded.limit_unit_price.to_string(),
        list_version: recorded.price_list_version,
        rule: "A-14".to_owned(),
    })
}

impl PriceWarning {
    /// The warning as a reject (`--strict-prices`): the row is refused, naming both prices.
    pub fn into_reject(self) -> RowReject {
        let message = format!(
            "limit price {} differs from {} in price list version {} in force on the dispensing date (M-02); --strict-prices refuses the row",
            self.claimed, self.published, self.list_version
        );
        RowReject {
            line: self.line,
            column: self.column,
            rule: self.rule,
            message,
        }
    }
}

fn field(record: &csv::StringRecord, index: usize) -> &str {
    record.get(index).unwrap_or("").trim()
}

fn reject(line: u64, column: usize, rule: &str, message: impl std::fmt::Display) -> RowReject {
    RowReject {
        line,
        column: HEADER[column].to_owned(),
        rule: rule.to_owned(),
        message: message.to_string(),
    }
}

/// Parses `value` of column `column` with `parse`, refusing the row with `rule` on failure.
fn parse<T, E: std::fmt::Display>(
    line: u64,
    record: &csv::StringRecord,
    column: usize,
    rule: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, RowReject> {
    let text = field(record, column);
    parse(text).map_err(|error| reject(line, column, rule, format!("\"{text}\": {error}")))
}

/// App. 1 col 7 as the form prints it, `R-0001 от 05.01.2026` (a leading `№` is allowed), or with an
/// ISO date, `R-0001 от 2026-01-05`, into a prescription reference.
pub fn prescription(text: &str) -> Result<PrescriptionRef, String> {
    let (number, date) = text
        .split_once(" от ")
        .ok_or("expected \"NUMBER от DD.MM.YYYY\"")?;
    let number = number.trim();
    let number = number.strip_prefix('№').map_or(number, str::trim);
    let date = date.trim();
    let written_on = NaiveDate::parse_from_str(date, "%d.%m.%Y")
        .or_else(|_| NaiveDate::parse_from_str(date, "%Y-%m-%d"))
        .map_err(|_| format!("date \"{date}\" is neither DD.MM.YYYY nor YYYY-MM-DD"))?;
    Ok(PrescriptionRef {
        number: DocumentNumber::new(number).map_err(|error| error.to_string())?,
        written_on,
    })
}

/// the dispensing pharmacy's region in any form the ledger prints: the KATO code
/// (`710000000`), the wire form (`KZ:710000000`), the printed form (`город Астана (KZ:710000000)`,
/// whose name must be the code's), or the region's Russian or English name alone.
pub fn region(text: &str) -> Result<Region, String> {
    let text = text.trim();
    if let Some((name, code)) = text
        .strip_suffix(')')
        .and_then(|inner| inner.rsplit_once('('))
    {
        let region = region_code(code.trim())?;
        let name = name.trim();
        if !name.is_empty() && !names(region, name) {
            return Err(format!(
                "\"{name}\" is not the name of region {} ({})",
                region.code(),
                region.name_ru()
            ));
        }
        return Ok(region);
    }
    region_code(text).or_else(|error| {
        Region::all(Jurisdiction::KZ)
            .find(|region| names(*region, text))
            .ok_or(error)
    })
}

fn names(region: Region, name: &str) -> bool {
    region.name_ru().to_lowercase() == name.to_lowercase()
        || region.name_en().eq_ignore_ascii_case(name)
}

fn region_code(text: &str) -> Result<Region, String> {
    let code = match text.split_once(':') {
        Some((jurisdiction, code)) if jurisdiction.eq_ignore_ascii_case("KZ") => code,
        Some((jurisdiction, _)) => {
            return Err(format!(
                "region \"{text}\" is of {jurisdiction}; the import records KZ dispensings (A-31)"
            ));
        }
        None => text,
    };
    Region::new(Jurisdiction::KZ, code).map_err(|error| error.to_string())
}

/// Col 12: empty (no claim) or a decimal price per unit.
fn claimed_price(text: &str) -> Result<Option<UnitPrice>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<UnitPrice>()
        .map(Some)
        .map_err(|error| error.to_string())
}

/// Parses one data row (RULES §3 for identifiers, A-10 for quantity and prices, A-31 for the region).
pub fn parse_row(line: u64, record: &csv::StringRecord) -> Result<Row, RowReject> {
    if record.len() != HEADER.len() {
        let message = format!("has {} columns, expected {}", record.len(), HEADER.len());
        return Err(RowReject {
            line,
            column: "(row)".into(),
            rule: "App. 1".into(),
            message,
        });
    }
    let dispensed_at = parse(line, record, 15, "A-36", Timestamp::parse_rfc3339)?;
    let quantity: Quantity = parse(line, record, 16, "A-10", str::parse)?;
    let trade_price: UnitPrice = parse(line, record, 17, "A-10", str::parse)?;
    let total = line_amount(quantity, trade_price, Currency::KZT)
        .map_err(|error| reject(line, 17, "A-36", error))?;
    let (rnm, sign) = field(record, 11)
        .split_once(':')
        .ok_or_else(|| reject(line, 11, "P-08", "expected RNM:FISCAL_SIGN"))?;
    let date = ledger::domain::calendar::local_date(Jurisdiction::KZ, dispensed_at);
    let period = ReportingPeriod::month(
        chrono::Datelike::year(&date),
        chrono::Datelike::month(&date),
    )
    .map_err(|error| reject(line, 15, "P-01", error))?;
    let command = RecordDispensing {
        dispensing_id: parse(line, record, 14, "P-08", |text| DispensingId::new(text))?,
        dispensed_at,
        dispenser_name: parse(line, record, 0, "A-33", |text| OrganisationName::new(text))?,
        dispenser_bin: parse(line, record, 1, "RULES §3", str::parse::<Bin>)?,
        region: parse(line, record, 2, "A-31", region)?,
        patient_region: None,
        icd10: parse(line, record, 3, "RULES §3", |text| Icd10::new(text))?,
        patient_iin: parse(line, record, 4, "RULES §3", str::parse::<Iin>)?,
        prescription: parse(line, record, 5, "V-08", prescription)?,
        copayment_consent: true,
        programme: parse(line, record, 18, "A-34", str::parse::<Programme>)?,
        product: ProductKey::Drug {
            inn: parse(line, record, 6, "M-02", |text| InnName::new(text))?,
            dose_form: parse(line, record, 8, "M-02", |text| DoseForm::new(text))?,
        },
        trade_name: parse(line, record, 7, "M-03", |text| TradeName::new(text))?,
        unit: parse(line, record, 9, "A-10", |text| UnitOfMeasure::new(text))?,
        quantity,
        trade_name_unit_price: trade_price,
        fiscal_receipt: FiscalReceipt::new(rnm, sign, dispensed_at, total)
            .map_err(|error| reject(line, 11, "P-08", error))?,
        marking_code: parse(line, record, 12, "P-08", |text| MarkingCode::new(text))?,
    };
    let contract_id = field(record, 13).to_owned();
    if ledger::log::StreamId::new(format!("contract/{contract_id}")).is_err()
        || contract_id.is_empty()
    {
        return Err(reject(
            line,
            13,
            "C-01",
            format!("\"{contract_id}\" is not a contract id"),
        ));
    }
    Ok(Row {
        line,
        contract_id,
        period,
        command,
        claimed_limit_price: parse(line, record, 10, "M-02", claimed_price)?,
    })
}

/// A dispensing as a CSV row of [`HEADER`] (the inverse of [`parse_row`]; col 12 is informational).
pub fn to_row(
    contract_id: &str,
    dispensing: &RecordDispensing,
    limit_unit_price: &str,
) -> Vec<String> {
    let ProductKey::Drug { inn, dose_form } = &dispensing.product else {
        unreachable!("the import handles drugs; devices go through `ledger submit`")
    };
    vec![
        dispensing.dispenser_name.to_string(),
        dispensing.dispenser_bin.to_string(),
        dispensing.region.code().to_owned(),
        dispensing.icd10.to_string(),
        dispensing.patient_iin.to_string(),
        format!(
            "{} от {}",
            dispensing.prescription.number,
            dispensing.prescription.written_on.format("%d.%m.%Y")
        ),
        inn.to_string(),
        dispensing.trade_name.to_string(),
        dose_form.to_string(),
        dispensing.unit.to_string(),
        limit_unit_price.to_owned(),
        format!(
            "{}:{}",
            dispensing.fiscal_receipt.rnm(),
            dispensing.fiscal_receipt.fiscal_sign()
        ),
        dispensing.marking_code.to_string(),
        contract_id.to_owned(),
        dispensing.dispensing_id.to_string(),
        dispensing.dispensed_at.to_string(),
        dispensing.quantity.to_string(),
        dispensing.trade_name_unit_price.to_string(),
        dispensing.programme.name().to_owned(),
    ]
}

/// A recorded dispensing as a row of [`HEADER`], what `ledger export --format import-csv` writes: the
/// region in its wire form (`KZ:710000000`), the prescription as App. 1 col 7 prints it, col 12 the
/// limit price the dispensing was priced at. [`parse_row`] reads it back into the same command.
pub fn recorded_row(
    recorded: &ledger::domain::period::events::DispensingRecorded,
) -> Result<Vec<String>, String> {
    let ProductKey::Drug { inn, dose_form } = &recorded.product else {
        return Err(format!(
            "dispensing \"{}\" is of a device ({}); the import layout holds drugs (INN and form)",
            recorded.dispensing_id, recorded.product
        ));
    };
    Ok(vec![
        recorded.dispenser_name.to_string(),
        recorded.dispenser_bin.to_string(),
        format!(
            "{}:{}",
            recorded.region.jurisdiction(),
            recorded.region.code()
        ),
        recorded.icd10.to_string(),
        recorded.patient_iin.to_string(),
        format!(
            "{} от {}",
            recorded.prescription.number,
            recorded.prescription.written_on.format("%d.%m.%Y")
        ),
        inn.to_string(),
        recorded.trade_name.to_string(),
        dose_form.to_string(),
        recorded.unit.to_string(),
        recorded.limit_unit_price.to_string(),
        format!(
            "{}:{}",
            recorded.fiscal_receipt.rnm(),
            recorded.fiscal_receipt.fiscal_sign()
        ),
        recorded.marking_code.to_string(),
        recorded.contract_id.to_string(),
        recorded.dispensing_id.to_string(),
        recorded.dispensed_at.to_string(),
        recorded.quantity.to_string(),
        recorded.trade_name_unit_price.to_string(),
        recorded.programme.name().to_owned(),
    ])
}

/// Groups parsed rows by the period stream they belong to, keeping file order within each.
pub fn by_stream(rows: Vec<Row>) -> BTreeMap<(String, String), Vec<Row>> {
    let mut groups: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.contract_id.clone(), row.period.key()))
            .or_default()
            .push(row);
    }
    groups
}

/// A refusal by a domain rule, placed at its row.
pub fn domain_reject(row: &Row, error: &DomainError) -> RowReject {
    RowReject {
        line: row.line,
        column: "(row)".into(),
        rule: error.rule().to_owned(),
        message: error.to_string(),
    }
}

/// The period command of an accepted row.
pub fn command(row: &Row) -> PeriodCommand {
    PeriodCommand::RecordDispensing(Box::new(row.command.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A-31, issue #17: a region in every form the ledger prints, and the refusals that name why.
    #[test]
    fn a31_regions_in_every_printed_form() {
        let astana = Region::new(Jurisdiction::KZ, "710000000").unwrap();
        for form in [
            "710000000",
            "KZ:710000000",
            "kz:710000000",
            "город Астана (KZ:710000000)",
            "город Астана (710000000)",
            "город Астана",
            "Astana",
            " KZ:710000000 ",
        ] {
            assert_eq!(region(form), Ok(astana), "{form}");
        }
        let wrong_name = region("город Алматы (KZ:710000000)").unwrap_err();
        assert!(
            wrong_name.contains("not the name of region 710000000"),
            "{wrong_name}"
        );
        let kyrgyz = region("KG:41711").unwrap_err();
        assert!(
            kyrgyz.contains("the import records KZ dispensings (A-31)"),
            "{kyrgyz}"
        );
        assert!(region("999999999").is_err());
    }

    /// V-08, App. 1 col 7: the prescription as the form prints it, with `№`, or with an ISO date.
    #[test]
    fn v08_prescriptions_as_the_form_prints_them() {
        let expected = PrescriptionRef {
            number: DocumentNumber::new("R-1").unwrap(),
            written_on: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        };
        for form in [
            "R-1 от 05.01.2026",
            "№ R-1 от 05.01.2026",
            "R-1 от 2026-01-05",
        ] {
            assert_eq!(prescription(form), Ok(expected.clone()), "{form}");
        }
        let bad = prescription("R-1 от 5 января").unwrap_err();
        assert!(bad.contains("neither DD.MM.YYYY nor YYYY-MM-DD"), "{bad}");
    }
}
