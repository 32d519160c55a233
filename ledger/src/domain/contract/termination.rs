//! Termination by written notice on §29 grounds, effective on receipt (C-04, C-05, A-09, A-25).

use serde::Serialize;

use super::events::{Party, TerminationGround, TerminationNoticeReceived, TerminationNoticeSent};
use super::{
    ContractStage, ContractState, ReceiveTerminationNotice, SendTerminationNotice, require_stage,
};
use crate::domain::context::DecisionContext;
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::signature::verify;
use crate::domain::values::{ContractId, DocumentHash, DocumentNumber};

/// What a termination notice signs.
#[derive(Serialize)]
struct NoticeDocument<'a> {
    contract_id: &'a ContractId,
    notice: &'a DocumentNumber,
    grounds: &'a [TerminationGround],
}

/// Implements C-04, C-05, A-09: a written notice naming at least one §29 ground, signed by its sender.
pub(super) fn send_notice(
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
pub(super) fn receive_notice(
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
