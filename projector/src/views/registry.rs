//! The registry view (App. 1, D-02…D-04, A-06, A-11): per contract × reporting period, the header
//! facts, the live dispensings that make its lines, and the registry's status.
//!
//! Scale: a national registry has ~10⁵ lines, so the lines come from `DispensingRecorded` /
//! `DispensingReversed`, never from the submitted document;
//! `RegistrySubmitted` … `RegistryRejected` only move the status, number, dates, hash and totals.
//! Lines are numbered from 1 when read, in the order of `ledger::domain::period::registry::registry_lines`
//! (dispensing time, then id), so the view agrees with what the holder signs.
//!
//! Keys: `c\0<contract>` holder facts; `h\0<contract>\0<period>` registry header;
//! `l\0<period stream>\0<chunk>` the dispensings of `LINES_PER_CHUNK` consecutive stream versions, each
//! as recorded (version ‖ schema version ‖ length ‖ payload: no decoding or re-encoding on the hot
//! path); `x\0<period stream>\0<dispensing id>` the stream version of its last reversal. A line is live
//! when its dispensing was recorded after its last reversal (the period aggregate's fold).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger::domain::context::local_date;
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::events::{DispensingRecorded, RegistryLine};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{
    ContractId, DocumentHash, DocumentNumber, OrganisationName, ReportingPeriod,
};
use ledger::log::{EventEnvelope, Payload};
use serde::{Deserialize, Serialize};

use super::{Key, QueryError, decode_event, read_value, scan_values};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{View, ViewError, ViewTxn};

pub const NAME: &str = "registry";
pub const VERSION: u32 = 2;

/// The event types this view folds.
const FOLDED: [&str; 8] = [
    "ContractApplicationReceived",
    "ContractConcluded",
    "DispensingRecorded",
    "DispensingReversed",
    "RegistrySubmitted",
    "RegistryReceived",
    "RegistryApproved",
    "RegistryRejected",
];

/// The registry of one contract and period.
pub struct RegistryView;

/// Contract facts printed on the header of both appendices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderFacts {
    pub jurisdiction: Option<Jurisdiction>,
    pub holder_name: Option<OrganisationName>,
    pub holder_bin: Option<Bin>,
    /// The local date the contract was concluded (the contract date on the forms).
    pub concluded_on: Option<NaiveDate>,
}

/// Where a registry stands (A-06: a rejected registry is corrected and resubmitted whole).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryStatus {
    #[default]
    Open,
    Submitted,
    Resubmitted,
    Received,
    Approved,
    Rejected,
}

impl RegistryStatus {
    pub fn name(self) -> &'static str {
        match self {
            RegistryStatus::Open => "open",
            RegistryStatus::Submitted => "submitted",
            RegistryStatus::Resubmitted => "resubmitted",
            RegistryStatus::Received => "received",
            RegistryStatus::Approved => "approved",
            RegistryStatus::Rejected => "rejected",
        }
    }
}

/// Σ col 15, Σ col 16, Σ col 17 (A-11: Σ15 is the payable amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub fund: Money,
    pub patient: Money,
    pub total: Money,
}

/// The registry header: status and the facts of its submissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryHeader {
    pub status: RegistryStatus,
    pub registry_no: Option<DocumentNumber>,
    /// How many times it was submitted.
    pub submissions: u32,
    /// D-02: the first submission was late.
    pub late: bool,
    pub submitted_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub approved_at: Option<Timestamp>,
    pub rejected_at: Option<Timestamp>,
    pub rejection_reason: Option<String>,
    /// The hash and totals of the last submitted content.
    pub content_hash: Option<DocumentHash>,
    pub submitted_lines: u32,
    pub submitted_totals: Option<Totals>,
}

/// A registry as read: header, holder facts, numbered lines and footer totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub holder: HolderFacts,
    pub header: RegistryHeader,
    pub lines: Vec<RegistryLine>,
    pub totals: Totals,
}

impl View for RegistryView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        let event_type = envelope.body.payload.event_type.as_str();
        if event_type == "DispensingRecorded" {
            append_line(envelope, txn)?;
            return Ok(());
        }
        if !FOLDED.contains(&event_type) {
            return Ok(());
        }
        match decode_event(envelope)? {
            Event::ContractApplicationReceived(received) => {
                update_holder(txn, &received.contract_id, |holder| {
                    holder.jurisdiction = Some(received.jurisdiction);
                    holder.holder_name = Some(received.applicant.name().clone());
                    holder.holder_bin = Some(received.applicant.holder());
                })
            }
            Event::ContractConcluded(concluded) => {
                update_holder(txn, &concluded.contract_id, |holder| {
                    let jurisdiction = holder.jurisdiction.unwrap_or(Jurisdiction::KZ);
                    holder.holder_bin = Some(concluded.holder);
                    holder.concluded_on = Some(local_date(jurisdiction, concluded.concluded_at));
                })
            }
            Event::DispensingReversed(reversed) => {
                let key = tombstone_key(envelope.body.stream.as_str(), &reversed.dispensing_id);
                txn.put(key, envelope.body.stream_version.0.to_be_bytes().to_vec());
                Ok(())
            }
            event => apply_status(txn, &event),
        }
    }
}

/// RegistrySubmitted/Received/Approved/Rejected: status, number, dates, hash and totals.
fn apply_status(txn: &mut ViewTxn<'_>, event: &Event) -> Result<(), ViewError> {
    let (contract_id, period) = match event {
        Event::RegistrySubmitted(e) => (&e.contract_id, e.period),
        Event::RegistryReceived(e) => (&e.contract_id, e.period),
        Event::RegistryApproved(e) => (&e.contract_id, e.period),
        Event::RegistryRejected(e) => (&e.contract_id, e.period),
        _ => return Ok(()),
    };
    let key = header_key(contract_id, period);
    let mut header: RegistryHeader = txn.get_decoded(&key)?.unwrap_or_default();
    match event {
        Event::RegistrySubmitted(submitted) => {
            header.status = if submitted.submission > 1 {
                RegistryStatus::Resubmitted
            } else {
                RegistryStatus::Submitted
            };
            header.registry_no = Some(submitted.registry_no.clone());
            header.submissions = submitted.submission;
            // the domain judges lateness on the first submission and repeats it on resubmissions.
            header.late = submitted.late;
            header.submitted_at = Some(submitted.submitted_at);
            header.content_hash = Some(submitted.content_hash);
            header.submitted_lines = submitted.line_count;
            header.submitted_totals = Some(Totals {
                fund: submitted.total_fund,
                patient: submitted.total_patient,
                total: submitted.total,
            });
        }
        Event::RegistryReceived(received) => {
            header.status = RegistryStatus::Received;
            header.received_at = Some(received.received_at);
        }
        Event::RegistryApproved(approved) => {
            header.status = RegistryStatus::Approved;
            header.approved_at = Some(approved.approved_at);
        }
        Event::RegistryRejected(rejected) => {
            header.status = RegistryStatus::Rejected;
            header.rejected_at = Some(rejected.rejected_at);
            header.rejection_reason = Some(rejected.reason.clone());
        }
        _ => unreachable!("filtered above"),
    }
    txn.put_encoded(key, &header)
}

fn update_holder(
    txn: &mut ViewTxn<'_>,
    contract_id: &ContractId,
    change: impl FnOnce(&mut HolderFacts),
) -> Result<(), ViewError> {
    let key = holder_key(contract_id);
    let mut holder: HolderFacts = txn.get_decoded(&key)?.unwrap_or_default();
    change(&mut holder);
    txn.put_encoded(key, &holder)
}

/// The hot path (one call per dispensing, ~10⁶ a month): appends the recorded payload, as recorded, to
/// the chunk of its stream version. No decoding and no re-encoding; the stream names the registry
/// (`period/<contract>/<period>`, DESIGN §1), and one chunk holds `LINES_PER_CHUNK` consecutive
/// versions, so a batch of a thousand dispensings is a few dozen store writes, not a thousand.
fn append_line(envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
    let version = envelope.body.stream_version.0;
    let key = chunk_key(envelope.body.stream.as_str(), version / LINES_PER_CHUNK);
    let mut chunk = txn.get(&key)?.unwrap_or_default();
    let payload = &envelope.body.payload;
    let length = u32::try_from(payload.data.len()).map_err(|_| ViewError::Event {
        detail: format!("a dispensing payload of {} bytes", payload.data.len()),
    })?;
    chunk.reserve(14 + payload.data.len());
    chunk.extend_from_slice(&version.to_be_bytes());
    chunk.extend_from_slice(&payload.schema_version.to_be_bytes());
    chunk.extend_from_slice(&length.to_be_bytes());
    chunk.extend_from_slice(&payload.data);
    txn.put(key, chunk);
    Ok(())
}

/// One entry of a chunk: (stream version, schema version, payload bytes).
type ChunkEntry<'a> = (u64, u16, &'a [u8]);

/// Splits a chunk into its entries.
fn chunk_entries<'a>(key: &[u8], mut bytes: &'a [u8]) -> Result<Vec<ChunkEntry<'a>>, QueryError> {
    let error = |detail: &str| QueryError::Decode {
        view: NAME,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: detail.to_owned(),
    };
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = bytes
            .split_first_chunk::<14>()
            .ok_or_else(|| error("truncated entry header"))?;
        let version = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
        let schema = u16::from_be_bytes(head[8..10].try_into().expect("2 bytes"));
        let length = u32::from_be_bytes(head[10..].try_into().expect("4 bytes"));
        let length = usize::try_from(length).expect("u32 fits in usize");
        if rest.len() < length {
            return Err(error("truncated entry payload"));
        }
        let (data, rest) = rest.split_at(length);
        entries.push((version, schema, data));
        bytes = rest;
    }
    Ok(entries)
}

fn decode_line(
    key: &[u8],
    schema_version: u16,
    data: &[u8],
) -> Result<DispensingRecorded, QueryError> {
    let error = |detail: String| QueryError::Decode {
        view: NAME,
        key: String::from_utf8_lossy(key).into_owned(),
        detail,
    };
    let payload = Payload {
        event_type: "DispensingRecorded".to_owned(),
        schema_version,
        data: data.to_vec(),
    };
    match Event::from_payload(&payload).map_err(|e| error(e.to_string()))? {
        Event::DispensingRecorded(recorded) => Ok(recorded),
        other => Err(error(format!("holds a {}", other.event_type()))),
    }
}

/// Consecutive stream versions per stored chunk of dispensings: bounds the bytes a batch rewrites when
/// it appends to a chunk an earlier batch started (~32 × 700 B), and the copy a step makes when it reads
/// the chunk back for each append. 8 and 32 measured the same on `ledger project` (CPU time, noisy).
pub const LINES_PER_CHUNK: u64 = 32;

pub fn holder_key(contract_id: &ContractId) -> Vec<u8> {
    Key::new(b'c').push(contract_id.as_str()).into_bytes()
}

fn header_key(contract_id: &ContractId, period: ReportingPeriod) -> Vec<u8> {
    Key::new(b'h')
        .push(contract_id.as_str())
        .push(&period.key())
        .into_bytes()
}

/// The period stream of a registry (DESIGN §1).
fn period_stream(contract_id: &ContractId, period: ReportingPeriod) -> String {
    format!("period/{contract_id}/{}", period.key())
}

fn chunk_key(stream: &str, chunk: u64) -> Vec<u8> {
    Key::new(b'l').push(stream).push_u64(chunk).into_bytes()
}

fn tombstone_key(stream: &str, dispensing_id: &ledger::domain::values::DispensingId) -> Vec<u8> {
    Key::new(b'x')
        .push(stream)
        .push(dispensing_id.as_str())
        .into_bytes()
}

/// The live dispensings of a period stream: every recorded one (a later record of an id replaces an
/// earlier one), minus those reversed after they were recorded; the same fold as the period aggregate.
/// `None` when the stream recorded no dispensing at all.
fn live_dispensings<R: ViewRead>(
    reader: &ProjectorReader<R>,
    stream: &str,
) -> Result<Option<Vec<DispensingRecorded>>, QueryError> {
    let mut recorded: BTreeMap<String, (u64, DispensingRecorded)> = BTreeMap::new();
    for (key, bytes) in
        reader.scan_prefix(NAME, &Key::new(b'l').push(stream).prefix(), usize::MAX)?
    {
        for (version, schema, data) in chunk_entries(&key, &bytes)? {
            let line = decode_line(&key, schema, data)?;
            recorded.insert(line.dispensing_id.as_str().to_owned(), (version, line));
        }
    }
    let prefix = Key::new(b'x').push(stream).prefix();
    let mut reversals = 0u64;
    for (key, bytes) in reader.scan_prefix(NAME, &prefix, usize::MAX)? {
        reversals += 1;
        let reversed_at: [u8; 8] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| QueryError::Decode {
                view: NAME,
                key: String::from_utf8_lossy(&key).into_owned(),
                detail: format!("{} bytes, expected 8", bytes.len()),
            })?;
        let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
        if recorded
            .get(&id)
            .is_some_and(|(version, _)| *version < u64::from_be_bytes(reversed_at))
        {
            recorded.remove(&id);
        }
    }
    if recorded.is_empty() && reversals == 0 {
        return Ok(None);
    }
    Ok(Some(recorded.into_values().map(|(_, line)| line).collect()))
}

/// The registry of `contract_id` for `period`; `None` when the view knows nothing of it.
pub fn read<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
    period: ReportingPeriod,
) -> Result<Option<Registry>, QueryError> {
    let header: Option<RegistryHeader> =
        read_value(reader, NAME, &header_key(contract_id, period))?;
    let live = live_dispensings(reader, &period_stream(contract_id, period))?;
    if header.is_none() && live.is_none() {
        return Ok(None);
    }
    let live = live.unwrap_or_default();
    let holder = read_value(reader, NAME, &holder_key(contract_id))?.unwrap_or_default();
    let lines = number_lines(live);
    let totals = totals(&lines);
    Ok(Some(Registry {
        contract_id: contract_id.clone(),
        period,
        holder,
        header: header.unwrap_or_default(),
        lines,
        totals,
    }))
}

/// The headers of every registry of a contract that reached submission, in period order.
pub fn headers<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
) -> Result<Vec<RegistryHeader>, QueryError> {
    scan_values(
        reader,
        NAME,
        &Key::new(b'h').push(contract_id.as_str()).prefix(),
    )
}

/// The App. 1 lines of the live dispensings: ordered by dispensing time, then id, numbered from 1
/// (the order of `ledger::domain::period::registry::registry_lines`).
pub fn number_lines(mut live: Vec<DispensingRecorded>) -> Vec<RegistryLine> {
    live.sort_by(|a, b| {
        (a.dispensed_at, &a.dispensing_id).cmp(&(b.dispensed_at, &b.dispensing_id))
    });
    live.into_iter()
        .zip(1u32..)
        .map(|(recorded, line_no)| RegistryLine {
            line_no,
            dispensing_id: recorded.dispensing_id,
            dispenser_name: recorded.dispenser_name,
            dispenser_bin: recorded.dispenser_bin,
            region: recorded.region,
            programme: recorded.programme,
            icd10: recorded.icd10,
            patient_iin: recorded.patient_iin,
            prescription: recorded.prescription,
            product: recorded.product,
            trade_name: recorded.trade_name,
            unit: recorded.unit,
            limit_unit_price: recorded.limit_unit_price,
            fiscal_receipt: recorded.fiscal_receipt,
            marking_code: recorded.marking_code,
            fund_amount: recorded.amounts.fund,
            patient_amount: recorded.amounts.patient,
            total_amount: recorded.amounts.total,
        })
        .collect()
}

/// A-11, M-07: the footer sums. Amounts stay far inside i64 (10⁶ lines × 10¹⁰ tiyn).
pub fn totals(lines: &[RegistryLine]) -> Totals {
    let currency = lines
        .first()
        .map_or(Currency::KZT, |line| line.fund_amount.currency);
    let sum = |pick: fn(&RegistryLine) -> &Money| {
        Money::sum(currency, lines.iter().map(pick))
            .expect("registry totals fit in i64 minor units")
    };
    let totals = Totals {
        fund: sum(|line| &line.fund_amount),
        patient: sum(|line| &line.patient_amount),
        total: sum(|line| &line.total_amount),
    };
    assert_eq!(
        totals.fund.minor + totals.patient.minor,
        totals.total.minor,
        "M-07 holds for the sums"
    );
    totals
}

/// The holder facts of a contract (header of both appendices); empty when the contract is unknown.
pub fn read_holder<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
) -> Result<HolderFacts, QueryError> {
    Ok(read_value(reader, NAME, &holder_key(contract_id))?.unwrap_or_default())
}
