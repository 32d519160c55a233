//! Parquet for analysts and pseudonymization (issue #15 §4, §5) with the real binary and `pyarrow`
//! from PyPI in a virtual environment the test creates: the registry lines add up to every
//! contract's Appendix 1 from the views (M-03, M-04, M-07), the columns are typed, and no patient IIN
//! survives in any file of a pseudonymized export (Parquet, JSONL, manifests, replay).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ledger, python_venv, small_demo};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger_commands::demo::world::World;

/// Reads the Parquet folder and prints what the test compares, as JSON.
const SUMS_PY: &str = r#"
import json, sys, collections
import pyarrow.parquet as pq
import pyarrow as pa

folder = sys.argv[1]
lines = pq.read_table(f"{folder}/registry_lines.parquet")
schema = {field.name: str(field.type) for field in lines.schema}
sums = collections.defaultdict(lambda: {"lines": 0, "fund": 0, "patient": 0, "total": 0})
bad_m07 = 0
for row in lines.to_pylist():
    entry = sums[row["contract_id"]]
    entry["lines"] += 1
    entry["fund"] += row["fund_minor"]
    entry["patient"] += row["patient_minor"]
    entry["total"] += row["total_minor"]
    if row["fund_minor"] + row["patient_minor"] != row["total_minor"]:
        bad_m07 += 1
dispensings = pq.read_table(f"{folder}/DispensingRecorded.parquet")
types = {field.name: str(field.type) for field in dispensings.schema}
print(json.dumps({
    "sums": sums,
    "bad_m07": bad_m07,
    "registry_types": schema,
    "dispensing_types": types,
    "dispensing_fund": sum(dispensings.column("amounts_fund_minor").to_pylist()),
    "iins": sorted(set(dispensings.column("patient_iin").to_pylist())),
}))
"#;

/// Prints every string value of every Parquet file under a folder, one per line.
const STRINGS_PY: &str = r#"
import sys, pathlib
import pyarrow.parquet as pq
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.parquet")):
    table = pq.read_table(path)
    for column in table.columns:
        for value in column.to_pylist():
            if value is not None:
                print(value)
"#;

fn python(python: &Path, script: &str, arg: &Path) -> String {
    let output = Command::new(python)
        .args(["-c", script])
        .arg(arg)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn run(data_dir: &Path, args: &[&str]) {
    let output = ledger(data_dir, args);
    assert!(
        output.status.success(),
        "ledger {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `dir`, as text (Parquet files as the strings pyarrow reads from them).
fn every_text(python_exe: &Path, dir: &Path) -> String {
    let mut text = python(python_exe, STRINGS_PY, dir);
    for entry in walk(dir) {
        if entry
            .extension()
            .is_some_and(|extension| extension != "parquet")
        {
            text.push_str(&std::fs::read_to_string(&entry).unwrap());
        }
    }
    text
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The clear export: typed columns, M-07 on every line, and every contract's sums equal to its
/// Appendix 1 from the views. Returns what pyarrow found.
fn check_clear(
    data_dir: &Path,
    python_exe: &Path,
    clear: &Path,
    world: &World,
) -> serde_json::Value {
    run(
        data_dir,
        &[
            "export",
            "--period",
            "2026-01",
            "--format",
            "parquet",
            "--out",
            clear.to_str().unwrap(),
        ],
    );
    let found: serde_json::Value =
        serde_json::from_str(&python(python_exe, SUMS_PY, clear)).unwrap();
    assert_eq!(
        found["bad_m07"], 0,
        "M-07: col 17 = col 15 + col 16 on every line"
    );
    assert_eq!(found["registry_types"]["fund_minor"], "int64");
    assert_eq!(
        found["registry_types"]["limit_unit_price"],
        "decimal128(38, 6)"
    );
    assert_eq!(found["dispensing_types"]["quantity"], "decimal128(38, 6)");
    assert_eq!(
        found["dispensing_types"]["dispensed_at"],
        "timestamp[us, tz=UTC]"
    );
    assert_eq!(found["dispensing_types"]["amounts_fund_currency"], "string");
    assert_eq!(
        found["dispensing_types"]["prescription_written_on"],
        "date32[day]"
    );

    check_views(data_dir, &found, world);
    found
}

fn check_views(data_dir: &Path, found: &serde_json::Value, world: &World) {
    let mut compared = 0;
    let mut fund_total = 0;
    for holder in world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == Jurisdiction::KZ)
    {
        let shown = ledger(
            data_dir,
            &[
                "registry",
                "show",
                "--contract",
                &holder.contract_id,
                "--period",
                "2026-01",
                "--format",
                "json",
            ],
        );
        if !shown.status.success() {
            continue;
        }
        let view: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        let sums = &found["sums"][&holder.contract_id];
        assert_eq!(
            sums["lines"],
            view["form"]["lines"].as_array().unwrap().len(),
            "{}",
            holder.contract_id
        );
        assert_eq!(
            sums["fund"], view["totals"]["fund"]["minor"],
            "{} Σ col 15",
            holder.contract_id
        );
        assert_eq!(
            sums["patient"], view["totals"]["patient"]["minor"],
            "{} Σ col 16",
            holder.contract_id
        );
        assert_eq!(
            sums["total"], view["totals"]["total"]["minor"],
            "{} Σ col 17",
            holder.contract_id
        );
        fund_total += view["totals"]["fund"]["minor"].as_i64().unwrap();
        compared += 1;
    }
    assert!(compared >= 3, "registries compared: {compared}");
    assert!(found["dispensing_fund"].as_i64().unwrap() >= fund_total);
}

/// The pseudonymized Parquet and JSONL exports and a pseudonymized Parquet replay under `anon`.
fn pseudonymized_exports(data_dir: &Path, anon: &Path, key: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (parquet, jsonl, replay) = (
        anon.join("parquet"),
        anon.join("jsonl"),
        anon.join("replay"),
    );
    let key_arg = key.to_str().unwrap();
    for (format, out) in [("parquet", &parquet), ("jsonl", &jsonl)] {
        let out = out.to_str().unwrap();
        let args = [
            "export",
            "--period",
            "2026-01",
            "--format",
            format,
            "--pseudonymize",
            key_arg,
            "--out",
            out,
        ];
        run(data_dir, &args);
    }
    let into = replay.to_str().unwrap();
    let args = [
        "replay",
        "--period",
        "2026-01",
        "--into",
        into,
        "--format",
        "parquet",
        "--pseudonymize",
        key_arg,
    ];
    run(data_dir, &args);
    (parquet, jsonl, replay)
}

#[test]
fn parquet_exports_add_up_to_appendix_1_and_pseudonyms_hide_every_iin() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, 11);
    let python_exe = python_venv(dir.path(), &["pyarrow"]);
    let clear = dir.path().join("clear");
    let found = check_clear(&data_dir, &python_exe, &clear, &world);

    let iins: Vec<String> = found["iins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|iin| iin.as_str().unwrap().to_owned())
        .collect();
    assert!(
        iins.len() > 10 && iins.iter().all(|iin| iin.len() == 12),
        "{iins:?}"
    );

    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, [0x42u8; 32]).unwrap();
    let anon = dir.path().join("anon");
    let (parquet, jsonl, replay) = pseudonymized_exports(&data_dir, &anon, &key);
    // The replay's views are the system's own (sled); its Parquet files are what leaves.
    let text = [&parquet, &jsonl, &replay.join("parquet")]
        .iter()
        .map(|dir| every_text(&python_exe, dir))
        .collect::<String>();
    for iin in &iins {
        assert!(
            !text.contains(iin.as_str()),
            "patient IIN {iin} survives pseudonymization"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(parquet.join("manifest.json")).unwrap())
            .unwrap();
    let fingerprint = manifest["pseudonymized"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 32);
    assert!(
        !text.contains(&hex::encode([0x42u8; 32])),
        "the key itself is never written"
    );
    let pseudonymized = python(&python_exe, SUMS_PY, &parquet);
    let pseudonymized: serde_json::Value = serde_json::from_str(&pseudonymized).unwrap();
    assert_eq!(
        pseudonymized["sums"], found["sums"],
        "pseudonyms change no amount"
    );
    assert!(
        pseudonymized["iins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|id| id.as_str().unwrap().starts_with("P-")),
        "{}",
        pseudonymized["iins"]
    );
}
