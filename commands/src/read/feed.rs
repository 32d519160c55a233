//! `GET /v1/events` (issue #14 §3): every event the principal may see, as its CloudEvent, first what
//! the log holds and then what is appended, for as long as the client stays.
//!
//! - `Accept: text/event-stream` (default): Server-Sent Events, one CloudEvent per `data:` line; the
//!   `id:` is the feed position after the event, `p:o,…`: per partition the offset of the last
//!   event read (the event's own position among them). `Accept: application/x-ndjson`: one CloudEvent
//!   per line (its `partition` and `offset` attributes give the same position).
//! - Resume with `Last-Event-ID: <id>` (what `EventSource` sends by itself) or `?after=p:o,…`:
//!   each named partition continues after that offset, the others from the start. There is no order
//!   across partitions (DESIGN §1), so a single offset could not resume without a gap; a position per
//!   partition resumes with no gap and no duplicate.
//! - Filters, applied on the server: `type` (event type names, or CloudEvents `type`s, comma-separated),
//!   `stream` (a stream id prefix), `contract` (its contract and period streams; only its partition is
//!   read), `period` (`YYYY-MM`: the period streams of that month).
//! - Idle connections get a heartbeat every `--heartbeat-seconds`: an SSE comment, an empty NDJSON line.
//! - The principal sees only what a `[[read]]` rule for `events` gives it: a pharmacy its own
//!   contracts' events; others are skipped (never sent), so its feed carries no other event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use ledger::domain::event::Event;
use ledger::domain::values::ContractId;
use ledger::log::{EventEnvelope, LogError, Offset, PartitionId, StreamId};
use tokio::sync::OwnedSemaphorePermit;

use super::access::{EventGate, Viewer};
use super::follow::{records, tail};
use super::params::{CONSISTENCY_PARAMETERS, Params, bad_request};
use super::{ReadState, with_checkpoint};
use crate::audit::Selection;
use crate::serve::ConnectionIdentity;

/// The media type of Server-Sent Events.
pub const SSE: &str = "text/event-stream";
/// The media type of newline-delimited JSON.
pub const NDJSON: &str = "application/x-ndjson";

/// How the feed is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    Sse,
    Ndjson,
}

/// The most bytes of frames one chunk of a feed carries. Frames of events already read are sent
/// together (one write, one run of TLS records) instead of one chunk per event; a chunk never waits
/// for an event that is not there yet, so a live feed still sends each event as it comes.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Where a feed stands: per partition, the offset of the last event read (sent or filtered out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub BTreeMap<u32, u64>);

impl Cursor {
    /// Parses `p:o,…` (empty: from the start); each partition at most once and below `partitions`.
    pub fn parse(text: &str, partitions: u32) -> Result<Cursor, String> {
        let mut cursor = BTreeMap::new();
        for part in text.split(',').filter(|part| !part.trim().is_empty()) {
            let (partition, offset) = part
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("\"{part}\" is not PARTITION:OFFSET"))?;
            let partition: u32 = partition
                .parse()
                .map_err(|_| format!("\"{part}\": the partition is not a number"))?;
            let offset: u64 = offset
                .parse()
                .map_err(|_| format!("\"{part}\": the offset is not a number"))?;
            if partition >= partitions {
                return Err(format!(
                    "\"{part}\": partition {partition} does not exist; the log has {partitions} (0–{})",
                    partitions - 1
                ));
            }
            if cursor.insert(partition, offset).is_some() {
                return Err(format!("partition {partition} is named twice"));
            }
        }
        Ok(Cursor(cursor))
    }

    /// Where `partition` continues.
    pub fn from(&self, partition: u32) -> Offset {
        self.0
            .get(&partition)
            .map_or(Offset(0), |offset| Offset(offset + 1))
    }

    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(partition, offset)| format!("{partition}:{offset}"))
            .collect();
        parts.join(",")
    }
}

/// Which events a feed carries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub types: Option<BTreeSet<String>>,
    pub stream_prefix: Option<String>,
    pub contract: Option<String>,
    pub period: Option<String>,
}

impl Filter {
    /// Takes `type`, `stream`, `contract` and `period` from the query, each checked.
    pub fn take(params: &mut Params) -> Result<Filter, Response> {
        let types = params
            .take("type")?
            .map(|text| parse_types(&text))
            .transpose()?;
        let stream_prefix = params.take("stream")?;
        if stream_prefix.as_deref() == Some("") {
            return Err(bad_request(
                "stream",
                "query parameter stream is empty; give a stream id prefix such as period/KZ-001/"
                    .into(),
            ));
        }
        let contract = params.take("contract")?;
        if let Some(contract_id) = &contract {
            ContractId::new(contract_id.as_str()).map_err(|error| {
                bad_request(
                    "contract",
                    format!("query parameter contract={contract_id:?}: {error}"),
                )
            })?;
        }
        let period = params.take("period")?;
        if let Some(month) = &period {
            check_month("period", month)?;
        }
        Ok(Filter {
            types,
            stream_prefix,
            contract,
            period,
        })
    }

    /// Whether an event of `event_type` on `stream` passes (types first: no decoding needed).
    pub fn accepts(&self, event_type: &str, stream: &StreamId) -> bool {
        let type_ok = self
            .types
            .as_ref()
            .is_none_or(|types| types.contains(event_type));
        let stream_ok = self
            .stream_prefix
            .as_deref()
            .is_none_or(|prefix| stream.as_str().starts_with(prefix));
        let contract_ok = self.contract.as_ref().is_none_or(|contract_id| {
            Selection::Contract {
                contract_id: contract_id.clone(),
            }
            .matches(stream)
        });
        let period_ok = self.period.as_ref().is_none_or(|period| {
            Selection::Period {
                period: period.clone(),
            }
            .matches(stream)
        });
        type_ok && stream_ok && contract_ok && period_ok
    }
}

/// `YYYY-MM`, or a 400 naming `field`.
pub fn check_month(field: &str, text: &str) -> Result<(), Response> {
    let valid = text.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").is_ok();
    if valid {
        Ok(())
    } else {
        Err(bad_request(
            field,
            format!("{field} {text:?} is not a month YYYY-MM"),
        ))
    }
}

/// Event type names, or CloudEvents `type`s (`<prefix>.<Name>.v<N>`), each one the ledger knows.
fn parse_types(text: &str) -> Result<BTreeSet<String>, Response> {
    let prefix = format!("{}.", ledger::public::EVENT_TYPE_PREFIX);
    let mut types = BTreeSet::new();
    for given in text
        .split(',')
        .map(str::trim)
        .filter(|given| !given.is_empty())
    {
        let name = given
            .strip_prefix(&prefix)
            .and_then(|rest| rest.rsplit_once(".v").map(|(name, _)| name))
            .unwrap_or(given);
        if !Event::TYPES.iter().any(|(known, _)| *known == name) {
            return Err(bad_request(
                "type",
                format!(
                    "query parameter type: \"{given}\" is not an event type of this ledger (e.g. DispensingRecorded, or {prefix}DispensingRecorded.v1)"
                ),
            ));
        }
        types.insert(name.to_owned());
    }
    if types.is_empty() {
        return Err(bad_request("type", "query parameter type is empty".into()));
    }
    Ok(types)
}

/// The feed's format from `Accept`: SSE unless NDJSON is asked for first; 406 when neither is
/// acceptable.
fn format(headers: &HeaderMap) -> Result<FeedFormat, Response> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
    else {
        return Ok(FeedFormat::Sse);
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or_default().trim();
        match media {
            SSE | "text/*" | "*/*" => return Ok(FeedFormat::Sse),
            NDJSON | "application/*" => return Ok(FeedFormat::Ndjson),
            _ => {}
        }
    }
    Err(crate::serve::error(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        Some("Accept".into()),
        format!("Accept {accept:?}: the feed is {SSE} or {NDJSON}"),
    ))
}

/// The names `GET /v1/events` takes.
const PARAMETERS: [&str; 7] = [
    "after",
    "type",
    "stream",
    "contract",
    "period",
    "min_position",
    "wait",
];

pub async fn events(
    State(state): State<Arc<ReadState>>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match open(&state, identity, &headers, &uri).await {
        Ok(response) | Err(response) => response,
    }
}

async fn open(
    state: &Arc<ReadState>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, Response> {
    let mut params = Params::parse(uri.query());
    let admitted = state.admit(identity, headers, &mut params).await?;
    let checkpoint = admitted.checkpoint.clone();
    let refuse = |response: Response| with_checkpoint(response, &checkpoint);
    let format = format(headers).map_err(refuse)?;
    let filter = Filter::take(&mut params).map_err(refuse)?;
    let cursor = resume_point(state, headers, &mut params).map_err(refuse)?;
    params.finish(&PARAMETERS).map_err(refuse)?;
    debug_assert!(
        CONSISTENCY_PARAMETERS
            .iter()
            .all(|name| PARAMETERS.contains(name))
    );
    let viewer = Viewer::new(state, admitted.principal, "events").map_err(refuse)?;
    if let Some(contract_id) = &filter.contract {
        let grant = viewer.contract(state, contract_id).map_err(refuse)?;
        viewer.patients(state, &grant).map_err(refuse)?;
    } else if let Some(grant) = viewer.sees_everything() {
        viewer.patients(state, grant).map_err(refuse)?;
    }
    tracing::info!(principal = %viewer.principal, after = %cursor.text(), "feed opened");
    let partitions: Vec<u32> = match &filter.contract {
        Some(contract_id) => {
            let stream = StreamId::new(format!("contract/{contract_id}")).expect("checked");
            vec![state.log.partition_of(&stream).0]
        }
        None => (0..state.log.partitions()).collect(),
    };
    let tails: Vec<_> = partitions
        .iter()
        .map(|&partition| {
            let from = cursor.from(partition);
            records(tail(Arc::clone(&state.log), PartitionId(partition), from))
        })
        .collect();
    let feed = Feed {
        state: Arc::clone(state),
        gate: EventGate::new(viewer),
        filter,
        format,
        cursor,
        events: futures::stream::select_all(tails),
        deferred: None,
        _permit: admitted.permit,
    };
    let content_type = match format {
        FeedFormat::Sse => SSE,
        FeedFormat::Ndjson => NDJSON,
    };
    let mut response = Response::new(Body::from_stream(feed.into_stream()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(with_checkpoint(response, &checkpoint))
}

/// `Last-Event-ID` when the client sends one (an `EventSource` reconnecting), else `?after=`.
fn resume_point(
    state: &ReadState,
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Cursor, Response> {
    let partitions = state.log.partitions();
    let after = params.take("after")?;
    if let Some(last) = headers.get("last-event-id") {
        let text = last.to_str().map_err(|_| {
            bad_request(
                "Last-Event-ID",
                "the Last-Event-ID header is not ASCII".into(),
            )
        })?;
        return Cursor::parse(text, partitions).map_err(|message| {
            bad_request(
                "Last-Event-ID",
                format!("Last-Event-ID {text:?}: {message}"),
            )
        });
    }
    match after {
        None => Ok(Cursor::default()),
        Some(text) => Cursor::parse(&text, partitions).map_err(|message| {
            bad_request(
                "after",
                format!("query parameter after={text:?}: {message}"),
            )
        }),
    }
}

/// One open feed.
struct Feed {
    state: Arc<ReadState>,
    gate: EventGate,
    filter: Filter,
    format: FeedFormat,
    cursor: Cursor,
    events: SelectAll<BoxStream<'static, Result<EventEnvelope, LogError>>>,
    /// What ended a chunk early (the log's end or an error), handled once the chunk is sent.
    deferred: Option<Wake>,
    /// The principal's place in flight: a feed counts against its concurrency limit while open.
    _permit: OwnedSemaphorePermit,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.state.metrics.feed_closed();
        tracing::info!(principal = %self.gate.viewer.principal, at = %self.cursor.text(), "feed closed");
    }
}

/// What woke the feed (one at a time, handled at once).
#[allow(clippy::large_enum_variant)]
enum Wake {
    Stop,
    Event(Option<Result<EventEnvelope, LogError>>),
    Heartbeat,
    /// An event could not be framed.
    Failed(anyhow::Error),
}

impl Feed {
    fn into_stream(self) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        let heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + self.state.heartbeat,
            self.state.heartbeat,
        );
        self.state.metrics.feed_opened();
        Box::pin(futures::stream::unfold(
            (self, heartbeat),
            |(mut feed, mut heartbeat)| async move {
                let next = feed.next(&mut heartbeat).await?;
                Some((next, (feed, heartbeat)))
            },
        ))
    }

    /// The next bytes to send; `None` ends the feed (the service stops).
    async fn next(
        &mut self,
        heartbeat: &mut tokio::time::Interval,
    ) -> Option<Result<Bytes, std::io::Error>> {
        let mut stopping = self.state.stopping.clone();
        loop {
            let wake = match self.deferred.take() {
                Some(wake) => wake,
                None => tokio::select! {
                    _ = stopping.wait_for(|stopping| *stopping) => Wake::Stop,
                    item = self.events.next() => Wake::Event(item),
                    _ = heartbeat.tick() => Wake::Heartbeat,
                },
            };
            match wake {
                Wake::Stop | Wake::Event(None) => return None,
                Wake::Heartbeat => {
                    return Some(Ok(Bytes::from_static(match self.format {
                        FeedFormat::Sse => b": heartbeat\n\n",
                        FeedFormat::Ndjson => b"\n",
                    })));
                }
                Wake::Event(Some(Err(error))) => {
                    tracing::error!(%error, "the feed cannot read the log");
                    return Some(Err(std::io::Error::other(error)));
                }
                Wake::Failed(error) => {
                    tracing::error!(error = %format!("{error:#}"), "the feed stopped");
                    return Some(Err(std::io::Error::other(error)));
                }
                Wake::Event(Some(Ok(envelope))) => match self.frame(&envelope).await {
                    Ok(None) => {}
                    Ok(Some(mut chunk)) => {
                        heartbeat.reset();
                        self.state.metrics.event_sent();
                        self.gather(&mut chunk).await;
                        return Some(Ok(Bytes::from(chunk)));
                    }
                    Err(error) => self.deferred = Some(Wake::Failed(error)),
                },
            }
        }
    }

    /// Appends to `chunk` the frames of the events already read, up to [`CHUNK_BYTES`]; stops at the
    /// first event not yet there. An end or an error is kept for after the chunk is sent, so the
    /// client gets every frame before it (each frame carries its own resume position).
    async fn gather(&mut self, chunk: &mut Vec<u8>) {
        while chunk.len() < CHUNK_BYTES {
            let Some(item) = self.events.next().now_or_never() else {
                return;
            };
            let envelope = match item {
                Some(Ok(envelope)) => envelope,
                other => {
                    self.deferred = Some(Wake::Event(other));
                    return;
                }
            };
            match self.frame(&envelope).await {
                Ok(None) => {}
                Ok(Some(frame)) => {
                    self.state.metrics.event_sent();
                    chunk.extend_from_slice(&frame);
                }
                Err(error) => {
                    self.deferred = Some(Wake::Failed(error));
                    return;
                }
            }
        }
    }

    /// The bytes of `envelope` for this feed, or `None` when it is filtered out or not the
    /// principal's to see. Either way the cursor moves past it.
    async fn frame(&mut self, envelope: &EventEnvelope) -> anyhow::Result<Option<Vec<u8>>> {
        let position = envelope.position;
        let previous = self
            .cursor
            .0
            .insert(position.partition.0, position.offset.0);
        assert!(
            previous.is_none_or(|previous| previous < position.offset.0),
            "a partition is read forward: {position} after offset {previous:?}"
        );
        if !self
            .filter
            .accepts(&envelope.body.payload.event_type, &envelope.body.stream)
        {
            return Ok(None);
        }
        let Some(grant) = self.gate.grant(&self.state, envelope).await? else {
            return Ok(None);
        };
        let form = self.state.forms.form(grant.patients);
        let event = form
            .to_bytes(envelope)
            .map_err(|error| anyhow::anyhow!("record {position} has no public form: {error}"))?;
        let mut bytes = Vec::with_capacity(event.len() + 64);
        match self.format {
            FeedFormat::Sse => {
                bytes.extend_from_slice(b"id: ");
                bytes.extend_from_slice(self.cursor.text().as_bytes());
                bytes.extend_from_slice(b"\ndata: ");
                bytes.extend_from_slice(&event);
                bytes.extend_from_slice(b"\n\n");
            }
            FeedFormat::Ndjson => {
                bytes.extend_from_slice(&event);
                bytes.push(b'\n');
            }
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_and_print() {
        let cursor = Cursor::parse("0:15,3:7", 8).unwrap();
        assert_eq!(cursor.text(), "0:15,3:7");
        assert_eq!(cursor.from(0), Offset(16));
        assert_eq!(cursor.from(1), Offset(0));
        assert_eq!(Cursor::parse("", 8).unwrap(), Cursor::default());
        for (bad, says) in [
            ("8:1", "partition 8 does not exist"),
            ("0:1,0:2", "named twice"),
            ("0-1", "not PARTITION:OFFSET"),
            ("x:1", "partition is not a number"),
            ("0:-1", "offset is not a number"),
        ] {
            let error = Cursor::parse(bad, 8).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn type_filters_take_names_and_cloudevents_types() {
        let types =
            parse_types("DispensingRecorded, org.pharmacy-copayment.ledger.RegistrySubmitted.v1")
                .unwrap();
        assert_eq!(
            types.into_iter().collect::<Vec<_>>(),
            ["DispensingRecorded", "RegistrySubmitted"]
        );
        assert!(parse_types("Dispensing").is_err());
        assert!(parse_types(",").is_err());
    }

    #[test]
    fn filters_select_streams() {
        let stream = |text: &str| StreamId::new(text).unwrap();
        let filter = Filter {
            contract: Some("KZ-001".into()),
            period: Some("2026-01".into()),
            ..Filter::default()
        };
        assert!(filter.accepts("DispensingRecorded", &stream("period/KZ-001/2026-01")));
        assert!(!filter.accepts("DispensingRecorded", &stream("period/KZ-001/2026-02")));
        assert!(!filter.accepts("DispensingRecorded", &stream("period/KZ-0011/2026-01")));
        assert!(!filter.accepts("ContractConcluded", &stream("contract/KZ-001")));
        let prefix = Filter {
            stream_prefix: Some("budget/".into()),
            types: Some(BTreeSet::from(["BudgetAllocated".to_owned()])),
            ..Filter::default()
        };
        assert!(prefix.accepts("BudgetAllocated", &stream("budget/KZ/GOBMP/2026")));
        assert!(!prefix.accepts("BudgetCommitted", &stream("budget/KZ/GOBMP/2026")));
    }
}
