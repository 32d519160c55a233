//! The trust boundary of the JSON writer (issue #13) through the HTTP router, on a small demo: every
//! attempt listed at the top of the issue is refused with the right status and appends nothing; the
//! holder's own dispensing is recorded with the authenticated actor and person; a command id is bound
//! to its content, across a writer restart; requests without a principal and past the limits are
//! refused. (The same boundary over real TLS with real certificates is in `trust_tls.rs`.)

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ledger::domain::ident::Iin;
use ledger::domain::period::RecordDispensing;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{DispensingId, ReportingPeriod};
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{ActorId, ActorRole, CommandId, EventLog, StreamId, StreamVersion};
use ledger_commands::auth::limits::LimitSettings;
use ledger_commands::auth::{Channel, Organisation, Policy, Principal};
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::serve::{Authenticator, ConnectionIdentity, ServeState, router};
use ledger_commands::submit::dispatch::Dispatcher;
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};
use tower::ServiceExt;

use common::{FUND_BIN, small_demo};

const SEED: u64 = 13;
const REGULATOR: &str = "030405600036";
const PERSON: &str = "900101300007";

fn principal(organisation: &str, channel: Channel) -> Principal {
    Principal {
        organisation: organisation.parse().unwrap(),
        person: Some(PERSON.parse::<Iin>().unwrap()),
        claimed_role: None,
        channel,
        credential: "test".into(),
    }
}

fn policy() -> Policy {
    let text = ledger_commands::auth::policy::DEFAULT_POLICY
        .replace("Regulator = []", &format!("Regulator = [\"{REGULATOR}\"]"));
    Policy::parse(&text, Organisation::Kz(FUND_BIN.parse().unwrap())).unwrap()
}

/// A February dispensing of contract `contract` (the demo recorded January), with id `id`.
fn dispensing(world: &World, contract: usize, index: u64, id: &str) -> CommandEnvelope {
    let holder = &world.contracts[contract];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let mut dispensing: RecordDispensing = generate(world, holder, february, index).unwrap();
    dispensing.dispensing_id = DispensingId::new(id).unwrap();
    CommandEnvelope {
        command_id: CommandId::derived("trust-test", id),
        stream: StreamId::new(format!("period/{}/2026-02", holder.contract_id)).unwrap(),
        actor: None,
        jurisdiction: ledger::domain::jurisdiction::Jurisdiction::KZ,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(dispensing)),
    }
}

async fn post(
    app: &axum::Router,
    identity: Option<ConnectionIdentity>,
    command: &CommandEnvelope,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::post("/v1/commands").header("content-type", "application/json");
    if let Some(identity) = identity {
        request = request.extension(identity);
    }
    let request = request
        .body(Body::from(serde_json::to_string(command).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(retry_after) = retry_after {
        body["retry-after"] = retry_after.to_str().unwrap().into();
    }
    (status, body)
}

fn as_cert(organisation: &str) -> Option<ConnectionIdentity> {
    Some(ConnectionIdentity::certified(principal(
        organisation,
        Channel::Certificate,
    )))
}

async fn writer(data_dir: &Path, limits: LimitSettings) -> (Arc<ServeState>, Arc<dyn EventLog>) {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(data_dir, options).unwrap());
    let dispatcher = Dispatcher::open(Arc::clone(&log), FUND_BIN.parse().unwrap(), policy())
        .await
        .unwrap();
    let authenticator = Authenticator::new(None, true, limits);
    let state = Arc::new(ServeState::new(
        authenticator,
        ledger_commands::serve::BODY_TIMEOUT_DEFAULT,
    ));
    state.ready(dispatcher);
    (state, log)
}

async fn version(log: &dyn EventLog, stream: &StreamId) -> StreamVersion {
    log.stream_version(stream).await.unwrap()
}

/// The attempts at the top of issue #13, each refused and each leaving the stream as it was; then the
/// holder's own dispensing, recorded as the authenticated holder and person.
#[test]
fn the_issues_attempts_are_refused_and_the_holder_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let world = small_demo(dir.path(), SEED);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, async {
        let (state, log) = writer(dir.path(), LimitSettings::default()).await;
        let app = router(Arc::clone(&state));
        let holder = world.contracts[7].holder.bin.to_string();
        let other = world.contracts[1].holder.bin.to_string();
        let command = dispensing(&world, 7, 1, "D-TRUST-1");
        let stream = command.stream.clone();
        let before = version(&*log, &stream).await;

        for (who, why) in [
            (FUND_BIN, "the Fund"),
            (other.as_str(), "another contract's pharmacy"),
            (REGULATOR, "a regulator"),
        ] {
            let (status, refusal) = post(&app, as_cert(who), &command).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {refusal}");
            assert_eq!(refusal["rule"], "POLICY-DENY", "{refusal}");
            let message = refusal["message"].as_str().unwrap();
            assert!(message.contains(who), "names the principal: {message}");
            assert!(message.contains("RecordDispensing"), "{message}");
            assert!(message.contains(stream.as_str()), "{message}");
        }
        let (status, refusal) = post(&app, None, &command).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refusal}");
        assert_eq!(refusal["rule"], "UNAUTHENTICATED");

        let mut forged = command.clone();
        forged.actor =
            Some(Organisation::Kz(FUND_BIN.parse().unwrap()).actor(ActorRole::Fund, None));
        let (status, refusal) = post(&app, as_cert(&holder), &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
        assert_eq!(refusal["rule"], "ACTOR-MISMATCH");

        let mut future = dispensing(&world, 7, 2, "D-TRUST-2099");
        if let WireCommand::RecordDispensing(dispensing) = &mut future.command {
            dispensing.dispensed_at = Timestamp::parse_rfc3339("2099-01-01T10:00:00Z").unwrap();
        }
        future.stream =
            StreamId::new(format!("period/{}/2099-01", world.contracts[7].contract_id)).unwrap();
        future.occurred_at = None;
        let (status, refusal) = post(&app, as_cert(&holder), &future).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
        assert_eq!(refusal["rule"], "TIME-01", "{refusal}");
        assert_eq!(refusal["field"], "command.dispensed_at", "{refusal}");
        assert_eq!(version(&*log, &future.stream).await, StreamVersion::NONE);
        assert_eq!(
            version(&*log, &stream).await,
            before,
            "nothing refused was appended"
        );

        let (status, created) = post(&app, as_cert(&holder), &command).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let records = log.read_stream(&stream, before.next()).await.unwrap();
        let actor = &records[0].body.actor;
        assert_eq!(actor.id, ActorId::Organisation(holder.parse().unwrap()));
        assert_eq!(actor.role, ActorRole::Pharmacy);
        assert_eq!(actor.person, Some(PERSON.parse().unwrap()));
        assert!(
            records[0].body.command_digest.is_some(),
            "the digest is on the event"
        );
    });
}

/// TIME-02: a period stream whose month has not begun takes no command, even when the dispensing's own
/// instant is not in the future (it names another month).
#[test]
fn a_period_that_has_not_begun_takes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let world = small_demo(dir.path(), SEED);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, async {
        let (state, log) = writer(dir.path(), LimitSettings::default()).await;
        let app = router(Arc::clone(&state));
        let holder = world.contracts[7].holder.bin.to_string();
        let mut command = dispensing(&world, 7, 3, "D-TRUST-EARLY");
        command.stream =
            StreamId::new(format!("period/{}/2099-01", world.contracts[7].contract_id)).unwrap();
        let (status, refusal) = post(&app, as_cert(&holder), &command).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
        assert_eq!(refusal["rule"], "TIME-02", "{refusal}");
        assert_eq!(version(&*log, &command.stream).await, StreamVersion::NONE);
    });
}

/// Issue #13 §4: a command id reused for another dispensing is refused with 409 naming both digests,
/// before and after a writer restart; the same content again is a retry (200, the original result).
#[test]
fn a_command_id_is_bound_to_its_content_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let world = small_demo(dir.path(), SEED);
    let holder = world.contracts[7].holder.bin.to_string();
    let first = dispensing(&world, 7, 4, "D-TRUST-ID-1");
    let mut second = dispensing(&world, 7, 5, "D-TRUST-ID-2");
    second.command_id = first.command_id;
    for restart in 0..2 {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            let (state, log) = writer(dir.path(), LimitSettings::default()).await;
            let app = router(Arc::clone(&state));
            let (status, original) = post(&app, as_cert(&holder), &first).await;
            let expected = if restart == 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            assert_eq!(status, expected, "{original}");
            let before = version(&*log, &first.stream).await;
            let (status, refusal) = post(&app, as_cert(&holder), &second).await;
            assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
            assert_eq!(refusal["rule"], "IDEMPOTENCY_KEY_REUSED");
            let message = refusal["message"].as_str().unwrap();
            let digests = message
                .split(|c: char| !c.is_ascii_hexdigit())
                .filter(|word| word.len() == 64)
                .count();
            assert_eq!(digests, 2, "both digests are named: {message}");
            assert_eq!(version(&*log, &first.stream).await, before);
            let (status, retry) = post(&app, as_cert(&holder), &first).await;
            assert_eq!(status, StatusCode::OK, "{retry}");
            assert_eq!(retry["duplicate"], true);
            drop(state);
        });
    }
}

/// Issue #13 §6: past its burst a principal gets 429 with Retry-After, and others are not affected.
#[test]
fn a_principal_past_its_rate_is_told_when_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let world = small_demo(dir.path(), SEED);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, async {
        let limits = LimitSettings {
            rate_per_second: 1,
            burst: 2,
            concurrent: 16,
        };
        let (state, _log) = writer(dir.path(), limits).await;
        let app = router(Arc::clone(&state));
        let holder = world.contracts[7].holder.bin.to_string();
        for index in 0..2 {
            let command = dispensing(&world, 7, 10 + index, &format!("D-RATE-{index}"));
            let (status, body) = post(&app, as_cert(&holder), &command).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let command = dispensing(&world, 7, 12, "D-RATE-2");
        let (status, refusal) = post(&app, as_cert(&holder), &command).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refusal}");
        assert_eq!(refusal["rule"], "RATE_LIMITED");
        assert!(
            refusal["retry-after"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        let other = world.contracts[1].holder.bin.to_string();
        let command = dispensing(&world, 1, 13, "D-RATE-OTHER");
        let (status, body) = post(&app, as_cert(&other), &command).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "another principal is not throttled: {body}"
        );
    });
}
