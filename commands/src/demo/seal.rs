//! The demo seals each month once its acts and settlements are paid (issue #15 §1): the Fund reads
//! what the log holds for the month (`audit::seal::observe`), signs it, and appends `PeriodSealed`;
//! from then on the month's period streams refuse every command (SEAL-01).

use anyhow::bail;
use ledger::domain::context::local_date;
use ledger::domain::error::DomainError;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::seal::{self, SealContext, SealPeriod};
use ledger::domain::values::ReportingPeriod;
use ledger::log::{CommandId, StreamId};

use super::engine::{Engine, stream};
use super::kg::kg_local;
use super::setup::kz_local;
use crate::audit::seal::{Observation, ReadSpan, observe_from};
use crate::handler::Handled;
use crate::writer::{Command, decode};
use crate::writer_state::layout::Cursor;

/// SEAL-01 for the demo's own period commands: a command already appended is a re-run (it appends
/// nothing, so it passes); a new one on a sealed month is refused.
pub async fn check_unsealed(
    engine: &Engine,
    stream_id: &StreamId,
    jurisdiction: Jurisdiction,
    command_id: CommandId,
) -> anyhow::Result<Result<(), DomainError>> {
    if engine.log.command_outcome(command_id).await?.is_some() {
        return Ok(Ok(()));
    }
    let sealed = engine.sealed.lock().expect("sealed months lock");
    Ok(sealed.check(stream_id, jurisdiction))
}

/// Seals `period` in `jurisdiction`, dated at 10:00 local on the day after the month's last event
/// (and after the month's end, SEAL-03). A month without events is not sealed.
pub async fn seal_month(
    engine: &Engine,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
) -> anyhow::Result<()> {
    let stream_id = stream(seal::stream_id(jurisdiction, period));
    let command_id = engine.command_id(stream_id.as_str());
    if engine.log.command_outcome(command_id).await?.is_none() {
        let mut observed = observe_month(engine, jurisdiction, period).await?;
        let Some(last) = observed.last_occurred_at else {
            return Ok(());
        };
        let day = local_date(jurisdiction, last).max(period.last_day()) + chrono::Duration::days(1);
        let sealed_at = match jurisdiction {
            Jurisdiction::KZ => kz_local(day, 10),
            Jurisdiction::KG => kg_local(day, 10),
        };
        observed.content.sealed_at = sealed_at;
        let content = observed.content;
        let signature = engine
            .signers
            .sign(engine.fund_bin, &content.document_hash().0);
        let meta = engine.meta(
            stream_id.as_str(),
            sealed_at,
            jurisdiction,
            engine.fund_actor(),
        );
        let keys = engine.keys.lock().expect("key registry lock").clone();
        let decision = match jurisdiction {
            Jurisdiction::KZ => engine.decision(&keys),
            Jurisdiction::KG => engine.kg_decision(&keys),
        };
        let context = SealContext {
            decision: &decision,
            observed: &content,
        };
        let command = Command {
            meta,
            command: SealPeriod {
                seal: content.clone(),
                signature,
            },
        };
        let handled = engine
            .seals
            .execute(&*engine.log, &stream_id, command_id, &command, &context)
            .await?;
        if let Handled::Rejected(refused) = handled {
            bail!("the seal of {stream_id} was refused: {refused}");
        }
    }
    for envelope in engine
        .log
        .read_stream(&stream_id, ledger::log::StreamVersion(1))
        .await?
    {
        let event = decode(&envelope)?;
        engine
            .sealed
            .lock()
            .expect("sealed months lock")
            .apply(&event);
    }
    Ok(())
}

/// What the log holds for the month, read where the writer's state says the month lies (issue #16),
/// or in the whole log for an engine without one.
async fn observe_month(
    engine: &Engine,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
) -> anyhow::Result<Observation> {
    let spans = match &engine.state {
        Some(state) => state.period_spans(jurisdiction, period),
        None => {
            let whole = ReadSpan {
                from: Cursor::default(),
                to: None,
            };
            let partitions = usize::try_from(engine.log.partitions()).expect("u32 fits in usize");
            vec![vec![whole]; partitions]
        }
    };
    let observed = observe_from(
        &*engine.log,
        &engine.rules,
        jurisdiction,
        period,
        ledger::domain::time::Timestamp::EPOCH,
        &spans,
    )
    .await?;
    Ok(observed)
}
