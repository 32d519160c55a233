//! The Kyrgyz additional programme beside the KZ national period (S002): the MHIF publishes the
//! Reference Book (M-10, A-16), every KG pharmacy applies (E-09, C-07), one is refused with reasons
//! within 3 calendar days because its tax check on the day shows debts (E-10, C-09, D-10, A-23), the
//! others are concluded for one year (C-08); one of them objects to its renewal, and where the
//! demo's months reach the anniversary the MHIF renews or lets expire each contract (C-08, A-22).
//!
//! KG steps are decided on the KG calendar and rule set and stamped in Bishkek time (UTC+6, A-15).

pub mod dispense;
pub mod period;
pub mod settle;
pub mod summary;

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::contract::events::Party;
use ledger::domain::contract::kg::{KgContractCommand, KgContractStage, TaxDebtCheck};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::{
    DrugId, PriceBasis, ReferenceBookEntry, ReferenceBookPublished, ReferenceBooks,
};
use ledger::domain::money::UnitPrice;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, DocumentNumber, OrganisationName};
use ledger::log::{Actor, ActorId, ActorRole};

use super::engine::{Engine, contract_stream, stream};
use super::world::{Drug, KgPharmacy, World};
use crate::handler::Handled;
use crate::writer::Command;

/// The stream of the Reference Book (every published version).
pub const REFERENCE_BOOK_STREAM: &str = "reference/kg-reference-book";

/// What happens to one KG pharmacy's application, chosen by its position so that every demo with at
/// least three KG pharmacies shows each path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KgScript {
    /// Concluded for a year, renewed at the anniversary.
    Concluded,
    /// The tax check on the day shows debts: no conclusion (E-10), a refusal with reasons (C-09).
    RefusedForTaxDebts,
    /// Concluded, then the pharmacy objects to the renewal: the contract expires.
    ConcludedThenObjected,
}

/// The script of the `index`-th KG pharmacy: the second is refused, the third objects.
pub fn script(index: usize) -> KgScript {
    match index % 4 {
        1 => KgScript::RefusedForTaxDebts,
        2 => KgScript::ConcludedThenObjected,
        _ => KgScript::Concluded,
    }
}

/// `YYYY-MM-DD` at `hour`:00 in Bishkek (UTC+6), as a UTC instant.
pub fn kg_local(date: NaiveDate, hour: u32) -> Timestamp {
    let local = date.and_hms_opt(hour, 0, 0).expect("valid hour");
    Timestamp::from_datetime(local.and_utc() - chrono::Duration::hours(6))
}

fn value<T, E: std::fmt::Display>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|error| anyhow::anyhow!("{error}"))
}

/// The MHIF (the KG Fund), identified by its taxpayer number.
pub fn mhif_actor(world: &World) -> Actor {
    Actor::new(ActorId::Kyrgyz(world.mhif_tin.to_string()), ActorRole::Fund)
}

fn pharmacy_actor(pharmacy: &KgPharmacy) -> Actor {
    Actor::new(
        ActorId::Kyrgyz(pharmacy.tin.to_string()),
        ActorRole::Pharmacy,
    )
}

/// units per package of the demo's drugs (the book stores prices per unit; the package size
/// only derives the package price). Tablets come in packs of 30, anything else singly.
fn package_size(drug: &Drug) -> u32 {
    if drug.unit == "таблетка" {
        30
    } else {
        1
    }
}

/// The Reference Book id of the `index`-th drug of the KG catalogue.
fn drug_id(index: usize) -> anyhow::Result<DrugId> {
    value(DrugId::new(&format!("KG-RB-{:04}", index + 1)))
}

/// M-18: drugs of one INN and dose form may replace each other at dispensing.
fn generic_group(drug: &Drug) -> String {
    format!("{} {}", drug.inn, drug.dose_form)
}

fn book_entry(index: usize, drug: &Drug) -> anyhow::Result<ReferenceBookEntry> {
    Ok(ReferenceBookEntry {
        drug_id: drug_id(index)?,
        inn: drug.inn.to_owned(),
        trade_name: drug.trade_name.to_owned(),
        generic_group: generic_group(drug),
        unit: drug.unit.to_owned(),
        package_size: package_size(drug),
        reference_price_per_unit: value(UnitPrice::new(drug.limit_unit_price))?,
        compensation_per_unit: value(UnitPrice::new(drug.compensation_unit_price))?,
        source_basis: PriceBasis::PerUnit,
    })
}

/// The Reference Book of the world's KG catalogue: version 1, published 11 days before it takes
/// effect on `effective_from`, the 1st of the month the KG contracts are concluded in (M-10, A-28).
pub fn reference_book(
    world: &World,
    effective_from: NaiveDate,
) -> anyhow::Result<ReferenceBookPublished> {
    let entries = world
        .kg_drugs
        .iter()
        .enumerate()
        .map(|(index, drug)| book_entry(index, drug))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ReferenceBookPublished {
        version: 1,
        published_on: effective_from - chrono::Duration::days(11),
        effective_from,
        entries,
    })
}

/// Every version published on the log so far (A-28: dispensings are judged by the book in force).
pub async fn reference_books(engine: &Engine) -> anyhow::Result<ReferenceBooks> {
    let stream_id = stream(REFERENCE_BOOK_STREAM.into());
    let (books, _) = engine
        .reference_books
        .load(&*engine.log, &stream_id)
        .await?;
    Ok(books)
}

/// Publishes the Reference Book as reference data through its aggregate, which checks it against
/// the versions already on the log (M-10: valid entries; A-28: the next version, not effective
/// before the previous).
pub async fn publish_reference_book(
    engine: &Engine,
    world: &World,
    effective_from: NaiveDate,
) -> anyhow::Result<()> {
    let book = reference_book(world, effective_from)?;
    let step = format!("{REFERENCE_BOOK_STREAM}/v{}", book.version);
    let at = kg_local(book.published_on, 9);
    let meta = engine.meta(&step, at, Jurisdiction::KG, mhif_actor(world));
    let command_id = meta.command_id;
    let command = Command {
        meta,
        command: book,
    };
    let stream_id = stream(REFERENCE_BOOK_STREAM.into());
    if let Handled::Rejected(refusal) = engine
        .reference_books
        .execute(&*engine.log, &stream_id, command_id, &command, &())
        .await?
    {
        bail!("publishing the KG Reference Book was refused: {refusal}");
    }
    Ok(())
}

/// The KG timeline: applications on `applied_on`, decisions two days later (within the 3 calendar
/// days of D-10, A-23).
struct Timeline {
    applied_on: NaiveDate,
    decided_on: NaiveDate,
}

impl Timeline {
    fn of(first_month: NaiveDate) -> Timeline {
        let applied_on = first_month - chrono::Duration::days(31);
        Timeline {
            applied_on,
            decided_on: applied_on + chrono::Duration::days(2),
        }
    }
}

/// Runs one KG contract step; a refusal is an error naming the step unless `expect_refusal`.
async fn step(
    engine: &Engine,
    pharmacy: &KgPharmacy,
    name: &str,
    actor: Actor,
    command: KgContractCommand,
) -> anyhow::Result<()> {
    let at = command_at(&command);
    let step = format!("contract/{}/{name}", pharmacy.contract_id);
    let meta = engine.meta(&step, at, Jurisdiction::KG, actor);
    if let Err(refused) = engine
        .kg_contract(&pharmacy.contract_id, meta, command)
        .await?
    {
        bail!("KG step {step} was refused: {refused}");
    }
    Ok(())
}

fn command_at(command: &KgContractCommand) -> Timestamp {
    match command {
        KgContractCommand::ReceiveApplication { received_at, .. } => *received_at,
        KgContractCommand::Conclude { concluded_at, .. } => *concluded_at,
        KgContractCommand::Refuse { refused_at, .. } => *refused_at,
        KgContractCommand::FileObjection { filed_at, .. } => *filed_at,
        KgContractCommand::DecideRenewal { at } => *at,
    }
}

fn tax_check(
    pharmacy: &KgPharmacy,
    on: NaiveDate,
    has_debts: bool,
) -> anyhow::Result<TaxDebtCheck> {
    Ok(TaxDebtCheck {
        checked_on: on,
        has_debts,
        reference: value(DocumentNumber::new(format!(
            "STS-{}-{}",
            pharmacy.tin,
            on.format("%Y%m%d")
        )))?,
    })
}

/// The KG part's reference data and contracts: the Reference Book in force from the month the KG
/// contracts are concluded in, the applications and decisions, and the scripted objection.
pub async fn setup(engine: &Engine, world: &World, first_month: NaiveDate) -> anyhow::Result<()> {
    let book_from = Timeline::of(first_month)
        .applied_on
        .with_day(1)
        .expect("day 1 exists");
    publish_reference_book(engine, world, book_from).await?;
    conclude_contracts(engine, world, first_month).await?;
    file_objections(engine, world, first_month).await
}

/// C-07, E-09, D-10, E-10, C-08, C-09, A-23: every KG pharmacy applies; the MHIF checks its taxes on
/// the day of decision and concludes a one-year contract, or refuses with reasons within 3 days.
pub async fn conclude_contracts(
    engine: &Engine,
    world: &World,
    first_month: NaiveDate,
) -> anyhow::Result<()> {
    let timeline = Timeline::of(first_month);
    for (index, pharmacy) in world.kg_pharmacies.iter().enumerate() {
        let receive = KgContractCommand::ReceiveApplication {
            contract_id: value(ContractId::new(pharmacy.contract_id.as_str()))?,
            received_at: kg_local(timeline.applied_on, 10),
            applicant: pharmacy.tin.clone(),
            name: value(OrganisationName::new(pharmacy.name.as_str()))?,
        };
        step(engine, pharmacy, "apply", pharmacy_actor(pharmacy), receive).await?;
        let decided_on = timeline.decided_on;
        if script(index) == KgScript::RefusedForTaxDebts {
            refuse_for_debts(engine, world, pharmacy, decided_on).await?;
        } else {
            let conclude = KgContractCommand::Conclude {
                concluded_at: kg_local(decided_on, 11),
                tax_check: tax_check(pharmacy, decided_on, false)?,
            };
            step(engine, pharmacy, "conclude", mhif_actor(world), conclude).await?;
        }
    }
    Ok(())
}

/// E-10 then C-09: the conclusion with debts on the day is refused by the domain (nothing appended);
/// the MHIF then refuses the application, naming the debts, within the 3 days (D-10, A-23).
async fn refuse_for_debts(
    engine: &Engine,
    world: &World,
    pharmacy: &KgPharmacy,
    on: NaiveDate,
) -> anyhow::Result<()> {
    let check = tax_check(pharmacy, on, true)?;
    let attempt = KgContractCommand::Conclude {
        concluded_at: kg_local(on, 11),
        tax_check: check.clone(),
    };
    let step_name = format!("contract/{}/conclude", pharmacy.contract_id);
    let meta = engine.meta(
        &step_name,
        kg_local(on, 11),
        Jurisdiction::KG,
        mhif_actor(world),
    );
    if engine
        .kg_contract(&pharmacy.contract_id, meta, attempt)
        .await?
        .is_ok()
    {
        bail!(
            "KG contract {} was concluded despite tax debts on {on} (E-10)",
            pharmacy.contract_id
        );
    }
    let refuse = KgContractCommand::Refuse {
        refused_at: kg_local(on, 12),
        reasons: vec![format!(
            "E-10: the state tax service reports mandatory-tax debts of {} on {on} (answer \"{}\")",
            pharmacy.tin, check.reference
        )],
    };
    step(engine, pharmacy, "refuse", mhif_actor(world), refuse).await
}

/// the pharmacy scripted to object files its objection to the renewal in the middle of the
/// first demo month, during its term.
pub async fn file_objections(
    engine: &Engine,
    world: &World,
    first_month: NaiveDate,
) -> anyhow::Result<()> {
    for (index, pharmacy) in world.kg_pharmacies.iter().enumerate() {
        if script(index) != KgScript::ConcludedThenObjected {
            continue;
        }
        let objection = KgContractCommand::FileObjection {
            filed_at: kg_local(first_month + chrono::Duration::days(14), 15),
            party: Party::ContractHolder,
            reason: "the pharmacy does not intend to continue in the additional programme".into(),
        };
        step(
            engine,
            pharmacy,
            "object",
            pharmacy_actor(pharmacy),
            objection,
        )
        .await?;
    }
    Ok(())
}

/// C-08, A-22: the day after a concluded contract's term ends, when the demo's months reach it, the
/// MHIF renews it for another year, or records its expiry when an objection was filed.
pub async fn decide_renewals(
    engine: &Engine,
    world: &World,
    last_day: NaiveDate,
) -> anyhow::Result<()> {
    for pharmacy in &world.kg_pharmacies {
        let (state, _) = engine
            .kg_contracts
            .load(&*engine.log, &contract_stream(&pharmacy.contract_id))
            .await?;
        if state.stage != KgContractStage::Concluded {
            continue;
        }
        let ends_on = state
            .term
            .and_then(|term| term.ends_on)
            .expect("a concluded KG contract has a term with an end");
        let anniversary = ends_on + chrono::Duration::days(1);
        if anniversary > last_day {
            continue; // the demo's months do not reach it
        }
        let decide = KgContractCommand::DecideRenewal {
            at: kg_local(anniversary, 9),
        };
        let name = format!("renewal/{anniversary}");
        step(engine, pharmacy, &name, mhif_actor(world), decide).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
