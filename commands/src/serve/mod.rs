//! `ledger serve`: the writer service (issue #7 deploy, docs/commands.md). One process, the log's only
//! writer, takes JSON commands over HTTP:
//!
//! - `POST /v1/commands`: one command. 201 with the positions appended; 200 with the original result
//!   for a repeated command id; 422 `{rule, field, message}` on a domain refusal; 409 on a conflict
//!   that retries could not resolve (or a stale `expected_version`); 400 on bad JSON; 503 while the log
//!   is still opening.
//! - `GET /healthz`: the process is up. `GET /readyz`: the log is open and answers.
//!
//! The listener is bound before the log is opened (the writer reads every key stream at start), so
//! that liveness answers at once and readiness tells when commands are taken.

use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger::log::{AppendOutcome, CommandId, EventLog, Position, StreamId, StreamVersion};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::submit::Refusal;
use crate::submit::dispatch::{Dispatcher, Outcome, SubmitError};
use crate::submit::wire::{COMMAND_BYTES_MAX, CommandEnvelope};

/// How long `/readyz` waits for the log to answer.
const READY_PROBE_MAX: Duration = Duration::from_secs(2);

/// How many commands may wait for the writer before callers wait to enqueue (back-pressure).
const JOBS_QUEUED_MAX: usize = 1024;

/// One command handed to the writer loop, and where its result goes.
struct Job {
    envelope: CommandEnvelope,
    reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

/// What the routes share: the log and the writer's queue, once the log is open.
#[derive(Default)]
pub struct ServeState {
    log: OnceLock<Arc<dyn EventLog>>,
    jobs: OnceLock<mpsc::Sender<Job>>,
}

impl ServeState {
    /// Starts the writer loop on the current [`tokio::task::LocalSet`] and takes commands from then
    /// on. The writer runs on one thread: its decisions borrow the domain's calendar, key registry and
    /// uniqueness index, which are not `Sync`; commands on different streams still interleave.
    pub fn ready(&self, dispatcher: Dispatcher) {
        let (sender, receiver) = mpsc::channel(JOBS_QUEUED_MAX);
        let log_set = self.log.set(Arc::clone(dispatcher.log())).is_ok();
        assert!(log_set, "the writer is opened once");
        tokio::task::spawn_local(run_writer(Rc::new(dispatcher), receiver));
        assert!(self.jobs.set(sender).is_ok(), "the writer is opened once");
    }
}

/// Takes jobs until every sender is gone (the server stopped), each in its own local task.
async fn run_writer(dispatcher: Rc<Dispatcher>, mut receiver: mpsc::Receiver<Job>) {
    while let Some(job) = receiver.recv().await {
        let dispatcher = Rc::clone(&dispatcher);
        tokio::task::spawn_local(async move {
            let result = dispatcher.submit(&job.envelope).await;
            // The caller may have hung up; the command is appended (or not) all the same.
            let _ = job.reply.send(result);
        });
    }
}

/// The body of a 201 or 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub command_id: CommandId,
    pub stream: StreamId,
    /// The stream versions of the events, first to last.
    pub first_version: StreamVersion,
    pub last_version: StreamVersion,
    /// Where each event sits in the log.
    pub positions: Vec<Position>,
    /// True when the command id had been appended before and nothing new was appended.
    pub duplicate: bool,
}

impl Accepted {
    fn new(command_id: CommandId, outcome: AppendOutcome) -> Accepted {
        let count = u64::try_from(outcome.positions.len()).expect("event count fits in u64");
        Accepted {
            command_id,
            stream: outcome.stream,
            first_version: outcome.first_version,
            last_version: StreamVersion(outcome.first_version.0 + count.saturating_sub(1)),
            positions: outcome.positions,
            duplicate: outcome.duplicate,
        }
    }
}

/// The routes of the writer service.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route("/v1/commands", post(post_command))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(COMMAND_BYTES_MAX))
        .with_state(state)
}

fn error(status: StatusCode, rule: &str, field: Option<String>, message: String) -> Response {
    let body = Refusal {
        rule: rule.to_owned(),
        field,
        message,
    };
    (status, axum::Json(body)).into_response()
}

fn not_ready() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "NOT_READY",
        None,
        "the event log is still opening; retry shortly".into(),
    )
}

async fn post_command(State(state): State<Arc<ServeState>>, body: Bytes) -> Response {
    let Some(jobs) = state.jobs.get() else {
        return not_ready();
    };
    let envelope = match CommandEnvelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(shape) => {
            let refusal = Refusal::shape(shape);
            return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
        }
    };
    let command_id = envelope.command_id;
    let (reply, result) = oneshot::channel();
    if jobs.send(Job { envelope, reply }).await.is_err() {
        return not_ready();
    }
    let Ok(result) = result.await else {
        return not_ready();
    };
    match result {
        Ok(Outcome::Appended(outcome)) => {
            let status = if outcome.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let accepted = Accepted::new(command_id, outcome);
            (status, axum::Json(accepted)).into_response()
        }
        Ok(Outcome::Refused(refusal)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refusal)).into_response()
        }
        Err(conflict @ SubmitError::Conflict { .. }) => {
            error(StatusCode::CONFLICT, "CONFLICT", None, conflict.to_string())
        }
        Err(failure) => {
            tracing::error!(%command_id, error = %failure, "command failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                None,
                format!("the writer could not handle the command: {failure}"),
            )
        }
    }
}

async fn readyz(State(state): State<Arc<ServeState>>) -> Response {
    let Some(log) = state.log.get() else {
        return not_ready();
    };
    let probe = StreamId::new("reference/prices/KZ").expect("a valid stream id");
    match tokio::time::timeout(READY_PROBE_MAX, log.stream_version(&probe)).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(failure)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            None,
            format!("the event log does not answer: {failure}"),
        ),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            None,
            format!("the event log did not answer within {READY_PROBE_MAX:?}"),
        ),
    }
}

/// Resolves on SIGTERM (how Kubernetes and Compose stop a container) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(failure) => {
                tracing::warn!(error = %failure, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
