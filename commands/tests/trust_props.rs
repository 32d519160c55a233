//! Properties of the trust boundary (issue #13, "Tests"), through the HTTP router on a real log:
//!
//! - no request without a valid principal appends anything, whatever the command;
//! - no body, however malformed, and no mutation of a valid command yields a 5xx or a panic.
//!
//! The commands are the checked-in examples of every command type (`schemas/commands/examples`), so
//! that the properties reach the policy, the time checks and the domain, not only the JSON parser.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{EventLog, Offset, PartitionId};
use ledger_commands::auth::tls::AuthFailure;
use ledger_commands::auth::{Channel, Organisation, Policy, Principal};
use ledger_commands::serve::{ConnectionIdentity, ServeState, router};
use ledger_commands::submit::dispatch::Dispatcher;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt;

const FUND_BIN: &str = "900101300007";

/// Every checked-in example command, as JSON values.
fn examples() -> Vec<serde_json::Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/commands/examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
        .collect()
}

struct Server {
    runtime: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    app: axum::Router,
    log: Arc<dyn EventLog>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let local = tokio::task::LocalSet::new();
        let options = FileLogOptions {
            durability: Durability::NoSync,
            ..FileLogOptions::default()
        };
        let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir.path(), options).unwrap());
        let state = Arc::new(ServeState::certificates_only());
        let fund = FUND_BIN.parse().unwrap();
        let policy = Policy::load(None, Organisation::Kz(fund)).unwrap();
        local.block_on(&runtime, async {
            let dispatcher = Dispatcher::open(Arc::clone(&log), fund, policy)
                .await
                .unwrap();
            state.ready(dispatcher);
        });
        Server {
            runtime,
            local,
            app: router(state),
            log,
            _dir: dir,
        }
    }

    fn post(&self, identity: Option<ConnectionIdentity>, body: Vec<u8>) -> StatusCode {
        self.local.block_on(&self.runtime, async {
            let mut request = Request::post("/v1/commands");
            if let Some(identity) = identity {
                request = request.extension(identity);
            }
            let request = request.body(Body::from(body)).unwrap();
            let response = self.app.clone().oneshot(request).await.unwrap();
            response.status()
        })
    }

    /// The end offset of every partition: what has been appended.
    fn ends(&self) -> Vec<Offset> {
        self.runtime.block_on(async {
            let mut ends = Vec::new();
            for partition in 0..self.log.partitions() {
                ends.push(self.log.end_offset(PartitionId(partition)).await.unwrap());
            }
            ends
        })
    }
}

fn fund() -> ConnectionIdentity {
    ConnectionIdentity::certified(Principal {
        organisation: FUND_BIN.parse().unwrap(),
        person: None,
        claimed_role: None,
        channel: Channel::Certificate,
        credential: "test".into(),
    })
}

/// Identities that name no valid principal: no certificate, or a certificate that chained to the CA
/// but named no valid organisation.
fn no_principal() -> impl Strategy<Value = Option<ConnectionIdentity>> {
    prop_oneof![
        Just(None),
        Just(Some(ConnectionIdentity::default())),
        "[a-z ]{0,40}".prop_map(|message| Some(ConnectionIdentity {
            certificate: Some(Err(AuthFailure { message })),
            peer: None,
        })),
    ]
}

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,24}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2099-01-01T00:00:00Z")),
        Just(serde_json::Value::from("900101300007")),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a random path of `value` (chosen by `choice`) by `replacement`.
fn mutate(value: &mut serde_json::Value, choice: usize, replacement: serde_json::Value) {
    let child = match value {
        serde_json::Value::Object(fields) if !fields.is_empty() && !choice.is_multiple_of(3) => {
            let key = fields.keys().nth(choice % fields.len()).cloned().unwrap();
            fields.get_mut(&key)
        }
        serde_json::Value::Array(items) if !items.is_empty() && !choice.is_multiple_of(3) => {
            let index = choice % items.len();
            items.get_mut(index)
        }
        _ => None,
    };
    match child {
        Some(child) => mutate(child, choice / 3, replacement),
        None => *value = replacement,
    }
}

/// Issue #13: a request without a valid principal appends nothing, whatever it carries.
#[test]
fn no_request_without_a_principal_appends_anything() {
    let server = Server::start();
    let examples = examples();
    let before = server.ends();
    let mut runner = TestRunner::new(Config::with_cases(128));
    runner
        .run(
            &(no_principal(), 0..examples.len()),
            |(identity, example)| {
                let body = serde_json::to_vec(&examples[example]).unwrap();
                let status = server.post(identity, body);
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(server.ends(), before, "nothing was appended");
}

/// Issue #13: arbitrary bodies, and valid commands with one field replaced by arbitrary JSON, never
/// make the writer answer 5xx or panic (a panic would fail the request and the test).
#[test]
fn arbitrary_bodies_never_yield_a_server_error() {
    let server = Server::start();
    let examples = examples();
    let mut runner = TestRunner::new(Config::with_cases(256));
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|value| serde_json::to_vec(&value).unwrap()),
        (0..examples.len(), any::<usize>(), json_value()).prop_map(
            move |(example, choice, replacement)| {
                let mut value = examples[example].clone();
                mutate(&mut value, choice, replacement);
                serde_json::to_vec(&value).unwrap()
            }
        ),
    ];
    runner
        .run(&bodies, |body| {
            let status = server.post(Some(fund()), body);
            prop_assert!(!status.is_server_error(), "answered {}", status);
            Ok(())
        })
        .unwrap();
}
