//! The query endpoints of `ledger read` answer what the CLI prints for the same views (issue #14 §6),
//! one test per endpoint, through the real reader over HTTPS with certificates of `ledger pki dev`;
//! then read-your-writes across the CQRS split with the real writer, and `/metrics` of both.

mod common;
mod read_http;

use read_http::{Answer, Service, World, get, request};

const AS_OF: &str = "2026-03-16";

fn cli(world: &World, args: &[&str]) -> Vec<u8> {
    let output = common::ledger(&world.data(), args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn start(world: &World) -> Service {
    world.reader(&world.dir.path().join("read-views"), &[])
}

/// `path` read by the client certificate of `who`, whatever the answer.
fn read_as(world: &World, reader: &Service, who: &str, path: &str) -> Answer {
    get(&world.client(Some(who)), &reader.address, path, &[]).unwrap()
}

fn as_fund(world: &World, reader: &Service, path: &str, headers: &[(&str, &str)]) -> Answer {
    let answer = get(&world.client(Some("fund")), &reader.address, path, headers).unwrap();
    assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    assert!(
        answer.header("x-ledger-checkpoint").is_some(),
        "{path}: no checkpoint"
    );
    answer
}

#[test]
fn contracts_answer_what_ledger_contracts_prints() {
    let world = World::new();
    let reader = start(&world);
    let answer = as_fund(
        &world,
        &reader,
        &format!("/v1/contracts?as_of={AS_OF}"),
        &[],
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let printed = cli(&world, &["contracts", "--as-of", AS_OF, "--format", "json"]);
    assert_eq!(answer.text(), String::from_utf8(printed).unwrap());
    // A pharmacy lists its own contract only.
    let own = read_as(&world, &reader, "KZ-003", "/v1/contracts");
    let ids: Vec<String> = own
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["record"]["contract_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["KZ-003"]);
}

#[test]
fn one_contract_answers_its_element_of_ledger_contracts() {
    let world = World::new();
    let reader = start(&world);
    let answer = as_fund(
        &world,
        &reader,
        &format!("/v1/contracts/KZ-002?as_of={AS_OF}"),
        &[],
    );
    let printed: serde_json::Value = serde_json::from_slice(&cli(
        &world,
        &["contracts", "--as-of", AS_OF, "--format", "json"],
    ))
    .unwrap();
    let element = printed
        .as_array()
        .unwrap()
        .iter()
        .find(|contract| contract["record"]["contract_id"] == "KZ-002")
        .unwrap();
    assert_eq!(&answer.json(), element);
    let unknown = read_as(&world, &reader, "fund", "/v1/contracts/KZ-404");
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    let bad = read_as(&world, &reader, "fund", "/v1/contracts/KZ-002?as_of=March");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "as_of", "{}", bad.text());
}

/// The printed form in every format equals `ledger <form> show --format …`.
fn check_form(world: &World, reader: &Service, form: &str, route: &str) {
    for (accept, format) in [
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("text/html", "html"),
    ] {
        let path = format!("/v1/{route}/KZ-001/2026-01");
        let answer = as_fund(world, reader, &path, &[("Accept", accept)]);
        assert!(answer.header("content-type").unwrap().starts_with(accept));
        let printed = cli(
            world,
            &[
                form,
                "show",
                "--contract",
                "KZ-001",
                "--period",
                "2026-01",
                "--format",
                format,
            ],
        );
        assert_eq!(answer.body, printed, "{form} {format}");
    }
    let other = read_as(
        world,
        reader,
        "KZ-002",
        &format!("/v1/{route}/KZ-001/2026-01"),
    );
    assert_eq!(other.status, 403, "{}", other.text());
    let own = read_as(
        world,
        reader,
        "KZ-001",
        &format!("/v1/{route}/KZ-001/2026-01"),
    );
    assert_eq!(own.status, 200);
    let none = read_as(
        world,
        reader,
        "fund",
        &format!("/v1/{route}/KZ-001/2031-01"),
    );
    assert_eq!(none.status, 404, "{}", none.text());
    let refused = read_as(
        world,
        reader,
        "fund",
        &format!("/v1/{route}/KZ-001/2026-13"),
    );
    assert_eq!(
        (refused.status, refused.json()["field"].as_str()),
        (400, Some("period"))
    );
    let xml = get(
        &world.client(Some("fund")),
        &reader.address,
        &format!("/v1/{route}/KZ-001/2026-01"),
        &[("Accept", "application/xml")],
    )
    .unwrap();
    assert_eq!(xml.status, 406);
}

#[test]
fn registries_answer_what_registry_show_prints() {
    let world = World::new();
    let reader = start(&world);
    check_form(&world, &reader, "registry", "registries");
    // Analysts read the registry with each patient's pseudonym, in every format.
    let printed = String::from_utf8(cli(
        &world,
        &[
            "registry",
            "show",
            "--contract",
            "KZ-001",
            "--period",
            "2026-01",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let registry: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let iins: Vec<&str> = registry["form"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["patient_iin"].as_str().unwrap())
        .collect();
    assert!(!iins.is_empty());
    let bearer = format!("Bearer {}", world.token("analyst"));
    for accept in ["application/json", "text/csv", "text/html"] {
        let answer = get(
            &world.client(None),
            &reader.address,
            "/v1/registries/KZ-001/2026-01",
            &[("Authorization", &bearer), ("Accept", accept)],
        )
        .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        let text = answer.text();
        assert!(text.contains("P-"), "{accept}");
        for iin in &iins {
            assert!(!text.contains(iin), "{accept}: the IIN {iin} leaked");
        }
    }
}

#[test]
fn acts_answer_what_act_show_prints() {
    let world = World::new();
    let reader = start(&world);
    check_form(&world, &reader, "act", "acts");
}

/// What `ledger deadlines --as-of AS_OF EXTRA… --format json` prints.
fn printed_deadlines(world: &World, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["deadlines", "--as-of", AS_OF];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    cli(world, &args)
}

#[test]
fn deadlines_answer_what_ledger_deadlines_prints() {
    let world = World::new();
    let reader = start(&world);
    let answer = as_fund(
        &world,
        &reader,
        &format!("/v1/deadlines?as_of={AS_OF}&party=pharmacy"),
        &[],
    );
    let printed = printed_deadlines(&world, &["--party", "pharmacy"]);
    assert_eq!(answer.text(), String::from_utf8(printed).unwrap());
    let overdue = as_fund(
        &world,
        &reader,
        &format!("/v1/deadlines?as_of={AS_OF}&overdue=true&within=5"),
        &[],
    );
    let printed = printed_deadlines(&world, &["--overdue", "--within", "5"]);
    assert_eq!(overdue.body, printed);
    // A pharmacy sees the clocks of its own contract: what the CLI prints for it.
    let own = read_as(
        &world,
        &reader,
        "KZ-004",
        &format!("/v1/deadlines?as_of={AS_OF}"),
    );
    assert_eq!(
        own.body,
        printed_deadlines(&world, &["--contract", "KZ-004"])
    );
    let other = read_as(
        &world,
        &reader,
        "KZ-004",
        &format!("/v1/deadlines?as_of={AS_OF}&contract=KZ-005"),
    );
    assert_eq!(other.status, 403);
    let missing = read_as(&world, &reader, "fund", "/v1/deadlines");
    assert_eq!(
        (missing.status, missing.json()["field"].as_str()),
        (400, Some("as_of"))
    );
}

#[test]
fn budgets_answer_what_ledger_budget_prints() {
    let world = World::new();
    let reader = start(&world);
    for (path, args) in [
        (
            "/v1/budgets/KZ/2026",
            vec![
                "budget",
                "--country",
                "KZ",
                "--year",
                "2026",
                "--format",
                "json",
            ],
        ),
        (
            "/v1/budgets/kg/2026?programme=KG_CHI_ADDITIONAL",
            vec![
                "budget",
                "--country",
                "KG",
                "--year",
                "2026",
                "--programme",
                "KG_CHI_ADDITIONAL",
                "--format",
                "json",
            ],
        ),
    ] {
        let answer = as_fund(&world, &reader, path, &[]);
        assert_eq!(
            answer.text(),
            String::from_utf8(cli(&world, &args)).unwrap(),
            "{path}"
        );
    }
    let pharmacy = read_as(&world, &reader, "KZ-001", "/v1/budgets/KZ/2026");
    assert_eq!(pharmacy.status, 403, "budgets are not a pharmacy's");
    let regulator = read_as(&world, &reader, "regulator", "/v1/budgets/KZ/2026");
    assert_eq!(regulator.status, 200);
    let bad = read_as(&world, &reader, "fund", "/v1/budgets/KZ/20x6");
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (400, Some("year"))
    );
}

#[test]
fn history_answers_what_ledger_history_prints() {
    let world = World::new();
    let reader = start(&world);
    let ndjson = as_fund(
        &world,
        &reader,
        "/v1/history?contract=KZ-001",
        &[("Accept", "application/x-ndjson")],
    );
    let printed = cli(
        &world,
        &["history", "--contract", "KZ-001", "--format", "json"],
    );
    assert_eq!(ndjson.body, printed, "the CLI's bytes, line for line");
    let array = as_fund(
        &world,
        &reader,
        "/v1/history?stream=reference/prices/KZ",
        &[],
    );
    let printed: Vec<serde_json::Value> = String::from_utf8(cli(
        &world,
        &[
            "history",
            "--stream",
            "reference/prices/KZ",
            "--format",
            "json",
        ],
    ))
    .unwrap()
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect();
    assert!(!printed.is_empty());
    assert_eq!(array.json(), serde_json::Value::Array(printed));
    // A month: a pharmacy gets its own part of it, the Fund all of it.
    let all = as_fund(&world, &reader, "/v1/history?period=2026-01", &[]).json();
    let own = read_as(&world, &reader, "KZ-001", "/v1/history?period=2026-01").json();
    let own = own.as_array().unwrap();
    assert!(!own.is_empty() && own.len() < all.as_array().unwrap().len());
    assert!(
        own.iter()
            .all(|event| event["subject"] == "period/KZ-001/2026-01")
    );
    let empty = as_fund(
        &world,
        &reader,
        "/v1/history?stream=budget/KZ/NONE/1999",
        &[],
    );
    assert_eq!(empty.json(), serde_json::json!([]));
    let two = read_as(
        &world,
        &reader,
        "fund",
        "/v1/history?contract=KZ-001&period=2026-01",
    );
    assert_eq!(two.status, 400);
}

/// The answer's `X-Ledger-Checkpoint` covers every `partition:offset` of `positions`.
fn assert_covers(answer: &Answer, positions: &[String]) {
    let checkpoint = answer.header("x-ledger-checkpoint").unwrap().to_owned();
    for position in positions {
        let (partition, offset) = position.split_once(':').unwrap();
        let next: u64 = checkpoint
            .split(',')
            .find_map(|part| part.strip_prefix(&format!("{partition}:")))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            next > offset.parse().unwrap(),
            "{checkpoint} covers {position}"
        );
    }
}

/// After one appended command: a refused one, then `/metrics` of both services.
fn both_services_report_metrics(world: &World, writer: &Service, reader: &Service) {
    let pharmacy = world.client(Some("KZ-001"));
    // Both services report in Prometheus text: the writer its appends and refusals, the reader its lag.
    let refused = request(
        &pharmacy,
        &writer.address,
        "POST",
        "/v1/commands",
        &[("Content-Type", "application/json")],
        "{}",
    )
    .unwrap();
    assert_eq!(refused.status, 400);
    let fund = world.client(Some("fund"));
    let metrics = get(&fund, &writer.address, "/metrics", &[]).unwrap();
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("ledger_writer_commands_total{outcome=\"appended\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("ledger_writer_events_appended_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("ledger_writer_refusals_total{rule=\"JSON\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("ledger_writer_transaction_seconds_count 1\n"),
        "{text}"
    );
    assert!(text.contains("ledger_log_fsync_seconds_count "), "{text}");
    let metrics = get(&fund, &reader.address, "/metrics", &[]).unwrap().text();
    assert!(
        metrics.contains("ledger_reader_lag_records{partition=\"0\"} "),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_reader_ready 1\n"), "{metrics}");
    assert_eq!(
        get(&pharmacy, &reader.address, "/metrics", &[])
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        get(&pharmacy, &writer.address, "/metrics", &[])
            .unwrap()
            .status,
        403
    );
}

/// Read-your-writes (issue #14 §3): the positions a write answers with, given as `min_position`,
/// make the next read wait until the views applied them.
#[test]
fn a_read_with_min_position_sees_the_write_it_names() {
    let world = World::new();
    let reader = start(&world);
    let writer = world.writer();
    let pharmacy = world.client(Some("KZ-001"));
    let dispensing = std::fs::read_to_string(world.pki("dispensing.json")).unwrap();
    let posted = request(
        &pharmacy,
        &writer.address,
        "POST",
        "/v1/commands",
        &[("Content-Type", "application/json")],
        &dispensing,
    )
    .unwrap();
    assert_eq!(posted.status, 201, "{}", posted.text());
    let positions: Vec<String> = posted.json()["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|position| format!("{}:{}", position["partition"], position["offset"]))
        .collect();
    let path = format!(
        "/v1/registries/KZ-001/2026-02?min_position={}&wait=30",
        positions.join(",")
    );
    let answer = get(&pharmacy, &reader.address, &path, &[]).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let marking_code =
        serde_json::from_str::<serde_json::Value>(&dispensing).unwrap()["command"]["marking_code"]
            .clone();
    assert!(
        answer.text().contains(marking_code.as_str().unwrap()),
        "the new dispensing is in the registry: {}",
        answer.text()
    );
    assert_covers(&answer, &positions);
    // A position far ahead is not reached: 503 after the wait, naming it.
    let ahead = get(
        &pharmacy,
        &reader.address,
        "/v1/contracts?min_position=0:999999&wait=1",
        &[],
    )
    .unwrap();
    assert_eq!(ahead.status, 503, "{}", ahead.text());
    assert_eq!(ahead.json()["rule"], "NOT_CAUGHT_UP");
    let nowhere = get(
        &pharmacy,
        &reader.address,
        "/v1/contracts?min_position=99:1",
        &[],
    )
    .unwrap();
    assert_eq!(
        (nowhere.status, nowhere.json()["field"].as_str()),
        (400, Some("min_position"))
    );
    both_services_report_metrics(&world, &writer, &reader);
}
