//! Prescription disputes (RULES X-01…X-03, D-12, A-27; S002 §48–50).
//!
//! A written claim is accepted only in the dispensing month, and only before the pharmacy's payment
//! report for it is submitted (A-27: the window closes at min(end of month, report submitted)). A
//! commission of at least three members resolves it in a protocol, and a payment decision that
//! rests on a dispute must cite that protocol.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::money::Money;
use crate::domain::time::Timestamp;

/// the smallest commission.
pub const COMMISSION_MEMBERS_MIN: usize = 3;

/// A bound on commission size, so the event stays small.
pub const COMMISSION_MEMBERS_MAX: usize = 50;

/// A written dispute claim, accepted within its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisputeClaimFiled {
    pub dispute_id: String,
    /// The contract (the engine's contract id type replaces this string on merge).
    pub contract_id: String,
    pub prescription_number: String,
    pub dispensed_on: NaiveDate,
    pub filed_at: Timestamp,
    /// The local (Asia/Bishkek) date of `filed_at`.
    pub filed_on: NaiveDate,
    pub claimant: String,
    pub claim: String,
    /// The last day of the window the claim was judged against.
    pub window_closes_on: NaiveDate,
}

/// What the commission decided about payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DisputeDecision {
    PayInFull,
    PayAmount(Money),
    NoPayment,
}

/// the commission's decision, recorded in a protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisputeResolved {
    pub dispute_id: String,
    pub protocol_id: String,
    pub commission_members: Vec<String>,
    pub decision: DisputeDecision,
    pub resolved_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DisputeEvent {
    DisputeClaimFiled(DisputeClaimFiled),
    DisputeResolved(DisputeResolved),
}

/// The state of one dispute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dispute {
    #[default]
    None,
    Filed(DisputeClaimFiled),
    Resolved(DisputeClaimFiled, DisputeResolved),
}

/// File a written claim. `report_submitted_at` is when the pharmacy's payment report for the
/// dispensing month was submitted, if it has been (context the caller reads from the period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDisputeClaim {
    pub dispute_id: String,
    pub contract_id: String,
    pub prescription_number: String,
    pub dispensed_on: NaiveDate,
    pub filed_at: Timestamp,
    pub filed_on: NaiveDate,
    pub claimant: String,
    pub claim: String,
    pub report_submitted_at: Option<Timestamp>,
}

/// Record the commission's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveDispute {
    pub protocol_id: String,
    pub commission_members: Vec<String>,
    pub decision: DisputeDecision,
    pub resolved_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeCommand {
    File(FileDisputeClaim),
    Resolve(ResolveDispute),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeError {
    #[error(
        "dispute \"{dispute_id}\": a claim filed {filed_on} about a dispensing of {dispensed_on} is outside the window that closed {closes_on}; raise it as a post-settlement adjustment instead ({rule})"
    )]
    ClaimOutsideWindow {
        rule: &'static str,
        dispute_id: String,
        dispensed_on: NaiveDate,
        filed_on: NaiveDate,
        closes_on: NaiveDate,
    },
    #[error(
        "dispute \"{dispute_id}\": the claim of {filed_at} comes after the payment report submitted {report_submitted_at} ({rule})"
    )]
    ClaimAfterReport {
        rule: &'static str,
        dispute_id: String,
        filed_at: Timestamp,
        report_submitted_at: Timestamp,
    },
    #[error("dispute \"{dispute_id}\": the claim must be written, with its text ({rule})")]
    ClaimNotWritten {
        rule: &'static str,
        dispute_id: String,
    },
    #[error("dispute \"{dispute_id}\" is already {state} ({rule})")]
    WrongState {
        rule: &'static str,
        dispute_id: String,
        state: &'static str,
    },
    #[error(
        "dispute \"{dispute_id}\": a commission of {members} distinct members cannot decide; at least 3 are needed ({rule})"
    )]
    CommissionTooSmall {
        rule: &'static str,
        dispute_id: String,
        members: usize,
    },
    #[error(
        "dispute \"{dispute_id}\": the decision must be recorded in a protocol with an id ({rule})"
    )]
    MissingProtocol {
        rule: &'static str,
        dispute_id: String,
    },
    #[error(
        "dispute \"{dispute_id}\" is not resolved; a payment decision cannot rest on it yet ({rule})"
    )]
    Unresolved {
        rule: &'static str,
        dispute_id: String,
    },
    #[error(
        "dispute \"{dispute_id}\" was resolved in protocol \"{protocol_id}\", but the payment decision cites {} ({rule})", cited_text(.cited)
    )]
    ProtocolNotCited {
        rule: &'static str,
        dispute_id: String,
        protocol_id: String,
        cited: Option<String>,
    },
}

impl DisputeError {
    /// The ID of the rule that refused the input (RULES.md).
    pub fn rule(&self) -> &'static str {
        match self {
            DisputeError::ClaimOutsideWindow { rule, .. } => rule,
            DisputeError::ClaimAfterReport { rule, .. } => rule,
            DisputeError::ClaimNotWritten { rule, .. } => rule,
            DisputeError::WrongState { rule, .. } => rule,
            DisputeError::CommissionTooSmall { rule, .. } => rule,
            DisputeError::MissingProtocol { rule, .. } => rule,
            DisputeError::Unresolved { rule, .. } => rule,
            DisputeError::ProtocolNotCited { rule, .. } => rule,
        }
    }
}

fn cited_text(cited: &Option<String>) -> String {
    cited.as_deref().map_or_else(
        || "no protocol".to_owned(),
        |id| format!("protocol \"{id}\""),
    )
}

/// Implements A-27 and D-12: the last day a claim about a dispensing on `dispensed_on` is accepted —
/// the end of the dispensing month (the report bound is checked on instants by [`decide`]).
pub fn dispute_window_closes_on(dispensed_on: NaiveDate) -> NaiveDate {
    let first = dispensed_on
        .with_day(1)
        .expect("day 1 exists in every month");
    first
        .checked_add_months(Months::new(1))
        .and_then(|next| next.checked_sub_days(Days::new(1)))
        .expect("dates stay within chrono's range")
}

pub fn decide(
    dispute: &Dispute,
    command: DisputeCommand,
) -> Result<Vec<DisputeEvent>, DisputeError> {
    let event = match command {
        DisputeCommand::File(file) => DisputeEvent::DisputeClaimFiled(decide_file(dispute, file)?),
        DisputeCommand::Resolve(resolve) => {
            DisputeEvent::DisputeResolved(decide_resolve(dispute, resolve)?)
        }
    };
    Ok(vec![event])
}

/// Implements X-01, D-12 and A-27.
fn decide_file(
    dispute: &Dispute,
    file: FileDisputeClaim,
) -> Result<DisputeClaimFiled, DisputeError> {
    if !matches!(dispute, Dispute::None) {
        return Err(DisputeError::WrongState {
            rule: "X-01",
            dispute_id: file.dispute_id,
            state: "filed",
        });
    }
    if file.claim.trim().is_empty() {
        return Err(DisputeError::ClaimNotWritten {
            rule: "X-01",
            dispute_id: file.dispute_id,
        });
    }
    let closes_on = dispute_window_closes_on(file.dispensed_on);
    if file.filed_on < file.dispensed_on || file.filed_on > closes_on {
        return Err(DisputeError::ClaimOutsideWindow {
            rule: "A-27",
            dispute_id: file.dispute_id,
            dispensed_on: file.dispensed_on,
            filed_on: file.filed_on,
            closes_on,
        });
    }
    if let Some(report_submitted_at) = file.report_submitted_at
        && file.filed_at >= report_submitted_at
    {
        return Err(DisputeError::ClaimAfterReport {
            rule: "D-12",
            dispute_id: file.dispute_id,
            filed_at: file.filed_at,
            report_submitted_at,
        });
    }
    Ok(DisputeClaimFiled {
        dispute_id: file.dispute_id,
        contract_id: file.contract_id,
        prescription_number: file.prescription_number,
        dispensed_on: file.dispensed_on,
        filed_at: file.filed_at,
        filed_on: file.filed_on,
        claimant: file.claimant,
        claim: file.claim,
        window_closes_on: closes_on,
    })
}

/// Implements X-02: at least three distinct members and a protocol.
fn decide_resolve(
    dispute: &Dispute,
    resolve: ResolveDispute,
) -> Result<DisputeResolved, DisputeError> {
    let claim = match dispute {
        Dispute::Filed(claim) => claim,
        Dispute::None => {
            return Err(DisputeError::WrongState {
                rule: "X-01",
                dispute_id: String::new(),
                state: "not filed",
            });
        }
        Dispute::Resolved(claim, _) => {
            return Err(DisputeError::WrongState {
                rule: "X-02",
                dispute_id: claim.dispute_id.clone(),
                state: "resolved",
            });
        }
    };
    let dispute_id = claim.dispute_id.clone();
    let distinct: BTreeSet<&str> = resolve
        .commission_members
        .iter()
        .map(|member| member.trim())
        .filter(|member| !member.is_empty())
        .collect();
    let members = distinct.len();
    if members < COMMISSION_MEMBERS_MIN || resolve.commission_members.len() > COMMISSION_MEMBERS_MAX
    {
        return Err(DisputeError::CommissionTooSmall {
            rule: "X-02",
            dispute_id,
            members,
        });
    }
    if resolve.protocol_id.trim().is_empty() {
        return Err(DisputeError::MissingProtocol {
            rule: "X-02",
            dispute_id,
        });
    }
    Ok(DisputeResolved {
        dispute_id,
        protocol_id: resolve.protocol_id,
        commission_members: resolve.commission_members,
        decision: resolve.decision,
        resolved_on: resolve.resolved_on,
    })
}

pub fn evolve(dispute: Dispute, event: &DisputeEvent) -> Dispute {
    match (dispute, event) {
        (Dispute::None, DisputeEvent::DisputeClaimFiled(claim)) => Dispute::Filed(claim.clone()),
        (Dispute::Filed(claim), DisputeEvent::DisputeResolved(resolved)) => {
            assert_eq!(
                claim.dispute_id, resolved.dispute_id,
                "a resolution belongs to its claim"
            );
            Dispute::Resolved(claim, resolved.clone())
        }
        (state, event) => panic!("dispute event {event:?} cannot follow state {state:?}"),
    }
}

/// Implements X-03: a payment decision that rests on a dispute cites the protocol that resolved it;
/// returns the commission's decision to apply.
pub fn check_payment_decision<'a>(
    dispute: &'a Dispute,
    cited_protocol_id: Option<&str>,
) -> Result<&'a DisputeDecision, DisputeError> {
    match dispute {
        Dispute::Resolved(_, resolved)
            if cited_protocol_id == Some(resolved.protocol_id.as_str()) =>
        {
            Ok(&resolved.decision)
        }
        Dispute::Resolved(_, resolved) => Err(DisputeError::ProtocolNotCited {
            rule: "X-03",
            dispute_id: resolved.dispute_id.clone(),
            protocol_id: resolved.protocol_id.clone(),
            cited: cited_protocol_id.map(str::to_owned),
        }),
        Dispute::Filed(claim) => Err(DisputeError::Unresolved {
            rule: "X-03",
            dispute_id: claim.dispute_id.clone(),
        }),
        Dispute::None => Err(DisputeError::Unresolved {
            rule: "X-03",
            dispute_id: String::new(),
        }),
    }
}
