//! The KG contract lifecycle (S002 §27–§30, §53): any pharmacy may apply (E-09), a refusal with reasons
//! is due within 3 calendar days (D-10, A-23), no tax debts on the day of conclusion (E-10), one-year
//! term renewed unless a party objects (C-08, A-22).
//!
//! A separate aggregate on the same stream shape (`contract/<id>`) so that no KZ criterion (network size,
//! ISS, consortium) ever applies to a KG pharmacy and no KG rule leaks into KZ. KG organisations
//! are identified by their taxpayer number, not a BIN, so KG contract documents carry no BIN signature
//! here. TODO(keys, domain2): sign KG contract documents once the key registry covers KG identities.
//! KG dispensing, pricing and disputes live in `domain::kg` (branch `domain2`).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::events::{ContractRefused, ContractTerm, Party, RuleFinding};
use crate::domain::breach::{self, Breaches, ClockSubject, RecordDeadlineBreach, RunningClock};
use crate::domain::clock::{ClockRule, Deadline, MonthlyDue};
use crate::domain::context::{DecisionContext, local_date};
use crate::domain::deadline::calendar_day_clock;
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::rules::KgContractParameters;
use crate::domain::time::Timestamp;
use crate::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName};

/// E-10: the result of the state IS check for mandatory-tax debts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaxDebtCheck {
    pub checked_on: NaiveDate,
    pub has_debts: bool,
    /// The reference of the state IS answer.
    pub reference: DocumentNumber,
}

/// C-07, D-10: the MHIF received an application; starts KG_REFUSAL (3 CD, A-23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgContractApplicationReceived {
    pub contract_id: ContractId,
    pub received_at: Timestamp,
    pub applicant: KgTin,
    pub name: OrganisationName,
    pub refusal: Deadline,
    pub rule_set_version: u32,
}

/// C-08, E-10: the MHIF concluded a one-year contract after a clean tax check on the day.
///
/// v2 adds `report_due`: D-13 leaves the payment reports' deadline to the contract, so the contract
/// records it, and every month's KG_PAYMENT_REPORT clock is computed from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgContractConcluded {
    pub contract_id: ContractId,
    pub concluded_at: Timestamp,
    pub term: ContractTerm,
    pub tax_check: TaxDebtCheck,
    pub rule_set_version: u32,
    /// D-13: the report's due day and the calendar version it rolls on. `None` only on contracts
    /// recorded before schema v2, which set no deadline the ledger knows.
    pub report_due: Option<MonthlyDue>,
}

/// a party objected to renewal during the current term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractObjectionFiled {
    pub contract_id: ContractId,
    pub filed_at: Timestamp,
    pub party: Party,
    pub reason: String,
}

/// C-08, A-22: no objection; the contract runs for another term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractRenewed {
    pub contract_id: ContractId,
    pub renewed_at: Timestamp,
    pub term: ContractTerm,
}

/// C-08, C-10: the term ended without renewal; dispensings after `ended_on` are not compensated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractExpired {
    pub contract_id: ContractId,
    pub expired_at: Timestamp,
    pub ended_on: NaiveDate,
    pub objected: bool,
}

/// Where a KG contract is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KgContractStage {
    #[default]
    New,
    UnderReview,
    Refused,
    Concluded,
    Expired,
}

/// The folded KG contract stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KgContractState {
    pub stage: KgContractStage,
    pub contract_id: Option<ContractId>,
    pub applicant: Option<KgTin>,
    pub refusal: Option<Deadline>,
    pub term: Option<ContractTerm>,
    /// C-10: every validity term so far (the first year and each renewal), oldest first: a dispensing
    /// is compensated only inside one of them.
    pub terms: Vec<ContractTerm>,
    /// An objection was filed during the current term.
    pub objected: bool,
    /// D-13: the payment report's due terms the contract was concluded with.
    pub report_due: Option<MonthlyDue>,
    /// The contract's clocks recorded as breached (KG_REFUSAL).
    pub breaches: Breaches,
    pub last_step_at: Option<Timestamp>,
}

impl KgContractState {
    /// Implements C-10 (S002 §53): whether `date` lies in one of the contract's validity terms (the
    /// first year or a renewal). Nothing sold outside them is compensated.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.terms.iter().any(|term| term_contains(term, date))
    }
}

/// Implements C-10: whether `date` lies within `term`, both ends inclusive.
pub fn term_contains(term: &ContractTerm, date: NaiveDate) -> bool {
    date >= term.starts_on && term.ends_on.is_none_or(|ends_on| date <= ends_on)
}

/// KG contract commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KgContractCommand {
    ReceiveApplication {
        contract_id: ContractId,
        received_at: Timestamp,
        applicant: KgTin,
        name: OrganisationName,
    },
    Conclude {
        concluded_at: Timestamp,
        tax_check: TaxDebtCheck,
    },
    Refuse {
        refused_at: Timestamp,
        reasons: Vec<String>,
    },
    FileObjection {
        filed_at: Timestamp,
        party: Party,
        reason: String,
    },
    /// decide at (or after) the anniversary.
    DecideRenewal { at: Timestamp },
    /// D-10, A-23: the refusal clock passed its due date while the application was under review.
    RecordDeadlineBreach(RecordDeadlineBreach),
}

impl KgContractCommand {
    /// The business time the command is dated at.
    pub fn at(&self) -> Timestamp {
        match self {
            KgContractCommand::ReceiveApplication {
                received_at: at, ..
            }
            | KgContractCommand::Conclude {
                concluded_at: at, ..
            }
            | KgContractCommand::Refuse { refused_at: at, .. }
            | KgContractCommand::FileObjection { filed_at: at, .. }
            | KgContractCommand::DecideRenewal { at } => *at,
            KgContractCommand::RecordDeadlineBreach(command) => command.observed_at,
        }
    }
}

/// Implements D-10, A-23 with issue #17's breach: the KG_REFUSAL clock runs while the application is
/// under review (a conclusion or a refusal stops it).
fn record_breach(
    state: &KgContractState,
    command: &RecordDeadlineBreach,
) -> Result<Vec<Event>, DomainError> {
    let running = (command.rule == ClockRule::KgRefusal
        && state.stage == KgContractStage::UnderReview)
        .then_some(state.refusal)
        .flatten()
        .map(|deadline| RunningClock {
            deadline,
            suspended: false,
        });
    let contract_id = state
        .contract_id
        .clone()
        .ok_or_else(|| wrong_stage(state, "D-10", "recording a breach", "applied for"))?;
    let subject = ClockSubject {
        jurisdiction: Jurisdiction::KG,
        contract_id,
        period: None,
    };
    let breach = breach::decide(running, &state.breaches, &subject, command)?;
    Ok(breach::events(breach))
}

fn wrong_stage(
    state: &KgContractState,
    rule: &'static str,
    action: &'static str,
    expected: &'static str,
) -> DomainError {
    DomainError::WrongStage {
        rule,
        object: match &state.contract_id {
            Some(id) => format!("KG contract \"{id}\""),
            None => "KG contract".to_owned(),
        },
        action,
        expected,
        actual: format!("{:?}", state.stage).to_lowercase(),
    }
}

fn kg_parameters(
    ctx: &DecisionContext<'_>,
    at: Timestamp,
) -> Result<(KgContractParameters, u32), DomainError> {
    let rule_set = ctx.rule_set(Jurisdiction::KG, at)?;
    let parameters =
        rule_set
            .parameters
            .kg_contract
            .ok_or_else(|| DomainError::NotInJurisdiction {
                rule: "A-15",
                what: "the KG contract lifecycle".to_owned(),
                jurisdiction: Jurisdiction::KG,
                detail: format!(
                    "KG rule set version {} has no KG contract parameters",
                    rule_set.version
                ),
            })?;
    Ok((parameters, rule_set.version))
}

/// The term of `months` starting on `starts_on` (inclusive last day).
fn term_from(starts_on: NaiveDate, months: u32) -> ContractTerm {
    let next = starts_on
        .checked_add_months(Months::new(months))
        .expect("contract terms end within chrono's range");
    ContractTerm {
        starts_on,
        ends_on: next.pred_opt(),
    }
}

/// Decides a KG contract command. A refusal appends nothing.
pub fn decide(
    state: &KgContractState,
    command: KgContractCommand,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if let KgContractCommand::RecordDeadlineBreach(command) = &command {
        // A breach is dated at the end of the deadline, which lies before anything that stops it.
        return record_breach(state, command);
    }
    if let Some(previous) = state
        .last_step_at
        .filter(|previous| command.at() < *previous)
    {
        return Err(DomainError::OutOfOrder {
            rule: "A-02",
            object: "KG contract".to_owned(),
            action: "a contract step",
            at: command.at(),
            previous,
        });
    }
    assert_eq!(
        ctx.calendar.jurisdiction(),
        Jurisdiction::KG,
        "a KG contract is decided on the KG calendar"
    );
    match command {
        KgContractCommand::ReceiveApplication {
            contract_id,
            received_at,
            applicant,
            name,
        } => receive(state, ctx, contract_id, received_at, applicant, name),
        KgContractCommand::Conclude {
            concluded_at,
            tax_check,
        } => conclude(state, ctx, concluded_at, tax_check),
        KgContractCommand::Refuse {
            refused_at,
            reasons,
        } => refuse(state, ctx, refused_at, reasons),
        KgContractCommand::FileObjection {
            filed_at,
            party,
            reason,
        } => object(state, filed_at, party, reason),
        KgContractCommand::DecideRenewal { at } => renew_or_expire(state, ctx, at),
        KgContractCommand::RecordDeadlineBreach(_) => unreachable!("decided above"),
    }
}

/// Implements C-07, E-09, D-10, A-23: any pharmacy may apply; the refusal clock runs 3 calendar days.
fn receive(
    state: &KgContractState,
    ctx: &DecisionContext<'_>,
    contract_id: ContractId,
    received_at: Timestamp,
    applicant: KgTin,
    name: OrganisationName,
) -> Result<Vec<Event>, DomainError> {
    if state.stage != KgContractStage::New {
        return Err(wrong_stage(
            state,
            "C-07",
            "receiving an application",
            "new",
        ));
    }
    let (parameters, rule_set_version) = kg_parameters(ctx, received_at)?;
    let received_on = local_date(Jurisdiction::KG, received_at);
    let refusal = calendar_day_clock(
        ctx.calendar,
        ClockRule::KgRefusal,
        "D-10",
        received_on,
        parameters.refusal,
    )?;
    Ok(vec![Event::KgContractApplicationReceived(
        KgContractApplicationReceived {
            contract_id,
            received_at,
            applicant,
            name,
            refusal,
            rule_set_version,
        },
    )])
}

/// Implements E-10, C-08: no tax debts, checked on the day of conclusion; a one-year term.
fn conclude(
    state: &KgContractState,
    ctx: &DecisionContext<'_>,
    concluded_at: Timestamp,
    tax_check: TaxDebtCheck,
) -> Result<Vec<Event>, DomainError> {
    if state.stage != KgContractStage::UnderReview {
        return Err(wrong_stage(state, "C-08", "concluding", "under review"));
    }
    let concluded_on = local_date(Jurisdiction::KG, concluded_at);
    let subject = format!(
        "applicant {}",
        state
            .applicant
            .as_ref()
            .expect("under review has an applicant")
    );
    if tax_check.checked_on != concluded_on {
        return Err(DomainError::NotEligible {
            rule: "E-10",
            subject,
            detail: format!(
                "the tax-debt check is of {}, not of the day of conclusion {concluded_on}",
                tax_check.checked_on
            ),
        });
    }
    if tax_check.has_debts {
        return Err(DomainError::NotEligible {
            rule: "E-10",
            subject,
            detail: format!(
                "mandatory-tax debts on {concluded_on} (check \"{}\")",
                tax_check.reference
            ),
        });
    }
    let (parameters, rule_set_version) = kg_parameters(ctx, concluded_at)?;
    let report_due = MonthlyDue {
        rule: ClockRule::KgPaymentReport,
        due_day: parameters.report_due_day,
        calendar_version: ctx.calendar.version(),
    };
    Ok(vec![Event::KgContractConcluded(KgContractConcluded {
        contract_id: state.contract_id.clone().expect("under review has an id"),
        concluded_at,
        term: term_from(concluded_on, parameters.term_months),
        tax_check,
        rule_set_version,
        report_due: Some(report_due),
    })])
}

/// Implements C-09, D-10: a refusal gives reasons. A refusal after the 3 days is still recorded; the
/// deadline view shows it as late from the application's `refusal` deadline.
fn refuse(
    state: &KgContractState,
    ctx: &DecisionContext<'_>,
    refused_at: Timestamp,
    reasons: Vec<String>,
) -> Result<Vec<Event>, DomainError> {
    if state.stage != KgContractStage::UnderReview {
        return Err(wrong_stage(state, "C-09", "refusing", "under review"));
    }
    if reasons.iter().all(|reason| reason.trim().is_empty()) {
        return Err(wrong_stage(
            state,
            "C-09",
            "refusing without reasons",
            "refused with reasons",
        ));
    }
    let (_, rule_set_version) = kg_parameters(ctx, refused_at)?;
    Ok(vec![Event::ContractRefused(ContractRefused {
        contract_id: state.contract_id.clone().expect("under review has an id"),
        refused_at,
        reasons: reasons
            .into_iter()
            .map(|detail| RuleFinding {
                rule: "C-09".to_owned(),
                detail,
            })
            .collect(),
        rule_set_version,
    })])
}

/// a step of a concluded contract dated on the wrong side of its term's end.
fn against_term(
    state: &KgContractState,
    action: &'static str,
    expected: &'static str,
    actual: String,
) -> DomainError {
    DomainError::WrongStage {
        rule: "A-22",
        object: format!(
            "KG contract \"{}\"",
            state.contract_id.as_ref().expect("concluded has an id")
        ),
        action,
        expected,
        actual,
    }
}

/// Implements A-22: an objection during the term prevents the renewal.
fn object(
    state: &KgContractState,
    filed_at: Timestamp,
    party: Party,
    reason: String,
) -> Result<Vec<Event>, DomainError> {
    if state.stage != KgContractStage::Concluded {
        return Err(wrong_stage(
            state,
            "A-22",
            "filing an objection",
            "concluded",
        ));
    }
    let ends_on = state
        .term
        .and_then(|term| term.ends_on)
        .expect("a concluded KG contract has a term that ends");
    let filed_on = local_date(Jurisdiction::KG, filed_at);
    if filed_on > ends_on {
        return Err(against_term(
            state,
            "filing an objection to the renewal",
            "within the current term (an objection counts only during the term)",
            format!("on {filed_on}, after the term ended on {ends_on}"),
        ));
    }
    Ok(vec![Event::ContractObjectionFiled(
        ContractObjectionFiled {
            contract_id: state.contract_id.clone().expect("concluded has an id"),
            filed_at,
            party,
            reason,
        },
    )])
}

/// Implements C-08, A-22: at the anniversary the contract is renewed for another term unless an
/// objection was filed (or auto-renewal is configured off); otherwise it expires.
fn renew_or_expire(
    state: &KgContractState,
    ctx: &DecisionContext<'_>,
    at: Timestamp,
) -> Result<Vec<Event>, DomainError> {
    let (Some(term), KgContractStage::Concluded) = (state.term, state.stage) else {
        return Err(wrong_stage(
            state,
            "A-22",
            "deciding the renewal",
            "concluded",
        ));
    };
    let ends_on = term.ends_on.expect("a KG term always ends");
    let today = local_date(Jurisdiction::KG, at);
    if today <= ends_on {
        return Err(against_term(
            state,
            "deciding the renewal",
            "after the term ends",
            format!("on {today}, within the term ending {ends_on}"),
        ));
    }
    let (parameters, _) = kg_parameters(ctx, at)?;
    let contract_id = state.contract_id.clone().expect("concluded has an id");
    if state.objected || !parameters.auto_renew {
        return Ok(vec![Event::ContractExpired(ContractExpired {
            contract_id,
            expired_at: at,
            ended_on: ends_on,
            objected: state.objected,
        })]);
    }
    let starts_on = ends_on.succ_opt().expect("dates in range");
    Ok(vec![Event::ContractRenewed(ContractRenewed {
        contract_id,
        renewed_at: at,
        term: term_from(starts_on, parameters.term_months),
    })])
}

/// Folds one KG contract event; other events leave the state unchanged.
pub fn evolve(mut state: KgContractState, event: &Event) -> KgContractState {
    if let Event::DeadlineBreached(breached) = event {
        breach::apply(&mut state.breaches, &mut state.last_step_at, breached);
        return state;
    }
    match event {
        Event::KgContractApplicationReceived(received) => {
            state.stage = KgContractStage::UnderReview;
            state.contract_id = Some(received.contract_id.clone());
            state.applicant = Some(received.applicant.clone());
            state.refusal = Some(received.refusal);
        }
        Event::KgContractConcluded(concluded) => {
            state.stage = KgContractStage::Concluded;
            state.term = Some(concluded.term);
            state.terms.push(concluded.term);
            state.report_due = concluded.report_due;
        }
        Event::ContractRefused(_) => state.stage = KgContractStage::Refused,
        Event::ContractObjectionFiled(_) => state.objected = true,
        Event::ContractRenewed(renewed) => {
            state.term = Some(renewed.term);
            state.terms.push(renewed.term);
            state.objected = false;
        }
        Event::ContractExpired(_) => state.stage = KgContractStage::Expired,
        _ => return state,
    }
    if let Some(at) = event.occurred_at() {
        state.last_step_at = Some(at);
    }
    state
}

#[cfg(test)]
mod tests;
