//! `SealPeriod` in the JSON writer (issue #15, docs/domain.md "Period seals"): the seal is decided
//! against what the log holds for the month, read under the exclusive seal gate so that no period
//! command of this writer appends between the read and the seal.

use ledger::domain::context::DecisionContext;
use ledger::domain::seal::{SealContext, SealPeriod};
use ledger::log::StreamId;

use super::{Dispatcher, Outcome, outcome};
use crate::audit::AuditError;
use crate::audit::seal::observe_from;
use crate::handler::{Handled, HandlerError};
use crate::writer::{Command, CommandMeta, appended_events};

impl Dispatcher {
    /// Decides and appends a seal; on success the month joins the sealed set (SEAL-01).
    pub(super) async fn seal(
        &self,
        stream_id: &StreamId,
        meta: CommandMeta,
        command: SealPeriod,
    ) -> Result<Outcome, HandlerError> {
        let mut sealed = self.sealed.write().await;
        let seal = &command.seal;
        let spans = self.state.period_spans(seal.jurisdiction, seal.period);
        let observation = observe_from(
            &*self.log,
            &self.rules,
            seal.jurisdiction,
            seal.period,
            seal.sealed_at,
            &spans,
        )
        .await
        .map_err(|error| match error {
            AuditError::Log(error) => HandlerError::Log(error),
            AuditError::Handler(error) => error,
            AuditError::Output(error) => unreachable!("observing writes nothing: {error}"),
        })?;
        let keys = self.keys.lock().expect("key registry lock").clone();
        let decision = DecisionContext {
            calendar: &self.calendars[&seal.jurisdiction],
            rules: &self.rules,
            signatures: &keys,
            fund_bin: self.fund_bin,
        };
        let context = SealContext {
            decision: &decision,
            observed: &observation.content,
        };
        let command_id = meta.command_id;
        let command = Command { meta, command };
        let handled = self
            .seals
            .execute(&*self.log, stream_id, command_id, &command, &context)
            .await?;
        if let Handled::Appended(appended) = &handled {
            let events = appended_events(&*self.log, appended).await?;
            for (event, position) in events.iter().zip(&appended.positions) {
                self.state.record_reference(*position, event)?;
                sealed.apply(event);
            }
        }
        Ok(outcome(handled, |error| (error.rule(), error.to_string())))
    }
}
