//! `ledger import dispensings` with the real binary (issue #8): good and bad rows, rejects reported with
//! line, column and rule, a re-run appending nothing twice, and a crash in the middle of an import
//! (SIGKILL) losing nothing and duplicating nothing on the re-run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{FUND_BIN, ledger, recorded, small_demo};
use std::time::Duration;

use ledger::domain::values::ReportingPeriod;
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::import;

const SEED: u64 = 11;

fn rows(world: &World, contract: usize, count: u64, first: u64) -> Vec<Vec<String>> {
    let holder = &world.contracts[contract];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    (first..first + count)
        .map(|index| {
            let dispensing = generate(world, holder, february, index).unwrap();
            import::to_row(&holder.contract_id, &dispensing, "0")
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(import::HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

#[test]
fn good_and_bad_rows_then_a_rerun_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let mut rows = rows(&world, 0, 30, 0);
    let mut bad_iin = rows[0].clone();
    bad_iin[4] = "900101300008".into(); // RULES §3: wrong check digit
    bad_iin[14] = "D-BAD-IIN".into();
    let mut bad_region = rows[1].clone();
    bad_region[2] = "999999999".into(); // not a KATO region
    bad_region[14] = "D-BAD-REGION".into();
    let mut zero_quantity = rows[2].clone();
    zero_quantity[16] = "0".into();
    zero_quantity[14] = "D-ZERO".into();
    let mut same_marking = rows[3].clone();
    same_marking[14] = "D-SAME-MARKING".into(); // the marking code of row 4 again: not twice
    same_marking[11] = "600400000001:99999999".into();
    rows.extend([bad_iin, bad_region, zero_quantity, same_marking]);
    let file = dir.path().join("february.csv");
    write_csv(&file, &rows);

    let output = ledger(
        &data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "rejected rows give exit 1: {text}"
    );
    assert!(
        text.contains("30 appended, 0 already imported, 4 rejected"),
        "{text}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("february.rejects.csv")).unwrap();
    assert!(rejects.contains("32,patient_iin,RULES §3"), "{rejects}");
    assert!(rejects.contains("33,region,A-31"), "{rejects}");
    assert!(rejects.contains("34,quantity,A-10"), "{rejects}");
    assert!(
        rejects.lines().any(|line| line.starts_with("35,(row),")),
        "the repeated marking code is refused: {rejects}"
    );

    let again = ledger(
        &data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("0 appended, 30 already imported, 4 rejected"),
        "{text}"
    );
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-02"), 30);
}

#[test]
fn a_crash_mid_import_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let rows = rows(&world, 1, 20_000, 0);
    let file = dir.path().join("big.csv");
    write_csv(&file, &rows);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let interrupted = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = recorded(&data_dir, "period/KZ-002/2026-02");
    assert!(before <= 20_000);
    let output = ledger(
        &data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert_eq!(
        recorded(&data_dir, "period/KZ-002/2026-02"),
        20_000,
        "every row once: {text}"
    );
    let expected = format!(
        "{} appended, {before} already imported, 0 rejected",
        20_000 - before
    );
    assert!(
        text.contains(&expected),
        "the re-run appends exactly what the crash left out (interrupted: {interrupted}): {text}"
    );
    let audit = ledger(&data_dir, &["audit", "verify"]);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
}

/// M-06 across periods and imports: a pack imported for February (one run) is refused when the same
/// marked pack and receipt come again for March (the next run), and the refusal names the February
/// dispensing that holds it.
#[test]
fn m06_a_pack_imported_for_one_month_is_refused_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let holder = &world.contracts[0];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let first = generate(&world, holder, february, 0).unwrap();
    let file = dir.path().join("february.csv");
    write_csv(&file, &[import::to_row(&holder.contract_id, &first, "0")]);
    let output = ledger(
        &data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let march = ReportingPeriod::month(2026, 3).unwrap();
    let mut again = first.clone();
    again.dispensing_id = ledger::domain::values::DispensingId::new("D-AGAIN").unwrap();
    again.dispensed_at = generate(&world, holder, march, 0).unwrap().dispensed_at;
    let file = dir.path().join("march.csv");
    write_csv(&file, &[import::to_row(&holder.contract_id, &again, "0")]);
    let output = ledger(
        &data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let rejects = std::fs::read_to_string(dir.path().join("march.rejects.csv")).unwrap();
    assert!(rejects.contains(",M-06,"), "{rejects}");
    assert!(
        rejects.contains(&format!("2026-02/{}", first.dispensing_id)),
        "{rejects}"
    );
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-03"), 0);
}
