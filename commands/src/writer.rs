//! The domain behind the command handler: one [`Aggregate`] adapter per domain aggregate, and the
//! metadata that turns the domain's events into log records.
//!
//! Period commands are handled in batches (one command id, decided one after the other against the
//! evolving state, appended all or none), so that an ISS sending a day's dispensings, or an import
//! chunk, costs one append instead of one per line.

use ledger::codec::CodecError;
use ledger::domain::budget::{self, Budget, BudgetCommand, BudgetError, BudgetEvent, BudgetId};
use ledger::domain::context::DecisionContext;
use ledger::domain::contract::{self, ContractCommand, ContractState};
use ledger::domain::error::DomainError;
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{self, KeyCommand, KeyError, KeyEvent, KeyRing};
use ledger::domain::kg::{self, KgError, ReferenceBookPublished, ReferenceBooks};
use ledger::domain::period::kg::{KgPeriodCommand, KgPeriodContext, KgPeriodState};
use ledger::domain::period::{self, PeriodCommand, PeriodContext, PeriodState};
use ledger::domain::prices::{self, PriceListState, PublishPriceList};
use ledger::domain::time::Timestamp;
use ledger::log::{
    Actor, AppendOutcome, CommandDigest, CommandId, EventEnvelope, EventId, EventLog, NewEvent,
};
use uuid::Uuid;

use crate::handler::{Aggregate, HandlerError};

/// Who issues a command, when, and in which conversation: stamped on every event it appends.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub command_id: CommandId,
    /// Business time of the command (UTC).
    pub at: Timestamp,
    pub jurisdiction: Jurisdiction,
    pub actor: Actor,
    pub correlation_id: Uuid,
    /// The digest of the command's canonical content, stamped on its events (issue #13); none where
    /// the command id is itself derived from the content (import rows, the demo).
    pub digest: Option<CommandDigest>,
}

/// Wraps domain events as log events carrying the command's metadata. Event ids are UUID v7 of the
/// command's business time.
pub fn new_events(events: Vec<Event>, meta: &CommandMeta) -> Vec<NewEvent> {
    events
        .into_iter()
        .map(|event| NewEvent {
            event_id: EventId::new_v7(meta.at),
            occurred_at: meta.at,
            jurisdiction: meta.jurisdiction,
            causation_id: Some(meta.command_id.0),
            correlation_id: meta.correlation_id,
            actor: meta.actor.clone(),
            payload: event.to_payload().expect("domain events always encode"),
            command_digest: meta.digest,
        })
        .collect()
}

/// Decodes a record's payload into the domain event (upcasting older schema versions).
pub fn decode(envelope: &EventEnvelope) -> Result<Event, HandlerError> {
    Event::from_payload(&envelope.body.payload).map_err(|error| HandlerError::Fold {
        stream: envelope.body.stream.clone(),
        version: envelope.body.stream_version,
        detail: error.to_string(),
    })
}

/// The events an append just wrote, decoded (none for a duplicate, which wrote nothing): what the
/// writer's own indexes (signing keys, M-06) learn after each append.
pub async fn appended_events(
    log: &dyn EventLog,
    appended: &AppendOutcome,
) -> Result<Vec<Event>, HandlerError> {
    if appended.duplicate {
        return Ok(Vec::new());
    }
    log.read_stream(&appended.stream, appended.first_version)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// A domain command with the metadata its events will carry.
#[derive(Debug, Clone)]
pub struct Command<C> {
    pub meta: CommandMeta,
    pub command: C,
}

/// The contract stream `contract/<id>` (S001 §9–§17, §29).
pub struct ContractAggregate;

impl Aggregate for ContractAggregate {
    type State = ContractState;
    type Command = Command<ContractCommand>;
    type Context<'c> = DecisionContext<'c>;
    type Rejection = DomainError;

    fn evolve(
        state: ContractState,
        envelope: &EventEnvelope,
    ) -> Result<ContractState, HandlerError> {
        Ok(contract::evolve(state, &decode(envelope)?))
    }

    fn decide(
        state: &mut ContractState,
        command: &Self::Command,
        context: &DecisionContext<'_>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        let events = contract::decide(state, command.command.clone(), context)?;
        for event in &events {
            *state = contract::evolve(std::mem::take(state), event);
        }
        Ok(new_events(events, &command.meta))
    }
}

/// The period stream `period/<contract-id>/<YYYY-MM>`, in batches of commands.
pub struct PeriodAggregate;

impl Aggregate for PeriodAggregate {
    type State = PeriodState;
    type Command = Command<Vec<PeriodCommand>>;
    type Context<'c> = PeriodContext<'c>;
    type Rejection = DomainError;

    fn evolve(state: PeriodState, envelope: &EventEnvelope) -> Result<PeriodState, HandlerError> {
        Ok(period::evolve(state, &decode(envelope)?))
    }

    /// Decides each command against the state the previous ones left; the first refusal refuses the
    /// whole batch (nothing is appended).
    fn decide(
        state: &mut PeriodState,
        command: &Self::Command,
        context: &PeriodContext<'_>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        let events = decide_batch(
            state,
            &command.command,
            context,
            period::decide,
            period::evolve,
        )?;
        Ok(new_events(events, &command.meta))
    }

    /// A batch of one is refused before anything is folded (`decide_batch`).
    fn refusal_leaves_state(command: &Self::Command) -> bool {
        command.command.len() == 1
    }

    /// 1: `PeriodState` as of issue #16 §1. Bump on any change of `period::evolve` or of the
    /// state's fields.
    const FOLD_VERSION: u32 = 1;

    /// A national month's period holds ~100k dispensings: snapshotted (`handler::snapshot`).
    fn encode_state(state: &PeriodState) -> Option<Result<Vec<u8>, CodecError>> {
        Some(ledger::codec::encode(state))
    }

    fn decode_state(bytes: &[u8]) -> Result<PeriodState, CodecError> {
        ledger::codec::decode_state(bytes)
    }
}

/// The KZ limit-price list `reference/prices/KZ`.
pub struct PriceListAggregate;

impl Aggregate for PriceListAggregate {
    type State = PriceListState;
    type Command = Command<PublishPriceList>;
    type Context<'c> = ();
    type Rejection = DomainError;

    fn evolve(
        state: PriceListState,
        envelope: &EventEnvelope,
    ) -> Result<PriceListState, HandlerError> {
        Ok(prices::evolve(state, &decode(envelope)?))
    }

    fn decide(
        state: &mut PriceListState,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, DomainError> {
        let events = prices::decide(state, command.command.clone())?;
        for event in &events {
            *state = prices::evolve(std::mem::take(state), event);
        }
        Ok(new_events(events, &command.meta))
    }
}

/// An organisation's signing keys `keys/<BIN>` (S-01…S-04).
pub struct KeyAggregate;

impl Aggregate for KeyAggregate {
    type State = Option<KeyRing>;
    type Command = Command<(Bin, KeyCommand)>;
    type Context<'c> = ();
    type Rejection = KeyError;

    fn evolve(
        state: Option<KeyRing>,
        envelope: &EventEnvelope,
    ) -> Result<Option<KeyRing>, HandlerError> {
        let event = KeyEvent::try_from(&decode(envelope)?).map_err(|()| not_in_stream(envelope))?;
        let ring = state.unwrap_or_else(|| KeyRing::new(event.bin()));
        Ok(Some(keys::evolve(ring, &event)))
    }

    fn decide(
        state: &mut Option<KeyRing>,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, KeyError> {
        let (bin, key_command) = &command.command;
        let mut ring = state.take().unwrap_or_else(|| KeyRing::new(*bin));
        let events = keys::decide(&ring, key_command.clone())?;
        for event in &events {
            ring = keys::evolve(ring, event);
        }
        *state = Some(ring);
        Ok(new_events(
            events.into_iter().map(Event::from).collect(),
            &command.meta,
        ))
    }
}

/// A budget stream `budget/<jurisdiction>/<programme>/<fiscal-year>` (A-20, A-21, B-07).
pub struct BudgetAggregate;

impl Aggregate for BudgetAggregate {
    type State = Option<Budget>;
    type Command = Command<(BudgetId, BudgetCommand)>;
    type Context<'c> = ();
    type Rejection = BudgetError;

    fn evolve(
        state: Option<Budget>,
        envelope: &EventEnvelope,
    ) -> Result<Option<Budget>, HandlerError> {
        let event =
            BudgetEvent::try_from(&decode(envelope)?).map_err(|()| not_in_stream(envelope))?;
        let budget = match state {
            Some(budget) => budget,
            None => Budget::new(budget_id_of(envelope)?),
        };
        Ok(Some(budget::evolve(budget, &event)))
    }

    fn decide(
        state: &mut Option<Budget>,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, BudgetError> {
        let (id, budget_command) = &command.command;
        let mut budget = state.take().unwrap_or_else(|| Budget::new(*id));
        let events = budget::decide(&budget, budget_command.clone())?;
        for event in &events {
            budget = budget::evolve(budget, event);
        }
        *state = Some(budget);
        Ok(new_events(
            events.into_iter().map(Event::from).collect(),
            &command.meta,
        ))
    }
}

/// The budget a `budget/<jurisdiction>/<programme>/<fiscal-year>` stream belongs to.
fn budget_id_of(envelope: &EventEnvelope) -> Result<BudgetId, HandlerError> {
    let fail = |detail: String| HandlerError::Fold {
        stream: envelope.body.stream.clone(),
        version: envelope.body.stream_version,
        detail,
    };
    let parts: Vec<&str> = envelope.body.stream.as_str().split('/').collect();
    let [_, jurisdiction, programme, year] = parts.as_slice() else {
        return Err(fail(
            "a budget stream is budget/<jurisdiction>/<programme>/<year>".into(),
        ));
    };
    let jurisdiction: Jurisdiction = jurisdiction
        .parse()
        .map_err(|error| fail(format!("{error}")))?;
    let programme: ledger::domain::region::Programme = programme.parse().map_err(fail)?;
    let year: i32 = year
        .parse()
        .map_err(|_| fail(format!("fiscal year \"{year}\" is not a year")))?;
    BudgetId::new(jurisdiction, programme, budget::FiscalYear(year))
        .map_err(|error| fail(error.to_string()))
}

fn not_in_stream(envelope: &EventEnvelope) -> HandlerError {
    HandlerError::Fold {
        stream: envelope.body.stream.clone(),
        version: envelope.body.stream_version,
        detail: format!(
            "event {} does not belong in this stream",
            envelope.body.payload.event_type
        ),
    }
}

/// A KG contract stream `contract/<id>` (S002 §27–§30: C-07…C-10, D-10, E-09, E-10, A-22, A-23),
/// decided on the KG calendar and rule set. The same stream shape as a KZ contract, a separate
/// aggregate: no KZ criterion ever applies to a KG pharmacy.
pub struct KgContractAggregate;

impl Aggregate for KgContractAggregate {
    type State = contract::kg::KgContractState;
    type Command = Command<contract::kg::KgContractCommand>;
    type Context<'c> = DecisionContext<'c>;
    type Rejection = DomainError;

    fn evolve(
        state: contract::kg::KgContractState,
        envelope: &EventEnvelope,
    ) -> Result<contract::kg::KgContractState, HandlerError> {
        Ok(contract::kg::evolve(state, &decode(envelope)?))
    }

    fn decide(
        state: &mut contract::kg::KgContractState,
        command: &Self::Command,
        context: &DecisionContext<'_>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        let events = contract::kg::decide(state, command.command.clone(), context)?;
        for event in &events {
            *state = contract::kg::evolve(std::mem::take(state), event);
        }
        Ok(new_events(events, &command.meta))
    }
}

/// Decides a batch of commands one after the other against the state the previous ones left; the
/// first refusal refuses the whole batch (nothing is appended).
fn decide_batch<S: Default, C: Clone, X>(
    state: &mut S,
    commands: &[C],
    context: &X,
    decide: impl Fn(&S, C, &X) -> Result<Vec<Event>, DomainError>,
    evolve: impl Fn(S, &Event) -> S,
) -> Result<Vec<Event>, DomainError> {
    let mut events = Vec::new();
    for single in commands {
        let decided = decide(state, single.clone(), context)?;
        for event in &decided {
            *state = evolve(std::mem::take(state), event);
        }
        events.extend(decided);
    }
    Ok(events)
}

/// The settlement stream of a KG contract, `period/<contract-id>/<YYYY-MM>` (S002 §33–§53), in
/// batches of commands like the KZ period. The stream shape (and so the contract's partition) is
/// shared; the aggregate is not (A-15, docs/decisions.md).
pub struct KgPeriodAggregate;

impl Aggregate for KgPeriodAggregate {
    type State = KgPeriodState;
    type Command = Command<Vec<KgPeriodCommand>>;
    type Context<'c> = KgPeriodContext<'c>;
    type Rejection = DomainError;

    fn evolve(
        state: KgPeriodState,
        envelope: &EventEnvelope,
    ) -> Result<KgPeriodState, HandlerError> {
        Ok(period::kg::evolve(state, &decode(envelope)?))
    }

    fn decide(
        state: &mut KgPeriodState,
        command: &Self::Command,
        context: &KgPeriodContext<'_>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        assert_eq!(
            command.meta.jurisdiction,
            Jurisdiction::KG,
            "KG settlement events are stamped KG (A-15)"
        );
        let events = decide_batch(
            state,
            &command.command,
            context,
            period::kg::decide,
            period::kg::evolve,
        )?;
        Ok(new_events(events, &command.meta))
    }

    /// A batch of one is refused before anything is folded (`decide_batch`).
    fn refusal_leaves_state(command: &Self::Command) -> bool {
        command.command.len() == 1
    }

    /// 1: `KgPeriodState` as of issue #16 §1. Bump on any change of `period::kg::evolve` or of the
    /// state's fields.
    const FOLD_VERSION: u32 = 1;

    /// A KG settlement period holds every dispensing of the month: snapshotted like the KZ period.
    fn encode_state(state: &KgPeriodState) -> Option<Result<Vec<u8>, CodecError>> {
        Some(ledger::codec::encode(state))
    }

    fn decode_state(bytes: &[u8]) -> Result<KgPeriodState, CodecError> {
        ledger::codec::decode_state(bytes)
    }
}

/// The KG Reference Book stream `reference/kg-reference-book` (M-10, A-28): every published version, which
/// the KG period aggregate prices dispensings from.
pub struct ReferenceBookAggregate;

impl Aggregate for ReferenceBookAggregate {
    type State = ReferenceBooks;
    type Command = Command<ReferenceBookPublished>;
    type Context<'c> = ();
    type Rejection = KgError;

    fn evolve(
        state: ReferenceBooks,
        envelope: &EventEnvelope,
    ) -> Result<ReferenceBooks, HandlerError> {
        match decode(envelope)? {
            Event::ReferenceBookPublished(book) => Ok(kg::evolve_books(state, &book)),
            _ => Err(not_in_stream(envelope)),
        }
    }

    fn decide(
        state: &mut ReferenceBooks,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, KgError> {
        let book = kg::decide_publish(state, command.command.clone())?;
        *state = kg::evolve_books(std::mem::take(state), &book);
        Ok(new_events(
            vec![Event::ReferenceBookPublished(book)],
            &command.meta,
        ))
    }
}

/// The recoveries assessed against one debtor, `recovery/<debtor-kind>/<id>`: the
/// inspection acts' assessments. Their offsets are settlement lines on the KG period streams, so the
/// state here holds assessments only; the writer adds the offsets (`kg_context`).
pub struct RecoveryAggregate;

impl Aggregate for RecoveryAggregate {
    type State = kg::recovery::Recoveries;
    type Command = Command<kg::recovery::RecoveryAssessed>;
    type Context<'c> = ();
    type Rejection = kg::recovery::RecoveryError;

    fn evolve(
        state: kg::recovery::Recoveries,
        envelope: &EventEnvelope,
    ) -> Result<kg::recovery::Recoveries, HandlerError> {
        let event = kg::recovery::RecoveryEvent::try_from(&decode(envelope)?)
            .map_err(|()| not_in_stream(envelope))?;
        Ok(kg::recovery::evolve(state, &event))
    }

    fn decide(
        state: &mut kg::recovery::Recoveries,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, kg::recovery::RecoveryError> {
        let event = kg::recovery::decide_assessment(state, command.command.clone())?;
        *state = kg::recovery::evolve(std::mem::take(state), &event);
        Ok(new_events(vec![Event::from(event)], &command.meta))
    }
}

/// One KG prescription dispute, `contract/<contract-id>/dispute/<dispute-id>` (X-01…X-03, D-12, A-27;
/// S002 §48–50): the written claim and the commission's protocol. The stream sits on its contract's
/// partition (docs/decisions.md #11), so a claim and the period's payment report that closes its
/// window are ordered on one partition. The command carries the stream's dispute id, which names a
/// dispute the domain could not name (a resolution of a dispute never filed).
pub struct DisputeAggregate;

impl Aggregate for DisputeAggregate {
    type State = kg::dispute::Dispute;
    type Command = Command<(String, kg::dispute::DisputeCommand)>;
    type Context<'c> = ();
    type Rejection = kg::dispute::DisputeError;

    fn evolve(
        state: kg::dispute::Dispute,
        envelope: &EventEnvelope,
    ) -> Result<kg::dispute::Dispute, HandlerError> {
        let event = kg::dispute::DisputeEvent::try_from(&decode(envelope)?)
            .map_err(|()| not_in_stream(envelope))?;
        Ok(kg::dispute::evolve(state, &event))
    }

    fn decide(
        state: &mut kg::dispute::Dispute,
        command: &Self::Command,
        _: &(),
    ) -> Result<Vec<NewEvent>, kg::dispute::DisputeError> {
        let (dispute_id, dispute_command) = &command.command;
        let events =
            kg::dispute::decide(state, dispute_command.clone()).map_err(|error| match error {
                kg::dispute::DisputeError::WrongState {
                    rule,
                    dispute_id: unnamed,
                    state,
                } if unnamed.is_empty() => kg::dispute::DisputeError::WrongState {
                    rule,
                    dispute_id: dispute_id.clone(),
                    state,
                },
                named => named,
            })?;
        for event in &events {
            *state = kg::dispute::evolve(std::mem::take(state), event);
        }
        Ok(new_events(
            events.into_iter().map(Event::from).collect(),
            &command.meta,
        ))
    }
}
