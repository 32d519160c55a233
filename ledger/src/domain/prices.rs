//! The KZ limit-price list: reference data of stream `reference/prices/KZ` (M-02, M-05, A-13, A-14).
//!
//! A price list is published as a whole, versioned, with an effective date; a dispensing is priced at
//! the version in force on the dispensing date and records which version it used (DESIGN §2).

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::event::Event;
use super::jurisdiction::Jurisdiction;
use super::money::UnitPrice;
use super::rules::PriceType;
use super::time::Timestamp;
use super::values::{DoseForm, InnName, TechnicalCharacteristic, UnitOfMeasure};

/// The most entries one price list may hold.
pub const PRICE_ENTRIES_MAX: usize = 100_000;

/// What a limit price is keyed on: a drug by (INN, dose and form) (M-02) or a device by its technical
/// characteristic.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ProductKey {
    Drug {
        inn: InnName,
        dose_form: DoseForm,
    },
    Device {
        characteristic: TechnicalCharacteristic,
    },
}

impl fmt::Display for ProductKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProductKey::Drug { inn, dose_form } => write!(f, "drug \"{inn}\" {dose_form}"),
            ProductKey::Device { characteristic } => write!(f, "device \"{characteristic}\""),
        }
    }
}

/// One limit price per unit of measurement (App. 1 col 12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceEntry {
    pub product: ProductKey,
    pub price_type: PriceType,
    pub unit: UnitOfMeasure,
    pub limit_unit_price: UnitPrice,
}

/// a price list version was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceListPublished {
    pub jurisdiction: Jurisdiction,
    pub version: u32,
    pub effective_from: NaiveDate,
    pub published_at: Timestamp,
    pub entries: Vec<PriceEntry>,
}

/// The command to publish a price list version.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PublishPriceList {
    pub jurisdiction: Jurisdiction,
    pub version: u32,
    pub effective_from: NaiveDate,
    pub published_at: Timestamp,
    pub entries: Vec<PriceEntry>,
}

/// The price found for a dispensing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInForce {
    pub version: u32,
    pub entry: PriceEntry,
}

/// Every published version, by version number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceListState {
    versions: BTreeMap<u32, PriceListPublished>,
}

impl PriceListState {
    /// Implements A-14: the entry for `product` and `price_type` in the latest version whose
    /// `effective_from` is on or before `date`.
    pub fn price_on(
        &self,
        product: &ProductKey,
        price_type: PriceType,
        date: NaiveDate,
    ) -> Result<PriceInForce, DomainError> {
        let in_force = self
            .versions
            .values()
            .filter(|list| list.effective_from <= date)
            .max_by_key(|list| (list.effective_from, list.version));
        in_force
            .and_then(|list| {
                list.entries
                    .iter()
                    .find(|entry| &entry.product == product && entry.price_type == price_type)
                    .map(|entry| PriceInForce {
                        version: list.version,
                        entry: entry.clone(),
                    })
            })
            .ok_or_else(|| DomainError::PriceNotFound {
                rule: "A-14",
                product: product.to_string(),
                price_type: format!("{price_type:?}"),
                date,
            })
    }

    /// the version in force on `date` (the latest whose `effective_from` is on or before it).
    pub fn version_on(&self, date: NaiveDate) -> Option<u32> {
        self.versions
            .values()
            .filter(|list| list.effective_from <= date)
            .max_by_key(|list| (list.effective_from, list.version))
            .map(|list| list.version)
    }

    pub fn latest_version(&self) -> Option<u32> {
        self.versions.keys().next_back().copied()
    }
}

/// Decides a publication: versions only grow and a list holds one entry per (product, price type).
pub fn decide(
    state: &PriceListState,
    command: PublishPriceList,
) -> Result<Vec<Event>, DomainError> {
    if command.jurisdiction != Jurisdiction::KZ {
        return Err(DomainError::NotInJurisdiction {
            rule: "A-15",
            what: "the limit-price list".to_owned(),
            jurisdiction: command.jurisdiction,
            detail: "KG prices come from the KG reference book (M-10)".to_owned(),
        });
    }
    if let Some(latest) = state
        .latest_version()
        .filter(|latest| command.version <= *latest)
    {
        return Err(DomainError::WrongStage {
            rule: "A-14",
            object: format!("price list version {}", command.version),
            action: "publishing",
            expected: "a version above the latest",
            actual: format!("not above the latest version {latest}"),
        });
    }
    if command.entries.is_empty() || command.entries.len() > PRICE_ENTRIES_MAX {
        return Err(DomainError::WrongStage {
            rule: "A-14",
            object: format!("price list version {}", command.version),
            action: "publishing",
            expected: "1–100000 entries",
            actual: format!("{} entries", command.entries.len()),
        });
    }
    let mut keys: Vec<(&ProductKey, PriceType)> = command
        .entries
        .iter()
        .map(|entry| (&entry.product, entry.price_type))
        .collect();
    keys.sort();
    if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(DomainError::WrongStage {
            rule: "A-14",
            object: format!("price list version {}", command.version),
            action: "publishing",
            expected: "one entry per product and price type",
            actual: format!("{} listed twice", pair[0].0),
        });
    }
    Ok(vec![Event::PriceListPublished(PriceListPublished {
        jurisdiction: command.jurisdiction,
        version: command.version,
        effective_from: command.effective_from,
        published_at: command.published_at,
        entries: command.entries,
    })])
}

/// Folds a price-list event; other events leave the state unchanged.
pub fn evolve(mut state: PriceListState, event: &Event) -> PriceListState {
    if let Event::PriceListPublished(published) = event {
        state.versions.insert(published.version, published.clone());
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drug() -> ProductKey {
        ProductKey::Drug {
            inn: InnName::new("Metformin").unwrap(),
            dose_form: DoseForm::new("tablet 500 mg").unwrap(),
        }
    }

    fn list(version: u32, from: &str, price: &str) -> PublishPriceList {
        PublishPriceList {
            jurisdiction: Jurisdiction::KZ,
            version,
            effective_from: from.parse().unwrap(),
            published_at: Timestamp::from_micros(0),
            entries: vec![PriceEntry {
                product: drug(),
                price_type: PriceType::InnLimit,
                unit: UnitOfMeasure::new("tablet").unwrap(),
                limit_unit_price: price.parse().unwrap(),
            }],
        }
    }

    fn fold(commands: Vec<PublishPriceList>) -> PriceListState {
        commands
            .into_iter()
            .fold(PriceListState::default(), |state, command| {
                let events = decide(&state, command).unwrap();
                events.iter().fold(state, evolve)
            })
    }

    #[test]
    fn a14_price_in_force_on_the_dispensing_date() {
        let state = fold(vec![
            list(1, "2026-01-01", "10"),
            list(2, "2026-02-01", "11"),
        ]);
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        let january = state
            .price_on(&drug(), PriceType::InnLimit, day("2026-01-31"))
            .unwrap();
        assert_eq!(
            (january.version, january.entry.limit_unit_price.to_string()),
            (1, "10".into())
        );
        assert_eq!(
            state
                .price_on(&drug(), PriceType::InnLimit, day("2026-02-01"))
                .unwrap()
                .version,
            2
        );
        assert_eq!(
            state
                .price_on(&drug(), PriceType::InnLimit, day("2025-12-31"))
                .unwrap_err()
                .rule(),
            "A-14"
        );
        assert!(
            state
                .price_on(&drug(), PriceType::DomesticLongTerm, day("2026-02-01"))
                .is_err()
        );
    }

    #[test]
    fn a14_versions_only_grow() {
        let state = fold(vec![list(2, "2026-01-01", "10")]);
        assert_eq!(
            decide(&state, list(2, "2026-03-01", "12"))
                .unwrap_err()
                .rule(),
            "A-14"
        );
    }
}
