//! Network and ISS changes of a concluded contract: eligibility re-evaluated on every change, grounds
//! raised for human review, never an automatic termination (A-32, A-07, E-05).

use super::eligibility::{Eligibility, ground_of};
use super::events::{IssCertificationChanged, PharmacyNetworkChanged, TerminationGroundDetected};
use super::{
    Applicant, ChangeIssCertification, ChangePharmacyNetwork, ContractStage, ContractState,
    NETWORK_PHARMACIES_MAX, eligibility_now, evolve, require_stage,
};
use crate::domain::context::DecisionContext;
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::time::Timestamp;
use crate::domain::values::ContractId;

/// Implements: re-evaluates E-01…E-06 after a network change and raises a
/// `TerminationGroundDetected` for every criterion newly failed; never terminates by itself.
pub(super) fn change_network(
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
    let is_company = matches!(state.applicant, Some(Applicant::PharmacyCompany { .. }));
    if is_company && !command.members_joined.is_empty() {
        return Err(DomainError::NotEligible {
            rule: "A-33",
            subject: state.label(),
            detail: "a pharmacy company's contract has no consortium members to join".to_owned(),
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
pub(super) fn change_iss(
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
