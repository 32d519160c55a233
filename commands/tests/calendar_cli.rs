//! `ledger calendar …` run as the real binary: the stable CLI contract (issue #5). Regenerate the golden
//! files with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test calendar_cli`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("calendar")
        .args(args)
        // The calendar commands need no data directory: point it at a path that does not exist.
        .env("LEDGER_DATA_DIR", "/nonexistent/ledger-data")
        .output()
        .expect("the ledger binary runs")
}

/// Runs a command that must succeed and compares its stdout with `expected`.
fn check(args: &[&str], expected: &str) {
    let output = ledger(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "ledger calendar {args:?} failed: {stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        expected,
        "ledger calendar {args:?}"
    );
}

/// Runs a command that must fail with exit code 2 and a one-line message containing `expected`.
fn check_usage_error(args: &[&str], expected: &str) {
    let output = ledger(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "ledger calendar {args:?}: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "ledger calendar {args:?} printed to stdout"
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
}

fn check_golden(args: &[&str], name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let output = ledger(args);
    assert!(output.status.success());
    let actual = String::from_utf8(output.stdout).unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
    if actual != expected {
        for (line, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
            if want != got {
                panic!(
                    "{name} line {}:\n  expected: {want:?}\n  actual:   {got:?}",
                    line + 1
                );
            }
        }
        panic!("{name}: output differs in length (UPDATE_GOLDEN=1 to accept)");
    }
}

#[test]
fn is_working_prints_true_or_false() {
    check(
        &["is-working", "--country", "KZ", "--date", "2026-03-23"],
        "false\n",
    );
    check(
        &["is-working", "--country", "KZ", "--date", "2026-03-26"],
        "true\n",
    );
    check(
        &["is-working", "--country", "KZ", "--date", "2024-05-04"],
        "true\n",
    );
    check(
        &["is-working", "--country", "KG", "--date", "2026-01-05"],
        "false\n",
    );
    check(
        &["is-working", "--country", "kg", "--date", "2025-04-07"],
        "true\n",
    );
}

#[test]
fn kz_2026_08_31_differs_between_calendar_versions() {
    check(
        &["is-working", "--country", "KZ", "--date", "2026-08-31"],
        "true\n",
    );
    check(
        &[
            "is-working",
            "--country",
            "KZ",
            "--date",
            "2026-08-31",
            "--calendar-version",
            "1",
        ],
        "false\n",
    );
    check(
        &[
            "is-working",
            "--country",
            "KZ",
            "--date",
            "2026-08-31",
            "--format",
            "json",
        ],
        "{\"calendar_version\":2,\"country\":\"KZ\",\"date\":\"2026-08-31\",\"working\":true}\n",
    );
}

#[test]
fn add_working_days_prints_the_due_date() {
    check(
        &[
            "add-working-days",
            "--country",
            "KZ",
            "--from",
            "2026-03-20",
            "--days",
            "5",
        ],
        "2026-04-01\n",
    );
    check(
        &[
            "add-working-days",
            "--country",
            "KZ",
            "--from",
            "2025-12-31",
            "--days",
            "1",
        ],
        "2026-01-05\n",
    );
    check(
        &[
            "add-working-days",
            "--country",
            "KG",
            "--from",
            "2025-12-31",
            "--days",
            "1",
        ],
        "2026-01-08\n",
    );
    check(
        &[
            "add-working-days",
            "--country",
            "KZ",
            "--from",
            "2026-12-25",
            "--days",
            "10",
            "--format",
            "json",
        ],
        "{\"calendar_version\":2,\"country\":\"KZ\",\"due\":\"2027-01-13\",\"from\":\"2026-12-25\",\"working_days\":10}\n",
    );
}

#[test]
fn add_days_prints_the_rolled_date_and_json_both() {
    check(
        &[
            "add-days",
            "--country",
            "KZ",
            "--from",
            "2026-03-16",
            "--days",
            "5",
        ],
        "2026-03-26\n",
    );
    check(
        &[
            "add-days",
            "--country",
            "KZ",
            "--from",
            "2026-03-16",
            "--days",
            "5",
            "--format",
            "json",
        ],
        "{\"calendar_days\":5,\"calendar_version\":2,\"country\":\"KZ\",\"from\":\"2026-03-16\",\"rolled\":\"2026-03-26\",\"strict\":\"2026-03-21\"}\n",
    );
    check(
        &[
            "add-days",
            "--country",
            "KG",
            "--from",
            "2026-03-17",
            "--days",
            "3",
        ],
        "2026-03-23\n",
    );
}

#[test]
fn registry_due_prints_the_25th_or_the_next_working_day() {
    check(
        &["registry-due", "--country", "KZ", "--period", "2026-02"],
        "2026-03-26\n",
    );
    check(
        &["registry-due", "--country", "KZ", "--period", "2026-12"],
        "2027-01-25\n",
    );
    check(
        &["registry-due", "--country", "KZ", "--period", "2025-12"],
        "2026-01-26\n",
    );
    check(
        &[
            "registry-due",
            "--country",
            "KG",
            "--period",
            "2026-04",
            "--format",
            "json",
        ],
        "{\"calendar_version\":1,\"country\":\"KG\",\"period\":\"2026-04\",\"rolled\":\"2026-05-25\",\"strict\":\"2026-05-25\"}\n",
    );
}

/// Bad input and the words its one-line message must contain.
const BAD_INPUT: [(&str, &str); 13] = [
    (
        "is-working --country UZ --date 2026-01-01",
        "unknown country \"UZ\"",
    ),
    (
        "is-working --country KZ --date 2026-02-30",
        "invalid --date \"2026-02-30\"",
    ),
    (
        "is-working --country KZ --date 26-01-01",
        "expected a date as YYYY-MM-DD",
    ),
    (
        "is-working --country KZ --date 2028-01-03",
        "does not cover 2028-01-03",
    ),
    (
        "add-working-days --country KZ --from 2026-01-01 --days -3",
        "invalid --days \"-3\"",
    ),
    (
        "add-days --country KG --from 2026-01-01 --days x",
        "invalid --days \"x\"",
    ),
    (
        "add-days --country KG --from 2027-12-30 --days 5",
        "does not cover 2028-01-04",
    ),
    (
        "registry-due --country KZ --period 2026-13",
        "invalid --period \"2026-13\"",
    ),
    (
        "registry-due --country KZ --period 2027-12",
        "does not cover 2028-01-25",
    ),
    ("show --country KZ --year 2023", "does not cover 2023"),
    (
        "show --country KZ --year twenty",
        "invalid --year \"twenty\"",
    ),
    (
        "show --country KZ --year 2027 --calendar-version 1",
        "does not cover 2027",
    ),
    (
        "is-working --country KZ --date 2026-01-01 --calendar-version 9",
        "v9 is not published",
    ),
];

#[test]
fn bad_input_exits_2_with_one_line() {
    for (args, expected) in BAD_INPUT {
        let args: Vec<&str> = args.split_whitespace().collect();
        check_usage_error(&args, expected);
    }
}

#[test]
fn show_json_lists_days_with_sources_and_non_working_dates() {
    let output = ledger(&[
        "show",
        "--country",
        "KZ",
        "--year",
        "2026",
        "--format",
        "json",
    ]);
    assert!(output.status.success());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["year_version"], 2);
    let non_working = value["non_working"].as_array().unwrap();
    assert!(non_working.contains(&serde_json::json!("2026-03-25")));
    assert!(!non_working.contains(&serde_json::json!("2026-08-31")));
    let days = value["days"].as_array().unwrap();
    assert!(
        days.iter()
            .all(|day| !day["source"].as_str().unwrap().is_empty())
    );
}

#[test]
fn show_kz_2026_matches_golden() {
    check_golden(
        &["show", "--country", "KZ", "--year", "2026"],
        "calendar_show_KZ_2026.txt",
    );
}
