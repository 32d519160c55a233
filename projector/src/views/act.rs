//! The payment act view (App. 2, D-05…D-08, A-12, B-07): per contract × reporting period, the act rows
//! per region, its total, status and the payments made on it.
//!
//! Keys: `a\0<contract>\0<period>` → [`Act`]. The holder facts of the header come from the registry
//! view (`registry::read_holder`), which folds the contract stream of the same partition.

use ledger::domain::event::Event;
use ledger::domain::money::Money;
use ledger::domain::period::events::ActRow;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, DocumentHash, DocumentNumber, ReportingPeriod};
use ledger::log::{EventEnvelope, EventId};
use serde::{Deserialize, Serialize};

use super::{Key, QueryError, decode_event, read_value, scan_values};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{View, ViewError, ViewTxn};

pub const NAME: &str = "act";
pub const VERSION: u32 = 1;

const FOLDED: [&str; 4] = [
    "PaymentActSubmitted",
    "PaymentActReceived",
    "PaymentActSigned",
    "PaymentMade",
];

/// The payment act of one contract and period.
pub struct ActView;

/// Where an act stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActStatus {
    Sent,
    Received,
    Signed,
    PartlyPaid,
    Paid,
}

impl ActStatus {
    pub fn name(self) -> &'static str {
        match self {
            ActStatus::Sent => "sent",
            ActStatus::Received => "received",
            ActStatus::Signed => "signed",
            ActStatus::PartlyPaid => "partly paid",
            ActStatus::Paid => "paid",
        }
    }
}

/// One payment on an act (D-07); `fiscal_year` is the budget year charged (B-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActPayment {
    pub payment_ref: DocumentNumber,
    pub paid_at: Timestamp,
    pub amount: Money,
    pub fiscal_year: i32,
    pub event_id: EventId,
}

/// An act as folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub status: ActStatus,
    pub submitted_at: Timestamp,
    pub received_at: Option<Timestamp>,
    pub signed_at: Option<Timestamp>,
    /// B-07: the fiscal year the act is charged to (December services go to the next year).
    pub fiscal_year: Option<i32>,
    pub registry_hash: DocumentHash,
    pub content_hash: DocumentHash,
    /// one row per region, as sent.
    pub rows: Vec<ActRow>,
    pub total: Money,
    pub paid_total: Money,
    pub payments: Vec<ActPayment>,
}

impl View for ActView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        if !FOLDED.contains(&envelope.body.payload.event_type.as_str()) {
            return Ok(());
        }
        match decode_event(envelope)? {
            Event::PaymentActSubmitted(submitted) => {
                let act = Act {
                    contract_id: submitted.contract_id.clone(),
                    period: submitted.period,
                    act_no: submitted.act_no,
                    status: ActStatus::Sent,
                    submitted_at: submitted.submitted_at,
                    received_at: None,
                    signed_at: None,
                    fiscal_year: None,
                    registry_hash: submitted.registry_hash,
                    content_hash: submitted.content_hash,
                    rows: submitted.rows,
                    total: submitted.total,
                    paid_total: Money::zero(submitted.total.currency),
                    payments: Vec::new(),
                };
                txn.put_encoded(act_key(&submitted.contract_id, submitted.period), &act)
            }
            Event::PaymentActReceived(received) => {
                update(txn, &received.contract_id, received.period, |act| {
                    act.status = ActStatus::Received;
                    act.received_at = Some(received.received_at);
                })
            }
            Event::PaymentActSigned(signed) => {
                update(txn, &signed.contract_id, signed.period, |act| {
                    act.status = ActStatus::Signed;
                    act.signed_at = Some(signed.signed_at);
                    act.fiscal_year = Some(signed.fiscal_year);
                })
            }
            Event::PaymentMade(paid) => update(txn, &paid.contract_id, paid.period, |act| {
                act.paid_total = paid.paid_total;
                act.status = if paid.paid_total.minor >= act.total.minor {
                    ActStatus::Paid
                } else {
                    ActStatus::PartlyPaid
                };
                act.payments.push(ActPayment {
                    payment_ref: paid.payment_ref.clone(),
                    paid_at: paid.paid_at,
                    amount: paid.amount,
                    fiscal_year: paid.fiscal_year,
                    event_id: envelope.body.event_id,
                });
            }),
            _ => Ok(()),
        }
    }
}

/// Changes the act of a period; an event about an act never sent is unusable (the domain forbids it).
fn update(
    txn: &mut ViewTxn<'_>,
    contract_id: &ContractId,
    period: ReportingPeriod,
    change: impl FnOnce(&mut Act),
) -> Result<(), ViewError> {
    let key = act_key(contract_id, period);
    let mut act: Act = txn.get_decoded(&key)?.ok_or_else(|| ViewError::Event {
        detail: format!("no payment act was sent for contract \"{contract_id}\" period {period}"),
    })?;
    change(&mut act);
    txn.put_encoded(key, &act)
}

fn act_key(contract_id: &ContractId, period: ReportingPeriod) -> Vec<u8> {
    Key::new(b'a')
        .push(contract_id.as_str())
        .push(&period.key())
        .into_bytes()
}

/// The act of `contract_id` for `period`, if one was sent.
pub fn read<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
    period: ReportingPeriod,
) -> Result<Option<Act>, QueryError> {
    read_value(reader, NAME, &act_key(contract_id, period))
}

/// Every act of a contract, in period order.
pub fn of_contract<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &ContractId,
) -> Result<Vec<Act>, QueryError> {
    scan_values(
        reader,
        NAME,
        &Key::new(b'a').push(contract_id.as_str()).prefix(),
    )
}
