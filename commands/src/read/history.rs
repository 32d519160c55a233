//! `GET /v1/history?contract=|period=|stream=[&until=]` (issue #14 §3): every event of a contract, a
//! reporting month or one stream, as `ledger history --format json` prints them: the CloudEvents, in
//! log order per partition. `Accept: application/x-ndjson` gives the CLI's bytes exactly (one per
//! line); the default, `application/json`, an array of the same events. A pharmacy reads only its own
//! contracts: a contract or stream of another is 403, and a month shows only its own events.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use futures::StreamExt;
use ledger::domain::time::Timestamp;
use ledger::log::{Offset, PartitionId, StreamId, read_partition};
use tokio::sync::mpsc;

use super::access::{EventGate, Viewer};
use super::feed::{NDJSON, check_month};
use super::owners::Belongs;
use super::params::{Params, bad_request};
use super::{ReadState, with_checkpoint};
use crate::audit::Selection;
use crate::serve::ConnectionIdentity;

/// Chunks of an answer buffered ahead of a slow client.
const CHUNKS_QUEUED_MAX: usize = 64;

const PARAMETERS: [&str; 6] = [
    "contract",
    "period",
    "stream",
    "until",
    "min_position",
    "wait",
];

pub async fn history(
    State(state): State<Arc<ReadState>>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match answer(&state, identity, &headers, &uri).await {
        Ok(response) | Err(response) => response,
    }
}

async fn answer(
    state: &Arc<ReadState>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, Response> {
    let mut params = Params::parse(uri.query());
    let admitted = state.admit(identity, headers, &mut params).await?;
    let checkpoint = admitted.checkpoint.clone();
    let refuse = |response: Response| with_checkpoint(response, &checkpoint);
    let selection = selection(&mut params).map_err(refuse)?;
    let until = until(&mut params).map_err(refuse)?;
    params.finish(&PARAMETERS).map_err(refuse)?;
    let ndjson = wants_ndjson(headers);
    let viewer = Viewer::new(state, admitted.principal, "history").map_err(refuse)?;
    match &selection {
        Selection::Contract { contract_id } => {
            let grant = viewer.contract(state, contract_id).map_err(refuse)?;
            viewer.patients(state, &grant).map_err(refuse)?;
        }
        Selection::Stream { stream } => {
            let grant = match Belongs::of(stream) {
                Belongs::Contract(contract_id) => {
                    viewer.contract(state, &contract_id).map_err(refuse)?
                }
                Belongs::Organisation(owner) => viewer
                    .grant(Some(owner))
                    .cloned()
                    .ok_or_else(|| refuse(viewer.refuse(state, stream.as_str(), Some(owner))))?,
                Belongs::Shared => viewer
                    .grant(None)
                    .cloned()
                    .ok_or_else(|| refuse(viewer.refuse(state, stream.as_str(), None)))?,
            };
            viewer.patients(state, &grant).map_err(refuse)?;
        }
        Selection::Period { .. } => {
            if let Some(grant) = viewer.sees_everything() {
                viewer.patients(state, grant).map_err(refuse)?;
            }
        }
    }
    let (sender, receiver) = mpsc::channel(CHUNKS_QUEUED_MAX);
    let scan = Scan {
        state: Arc::clone(state),
        gate: EventGate::new(viewer),
        selection,
        until,
        ndjson,
    };
    tokio::spawn(scan.run(sender, admitted.permit));
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let body = Body::from_stream(chunks);
    let mut response = Response::new(body);
    let content_type = if ndjson { NDJSON } else { "application/json" };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(with_checkpoint(response, &checkpoint))
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .and_then(|accept| {
            accept.split(',').find_map(|range| {
                match range.split(';').next().unwrap_or_default().trim() {
                    NDJSON => Some(true),
                    "application/json" | "application/*" | "*/*" => Some(false),
                    _ => None,
                }
            })
        })
        .unwrap_or(false)
}

/// Exactly one of `contract`, `period`, `stream`.
fn selection(params: &mut Params) -> Result<Selection, Response> {
    let contract = params.take("contract")?;
    let period = params.take("period")?;
    let stream = params.take("stream")?;
    match (contract, period, stream) {
        (Some(contract_id), None, None) => {
            ledger::domain::values::ContractId::new(contract_id.as_str()).map_err(|error| {
                bad_request(
                    "contract",
                    format!("query parameter contract={contract_id:?}: {error}"),
                )
            })?;
            Ok(Selection::Contract { contract_id })
        }
        (None, Some(period), None) => {
            check_month("period", &period)?;
            Ok(Selection::Period { period })
        }
        (None, None, Some(stream)) => {
            let stream = StreamId::new(&stream).map_err(|error| {
                bad_request(
                    "stream",
                    format!("query parameter stream={stream:?}: {error}"),
                )
            })?;
            Ok(Selection::Stream { stream })
        }
        _ => Err(bad_request(
            "contract",
            "give exactly one of the query parameters contract, period or stream".into(),
        )),
    }
}

fn until(params: &mut Params) -> Result<Option<Timestamp>, Response> {
    params
        .take("until")?
        .map(|text| {
            Timestamp::parse_rfc3339(&text).map_err(|error| {
                bad_request(
                    "until",
                    format!("query parameter until={text:?} is not an RFC 3339 instant ({error})"),
                )
            })
        })
        .transpose()
}

/// One history answer being written: the selected partitions read from the start, each event the
/// principal may see sent as its CloudEvent.
struct Scan {
    state: Arc<ReadState>,
    gate: EventGate,
    selection: Selection,
    until: Option<Timestamp>,
    ndjson: bool,
}

impl Scan {
    async fn run(
        mut self,
        sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
        _permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        if !self.ndjson && sender.send(Ok(Bytes::from_static(b"["))).await.is_err() {
            return;
        }
        match self.scan(&sender).await {
            Ok(sent) => {
                if !self.ndjson {
                    let end: &'static [u8] = if sent == 0 { b"]\n" } else { b"\n]\n" };
                    let _ = sender.send(Ok(Bytes::from_static(end))).await;
                }
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "history stopped");
                // The status is sent already: breaking the body is how the client learns.
                let _ = sender.send(Err(std::io::Error::other(error))).await;
            }
        }
    }

    /// Sends every selected event; returns how many. Stops early when the client left.
    async fn scan(
        &mut self,
        sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> anyhow::Result<u64> {
        let log = Arc::clone(&self.state.log);
        let partitions: Vec<PartitionId> = match &self.selection {
            Selection::Contract { contract_id } => {
                let stream = StreamId::new(format!("contract/{contract_id}")).expect("checked");
                vec![log.partition_of(&stream)]
            }
            Selection::Stream { stream } => vec![log.partition_of(stream)],
            Selection::Period { .. } => (0..log.partitions()).map(PartitionId).collect(),
        };
        let mut sent = 0u64;
        for partition in partitions {
            let mut records = read_partition(&*log, partition, Offset(0));
            while let Some(envelope) = records.next().await {
                let envelope = envelope?;
                if self
                    .until
                    .is_some_and(|until| envelope.body.recorded_at > until)
                {
                    break;
                }
                if !self.selection.matches(&envelope.body.stream) {
                    continue;
                }
                let Some(grant) = self.gate.grant(&self.state, &envelope).await? else {
                    continue;
                };
                let event = self
                    .state
                    .forms
                    .form(grant.patients)
                    .to_bytes(&envelope)
                    .map_err(|error| {
                        anyhow::anyhow!("record {} has no public form: {error}", envelope.position)
                    })?;
                let mut bytes = Vec::with_capacity(event.len() + 2);
                if !self.ndjson {
                    bytes.extend_from_slice(if sent == 0 { b"\n" } else { b",\n" });
                }
                bytes.extend_from_slice(&event);
                if self.ndjson {
                    bytes.push(b'\n');
                }
                if sender.send(Ok(Bytes::from(bytes))).await.is_err() {
                    return Ok(sent);
                }
                sent += 1;
            }
        }
        Ok(sent)
    }
}
