//! What every KG period command of the demo is decided against, as the JSON writer decides it: the
//! KG contract of the stream, the Reference Books on the log, the contract's other periods and the
//! pharmacy's outstanding recoveries (`kg_context::KgPeriodCache`, the writer's cache), the KG
//! calendar and rule set, and the demo's KG policy (A-18: remainders stay open until expiry;
//! A-19 warns).

use chrono::NaiveDate;
use ledger::domain::contract::kg::KgContractState;
use ledger::domain::error::DomainError;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::PatientLimitSchedule;
use ledger::domain::kg::ReferenceBooks;
use ledger::domain::kg::recovery::{Debtor, Recoveries};
use ledger::domain::period::kg::{KgPeriodCommand, KgPeriodContext};
use ledger::domain::values::ReportingPeriod;
use ledger::log::{Actor, StreamId};

use super::reference_books;
use crate::demo::engine::{Engine, contract_stream, period_stream, stream};
use crate::demo::world::KgPharmacy;
use crate::handler::Handled;
use crate::submit::route::recovery_stream;
use crate::writer::Command;

/// The recoveries assessed against `pharmacy` (its `recovery/pharmacy/<TIN>` stream), before the
/// offsets its settlements made.
pub async fn assessed_recoveries(
    engine: &Engine,
    pharmacy: &KgPharmacy,
) -> anyhow::Result<Recoveries> {
    let debtor = Debtor::Pharmacy(pharmacy.tin.to_string());
    let (assessed, _) = engine
        .recoveries
        .load(&*engine.log, &stream(recovery_stream(&debtor)))
        .await?;
    Ok(assessed)
}

/// One KG contract's month and what its commands are decided against: the contract (same
/// partition) and the Reference Books, as the log holds them when the month is loaded.
pub struct KgMonth<'a> {
    pub engine: &'a Engine,
    pub pharmacy: &'a KgPharmacy,
    pub period: ReportingPeriod,
    pub contract: KgContractState,
    pub books: ReferenceBooks,
}

impl<'a> KgMonth<'a> {
    pub async fn load(
        engine: &'a Engine,
        pharmacy: &'a KgPharmacy,
        period: ReportingPeriod,
    ) -> anyhow::Result<KgMonth<'a>> {
        let (contract, _) = engine
            .kg_contracts
            .load(&*engine.log, &contract_stream(&pharmacy.contract_id))
            .await?;
        Ok(KgMonth {
            engine,
            pharmacy,
            period,
            contract,
            books: reference_books(engine).await?,
        })
    }

    /// The month's settlement stream `period/<contract-id>/<YYYY-MM>`.
    pub fn stream(&self) -> StreamId {
        period_stream(&self.pharmacy.contract_id, self.period)
    }

    /// The step name `period/<contract-id>/<YYYY-MM>/<name>` (its command id derives from it).
    pub fn step(&self, name: &str) -> String {
        format!(
            "period/{}/{}/{name}",
            self.pharmacy.contract_id,
            self.period.key()
        )
    }

    /// Runs a batch of KG period commands under the command id of `step`.
    pub async fn execute(
        &self,
        step: &str,
        actor: Actor,
        commands: Vec<KgPeriodCommand>,
    ) -> anyhow::Result<Result<(), DomainError>> {
        let engine = self.engine;
        let at = commands.first().expect("a non-empty batch").at();
        let meta = engine.meta(step, at, Jurisdiction::KG, actor);
        if let Err(refused) = crate::demo::seal::check_unsealed(
            engine,
            &self.stream(),
            Jurisdiction::KG,
            meta.command_id,
        )
        .await?
        {
            return Ok(Err(refused));
        }
        let keys = engine.keys.lock().expect("key registry lock").clone();
        let decision = engine.kg_decision(&keys);
        let assessed = assessed_recoveries(engine, self.pharmacy).await?;
        let contract_stream = contract_stream(&self.pharmacy.contract_id);
        let (history, recoveries) = engine
            .kg_history
            .context(&*engine.log, &contract_stream, &self.stream(), assessed)
            .await?;
        let context = KgPeriodContext {
            decision: &decision,
            contract: &self.contract,
            books: &self.books,
            patient_limits: &PatientLimitSchedule::default(),
            policy: &engine.kg_policy,
            period: self.period,
            history: &history,
            recoveries: &recoveries,
        };
        let command_id = meta.command_id;
        let command = Command {
            meta,
            command: commands,
        };
        let outcome = engine
            .kg_periods
            .execute(&*engine.log, &self.stream(), command_id, &command, &context)
            .await?;
        Ok(match outcome {
            Handled::Appended(_) => Ok(()),
            Handled::Rejected(rejection) => Err(rejection),
        })
    }
}

/// The days of `period` inside one of the contract's validity terms (C-10).
pub fn valid_days(contract: &KgContractState, period: ReportingPeriod) -> Vec<NaiveDate> {
    period
        .first_day()
        .iter_days()
        .take_while(|day| *day <= period.last_day())
        .filter(|day| {
            contract.terms.iter().any(|term| {
                term.starts_on <= *day && term.ends_on.is_none_or(|ends_on| *day <= ends_on)
            })
        })
        .collect()
}
