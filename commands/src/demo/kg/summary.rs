//! The KG part of the demo's summary, folded from the KG contract streams and the Reference Book on
//! the log (not from what the demo meant to do), so that it shows what was actually recorded.

use chrono::NaiveDate;
use ledger::domain::calendar::local_date;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::log::StreamVersion;
use serde::Serialize;

use super::reference_books;
use crate::demo::engine::{Engine, contract_stream};
use crate::demo::world::{KgPharmacy, World};

/// The Reference Book in force at the end of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceBookSummary {
    pub version: u32,
    pub effective_from: NaiveDate,
    pub drugs: u32,
}

/// One KG contract as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct KgContractSummary {
    pub contract_id: String,
    pub pharmacy: String,
    pub tin: String,
    pub region: String,
    /// `under review`, `refused`, `concluded`, `renewed` or `expired`.
    pub status: String,
    /// The current (or last) validity term, both ends inclusive (C-08).
    pub term_starts_on: Option<NaiveDate>,
    pub term_ends_on: Option<NaiveDate>,
    /// D-10, A-23: the refusal deadline of the application, and the day a refusal was sent.
    pub refusal_due: Option<NaiveDate>,
    pub refused_on: Option<NaiveDate>,
    pub refusal_reasons: Vec<String>,
    /// an objection to the renewal was filed.
    pub objected: bool,
}

/// Counts over the KG contracts, and each contract.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KgSummary {
    pub reference_book: Option<ReferenceBookSummary>,
    pub applications: u32,
    pub concluded: u32,
    pub refused: u32,
    /// Refusals sent by their D-10 deadline.
    pub refused_on_time: u32,
    pub objections: u32,
    pub renewed: u32,
    pub expired: u32,
    pub contracts: Vec<KgContractSummary>,
}

/// Reads the KG streams of `world` back from the log.
pub async fn summarise(engine: &Engine, world: &World) -> anyhow::Result<KgSummary> {
    let books = reference_books(engine).await?;
    let mut summary = KgSummary {
        reference_book: books.latest().map(|book| ReferenceBookSummary {
            version: book.version,
            effective_from: book.effective_from,
            drugs: u32::try_from(book.entries.len()).expect("M-10 bounds the book"),
        }),
        ..KgSummary::default()
    };
    for pharmacy in &world.kg_pharmacies {
        let mut contract = empty(pharmacy);
        for envelope in engine
            .log
            .read_stream(&contract_stream(&pharmacy.contract_id), StreamVersion(1))
            .await?
        {
            fold(
                &mut summary,
                &mut contract,
                &crate::writer::decode(&envelope)?,
            );
        }
        summary.contracts.push(contract);
    }
    Ok(summary)
}

fn empty(pharmacy: &KgPharmacy) -> KgContractSummary {
    KgContractSummary {
        contract_id: pharmacy.contract_id.clone(),
        pharmacy: pharmacy.name.clone(),
        tin: pharmacy.tin.to_string(),
        region: pharmacy.region.name_en().to_owned(),
        status: "not applied".into(),
        term_starts_on: None,
        term_ends_on: None,
        refusal_due: None,
        refused_on: None,
        refusal_reasons: Vec::new(),
        objected: false,
    }
}

/// Folds one event of a KG contract stream into the contract and the counts.
fn fold(summary: &mut KgSummary, contract: &mut KgContractSummary, event: &Event) {
    let mut term = None;
    match event {
        Event::KgContractApplicationReceived(received) => {
            summary.applications += 1;
            contract.status = "under review".into();
            contract.refusal_due = Some(received.refusal.due);
        }
        Event::KgContractConcluded(concluded) => {
            summary.concluded += 1;
            contract.status = "concluded".into();
            term = Some(concluded.term);
        }
        Event::ContractRefused(refused) => {
            let refused_on = local_date(Jurisdiction::KG, refused.refused_at);
            summary.refused += 1;
            if contract.refusal_due.is_some_and(|due| refused_on <= due) {
                summary.refused_on_time += 1;
            }
            contract.status = "refused".into();
            contract.refused_on = Some(refused_on);
            contract.refusal_reasons = refused.reasons.iter().map(|r| r.detail.clone()).collect();
        }
        Event::ContractObjectionFiled(_) => {
            summary.objections += 1;
            contract.objected = true;
        }
        Event::ContractRenewed(renewed) => {
            summary.renewed += 1;
            contract.status = "renewed".into();
            term = Some(renewed.term);
        }
        Event::ContractExpired(_) => {
            summary.expired += 1;
            contract.status = "expired".into();
        }
        _ => {}
    }
    if let Some(term) = term {
        contract.term_starts_on = Some(term.starts_on);
        contract.term_ends_on = term.ends_on;
    }
}

/// The KG section of the summary as a person reads it.
pub fn render(out: &mut String, kg: &KgSummary) {
    use std::fmt::Write;
    let book = kg.reference_book.as_ref().map_or_else(
        || "no Reference Book".to_owned(),
        |book| {
            format!(
                "Reference Book v{} ({} drugs) from {}",
                book.version, book.drugs, book.effective_from
            )
        },
    );
    let _ = writeln!(
        out,
        "\n  KG additional programme: {} applications, {} concluded, {} refused ({} on time), \
         {} objections, {} renewed, {} expired; {book}",
        kg.applications,
        kg.concluded,
        kg.refused,
        kg.refused_on_time,
        kg.objections,
        kg.renewed,
        kg.expired
    );
    for contract in &kg.contracts {
        let detail = match (
            contract.term_starts_on,
            contract.term_ends_on,
            contract.refused_on,
        ) {
            (_, _, Some(refused_on)) => format!(
                "refused {refused_on} (due {})",
                contract
                    .refusal_due
                    .map_or_else(String::new, |due| due.to_string())
            ),
            (Some(starts_on), Some(ends_on), None) => format!("term {starts_on} … {ends_on}"),
            _ => String::new(),
        };
        let objected = if contract.objected {
            ", objection filed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<8} {:<20} {:<18} {:<12} {detail}{objected}",
            contract.contract_id, contract.pharmacy, contract.region, contract.status
        );
    }
}
