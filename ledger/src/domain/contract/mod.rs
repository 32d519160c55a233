//! The contract aggregate, stream `contract/<id>`: application (C-01), review and conclusion or refusal
//! (D-01, E-01…E-06), network changes re-evaluated continuously, and termination by notice,
//! effective on receipt (C-04, C-05, A-25).
//!
//! KZ only. TODO(KG, A-15, A-22, A-23, E-10): the Kyrgyz lifecycle (1-year term with renewal unless an
//! objection is filed, refusal within 3 CD, no tax debts on the day of conclusion) belongs in a KG
//! contract policy (`domain::kg`, branch `domain2`); KG applications are refused here so that no KZ
//! criterion is ever applied to a KG pharmacy.

pub mod eligibility;
pub mod events;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::clock::{ClockRule, Deadline};
use super::context::DecisionContext;
use super::deadline::working_day_clock;
use super::error::DomainError;
use super::event::Event;
use super::ident::Bin;
use super::jurisdiction::Jurisdiction;
use super::signature::{SignedBy, verify};
use super::time::Timestamp;
use super::values::{ContractId, DocumentHash, DocumentNumber, PharmacyLicence};

use eligibility::{Eligibility, evaluate, ground_of};
use events::{
    Applicant, ConsortiumMember, ContractApplicationReceived, ContractConcluded, ContractRefused,
    ContractTerm, IssCertificationChanged, NetworkPharmacy, Party, PharmacyNetworkChanged,
    TerminationGround, TerminationGroundDetected, TerminationNoticeReceived, TerminationNoticeSent,
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
        format!("{:?}", self.stage).to_lowercase()
    }
}

/// C-01: the Fund received an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveApplication {
    pub contract_id: ContractId,
    pub jurisdiction: Jurisdiction,
    pub received_at: Timestamp,
    pub applicant: Applicant,
    pub pharmacies: Vec<NetworkPharmacy>,
    pub iss_test_act: Option<DocumentNumber>,
}

/// D-01: the Fund decides on the application: concludes if eligible, else refuses with the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewApplication {
    pub decided_at: Timestamp,
    pub term: ContractTerm,
    /// The Fund's signature, used when the contract is concluded.
    pub fund_signature: SignedBy,
}

/// pharmacies or consortium members joined or left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePharmacyNetwork {
    pub changed_at: Timestamp,
    pub added: Vec<NetworkPharmacy>,
    pub removed: Vec<PharmacyLicence>,
    pub members_joined: Vec<ConsortiumMember>,
    pub members_left: Vec<Bin>,
}

/// E-05, A-32: the ISS test act was granted or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeIssCertification {
    pub changed_at: Timestamp,
    pub certified: bool,
    pub test_act: Option<DocumentNumber>,
}

/// C-04, C-05: send a written termination notice on §29 grounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTerminationNotice {
    pub notice: DocumentNumber,
    pub sent_at: Timestamp,
    pub sender: Party,
    pub grounds: Vec<TerminationGround>,
    pub signature: SignedBy,
}

/// C-05, A-25: the notice was received.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Decides a contract command. A refusal appends nothing.
pub fn decide(
    state: &ContractState,
    command: ContractCommand,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    match command {
        ContractCommand::ReceiveApplication(command) => receive_application(state, command, ctx),
        ContractCommand::ReviewApplication(command) => review_application(state, command, ctx),
        ContractCommand::ChangePharmacyNetwork(command) => change_network(state, command, ctx),
        ContractCommand::ChangeIssCertification(command) => change_iss(state, command, ctx),
        ContractCommand::SendTerminationNotice(command) => send_notice(state, command, ctx),
        ContractCommand::ReceiveTerminationNotice(command) => receive_notice(state, command),
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
            detail: "KG contracts follow S002 §28–§30 in the KG policy (domain::kg)".to_owned(),
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
    Ok(vec![Event::ContractConcluded(ContractConcluded {
        contract_id,
        concluded_at: command.decided_at,
        holder,
        term: command.term,
        pharmacies: result.pharmacies,
        regions: result.regions,
        rule_set_version,
        signature,
    })])
}

/// Implements: re-evaluates E-01…E-06 after a network change and raises a
/// `TerminationGroundDetected` for every criterion newly failed; never terminates by itself.
fn change_network(
    state: &ContractState,
    command: ChangePharmacyNetwork,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "A-32",
        "changing the network",
        "concluded",
        &[ContractStage::Concluded, ContractStage::NoticeSent],
    )?;
    if command.added.len() + command.removed.len() > NETWORK_PHARMACIES_MAX {
        return Err(DomainError::NotEligible {
            rule: "A-32",
            subject: state.label(),
            detail: format!("a change may list at most {NETWORK_PHARMACIES_MAX} pharmacies"),
        });
    }
    let (before, _) = eligibility_now(state, command.changed_at, ctx)?;
    let contract_id = state.contract_id.clone().expect("concluded has an id");
    let mut changed = PharmacyNetworkChanged {
        contract_id: contract_id.clone(),
        changed_at: command.changed_at,
        added: command.added,
        removed: command.removed,
        members_joined: command.members_joined,
        members_left: command.members_left,
        pharmacies_after: 0,
        regions_after: 0,
    };
    let after_state = evolve(
        state.clone(),
        &Event::PharmacyNetworkChanged(changed.clone()),
    );
    let (after, _) = eligibility_now(&after_state, command.changed_at, ctx)?;
    changed.pharmacies_after = after.pharmacies;
    changed.regions_after = after.regions;
    let mut events = vec![Event::PharmacyNetworkChanged(changed)];
    events.extend(new_grounds(
        &contract_id,
        command.changed_at,
        &before,
        &after,
    ));
    Ok(events)
}

fn new_grounds(
    contract_id: &ContractId,
    at: Timestamp,
    before: &Eligibility,
    after: &Eligibility,
) -> Vec<Event> {
    after
        .findings
        .iter()
        .filter(|finding| !before.findings.iter().any(|old| old.rule == finding.rule))
        .map(|finding| {
            Event::TerminationGroundDetected(TerminationGroundDetected {
                contract_id: contract_id.clone(),
                detected_at: at,
                ground: ground_of(&finding.rule),
                finding: finding.clone(),
            })
        })
        .collect()
}

/// Implements E-05, A-32: a withdrawn ISS test act is a §12 ground (never an automatic termination).
fn change_iss(
    state: &ContractState,
    command: ChangeIssCertification,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "A-32",
        "changing the ISS certification",
        "concluded",
        &[ContractStage::Concluded, ContractStage::NoticeSent],
    )?;
    let (before, _) = eligibility_now(state, command.changed_at, ctx)?;
    let contract_id = state.contract_id.clone().expect("concluded has an id");
    let changed = IssCertificationChanged {
        contract_id: contract_id.clone(),
        changed_at: command.changed_at,
        certified: command.certified,
        test_act: command.test_act,
    };
    let after_state = evolve(
        state.clone(),
        &Event::IssCertificationChanged(changed.clone()),
    );
    let (after, _) = eligibility_now(&after_state, command.changed_at, ctx)?;
    let mut events = vec![Event::IssCertificationChanged(changed)];
    events.extend(new_grounds(
        &contract_id,
        command.changed_at,
        &before,
        &after,
    ));
    Ok(events)
}

/// What a termination notice signs.
#[derive(Serialize)]
struct NoticeDocument<'a> {
    contract_id: &'a ContractId,
    notice: &'a DocumentNumber,
    grounds: &'a [TerminationGround],
}

/// Implements C-04, C-05, A-09: a written notice naming at least one §29 ground, signed by its sender.
fn send_notice(
    state: &ContractState,
    command: SendTerminationNotice,
    ctx: &DecisionContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "C-05",
        "sending a termination notice",
        "concluded",
        &[ContractStage::Concluded],
    )?;
    let contract_id = state.contract_id.clone().expect("concluded has an id");
    if command.grounds.is_empty() {
        return Err(DomainError::WrongStage {
            rule: "C-04",
            object: format!("termination notice \"{}\"", command.notice),
            action: "sending",
            expected: "naming at least one §29 ground (§10, §11, §12, §22 or §24)",
            actual: "naming none".to_owned(),
        });
    }
    let expected_signer = match command.sender {
        Party::Fund => ctx.fund_bin,
        Party::ContractHolder => state.holder().expect("concluded has a holder"),
    };
    let hash = DocumentHash::of(&NoticeDocument {
        contract_id: &contract_id,
        notice: &command.notice,
        grounds: &command.grounds,
    });
    let document = format!("termination notice \"{}\"", command.notice);
    let signature = verify(
        ctx.signatures,
        &document,
        &command.signature,
        expected_signer,
        hash,
        command.sent_at,
    )?;
    Ok(vec![Event::TerminationNoticeSent(TerminationNoticeSent {
        contract_id,
        notice: command.notice,
        sent_at: command.sent_at,
        sender: command.sender,
        grounds: command.grounds,
        signature,
    })])
}

/// Implements C-05, A-25: the contract ends at the instant the notice is received.
fn receive_notice(
    state: &ContractState,
    command: ReceiveTerminationNotice,
) -> Result<Vec<Event>, DomainError> {
    require_stage(
        state,
        "C-05",
        "receiving a termination notice",
        "notice sent",
        &[ContractStage::NoticeSent],
    )?;
    Ok(vec![Event::TerminationNoticeReceived(
        TerminationNoticeReceived {
            contract_id: state.contract_id.clone().expect("notice sent has an id"),
            notice: state.notice.clone().expect("notice sent has a notice"),
            received_at: command.received_at,
        },
    )])
}

/// Folds one contract event; other events leave the state unchanged.
pub fn evolve(mut state: ContractState, event: &Event) -> ContractState {
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
