//! Budget commands and `decide`.

use chrono::{Datelike, NaiveDate};

use super::event::{
    BudgetAllocated, BudgetCommitted, BudgetEvent, BudgetOverrunCarriedForward,
    BudgetOverrunCharged, BudgetPaid, BudgetRedistributed, BudgetTransferredToFund,
    BudgetYearClosed, ExpiredBalance,
};
use super::state::Budget;
use super::{BudgetError, FiscalYear, ServiceMonth, fiscal_year_of_payment};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::Money;
use crate::domain::region::Region;

/// What a caller asks the budget to do. Dates are local dates of the jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetCommand {
    Allocate(Allocate),
    TransferToFund(TransferToFund),
    Commit(Commit),
    Pay(Pay),
    Redistribute(Redistribute),
    CloseYear(CloseYear),
    ChargeCarriedOverrun(ChargeCarriedOverrun),
}

/// Allocate money to a region's line.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Allocate {
    pub region: Region,
    pub amount: Money,
    pub on: NaiveDate,
    pub basis: String,
}

/// Record a transfer of budget money to the Fund against its scheduled date.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TransferToFund {
    pub region: Region,
    pub amount: Money,
    pub on: NaiveDate,
    pub due_on: NaiveDate,
}

/// Record an approved, unpaid obligation of an act's region row.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    pub region: Region,
    pub amount: Money,
    pub act_ref: String,
    pub on: NaiveDate,
}

/// Charge a payment to a line.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    pub region: Region,
    pub amount: Money,
    pub payment_ref: String,
    pub act_ref: String,
    pub service_month: ServiceMonth,
    pub on: NaiveDate,
}

/// KG: move money between regions (B-04).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Redistribute {
    pub from_region: Region,
    pub to_region: Region,
    pub amount: Money,
    pub on: NaiveDate,
    pub basis: String,
}

/// KG: close the fiscal year (B-02, B-03).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct CloseYear {
    pub on: NaiveDate,
}

/// KG: charge last year's overspend of a region to this year (B-03).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ChargeCarriedOverrun {
    pub region: Region,
    pub amount: Money,
    pub from_fiscal_year: FiscalYear,
    pub on: NaiveDate,
}

/// Decides a command against the current state. A refusal appends nothing.
pub fn decide(budget: &Budget, command: BudgetCommand) -> Result<Vec<BudgetEvent>, BudgetError> {
    guard_open(budget)?;
    let event = match command {
        BudgetCommand::Allocate(allocate) => decide_allocate(budget, allocate)?,
        BudgetCommand::TransferToFund(transfer) => decide_transfer(budget, transfer)?,
        BudgetCommand::Commit(commit) => decide_commit(budget, commit)?,
        BudgetCommand::Pay(pay) => decide_pay(budget, pay)?,
        BudgetCommand::Redistribute(redistribute) => decide_redistribute(budget, redistribute)?,
        BudgetCommand::CloseYear(close) => return decide_close(budget, close.on),
        BudgetCommand::ChargeCarriedOverrun(charge) => decide_charge_overrun(budget, charge)?,
    };
    Ok(vec![event])
}

fn decide_allocate(budget: &Budget, allocate: Allocate) -> Result<BudgetEvent, BudgetError> {
    check_line_input(budget, allocate.region, "allocation", allocate.amount)?;
    Ok(BudgetEvent::BudgetAllocated(BudgetAllocated {
        region: allocate.region,
        amount: allocate.amount,
        allocated_on: allocate.on,
        basis: allocate.basis,
    }))
}

/// Implements D-08 and A-08 (input side): a transfer after its scheduled date is recorded as late.
fn decide_transfer(budget: &Budget, transfer: TransferToFund) -> Result<BudgetEvent, BudgetError> {
    check_line_input(budget, transfer.region, "transfer", transfer.amount)?;
    Ok(BudgetEvent::BudgetTransferredToFund(
        BudgetTransferredToFund {
            region: transfer.region,
            amount: transfer.amount,
            transferred_on: transfer.on,
            due_on: transfer.due_on,
            late: transfer.on > transfer.due_on,
        },
    ))
}

fn decide_commit(budget: &Budget, commit: Commit) -> Result<BudgetEvent, BudgetError> {
    check_line_input(budget, commit.region, "commitment", commit.amount)?;
    if budget
        .commitments
        .contains_key(&(commit.act_ref.clone(), commit.region))
    {
        return Err(duplicate(budget, "commitment for act", commit.act_ref));
    }
    Ok(BudgetEvent::BudgetCommitted(BudgetCommitted {
        region: commit.region,
        amount: commit.amount,
        act_ref: commit.act_ref,
        committed_on: commit.on,
    }))
}

/// Implements B-02: a closed year accepts nothing more.
fn guard_open(budget: &Budget) -> Result<(), BudgetError> {
    match budget.closed_on {
        Some(closed_on) => Err(BudgetError::YearClosed {
            rule: "B-02",
            budget: budget.id,
            fiscal_year: budget.id.fiscal_year(),
            closed_on,
            next: budget.id.fiscal_year().next(),
        }),
        None => Ok(()),
    }
}

fn check_line_input(
    budget: &Budget,
    region: Region,
    field: &'static str,
    amount: Money,
) -> Result<(), BudgetError> {
    let id = budget.id;
    if region.jurisdiction() != id.jurisdiction() {
        return Err(BudgetError::RegionOutsideJurisdiction {
            rule: "A-20",
            budget: id,
            region,
            jurisdiction: id.jurisdiction(),
        });
    }
    if amount.currency != id.currency() {
        return Err(BudgetError::WrongCurrency {
            rule: "A-36",
            budget: id,
            field,
            found: amount.currency,
            expected: id.currency(),
        });
    }
    if amount.minor <= 0 {
        return Err(BudgetError::NonPositiveAmount {
            rule: "A-20",
            budget: id,
            field,
            amount,
        });
    }
    Ok(())
}

fn duplicate(budget: &Budget, kind: &'static str, reference: String) -> BudgetError {
    BudgetError::DuplicateReference {
        rule: "A-20",
        budget: budget.id,
        kind,
        reference,
    }
}

fn kyrgyz_only(budget: &Budget, what: &'static str, rule: &'static str) -> Result<(), BudgetError> {
    match budget.id.jurisdiction() {
        Jurisdiction::KG => Ok(()),
        jurisdiction @ Jurisdiction::KZ => Err(BudgetError::NotInJurisdiction {
            rule,
            budget: budget.id,
            what,
            jurisdiction,
        }),
    }
}

/// Implements A-20 (never block, only flag) and B-07 (KZ December → next fiscal year).
fn decide_pay(budget: &Budget, pay: Pay) -> Result<BudgetEvent, BudgetError> {
    let Pay {
        region,
        amount,
        payment_ref,
        act_ref,
        service_month,
        on,
    } = pay;
    check_line_input(budget, region, "payment", amount)?;
    let expected = fiscal_year_of_payment(budget.id.jurisdiction(), service_month);
    if expected != budget.id.fiscal_year() {
        return Err(BudgetError::WrongFiscalYear {
            rule: "B-07",
            budget: budget.id,
            service_month,
            expected,
            found: budget.id.fiscal_year(),
        });
    }
    if budget.payment_refs.contains(&payment_ref) {
        return Err(duplicate(budget, "payment", payment_ref));
    }
    let balance_after = budget
        .line(region)
        .balance
        .checked_sub(amount)
        .map_err(|source| budget.money_error(source))?;
    Ok(BudgetEvent::BudgetPaid(BudgetPaid {
        region,
        amount,
        payment_ref,
        act_ref,
        service_month,
        paid_on: on,
        over_budget: balance_after.is_negative(),
    }))
}

/// Implements B-04 and A-21: KG moves money between regions during the reporting year, sum-neutral,
/// and never more than the giving region's unspent balance.
fn decide_redistribute(
    budget: &Budget,
    redistribute: Redistribute,
) -> Result<BudgetEvent, BudgetError> {
    let Redistribute {
        from_region,
        to_region,
        amount,
        on,
        basis,
    } = redistribute;
    kyrgyz_only(budget, "regional redistribution of money", "A-21")?;
    check_line_input(budget, from_region, "redistribution", amount)?;
    check_line_input(budget, to_region, "redistribution", amount)?;
    let id = budget.id;
    if !id.fiscal_year().contains(on) {
        return Err(BudgetError::RedistributionOutsideYear {
            rule: "B-04",
            budget: id,
            on,
            fiscal_year: id.fiscal_year(),
        });
    }
    if from_region == to_region {
        return Err(BudgetError::RedistributionToSameRegion {
            rule: "B-04",
            budget: id,
            region: from_region,
        });
    }
    let balance = budget.line(from_region).balance;
    if amount.minor > balance.minor {
        return Err(BudgetError::RedistributionExceedsBalance {
            rule: "B-04",
            budget: id,
            region: from_region,
            amount,
            balance,
        });
    }
    Ok(BudgetEvent::BudgetRedistributed(BudgetRedistributed {
        from_region,
        to_region,
        amount,
        redistributed_on: on,
        basis,
    }))
}

/// Implements B-02, B-03 and A-20 at year close (KG): each overspent line carries its overspend to next
/// year; each line with money left lets it expire; then the year is closed.
fn decide_close(budget: &Budget, on: NaiveDate) -> Result<Vec<BudgetEvent>, BudgetError> {
    kyrgyz_only(budget, "year close with expiry of unused funds", "B-02")?;
    let id = budget.id;
    let fiscal_year = id.fiscal_year();
    if on.year() <= fiscal_year.0 {
        return Err(BudgetError::CloseBeforeYearEnd {
            rule: "B-02",
            budget: id,
            on,
            fiscal_year,
        });
    }
    let mut events = Vec::new();
    let mut expired = Vec::new();
    for (region, line) in budget.lines() {
        if line.balance.is_negative() {
            let amount = line
                .balance
                .checked_neg()
                .map_err(|source| budget.money_error(source))?;
            events.push(BudgetEvent::BudgetOverrunCarriedForward(
                BudgetOverrunCarriedForward {
                    region,
                    amount,
                    to_fiscal_year: fiscal_year.next(),
                    carried_on: on,
                },
            ));
        } else if line.balance.minor > 0 {
            expired.push(ExpiredBalance {
                region,
                amount: line.balance,
            });
        }
    }
    events.push(BudgetEvent::BudgetYearClosed(BudgetYearClosed {
        closed_on: on,
        expired,
    }));
    Ok(events)
}

/// Implements B-03: last year's overspend of a region is charged to this year's line, once.
fn decide_charge_overrun(
    budget: &Budget,
    charge: ChargeCarriedOverrun,
) -> Result<BudgetEvent, BudgetError> {
    let ChargeCarriedOverrun {
        region,
        amount,
        from_fiscal_year,
        on,
    } = charge;
    kyrgyz_only(budget, "carry-forward of an overspend", "B-03")?;
    check_line_input(budget, region, "carried overrun", amount)?;
    let expected = FiscalYear(budget.id.fiscal_year().0 - 1);
    if from_fiscal_year != expected {
        return Err(BudgetError::OverrunFromWrongYear {
            rule: "B-03",
            budget: budget.id,
            expected,
            found: from_fiscal_year,
        });
    }
    if budget.overrun_charged.contains(&region) {
        return Err(duplicate(
            budget,
            "overrun carried from last year for region",
            region.to_string(),
        ));
    }
    Ok(BudgetEvent::BudgetOverrunCharged(BudgetOverrunCharged {
        region,
        amount,
        from_fiscal_year,
        charged_on: on,
    }))
}
