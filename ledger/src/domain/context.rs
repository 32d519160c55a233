//! What a decision is made against, passed in by the command handler: the working-day calendar, the
//! rule book, the signature check and the Fund's identity. Nothing here reads a clock or a file.

use chrono::{NaiveDate, Timelike};

use super::calendar::WorkingCalendar;
use super::error::DomainError;
use super::ident::Bin;
use super::jurisdiction::Jurisdiction;
use super::rules::{RuleBook, RuleSet};
use super::signature::SignatureCheck;
use super::time::Timestamp;

/// The reference data and hooks of one decision.
pub struct DecisionContext<'a> {
    /// The calendar of the command's jurisdiction, in its current version.
    pub calendar: &'a dyn WorkingCalendar,
    pub rules: &'a RuleBook,
    /// INTEGRATION POINT (domain2): the key registry implements this (S-01…S-03).
    pub signatures: &'a dyn SignatureCheck,
    /// The Fund's BIN: the signer of conclusions, approvals and act signatures.
    pub fund_bin: Bin,
}

impl DecisionContext<'_> {
    /// The rule set in force for `jurisdiction` on the local date of `at`.
    pub fn rule_set(
        &self,
        jurisdiction: Jurisdiction,
        at: Timestamp,
    ) -> Result<&RuleSet, DomainError> {
        self.rules
            .in_force(jurisdiction, local_date(jurisdiction, at))
    }
}

/// The local date of an instant in the jurisdiction's legal time (RULES "Day counting"; the zones
/// live in one place, `calendar::zone`).
pub fn local_date(jurisdiction: Jurisdiction, at: Timestamp) -> NaiveDate {
    super::calendar::local_date(jurisdiction, at)
}

/// The local hour (0–23) of an instant.
pub fn local_hour(jurisdiction: Jurisdiction, at: Timestamp) -> u32 {
    super::calendar::local_datetime(jurisdiction, at).hour()
}
