//! Statutory deadline clocks (RULES D-01…D-12, A-01, A-02, A-07, A-08, A-23, A-27).
//!
//! An event that starts a clock carries the rule, the calendar version and the computed due dates
//! ([`Deadline`]), so projections never look the calendar up again (DESIGN §2).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::CalendarVersion;

/// The named statutory clocks; never "the 5-day clock".
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockRule {
    /// D-01: the Fund reviews a contract application within 5 working days.
    ContractReview,
    /// D-02, D-03: the registry is due the 25th of the month after the period ends.
    RegistrySubmission,
    /// D-04: the Fund reviews a received registry within 10 working days.
    RegistryReview,
    /// optional grace period for sending the act after approval (none by default).
    ActSubmission,
    /// D-06: the Fund signs a received act within 5 working days.
    ActSigning,
    /// D-07, D-08: the Fund pays within 5 calendar days of signing; suspendable.
    Payment,
    /// D-10, A-23 (KG): a refusal to contract is sent within 3 calendar days of the application.
    KgRefusal,
    /// D-11 (KG): a prescription is valid 30 calendar days from the day it was written.
    KgPrescriptionValidity,
    /// D-12, A-27 (KG): disputes are accepted within the dispensing month, before the payment report.
    KgDisputeWindow,
}

impl ClockRule {
    pub const ALL: [ClockRule; 9] = [
        ClockRule::ContractReview,
        ClockRule::RegistrySubmission,
        ClockRule::RegistryReview,
        ClockRule::ActSubmission,
        ClockRule::ActSigning,
        ClockRule::Payment,
        ClockRule::KgRefusal,
        ClockRule::KgPrescriptionValidity,
        ClockRule::KgDisputeWindow,
    ];

    /// The wire and CLI name, e.g. `REGISTRY_REVIEW`.
    pub fn name(self) -> &'static str {
        match self {
            ClockRule::ContractReview => "CONTRACT_REVIEW",
            ClockRule::RegistrySubmission => "REGISTRY_SUBMISSION",
            ClockRule::RegistryReview => "REGISTRY_REVIEW",
            ClockRule::ActSubmission => "ACT_SUBMISSION",
            ClockRule::ActSigning => "ACT_SIGNING",
            ClockRule::Payment => "PAYMENT",
            ClockRule::KgRefusal => "KG_REFUSAL",
            ClockRule::KgPrescriptionValidity => "KG_PRESCRIPTION_VALIDITY",
            ClockRule::KgDisputeWindow => "KG_DISPUTE_WINDOW",
        }
    }
}

impl fmt::Display for ClockRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A deadline as decided when its clock started: carried by the starting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadline {
    pub rule: ClockRule,
    /// The calendar version the due date was computed with.
    pub calendar_version: CalendarVersion,
    /// The local date of the triggering event (the day that never counts, A-02).
    pub started_on: NaiveDate,
    /// The due date by strict arithmetic (for calendar-day clocks, before rolling to a working day).
    pub due_strict: NaiveDate,
    /// The due date that binds: the deadline ends at 23:59:59 local time of this date.
    pub due: NaiveDate,
}
