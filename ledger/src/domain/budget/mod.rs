//! Budgets: the money the state allocates to a programme, per region and fiscal year, and what is
//! transferred, committed and paid against it (RULES B-01…B-09, A-20, A-21, D-08, A-08).
//!
//! One aggregate per stream `budget/<jurisdiction>/<programme>/<fiscal-year>` ([`BudgetId`]); inside it,
//! one [`BudgetLine`] per region. Per line `balance = allocated − paid` always holds (asserted in
//! [`evolve`], property-tested). The budget never blocks a payment: an overspend is recorded and
//! flagged (`BudgetPaid::over_budget`), never refused.
//!
//! Kyrgyz-only rules: regional redistribution (B-04, A-21), year close with expiry of the unused
//! balance (B-02) and carry-forward of the overspend to next year's budget (B-03). Kazakh-only rule:
//! December services are paid and charged to the next fiscal year (B-07, [`fiscal_year_of_payment`]).

mod command;
mod error;
mod event;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

pub use command::{
    Allocate, BudgetCommand, ChargeCarriedOverrun, CloseYear, Commit, Pay, Redistribute,
    TransferToFund, decide,
};
pub use error::BudgetError;
pub use event::{
    BudgetAllocated, BudgetCommitted, BudgetEvent, BudgetOverrunCarriedForward,
    BudgetOverrunCharged, BudgetPaid, BudgetRedistributed, BudgetTransferredToFund,
    BudgetYearClosed, ExpiredBalance,
};
pub use state::{Budget, BudgetLine, evolve};

use super::jurisdiction::Jurisdiction;
use super::money::Currency;
use super::region::Programme;

/// A fiscal (budget, reporting) year; in both jurisdictions the calendar year **[K]**.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct FiscalYear(pub i32);

impl FiscalYear {
    pub fn next(self) -> FiscalYear {
        FiscalYear(self.0 + 1)
    }

    /// Whether the local date `date` falls within this fiscal year.
    pub fn contains(self, date: NaiveDate) -> bool {
        date.year() == self.0
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The month in which pharmaceutical services were rendered (the reporting month).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
pub struct ServiceMonth {
    year: i32,
    month: u32,
}

impl ServiceMonth {
    /// `month` is 1…12; anything else is refused with the value named.
    pub fn new(year: i32, month: u32) -> Result<ServiceMonth, BudgetError> {
        if (1..=12).contains(&month) {
            Ok(ServiceMonth { year, month })
        } else {
            Err(BudgetError::InvalidServiceMonth {
                rule: "B-07",
                year,
                month,
            })
        }
    }

    /// The month containing the local date `date`.
    pub fn of(date: NaiveDate) -> ServiceMonth {
        ServiceMonth {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }
}

/// Decoding validates like [`ServiceMonth::new`]: a stored month is never trusted blindly.
impl<'de> Deserialize<'de> for ServiceMonth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            year: i32,
            month: u32,
        }
        let wire = Wire::deserialize(deserializer)?;
        ServiceMonth::new(wire.year, wire.month).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ServiceMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Implements B-07 (S001 §20) and A-20: the fiscal year whose budget pays for services of
/// `service_month`. Kazakhstan: December of year N is paid in, and charged to, fiscal year N+1; every
/// other month to its own year. Kyrgyzstan: the service year; an overspend reaches year N+1 only
/// through [`BudgetOverrunCarriedForward`] (B-03), never by re-dating the service.
pub fn fiscal_year_of_payment(
    jurisdiction: Jurisdiction,
    service_month: ServiceMonth,
) -> FiscalYear {
    match jurisdiction {
        Jurisdiction::KZ if service_month.month == 12 => FiscalYear(service_month.year + 1),
        Jurisdiction::KZ | Jurisdiction::KG => FiscalYear(service_month.year),
    }
}

/// The identity of one budget stream: jurisdiction, programme and fiscal year.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct BudgetId {
    jurisdiction: Jurisdiction,
    programme: Programme,
    fiscal_year: FiscalYear,
}

impl BudgetId {
    /// Implements A-34: a programme is budgeted only in the jurisdiction whose law defines it.
    pub fn new(
        jurisdiction: Jurisdiction,
        programme: Programme,
        fiscal_year: FiscalYear,
    ) -> Result<BudgetId, BudgetError> {
        if programme.jurisdiction() != jurisdiction {
            return Err(BudgetError::ProgrammeOutsideJurisdiction {
                rule: "A-34",
                programme,
                jurisdiction,
            });
        }
        Ok(BudgetId {
            jurisdiction,
            programme,
            fiscal_year,
        })
    }

    pub fn jurisdiction(self) -> Jurisdiction {
        self.jurisdiction
    }

    pub fn programme(self) -> Programme {
        self.programme
    }

    pub fn fiscal_year(self) -> FiscalYear {
        self.fiscal_year
    }

    pub fn currency(self) -> Currency {
        Currency::of(self.jurisdiction)
    }

    /// The stream this budget lives on, e.g. `budget/KG/KG_CHI_ADDITIONAL/2026` (DESIGN §1).
    pub fn stream_id(self) -> String {
        format!(
            "budget/{}/{}/{}",
            self.jurisdiction, self.programme, self.fiscal_year
        )
    }
}

impl fmt::Display for BudgetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stream_id())
    }
}
