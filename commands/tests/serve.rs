//! `ledger serve` (issue #7 deploy, #8): the HTTP API through the router with tower's `oneshot`, and
//! once with the real binary on a free port, spoken to in raw HTTP/1.1 and stopped with SIGTERM.

mod serve_http;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{EventLog, StreamId, StreamVersion};
use ledger_commands::auth::{Channel, Organisation, Policy, Principal};
use ledger_commands::serve::{ConnectionIdentity, ServeState, router};
use ledger_commands::submit::dispatch::Dispatcher;
use tower::ServiceExt;

use serve_http::{FUND_BIN, KEY_OWNER, http, register_key, start, stop, wait_ready};

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

/// Posts `body` on a connection whose client certificate named the key owner.
async fn post(app: &axum::Router, body: String) -> (StatusCode, serde_json::Value) {
    let owner = Principal {
        organisation: KEY_OWNER.parse().unwrap(),
        person: None,
        claimed_role: None,
        channel: Channel::Certificate,
        credential: "test certificate".into(),
    };
    let request = Request::post("/v1/commands")
        .extension(ConnectionIdentity::certified(owner))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

async fn get(app: &axum::Router, path: &str) -> StatusCode {
    send(app, Request::get(path).body(Body::empty()).unwrap())
        .await
        .0
}

#[tokio::test]
async fn the_http_api_answers_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(FileLog::open(dir.path(), FileLogOptions::default()).unwrap());
    let state = Arc::new(ServeState::certificates_only());
    let app = router(Arc::clone(&state));
    tokio::task::LocalSet::new()
        .run_until(async {
            assert_eq!(get(&app, "/healthz").await, StatusCode::OK);
            assert_eq!(get(&app, "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
            let id = "0190a000-0000-7000-8000-000000000001";
            let (status, _) = post(&app, register_key(id, None)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not ready yet");

            let fund = FUND_BIN.parse().unwrap();
            let policy = Policy::load(None, Organisation::Kz(fund)).unwrap();
            let dispatcher = Dispatcher::open(Arc::clone(&log), fund, policy)
                .await
                .unwrap();
            state.ready(dispatcher);
            assert_eq!(get(&app, "/readyz").await, StatusCode::OK);

            let (status, created) = post(&app, register_key(id, Some(0))).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            assert_eq!(created["duplicate"], false);
            assert_eq!(created["first_version"], 1);
            assert_eq!(created["positions"].as_array().unwrap().len(), 1);

            let (status, repeated) = post(&app, register_key(id, Some(0))).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "a repeated command id answers with the original result, even with a stale expected version: {repeated}"
            );
            assert_eq!(repeated["duplicate"], true);
            assert_eq!(repeated["positions"], created["positions"]);

            let other = "0190a000-0000-7000-8000-000000000002";
            let (status, conflict) = post(&app, register_key(other, Some(0))).await;
            assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
            assert_eq!(conflict["rule"], "CONFLICT");

            let (status, refused) = post(&app, register_key(other, None)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
            assert!(refused["rule"].as_str().unwrap().starts_with("S-"), "{refused}");
            assert!(refused["message"].as_str().unwrap().contains("K-1"), "{refused}");

            let bad_bin = register_key(other, None).replace(KEY_OWNER, "210740486973");
            let (status, shape) = post(&app, bad_bin).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{shape}");
            assert_eq!(shape["rule"], "JSON");
            assert_eq!(shape["field"], "actor.id.Organisation", "{shape}");

            let (status, shape) = post(&app, "{\"command_id\": 1".into()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{shape}");
            assert_eq!(shape["field"], "(json)");
        })
        .await;
    let version = log
        .stream_version(&StreamId::new(format!("keys/{KEY_OWNER}")).unwrap())
        .await
        .unwrap();
    assert_eq!(version, StreamVersion(1), "one key registered, once");
}

#[test]
fn the_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start(&dir.path().join("data"), &[]);
    wait_ready(&address);
    let command = register_key("0190a000-0000-7000-8000-000000000003", None);
    let (status, body) = http(&address, "POST", "/v1/commands", &command);
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(&address, "POST", "/v1/commands", &command);
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(&address, "POST", "/v1/commands", "[]");
    assert_eq!(status, 400, "{body}");

    let exit = stop(child);
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    let log = FileLog::open_read_only(dir.path().join("data")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let version = runtime
        .block_on(log.stream_version(&StreamId::new(format!("keys/{KEY_OWNER}")).unwrap()))
        .unwrap();
    assert_eq!(
        version,
        StreamVersion(1),
        "appended once and kept after the stop"
    );
}
