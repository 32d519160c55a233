//! The demo's KG prescription disputes (X-01…X-03, D-12, A-27; S002 §48–50), decided by the dispute
//! aggregate with the context the JSON writer reads (the period's first report submission, from
//! `kg_context`): a claim about a sale, filed in the dispensing month before the report and resolved
//! by a commission of three in a protocol; and a claim after the report, which the law refuses.

use anyhow::bail;
use ledger::domain::calendar::local_date;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::dispute::{
    DisputeCommand, DisputeDecision, FileDisputeClaim, ResolveDispute,
};
use ledger::domain::period::kg::{KgDispensingRecorded, KgPeriodState};
use ledger::domain::time::Timestamp;

use super::period::KgMonth;
use super::{kg_local, mhif_actor, pharmacy_actor};
use crate::demo::engine::{contract_stream, stream};
use crate::demo::world::World;
use crate::handler::Handled;
use crate::submit::dispute::dispute_stream;
use crate::writer::Command;

/// The sale the claims are about: the first of the month dispensed by the 25th.
fn disputed(state: &KgPeriodState) -> Option<KgDispensingRecorded> {
    state
        .lines()
        .into_iter()
        .find(|line| chrono::Datelike::day(&line.dispensing.dispensed_on) <= 25)
        .cloned()
}

/// Decides one dispute command as `actor`; the refusal, if the law refuses it.
async fn decide(
    month: &KgMonth<'_>,
    dispute_id: &str,
    name: &str,
    at: Timestamp,
    actor: ledger::log::Actor,
    command: DisputeCommand,
) -> anyhow::Result<Option<ledger::domain::kg::dispute::DisputeError>> {
    let engine = month.engine;
    let contract_id = &month.pharmacy.contract_id;
    let stream_name = dispute_stream(contract_id, dispute_id);
    let meta = engine.meta(
        &format!("{stream_name}/{name}"),
        at,
        Jurisdiction::KG,
        actor,
    );
    let command_id = meta.command_id;
    let command = Command {
        meta,
        command: (dispute_id.to_owned(), command),
    };
    let handled = engine
        .disputes
        .execute(
            &*engine.log,
            &stream(stream_name),
            command_id,
            &command,
            &(),
        )
        .await?;
    Ok(match handled {
        Handled::Appended(_) => None,
        Handled::Rejected(refusal) => Some(refusal),
    })
}

/// The claim command about `line`, filed at `filed_at`, judged against the period's first report.
async fn claim(
    month: &KgMonth<'_>,
    dispute_id: &str,
    line: &KgDispensingRecorded,
    filed_at: Timestamp,
) -> anyhow::Result<DisputeCommand> {
    let engine = month.engine;
    let contract = contract_stream(&month.pharmacy.contract_id);
    let report_submitted_at = engine
        .kg_history
        .report_submitted_at(&*engine.log, &contract, &month.stream())
        .await?;
    Ok(DisputeCommand::File(FileDisputeClaim {
        dispute_id: dispute_id.to_owned(),
        contract_id: month.pharmacy.contract_id.clone(),
        prescription_number: line.prescription.number.clone(),
        dispensed_on: line.dispensing.dispensed_on,
        filed_at,
        filed_on: local_date(Jurisdiction::KG, filed_at),
        claimant: month.pharmacy.name.clone(),
        claim: format!(
            "the patient of prescription \"{}\" disputes that {} units were dispensed",
            line.prescription.number, line.dispensing.units
        ),
        report_submitted_at,
    }))
}

/// a claim in the window (the 28th of the dispensing month, before the report),
/// resolved on the month's last day by a commission of three, paid in full.
pub async fn file_and_resolve(
    month: &KgMonth<'_>,
    world: &World,
    state: &KgPeriodState,
) -> anyhow::Result<()> {
    let Some(line) = disputed(state) else {
        return Ok(());
    };
    let key = format!("{}-{}", month.pharmacy.contract_id, month.period.key());
    let dispute_id = format!("DSP-{key}-1");
    let last_day = month.period.last_day();
    let filed_on = last_day.min(month.period.first_day() + chrono::Duration::days(27));
    let filed_at = kg_local(filed_on, 10);
    let command = claim(month, &dispute_id, &line, filed_at).await?;
    let pharmacy = pharmacy_actor(month.pharmacy);
    if let Some(refusal) = decide(month, &dispute_id, "file", filed_at, pharmacy, command).await? {
        bail!("the dispute claim {dispute_id} was refused: {refusal}");
    }
    let resolve = DisputeCommand::Resolve(ResolveDispute {
        protocol_id: format!("PR-{key}-1"),
        commission_members: vec![
            "Асанов А. Т.".to_owned(),
            "Бекова Г. С.".to_owned(),
            "Токтогулов Н. К.".to_owned(),
        ],
        decision: DisputeDecision::PayInFull,
        resolved_on: last_day,
    });
    let at = kg_local(last_day, 16);
    let mhif = mhif_actor(world);
    if let Some(refusal) = decide(month, &dispute_id, "resolve", at, mhif, resolve).await? {
        bail!("the dispute {dispute_id} was not resolved: {refusal}");
    }
    Ok(())
}

/// A-27, D-12: a second claim about the same sale, filed on the 6th of the next month, after the
/// window closed and the report went in: refused, counted by its rule.
pub async fn file_late(month: &KgMonth<'_>, state: &KgPeriodState) -> anyhow::Result<()> {
    let Some(line) = disputed(state) else {
        return Ok(());
    };
    let dispute_id = format!(
        "DSP-{}-{}-2",
        month.pharmacy.contract_id,
        month.period.key()
    );
    let filed_at = kg_local(month.period.last_day() + chrono::Duration::days(6), 10);
    let command = claim(month, &dispute_id, &line, filed_at).await?;
    let pharmacy = pharmacy_actor(month.pharmacy);
    match decide(month, &dispute_id, "file", filed_at, pharmacy, command).await? {
        Some(refusal) => month.engine.kg_refusals.record_claim(refusal.rule()),
        None => bail!("the late dispute claim {dispute_id} was accepted against A-27"),
    }
    Ok(())
}
