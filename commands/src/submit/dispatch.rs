//! The writer behind `ledger submit` and `ledger serve`: one [`Handler`] per aggregate, the reference
//! data decisions are made against, and the key registry the signature checks consult (DESIGN §3: one
//! writer per stream; this process is that writer).

mod batch;
mod seal;

pub use batch::{Answer, COMMANDS_PER_CALL_MAX, Submission};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::domain::calendar::{Calendar, CalendarSet};
use ledger::domain::context::DecisionContext;
use ledger::domain::contract::{ContractCommand, ContractState};
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{KeyEvent, KeyRegistry};
use ledger::domain::kg::dispute::DisputeCommand;
use ledger::domain::kg::recovery::{Debtor, Recoveries};
use ledger::domain::kg::{KgPolicy, PatientLimitSchedule};
use ledger::domain::period::kg::{KgPeriodCommand, KgPeriodContext};
use ledger::domain::period::{PeriodCommand, PeriodContext};
use ledger::domain::rules::RuleBook;
use ledger::domain::values::ReportingPeriod;
use ledger::log::{AppendOutcome, EventLog, LogError, StreamId};

mod gate;

pub use gate::ACTOR_RULE;

use super::Refusal;
use super::dispute::{self, KgDisputeCommand};
use super::route::{REFERENCE_BOOK_STREAM, Target, jurisdiction_refusal, recovery_stream, route};
use super::wire::CommandEnvelope;
use crate::audit::seal::{SealAggregate, SealedMonths};
use crate::auth::{Policy, Principal};
use crate::demo::engine::{contract_stream, period_stream, rule_book, stream};
use crate::handler::{Handled, Handler, HandlerError, LockTable, SnapshotStore};
use crate::kg_context::KgPeriodCache;
use crate::uniqueness::{UniquenessIndex, uniqueness_keys};
use crate::writer::{
    BudgetAggregate, Command, CommandMeta, ContractAggregate, DisputeAggregate, KeyAggregate,
    KgContractAggregate, KgPeriodAggregate, PeriodAggregate, PriceListAggregate, RecoveryAggregate,
    ReferenceBookAggregate,
};
use crate::writer_state::WriterState;

/// What became of one command that was decided.
#[derive(Debug)]
pub enum Outcome {
    /// Appended now, or earlier under the same command id (`duplicate`).
    Appended(AppendOutcome),
    /// Refused by a domain rule (or a time check); nothing was appended. HTTP 422.
    Refused(Refusal),
    /// Refused by the trust boundary: the policy does not allow the principal this command here, or
    /// the body names another actor. HTTP 403.
    Denied(Refusal),
    /// The command id was used before for other content (`IDEMPOTENCY_KEY_REUSED`). HTTP 409.
    Reused(Refusal),
}

impl Outcome {
    /// The refusal, when nothing was appended.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Outcome::Appended(_) => None,
            Outcome::Refused(refusal) | Outcome::Denied(refusal) | Outcome::Reused(refusal) => {
                Some(refusal)
            }
        }
    }
}

/// Why a command could not be decided at all.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The stream moved on (`expected_version`), or kept moving through every retry, or the command id
    /// was used on another stream: retrying the same request will not help without a new decision.
    #[error("conflict on stream \"{stream}\": {detail}")]
    Conflict { stream: StreamId, detail: String },
    #[error(transparent)]
    Handler(#[from] HandlerError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Records appended between two catch-ups of the writer's state (bounds what a restart replays).
pub const CATCH_UP_RECORDS: u64 = 20_000;

/// The writer of JSON commands.
pub struct Dispatcher {
    log: Arc<dyn EventLog>,
    calendars: BTreeMap<Jurisdiction, Calendar>,
    rules: RuleBook,
    fund_bin: Bin,
    keys: Mutex<KeyRegistry>,
    contracts: Handler<ContractAggregate>,
    periods: Handler<PeriodAggregate>,
    prices: Handler<PriceListAggregate>,
    key_rings: Handler<KeyAggregate>,
    budgets: Handler<BudgetAggregate>,
    kg_contracts: Handler<KgContractAggregate>,
    kg_periods: Handler<KgPeriodAggregate>,
    books: Handler<ReferenceBookAggregate>,
    recoveries: Handler<RecoveryAggregate>,
    disputes: Handler<DisputeAggregate>,
    /// The other KG periods of each contract and its settlements' recovery offsets.
    kg_history: KgPeriodCache,
    /// A-19, B-05: the capitation norm is data the MHIF publishes and no command carries yet, so the
    /// schedule is empty and the indicative limit is not checked (docs/commands.md).
    patient_limits: PatientLimitSchedule,
    /// D-11, A-18, A-19: the policy defaults (30 days, one dispensing closes, warn only).
    kg_policy: KgPolicy,
    /// Cross-period uniqueness (DESIGN §3, M-06), in the writer's state store.
    index: UniquenessIndex,
    /// The writer's persisted state and its checkpoint (issue #16 §1).
    state: WriterState,
    /// Records appended since the state's checkpoint last caught up.
    appended_since_catch_up: std::sync::atomic::AtomicU64,
    /// Held from a dispensing's decision through its append and index update (M-06 across contracts).
    key_locks: LockTable<String>,
    /// SEAL-01: the sealed months. Every command holds it shared from its seal check through its
    /// append; a seal holds it exclusively from reading the log through its append, so no period
    /// event lands between what the Fund signed and the seal.
    sealed: tokio::sync::RwLock<SealedMonths>,
    seals: Handler<SealAggregate>,
    /// One lock per stream, held from the duplicate and `expected_version` checks through the append,
    /// so that no other command of this writer lands in between.
    /// One lock per partition key (a contract with its periods, or a stream of its own): a contract's
    /// commands are decided one at a time, so that a decision reading another of its streams (the
    /// contract, another month's uniqueness keys, M-06) sees everything decided before it.
    locks: LockTable<String>,
    /// Who may issue which command where (issue #13).
    policy: Policy,
    /// How far a business instant may lie ahead of the writer's clock (TIME-01).
    skew: Duration,
    /// The period states' snapshots, in the state directory (issue #16 §1).
    snapshots: Option<Arc<SnapshotStore>>,
}

impl Dispatcher {
    /// A writer on `log` deciding under `policy`, its state built from the whole log in a temporary
    /// store (tests, one-off runs; see [`Dispatcher::open_with_state`]).
    pub async fn open(
        log: Arc<dyn EventLog>,
        fund_bin: Bin,
        policy: Policy,
    ) -> anyhow::Result<Dispatcher> {
        Dispatcher::open_with_state(log, fund_bin, policy, None).await
    }

    /// A writer on `log` deciding under `policy`, its state (signing keys, M-06 index, sealed months)
    /// kept in `state_dir` and read from its checkpoint: only the log after it is replayed.
    pub async fn open_with_state(
        log: Arc<dyn EventLog>,
        fund_bin: Bin,
        policy: Policy,
        state_dir: Option<&std::path::Path>,
    ) -> anyhow::Result<Dispatcher> {
        let set = CalendarSet::embedded()?;
        let mut calendars = BTreeMap::new();
        for jurisdiction in [Jurisdiction::KZ, Jurisdiction::KG] {
            calendars.insert(jurisdiction, set.latest(jurisdiction)?);
        }
        let loaded = WriterState::open(&log, state_dir).await?;
        let (keys, index, sealed) = (loaded.keys, loaded.index, loaded.sealed);
        let snapshots = state_dir.and_then(SnapshotStore::in_state_dir);
        Ok(Dispatcher {
            log,
            calendars,
            rules: rule_book()?,
            fund_bin,
            keys: Mutex::new(keys),
            contracts: Handler::default(),
            periods: Handler::with_snapshots(snapshots.clone()),
            prices: Handler::default(),
            key_rings: Handler::default(),
            budgets: Handler::default(),
            kg_contracts: Handler::default(),
            kg_periods: Handler::with_snapshots(snapshots.clone()),
            books: Handler::default(),
            recoveries: Handler::default(),
            disputes: Handler::default(),
            kg_history: KgPeriodCache::default(),
            patient_limits: PatientLimitSchedule::default(),
            kg_policy: KgPolicy::default(),
            index,
            state: loaded.state,
            appended_since_catch_up: std::sync::atomic::AtomicU64::new(0),
            key_locks: LockTable::default(),
            sealed: tokio::sync::RwLock::new(sealed),
            seals: Handler::default(),
            locks: LockTable::default(),
            policy,
            skew: crate::auth::time::SKEW_DEFAULT,
            snapshots,
        })
    }

    /// Snapshots long streams every `every` events (default [`crate::handler::SNAPSHOT_EVERY`]; a writer without a
    /// state directory takes none).
    pub fn with_snapshot_every(self, every: u64) -> Dispatcher {
        if let Some(snapshots) = &self.snapshots {
            snapshots.set_every(every);
        }
        self
    }

    /// Takes no snapshots and reads none (the start-up bench's baseline: the writer before them).
    pub fn without_snapshots(mut self) -> Dispatcher {
        self.snapshots = None;
        self.periods = Handler::default();
        self.kg_periods = Handler::default();
        self
    }

    /// A graceful stop: snapshots the cached period states that moved since their last snapshot and
    /// waits until they are written, so the next start folds none of them (issue #16 §1).
    pub fn write_snapshots(&self) -> usize {
        let taken = self.periods.snapshot_cached() + self.kg_periods.snapshot_cached();
        if let Some(snapshots) = &self.snapshots {
            let stats = snapshots.stats();
            tracing::info!(
                taken,
                written = stats.written,
                bytes = stats.bytes,
                encode_ms = stats.encode_micros / 1000,
                "snapshots written"
            );
        }
        taken
    }

    /// Events the period handlers folded from the log (a snapshot's events excluded).
    pub fn period_events_folded(&self) -> u64 {
        self.periods.events_folded() + self.kg_periods.events_folded()
    }

    /// The snapshot store, if the writer keeps one.
    pub fn snapshots(&self) -> Option<&Arc<SnapshotStore>> {
        self.snapshots.as_ref()
    }

    /// Allows business instants up to `skew` ahead of the writer's clock (TIME-01).
    pub fn with_skew(mut self, skew: Duration) -> Dispatcher {
        self.skew = skew;
        self
    }

    /// How the writer's state was loaded at start.
    pub fn state_report(&self) -> crate::writer_state::LoadReport {
        self.state.report()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Decides and appends one command issued by `principal`: the trust boundary first (policy,
    /// actor, time, digest; see `gate`), then the domain. A repeated command id with the same content
    /// returns the original outcome, even when its `expected_version` is stale by now; with other
    /// content it is refused (`IDEMPOTENCY_KEY_REUSED`).
    ///
    /// Every refusal is logged with the principal, the command id and the rule; identifiers in the
    /// message are masked (issue #13 §6).
    #[tracing::instrument(skip_all, fields(command_id = %envelope.command_id, stream = %envelope.stream))]
    pub async fn submit(
        &self,
        principal: &Principal,
        envelope: &CommandEnvelope,
    ) -> Result<Outcome, SubmitError> {
        let outcome = self.decide(principal, envelope).await;
        if let Ok(Outcome::Appended(appended)) = &outcome
            && !appended.duplicate
        {
            self.appended(appended.positions.len()).await;
        }
        self.log_answer(principal, envelope, &outcome);
        outcome
    }

    /// Counts `records` appended (the writer state catches up past a threshold). The command is
    /// appended whatever happens here: a failed catch-up leaves a longer replay for the next start,
    /// never a wrong answer. Called with no lock of the dispatcher held (a catch-up takes the seal
    /// gate exclusively).
    async fn appended(&self, records: usize) {
        if let Err(error) = self.note_appended(records).await {
            tracing::warn!(%error, "the writer state did not catch up");
        }
    }

    /// Logs a refusal or a failure with the principal, the command id and the rule; identifiers in
    /// the message are masked (issue #13 §6).
    fn log_answer(
        &self,
        principal: &Principal,
        envelope: &CommandEnvelope,
        outcome: &Result<Outcome, SubmitError>,
    ) {
        match outcome {
            Ok(answer) => {
                if let Some(refusal) = answer.refusal() {
                    tracing::info!(
                        %principal,
                        command_id = %envelope.command_id,
                        rule = %refusal.rule,
                        message = %crate::auth::mask::mask_identifiers(&refusal.message),
                        "command refused"
                    );
                }
            }
            Err(failure) => {
                tracing::info!(%principal, command_id = %envelope.command_id, error = %crate::auth::mask::mask_identifiers(&failure.to_string()), "command failed");
            }
        }
    }

    async fn decide(
        &self,
        principal: &Principal,
        envelope: &CommandEnvelope,
    ) -> Result<Outcome, SubmitError> {
        let target = match route(envelope) {
            Ok(target) => target,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let admitted = match self.admit(principal, envelope, &target).await? {
            Ok(admitted) => admitted,
            Err(answer) => return Ok(answer),
        };
        let partition_key = envelope.stream.partition_key().into_owned();
        let _serialised = self.locks.lock(partition_key).await;
        if let Some(outcome) = self.log.command_outcome(envelope.command_id).await? {
            return self.repeated(envelope, outcome, admitted.digest).await;
        }
        if let Some(expected) = envelope.expected_version {
            let actual = self.log.stream_version(&envelope.stream).await?;
            if actual != expected {
                return Err(SubmitError::Conflict {
                    stream: envelope.stream.clone(),
                    detail: format!("expected version {expected}, but the stream is at {actual}"),
                });
            }
        }
        let digest = admitted.digest;
        let meta = admitted.meta(envelope);
        if let Target::Seal(command) = target {
            return Ok(self.seal(&envelope.stream, meta, command).await?);
        }
        let sealed = self.sealed.read().await;
        if let Some(refusal) = sealed.refusal(&envelope.stream, envelope.jurisdiction) {
            return Ok(Outcome::Refused(refusal));
        }
        let handled = self.execute(&envelope.stream, meta, target).await;
        drop(sealed);
        match handled {
            Err(HandlerError::Contended { stream, attempts }) => Err(SubmitError::Conflict {
                stream,
                detail: format!("gave up after {attempts} conflicting attempts"),
            }),
            Ok(Outcome::Appended(outcome)) if outcome.duplicate => {
                // Another command with this id was appended between the check above and this
                // append (on another partition key): the same checks as for a repeat.
                self.repeated(envelope, outcome, digest).await
            }
            other => Ok(other?),
        }
    }

    /// The answer to a command id seen before: the original outcome if it was this command, a
    /// conflict if it was on another stream, `IDEMPOTENCY_KEY_REUSED` if it had other content.
    async fn repeated(
        &self,
        envelope: &CommandEnvelope,
        outcome: AppendOutcome,
        digest: ledger::log::CommandDigest,
    ) -> Result<Outcome, SubmitError> {
        if outcome.stream != envelope.stream {
            return Err(SubmitError::Conflict {
                stream: envelope.stream.clone(),
                detail: format!(
                    "command id {} was already used on stream \"{}\"",
                    envelope.command_id, outcome.stream
                ),
            });
        }
        let first = *outcome
            .positions
            .first()
            .expect("an appended command has at least one event");
        if let Some(refusal) = self.reused(envelope, first, digest).await? {
            tracing::info!(command_id = %envelope.command_id, rule = %refusal.rule, "command id reused for other content");
            return Ok(Outcome::Reused(refusal));
        }
        Ok(Outcome::Appended(AppendOutcome {
            duplicate: true,
            ..outcome
        }))
    }

    async fn execute(
        &self,
        stream_id: &StreamId,
        meta: CommandMeta,
        target: Target,
    ) -> Result<Outcome, HandlerError> {
        let command_id = meta.command_id;
        let keys = self.keys.lock().expect("key registry lock").clone();
        let decision = DecisionContext {
            calendar: &self.calendars[&meta.jurisdiction],
            rules: &self.rules,
            signatures: &keys,
            fund_bin: self.fund_bin,
        };
        let log = &*self.log;
        match target {
            Target::Contract(command) => {
                let command = Command { meta, command };
                self.contract(stream_id, &command, &decision).await
            }
            Target::Period {
                contract_id,
                period,
                command,
            } => {
                let command = Command {
                    meta,
                    command: vec![command],
                };
                self.period(stream_id, &contract_id, period, &command, &decision)
                    .await
            }
            Target::PriceList(command) => {
                let command = Command { meta, command };
                let handled = self
                    .prices
                    .execute(log, stream_id, command_id, &command, &())
                    .await?;
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            Target::Key { bin, command } => {
                let command = Command {
                    meta,
                    command: (bin, command),
                };
                let handled = self
                    .key_rings
                    .execute(log, stream_id, command_id, &command, &())
                    .await?;
                if let Handled::Appended(appended) = &handled {
                    self.learn_keys(appended).await?;
                }
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            Target::Budget { id, command } => {
                let command = Command {
                    meta,
                    command: (id, command),
                };
                let handled = self
                    .budgets
                    .execute(log, stream_id, command_id, &command, &())
                    .await?;
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            target => self.execute_kg(stream_id, meta, target, &decision).await,
        }
    }

    /// The Kyrgyz commands (A-15: decided on the KG calendar and rule set, by the KG aggregates).
    async fn execute_kg(
        &self,
        stream_id: &StreamId,
        meta: CommandMeta,
        target: Target,
        decision: &DecisionContext<'_>,
    ) -> Result<Outcome, HandlerError> {
        let command_id = meta.command_id;
        let log = &*self.log;
        match target {
            Target::KgContract(command) => {
                if let Some(refusal) = self.held_by_other(stream_id, Jurisdiction::KG).await? {
                    return Ok(Outcome::Refused(refusal));
                }
                let command = Command { meta, command };
                let handled = self
                    .kg_contracts
                    .execute(log, stream_id, command_id, &command, decision)
                    .await?;
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            Target::KgPeriod {
                contract_id,
                period,
                command,
            } => {
                let command = Command {
                    meta,
                    command: vec![command],
                };
                self.kg_period(stream_id, &contract_id, period, &command, decision)
                    .await
            }
            Target::ReferenceBook(book) => {
                let command = Command {
                    meta,
                    command: book,
                };
                let handled = self
                    .books
                    .execute(log, stream_id, command_id, &command, &())
                    .await?;
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            Target::Recovery(assessed) => {
                let command = Command {
                    meta,
                    command: assessed,
                };
                let handled = self
                    .recoveries
                    .execute(log, stream_id, command_id, &command, &())
                    .await?;
                Ok(outcome(handled, |error| (error.rule(), error.to_string())))
            }
            Target::KgDispute {
                contract_id,
                dispute_id,
                command,
            } => {
                self.kg_dispute(stream_id, &contract_id, dispute_id, command, meta)
                    .await
            }
            kz => unreachable!("{kz:?} is a KZ target, executed by `execute`"),
        }
    }

    /// A KG settlement command, decided under the KG contract (same partition), the Reference Book,
    /// the contract's other periods and the pharmacy's recoveries (issue #4, `kg_context`). The
    /// contract's lock (its partition key, taken in `submit`) is held through the append, so that the
    /// next KG command of any period of this contract sees this one's dispensings.
    async fn kg_period(
        &self,
        stream_id: &StreamId,
        contract_id: &str,
        period: ReportingPeriod,
        command: &Command<Vec<KgPeriodCommand>>,
        decision: &DecisionContext<'_>,
    ) -> Result<Outcome, HandlerError> {
        let log = &*self.log;
        let contract_stream = match self.own_contract(contract_id, Jurisdiction::KG).await? {
            Ok(stream) => stream,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let (contract, _) = self.kg_contracts.load(log, &contract_stream).await?;
        let (books, _) = self
            .books
            .load(log, &stream(REFERENCE_BOOK_STREAM.to_owned()))
            .await?;
        let assessed = match &contract.applicant {
            Some(tin) => {
                let debtor = Debtor::Pharmacy(tin.to_string());
                let (assessed, _) = self
                    .recoveries
                    .load(log, &stream(recovery_stream(&debtor)))
                    .await?;
                assessed
            }
            None => Recoveries::new(),
        };
        let (history, recoveries) = self
            .kg_history
            .context(log, &contract_stream, stream_id, assessed)
            .await?;
        let context = KgPeriodContext {
            decision,
            contract: &contract,
            books: &books,
            patient_limits: &self.patient_limits,
            policy: &self.kg_policy,
            period,
            history: &history,
            recoveries: &recoveries,
        };
        let handled = self
            .kg_periods
            .execute(log, stream_id, command.meta.command_id, command, &context)
            .await?;
        Ok(outcome(handled, |error| (error.rule(), error.to_string())))
    }

    /// A KG dispute command (X-01…X-03, D-12, A-27), decided under the contract's lock (its partition
    /// key), the one a KG period decision holds through its append: a claim and the payment report that closes its window
    /// are decided one after the other, and the claim reads the report if it came first.
    async fn kg_dispute(
        &self,
        stream_id: &StreamId,
        contract_id: &str,
        dispute_id: String,
        command: KgDisputeCommand,
        meta: CommandMeta,
    ) -> Result<Outcome, HandlerError> {
        let log = &*self.log;
        let contract_stream = match self.own_contract(contract_id, Jurisdiction::KG).await? {
            Ok(stream) => stream,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let dispute_command = match command {
            KgDisputeCommand::File(claim) => {
                let period = period_stream(contract_id, claim.dispensing_month());
                let report_submitted_at = self
                    .kg_history
                    .report_submitted_at(log, &contract_stream, &period)
                    .await?;
                DisputeCommand::File(claim.into_domain(report_submitted_at))
            }
            KgDisputeCommand::Resolve(resolve) => DisputeCommand::Resolve(resolve.into()),
        };
        let command = Command {
            meta,
            command: (dispute_id, dispute_command),
        };
        let handled = self
            .disputes
            .execute(log, stream_id, command.meta.command_id, &command, &())
            .await?;
        Ok(match handled {
            Handled::Appended(appended) => Outcome::Appended(appended),
            Handled::Rejected(error) => Outcome::Refused(dispute::refusal(&error)),
        })
    }

    /// The stream `contract/<contract_id>` a `given`-jurisdiction period or dispute command is decided
    /// under, or the A-15 refusal when it holds the other jurisdiction's contract.
    async fn own_contract(
        &self,
        contract_id: &str,
        given: Jurisdiction,
    ) -> Result<Result<StreamId, Refusal>, HandlerError> {
        let contract = contract_stream(contract_id);
        Ok(match self.held_by_other(&contract, given).await? {
            Some(refusal) => Err(refusal),
            None => Ok(contract),
        })
    }

    /// the refusal of a `given`-jurisdiction command on `contract` when that stream already holds
    /// a contract of the other jurisdiction's aggregate (a KZ application names its jurisdiction; the
    /// KG aggregate records its contract id on the application).
    async fn held_by_other(
        &self,
        contract: &StreamId,
        given: Jurisdiction,
    ) -> Result<Option<Refusal>, HandlerError> {
        let log = &*self.log;
        let held = match given {
            Jurisdiction::KG => {
                let (state, _) = self.contracts.load(log, contract).await?;
                state.jurisdiction.map(|_| Jurisdiction::KZ)
            }
            Jurisdiction::KZ => {
                let (state, _) = self.kg_contracts.load(log, contract).await?;
                state.contract_id.map(|_| Jurisdiction::KG)
            }
        };
        Ok(held.map(|held| other_aggregate(contract, held, given)))
    }

    /// A contract command; one on an existing contract is decided under the contract's jurisdiction.
    async fn contract(
        &self,
        stream_id: &StreamId,
        command: &Command<ContractCommand>,
        decision: &DecisionContext<'_>,
    ) -> Result<Outcome, HandlerError> {
        let log = &*self.log;
        if let Some(refusal) = self.held_by_other(stream_id, Jurisdiction::KZ).await? {
            return Ok(Outcome::Refused(refusal));
        }
        if !matches!(command.command, ContractCommand::ReceiveApplication(_)) {
            let (contract, _) = self.contracts.load(log, stream_id).await?;
            if let Some(refusal) = foreign(&contract, command.meta.jurisdiction, stream_id) {
                return Ok(Outcome::Refused(refusal));
            }
        }
        let handled = self
            .contracts
            .execute(log, stream_id, command.meta.command_id, command, decision)
            .await?;
        Ok(outcome(handled, |error| (error.rule(), error.to_string())))
    }

    /// A period command, decided under the contract (same partition) and the price list of its
    /// jurisdiction.
    async fn period(
        &self,
        stream_id: &StreamId,
        contract_id: &str,
        period: ReportingPeriod,
        command: &Command<Vec<PeriodCommand>>,
        decision: &DecisionContext<'_>,
    ) -> Result<Outcome, HandlerError> {
        let log = &*self.log;
        let contract_stream = match self.own_contract(contract_id, Jurisdiction::KZ).await? {
            Ok(stream) => stream,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let (contract, _) = self.contracts.load(log, &contract_stream).await?;
        if let Some(refusal) = foreign(&contract, command.meta.jurisdiction, stream_id) {
            return Ok(Outcome::Refused(refusal));
        }
        let prices_stream = stream(format!("reference/prices/{}", command.meta.jurisdiction));
        let (prices, _) = self.prices.load(log, &prices_stream).await?;
        let context = PeriodContext {
            decision,
            contract: &contract,
            prices: &prices,
            period,
            index: &self.index,
        };
        let _packs = self
            .key_locks
            .lock_all(uniqueness_keys(&command.command))
            .await;
        let handled = self
            .periods
            .execute(log, stream_id, command.meta.command_id, command, &context)
            .await?;
        if let Handled::Appended(appended) = &handled {
            self.index.apply_appended(&*self.log, appended).await?;
        }
        Ok(outcome(handled, |error| (error.rule(), error.to_string())))
    }

    /// Folds the key events just appended into the registry the signature checks consult, and
    /// keeps them in the writer's state.
    async fn learn_keys(&self, appended: &AppendOutcome) -> Result<(), HandlerError> {
        let events = crate::writer::appended_events(&*self.log, appended).await?;
        for (event, position) in events.iter().zip(&appended.positions) {
            self.state.record_reference(*position, event)?;
        }
        let mut registry = self.keys.lock().expect("key registry lock");
        for event in &events {
            if let Ok(event) = KeyEvent::try_from(event) {
                registry.apply(&event);
            }
        }
        Ok(())
    }

    /// Counts appended records; past [`CATCH_UP_RECORDS`] the writer's state catches its checkpoint
    /// up with the log, under the exclusive seal gate (no command in flight), so that a restart
    /// replays at most about that many records.
    async fn note_appended(&self, records: usize) -> Result<(), HandlerError> {
        use std::sync::atomic::Ordering;
        let records = u64::try_from(records).expect("usize fits in u64");
        let total = self
            .appended_since_catch_up
            .fetch_add(records, Ordering::Relaxed)
            + records;
        if total < CATCH_UP_RECORDS {
            return Ok(());
        }
        self.catch_up_state().await
    }

    /// Catches the writer's state up with the log and makes it durable (also on a graceful stop).
    pub async fn catch_up_state(&self) -> Result<(), HandlerError> {
        let _quiet = self.sealed.write().await;
        self.appended_since_catch_up
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let replayed = self.state.catch_up(&self.log).await?;
        self.state.flush()?;
        tracing::debug!(replayed, "writer state caught up");
        Ok(())
    }
}

/// the refusal of a command whose envelope names another jurisdiction than its contract's.
fn foreign(contract: &ContractState, given: Jurisdiction, stream: &StreamId) -> Option<Refusal> {
    let stated = contract.jurisdiction?;
    (stated != given).then(|| jurisdiction_refusal(given, stated, stream.as_str()))
}

/// the refusal of a command of one jurisdiction's aggregate on a contract of the other's. The
/// stream shapes are shared (same partition for a contract and its periods); the aggregates are not.
fn other_aggregate(contract: &StreamId, held: Jurisdiction, given: Jurisdiction) -> Refusal {
    Refusal {
        rule: "A-15".into(),
        field: Some("command.type".into()),
        message: format!(
            "\"{contract}\" holds a {held} contract; a {given} command cannot be decided on it (KZ and KG contracts are separate aggregates)"
        ),
    }
}

/// Maps a handler result to an outcome, naming a rejection's rule.
fn outcome<R>(handled: Handled<R>, explain: impl FnOnce(&R) -> (&'static str, String)) -> Outcome {
    match handled {
        Handled::Appended(appended) => Outcome::Appended(appended),
        Handled::Rejected(rejection) => {
            let (rule, message) = explain(&rejection);
            Outcome::Refused(Refusal {
                rule: rule.to_owned(),
                field: None,
                message,
            })
        }
    }
}
