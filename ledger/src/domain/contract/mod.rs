//! The contract aggregate, stream `contract/<id>`: application (C-01), review and conclusion or refusal
//! (D-01, E-01…E-06), network changes re-evaluated continuously, and termination by notice,
//! effective on receipt (C-04, C-05, A-25).
//!
//! KZ only. The Kyrgyz lifecycle (1-year term renewed unless a party objects, refusal within 3 CD, no
//! tax debts on the day of conclusion) is the separate aggregate [`kg`]; KG applications are refused
//! here so that no KZ criterion is ever applied to a KG pharmacy.

pub mod eligibility;
pub mod events;
pub mod kg;
mod network;
mod termination;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::breach::{self, Breaches, ClockSubject, RecordDeadlineBreach, RunningClock};
use super::clock::{ClockRule, Deadline, MonthlyDue};
use super::context::{DecisionContext, local_date};
use super::deadline::working_day_clock;
use super::error::DomainError;
use super::event::Event;
use super::ident::Bin;
use super::jurisdiction::Jurisdiction;
use super::signature::{SignedBy, verify};
use super::time::Timestamp;
use super::values::{ContractId, DocumentHash, DocumentNumber, PharmacyLicence};

use eligibility::{Eligibility, evaluate};
use events::{
    Applicant, ConsortiumMember, ContractApplicationReceived, ContractConcluded, ContractRefused,
    ContractTerm, NetworkPharmacy, Party, PharmacyNetworkChanged, TerminationGround,
    TerminationGroundDetected,
};

/// The largest network one application or change may list.
pub const NETWORK_PHARMACIES_MAX: usize = 50_000;

/// Where a contract is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractStage {
    #[default]
    New,
    UnderReview,
    Refused,
    Concluded,
    /// A termination notice is on its way; the contract still runs.
    NoticeSent,
    Terminated,
}

/// A consortium member's span of membership (for A-33 on a date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub from: Timestamp,
    /// Exclusive end; `None` = still a member.
    pub until: Option<Timestamp>,
}

/// The folded contract stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContractState {
    pub stage: ContractStage,
    pub contract_id: Option<ContractId>,
    pub jurisdiction: Option<Jurisdiction>,
    pub applicant: Option<Applicant>,
    pub pharmacies: BTreeMap<PharmacyLicence, NetworkPharmacy>,
    pub memberships: BTreeMap<Bin, Vec<Membership>>,
    pub iss_certified: bool,
    pub review: Option<Deadline>,
    pub term: Option<ContractTerm>,
    pub concluded_at: Option<Timestamp>,
    pub notice: Option<DocumentNumber>,
    pub notice_sender: Option<Party>,
    /// C-05, A-25: the instant the contract ended (receipt of the notice).
    pub terminated_at: Option<Timestamp>,
    pub grounds: Vec<TerminationGroundDetected>,
    /// The contract's clocks recorded as breached (CONTRACT_REVIEW).
    pub breaches: Breaches,
    /// The instant of the latest event (A-02: steps come in order).
    pub last_step_at: Option<Timestamp>,
}

impl ContractState {
    /// The contract holder's BIN (the signer of registries and acts).
    pub fn holder(&self) -> Option<Bin> {
        self.applicant.as_ref().map(Applicant::holder)
    }

    /// Members at `at` (the holder is not listed; it always may dispense).
    pub fn members_at(&self, at: Timestamp) -> BTreeSet<Bin> {
        self.memberships
            .iter()
            .filter(|(_, spans)| {
                spans
                    .iter()
                    .any(|span| span.from <= at && span.until.is_none_or(|until| at < until))
            })
            .map(|(bin, _)| *bin)
            .collect()
    }

    /// Whether the contract was in force on some day of `[first, last]` (local dates): concluded,
    /// its term reaching into the span, and not terminated before it (C-05, A-25: the day the notice
    /// is received is the last day in force). A registry is owed for every such period (D-02).
    pub fn in_force_during(&self, first: NaiveDate, last: NaiveDate) -> bool {
        let (Some(_), Some(term)) = (self.concluded_at, self.term) else {
            return false;
        };
        let ended = self
            .terminated_at
            .map(|at| local_date(self.jurisdiction.unwrap_or(Jurisdiction::KZ), at));
        term.starts_on <= last
            && term.ends_on.is_none_or(|ends_on| ends_on >= first)
            && ended.is_none_or(|ended| ended >= first)
    }

    /// Implements A-33: `bin` is the contract holder or a consortium member at `at`.
    pub fn may_dispense(&self, bin: Bin, at: Timestamp) -> bool {
        self.holder() == Some(bin) || self.members_at(at).contains(&bin)
    }

    fn label(&self) -> String {
        match &self.contract_id {
            Some(id) => format!("contract \"{id}\""),
            None => "contract".to_owned(),
        }
    }

    fn stage_name(&self) -> String {
        let name = match self.stage {
            ContractStage::New => "new",
            ContractStage::UnderReview => "under review",
            ContractStage::Refused => "refused",
            ContractStage::Concluded => "concluded",
            ContractStage::NoticeSent => "under a termination notice",
            ContractStage::Terminated => "terminated",
        };
        name.to_owned()
    }
}

/// C-01: the Fund received an application.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReceiveApplication {
    pub contract_id: ContractId,
    pub jurisdiction: Jurisdiction,
    pub received_at: Timestamp,
    pub applicant: Applicant,
    pub pharmacies: Vec<NetworkPharmacy>,
    pub iss_test_act: Option<DocumentNumber>,
}

/// D-01: the Fund decides on the application: concludes if eligible, else refuses with the reasons.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReviewApplication {
    pub decided_at: Timestamp,
    pub term: ContractTerm,
    /// The Fund's signature, used when the contract is concluded.
    pub fund_signature: SignedBy,
}

/// pharmacies or consortium members joined or left.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ChangePharmacyNetwork {
    pub changed_at: Timestamp,
    pub added: Vec<NetworkPharmacy>,
    pub removed: Vec<PharmacyLicence>,
    pub members_joined: Vec<ConsortiumMember>,
    pub members_left: Vec<Bin>,
}

/// E-05, A-32: the ISS test act was granted or withdrawn.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ChangeIssCertification {
    pub changed_at: Timestamp,
    pub certified: bool,
    pub test_act: Option<DocumentNumber>,
}

/// C-04, C-05: send a written termination notice on §29 grounds.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SendTerminationNotice {
    pub notice: DocumentNumber,
    pub sent_at: Timestamp,
    pub sender: Party,
    pub grounds: Vec<TerminationGround>,
    pub signature: SignedBy,
}

/// C-05, A-25: the notice was received.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReceiveTerminationNotice {
    pub received_at: Timestamp,
}

/// Every command of the contract stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractCommand {
    ReceiveApplication(ReceiveApplication),
    ReviewApplication(ReviewApplication),
    ChangePharmacyNetwork(ChangePharmacyNetwork),
    ChangeIssCertification(ChangeIssCertification),
    SendTerminationNotice(SendTerminationNotice),
    ReceiveTerminationNotice(ReceiveTerminationNotice),
    /// D-01: the review passed its due date while the application was still under review.
    RecordDeadlineBreach(RecordDeadlineBreach),
}

impl ContractCommand {
    /// The instant the command is dated at, and what it does.
    fn step_at(&self) -> (Timestamp, &'static str) {
        match self {
            ContractCommand::ReceiveApplication(command) => {
                (command.received_at, "receiving the application")
            }
            ContractCommand::ReviewApplication(command) => {
                (command.decided_at, "deciding on the application")
            }
            ContractCommand::ChangePharmacyNetwork(command) => {
                (command.changed_at, "changing the network")
            }
            ContractCommand::ChangeIssCertification(command) => {
                (command.changed_at, "changing the ISS certification")
            }
            ContractCommand::SendTerminationNotice(command) => {
                (command.sent_at, "sending the termination notice")
            }
            ContractCommand::ReceiveTerminationNotice(command) => {
                (command.received_at, "receiving the termination notice")
            }
            ContractCommand::RecordDeadlineBreach(command) => {
                (command.observed_at, "recording a breach")
            }
        }
    }
}

/// Implements D-01 with issue #17's breach: the CONTRACT_REVIEW clock runs while the application is
/// under review.
fn record_breach(
    state: &ContractState,
    command: &RecordDeadlineBreach,
) -> Result<Vec<Event>, DomainError> {
    let running = (command.rule == ClockRule::ContractReview
        && state.stage == ContractStage::UnderReview)
        .then_some(state.review)
        .flatten()
        .map(|deadline| RunningClock {
            deadline,
            suspended: false,
        });
    let subject = ClockSubject {
        jurisdiction: state.jurisdiction.unwrap_or(Jurisdiction::KZ),
        contract_id: state
            .contract_id
            .clone()
            .ok_or_else(|| DomainError::WrongStage {
                rule: command.rule.rule_id(),
                object: "contract".to_owned(),
                action: "recording a breach",
                expected: "applied for",
                actual: "new".to_owned(),
            })?,
        period: None,
    };
    let breach = breach::decide(running, &state.breaches, &subject, command)?;
    Ok(breach::events(breach))
}

/// Decides a contract command. A refusal appends nothing.
pub fn decide(
    state: &ContractState,
    command: ContractCommand,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if let ContractCommand::RecordDeadlineBreach(command) = &command {
        // A breach is dated at the end of the deadline, which lies before anything that stops it.
        return record_breach(state, command);
    }
    let (at, action) = command.step_at();
    if let Some(previous) = state.last_step_at.filter(|previous| at < *previous) {
        return Err(DomainError::OutOfOrder {
            rule: "A-02",
            object: state.label(),
            action,
            at,
            previous,
        });
    }
    match command {
        ContractCommand::ReceiveApplication(command) => receive_application(state, command, ctx),
        ContractCommand::ReviewApplication(command) => review_application(state, command, ctx),
        ContractCommand::ChangePharmacyNetwork(command) => {
            network::change_network(state, command, ctx)
        }
        ContractCommand::ChangeIssCertification(command) => {
            network::change_iss(state, command, ctx)
        }
        ContractCommand::SendTerminationNotice(command) => {
            termination::send_notice(state, command, ctx)
        }
        ContractCommand::ReceiveTerminationNotice(command) => {
            termination::receive_notice(state, command)
        }
        ContractCommand::RecordDeadlineBreach(_) => unreachable!("decided above"),
    }
}

fn require_stage(
    state: &ContractState,
    rule: &'static str,
    action: &'static str,
    expected: &'static str,
    allowed: &[ContractStage],
) -> Result<(), DomainError> {
    if allowed.contains(&state.stage) {
        Ok(())
    } else {
        Err(DomainError::WrongStage {
            rule,
            object: state.label(),
            action,
            expected,
            actual: state.stage_name(),
        })
    }
}

fn receive_application(
    state: &ContractState,
    command: ReceiveApplication,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "C-01",
        "receiving an application",
        "new",
        &[ContractStage::New],
    )?;
    if command.jurisdiction != Jurisdiction::KZ {
        return Err(DomainError::NotInJurisdiction {
            rule: "A-15",
            what: "the KZ contract lifecycle (S001 §9–§15)".to_owned(),
            jurisdiction: command.jurisdiction,
            detail: "KG contracts follow S002 §28–§30 in contract::kg".to_owned(),
        });
    }
    if command.pharmacies.len() > NETWORK_PHARMACIES_MAX {
        return Err(DomainError::NotEligible {
            rule: "E-01",
            subject: format!("application for contract \"{}\"", command.contract_id),
            detail: format!(
                "it lists {} pharmacies; at most {NETWORK_PHARMACIES_MAX} are accepted",
                command.pharmacies.len()
            ),
        });
    }
    let rule_set = ctx.rule_set(command.jurisdiction, command.received_at)?;
    let parameters = &rule_set.parameters;
    assert_eq!(
        ctx.calendar.jurisdiction(),
        command.jurisdiction,
        "the calendar of the contract's jurisdiction"
    );
    let review = working_day_clock(
        ctx.calendar,
        parameters,
        ClockRule::ContractReview,
        "D-01",
        command.received_at,
        parameters.contract_review,
    )?;
    Ok(vec![Event::ContractApplicationReceived(
        ContractApplicationReceived {
            contract_id: command.contract_id,
            jurisdiction: command.jurisdiction,
            received_at: command.received_at,
            applicant: command.applicant,
            pharmacies: command.pharmacies,
            iss_test_act: command.iss_test_act,
            review,
            rule_set_version: rule_set.version,
        },
    )])
}

/// What the Fund signs when it concludes: the contract's identity, holder and term.
#[derive(Serialize)]
struct ContractDocument<'a> {
    contract_id: &'a ContractId,
    holder: Bin,
    term: ContractTerm,
}

fn eligibility_now(
    state: &ContractState,
    at: Timestamp,
    ctx: &DecisionContext<'_>,
) -> Result<(Eligibility, u32), DomainError> {
    let jurisdiction = state
        .jurisdiction
        .expect("an applied contract has a jurisdiction");
    let rule_set = ctx.rule_set(jurisdiction, at)?;
    let applicant = state
        .applicant
        .as_ref()
        .expect("an applied contract has an applicant");
    let members = state.members_at(at);
    let result = evaluate(
        applicant,
        &members,
        state.pharmacies.values(),
        state.iss_certified,
        &rule_set.parameters,
    );
    Ok((result, rule_set.version))
}

/// Implements D-01, C-02, E-01…E-06: conclude if every criterion is met, else refuse with reasons.
fn review_application(
    state: &ContractState,
    command: ReviewApplication,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "D-01",
        "reviewing the application",
        "under review",
        &[ContractStage::UnderReview],
    )?;
    let contract_id = state.contract_id.clone().expect("under review has an id");
    let (result, rule_set_version) = eligibility_now(state, command.decided_at, ctx)?;
    if !result.is_eligible() {
        return Ok(vec![Event::ContractRefused(ContractRefused {
            contract_id,
            refused_at: command.decided_at,
            reasons: result.findings,
            rule_set_version,
        })]);
    }
    let holder = state.holder().expect("under review has an applicant");
    let hash = DocumentHash::of(&ContractDocument {
        contract_id: &contract_id,
        holder,
        term: command.term,
    });
    let document = format!("contract \"{contract_id}\"");
    let signature = verify(
        ctx.signatures,
        &document,
        &command.fund_signature,
        ctx.fund_bin,
        hash,
        command.decided_at,
    )?;
    let rule_set = ctx.rule_set(Jurisdiction::KZ, command.decided_at)?;
    let registry_due = MonthlyDue {
        rule: ClockRule::RegistrySubmission,
        due_day: rule_set.parameters.registry_due_day,
        calendar_version: ctx.calendar.version(),
    };
    Ok(vec![Event::ContractConcluded(ContractConcluded {
        contract_id,
        concluded_at: command.decided_at,
        holder,
        term: command.term,
        pharmacies: result.pharmacies,
        regions: result.regions,
        rule_set_version,
        signature,
        registry_due: Some(registry_due),
    })])
}

/// Folds one contract event; other events leave the state unchanged.
pub fn evolve(mut state: ContractState, event: &Event) -> ContractState {
    if let Event::DeadlineBreached(breached) = event {
        breach::apply(&mut state.breaches, &mut state.last_step_at, breached);
        return state;
    }
    if is_contract_event(event)
        && let Some(at) = event.occurred_at()
    {
        state.last_step_at = Some(at);
    }
    match event {
        Event::ContractApplicationReceived(received) => {
            state.stage = ContractStage::UnderReview;
            state.contract_id = Some(received.contract_id.clone());
            state.jurisdiction = Some(received.jurisdiction);
            state.pharmacies = received
                .pharmacies
                .iter()
                .map(|pharmacy| (pharmacy.licence.clone(), pharmacy.clone()))
                .collect();
            if let Applicant::Consortium { members, .. } = &received.applicant {
                for member in members {
                    join(&mut state, member.bin, received.received_at);
                }
            }
            state.applicant = Some(received.applicant.clone());
            state.iss_certified = received.iss_test_act.is_some();
            state.review = Some(received.review);
        }
        Event::ContractConcluded(concluded) => {
            state.stage = ContractStage::Concluded;
            state.term = Some(concluded.term);
            state.concluded_at = Some(concluded.concluded_at);
        }
        Event::ContractRefused(_) => state.stage = ContractStage::Refused,
        Event::PharmacyNetworkChanged(changed) => apply_network_change(&mut state, changed),
        Event::IssCertificationChanged(changed) => state.iss_certified = changed.certified,
        Event::TerminationGroundDetected(detected) => state.grounds.push(detected.clone()),
        Event::TerminationNoticeSent(sent) => {
            state.stage = ContractStage::NoticeSent;
            state.notice = Some(sent.notice.clone());
            state.notice_sender = Some(sent.sender);
        }
        Event::TerminationNoticeReceived(received) => {
            state.stage = ContractStage::Terminated;
            state.terminated_at = Some(received.received_at);
        }
        _ => {}
    }
    state
}

fn is_contract_event(event: &Event) -> bool {
    matches!(
        event,
        Event::ContractApplicationReceived(_)
            | Event::ContractConcluded(_)
            | Event::ContractRefused(_)
            | Event::PharmacyNetworkChanged(_)
            | Event::IssCertificationChanged(_)
            | Event::TerminationGroundDetected(_)
            | Event::TerminationNoticeSent(_)
            | Event::TerminationNoticeReceived(_)
    )
}

fn join(state: &mut ContractState, bin: Bin, at: Timestamp) {
    state.memberships.entry(bin).or_default().push(Membership {
        from: at,
        until: None,
    });
}

fn apply_network_change(state: &mut ContractState, changed: &PharmacyNetworkChanged) {
    for pharmacy in &changed.added {
        state
            .pharmacies
            .insert(pharmacy.licence.clone(), pharmacy.clone());
    }
    for licence in &changed.removed {
        state.pharmacies.remove(licence);
    }
    for member in &changed.members_joined {
        join(state, member.bin, changed.changed_at);
    }
    for bin in &changed.members_left {
        if let Some(span) = state
            .memberships
            .get_mut(bin)
            .and_then(|spans| spans.last_mut())
        {
            span.until.get_or_insert(changed.changed_at);
        }
    }
}

#[cfg(test)]
mod tests;
