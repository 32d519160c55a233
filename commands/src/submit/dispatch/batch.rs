//! Many commands in one call (issue #16 §2): what `serve` drains from its queue, what
//! `POST /v1/commands:batch` takes, and what `submit` reads from its file.
//!
//! Every command passes the same trust gate and gets its own answer, exactly as through
//! [`Dispatcher::submit`]. What changes is the commit: a run of dispensings (`RecordDispensing`, the
//! volume of the ledger) is decided one after another against the state the run's earlier commands
//! leave (speculatively, in [`Drafts`]), and appended with one `append_many`, so a thousand
//! dispensings share one hand-off and one group commit instead of waiting for a thousand. If the
//! append fails, every command in it fails and the speculative states are dropped. Any other command
//! ends the run: it is decided on its own by `submit`, after the run's commit, so it sees everything
//! before it (commands are rare beside dispensings; their decisions read other streams).
//!
//! Order and locks: a run holds the locks of all its partition keys (taken together, in sorted order,
//! as `lock_all` does, so two runs cannot wait on each other), the seal gate shared, and the M-06 locks
//! of all its packs and receipts, from the first decision through the commit. Two dispensings of one
//! run that share a pack or receipt across periods would pass the cross-period index unseen, so the
//! run commits what it has before deciding the second (the index then holds the first). A command id
//! repeated within a run, or a command on a stream whose commit failed, is decided after the run by
//! `submit`, which sees the committed outcome.

use std::collections::{HashMap, HashSet};

use ledger::domain::context::DecisionContext;
use ledger::domain::contract::ContractState;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::KeyRegistry;
use ledger::domain::period::{PeriodCommand, PeriodContext};
use ledger::domain::prices::PriceListState;
use ledger::log::{AppendRequest, CommandDigest, CommandId, LogError, StreamId};

use super::{Dispatcher, Outcome, SubmitError, foreign};
use crate::auth::Principal;
use crate::demo::engine::stream;
use crate::handler::{Drafts, Speculated};
use crate::submit::Refusal;
use crate::submit::route::{Target, route};
use crate::submit::wire::CommandEnvelope;
use crate::uniqueness::uniqueness_keys;
use crate::writer::{Command, PeriodAggregate};

/// The most commands one call takes (`POST /v1/commands:batch` refuses more).
pub const COMMANDS_PER_CALL_MAX: usize = 1000;

/// One command of a call, with the principal it is decided for.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub principal: &'a Principal,
    pub envelope: &'a CommandEnvelope,
}

/// The answer to one command.
pub type Answer = Result<Outcome, SubmitError>;

impl Dispatcher {
    /// Decides and appends every submission, each as [`Dispatcher::submit`] would, and answers each
    /// in order; runs of dispensings are committed together (see the module documentation).
    pub async fn submit_many(&self, items: &[Submission<'_>]) -> Vec<Answer> {
        let mut targets: Vec<Option<Result<Target, Refusal>>> = items
            .iter()
            .map(|item| Some(route(item.envelope)))
            .collect();
        let mut answers: Vec<Option<Answer>> = items.iter().map(|_| None).collect();
        let mut start = 0;
        while start < items.len() {
            let run = targets[start..]
                .iter()
                .take_while(|target| speculated(target.as_ref()))
                .count();
            if run == 0 {
                let item = items[start];
                answers[start] = Some(self.submit(item.principal, item.envelope).await);
                start += 1;
                continue;
            }
            let end = start + run;
            let run_targets = targets[start..end]
                .iter_mut()
                .map(|target| target.take().expect("each target is taken once"))
                .collect();
            self.run(&items[start..end], run_targets, &mut answers[start..end])
                .await;
            start = end;
        }
        answers
            .into_iter()
            .map(|answer| answer.expect("every command is answered"))
            .collect()
    }

    /// Decides a run of dispensings (and routing refusals) speculatively and commits them together;
    /// then decides what had to wait for the commit.
    async fn run(
        &self,
        items: &[Submission<'_>],
        targets: Vec<Result<Target, Refusal>>,
        answers: &mut [Option<Answer>],
    ) {
        let partition_keys = items
            .iter()
            .map(|item| item.envelope.stream.partition_key().into_owned())
            .collect();
        let packs = targets
            .iter()
            .filter_map(|target| match target {
                Ok(Target::Period { command, .. }) => {
                    Some(uniqueness_keys(std::slice::from_ref(command)))
                }
                _ => None,
            })
            .flatten()
            .collect();
        let serialised = self.locks.lock_all(partition_keys).await;
        let sealed = self.sealed.read().await;
        let held_packs = self.key_locks.lock_all(packs).await;
        let mut run = Run::new(self, items.len());
        for (slot, (item, target)) in items.iter().zip(targets).enumerate() {
            let answer = match target {
                Err(refusal) => Some(Ok(Outcome::Refused(refusal))),
                Ok(target) => {
                    let decided = run.decide(slot, *item, target, &sealed).await;
                    decided.unwrap_or_else(|failure| Some(Err(failure)))
                }
            };
            if let Some(answer) = answer {
                run.answers[slot] = Some(answer);
            }
        }
        run.flush().await;
        let deferred = std::mem::take(&mut run.deferred);
        let decided = run.finish();
        drop((held_packs, sealed, serialised));
        let mut records = 0;
        for (slot, answer) in decided.into_iter().enumerate() {
            if let Some(answer) = answer {
                if let Ok(Outcome::Appended(appended)) = &answer
                    && !appended.duplicate
                {
                    records += appended.positions.len();
                }
                self.log_answer(items[slot].principal, items[slot].envelope, &answer);
                answers[slot] = Some(answer);
            }
        }
        if records > 0 {
            self.appended(records).await;
        }
        for slot in deferred {
            let item = items[slot];
            answers[slot] = Some(self.submit(item.principal, item.envelope).await);
        }
    }
}

/// Whether a routed command is decided in a run: a single dispensing, or a routing refusal (which
/// touches no state).
fn speculated(target: Option<&Result<Target, Refusal>>) -> bool {
    match target {
        Some(Err(_)) => true,
        Some(Ok(Target::Period { command, .. })) => {
            matches!(command, PeriodCommand::RecordDispensing(_))
        }
        _ => false,
    }
}

/// A dispensing decided in the run, waiting for the run's append.
struct Pending<'a> {
    slot: usize,
    envelope: &'a CommandEnvelope,
    digest: CommandDigest,
    /// Its events that take or release M-06 keys, for the index once committed.
    taken: Vec<Event>,
}

/// The state of one run.
struct Run<'d, 'a> {
    dispatcher: &'d Dispatcher,
    drafts: Drafts<'d, PeriodAggregate>,
    /// The contracts the run decides under, by contract id (or the A-15 refusal of their period
    /// commands); no contract command runs inside a run, and the run holds their partition keys.
    contracts: HashMap<String, Result<ContractState, Refusal>>,
    prices: HashMap<Jurisdiction, PriceListState>,
    keys: KeyRegistry,
    pending: Vec<Pending<'a>>,
    requests: Vec<AppendRequest>,
    /// The M-06 keys of `pending`: a dispensing that shares one is decided after a commit.
    pending_keys: HashSet<String>,
    seen: HashSet<CommandId>,
    failed: HashSet<StreamId>,
    deferred: Vec<usize>,
    answers: Vec<Option<Answer>>,
}

impl<'d, 'a> Run<'d, 'a> {
    fn new(dispatcher: &'d Dispatcher, count: usize) -> Run<'d, 'a> {
        Run {
            dispatcher,
            drafts: dispatcher.periods.drafts(),
            contracts: HashMap::new(),
            prices: HashMap::new(),
            keys: dispatcher.keys.lock().expect("key registry lock").clone(),
            pending: Vec::new(),
            requests: Vec::new(),
            pending_keys: HashSet::new(),
            seen: HashSet::new(),
            failed: HashSet::new(),
            deferred: Vec::new(),
            answers: (0..count).map(|_| None).collect(),
        }
    }

    /// Decides one dispensing through the trust gate and against the run's states; `None` when it
    /// waits for the commit (its answer comes then, or after the run).
    async fn decide(
        &mut self,
        slot: usize,
        item: Submission<'a>,
        target: Target,
        sealed: &crate::audit::seal::SealedMonths,
    ) -> Result<Option<Answer>, SubmitError> {
        let dispatcher = self.dispatcher;
        let envelope = item.envelope;
        let admitted = match dispatcher.admit(item.principal, envelope, &target).await? {
            Ok(admitted) => admitted,
            Err(answer) => return Ok(Some(Ok(answer))),
        };
        if self.seen.contains(&envelope.command_id) || self.failed.contains(&envelope.stream) {
            self.deferred.push(slot);
            return Ok(None);
        }
        if let Some(outcome) = dispatcher.log.command_outcome(envelope.command_id).await? {
            let repeated = dispatcher
                .repeated(envelope, outcome, admitted.digest)
                .await;
            return Ok(Some(repeated));
        }
        self.check_expected(envelope).await?;
        if let Some(refusal) = sealed.refusal(&envelope.stream, envelope.jurisdiction) {
            return Ok(Some(Ok(Outcome::Refused(refusal))));
        }
        let Target::Period {
            contract_id,
            period,
            command,
        } = target
        else {
            unreachable!("a run holds only dispensings");
        };
        if let Err(refusal) = self.contract(&contract_id, envelope).await? {
            return Ok(Some(Ok(Outcome::Refused(refusal))));
        }
        self.load_prices(envelope.jurisdiction).await?;
        let keys = uniqueness_keys(std::slice::from_ref(&command));
        if keys.iter().any(|key| self.pending_keys.contains(key)) {
            // M-06 across periods: the index must hold the earlier dispensing first.
            self.flush().await;
        }
        let digest = admitted.digest;
        let meta = admitted.meta(envelope);
        let command = Command {
            meta,
            command: vec![command],
        };
        let decided = self
            .speculate(&contract_id, period, &envelope.stream, &command)
            .await?;
        Ok(match decided {
            Speculated::Decided { expected, events } => {
                let pending = Pending {
                    slot,
                    envelope,
                    digest,
                    taken: taken_keys(&events),
                };
                self.pend(pending, keys, expected, events);
                None
            }
            Speculated::Rejected(error) => Some(Ok(Outcome::Refused(Refusal {
                rule: error.rule().to_owned(),
                field: None,
                message: error.to_string(),
            }))),
        })
    }

    /// The optimistic check of a command that names the version it expects its stream at, against
    /// the run's draft of the stream (or the log when the run has not touched it).
    async fn check_expected(&self, envelope: &CommandEnvelope) -> Result<(), SubmitError> {
        let Some(expected) = envelope.expected_version else {
            return Ok(());
        };
        let actual = match self.drafts.version(&envelope.stream) {
            Some(version) => version,
            None => self.dispatcher.log.stream_version(&envelope.stream).await?,
        };
        if actual == expected {
            Ok(())
        } else {
            Err(SubmitError::Conflict {
                stream: envelope.stream.clone(),
                detail: format!("expected version {expected}, but the stream is at {actual}"),
            })
        }
    }

    /// Queues a decided dispensing for the run's append.
    fn pend(
        &mut self,
        pending: Pending<'a>,
        keys: Vec<String>,
        expected: ledger::log::StreamVersion,
        events: Vec<ledger::log::NewEvent>,
    ) {
        let envelope = pending.envelope;
        self.pending_keys.extend(keys);
        self.seen.insert(envelope.command_id);
        self.pending.push(pending);
        self.requests.push(AppendRequest {
            stream: envelope.stream.clone(),
            expected,
            command_id: envelope.command_id,
            events,
        });
    }

    /// Decides `command` on the draft of `stream`, under the run's contract, prices and keys.
    async fn speculate(
        &mut self,
        contract_id: &str,
        period: ledger::domain::values::ReportingPeriod,
        stream_id: &StreamId,
        command: &Command<Vec<PeriodCommand>>,
    ) -> Result<Speculated<ledger::domain::error::DomainError>, SubmitError> {
        let dispatcher = self.dispatcher;
        let jurisdiction = command.meta.jurisdiction;
        let decision = DecisionContext {
            calendar: &dispatcher.calendars[&jurisdiction],
            rules: &dispatcher.rules,
            signatures: &self.keys,
            fund_bin: dispatcher.fund_bin,
        };
        let contract = match &self.contracts[contract_id] {
            Ok(contract) => contract,
            Err(_) => unreachable!("a refused contract is answered before deciding"),
        };
        let context = PeriodContext {
            decision: &decision,
            contract,
            prices: &self.prices[&jurisdiction],
            period,
            index: &dispatcher.index,
        };
        let log = &*dispatcher.log;
        Ok(self
            .drafts
            .decide(log, stream_id, command, &context)
            .await?)
    }

    /// The contract a period command is decided under (A-15: KZ, of the envelope's jurisdiction),
    /// loaded once per run.
    async fn contract(
        &mut self,
        contract_id: &str,
        envelope: &CommandEnvelope,
    ) -> Result<Result<(), Refusal>, SubmitError> {
        let dispatcher = self.dispatcher;
        if !self.contracts.contains_key(contract_id) {
            let loaded = match dispatcher
                .own_contract(contract_id, Jurisdiction::KZ)
                .await?
            {
                Ok(stream_id) => Ok(dispatcher
                    .contracts
                    .load(&*dispatcher.log, &stream_id)
                    .await?
                    .0),
                Err(refusal) => Err(refusal),
            };
            self.contracts.insert(contract_id.to_owned(), loaded);
        }
        Ok(match &self.contracts[contract_id] {
            Ok(contract) => match foreign(contract, envelope.jurisdiction, &envelope.stream) {
                Some(refusal) => Err(refusal),
                None => Ok(()),
            },
            Err(refusal) => Err(refusal.clone()),
        })
    }

    /// The price list of `jurisdiction`, loaded once per run.
    async fn load_prices(&mut self, jurisdiction: Jurisdiction) -> Result<(), SubmitError> {
        if !self.prices.contains_key(&jurisdiction) {
            let dispatcher = self.dispatcher;
            let prices_stream = stream(format!("reference/prices/{jurisdiction}"));
            let (prices, _) = dispatcher
                .prices
                .load(&*dispatcher.log, &prices_stream)
                .await?;
            self.prices.insert(jurisdiction, prices);
        }
        Ok(())
    }

    /// Appends everything decided so far in one call and answers each command by its outcome.
    async fn flush(&mut self) {
        if self.requests.is_empty() {
            return;
        }
        let dispatcher = self.dispatcher;
        let requests = std::mem::take(&mut self.requests);
        let outcomes = dispatcher.log.append_many(requests).await;
        for (pending, outcome) in std::mem::take(&mut self.pending).into_iter().zip(outcomes) {
            let envelope = pending.envelope;
            let answer = match outcome {
                Ok(appended) if !appended.duplicate => {
                    // As the single path: appended, but if the index cannot take its keys the
                    // command answers the failure (the writer state then rebuilds from the log).
                    let index = &dispatcher.index;
                    match pending
                        .taken
                        .iter()
                        .try_for_each(|event| index.apply(event))
                    {
                        Ok(()) => Ok(Outcome::Appended(appended)),
                        Err(error) => Err(SubmitError::Handler(error)),
                    }
                }
                Ok(appended) => {
                    // Appended meanwhile under another partition key: nothing of this decision was
                    // written, so its stream's draft is stale.
                    self.failed.insert(envelope.stream.clone());
                    dispatcher
                        .repeated(envelope, appended, pending.digest)
                        .await
                }
                Err(error) => {
                    self.failed.insert(envelope.stream.clone());
                    Err(match error {
                        LogError::Conflict { .. } => SubmitError::Conflict {
                            stream: envelope.stream.clone(),
                            detail: error.to_string(),
                        },
                        error => SubmitError::Log(error),
                    })
                }
            };
            self.answers[pending.slot] = Some(answer);
        }
        self.pending_keys.clear();
    }

    /// Settles the drafts (a stream with a failure is dropped) and returns the answers.
    fn finish(self) -> Vec<Option<Answer>> {
        assert!(
            self.pending.is_empty(),
            "a run is flushed before it finishes"
        );
        self.drafts.settle(&self.failed);
        self.answers
    }
}

/// The decoded events of a decision that take or release an M-06 key.
fn taken_keys(events: &[ledger::log::NewEvent]) -> Vec<Event> {
    events
        .iter()
        .filter(|event| {
            matches!(
                event.payload.event_type.as_str(),
                "DispensingRecorded" | "DispensingReversed"
            )
        })
        .map(|event| Event::from_payload(&event.payload).expect("a decided event decodes"))
        .collect()
}
