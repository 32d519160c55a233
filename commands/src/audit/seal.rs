//! The writer's side of period seals (issue #15 §1, docs/domain.md "Period seals"): what the log
//! holds for a month ([`observe`]: the events' chain heads per partition, the RFC 6962 root over their
//! chain hashes, the SHA-256 of their canonical export, the versions in force), the seal aggregate
//! for the handler, and the small set of sealed months every writer loads at start-up and consults
//! before a period command (SEAL-01).

use std::collections::BTreeSet;

use futures::StreamExt;
use ledger::domain::calendar::{CalendarSet, WorkingCalendar};
use ledger::domain::error::DomainError;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::rules::RuleBook;
use ledger::domain::seal::{
    self, EXPORT_FORMAT, PartitionHead, SealContent, SealContext, SealPeriod, SealState,
};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{DocumentHash, ReportingPeriod};
use ledger::log::{
    ChainHash, EventEnvelope, EventLog, NewEvent, Offset, PartitionId, Position, StreamId,
    read_partition,
};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::jsonl::canonical_line;
use super::merkle;
use crate::handler::{Aggregate, Handler, HandlerError};
use crate::submit::Refusal;
use crate::writer::{Command, PriceListAggregate, ReferenceBookAggregate, decode, new_events};
use crate::writer_state::layout::Cursor;

/// Whether `envelope` is one of the events a seal of `month` (`YYYY-MM`) in `jurisdiction` covers:
/// an event on a `period/<contract-id>/<month>` stream recorded under that jurisdiction.
pub fn in_seal(envelope: &EventEnvelope, jurisdiction: Jurisdiction, month: &str) -> bool {
    let body = &envelope.body;
    body.jurisdiction == jurisdiction && period_month(&body.stream) == Some(month)
}

/// The month of a `period/<contract-id>/<YYYY-MM>` stream.
pub fn period_month(stream: &StreamId) -> Option<&str> {
    let mut segments = stream.as_str().split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("period"), Some(_), Some(month), None) => Some(month),
        _ => None,
    }
}

/// What the log holds for a month: the seal's content (with `sealed_at` as given) and the leaves.
#[derive(Debug, Clone)]
pub struct Observation {
    pub content: SealContent,
    /// The period's events in canonical order (partition, then offset), with their chain hashes.
    pub leaves: Vec<(Position, ChainHash)>,
    /// The latest business time among the period's events.
    pub last_occurred_at: Option<Timestamp>,
}

/// The versions a seal records: the rule set and calendar in force on the period's last day, and
/// the price list (KZ, A-14) or Reference Book (KG, M-10) in force then.
pub async fn versions_in_force(
    log: &dyn EventLog,
    rules: &RuleBook,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
) -> Result<(u32, u32, Option<u32>), HandlerError> {
    let last_day = period.last_day();
    let rule_set_version = rules
        .in_force(jurisdiction, last_day)
        .map_or(0, |rule_set| rule_set.version);
    let calendar_version = CalendarSet::embedded()
        .ok()
        .and_then(|set| set.in_force(jurisdiction, last_day).ok())
        .map_or(0, |calendar| calendar.version().0);
    let price_list_version = match jurisdiction {
        Jurisdiction::KZ => {
            let stream = StreamId::new("reference/prices/KZ").expect("valid stream id");
            let (prices, _) = Handler::<PriceListAggregate>::default()
                .load(log, &stream)
                .await?;
            prices.version_on(last_day)
        }
        Jurisdiction::KG => {
            let stream = StreamId::new(crate::submit::route::REFERENCE_BOOK_STREAM)
                .expect("valid stream id");
            let (books, _) = Handler::<ReferenceBookAggregate>::default()
                .load(log, &stream)
                .await?;
            books.in_force_on(last_day).map(|book| book.version)
        }
    };
    Ok((rule_set_version, calendar_version, price_list_version))
}

/// Reads every partition from its start and gathers what a seal of `period` in `jurisdiction`
/// states: what an auditor does, trusting nothing but the log.
pub async fn observe(
    log: &dyn EventLog,
    rules: &RuleBook,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
    sealed_at: Timestamp,
) -> Result<Observation, AuditError> {
    let whole = ReadSpan {
        from: Cursor::default(),
        to: None,
    };
    let spans = vec![vec![whole]; usize::try_from(log.partitions()).expect("u32 fits in usize")];
    observe_from(log, rules, jurisdiction, period, sealed_at, &spans).await
}

/// A stretch of one partition: from a cursor (an offset and the records before it) up to an offset
/// (exclusive), or to the log's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSpan {
    pub from: Cursor,
    pub to: Option<u64>,
}

/// [`observe`], reading on each partition only `spans` (in order, not overlapping), which must hold
/// every record of the period there: the writer's state knows where each period lies
/// (`WriterState::period_spans`). The content is the same as from a read of the whole log, so a
/// seal costs its month, not the history (issue #16).
pub async fn observe_from(
    log: &dyn EventLog,
    rules: &RuleBook,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
    sealed_at: Timestamp,
    spans: &[Vec<ReadSpan>],
) -> Result<Observation, AuditError> {
    let month = period.key();
    let mut export = Sha256::new();
    let mut leaves = Vec::new();
    let mut partitions = Vec::new();
    let mut last_occurred_at = None;
    for (partition, spans) in (0..log.partitions()).zip(spans) {
        let mut head = None::<PartitionHead>;
        for span in spans {
            let mut records = read_partition(log, PartitionId(partition), Offset(span.from.next));
            let mut read = span.from.records;
            while let Some(envelope) = records.next().await {
                let envelope = envelope?;
                if span.to.is_some_and(|to| envelope.position.offset.0 >= to) {
                    break;
                }
                read += 1;
                if !in_seal(&envelope, jurisdiction, &month) {
                    continue;
                }
                export.update(canonical_line(&envelope, None).as_bytes());
                export.update(b"\n");
                leaves.push((envelope.position, envelope.hash));
                last_occurred_at = last_occurred_at.max(Some(envelope.body.occurred_at));
                let events = head.as_ref().map_or(0, |head| head.events) + 1;
                head = Some(PartitionHead {
                    partition,
                    records: read,
                    head_offset: envelope.position.offset.0,
                    chain_head: DocumentHash(envelope.hash.0),
                    events,
                });
            }
        }
        partitions.extend(head);
    }
    let (rule_set_version, calendar_version, price_list_version) =
        versions_in_force(log, rules, jurisdiction, period).await?;
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|(_, hash)| hash.0).collect();
    let content = SealContent {
        jurisdiction,
        period,
        sealed_at,
        events: u64::try_from(leaves.len()).expect("event count fits in u64"),
        partitions,
        merkle_root: DocumentHash(merkle::root(&hashes)),
        export_format: EXPORT_FORMAT.to_owned(),
        export_sha256: DocumentHash(export.finalize().into()),
        rule_set_version,
        calendar_version,
        price_list_version,
    };
    Ok(Observation {
        content,
        leaves,
        last_occurred_at,
    })
}

/// The months sealed so far, per jurisdiction: all a writer knows of seals (SEAL-01).
#[derive(Debug, Clone, Default)]
pub struct SealedMonths(BTreeSet<(Jurisdiction, String)>);

impl SealedMonths {
    /// Learns a seal from an event of a `seal/…` stream (others are ignored).
    pub fn apply(&mut self, event: &Event) {
        if let Event::PeriodSealed(sealed) = event {
            self.0
                .insert((sealed.seal.jurisdiction, sealed.seal.period.key()));
        }
    }

    pub fn contains(&self, jurisdiction: Jurisdiction, month: &str) -> bool {
        self.0.contains(&(jurisdiction, month.to_owned()))
    }

    /// Implements SEAL-01: a command on a period stream of a sealed month is refused; corrections
    /// after a seal go into the next period, as the law's resubmission does.
    pub fn refusal(&self, stream: &StreamId, jurisdiction: Jurisdiction) -> Option<Refusal> {
        let month = period_month(stream)?;
        self.contains(jurisdiction, month).then(|| Refusal {
            rule: "SEAL-01".into(),
            field: Some("stream".into()),
            message: seal01_message(stream, jurisdiction, month),
        })
    }

    /// SEAL-01 as a domain error, for the writers that report refusals that way (the demo).
    pub fn check(&self, stream: &StreamId, jurisdiction: Jurisdiction) -> Result<(), DomainError> {
        match self.refusal(stream, jurisdiction) {
            None => Ok(()),
            Some(refusal) => Err(DomainError::WrongStage {
                rule: "SEAL-01",
                object: format!("\"{stream}\""),
                action: "a period command",
                expected: "in an unsealed month",
                actual: refusal.message,
            }),
        }
    }
}

fn seal01_message(stream: &StreamId, jurisdiction: Jurisdiction, month: &str) -> String {
    format!(
        "\"{stream}\" belongs to {month}, which {jurisdiction}'s Fund has sealed (seal/{jurisdiction}/{month}); a correction goes into the next period"
    )
}

/// The seal stream `seal/<jurisdiction>/<YYYY-MM>`.
pub struct SealAggregate;

impl Aggregate for SealAggregate {
    type State = SealState;
    type Command = Command<SealPeriod>;
    type Context<'c> = SealContext<'c>;
    type Rejection = DomainError;

    fn evolve(state: SealState, envelope: &EventEnvelope) -> Result<SealState, HandlerError> {
        Ok(seal::evolve(state, &decode(envelope)?))
    }

    fn decide(
        state: &mut SealState,
        command: &Self::Command,
        context: &SealContext<'_>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        let events = seal::decide(state, command.command.clone(), context)?;
        for event in &events {
            *state = seal::evolve(std::mem::take(state), event);
        }
        Ok(new_events(events, &command.meta))
    }
}

/// What `audit verify --period` finds of one jurisdiction's seal: none, or the check's outcome.
pub enum SealCheck {
    Unsealed,
    Valid(String),
    Invalid(String),
}

/// Re-derives a seal from the log and checks it: the content equals what the log holds now (the
/// chain heads, the root, the export digest, the versions), the signature block is over that
/// content, and the Fund's key registered at sealing accepts the signature (S-01…S-04).
pub async fn verify_seal(
    log: &dyn EventLog,
    rules: &RuleBook,
    keys: &ledger::domain::keys::KeyRegistry,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
) -> Result<SealCheck, AuditError> {
    let stream_id = StreamId::new(seal::stream_id(jurisdiction, period)).expect("valid stream id");
    let mut found = None;
    for envelope in log
        .read_stream(&stream_id, ledger::log::StreamVersion(1))
        .await?
    {
        if let Event::PeriodSealed(sealed) = decode(&envelope)? {
            found = Some(sealed);
        }
    }
    let Some(sealed) = found else {
        return Ok(SealCheck::Unsealed);
    };
    let observed = observe(log, rules, jurisdiction, period, sealed.seal.sealed_at).await?;
    if observed.content != sealed.seal {
        let stated = serde_json::to_value(&sealed.seal).expect("JSON");
        let held = serde_json::to_value(&observed.content).expect("JSON");
        let field = stated
            .as_object()
            .expect("an object")
            .iter()
            .find(|(name, value)| held.get(name.as_str()) != Some(value))
            .map_or("(content)".to_owned(), |(name, _)| name.clone());
        return Ok(SealCheck::Invalid(format!(
            "{stream_id}: the log no longer holds what was sealed: {field} is {} in the seal but {} in the log",
            stated[&field], held[&field]
        )));
    }
    let hash = sealed.seal.document_hash();
    if sealed.signature.document_hash != hash {
        return Ok(SealCheck::Invalid(format!(
            "{stream_id}: the signature is over another document than the seal"
        )));
    }
    let bytes = hex::decode(&sealed.signature.signature_hex).unwrap_or_default();
    if let Err(reason) = keys.check(
        sealed.signature.signer,
        &sealed.signature.key_id,
        &hash.0,
        &bytes,
        sealed.seal.sealed_at,
    ) {
        return Ok(SealCheck::Invalid(format!(
            "{stream_id}: the Fund's signature is refused: {reason}"
        )));
    }
    Ok(SealCheck::Valid(format!(
        "{stream_id}: ok ({} events, root {}, export {}, signed by BIN {} with key {})",
        sealed.seal.events,
        sealed.seal.merkle_root,
        sealed.seal.export_sha256,
        sealed.signature.signer,
        sealed.signature.key_id
    )))
}
