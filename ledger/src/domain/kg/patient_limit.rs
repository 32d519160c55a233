//! The per-patient indicative limit (RULES B-05, A-19): multiplier × capitation norm per patient per
//! calendar year, measured in compensation amounts. A prescribing limit the dispensing side only
//! warns about; blocking is configurable.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::money::{Money, MoneyError};

/// The multiplier B-05 names (300 × the capitation norm).
pub const MULTIPLIER_DEFAULT: u32 = 300;

/// The limit parameters from one date on (A-19: effective-dated; the multiplier is revised from time
/// to time, and the capitation norm comes from the MHIF, not from the seeds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PatientLimitParameters {
    pub effective_from: NaiveDate,
    pub multiplier: u32,
    /// The capitation norm per insured person per year, KGS.
    pub capitation_norm: Money,
}

impl PatientLimitParameters {
    /// The limit: multiplier × capitation norm.
    pub fn limit(&self) -> Result<Money, MoneyError> {
        let minor = self
            .capitation_norm
            .minor
            .checked_mul(i64::from(self.multiplier))
            .ok_or(MoneyError::Overflow {
                operation: "multiplier × capitation norm",
            })?;
        Ok(Money::new(minor, self.capitation_norm.currency))
    }
}

/// Whether exceeding the limit only warns (the default, A-19) or refuses the dispensing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum LimitEnforcement {
    #[default]
    Warn,
    Block,
}

/// Every version of the limit parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientLimitSchedule {
    versions: Vec<PatientLimitParameters>,
}

impl PatientLimitSchedule {
    pub fn new(versions: Vec<PatientLimitParameters>) -> PatientLimitSchedule {
        PatientLimitSchedule { versions }
    }

    /// the parameters in force on `date` (the latest effective on or before it).
    pub fn in_force_on(&self, date: NaiveDate) -> Option<&PatientLimitParameters> {
        self.versions
            .iter()
            .filter(|parameters| parameters.effective_from <= date)
            .max_by_key(|parameters| parameters.effective_from)
    }
}
