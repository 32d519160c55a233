//! Import round trip and price disagreements (issue #17), with the real binary.
//!
//! A pharmacy's rows in every form the ledger prints (regions bare, `KZ:`-prefixed and as the forms
//! print them with the name; prescription dates as the form prints them and in ISO) are imported;
//! `ledger export --format import-csv` writes the period back in the import layout; imported into an
//! empty ledger with the same reference data, it gives the same registry (and exports to the same
//! bytes). A limit price that disagrees with the published list is recorded at the published price
//! and reported in the warnings file, or refused with `--strict-prices` (M-02, A-14).

mod common;

use std::path::Path;

use common::{FUND_BIN, dispensings, ledger, small_demo};
use ledger::domain::values::ReportingPeriod;
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::import;

const SEED: u64 = 23;

fn stdout(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `count` February rows of the `contract`-th holder, from `first`, with no limit price claimed.
fn rows(world: &World, contract: usize, count: u64, first: u64) -> Vec<Vec<String>> {
    let holder = &world.contracts[contract];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    (first..first + count)
        .map(|index| {
            let dispensing = generate(world, holder, february, index).unwrap();
            import::to_row(&holder.contract_id, &dispensing, "")
        })
        .collect()
}

/// Rewrites the region (col 4) and prescription (col 7) of each row into one of the forms the
/// ledger prints.
fn printed_forms(rows: &mut [Vec<String>]) {
    for (index, row) in rows.iter_mut().enumerate() {
        let region = import::region(&row[2]).unwrap();
        row[2] = match index % 4 {
            0 => region.code().to_owned(),
            1 => format!("KZ:{}", region.code()),
            2 => format!("{} (KZ:{})", region.name_ru(), region.code()),
            _ => region.name_ru().to_owned(),
        };
        if index % 2 == 1 {
            let prescription = import::prescription(&row[5]).unwrap();
            row[5] = format!("№ {} от {}", prescription.number, prescription.written_on);
        }
    }
}

fn write_csv(path: &Path, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(import::HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

fn import(data_dir: &Path, file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "import",
        "dispensings",
        file.to_str().unwrap(),
        "--fund-bin",
        FUND_BIN,
    ];
    args.extend(extra);
    let output = ledger(data_dir, &args);
    (output.status.code(), stdout(&output))
}

fn registry_csv(data_dir: &Path, contract: &str) -> String {
    let output = ledger(
        data_dir,
        &[
            "registry",
            "show",
            "--contract",
            contract,
            "--period",
            "2026-02",
            "--format",
            "csv",
        ],
    );
    assert!(output.status.success(), "{}", stdout(&output));
    String::from_utf8(output.stdout).unwrap()
}

fn export(data_dir: &Path, out: &Path) -> String {
    let output = ledger(
        data_dir,
        &[
            "export",
            "--period",
            "2026-02",
            "--format",
            "import-csv",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stdout(&output));
    std::fs::read_to_string(out.join("dispensings.csv")).unwrap()
}

#[test]
fn an_exported_period_imported_into_an_empty_ledger_gives_the_same_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let world = small_demo(&first, SEED);
    let mut february = rows(&world, 0, 24, 0);
    february.extend(rows(&world, 1, 16, 0));
    printed_forms(&mut february);
    let file = dir.path().join("february.csv");
    write_csv(&file, &february);
    let (code, text) = import(&first, &file, &[]);
    assert_eq!(code, Some(0), "every printed form is accepted: {text}");
    assert!(
        text.contains("40 appended, 0 already imported, 0 rejected"),
        "{text}"
    );

    let exported = export(&first, &dir.path().join("export"));
    assert_eq!(
        exported.lines().count(),
        41,
        "a header and every live dispensing"
    );
    assert!(exported.contains("KZ:"), "regions in their wire form");

    small_demo(&second, SEED);
    let (code, text) = import(&second, &dir.path().join("export/dispensings.csv"), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("40 appended, 0 already imported, 0 rejected"),
        "{text}"
    );
    assert!(
        text.contains("price warnings: 0"),
        "the export claims the prices it was priced at: {text}"
    );
    for contract in ["KZ-001", "KZ-002"] {
        assert_eq!(
            registry_csv(&first, contract),
            registry_csv(&second, contract),
            "{contract}"
        );
    }
    assert_eq!(
        export(&second, &dir.path().join("again")),
        exported,
        "the second ledger exports the same rows"
    );
}

#[test]
fn m02_a14_a_disagreeing_limit_price_is_a_warning_or_with_strict_prices_a_reject() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let mut february = rows(&world, 0, 3, 0);
    february[0][10] = "0.01".into(); // the pharmacy's system believes 0.01
    let file = dir.path().join("february.csv");
    write_csv(&file, &february);
    let (code, text) = import(&data_dir, &file, &[]);
    assert_eq!(
        code,
        Some(0),
        "a disagreement is a finding, not a refusal: {text}"
    );
    assert!(
        text.contains("price warnings: 1 (rows whose limit price differs"),
        "{text}"
    );
    let warnings = std::fs::read_to_string(dir.path().join("february.warnings.csv")).unwrap();
    let lines: Vec<&str> = warnings.lines().collect();
    assert_eq!(lines[0], "line,column,claimed,published,list_version,rule");
    assert_eq!(lines.len(), 2, "{warnings}");
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        (fields[0], fields[1], fields[2], fields[5]),
        ("2", "limit_unit_price", "0.01", "A-14")
    );
    let first = dispensings(&data_dir, "period/KZ-001/2026-02")
        .into_iter()
        .find(|recorded| recorded.dispensing_id.as_str() == february[0][14])
        .expect("the row is recorded");
    assert_eq!(
        first.limit_unit_price.to_string(),
        fields[3],
        "recorded at the published price"
    );
    assert_eq!(first.price_list_version.to_string(), fields[4]);

    let again = import(&data_dir, &file, &[]);
    assert!(
        again.1.contains("0 appended, 3 already imported"),
        "{}",
        again.1
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("february.warnings.csv")).unwrap(),
        warnings,
        "a re-run reports the same finding"
    );

    let mut strict_rows = rows(&world, 0, 2, 10);
    strict_rows[1][10] = "0.01".into();
    let strict = dir.path().join("strict.csv");
    write_csv(&strict, &strict_rows);
    let (code, text) = import(&data_dir, &strict, &["--strict-prices"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("1 appended, 0 already imported, 1 rejected"),
        "{text}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("strict.rejects.csv")).unwrap();
    assert!(rejects.contains("3,limit_unit_price,A-14"), "{rejects}");
    assert!(
        rejects.contains("limit price 0.01 differs from"),
        "{rejects}"
    );
    assert!(
        dispensings(&data_dir, "period/KZ-001/2026-02")
            .iter()
            .all(|recorded| recorded.dispensing_id.as_str() != strict_rows[1][14]),
        "nothing of the refused row is on the log"
    );
}
