//! Budget events: past-tense facts on a `budget/<jurisdiction>/<programme>/<fiscal-year>` stream.
//!
//! Every event carries the facts it was decided on (DESIGN §2): amounts, dates, and for a transfer the
//! due date it was judged late against, so a projection never looks anything up again.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FiscalYear, ServiceMonth};
use crate::domain::money::Money;
use crate::domain::region::Region;

/// Money allocated to a region's budget line (B-01: for KG, from CHI funds on the insured population
/// and the capitation norm; the formula is not in the seeds, so the amount comes in as a fact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetAllocated {
    pub region: Region,
    pub amount: Money,
    pub allocated_on: NaiveDate,
    /// The decision or law the allocation rests on, e.g. a budget-law article or MHIF order number.
    pub basis: String,
}

/// Budget money reached the Fund. `late` is what suspends the Kazakh payment clock (D-08, A-08): the
/// transfer was made after `due_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetTransferredToFund {
    pub region: Region,
    pub amount: Money,
    pub transferred_on: NaiveDate,
    /// The scheduled transfer date the lateness was judged against.
    pub due_on: NaiveDate,
    pub late: bool,
}

/// An approved, not yet paid obligation against a line (e.g. an approved registry or signed act).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetCommitted {
    pub region: Region,
    pub amount: Money,
    /// The act (or settlement) the obligation comes from; a later payment releases it.
    pub act_ref: String,
    pub committed_on: NaiveDate,
}

/// A payment charged to a line. Never refused by the budget: `over_budget` flags that the line's
/// balance is negative after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetPaid {
    pub region: Region,
    pub amount: Money,
    /// The id of the payment event this charge mirrors; unique per budget.
    pub payment_ref: String,
    /// The act or settlement paid; releases the matching commitment.
    pub act_ref: String,
    /// The month of the services paid for (decides the fiscal year, B-07).
    pub service_month: ServiceMonth,
    pub paid_on: NaiveDate,
    pub over_budget: bool,
}

/// KG only (B-04, A-21): money moved between regions within the reporting year; sum-neutral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetRedistributed {
    pub from_region: Region,
    pub to_region: Region,
    pub amount: Money,
    pub redistributed_on: NaiveDate,
    /// The analysis the redistribution rests on (B-04 "on the basis of analysis").
    pub basis: String,
}

/// KG only (B-03, A-20): the overspend of this year's line is moved out, to be paid from the budget of
/// `to_fiscal_year`. On this stream it reduces `paid` by `amount`; the next year's stream records the
/// same amount as [`BudgetOverrunCharged`], so no money is created or destroyed across the two years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetOverrunCarriedForward {
    pub region: Region,
    pub amount: Money,
    pub to_fiscal_year: FiscalYear,
    pub carried_on: NaiveDate,
}

/// KG only (B-03): last year's overspend charged to this year's line (the receiving side of
/// [`BudgetOverrunCarriedForward`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetOverrunCharged {
    pub region: Region,
    pub amount: Money,
    pub from_fiscal_year: FiscalYear,
    pub charged_on: NaiveDate,
}

/// The unused balance of one line that expired at year close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExpiredBalance {
    pub region: Region,
    pub amount: Money,
}

/// KG only (B-02, A-20): the year is closed; unused balances expire and are never carried forward.
/// After it the stream accepts nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetYearClosed {
    pub closed_on: NaiveDate,
    pub expired: Vec<ExpiredBalance>,
}

/// Every event of a budget stream (externally tagged, as the codec requires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum BudgetEvent {
    BudgetAllocated(BudgetAllocated),
    BudgetTransferredToFund(BudgetTransferredToFund),
    BudgetCommitted(BudgetCommitted),
    BudgetPaid(BudgetPaid),
    BudgetRedistributed(BudgetRedistributed),
    BudgetOverrunCarriedForward(BudgetOverrunCarriedForward),
    BudgetOverrunCharged(BudgetOverrunCharged),
    BudgetYearClosed(BudgetYearClosed),
}

impl BudgetEvent {
    /// The event type name carried in the envelope, e.g. `BudgetPaid`.
    pub fn event_type(&self) -> &'static str {
        match self {
            BudgetEvent::BudgetAllocated(_) => "BudgetAllocated",
            BudgetEvent::BudgetTransferredToFund(_) => "BudgetTransferredToFund",
            BudgetEvent::BudgetCommitted(_) => "BudgetCommitted",
            BudgetEvent::BudgetPaid(_) => "BudgetPaid",
            BudgetEvent::BudgetRedistributed(_) => "BudgetRedistributed",
            BudgetEvent::BudgetOverrunCarriedForward(_) => "BudgetOverrunCarriedForward",
            BudgetEvent::BudgetOverrunCharged(_) => "BudgetOverrunCharged",
            BudgetEvent::BudgetYearClosed(_) => "BudgetYearClosed",
        }
    }
}
