//! The demo's writer: the handlers of every aggregate, the reference data and keys decisions are made
//! against, and one method per kind of command, each with a deterministic command id so that running
//! the same demo twice on one data directory appends nothing the second time.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use ledger::domain::budget::{BudgetCommand, BudgetId};
use ledger::domain::calendar::{Calendar, CalendarSet};
use ledger::domain::context::DecisionContext;
use ledger::domain::contract::kg::KgContractCommand;
use ledger::domain::contract::{ContractCommand, ContractState};
use ledger::domain::error::DomainError;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{self, KeyCommand, KeyRegistry, RegisterSigningKey};
use ledger::domain::kg::{KgPolicy, PartialDispensing};
use ledger::domain::period::{PeriodCommand, PeriodContext};
use ledger::domain::prices::{PriceListState, PublishPriceList};
use ledger::domain::rules::{RuleBook, RuleParameters, RuleSet};
use ledger::domain::signature::{SignatureCheck, SignedBy};
use ledger::domain::time::Timestamp;
use ledger::domain::values::ReportingPeriod;
use ledger::log::{Actor, ActorId, ActorRole, AppendRequest, CommandId, EventLog, StreamId};
use uuid::Uuid;

use super::kg::dispense::KgRefusals;
use super::signing::{CaptureHash, Signers};
use crate::audit::seal::{SealAggregate, SealedMonths};
use crate::handler::{Aggregate, Handled, Handler};
use crate::kg_context::KgPeriodCache;
pub use crate::uniqueness::UniquenessIndex;
use crate::writer::{
    BudgetAggregate, Command, CommandMeta, ContractAggregate, DisputeAggregate, KeyAggregate,
    KgContractAggregate, KgPeriodAggregate, PeriodAggregate, PriceListAggregate, RecoveryAggregate,
    ReferenceBookAggregate, new_events,
};

/// Everything the demo writes with.
pub struct Engine {
    pub log: Arc<dyn EventLog>,
    pub seed: u64,
    pub correlation: Uuid,
    pub fund_bin: Bin,
    pub signers: Signers,
    pub calendars: CalendarSet,
    pub kz_calendar: Calendar,
    /// The KG calendar: KG contract clocks (D-10, A-23) count on it.
    pub kg_calendar: Calendar,
    pub rules: RuleBook,
    pub keys: Mutex<KeyRegistry>,
    pub contracts: Handler<ContractAggregate>,
    pub kg_contracts: Handler<KgContractAggregate>,
    pub kg_periods: Handler<KgPeriodAggregate>,
    pub reference_books: Handler<ReferenceBookAggregate>,
    /// The scripted KG dispensings the domain refused, by rule.
    pub kg_refusals: KgRefusals,
    /// The KG writer's cross-period history and recovery offsets, as the JSON writer keeps them.
    pub kg_history: KgPeriodCache,
    /// D-11, A-18, A-19: the demo's KG policy (configuration): partial dispensings leave the rest of
    /// the course open until the prescription expires, so units are carried across months.
    pub kg_policy: KgPolicy,
    pub recoveries: Handler<RecoveryAggregate>,
    pub disputes: Handler<DisputeAggregate>,
    pub periods: Handler<PeriodAggregate>,
    /// Where the period handlers snapshot long streams (with a state directory).
    snapshots: Option<Arc<crate::handler::SnapshotStore>>,
    pub prices: Handler<PriceListAggregate>,
    pub key_rings: Handler<KeyAggregate>,
    pub budgets: Handler<BudgetAggregate>,
    pub index: UniquenessIndex,
    /// The writer's persisted state behind `index` (issue #16): caught up with the log at each
    /// month's end, when no command is in flight.
    pub state: Option<crate::writer_state::WriterState>,
    /// The KZ periods closed and dropped from the handler's cache, as the summary reads them.
    pub retired: Mutex<std::collections::HashMap<StreamId, super::summary::Retired>>,
    /// The seal streams and the months sealed so far (SEAL-01).
    pub seals: Handler<SealAggregate>,
    pub sealed: Mutex<SealedMonths>,
}

pub fn stream(text: String) -> StreamId {
    StreamId::new(text).expect("the demo builds valid stream ids")
}

pub fn contract_stream(contract_id: &str) -> StreamId {
    stream(format!("contract/{contract_id}"))
}

pub fn period_stream(contract_id: &str, period: ReportingPeriod) -> StreamId {
    stream(format!("period/{contract_id}/{}", period.key()))
}

/// The rule book of the demo. KZ: the 2025 Rules, in force 11 days after a publication taken as
/// 2024-12-20 (A-28, D-09: the real publication date is not in the seeds, so it is configuration).
/// KG: the Regulation (S002) with the RULES §4 decisions (3-day refusal, 1-year term, renewal unless
/// an objection: D-10, C-08, A-22, A-23), in force from 2025-01-01, equally configuration.
pub fn rule_book() -> anyhow::Result<RuleBook> {
    let published_on = chrono::NaiveDate::from_ymd_opt(2024, 12, 20).expect("valid date");
    let kg = RuleSet {
        jurisdiction: Jurisdiction::KG,
        version: 1,
        effective_from: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date"),
        effective_to: None,
        parameters: RuleParameters::kg_default(),
    };
    RuleBook::new(vec![RuleSet::kz_2025(1, published_on), kg])
        .map_err(|error| anyhow::anyhow!("{error}"))
}

impl Engine {
    pub fn new(
        log: Arc<dyn EventLog>,
        seed: u64,
        fund_bin: Bin,
        signers: Signers,
    ) -> anyhow::Result<Engine> {
        let calendars = CalendarSet::embedded().context("the embedded calendars must parse")?;
        let kz_calendar = calendars
            .latest(Jurisdiction::KZ)
            .context("the KZ calendar")?;
        let kg_calendar = calendars
            .latest(Jurisdiction::KG)
            .context("the KG calendar")?;
        Ok(Engine {
            log,
            seed,
            correlation: Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("ledger-demo/{seed}").as_bytes(),
            ),
            fund_bin,
            signers,
            calendars,
            kz_calendar,
            kg_calendar,
            rules: rule_book()?,
            keys: Mutex::new(KeyRegistry::new()),
            contracts: Handler::default(),
            kg_contracts: Handler::default(),
            kg_periods: Handler::default(),
            reference_books: Handler::default(),
            kg_refusals: KgRefusals::default(),
            kg_history: KgPeriodCache::default(),
            kg_policy: KgPolicy {
                partial_dispensing: PartialDispensing::RemainderUntilExpiry,
                ..KgPolicy::default()
            },
            recoveries: Handler::default(),
            disputes: Handler::default(),
            periods: Handler::default(),
            snapshots: None,
            prices: Handler::default(),
            key_rings: Handler::default(),
            budgets: Handler::default(),
            index: UniquenessIndex::default(),
            state: None,
            retired: Mutex::new(std::collections::HashMap::new()),
            seals: Handler::default(),
            sealed: Mutex::new(SealedMonths::default()),
        })
    }

    /// Writes on the writer's persisted state (its M-06 index, keys and seals) from here on.
    pub fn with_state(mut self, loaded: crate::writer_state::Loaded) -> Engine {
        self.index = loaded.index;
        self.state = Some(loaded.state);
        self
    }

    /// Snapshots the period streams in `snapshots` (issue #16 §1; none: no snapshots). Called before
    /// any stream is loaded.
    pub fn with_snapshots(
        mut self,
        snapshots: Option<Arc<crate::handler::SnapshotStore>>,
    ) -> Engine {
        self.periods = Handler::with_snapshots(snapshots.clone());
        self.kg_periods = Handler::with_snapshots(snapshots.clone());
        self.snapshots = snapshots;
        self
    }

    /// What the snapshot store wrote (none without a state directory).
    pub fn snapshot_stats(&self) -> Option<crate::handler::SnapshotStats> {
        self.snapshots.as_ref().map(|store| {
            store.flush();
            store.stats()
        })
    }

    /// Catches the writer's state up with the log (the demo calls it between phases, when no
    /// command is in flight).
    pub async fn catch_up_state(&self) -> anyhow::Result<()> {
        if let Some(state) = &self.state {
            state.catch_up(&self.log).await?;
            state.flush()?;
        }
        Ok(())
    }

    /// Summarises a closed KZ period and drops its state from the cache (DESIGN §10: memory is
    /// bounded by open work; a closed period's decisions no longer change).
    pub async fn retire_period(
        &self,
        contract_id: &str,
        period: ReportingPeriod,
    ) -> anyhow::Result<()> {
        let stream_id = period_stream(contract_id, period);
        let retired = self
            .periods
            .inspect(&*self.log, &stream_id, |state| {
                super::summary::Retired::of(state, period)
            })
            .await?;
        self.periods.evict(&stream_id);
        self.retired
            .lock()
            .expect("retired periods lock")
            .insert(stream_id, retired);
        Ok(())
    }

    /// A deterministic command id: the same demo step always has the same id.
    pub fn command_id(&self, step: &str) -> CommandId {
        CommandId::derived(&format!("ledger-demo/{}", self.seed), step)
    }

    pub fn meta(
        &self,
        step: &str,
        at: Timestamp,
        jurisdiction: Jurisdiction,
        actor: Actor,
    ) -> CommandMeta {
        CommandMeta {
            command_id: self.command_id(step),
            at,
            jurisdiction,
            actor,
            correlation_id: self.correlation,
            digest: None,
        }
    }

    pub fn fund_actor(&self) -> Actor {
        Actor::new(ActorId::Organisation(self.fund_bin), ActorRole::Fund)
    }

    pub fn pharmacy_actor(bin: Bin) -> Actor {
        Actor::new(ActorId::Organisation(bin), ActorRole::Pharmacy)
    }

    /// Appends reference events that have no aggregate of their own (published calendars).
    pub async fn publish_raw(
        &self,
        stream_id: StreamId,
        step: &str,
        meta: CommandMeta,
        events: Vec<ledger::domain::event::Event>,
    ) -> anyhow::Result<()> {
        let command_id = self.command_id(step);
        if self.log.command_outcome(command_id).await?.is_some() {
            return Ok(());
        }
        let expected = self.log.stream_version(&stream_id).await?;
        let request = AppendRequest {
            stream: stream_id,
            expected,
            command_id,
            events: new_events(events, &meta),
        };
        self.log.append(request).await?;
        Ok(())
    }

    /// Runs a command of an aggregate that needs no decision context; a refusal is an error naming
    /// `what` (the demo never expects one).
    async fn execute_plain<A>(
        &self,
        handler: &Handler<A>,
        stream_id: &StreamId,
        command_id: CommandId,
        command: &A::Command,
        what: &str,
    ) -> anyhow::Result<()>
    where
        A: for<'c> Aggregate<Context<'c> = ()>,
    {
        if let Handled::Rejected(rejection) = handler
            .execute(&*self.log, stream_id, command_id, command, &())
            .await?
        {
            bail!("{what} was refused: {rejection}");
        }
        Ok(())
    }

    /// Registers the signing key of every organisation the demo signs for (S-01…S-04).
    pub async fn register_keys(&self, at: Timestamp) -> anyhow::Result<()> {
        let valid_to = Timestamp::parse_rfc3339("2028-12-31T23:59:59Z").expect("valid instant");
        let bins: Vec<Bin> = self.signers.bins().collect();
        for bin in bins {
            let key_id = keys::KeyId::new(&Signers::key_id(bin))
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            let command = KeyCommand::Register(RegisterSigningKey {
                key_id,
                public_key: self.signers.public_key_hex(bin),
                valid_from: Timestamp::parse_rfc3339("2025-01-01T00:00:00Z")
                    .expect("valid instant"),
                valid_to,
                signatory_iin: None,
            });
            let meta = self.meta(
                &format!("keys/{bin}/register"),
                at,
                Jurisdiction::KZ,
                Engine::pharmacy_actor(bin),
            );
            let stream_id = stream(keys::stream_id(bin));
            let what = format!("registering the key of {bin}");
            let command_id = meta.command_id;
            let command = Command {
                meta,
                command: (bin, command),
            };
            self.execute_plain(&self.key_rings, &stream_id, command_id, &command, &what)
                .await?;
        }
        self.rebuild_keys().await
    }

    /// Re-folds every signer's `keys/<BIN>` stream into the registry the signature checks consult.
    pub async fn rebuild_keys(&self) -> anyhow::Result<()> {
        let mut registry = KeyRegistry::new();
        let bins: Vec<Bin> = self.signers.bins().collect();
        for bin in bins {
            let stream_id = stream(keys::stream_id(bin));
            for envelope in self
                .log
                .read_stream(&stream_id, ledger::log::StreamVersion(1))
                .await?
            {
                let event = crate::writer::decode(&envelope)?;
                if let Ok(key_event) = keys::KeyEvent::try_from(&event) {
                    registry.apply(&key_event);
                }
            }
        }
        *self.keys.lock().expect("key registry lock") = registry;
        Ok(())
    }

    /// Publishes the KZ limit-price list.
    pub async fn publish_prices(&self, command: PublishPriceList) -> anyhow::Result<()> {
        let meta = self.meta(
            "reference/prices/KZ/v1",
            command.published_at,
            Jurisdiction::KZ,
            self.fund_actor(),
        );
        let stream_id = stream("reference/prices/KZ".into());
        let command_id = meta.command_id;
        let command = Command { meta, command };
        self.execute_plain(
            &self.prices,
            &stream_id,
            command_id,
            &command,
            "publishing the price list",
        )
        .await
    }

    /// Runs one budget command (A-20, A-21, B-07).
    pub async fn budget(
        &self,
        step: &str,
        at: Timestamp,
        id: BudgetId,
        command: BudgetCommand,
    ) -> anyhow::Result<()> {
        let meta = self.meta(step, at, id.jurisdiction(), self.fund_actor());
        let stream_id = stream(id.stream_id());
        let what = format!("budget command {step}");
        let command_id = meta.command_id;
        let command = Command {
            meta,
            command: (id, command),
        };
        self.execute_plain(&self.budgets, &stream_id, command_id, &command, &what)
            .await
    }

    /// The KZ decision context with the given signature check.
    pub fn decision<'a>(&'a self, signatures: &'a dyn SignatureCheck) -> DecisionContext<'a> {
        DecisionContext {
            calendar: &self.kz_calendar,
            rules: &self.rules,
            signatures,
            fund_bin: self.fund_bin,
        }
    }

    /// Runs a contract command; `sign` builds the command from a signature over the document hash the
    /// domain asks for (two-step signing), or is None for unsigned commands.
    pub async fn contract(
        &self,
        contract_id: &str,
        meta: CommandMeta,
        build: impl Fn(Option<SignedBy>) -> ContractCommand,
        signer: Option<Bin>,
    ) -> anyhow::Result<Result<(), DomainError>> {
        let stream_id = contract_stream(contract_id);
        let signature = match signer {
            None => None,
            Some(bin) => {
                let probe = Command {
                    meta: meta.clone(),
                    command: build(Some(Signers::placeholder(bin))),
                };
                let signed = self.sign_for(&self.contracts, &stream_id, bin, |state, check| {
                    let _ = ContractAggregate::decide(state, &probe, &self.decision(check));
                });
                Some(signed.await?)
            }
        };
        let command = Command {
            meta: meta.clone(),
            command: build(signature),
        };
        let keys = self.keys.lock().expect("key registry lock").clone();
        let outcome = self
            .contracts
            .execute(
                &*self.log,
                &stream_id,
                meta.command_id,
                &command,
                &self.decision(&keys),
            )
            .await?;
        Ok(match outcome {
            Handled::Appended(_) => Ok(()),
            Handled::Rejected(rejection) => Err(rejection),
        })
    }

    /// The KG decision context: the KG calendar; the rule book holds the KG rule set.
    pub fn kg_decision<'a>(&'a self, signatures: &'a dyn SignatureCheck) -> DecisionContext<'a> {
        DecisionContext {
            calendar: &self.kg_calendar,
            rules: &self.rules,
            signatures,
            fund_bin: self.fund_bin,
        }
    }

    /// Runs a KG contract command on the KG calendar and rule set. KG contract documents carry
    /// no signature yet (see `contract::kg`); the registry is passed for when they do.
    pub async fn kg_contract(
        &self,
        contract_id: &str,
        meta: CommandMeta,
        command: KgContractCommand,
    ) -> anyhow::Result<Result<(), DomainError>> {
        let keys = self.keys.lock().expect("key registry lock").clone();
        let context = self.kg_decision(&keys);
        let command_id = meta.command_id;
        let command = Command { meta, command };
        let outcome = self
            .kg_contracts
            .execute(
                &*self.log,
                &contract_stream(contract_id),
                command_id,
                &command,
                &context,
            )
            .await?;
        Ok(match outcome {
            Handled::Appended(_) => Ok(()),
            Handled::Rejected(rejection) => Err(rejection),
        })
    }

    /// Two-step signing (S-01…S-04): `probe` decides the command once, against a copy of the stream's
    /// state, with a check that records the document hash the domain asks for; that hash is signed as
    /// `bin`. When the probe is refused before any signature is checked, a placeholder comes back and
    /// the real decision reports the refusal.
    async fn sign_for<A: Aggregate>(
        &self,
        handler: &Handler<A>,
        stream_id: &StreamId,
        bin: Bin,
        probe: impl FnOnce(&mut A::State, &dyn SignatureCheck),
    ) -> anyhow::Result<SignedBy> {
        let (mut state, _) = handler.load(&*self.log, stream_id).await?;
        let capture = CaptureHash::default();
        probe(&mut state, &capture);
        Ok(capture.take().map_or_else(
            || Signers::placeholder(bin),
            |hash| self.signers.sign(bin, &hash),
        ))
    }

    /// The contract and price list a period command is decided under (same partition / reference).
    pub async fn period_inputs(
        &self,
        contract_id: &str,
    ) -> anyhow::Result<(ContractState, PriceListState)> {
        let (contract, _) = self
            .contracts
            .load(&*self.log, &contract_stream(contract_id))
            .await?;
        let (prices, _) = self
            .prices
            .load(&*self.log, &stream("reference/prices/KZ".into()))
            .await?;
        Ok((contract, prices))
    }

    /// Runs a batch of period commands under one command id; `signer` asks for two-step signing of
    /// the (single) document command in the batch, built by `build`.
    pub async fn period(
        &self,
        contract_id: &str,
        period: ReportingPeriod,
        meta: CommandMeta,
        build: impl Fn(Option<SignedBy>) -> Vec<PeriodCommand>,
        signer: Option<Bin>,
    ) -> anyhow::Result<Result<(), DomainError>> {
        let stream_id = period_stream(contract_id, period);
        if let Err(refused) =
            super::seal::check_unsealed(self, &stream_id, Jurisdiction::KZ, meta.command_id).await?
        {
            return Ok(Err(refused));
        }
        let (contract, prices) = self.period_inputs(contract_id).await?;
        let signature = match signer {
            None => None,
            Some(bin) => {
                let probe = Command {
                    meta: meta.clone(),
                    command: build(Some(Signers::placeholder(bin))),
                };
                let signed = self.sign_for(&self.periods, &stream_id, bin, |state, check| {
                    let decision = self.decision(check);
                    let context = PeriodContext {
                        decision: &decision,
                        contract: &contract,
                        prices: &prices,
                        period,
                        index: &self.index,
                    };
                    let _ = PeriodAggregate::decide(state, &probe, &context);
                });
                Some(signed.await?)
            }
        };
        let keys = self.keys.lock().expect("key registry lock").clone();
        let decision = self.decision(&keys);
        let context = PeriodContext {
            decision: &decision,
            contract: &contract,
            prices: &prices,
            period,
            index: &self.index,
        };
        let command = Command {
            meta: meta.clone(),
            command: build(signature),
        };
        let outcome = self
            .periods
            .execute(&*self.log, &stream_id, meta.command_id, &command, &context)
            .await?;
        Ok(match outcome {
            Handled::Appended(_) => Ok(()),
            Handled::Rejected(rejection) => Err(rejection),
        })
    }
}
