//! `POST /v1/commands:batch` (issue #16 §2) through the router with tower's `oneshot`, on a small demo
//! world in a real embedded log: one answer per command, in order, each what `POST /v1/commands`
//! would have answered (201/200/400/403/409/422), every command through the trust gate of the
//! request's principal (issue #13), and only the accepted commands in the log. The dispensings of a
//! batch are decided speculatively one after another and committed together
//! (`submit::dispatch::batch`), so the batch also mixes a run of dispensings on one stream, a repeated
//! command id and a command that ends the run.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ledger::domain::values::ReportingPeriod;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{CommandId, EventLog, StreamVersion};
use ledger_commands::auth::{Channel, Organisation, Policy, Principal};
use ledger_commands::demo::world::{ContractHolder, World};
use ledger_commands::demo::{self, DemoOptions};
use ledger_commands::serve::{ConnectionIdentity, ServeState, router};
use ledger_commands::submit::dispatch::{COMMANDS_PER_CALL_MAX, Dispatcher};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};
use serde_json::{Value, json};
use tower::ServiceExt;

const SEED: u64 = 2026;

struct Quiet;

impl demo::Progress for Quiet {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _by: u64) {}
    fn finish_phase(&self) {}
}

/// The pharmacy holding `holder`'s contract, as its client certificate names it.
fn principal_of(holder: &ContractHolder) -> Principal {
    Principal {
        organisation: Organisation::Kz(holder.holder.bin),
        person: None,
        claimed_role: None,
        channel: Channel::Certificate,
        credential: "test certificate".into(),
    }
}

/// The `index`-th dispensing of `holder` in February 2026 as a command, its id derived from `tag`.
fn dispensing(world: &World, holder: &ContractHolder, index: u64, tag: &str) -> CommandEnvelope {
    let period = ReportingPeriod::month(2026, 2).unwrap();
    let command = demo::dispense::generate(world, holder, period, index).unwrap();
    CommandEnvelope {
        command_id: CommandId::derived("serve-batch-test", tag),
        stream: demo::engine::period_stream(&holder.contract_id, period),
        actor: None,
        jurisdiction: holder.jurisdiction,
        occurred_at: Some(command.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(command)),
    }
}

fn value(envelope: &CommandEnvelope) -> Value {
    serde_json::to_value(envelope).unwrap()
}

/// Posts `body` (`{"commands": [...]}`) as `principal` (none: no client certificate); the status and
/// the answer.
async fn post_batch(
    app: &axum::Router,
    principal: Option<&Principal>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::post("/v1/commands:batch");
    if let Some(principal) = principal {
        request = request.extension(ConnectionIdentity::certified(principal.clone()));
    }
    let request = request
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

/// The statuses of a batch answer, in order.
fn statuses(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|result| result["status"].as_u64().unwrap())
        .collect()
}

/// A demo world (January) in a fresh embedded log.
async fn demo_log(dir: &std::path::Path) -> (Arc<dyn EventLog>, World) {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir, options).unwrap());
    let demo_options = DemoOptions {
        seed: SEED,
        dispensings: 50,
        kg_dispensings: 20,
        ..DemoOptions::default()
    };
    let (_, world, _) = demo::run(Arc::clone(&log), &demo_options, &Quiet)
        .await
        .unwrap();
    (log, world)
}

/// The commands of the batch: dispensings of the first contract, and one of the second.
struct Cases {
    first: CommandEnvelope,
    second: CommandEnvelope,
    /// The first command's id with the third dispensing's content.
    reused: CommandEnvelope,
    /// A new dispensing that sells the first one's pack again (M-06).
    same_pack: CommandEnvelope,
    /// A dispensing on the second contract.
    foreign: CommandEnvelope,
    fourth: CommandEnvelope,
}

impl Cases {
    fn new(world: &World) -> Cases {
        let (mine, theirs) = (&world.contracts[0], &world.contracts[1]);
        assert_ne!(mine.holder.bin, theirs.holder.bin, "two holders");
        let first = dispensing(world, mine, 1, "first");
        let reused = CommandEnvelope {
            command_id: first.command_id,
            ..dispensing(world, mine, 3, "first")
        };
        let mut same_pack = dispensing(world, mine, 4, "same pack");
        if let (WireCommand::RecordDispensing(copy), WireCommand::RecordDispensing(original)) =
            (&mut same_pack.command, &first.command)
        {
            copy.marking_code = original.marking_code.clone();
        }
        Cases {
            second: dispensing(world, mine, 2, "second"),
            reused,
            same_pack,
            foreign: dispensing(world, theirs, 1, "foreign"),
            fourth: dispensing(world, mine, 5, "fourth"),
            first,
        }
    }
}

/// Checks the answer to the mixed batch; returns its results.
fn check_mixed(answer: &Value) -> Vec<Value> {
    assert_eq!(
        statuses(answer),
        [201, 201, 200, 409, 403, 422, 400, 201],
        "{answer:#}"
    );
    let results = answer["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["body"]["duplicate"], false);
    assert_eq!(results[2]["body"]["duplicate"], true, "{}", results[2]);
    assert_eq!(
        results[2]["body"]["positions"], results[0]["body"]["positions"],
        "a repeated command id answers with the original positions"
    );
    assert_eq!(
        results[3]["body"]["rule"], "IDEMPOTENCY_KEY_REUSED",
        "{}",
        results[3]
    );
    let rule = results[5]["body"]["rule"].as_str().unwrap();
    assert!(rule.starts_with("M-06"), "{}", results[5]);
    assert_eq!(results[6]["body"]["rule"], "JSON", "{}", results[6]);
    let version = |slot: usize, end: &str| results[slot]["body"][end].as_u64().unwrap();
    assert_eq!(
        version(0, "first_version"),
        1,
        "February had no dispensings before"
    );
    assert_eq!(
        version(1, "first_version"),
        version(0, "last_version") + 1,
        "the second dispensing is decided on the state the first leaves"
    );
    assert_eq!(version(7, "first_version"), version(1, "last_version") + 1);
    results
}

#[tokio::test]
async fn a_batch_answers_each_command_through_the_trust_gate() {
    let dir = tempfile::tempdir().unwrap();
    let (log, world) = demo_log(dir.path()).await;
    let fund = demo::fund_bin(SEED);
    let state = Arc::new(ServeState::certificates_only());
    let app = router(Arc::clone(&state));
    let pharmacy = principal_of(&world.contracts[0]);
    let cases = Cases::new(&world);
    tokio::task::LocalSet::new()
        .run_until(async {
            let policy = Policy::load(None, Organisation::Kz(fund)).unwrap();
            let dispatcher = Dispatcher::open(Arc::clone(&log), fund, policy)
                .await
                .unwrap();
            state.ready(dispatcher);

            let commands = [
                value(&cases.first),
                value(&cases.second),
                value(&cases.first),
                value(&cases.reused),
                value(&cases.foreign),
                value(&cases.same_pack),
                json!({"command_id": "not a uuid"}),
                value(&cases.fourth),
            ];
            let (status, answer) =
                post_batch(&app, Some(&pharmacy), json!({ "commands": commands })).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            let results = check_mixed(&answer);
            let version = log.stream_version(&cases.first.stream).await.unwrap();
            assert_eq!(
                version.0,
                results[7]["body"]["last_version"].as_u64().unwrap(),
                "the stream holds the three accepted dispensings and nothing else"
            );

            // The same commands again: the accepted ones answer 200 with their first positions, the
            // refused one is refused again, and nothing is appended.
            let again = [&cases.first, &cases.second, &cases.foreign, &cases.fourth].map(value);
            let (status, repeated) =
                post_batch(&app, Some(&pharmacy), json!({ "commands": again })).await;
            assert_eq!(status, StatusCode::OK, "{repeated}");
            assert_eq!(statuses(&repeated), [200, 200, 403, 200], "{repeated:#}");
            assert_eq!(
                repeated["results"][1]["body"]["positions"],
                results[1]["body"]["positions"]
            );
            assert_eq!(
                log.stream_version(&cases.first.stream).await.unwrap(),
                version
            );

            // Refused for the pharmacy, nothing reached the other contract's stream; its holder may
            // record there.
            let foreign = &cases.foreign;
            assert_eq!(
                log.stream_version(&foreign.stream).await.unwrap(),
                StreamVersion(0)
            );
            let theirs = principal_of(&world.contracts[1]);
            let one = json!({"commands": [value(foreign)]});
            let (status, theirs_answer) = post_batch(&app, Some(&theirs), one).await;
            assert_eq!(statuses(&theirs_answer), [201], "{status} {theirs_answer}");
        })
        .await;
}

#[tokio::test]
async fn a_request_that_is_not_a_batch_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(FileLog::open(dir.path(), FileLogOptions::default()).unwrap());
    let state = Arc::new(ServeState::certificates_only());
    let app = router(Arc::clone(&state));
    let pharmacy = Principal {
        organisation: "210740486972".parse().unwrap(),
        person: None,
        claimed_role: None,
        channel: Channel::Certificate,
        credential: "test certificate".into(),
    };
    tokio::task::LocalSet::new()
        .run_until(async {
            let one = json!({"commands": [{}]});
            let (status, _) = post_batch(&app, Some(&pharmacy), one.clone()).await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "the log is not open yet"
            );
            let fund = "900101300007".parse().unwrap();
            let policy = Policy::load(None, Organisation::Kz(fund)).unwrap();
            let dispatcher = Dispatcher::open(Arc::clone(&log), fund, policy)
                .await
                .unwrap();
            state.ready(dispatcher);

            let (status, body) = post_batch(&app, None, one.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "no principal: {body}");
            let (status, body) = post_batch(&app, Some(&pharmacy), json!({"commands": []})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["rule"], "BATCH_SIZE");
            let too_many = vec![json!({}); COMMANDS_PER_CALL_MAX + 1];
            let (status, body) =
                post_batch(&app, Some(&pharmacy), json!({ "commands": too_many })).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["rule"], "BATCH_SIZE");
            assert_eq!(body["field"], "commands");
            let (status, body) = post_batch(&app, Some(&pharmacy), json!([])).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["rule"], "JSON");
            let not_objects = json!({"commands": [{}, 7]});
            let (status, body) = post_batch(&app, Some(&pharmacy), not_objects).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["field"], "commands[1]", "{body}");
            let (status, body) = post_batch(&app, Some(&pharmacy), one).await;
            assert_eq!(statuses(&body), [400], "{status} {body}");
        })
        .await;
}
