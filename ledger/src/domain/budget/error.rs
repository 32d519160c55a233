//! Why a budget command was refused. Every variant names the rule it enforces and the input at fault.

use chrono::NaiveDate;

use super::{BudgetId, FiscalYear, ServiceMonth};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Money, MoneyError};
use crate::domain::region::{Programme, Region};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("service month {year}-{month} is not a month: the month must be 1 to 12 ({rule})")]
    InvalidServiceMonth {
        rule: &'static str,
        year: i32,
        month: u32,
    },
    #[error(
        "programme {programme} is not a {jurisdiction} programme and cannot be budgeted there ({rule})"
    )]
    ProgrammeOutsideJurisdiction {
        rule: &'static str,
        programme: Programme,
        jurisdiction: Jurisdiction,
    },
    #[error("budget {budget}: region {region:?} is not a region of {jurisdiction} ({rule})")]
    RegionOutsideJurisdiction {
        rule: &'static str,
        budget: BudgetId,
        region: Region,
        jurisdiction: Jurisdiction,
    },
    #[error("budget {budget}: {field} {amount} must be greater than zero ({rule})")]
    NonPositiveAmount {
        rule: &'static str,
        budget: BudgetId,
        field: &'static str,
        amount: Money,
    },
    #[error(
        "budget {budget}: {field} is in {found}, but this budget is kept in {expected} ({rule})"
    )]
    WrongCurrency {
        rule: &'static str,
        budget: BudgetId,
        field: &'static str,
        found: Currency,
        expected: Currency,
    },
    #[error(
        "budget {budget}: {kind} \"{reference}\" is already recorded; a second record would count its money twice ({rule})"
    )]
    DuplicateReference {
        rule: &'static str,
        budget: BudgetId,
        kind: &'static str,
        reference: String,
    },
    #[error(
        "budget {budget}: services of {service_month} are charged to fiscal year {expected}, not {found} ({rule})"
    )]
    WrongFiscalYear {
        rule: &'static str,
        budget: BudgetId,
        service_month: ServiceMonth,
        expected: FiscalYear,
        found: FiscalYear,
    },
    #[error(
        "budget {budget}: fiscal year {fiscal_year} was closed on {closed_on}; charge the payment to {next} instead ({rule})"
    )]
    YearClosed {
        rule: &'static str,
        budget: BudgetId,
        fiscal_year: FiscalYear,
        closed_on: NaiveDate,
        next: FiscalYear,
    },
    #[error(
        "budget {budget}: {what} is a Kyrgyz rule and does not apply in {jurisdiction} ({rule})"
    )]
    NotInJurisdiction {
        rule: &'static str,
        budget: BudgetId,
        what: &'static str,
        jurisdiction: Jurisdiction,
    },
    #[error(
        "budget {budget}: redistribution dated {on} is outside reporting year {fiscal_year} ({rule})"
    )]
    RedistributionOutsideYear {
        rule: &'static str,
        budget: BudgetId,
        on: NaiveDate,
        fiscal_year: FiscalYear,
    },
    #[error(
        "budget {budget}: redistribution from region {region:?} to itself moves nothing ({rule})"
    )]
    RedistributionToSameRegion {
        rule: &'static str,
        budget: BudgetId,
        region: Region,
    },
    #[error(
        "budget {budget}: cannot move {amount} out of region {region:?}, whose unspent balance is {balance} ({rule})"
    )]
    RedistributionExceedsBalance {
        rule: &'static str,
        budget: BudgetId,
        region: Region,
        amount: Money,
        balance: Money,
    },
    #[error(
        "budget {budget}: the year cannot be closed on {on}, before fiscal year {fiscal_year} has ended ({rule})"
    )]
    CloseBeforeYearEnd {
        rule: &'static str,
        budget: BudgetId,
        on: NaiveDate,
        fiscal_year: FiscalYear,
    },
    #[error(
        "budget {budget}: an overrun can only be charged from fiscal year {expected}, not {found} ({rule})"
    )]
    OverrunFromWrongYear {
        rule: &'static str,
        budget: BudgetId,
        expected: FiscalYear,
        found: FiscalYear,
    },
    #[error("budget {budget}: amount arithmetic failed: {source} ({rule})")]
    Money {
        rule: &'static str,
        budget: BudgetId,
        #[source]
        source: MoneyError,
    },
}

impl BudgetError {
    /// The ID of the rule that refused the input (RULES.md).
    pub fn rule(&self) -> &'static str {
        match self {
            BudgetError::InvalidServiceMonth { rule, .. } => rule,
            BudgetError::ProgrammeOutsideJurisdiction { rule, .. } => rule,
            BudgetError::RegionOutsideJurisdiction { rule, .. } => rule,
            BudgetError::NonPositiveAmount { rule, .. } => rule,
            BudgetError::WrongCurrency { rule, .. } => rule,
            BudgetError::DuplicateReference { rule, .. } => rule,
            BudgetError::WrongFiscalYear { rule, .. } => rule,
            BudgetError::YearClosed { rule, .. } => rule,
            BudgetError::NotInJurisdiction { rule, .. } => rule,
            BudgetError::RedistributionOutsideYear { rule, .. } => rule,
            BudgetError::RedistributionToSameRegion { rule, .. } => rule,
            BudgetError::RedistributionExceedsBalance { rule, .. } => rule,
            BudgetError::CloseBeforeYearEnd { rule, .. } => rule,
            BudgetError::OverrunFromWrongYear { rule, .. } => rule,
            BudgetError::Money { rule, .. } => rule,
        }
    }
}
