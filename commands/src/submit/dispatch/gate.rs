//! The trust boundary of the JSON writer (issue #13, DESIGN §8): the one place where a principal and
//! the policy decide a command, before the domain sees it. What it decides, in order:
//!
//! 1. whose stream the command is on (the contract's holder from the log, or a key stream's owner);
//! 2. whether the policy allows the command type to the principal there, and in which role;
//! 3. the actor the events record: the principal's organisation, that role and the person who acted.
//!    A body `actor` or a document `sender` that says otherwise is refused (403);
//! 4. that the command states no fact in the writer's future (TIME-01, TIME-02);
//! 5. the digest of the command's canonical content that its id is bound to.

use ledger::domain::contract::ContractCommand;
use ledger::domain::contract::events::Party;
use ledger::domain::contract::kg::KgContractCommand;
use ledger::log::{Actor, CommandDigest, EventLog, LogError};

use super::{Dispatcher, Outcome};
use crate::auth::digest::{REUSED_RULE, command_digest, reused_message};
use crate::auth::policy::Request;
use crate::auth::{Organisation, Principal, Role, time};
use crate::demo::engine::contract_stream;
use crate::handler::HandlerError;
use crate::submit::Refusal;
use crate::submit::route::Target;
use crate::submit::wire::{CommandEnvelope, WireCommand};

/// The rule of a body that names another actor than the authenticated one.
pub const ACTOR_RULE: &str = "ACTOR-MISMATCH";

/// A command the gate let through: the actor to stamp and the digest to bind.
pub(super) struct Admitted {
    pub actor: Actor,
    pub digest: CommandDigest,
}

impl Admitted {
    /// The metadata `envelope`'s events carry once admitted: the stamped actor and the content's
    /// digest (issue #13), the business time given or now, the correlation given or the command's.
    pub fn meta(self, envelope: &CommandEnvelope) -> crate::writer::CommandMeta {
        crate::writer::CommandMeta {
            command_id: envelope.command_id,
            at: envelope.occurred_at.unwrap_or_else(crate::handler::now),
            jurisdiction: envelope.jurisdiction,
            actor: self.actor,
            correlation_id: envelope.correlation_id.unwrap_or(envelope.command_id.0),
            digest: Some(self.digest),
        }
    }
}

impl Dispatcher {
    /// Decides whether `principal` may issue `envelope` (routed to `target`); `Err` is the answer.
    pub(super) async fn admit(
        &self,
        principal: &Principal,
        envelope: &CommandEnvelope,
        target: &Target,
    ) -> Result<Result<Admitted, Outcome>, HandlerError> {
        let owner = self.owner_of(&envelope.stream, target).await?;
        let request = Request {
            command_type: envelope.command.type_name(),
            stream: envelope.stream.as_str(),
            owner,
        };
        let grant = match self.policy.authorize(principal, &request) {
            Ok(grant) => grant,
            Err(denial) => {
                return Ok(Err(Outcome::Denied(Refusal {
                    rule: denial.rule.to_owned(),
                    field: None,
                    message: denial.message,
                })));
            }
        };
        let actor = principal
            .organisation
            .actor(grant.role.actor_role(), principal.person);
        if let Some(refusal) = disagreement(envelope, &actor, grant.role) {
            return Ok(Err(Outcome::Denied(refusal)));
        }
        let now = crate::handler::now();
        if let Err(refusal) = time::check(envelope, target, now, self.skew) {
            return Ok(Err(Outcome::Refused(refusal)));
        }
        let digest = command_digest(envelope, &actor);
        Ok(Ok(Admitted { actor, digest }))
    }

    /// The organisation a routed command's stream belongs to: the holder of its contract (for an
    /// application on a new contract, the applicant it names), or a key stream's owner.
    async fn owner_of(
        &self,
        stream: &ledger::log::StreamId,
        target: &Target,
    ) -> Result<Option<Organisation>, HandlerError> {
        let contract_id = match target {
            Target::Key { bin, .. } => return Ok(Some(Organisation::Kz(*bin))),
            Target::Contract(ContractCommand::ReceiveApplication(application)) => {
                let holder = self.holder(application.contract_id.as_str()).await?;
                return Ok(holder.or(Some(Organisation::Kz(application.applicant.holder()))));
            }
            Target::KgContract(KgContractCommand::ReceiveApplication {
                contract_id,
                applicant,
                ..
            }) => {
                let holder = self.holder(contract_id.as_str()).await?;
                return Ok(holder.or(Some(Organisation::Kg(applicant.into()))));
            }
            // `contract/<id>`: routing checked the shape.
            Target::Contract(_) | Target::KgContract(_) => stream.as_str().split('/').nth(1),
            Target::Period { contract_id, .. }
            | Target::KgPeriod { contract_id, .. }
            | Target::KgDispute { contract_id, .. } => Some(contract_id.as_str()),
            Target::PriceList(_)
            | Target::Seal(_)
            | Target::Budget { .. }
            | Target::ReferenceBook(_)
            | Target::Recovery(_) => return Ok(None),
        };
        match contract_id {
            Some(contract_id) => self.holder(contract_id).await,
            None => Ok(None),
        }
    }

    /// The holder of contract `contract_id` (KZ or KG), if it has applied.
    async fn holder(&self, contract_id: &str) -> Result<Option<Organisation>, HandlerError> {
        let stream = contract_stream(contract_id);
        let log = &*self.log;
        let kz = self
            .contracts
            .inspect(log, &stream, |state| state.holder())
            .await?;
        if let Some(bin) = kz {
            return Ok(Some(Organisation::Kz(bin)));
        }
        let kg = self
            .kg_contracts
            .inspect(log, &stream, |state| {
                state.applicant.as_ref().map(Into::into)
            })
            .await?;
        Ok(kg.map(Organisation::Kg))
    }

    /// The refusal of a command id already used for other content, or `None` when `appended` (a
    /// duplicate outcome) was the same command. The stored digest is read from the command's first
    /// event, so this holds after a restart and on every backend; records written before digests
    /// existed bound none and are taken as the same command.
    pub(super) async fn reused(
        &self,
        envelope: &CommandEnvelope,
        first: ledger::log::Position,
        digest: CommandDigest,
    ) -> Result<Option<Refusal>, HandlerError> {
        let stored = stored_digest(&*self.log, first).await?;
        Ok(stored
            .filter(|stored| *stored != digest)
            .map(|stored| Refusal {
                rule: REUSED_RULE.to_owned(),
                field: Some("command_id".into()),
                message: reused_message(envelope.command_id, stored, digest),
            }))
    }
}

/// The digest bound by the command whose first event is at `first`, waiting for it to be committed
/// (a duplicate found by the log may still be in the same group commit).
async fn stored_digest(
    log: &dyn EventLog,
    first: ledger::log::Position,
) -> Result<Option<CommandDigest>, HandlerError> {
    let visible = log
        .wait_for(
            first.partition,
            first.offset,
            std::time::Duration::from_secs(10),
        )
        .await?;
    if !visible {
        return Err(HandlerError::Log(LogError::Unavailable(format!(
            "the original of a repeated command at {first} did not become readable"
        ))));
    }
    let records = log.read_batch(first.partition, first.offset, 1).await?;
    let record = records.first().ok_or_else(|| {
        HandlerError::Log(LogError::Unavailable(format!(
            "the original of a repeated command at {first} could not be read"
        )))
    })?;
    Ok(record.body.command_digest)
}

/// A body that names another actor than the one authenticated, or a document sent in another role.
fn disagreement(envelope: &CommandEnvelope, actor: &Actor, role: Role) -> Option<Refusal> {
    if let Some(claimed) = &envelope.actor {
        let same_person = claimed.person.is_none() || claimed.person == actor.person;
        if claimed.id != actor.id || claimed.role != actor.role || !same_person {
            return Some(Refusal {
                rule: ACTOR_RULE.into(),
                field: Some("actor".into()),
                message: format!(
                    "the body names the actor {claimed}, but the request is authenticated as {actor}; the actor is taken from the certificate or token (omit \"actor\" or make it agree)"
                ),
            });
        }
    }
    if let WireCommand::SendTerminationNotice(notice) = &envelope.command {
        let sender_role = match notice.sender {
            Party::Fund => Role::Fund,
            Party::ContractHolder => Role::Pharmacy,
        };
        if role != sender_role && role != Role::Operator {
            return Some(Refusal {
                rule: ACTOR_RULE.into(),
                field: Some("command.sender".into()),
                message: format!(
                    "the notice says it is sent by {:?}, but {actor} acts as {role}",
                    notice.sender
                ),
            });
        }
    }
    None
}
