//! Golden files for the printed forms (issue #6): the CSV and HTML renderings of a known registry and
//! act. Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test forms_golden` and review
//! the diff (and the HTML in a browser) before committing.

use std::path::Path;

use chrono::NaiveDate;
use ledger::domain::money::{Currency, Money};
use ledger_commands::render::forms::{ActRow, FormHeader, RegistryLine};
use ledger_commands::render::{self, ActForm, RegistryForm};

fn date(text: &str) -> NaiveDate {
    text.parse().expect("valid date")
}

fn kzt(minor: i64) -> Money {
    Money::new(minor, Currency::KZT)
}

fn header(number: &str, on: &str) -> FormHeader {
    FormHeader {
        document_number: number.into(),
        document_date: date(on),
        period_from: date("2026-01-01"),
        period_to: date("2026-01-31"),
        contract_number: "C-2026/017".into(),
        contract_date: date("2025-12-15"),
        supplier_name: "ТОО «Аптека <Здоровье> & Ко»".into(),
        supplier_bin: "900101300007".into(),
        currency: Currency::KZT,
    }
}

#[allow(clippy::too_many_arguments)]
fn line(number: u32, region: &str, prescription: &str, fund: i64, patient: i64) -> RegistryLine {
    RegistryLine {
        number,
        dispenser_name: "ТОО «Аптека <Здоровье> & Ко»".into(),
        dispenser_bin: "900101300007".into(),
        region: region.into(),
        icd10: "E11.9".into(),
        patient_iin: "900101300007".into(),
        prescription_number: prescription.into(),
        prescription_date: date("2026-01-05"),
        inn: "Метформин".into(),
        trade_name: "Сиофор 850".into(),
        dose_form: "850 мг, таблетки".into(),
        unit: "таблетка".into(),
        limit_unit_price: "41.5".into(),
        fiscal_receipt: "600400012345:1123581321".into(),
        marking_code: "0104601234567890215ABCDEFGH12345".into(),
        fund: kzt(fund),
        patient: kzt(patient),
        total: kzt(fund + patient),
    }
}

fn registry() -> RegistryForm {
    RegistryForm {
        header: header("R-2026-01/017", "2026-02-10"),
        status: "approved".into(),
        lines: vec![
            line(1, "Астана (KZ:710000000)", "R-0001", 249_000, 0),
            line(2, "Астана (KZ:710000000)", "R-0002", 124_500, 31_050),
            line(3, "Алматы (KZ:750000000)", "R-0003", 1_245_000, 12_345_678),
        ],
    }
}

fn act() -> ActForm {
    ActForm {
        header: header("A-2026-01/017", "2026-02-20"),
        status: "signed".into(),
        rows: vec![
            ActRow {
                number: 1,
                region: "Астана (KZ:710000000)".into(),
                supplier_name: "ТОО «Аптека <Здоровье> & Ко»".into(),
                prescriptions: 2,
                fund: kzt(373_500),
            },
            ActRow {
                number: 2,
                region: "Алматы (KZ:750000000)".into(),
                supplier_name: "ТОО «Аптека <Здоровье> & Ко»".into(),
                prescriptions: 1,
                fund: kzt(1_245_000),
            },
        ],
    }
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}; run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(left, right)| left != right);
        panic!(
            "{name} differs from the golden file at line {:?}\n--- generated\n{actual}",
            line.map(|at| at + 1)
        );
    }
}

#[test]
fn appendix1_csv_golden() {
    let csv = render::registry_csv(&registry());
    check("appendix1.csv", &csv);
    // The header row is the 17 Russian labels in form order (RULES §2.1), and 17 = 15 + 16 (M-07).
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(headers.len(), 17);
    assert_eq!(&headers[0], "№ п/п");
    assert_eq!(&headers[5], "ИИН пациента");
    assert_eq!(&headers[16], "Общая сумма, в тенге");
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[2][14], "12450.00");
    assert_eq!(&rows[2][16], "135906.78");
}

#[test]
fn appendix1_html_golden() {
    let html = render::registry_html(&registry());
    check("appendix1.html", &html);
    // The footer prints Σ15 as the payable cost and escapes names.
    assert!(html.contains("составила 16\u{a0}185,00 тенге"));
    assert!(html.contains("&lt;Здоровье&gt; &amp; Ко"));
}

#[test]
fn appendix2_csv_golden() {
    check("appendix2.csv", &render::act_csv(&act()));
}

#[test]
fn appendix2_html_golden() {
    let html = render::act_html(&act());
    check("appendix2.html", &html);
    assert!(html.contains("16\u{a0}185,00"), "act total = Σ rows");
}
