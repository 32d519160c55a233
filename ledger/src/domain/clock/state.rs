//! A running clock: its deadline, its suspensions and its stop, and its status as of any instant.
//! Clocks need no timers: "overdue as of D" is a query over these facts (DESIGN §4).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{ClockRule, ClockTerm, ClockUnit, Deadline, plus_days};
use crate::domain::calendar::{
    CalendarDays, CalendarError, WorkingCalendar, WorkingDays, local_date,
};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::time::Timestamp;

/// The most suspensions one clock may record; budget transfers are monthly, so this is generous.
pub const SUSPENSIONS_MAX: usize = 64;

/// one `PaymentClockSuspended` … `PaymentClockResumed` pair; `resumed_at` is `None` while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Suspension {
    pub suspended_at: Timestamp,
    pub resumed_at: Option<Timestamp>,
}

/// A count of days in the clock's own unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayCount {
    Working(WorkingDays),
    Calendar(CalendarDays),
}

/// Where a clock stands as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    /// Not stopped, due date not passed; `remaining` days after today up to and including `due`.
    Running { due: NaiveDate, remaining: DayCount },
    /// Suspended since `since` with `remaining` calendar days carried to the resume date.
    Suspended {
        since: NaiveDate,
        remaining: DayCount,
    },
    MetOnTime {
        stopped_on: NaiveDate,
        due: NaiveDate,
    },
    MetLate {
        stopped_on: NaiveDate,
        due: NaiveDate,
        late_by: DayCount,
    },
    Overdue {
        due: NaiveDate,
        overdue_by: DayCount,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("clock {rule} cannot be suspended: only PAYMENT is suspendable (D-08)")]
    NotSuspendable { rule: ClockRule },
    #[error("clock {rule} is already suspended since {since}")]
    AlreadySuspended { rule: ClockRule, since: Timestamp },
    #[error("clock {rule} is not suspended, so it cannot resume")]
    NotSuspended { rule: ClockRule },
    #[error("clock {rule} was already stopped at {stopped_at}")]
    Stopped {
        rule: ClockRule,
        stopped_at: Timestamp,
    },
    #[error("clock {rule}: {at} is before the clock's previous event at {previous}")]
    OutOfOrder {
        rule: ClockRule,
        at: Timestamp,
        previous: Timestamp,
    },
    #[error("clock {rule} has {SUSPENSIONS_MAX} suspensions, the maximum")]
    TooManySuspensions { rule: ClockRule },
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// One clock instance: started with its deadline, then suspended, resumed and stopped by events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Clock {
    jurisdiction: Jurisdiction,
    deadline: Deadline,
    unit: ClockUnit,
    started_at: Timestamp,
    suspensions: Vec<Suspension>,
    stopped_at: Option<Timestamp>,
}

/// The due date after the suspensions up to some instant, or the pause in force at it.
struct Folded {
    strict: NaiveDate,
    due: NaiveDate,
    /// An open suspension: its local start date and the calendar days carried to the resume.
    paused: Option<(NaiveDate, CalendarDays)>,
}

impl Clock {
    /// Starts a clock at `started_at` with the deadline computed for it (see `clock::deadline`).
    pub fn start(
        jurisdiction: Jurisdiction,
        deadline: Deadline,
        term: ClockTerm,
        started_at: Timestamp,
    ) -> Clock {
        assert!(
            deadline.due_strict <= deadline.due,
            "rolled due precedes strict due"
        );
        Clock {
            jurisdiction,
            deadline,
            unit: term.unit(),
            started_at,
            suspensions: Vec::new(),
            stopped_at: None,
        }
    }

    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    pub fn suspensions(&self) -> &[Suspension] {
        &self.suspensions
    }

    /// `PaymentClockSuspended` at `at`.
    pub fn suspend(&mut self, at: Timestamp) -> Result<(), ClockError> {
        let rule = self.deadline.rule;
        if !rule.is_suspendable() {
            return Err(ClockError::NotSuspendable { rule });
        }
        self.check_next_event(at)?;
        if let Some(open) = self.open_suspension() {
            return Err(ClockError::AlreadySuspended {
                rule,
                since: open.suspended_at,
            });
        }
        if self.suspensions.len() >= SUSPENSIONS_MAX {
            return Err(ClockError::TooManySuspensions { rule });
        }
        self.suspensions.push(Suspension {
            suspended_at: at,
            resumed_at: None,
        });
        Ok(())
    }

    /// `PaymentClockResumed` at `at`; the clock continues with the days it had left.
    pub fn resume(&mut self, at: Timestamp) -> Result<(), ClockError> {
        let rule = self.deadline.rule;
        self.check_next_event(at)?;
        let open = self
            .suspensions
            .last_mut()
            .filter(|suspension| suspension.resumed_at.is_none())
            .ok_or(ClockError::NotSuspended { rule })?;
        open.resumed_at = Some(at);
        Ok(())
    }

    /// The stop event (e.g. `ContractConcluded`, `RegistryApproved`, `PaymentMade`) at `at`.
    pub fn stop(&mut self, at: Timestamp) -> Result<(), ClockError> {
        self.check_next_event(at)?;
        self.stopped_at = Some(at);
        Ok(())
    }

    /// The due dates in force as of `as_of`, after the suspensions completed by then. While a
    /// suspension is open, the dates before it are returned.
    pub fn due_as_of(
        &self,
        calendar: &impl WorkingCalendar,
        as_of: Timestamp,
    ) -> Result<super::DueDates, CalendarError> {
        let folded = self.fold(calendar, as_of)?;
        Ok(super::DueDates {
            strict: folded.strict,
            rolled: folded.due,
        })
    }

    /// The status as of `as_of`, counting only the events at or before it.
    pub fn status(
        &self,
        calendar: &impl WorkingCalendar,
        as_of: Timestamp,
    ) -> Result<ClockStatus, CalendarError> {
        if let Some(stopped_at) = self.stopped_at.filter(|stopped_at| *stopped_at <= as_of) {
            let folded = self.fold(calendar, stopped_at)?;
            let stopped_on = local_date(self.jurisdiction, stopped_at);
            if folded.paused.is_some() || stopped_on <= folded.due {
                return Ok(ClockStatus::MetOnTime {
                    stopped_on,
                    due: folded.due,
                });
            }
            let late_by = self.count(calendar, folded.due, stopped_on)?;
            return Ok(ClockStatus::MetLate {
                stopped_on,
                due: folded.due,
                late_by,
            });
        }
        let folded = self.fold(calendar, as_of)?;
        if let Some((since, carried)) = folded.paused {
            return Ok(ClockStatus::Suspended {
                since,
                remaining: DayCount::Calendar(carried),
            });
        }
        let today = local_date(self.jurisdiction, as_of);
        if today <= folded.due {
            let remaining = self.count(calendar, today, folded.due)?;
            return Ok(ClockStatus::Running {
                due: folded.due,
                remaining,
            });
        }
        let overdue_by = self.count(calendar, folded.due, today)?;
        Ok(ClockStatus::Overdue {
            due: folded.due,
            overdue_by,
        })
    }

    /// Applies the suspensions that began at or before `as_of` (A-08, docs/calendars.md): at a
    /// suspension on local date `ds` the clock keeps `carried = strict − ds` calendar days (at least 0);
    /// on resuming on `dr` the new strict due is `dr + carried`, rolled forward to a working day. A
    /// suspension that begins after the binding due date has passed changes nothing.
    fn fold(
        &self,
        calendar: &impl WorkingCalendar,
        as_of: Timestamp,
    ) -> Result<Folded, CalendarError> {
        let mut folded = Folded {
            strict: self.deadline.due_strict,
            due: self.deadline.due,
            paused: None,
        };
        for suspension in self.suspensions.iter().filter(|s| s.suspended_at <= as_of) {
            let suspended_on = local_date(self.jurisdiction, suspension.suspended_at);
            if suspended_on > folded.due {
                continue;
            }
            let carried = u32::try_from((folded.strict - suspended_on).num_days().max(0))
                .expect("a clock's term fits in u32 days");
            match suspension
                .resumed_at
                .filter(|resumed_at| *resumed_at <= as_of)
            {
                Some(resumed_at) => {
                    let resumed_on = local_date(self.jurisdiction, resumed_at);
                    folded.strict = plus_days(resumed_on, carried);
                    folded.due = calendar.roll_forward(folded.strict)?;
                }
                None => {
                    folded.paused = Some((suspended_on, CalendarDays(carried)));
                    break;
                }
            }
        }
        Ok(folded)
    }

    /// Days in `(after, through]` in the clock's unit.
    fn count(
        &self,
        calendar: &impl WorkingCalendar,
        after: NaiveDate,
        through: NaiveDate,
    ) -> Result<DayCount, CalendarError> {
        Ok(match self.unit {
            ClockUnit::WorkingDays => {
                DayCount::Working(calendar.working_days_between(after, through)?)
            }
            ClockUnit::CalendarDays => {
                let days = (through - after).num_days().max(0);
                DayCount::Calendar(CalendarDays(
                    u32::try_from(days).expect("day counts inside the calendar fit in u32"),
                ))
            }
        })
    }

    fn open_suspension(&self) -> Option<&Suspension> {
        self.suspensions.last().filter(|s| s.resumed_at.is_none())
    }

    /// Events on a clock arrive in time order, and nothing follows a stop.
    fn check_next_event(&self, at: Timestamp) -> Result<(), ClockError> {
        let rule = self.deadline.rule;
        if let Some(stopped_at) = self.stopped_at {
            return Err(ClockError::Stopped { rule, stopped_at });
        }
        let previous = self
            .suspensions
            .last()
            .map(|s| s.resumed_at.unwrap_or(s.suspended_at))
            .unwrap_or(self.started_at);
        if at < previous {
            return Err(ClockError::OutOfOrder { rule, at, previous });
        }
        Ok(())
    }
}
