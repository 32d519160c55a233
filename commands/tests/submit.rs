//! `ledger submit FILE.jsonl` with the real binary (issue #8): good and bad lines, rejects naming the
//! line and the field (shape) or the rule (domain), a re-run appending nothing twice, and a crash in
//! the middle of a file (SIGKILL) losing nothing and duplicating nothing on the re-run.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{FUND_BIN, ledger, recorded, small_demo, submit};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::{RecordDispensing, ReverseDispensing};
use ledger::domain::values::{DispensingId, ReportingPeriod};
use ledger::log::{Actor, ActorId, ActorRole, CommandId, StreamId};
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};

const SEED: u64 = 11;

fn envelope(contract_id: &str, dispensing: RecordDispensing) -> CommandEnvelope {
    CommandEnvelope {
        command_id: CommandId::derived("submit-test", dispensing.dispensing_id.as_str()),
        stream: StreamId::new(format!("period/{contract_id}/2026-02")).unwrap(),
        actor: Actor::new(
            ActorId::Organisation(dispensing.dispenser_bin),
            ActorRole::Pharmacy,
        ),
        jurisdiction: Jurisdiction::KZ,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(dispensing)),
    }
}

fn dispensings(world: &World, contract: usize, count: u64) -> Vec<CommandEnvelope> {
    let holder = &world.contracts[contract];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    (0..count)
        .map(|index| {
            let dispensing = generate(world, holder, february, index).unwrap();
            envelope(&holder.contract_id, dispensing)
        })
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

fn json(envelope: &CommandEnvelope) -> String {
    serde_json::to_string(envelope).unwrap()
}

/// Lines 11…17 are bad: a wrong IIN check digit (shape: field named), an unknown command type, a
/// command on the wrong kind of stream, a dispenser outside the contract (domain: A-33), not JSON at
/// all, and a dispensing and a budget command under another jurisdiction than their stream's.
fn bad_lines(world: &World) -> Vec<String> {
    let good = dispensings(world, 0, 1).remove(0);
    let mut bad_iin = serde_json::to_value(&good).unwrap();
    bad_iin["command"]["patient_iin"] = "900101300008".into();
    bad_iin["command_id"] = "00000000-0000-0000-0000-00000000000b".into();
    let mut unknown = serde_json::to_value(&good).unwrap();
    unknown["command"]["type"] = "RecordDispensings".into();
    let mut wrong_stream = good.clone();
    wrong_stream.stream = StreamId::new("contract/KZ-001").unwrap();
    wrong_stream.command_id = CommandId::derived("submit-test", "wrong-stream");
    let mut stranger = good.clone();
    stranger.command_id = CommandId::derived("submit-test", "stranger");
    if let WireCommand::RecordDispensing(dispensing) = &mut stranger.command {
        dispensing.dispenser_bin = FUND_BIN.parse().unwrap();
        dispensing.dispensing_id = DispensingId::new("D-STRANGER").unwrap();
    }
    let mut foreign = good.clone();
    foreign.command_id = CommandId::derived("submit-test", "foreign");
    foreign.jurisdiction = Jurisdiction::KG;
    let budget = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/commands/examples/AllocateBudget.json"
    );
    let mut foreign_budget: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(budget).unwrap()).unwrap();
    foreign_budget["jurisdiction"] = "KZ".into();
    vec![
        bad_iin.to_string(),
        unknown.to_string(),
        json(&wrong_stream),
        json(&stranger),
        "{not json".into(),
        json(&foreign),
        foreign_budget.to_string(),
    ]
}

#[test]
fn good_and_bad_lines_then_a_rerun_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let mut lines: Vec<String> = dispensings(&world, 0, 10).iter().map(json).collect();
    lines.extend(bad_lines(&world));
    let file = dir.path().join("february.jsonl");
    write_lines(&file, &lines);

    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(1), "rejected lines give exit 1: {text}");
    assert!(
        text.contains("10 appended, 0 already appended, 7 rejected"),
        "{text}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("february.rejects.csv")).unwrap();
    assert!(
        rejects.contains("11,command.patient_iin,JSON,"),
        "a shape error names the field: {rejects}"
    );
    assert!(rejects.contains("12,command.type,JSON,"), "{rejects}");
    assert!(rejects.contains("13,stream,DESIGN §1,"), "{rejects}");
    assert!(
        rejects.contains("14,(command),A-33,"),
        "a domain refusal names its rule: {rejects}"
    );
    assert!(rejects.contains("15,(json),JSON,"), "{rejects}");
    assert!(rejects.contains("16,jurisdiction,A-15,"), "{rejects}");
    assert!(rejects.contains("17,jurisdiction,A-15,"), "{rejects}");

    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("0 appended, 10 already appended, 7 rejected"),
        "{text}"
    );
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-02"), 10);
}

/// A reversal right behind its dispensing, on two streams interleaved: with lines in flight together,
/// each stream's commands are still decided in file order (a reversal before its dispensing would be
/// refused, A-06).
#[test]
fn lines_of_one_stream_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let first = dispensings(&world, 0, 20);
    let third = dispensings(&world, 2, 20);
    let mut lines = Vec::new();
    for (one, other) in first.iter().zip(&third) {
        for recorded in [one, other] {
            lines.push(json(recorded));
            lines.push(json(&reversal(recorded)));
        }
    }
    let file = dir.path().join("interleaved.jsonl");
    write_lines(&file, &lines);
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("80 appended, 0 already appended, 0 rejected"),
        "{text}"
    );
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-02"), 20);
    assert_eq!(recorded(&data_dir, "period/KZ-003/2026-02"), 20);
}

fn reversal(recorded: &CommandEnvelope) -> CommandEnvelope {
    let WireCommand::RecordDispensing(dispensing) = &recorded.command else {
        unreachable!("built from dispensings")
    };
    let mut reversal = recorded.clone();
    reversal.command_id =
        CommandId::derived("submit-test/reverse", dispensing.dispensing_id.as_str());
    reversal.command = WireCommand::ReverseDispensing(ReverseDispensing {
        dispensing_id: dispensing.dispensing_id.clone(),
        reversed_at: dispensing.dispensed_at,
        reason: "returned unopened".into(),
    });
    reversal
}

#[test]
fn a_crash_mid_file_loses_and_duplicates_nothing() {
    const LINES: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let lines: Vec<String> = dispensings(&world, 1, LINES).iter().map(json).collect();
    let file = dir.path().join("big.jsonl");
    write_lines(&file, &lines);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["submit", file.to_str().unwrap(), "--fund-bin", FUND_BIN])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let interrupted = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = recorded(&data_dir, "period/KZ-002/2026-02");
    assert!(before <= usize::try_from(LINES).unwrap());

    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        recorded(&data_dir, "period/KZ-002/2026-02"),
        usize::try_from(LINES).unwrap(),
        "every line once: {text}"
    );
    let expected = format!(
        "{} appended, {before} already appended, 0 rejected",
        usize::try_from(LINES).unwrap() - before
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

/// A February dispensing of `contract` made again in `period` under a new id, with the same marked pack
/// and fiscal receipt (M-06: the same pack or receipt is reimbursed once).
fn again_in(
    world: &World,
    contract: usize,
    original: &CommandEnvelope,
    period: ReportingPeriod,
    id: &str,
) -> CommandEnvelope {
    let WireCommand::RecordDispensing(first) = &original.command else {
        unreachable!("built from dispensings")
    };
    let holder = &world.contracts[contract];
    let mut dispensing = (**first).clone();
    dispensing.dispensing_id = DispensingId::new(id).unwrap();
    dispensing.dispensed_at = generate(world, holder, period, 900).unwrap().dispensed_at;
    let mut again = envelope(&holder.contract_id, dispensing);
    again.stream =
        StreamId::new(format!("period/{}/{}", holder.contract_id, period.key())).unwrap();
    again
}

/// M-06 across periods and across processes: the writer's uniqueness index is rebuilt from the log
/// when `submit` starts, so a pack reimbursed in February (one run) is refused in March (the next run),
/// naming the dispensing that holds it.
#[test]
fn m06_a_pack_reimbursed_in_one_run_is_refused_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let february = dispensings(&world, 0, 1).remove(0);
    let file = dir.path().join("february.jsonl");
    write_lines(&file, &[json(&february)]);
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(0), "{text}");

    let march = ReportingPeriod::month(2026, 3).unwrap();
    let file = dir.path().join("march.jsonl");
    write_lines(
        &file,
        &[json(&again_in(&world, 0, &february, march, "D-AGAIN"))],
    );
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(1), "{text}");
    let rejects = std::fs::read_to_string(dir.path().join("march.rejects.csv")).unwrap();
    let WireCommand::RecordDispensing(first) = &february.command else {
        unreachable!()
    };
    assert!(rejects.contains(",M-06,"), "{rejects}");
    assert!(
        rejects.contains(&format!("2026-02/{}", first.dispensing_id)),
        "the refusal names the dispensing that holds the pack: {rejects}"
    );
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-03"), 0);
}

/// M-06 with a reversal: a reversed dispensing no longer holds its pack, so the pack may be dispensed
/// again in the same period; the new dispensing then holds it, in this run and the next.
#[test]
fn m06_a_reversed_pack_may_be_dispensed_again_and_then_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let first = dispensings(&world, 0, 1).remove(0);
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let again = again_in(&world, 0, &first, february, "D-AGAIN");
    let file = dir.path().join("february.jsonl");
    write_lines(
        &file,
        &[json(&first), json(&reversal(&first)), json(&again)],
    );
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("3 appended, 0 already appended, 0 rejected"),
        "{text}"
    );

    let march = ReportingPeriod::month(2026, 3).unwrap();
    let file = dir.path().join("march.jsonl");
    write_lines(
        &file,
        &[json(&again_in(&world, 0, &first, march, "D-THIRD"))],
    );
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(1), "{text}");
    let rejects = std::fs::read_to_string(dir.path().join("march.rejects.csv")).unwrap();
    assert!(rejects.contains(",M-06,"), "{rejects}");
    assert!(rejects.contains("2026-02/D-AGAIN"), "{rejects}");
}

/// M-06 with both lines in flight at once: February and March of one contract are different streams,
/// but one contract's commands are decided one at a time (its partition key), so the second sees the
/// first and exactly one of them holds the pack.
#[test]
fn m06_the_same_pack_in_two_months_in_flight_together_is_reimbursed_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let february = dispensings(&world, 0, 1).remove(0);
    let march = ReportingPeriod::month(2026, 3).unwrap();
    let again = again_in(&world, 0, &february, march, "D-AGAIN");
    let file = dir.path().join("both.jsonl");
    write_lines(&file, &[json(&february), json(&again)]);
    let (code, text) = submit(&data_dir, &file);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("1 appended, 0 already appended, 1 rejected"),
        "{text}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("both.rejects.csv")).unwrap();
    assert!(rejects.contains("2,(command),M-06,"), "{rejects}");
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-02"), 1);
    assert_eq!(recorded(&data_dir, "period/KZ-001/2026-03"), 0);
}

/// M-06 across contracts with both lines in flight at once: two pharmacies claim the same marked pack
/// and receipt. Their contracts decide in parallel, but a pack's keys are locked from the decision
/// through the append, so exactly one of them holds it.
#[test]
fn m06_the_same_pack_at_two_pharmacies_in_flight_together_is_reimbursed_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let mut lines = Vec::new();
    for index in 0..20 {
        let first = dispensings(&world, 0, 20).remove(index);
        let WireCommand::RecordDispensing(original) = &first.command else {
            unreachable!()
        };
        let holder = &world.contracts[2];
        let february = ReportingPeriod::month(2026, 2).unwrap();
        let own = generate(
            &world,
            holder,
            february,
            500 + u64::try_from(index).unwrap(),
        )
        .unwrap();
        let mut copy = (**original).clone();
        copy.dispensing_id = own.dispensing_id;
        copy.dispensed_at = own.dispensed_at;
        copy.dispenser_name = own.dispenser_name;
        copy.dispenser_bin = own.dispenser_bin;
        copy.region = own.region;
        lines.push(json(&first));
        lines.push(json(&envelope(&holder.contract_id, copy)));
    }
    let file = dir.path().join("two.jsonl");
    write_lines(&file, &lines);
    let (_, text) = submit(&data_dir, &file);
    let rejects = std::fs::read_to_string(dir.path().join("two.rejects.csv")).unwrap_or_default();
    let refused = rejects
        .lines()
        .filter(|line| line.contains(",M-06,"))
        .count();
    let held =
        recorded(&data_dir, "period/KZ-001/2026-02") + recorded(&data_dir, "period/KZ-003/2026-02");
    assert_eq!(held, 20, "each pack is reimbursed once: {text}\n{rejects}");
    assert_eq!(refused, 20, "{text}\n{rejects}");
}
