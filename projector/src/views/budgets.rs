//! The budget view (A-20, A-21, B-01…B-07): per jurisdiction × fiscal year × programme × region, the
//! allocated, transferred, committed, paid and balance figures, with every change linked to the event
//! that caused it.
//!
//! The arithmetic mirrors `ledger::domain::budget::evolve` (balance = allocated − paid; a payment
//! releases its act's commitment, never below zero; an overrun carried forward reduces `paid`, the
//! receiving year's charge raises it; year close records what expired). The property test checks the
//! view against that fold.
//!
//! Keys: `b\0<jurisdiction>\0<year>\0<programme>\0<region>` → [`BudgetLine`];
//! `g\0<jurisdiction>\0<year>\0<programme>\0<region>\0<stream version>` → the [`BudgetChange`]s of one
//! event on that line (history, one key per event, so a line is never rewritten with its history);
//! `k\0<stream>\0<act ref>\0<region>` → the outstanding commitment of an act row.

use chrono::NaiveDate;
use ledger::domain::budget::{BudgetEvent, ServiceMonth};
use ledger::domain::event::Event;
use ledger::domain::money::Money;
use ledger::domain::region::Region;
use ledger::log::{EventEnvelope, EventId};
use serde::{Deserialize, Serialize};

use super::{Key, QueryError, decode_event, scan_values};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{View, ViewError, ViewTxn};

pub const NAME: &str = "budgets";
pub const VERSION: u32 = 1;

/// The budget lines.
pub struct BudgetView;

/// The figures of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetLine {
    pub jurisdiction: String,
    pub fiscal_year: i32,
    pub programme: String,
    pub region: Region,
    pub allocated: Money,
    pub transferred: Money,
    /// Approved (committed), not yet paid.
    pub committed: Money,
    pub paid: Money,
    pub balance: Money,
    /// B-02: unused balance expired at year close.
    pub expired: Money,
    /// B-03: overspend moved to the next year.
    pub carried_forward: Money,
    /// B-03: last year's overspend charged here.
    pub charged_from_last_year: Money,
    /// B-02: the year was closed on this date.
    pub closed_on: Option<NaiveDate>,
}

/// One change of a line, linked to its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetChange {
    pub event_id: EventId,
    pub event_type: String,
    pub on: NaiveDate,
    pub amount: Money,
    pub note: String,
}

/// The coordinates of a budget stream `budget/<jurisdiction>/<programme>/<fiscal-year>`.
struct Coordinates<'a> {
    jurisdiction: &'a str,
    programme: &'a str,
    fiscal_year: i32,
}

impl View for BudgetView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        if !envelope.body.payload.event_type.starts_with("Budget") {
            return Ok(());
        }
        let stream = envelope.body.stream.as_str();
        let coordinates = coordinates(stream)?;
        let Some(event) = budget_event(decode_event(envelope)?) else {
            return Ok(());
        };
        let mut fold = Fold {
            txn,
            envelope,
            coordinates: &coordinates,
        };
        fold.apply(&event)
    }
}

fn budget_event(event: Event) -> Option<BudgetEvent> {
    Some(match event {
        Event::BudgetAllocated(e) => BudgetEvent::BudgetAllocated(e),
        Event::BudgetTransferredToFund(e) => BudgetEvent::BudgetTransferredToFund(e),
        Event::BudgetCommitted(e) => BudgetEvent::BudgetCommitted(e),
        Event::BudgetPaid(e) => BudgetEvent::BudgetPaid(e),
        Event::BudgetRedistributed(e) => BudgetEvent::BudgetRedistributed(e),
        Event::BudgetOverrunCarriedForward(e) => BudgetEvent::BudgetOverrunCarriedForward(e),
        Event::BudgetOverrunCharged(e) => BudgetEvent::BudgetOverrunCharged(e),
        Event::BudgetYearClosed(e) => BudgetEvent::BudgetYearClosed(e),
        _ => return None,
    })
}

fn coordinates(stream: &str) -> Result<Coordinates<'_>, ViewError> {
    let unusable = || ViewError::Event {
        detail: format!(
            "budget event on stream \"{stream}\", expected budget/<jurisdiction>/<programme>/<fiscal-year>"
        ),
    };
    let mut parts = stream.split('/');
    let (Some("budget"), Some(jurisdiction), Some(programme), Some(year), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(unusable());
    };
    let fiscal_year = year.parse().map_err(|_| unusable())?;
    Ok(Coordinates {
        jurisdiction,
        programme,
        fiscal_year,
    })
}

struct Fold<'t, 'a, 'e> {
    txn: &'t mut ViewTxn<'a>,
    envelope: &'e EventEnvelope,
    coordinates: &'e Coordinates<'e>,
}

impl Fold<'_, '_, '_> {
    fn apply(&mut self, event: &BudgetEvent) -> Result<(), ViewError> {
        match event {
            BudgetEvent::BudgetAllocated(e) => self.change(
                e.region,
                e.allocated_on,
                e.amount,
                e.basis.clone(),
                |line| {
                    line.allocated = add(line.allocated, e.amount);
                    line.balance = add(line.balance, e.amount);
                },
            ),
            BudgetEvent::BudgetTransferredToFund(e) => {
                let note = if e.late {
                    format!("late: due {} (D-08)", e.due_on)
                } else {
                    String::new()
                };
                self.change(e.region, e.transferred_on, e.amount, note, |line| {
                    line.transferred = add(line.transferred, e.amount);
                })
            }
            BudgetEvent::BudgetCommitted(e) => self.committed(e),
            BudgetEvent::BudgetPaid(e) => self.paid(e),
            BudgetEvent::BudgetRedistributed(e) => {
                let note = format!("to {} (A-21): {}", e.to_region.code(), e.basis);
                let negative = Money::new(-e.amount.minor, e.amount.currency);
                self.change(e.from_region, e.redistributed_on, negative, note, |line| {
                    line.allocated = sub(line.allocated, e.amount);
                    line.balance = sub(line.balance, e.amount);
                })?;
                let note = format!("from {} (A-21): {}", e.from_region.code(), e.basis);
                self.change(e.to_region, e.redistributed_on, e.amount, note, |line| {
                    line.allocated = add(line.allocated, e.amount);
                    line.balance = add(line.balance, e.amount);
                })
            }
            BudgetEvent::BudgetOverrunCarriedForward(e) => {
                let note = format!(
                    "overspend carried to fiscal year {} (B-03)",
                    e.to_fiscal_year
                );
                self.change(e.region, e.carried_on, e.amount, note, |line| {
                    line.paid = sub(line.paid, e.amount);
                    line.balance = add(line.balance, e.amount);
                    line.carried_forward = add(line.carried_forward, e.amount);
                })
            }
            BudgetEvent::BudgetOverrunCharged(e) => {
                let note = format!("overspend of fiscal year {} (B-03)", e.from_fiscal_year);
                self.change(e.region, e.charged_on, e.amount, note, |line| {
                    line.paid = add(line.paid, e.amount);
                    line.balance = sub(line.balance, e.amount);
                    line.charged_from_last_year = add(line.charged_from_last_year, e.amount);
                })
            }
            BudgetEvent::BudgetYearClosed(e) => self.close(e),
        }
    }

    fn committed(&mut self, e: &ledger::domain::budget::BudgetCommitted) -> Result<(), ViewError> {
        let key = self.commitment_key(&e.act_ref, e.region);
        self.txn.put_encoded(key, &e.amount)?;
        let note = format!("act {}", e.act_ref);
        self.change(e.region, e.committed_on, e.amount, note, |line| {
            line.committed = add(line.committed, e.amount);
        })
    }

    /// A payment releases its act's commitment (never below zero) and charges the line.
    fn paid(&mut self, e: &ledger::domain::budget::BudgetPaid) -> Result<(), ViewError> {
        let key = self.commitment_key(&e.act_ref, e.region);
        let outstanding: Option<Money> = self.txn.get_decoded(&key)?;
        let released = outstanding.map_or(Money::zero(e.amount.currency), |outstanding| {
            if outstanding.minor < e.amount.minor {
                outstanding
            } else {
                e.amount
            }
        });
        if let Some(outstanding) = outstanding {
            self.txn.put_encoded(key, &sub(outstanding, released))?;
        }
        let note = paid_note(
            &e.act_ref,
            e.service_month,
            self.coordinates.fiscal_year,
            e.over_budget,
        );
        self.change(e.region, e.paid_on, e.amount, note, |line| {
            line.committed = sub(line.committed, released);
            line.paid = add(line.paid, e.amount);
            line.balance = sub(line.balance, e.amount);
        })
    }

    /// B-02: records what expired per line and marks every line of the stream closed.
    fn close(
        &mut self,
        closed: &ledger::domain::budget::BudgetYearClosed,
    ) -> Result<(), ViewError> {
        for expired in &closed.expired {
            self.change(
                expired.region,
                closed.closed_on,
                expired.amount,
                "expired at year close (B-02)".to_owned(),
                |line| {
                    line.expired = add(line.expired, expired.amount);
                },
            )?;
        }
        let prefix = self.stream_prefix(b'b').prefix();
        for (key, _) in self.txn.scan_prefix(&prefix)? {
            let mut line: BudgetLine = self.txn.get_decoded(&key)?.expect("scanned key exists");
            line.closed_on = Some(closed.closed_on);
            self.txn.put_encoded(key, &line)?;
        }
        Ok(())
    }

    /// Applies `change` to the line of `region` and records it in the line's history.
    fn change(
        &mut self,
        region: Region,
        on: NaiveDate,
        amount: Money,
        note: String,
        change: impl FnOnce(&mut BudgetLine),
    ) -> Result<(), ViewError> {
        let key = self.stream_prefix(b'b').push(region.code()).into_bytes();
        let mut line = match self.txn.get_decoded::<BudgetLine>(&key)? {
            Some(line) => line,
            None => self.zero_line(region, amount),
        };
        assert_balanced(&line);
        change(&mut line);
        assert_balanced(&line);
        self.txn.put_encoded(key, &line)?;
        let history = self
            .stream_prefix(b'g')
            .push(region.code())
            .push_u64(self.envelope.body.stream_version.0)
            .into_bytes();
        let mut changes: Vec<BudgetChange> = self.txn.get_decoded(&history)?.unwrap_or_default();
        changes.push(BudgetChange {
            event_id: self.envelope.body.event_id,
            event_type: self.envelope.body.payload.event_type.clone(),
            on,
            amount,
            note,
        });
        self.txn.put_encoded(history, &changes)
    }

    fn zero_line(&self, region: Region, like: Money) -> BudgetLine {
        let zero = Money::zero(like.currency);
        BudgetLine {
            jurisdiction: self.coordinates.jurisdiction.to_owned(),
            fiscal_year: self.coordinates.fiscal_year,
            programme: self.coordinates.programme.to_owned(),
            region,
            allocated: zero,
            transferred: zero,
            committed: zero,
            paid: zero,
            balance: zero,
            expired: zero,
            carried_forward: zero,
            charged_from_last_year: zero,
            closed_on: None,
        }
    }

    fn stream_prefix(&self, tag: u8) -> Key {
        line_prefix(
            tag,
            self.coordinates.jurisdiction,
            self.coordinates.fiscal_year,
        )
        .push(self.coordinates.programme)
    }

    fn commitment_key(&self, act_ref: &str, region: Region) -> Vec<u8> {
        Key::new(b'k')
            .push(self.envelope.body.stream.as_str())
            .push(act_ref)
            .push(region.code())
            .into_bytes()
    }
}

/// B-07: a KZ payment for December services is charged to the next fiscal year; the note says so.
fn paid_note(
    act_ref: &str,
    service_month: ServiceMonth,
    fiscal_year: i32,
    over_budget: bool,
) -> String {
    let mut note = format!(
        "act {act_ref}, services {}-{:02}",
        service_month.year(),
        service_month.month()
    );
    if service_month.year() < fiscal_year {
        note.push_str(&format!(", charged to fiscal year {fiscal_year} (B-07)"));
    }
    if over_budget {
        note.push_str(", over budget (A-20)");
    }
    note
}

fn line_prefix(tag: u8, jurisdiction: &str, fiscal_year: i32) -> Key {
    Key::new(tag)
        .push(jurisdiction)
        .push(&format!("{fiscal_year:04}"))
}

/// Amounts stay far inside i64 (see `ledger::domain::budget::state`).
fn add(left: Money, right: Money) -> Money {
    left.checked_add(right)
        .expect("budget amounts stay far inside i64")
}

fn sub(left: Money, right: Money) -> Money {
    left.checked_sub(right)
        .expect("budget amounts stay far inside i64")
}

fn assert_balanced(line: &BudgetLine) {
    assert_eq!(
        line.balance,
        sub(line.allocated, line.paid),
        "budget line: balance = allocated − paid"
    );
}

/// The lines of a jurisdiction and fiscal year, in (programme, region) order.
pub fn lines<R: ViewRead>(
    reader: &ProjectorReader<R>,
    jurisdiction: &str,
    fiscal_year: i32,
) -> Result<Vec<BudgetLine>, QueryError> {
    scan_values(
        reader,
        NAME,
        &line_prefix(b'b', jurisdiction, fiscal_year).prefix(),
    )
}

/// The history of one line, oldest first.
pub fn history<R: ViewRead>(
    reader: &ProjectorReader<R>,
    line: &BudgetLine,
) -> Result<Vec<BudgetChange>, QueryError> {
    let prefix = line_prefix(b'g', &line.jurisdiction, line.fiscal_year)
        .push(&line.programme)
        .push(line.region.code())
        .prefix();
    let batches: Vec<Vec<BudgetChange>> = scan_values(reader, NAME, &prefix)?;
    Ok(batches.into_iter().flatten().collect())
}
