//! The Reference Book (source term: «Маалымдама», S002 §11–12, §35, §42): the drugs the Kyrgyz
//! additional programme reimburses, with the internal reference price and compensation per unit.
//!
//! Implements M-10 (reference price and compensation in KGS, revised at least twice a year), M-13 and
//! A-16 (prices per smallest dispensable unit; the package price is derived), M-19 (only listed drugs
//! are dispensed) and A-28 (the book in force on the dispensing date applies).

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::KgError;
use crate::domain::money::{Currency, Money, MoneyError, Quantity, UnitPrice, line_amount};

/// The most entries one published book may hold (the national list has a few hundred).
pub const REFERENCE_BOOK_ENTRIES_MAX: usize = 20_000;

/// The fewest books M-10 requires per calendar year.
pub const PUBLICATIONS_PER_YEAR_MIN: u32 = 2;

/// The identifier of a drug (a Reference Book line: INN, form, dose and trade name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
pub struct DrugId(String);

impl DrugId {
    /// 1…64 printable characters without spaces.
    pub fn new(value: &str) -> Result<DrugId, KgError> {
        let valid =
            !value.is_empty() && value.len() <= 64 && value.chars().all(|c| c.is_ascii_graphic());
        if valid {
            Ok(DrugId(value.to_owned()))
        } else {
            Err(KgError::InvalidDrugId {
                rule: "M-19",
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DrugId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DrugId::new(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DrugId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// the basis on which the source stated the price (the ledger always stores per unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PriceBasis {
    PerUnit,
    PerPackage,
}

/// One drug of the Reference Book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReferenceBookEntry {
    pub drug_id: DrugId,
    /// International non-proprietary name (source term: «ЭПА»).
    pub inn: String,
    pub trade_name: String,
    /// Drugs of one generic group may replace each other at dispensing (M-18).
    pub generic_group: String,
    /// The smallest dispensable unit, e.g. `tablet`.
    pub unit: String,
    /// Units per package; derives the package price.
    pub package_size: u32,
    /// Internal reference price per unit, KGS (M-10).
    pub reference_price_per_unit: UnitPrice,
    /// Compensation per unit, KGS (M-10, M-13): what the MHIF pays for one unit.
    pub compensation_per_unit: UnitPrice,
    pub source_basis: PriceBasis,
}

impl ReferenceBookEntry {
    /// the package reference price, derived from the unit price (rounded once, A-36).
    pub fn package_reference_price(&self) -> Result<Money, MoneyError> {
        let size = Quantity::new(Decimal::from(self.package_size))?;
        line_amount(size, self.reference_price_per_unit, Currency::KGS)
    }
}

/// A new version of the Reference Book, in force from `effective_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReferenceBookPublished {
    /// 1, 2, 3 …: contiguous.
    pub version: u32,
    pub published_on: NaiveDate,
    pub effective_from: NaiveDate,
    pub entries: Vec<ReferenceBookEntry>,
}

impl ReferenceBookPublished {
    pub fn entry(&self, drug_id: &DrugId) -> Option<&ReferenceBookEntry> {
        self.entries.iter().find(|entry| &entry.drug_id == drug_id)
    }
}

/// Every published version: the state of stream `reference/kg-reference-book`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceBooks {
    books: Vec<ReferenceBookPublished>,
}

impl ReferenceBooks {
    pub fn new() -> ReferenceBooks {
        ReferenceBooks::default()
    }

    /// the book in force on `date`, the latest effective on or before it (a later version wins a
    /// tie, so a correction published for the same day replaces its predecessor).
    pub fn in_force_on(&self, date: NaiveDate) -> Option<&ReferenceBookPublished> {
        self.books
            .iter()
            .filter(|book| book.effective_from <= date)
            .max_by_key(|book| (book.effective_from, book.version))
    }

    pub fn latest(&self) -> Option<&ReferenceBookPublished> {
        self.books.last()
    }

    /// M-10: how many versions were published in calendar year `year`.
    pub fn publications_in(&self, year: i32) -> u32 {
        let count = self
            .books
            .iter()
            .filter(|book| book.published_on.year() == year)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Implements M-10: the MHIF revises compensation at least twice a year. A shortfall is a warning
    /// for the programme administrator, never a reason to refuse a dispensing.
    pub fn m10_shortfall(&self, year: i32) -> Option<u32> {
        let published = self.publications_in(year);
        (published < PUBLICATIONS_PER_YEAR_MIN).then_some(published)
    }
}

/// Decides the publication of a new version (M-10, A-16, A-28).
pub fn decide_publish(
    books: &ReferenceBooks,
    book: ReferenceBookPublished,
) -> Result<ReferenceBookPublished, KgError> {
    let expected = books.latest().map_or(1, |latest| latest.version + 1);
    if book.version != expected {
        return Err(KgError::BookVersionNotNext {
            rule: "A-28",
            version: book.version,
            expected,
        });
    }
    if let Some(latest) = books.latest()
        && book.effective_from < latest.effective_from
    {
        return Err(KgError::BookEffectiveBeforePrevious {
            rule: "A-28",
            version: book.version,
            effective_from: book.effective_from,
            previous: latest.effective_from,
        });
    }
    check_entries(&book)?;
    Ok(book)
}

fn check_entries(book: &ReferenceBookPublished) -> Result<(), KgError> {
    let count = book.entries.len();
    if count == 0 || count > REFERENCE_BOOK_ENTRIES_MAX {
        return Err(KgError::BookSize {
            rule: "M-10",
            version: book.version,
            count,
        });
    }
    let mut seen = BTreeSet::new();
    for entry in &book.entries {
        if !seen.insert(&entry.drug_id) {
            return Err(entry_error(book, entry, "drug_id", "appears twice"));
        }
        if entry.package_size == 0 {
            return Err(entry_error(
                book,
                entry,
                "package_size",
                "must be at least 1",
            ));
        }
        if entry.generic_group.trim().is_empty() || entry.unit.trim().is_empty() {
            return Err(entry_error(
                book,
                entry,
                "generic_group/unit",
                "must not be empty",
            ));
        }
        if entry.compensation_per_unit > entry.reference_price_per_unit {
            return Err(entry_error(
                book,
                entry,
                "compensation_per_unit",
                "exceeds the reference price per unit",
            ));
        }
    }
    Ok(())
}

fn entry_error(
    book: &ReferenceBookPublished,
    entry: &ReferenceBookEntry,
    field: &'static str,
    problem: &'static str,
) -> KgError {
    KgError::InvalidBookEntry {
        rule: "M-10",
        version: book.version,
        drug_id: entry.drug_id.clone(),
        field,
        problem,
    }
}

/// Folds a publication into the state.
pub fn evolve_books(mut books: ReferenceBooks, book: &ReferenceBookPublished) -> ReferenceBooks {
    let expected = books.latest().map_or(1, |latest| latest.version + 1);
    assert_eq!(
        book.version, expected,
        "reference book versions are contiguous"
    );
    books.books.push(book.clone());
    books
}
