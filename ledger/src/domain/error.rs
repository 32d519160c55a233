//! Refusals of the domain: why a command was not accepted.
//!
//! Every variant carries the rule ID it enforces and renders a plain-English message that names the
//! input and its value (STYLE §2.4). A refused command produces no events. Invariant violations are
//! not refusals: they are assertions.

use chrono::NaiveDate;

use super::calendar::CalendarError;
use super::ident::IdentError;
use super::jurisdiction::Jurisdiction;
use super::money::MoneyError;
use super::time::Timestamp;
use super::values::ValueError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An input value failed its format rule.
    #[error("{0}")]
    Value(#[from] ValueError),

    /// An IIN or BIN failed its format or check digit (RULES §3).
    #[error("{0}")]
    Ident(#[from] IdentError),

    /// An input value failed a rule inside a document line (e.g. a registry line).
    #[error("{document} line {line}: {detail} ({rule})")]
    Line {
        rule: &'static str,
        document: &'static str,
        line: u32,
        detail: String,
    },

    /// The command does not fit the aggregate's current stage.
    #[error("{object} is {actual}; {action} needs it to be {expected} ({rule})")]
    WrongStage {
        rule: &'static str,
        object: String,
        action: &'static str,
        expected: &'static str,
        actual: String,
    },

    /// A step dated before the step it follows (A-02: receipt, review, signature and payment each
    /// come at or after the step before).
    #[error("{object}: {action} at {at} is dated before the previous step at {previous} ({rule})")]
    OutOfOrder {
        rule: &'static str,
        object: String,
        action: &'static str,
        at: Timestamp,
        previous: Timestamp,
    },

    /// Two facts in an order that cannot happen (O-01…O-08, `domain::order`): `fact` with its instant
    /// stands in `relation` to `other` with its instant.
    #[error("{object}: {fact} {relation} {other}, which cannot happen ({rule})")]
    ImpossibleOrder {
        rule: &'static str,
        object: String,
        fact: String,
        relation: &'static str,
        other: String,
    },

    /// An eligibility criterion (E-01…E-06) is not met; `detail` lists what is missing.
    #[error("{subject} is not eligible: {detail} ({rule})")]
    NotEligible {
        rule: &'static str,
        subject: String,
        detail: String,
    },

    /// A dispensing cannot be reimbursed under the contract.
    #[error("dispensing \"{dispensing}\" is not reimbursable: {reason} ({rule})")]
    NotReimbursable {
        rule: &'static str,
        dispensing: String,
        reason: String,
    },

    /// The same pack or receipt was already reimbursed.
    #[error("{kind} \"{value}\" was already reimbursed by dispensing \"{first}\" ({rule})")]
    AlreadyReimbursed {
        rule: &'static str,
        kind: &'static str,
        value: String,
        first: String,
    },

    /// Two amounts that must agree do not.
    #[error("{subject}: {detail} ({rule})")]
    AmountMismatch {
        rule: &'static str,
        subject: String,
        detail: String,
    },

    /// A payment would take the paid total above the act total or a programme's share of it.
    #[error(
        "payment of {attempted} on {scope} would exceed its total {total} (already paid {paid}) ({rule})"
    )]
    Overpayment {
        rule: &'static str,
        scope: String,
        attempted: String,
        paid: String,
        total: String,
    },

    /// No price in force for the product on the date.
    #[error("no {price_type} limit price for {product} in force on {date} ({rule})")]
    PriceNotFound {
        rule: &'static str,
        product: String,
        price_type: String,
        date: NaiveDate,
    },

    /// No rule set in force for the business date.
    #[error(
        "no {jurisdiction} rule set is in force on {date}; publish one that covers it ({rule})"
    )]
    NoRuleSet {
        rule: &'static str,
        jurisdiction: Jurisdiction,
        date: NaiveDate,
    },

    /// A rule set's configuration is unusable.
    #[error("{jurisdiction} rule set version {version} is invalid: {detail} ({rule})")]
    InvalidRuleSet {
        rule: &'static str,
        jurisdiction: Jurisdiction,
        version: u32,
        detail: String,
    },

    /// A document signature failed its check (S-01…S-03); the reason comes from the key registry.
    #[error("signature on {document} by BIN {signer} was refused: {reason} ({rule})")]
    SignatureRejected {
        rule: &'static str,
        document: String,
        signer: String,
        reason: String,
    },

    /// A rule of another jurisdiction's policy was asked for: the policies never mix.
    #[error("{what} is not available for {jurisdiction}: {detail} ({rule})")]
    NotInJurisdiction {
        rule: &'static str,
        what: String,
        jurisdiction: Jurisdiction,
        detail: String,
    },

    /// Money arithmetic overflowed or mixed currencies.
    #[error("{subject}: {source} ({rule})")]
    Money {
        rule: &'static str,
        subject: String,
        #[source]
        source: MoneyError,
    },

    /// The working-day calendar could not answer (a date it does not cover).
    #[error("cannot compute the {clock} deadline: {source} ({rule})")]
    Calendar {
        rule: &'static str,
        clock: &'static str,
        #[source]
        source: CalendarError,
    },
}

impl DomainError {
    /// The rule ID the refusal enforces, e.g. `D-02`.
    pub fn rule(&self) -> &'static str {
        match self {
            DomainError::Value(error) => error.rule,
            DomainError::Ident(_) => "RULES §3",
            DomainError::Line { rule, .. }
            | DomainError::WrongStage { rule, .. }
            | DomainError::OutOfOrder { rule, .. }
            | DomainError::ImpossibleOrder { rule, .. }
            | DomainError::NotEligible { rule, .. }
            | DomainError::NotReimbursable { rule, .. }
            | DomainError::AlreadyReimbursed { rule, .. }
            | DomainError::AmountMismatch { rule, .. }
            | DomainError::Overpayment { rule, .. }
            | DomainError::PriceNotFound { rule, .. }
            | DomainError::NoRuleSet { rule, .. }
            | DomainError::InvalidRuleSet { rule, .. }
            | DomainError::SignatureRejected { rule, .. }
            | DomainError::NotInJurisdiction { rule, .. }
            | DomainError::Money { rule, .. }
            | DomainError::Calendar { rule, .. } => rule,
        }
    }

    /// Places a refusal at a line of a document (e.g. an imported registry), keeping its rule:
    /// `registry line 17: IIN "900101300008" fails the check digit (RULES §3)`.
    pub fn in_line(self, document: &'static str, line: u32) -> DomainError {
        let rule = self.rule();
        let message = self.to_string();
        let suffix = format!(" ({rule})");
        let detail = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        DomainError::Line {
            rule,
            document,
            line,
            detail,
        }
    }

    pub(crate) fn money(
        rule: &'static str,
        subject: impl Into<String>,
        source: MoneyError,
    ) -> Self {
        DomainError::Money {
            rule,
            subject: subject.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_value_and_rule() {
        let error = DomainError::Line {
            rule: "RULES §3",
            document: "registry",
            line: 17,
            detail: "patient IIN 900101300008 fails the check digit".into(),
        };
        assert_eq!(
            error.to_string(),
            "registry line 17: patient IIN 900101300008 fails the check digit (RULES §3)"
        );
        assert_eq!(error.rule(), "RULES §3");
    }

    #[test]
    fn rules_s3_an_invalid_iin_is_refused_at_its_registry_line() {
        let error: DomainError = "900101300008"
            .parse::<crate::domain::ident::Iin>()
            .unwrap_err()
            .into();
        let error = error.in_line("registry", 17);
        assert_eq!(
            error.to_string(),
            "registry line 17: IIN \"900101300008\" fails the check digit (RULES §3)"
        );
        assert_eq!(error.rule(), "RULES §3");
    }
}
