//! Renderings of the printed forms: CSV in the exact appendix column order with Russian headers, a
//! printable HTML document laid out like the appendix forms, and a plain-text table.

pub mod forms;
mod html;

pub use forms::{ActForm, RegistryForm};
pub use html::{act_html, registry_html};

use forms::{APPENDIX1_HEADERS, APPENDIX2_HEADERS, RegistryLine};

/// Appendix 1 as CSV: a header row with the 17 Russian column labels, then one row per line. Amounts are
/// plain decimals with a dot (`1234.50`), dates ISO 8601, so that the file is machine-readable.
pub fn registry_csv(form: &RegistryForm) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(APPENDIX1_HEADERS)
        .expect("write to memory");
    for line in &form.lines {
        writer
            .write_record(registry_cells(line))
            .expect("write to memory");
    }
    String::from_utf8(writer.into_inner().expect("flush to memory"))
        .expect("CSV of UTF-8 strings is UTF-8")
}

/// Columns 1–17 of a line as text, in form order.
pub fn registry_cells(line: &RegistryLine) -> [String; 17] {
    [
        line.number.to_string(),
        line.dispenser_name.clone(),
        line.dispenser_bin.clone(),
        line.region.clone(),
        line.icd10.clone(),
        line.patient_iin.clone(),
        format!(
            "{} от {}",
            line.prescription_number,
            line.prescription_date.format("%d.%m.%Y")
        ),
        line.inn.clone(),
        line.trade_name.clone(),
        line.dose_form.clone(),
        line.unit.clone(),
        line.limit_unit_price.clone(),
        line.fiscal_receipt.clone(),
        line.marking_code.clone(),
        line.fund.to_plain_string(),
        line.patient.to_plain_string(),
        line.total.to_plain_string(),
    ]
}

/// Appendix 2 as CSV: a header row with the 5 Russian column labels, then one row per region.
pub fn act_csv(form: &ActForm) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(APPENDIX2_HEADERS)
        .expect("write to memory");
    for row in &form.rows {
        let cells = [
            row.number.to_string(),
            row.region.clone(),
            row.supplier_name.clone(),
            row.prescriptions.to_string(),
            row.fund.to_plain_string(),
        ];
        writer.write_record(cells).expect("write to memory");
    }
    String::from_utf8(writer.into_inner().expect("flush to memory"))
        .expect("CSV of UTF-8 strings is UTF-8")
}

/// A plain-text table of the registry for terminals: the key columns and the footer totals.
pub fn registry_table(form: &RegistryForm) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let header = &form.header;
    let _ = writeln!(
        out,
        "Registry {} of {} for contract {} ({} {}), period {} – {}, status {}",
        header.document_number,
        header.document_date,
        header.contract_number,
        header.supplier_name,
        header.supplier_bin,
        header.period_from,
        header.period_to,
        form.status
    );
    let _ = writeln!(
        out,
        "{:>6}  {:<12}  {:<9}  {:<12}  {:<24}  {:>14}  {:>14}  {:>14}",
        "line", "BIN", "region", "patient", "trade name", "fund (15)", "patient (16)", "total (17)"
    );
    for line in &form.lines {
        let region: String = line.region.chars().take(9).collect();
        let trade_name: String = line.trade_name.chars().take(24).collect();
        let _ = writeln!(
            out,
            "{:>6}  {:<12}  {:<9}  {:<12}  {:<24}  {:>14}  {:>14}  {:>14}",
            line.number,
            line.dispenser_bin,
            region,
            line.patient_iin,
            trade_name,
            line.fund.to_plain_string(),
            line.patient.to_plain_string(),
            line.total.to_plain_string()
        );
    }
    let totals = form.totals();
    let _ = writeln!(
        out,
        "{} lines; Σ15 {}  Σ16 {}  Σ17 {}",
        form.lines.len(),
        totals.fund,
        totals.patient,
        totals.total
    );
    out
}
