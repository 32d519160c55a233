//! `ledger audit prove`, `ledger audit check-proof` and the seal part of `ledger audit verify
//! --period` (issue #15 §1, §2).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::log::{EventId, EventLog};

use super::super::{GlobalOpts, UsageError, open};
use crate::audit::proof::{InclusionProof, check, prove};
use crate::audit::seal::{SealCheck, verify_seal};
use crate::demo::engine::rule_book;

pub fn run_prove(event: &str, out: Option<&Path>, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let event_id = event.parse::<uuid::Uuid>().map(EventId).map_err(|error| {
        UsageError(format!(
            "--event {event:?} is not an event id (UUID): {error}"
        ))
    })?;
    let runtime = super::super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let proof = runtime.block_on(prove(&*log, &rule_book()?, event_id))?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match out {
        Some(path) => {
            crate::files::write_file(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "proof of {} (leaf {} of {}) written to {}",
                proof.event_id,
                proof.leaf_index,
                proof.tree_size,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_check(file: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let proof: InclusionProof = serde_json::from_str(&text).map_err(|error| {
        UsageError(format!(
            "{} is not an inclusion proof: {error}",
            file.display()
        ))
    })?;
    let mut failed = false;
    for (name, outcome) in check(&proof) {
        match outcome {
            Ok(detail) => println!("ok      {name}: {detail}"),
            Err(detail) => {
                failed = true;
                println!("FAILED  {name}: {detail}");
            }
        }
    }
    if failed {
        println!("proof: FAILED");
        Ok(ExitCode::from(2))
    } else {
        println!(
            "proof: ok: event {} is in the sealed period {} of {}",
            proof.event_id,
            proof.seal.period.key(),
            proof.seal.jurisdiction
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Checks the KZ and KG seals of `period` against the log; prints one line each; false on a failure.
pub async fn verify_seals(log: &dyn EventLog, period: &str) -> anyhow::Result<bool> {
    let (year, month) = period.split_once('-').expect("a validated YYYY-MM");
    let period = ledger::domain::values::ReportingPeriod::month(year.parse()?, month.parse()?)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let keys = super::key_registry(log).await?;
    let rules = rule_book()?;
    let mut ok = true;
    for jurisdiction in [Jurisdiction::KZ, Jurisdiction::KG] {
        match verify_seal(log, &rules, &keys, jurisdiction, period).await? {
            SealCheck::Unsealed => println!("seal {jurisdiction} {}: not sealed", period.key()),
            SealCheck::Valid(detail) => println!("seal {detail}"),
            SealCheck::Invalid(detail) => {
                ok = false;
                println!("seal FAILED: {detail}");
            }
        }
    }
    Ok(ok)
}
