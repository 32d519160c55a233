//! The demo's reference data and contracts: calendars, the KZ limit-price list, budgets, signing keys,
//! and one concluded contract per pharmacy network and for the consortium.

use std::collections::BTreeSet;

use anyhow::bail;
use chrono::NaiveDate;
use ledger::domain::budget::{Allocate, BudgetCommand, BudgetId, FiscalYear};
use ledger::domain::contract::events::{
    Applicant, ConsortiumAgreement, ConsortiumMember, ContractTerm, NetworkPharmacy,
};
use ledger::domain::contract::{ContractCommand, ReceiveApplication, ReviewApplication};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money, UnitPrice};
use ledger::domain::prices::{PriceEntry, ProductKey, PublishPriceList};
use ledger::domain::region::{Programme, Region};
use ledger::domain::rules::PriceType;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{
    ContractId, DocumentNumber, DoseForm, InnName, OrganisationName, PharmacyLicence, UnitOfMeasure,
};
use ledger::log::{Actor, ActorId, ActorRole};

use super::engine::{Engine, stream};
use super::world::{ContractHolder, World};

/// `YYYY-MM-DD` at `hour`:00 local time of Kazakhstan (UTC+5), as a UTC instant.
pub fn kz_local(date: NaiveDate, hour: u32) -> Timestamp {
    let local = date.and_hms_opt(hour, 0, 0).expect("valid hour");
    Timestamp::from_datetime(local.and_utc() - chrono::Duration::hours(5))
}

fn value<T, E: std::fmt::Display>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|error| anyhow::anyhow!("{error}"))
}

/// Publishes the embedded working-day calendars as reference events (`reference/calendar/<J>`).
pub async fn publish_calendars(engine: &Engine, at: Timestamp) -> anyhow::Result<()> {
    for jurisdiction in Jurisdiction::ALL {
        let events: Vec<Event> = engine
            .calendars
            .events()
            .filter(|published| published.jurisdiction == jurisdiction)
            .cloned()
            .map(Event::CalendarPublished)
            .collect();
        let publisher = Actor::new(
            ActorId::System("calendar-publisher".into()),
            ActorRole::Publisher,
        );
        let meta = engine.meta(
            &format!("reference/calendar/{jurisdiction}"),
            at,
            jurisdiction,
            publisher,
        );
        engine
            .publish_raw(
                stream(format!("reference/calendar/{jurisdiction}")),
                &format!("reference/calendar/{jurisdiction}"),
                meta,
                events,
            )
            .await?;
    }
    Ok(())
}

/// The KZ limit-price list of the world's catalogue, in force from 2025-01-01.
pub async fn publish_prices(engine: &Engine, world: &World, at: Timestamp) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for drug in &world.kz_drugs {
        let product = ProductKey::Drug {
            inn: value(InnName::new(drug.inn))?,
            dose_form: value(DoseForm::new(drug.dose_form))?,
        };
        if entries
            .iter()
            .any(|entry: &PriceEntry| entry.product == product)
        {
            continue; // one limit price per INN, form and dose; trade names share it
        }
        entries.push(PriceEntry {
            product,
            price_type: PriceType::InnLimit,
            unit: value(UnitOfMeasure::new(drug.unit))?,
            limit_unit_price: value(UnitPrice::new(drug.limit_unit_price))?,
        });
    }
    let command = PublishPriceList {
        jurisdiction: Jurisdiction::KZ,
        version: 1,
        effective_from: NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date"),
        published_at: at,
        entries,
    };
    engine.publish_prices(command).await
}

/// Allocates the fiscal-year budgets of every region: KZ GOBMP and OSMS, KG additional programme.
pub async fn allocate_budgets(
    engine: &Engine,
    years: &BTreeSet<i32>,
    at: Timestamp,
) -> anyhow::Result<()> {
    let plan = [
        (Jurisdiction::KZ, Programme::Gobmp, 40_000_000_000_i64),
        (Jurisdiction::KZ, Programme::Osms, 30_000_000_000),
        (Jurisdiction::KG, Programme::KgChiAdditional, 500_000_000),
    ];
    for &year in years {
        for (jurisdiction, programme, minor_per_region) in plan {
            let id = value(BudgetId::new(jurisdiction, programme, FiscalYear(year)))?;
            for region in Region::all(jurisdiction) {
                let command = BudgetCommand::Allocate(Allocate {
                    region,
                    amount: Money::new(minor_per_region, Currency::of(jurisdiction)),
                    on: NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date"),
                    basis: format!("republican budget law for {year}"),
                });
                engine
                    .budget(
                        &format!("{}/allocate/{}", id.stream_id(), region.code()),
                        at,
                        id,
                        command,
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

fn applicant(holder: &ContractHolder) -> anyhow::Result<Applicant> {
    let name = value(OrganisationName::new(holder.holder.name.as_str()))?;
    if !holder.is_consortium() {
        return Ok(Applicant::PharmacyCompany {
            bin: holder.holder.bin,
            name,
        });
    }
    // E-06: the official representative is itself a member named in the agreement.
    let members = std::iter::once(&holder.holder)
        .chain(holder.members.iter())
        .map(|member| {
            Ok(ConsortiumMember {
                bin: member.bin,
                name: value(OrganisationName::new(member.name.as_str()))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Applicant::Consortium {
        representative: holder.holder.bin,
        name,
        agreement: ConsortiumAgreement {
            reference: value(DocumentNumber::new(format!("CA-{}", holder.contract_id)))?,
            signed_on: NaiveDate::from_ymd_opt(2025, 11, 1).expect("valid date"),
            equal_reimbursement_terms: true,
            representative_named: true,
        },
        members,
    })
}

fn network(holder: &ContractHolder) -> anyhow::Result<Vec<NetworkPharmacy>> {
    let mut pharmacies = Vec::new();
    for organisation in holder.dispensers() {
        for (licence, region) in &organisation.pharmacies {
            pharmacies.push(NetworkPharmacy {
                licence: value(PharmacyLicence::new(licence.as_str()))?,
                operator: organisation.bin,
                region: *region,
                iss_connected: true,
            });
        }
    }
    Ok(pharmacies)
}

/// C-01, D-01: every KZ network applies on 1 December and the Fund concludes on 3 December, effective
/// from the first demo month.
pub async fn conclude_contracts(
    engine: &Engine,
    world: &World,
    starts_on: NaiveDate,
) -> anyhow::Result<()> {
    let applied_on = starts_on - chrono::Duration::days(31);
    for holder in world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == Jurisdiction::KZ)
    {
        let contract_id = value(ContractId::new(holder.contract_id.as_str()))?;
        let receive = ContractCommand::ReceiveApplication(ReceiveApplication {
            contract_id,
            jurisdiction: Jurisdiction::KZ,
            received_at: kz_local(applied_on, 10),
            applicant: applicant(holder)?,
            pharmacies: network(holder)?,
            iss_test_act: Some(value(DocumentNumber::new(format!(
                "ISS-{}",
                holder.contract_id
            )))?),
        });
        let step = format!("contract/{}/apply", holder.contract_id);
        let meta = engine.meta(
            &step,
            kz_local(applied_on, 10),
            Jurisdiction::KZ,
            Engine::pharmacy_actor(holder.holder.bin),
        );
        if let Err(refused) = engine
            .contract(&holder.contract_id, meta, |_| receive.clone(), None)
            .await?
        {
            bail!(
                "the application of {} was refused: {refused}",
                holder.contract_id
            );
        }
        let decided_at = kz_local(applied_on + chrono::Duration::days(2), 11);
        let term = ContractTerm {
            starts_on,
            ends_on: None,
        };
        let step = format!("contract/{}/review", holder.contract_id);
        let meta = engine.meta(&step, decided_at, Jurisdiction::KZ, engine.fund_actor());
        let fund_bin = engine.fund_bin;
        let build = |signature: Option<_>| {
            ContractCommand::ReviewApplication(ReviewApplication {
                decided_at,
                term,
                fund_signature: signature.expect("the Fund signs the contract"),
            })
        };
        if let Err(refused) = engine
            .contract(&holder.contract_id, meta, build, Some(fund_bin))
            .await?
        {
            bail!(
                "the review of {} was refused: {refused}",
                holder.contract_id
            );
        }
    }
    Ok(())
}
