//! The budget state: lines per region, and `evolve`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::event::{BudgetEvent, BudgetPaid};
use super::{BudgetError, BudgetId};
use crate::domain::money::{Money, MoneyError};
use crate::domain::region::Region;

/// The figures of one (jurisdiction, programme, region, fiscal year) line.
///
/// `paid` is the net amount charged to this line: payments, plus an overrun charged in from last year,
/// minus an overrun carried out to next year. **Invariant:** `balance == allocated − paid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLine {
    pub allocated: Money,
    pub transferred: Money,
    pub committed: Money,
    pub paid: Money,
    pub balance: Money,
    /// Unused balance that expired at year close (B-02).
    pub expired: Money,
    /// Overspend moved to next year's budget (B-03).
    pub carried_forward: Money,
}

impl BudgetLine {
    fn zero(budget: BudgetId) -> BudgetLine {
        let zero = Money::zero(budget.currency());
        BudgetLine {
            allocated: zero,
            transferred: zero,
            committed: zero,
            paid: zero,
            balance: zero,
            expired: zero,
            carried_forward: zero,
        }
    }

    fn assert_balanced(&self) {
        let expected = self
            .allocated
            .checked_sub(self.paid)
            .expect("budget amounts stay far inside i64");
        assert_eq!(
            self.balance, expected,
            "budget line: balance = allocated − paid"
        );
    }
}

/// The state of one budget stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub(super) id: BudgetId,
    lines: BTreeMap<Region, BudgetLine>,
    /// Outstanding commitment per (act reference, region): an act has one row per region.
    pub(super) commitments: BTreeMap<(String, Region), Money>,
    pub(super) payment_refs: BTreeSet<String>,
    /// Regions whose last-year overrun has already been charged here (B-03; once per region).
    pub(super) overrun_charged: BTreeSet<Region>,
    pub(super) closed_on: Option<NaiveDate>,
}

impl Budget {
    /// The empty budget of a stream, before its first event.
    pub fn new(id: BudgetId) -> Budget {
        Budget {
            id,
            lines: BTreeMap::new(),
            commitments: BTreeMap::new(),
            payment_refs: BTreeSet::new(),
            overrun_charged: BTreeSet::new(),
            closed_on: None,
        }
    }

    pub fn id(&self) -> BudgetId {
        self.id
    }

    /// The line of `region`, all zero if nothing was recorded for it.
    pub fn line(&self, region: Region) -> BudgetLine {
        self.lines
            .get(&region)
            .copied()
            .unwrap_or_else(|| BudgetLine::zero(self.id))
    }

    pub fn lines(&self) -> impl Iterator<Item = (Region, &BudgetLine)> {
        self.lines.iter().map(|(region, line)| (*region, line))
    }

    pub fn closed_on(&self) -> Option<NaiveDate> {
        self.closed_on
    }

    pub(super) fn money_error(&self, source: MoneyError) -> BudgetError {
        BudgetError::Money {
            rule: "A-36",
            budget: self.id,
            source,
        }
    }
}

/// Folds one event into the state. Events are facts: evolve never refuses, it only asserts.
pub fn evolve(mut budget: Budget, event: &BudgetEvent) -> Budget {
    match event {
        BudgetEvent::BudgetAllocated(allocated) => {
            budget.update_line(allocated.region, |line| {
                line.allocated = add(line.allocated, allocated.amount);
                line.balance = add(line.balance, allocated.amount);
            });
        }
        BudgetEvent::BudgetTransferredToFund(transfer) => {
            budget.update_line(transfer.region, |line| {
                line.transferred = add(line.transferred, transfer.amount)
            });
        }
        BudgetEvent::BudgetCommitted(committed) => {
            budget.update_line(committed.region, |line| {
                line.committed = add(line.committed, committed.amount)
            });
            let key = (committed.act_ref.clone(), committed.region);
            budget.commitments.insert(key, committed.amount);
        }
        BudgetEvent::BudgetPaid(paid) => budget.apply_paid(paid),
        BudgetEvent::BudgetRedistributed(moved) => {
            budget.update_line(moved.from_region, |line| {
                line.allocated = sub(line.allocated, moved.amount);
                line.balance = sub(line.balance, moved.amount);
            });
            budget.update_line(moved.to_region, |line| {
                line.allocated = add(line.allocated, moved.amount);
                line.balance = add(line.balance, moved.amount);
            });
        }
        BudgetEvent::BudgetOverrunCarriedForward(carried) => {
            budget.update_line(carried.region, |line| {
                line.paid = sub(line.paid, carried.amount);
                line.balance = add(line.balance, carried.amount);
                line.carried_forward = add(line.carried_forward, carried.amount);
            });
        }
        BudgetEvent::BudgetOverrunCharged(charged) => {
            budget.update_line(charged.region, |line| {
                line.paid = add(line.paid, charged.amount);
                line.balance = sub(line.balance, charged.amount);
            });
            budget.overrun_charged.insert(charged.region);
        }
        BudgetEvent::BudgetYearClosed(closed) => {
            for expired in &closed.expired {
                budget.update_line(expired.region, |line| {
                    line.expired = add(line.expired, expired.amount)
                });
            }
            budget.closed_on = Some(closed.closed_on);
        }
    }
    budget
}

impl Budget {
    fn update_line(&mut self, region: Region, change: impl FnOnce(&mut BudgetLine)) {
        let id = self.id;
        let line = self
            .lines
            .entry(region)
            .or_insert_with(|| BudgetLine::zero(id));
        line.assert_balanced();
        change(line);
        line.assert_balanced();
    }

    /// A payment releases the commitment of its act (never below zero) and charges the line.
    fn apply_paid(&mut self, paid: &BudgetPaid) {
        let mut released = Money::zero(paid.amount.currency);
        if let Some(outstanding) = self
            .commitments
            .get_mut(&(paid.act_ref.clone(), paid.region))
        {
            released = if outstanding.minor < paid.amount.minor {
                *outstanding
            } else {
                paid.amount
            };
            *outstanding = sub(*outstanding, released);
        }
        self.update_line(paid.region, |line| {
            line.committed = sub(line.committed, released);
            line.paid = add(line.paid, paid.amount);
            line.balance = sub(line.balance, paid.amount);
        });
        self.payment_refs.insert(paid.payment_ref.clone());
    }
}

/// Amounts in a budget stay far below `i64::MAX` minor units (9.2e16 tiyn = 9.2e14 KZT, about a
/// hundred times the Kazakh state budget); `decide` has checked the currency.
fn add(left: Money, right: Money) -> Money {
    left.checked_add(right)
        .expect("budget amounts stay far inside i64")
}

fn sub(left: Money, right: Money) -> Money {
    left.checked_sub(right)
        .expect("budget amounts stay far inside i64")
}
