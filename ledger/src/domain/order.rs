//! Facts in an order that cannot happen (issue #17): a prescription written after its dispensing, a
//! fiscal receipt of another day than the sale, a registry received before it was submitted, an act
//! signed before it was received, a payment before the act's signature, and the same for the KG
//! prescriptions, reports and settlements. Each is refused with its rule and both instants named.
//!
//! RULES has no ids for these (A-02 orders the clock *steps* of one stream, not the facts a step
//! refers to), so they are project rules O-01…O-08, written down in `docs/domain.md` in the RULES
//! style. Pure: the instants come in as arguments. The general A-02 step order still applies after
//! these checks; these name the fact the later one depends on, not just "the previous step".

use std::fmt;

use chrono::NaiveDate;

use super::calendar::local_datetime;
use super::context::local_date;
use super::error::DomainError;
use super::jurisdiction::Jurisdiction;
use super::time::Timestamp;

/// When a fact happened: an instant, or only a local date when the source records only the day
/// (a prescription is written on a day; a KG sale is reported with its day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    On(NaiveDate),
}

impl When {
    fn local_date(self, jurisdiction: Jurisdiction) -> NaiveDate {
        match self {
            When::At(at) => local_date(jurisdiction, at),
            When::On(date) => date,
        }
    }
}

/// A fact and when it happened, as printed in a refusal: `the dispensing at 2026-01-05T05:00:00Z
/// (local 2026-01-05 10:00)`.
struct Fact {
    name: &'static str,
    when: When,
    jurisdiction: Jurisdiction,
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.when {
            When::At(at) => write!(
                f,
                "{} at {at} (local {})",
                self.name,
                local_datetime(self.jurisdiction, at).format("%Y-%m-%d %H:%M")
            ),
            When::On(date) => write!(f, "{} on {date}", self.name),
        }
    }
}

/// One order rule: the `later` fact never comes before the `earlier` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precedes {
    pub rule: &'static str,
    pub earlier: &'static str,
    pub later: &'static str,
}

/// O-01 (S001 §6, V-08; S002 §33–34, E-11): a prescription is written on or before the day it is
/// dispensed.
pub const PRESCRIPTION_BEFORE_DISPENSING: Precedes = Precedes {
    rule: "O-01",
    earlier: "the prescription written",
    later: "the dispensing",
};

/// O-03 (D-04, A-02): the Fund receives a registry at or after its submission.
pub const REGISTRY_SUBMITTED_BEFORE_RECEIVED: Precedes = Precedes {
    rule: "O-03",
    earlier: "the registry's submission",
    later: "its receipt",
};

/// O-04 (D-05, D-06): the Fund receives an act at or after its submission.
pub const ACT_SUBMITTED_BEFORE_RECEIVED: Precedes = Precedes {
    rule: "O-04",
    earlier: "the act's submission",
    later: "its receipt",
};

/// O-05 (D-06): the Fund signs an act at or after its receipt.
pub const ACT_RECEIVED_BEFORE_SIGNED: Precedes = Precedes {
    rule: "O-05",
    earlier: "the act's receipt",
    later: "its signature",
};

/// O-06 (D-07): a payment is made at or after the act's signature.
pub const ACT_SIGNED_BEFORE_PAID: Precedes = Precedes {
    rule: "O-06",
    earlier: "the act's signature",
    later: "the payment",
};

/// O-07 (P-09, S002 §51–52): the MHIF reviews a payment report at or after its submission.
pub const KG_REPORT_SUBMITTED_BEFORE_REVIEWED: Precedes = Precedes {
    rule: "O-07",
    earlier: "the report's submission",
    later: "its review",
};

/// O-08 (P-09): a KG settlement is paid at or after the report's approval.
pub const KG_REPORT_APPROVED_BEFORE_PAID: Precedes = Precedes {
    rule: "O-08",
    earlier: "the report's approval",
    later: "the payment",
};

/// Checks that `later` does not come before `earlier`. Two instants compare as instants; when
/// either side is only a date, the local dates compare (a prescription written on the day of the
/// sale is in order, whatever the hour of the sale).
pub fn check(
    rule: &Precedes,
    jurisdiction: Jurisdiction,
    object: impl FnOnce() -> String,
    earlier: When,
    later: When,
) -> Result<(), DomainError> {
    let in_order = match (earlier, later) {
        (When::At(earlier), When::At(later)) => later >= earlier,
        _ => later.local_date(jurisdiction) >= earlier.local_date(jurisdiction),
    };
    if in_order {
        return Ok(());
    }
    Err(DomainError::ImpossibleOrder {
        rule: rule.rule,
        object: object(),
        fact: Fact {
            name: rule.later,
            when: later,
            jurisdiction,
        }
        .to_string(),
        relation: "comes before",
        other: Fact {
            name: rule.earlier,
            when: earlier,
            jurisdiction,
        }
        .to_string(),
    })
}

/// Implements O-02 (P-08, M-07; S001 App. 1 col 13): the fiscal receipt of a dispensing is issued on
/// the local day of the dispensing (a receipt of another day is another sale).
pub fn check_receipt_day(
    object: impl FnOnce() -> String,
    receipt_issued_at: Timestamp,
    dispensed_at: Timestamp,
) -> Result<(), DomainError> {
    let jurisdiction = Jurisdiction::KZ;
    if local_date(jurisdiction, receipt_issued_at) == local_date(jurisdiction, dispensed_at) {
        return Ok(());
    }
    Err(DomainError::ImpossibleOrder {
        rule: "O-02",
        object: object(),
        fact: Fact {
            name: "the fiscal receipt issued",
            when: When::At(receipt_issued_at),
            jurisdiction,
        }
        .to_string(),
        relation: "is of another day than",
        other: Fact {
            name: "the dispensing",
            when: When::At(dispensed_at),
            jurisdiction,
        }
        .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// O-01: the day of the sale is in order whatever the hour; the day after the sale is not, and
    /// the refusal names both.
    #[test]
    fn o01_a_prescription_written_after_its_dispensing_is_refused() {
        let sale = When::At(at("2026-01-05T23:30:00+05:00"));
        let object = || "dispensing \"D-1\"".to_owned();
        let same_day = When::On(day("2026-01-05"));
        assert!(
            check(
                &PRESCRIPTION_BEFORE_DISPENSING,
                Jurisdiction::KZ,
                object,
                same_day,
                sale
            )
            .is_ok()
        );
        let error = check(
            &PRESCRIPTION_BEFORE_DISPENSING,
            Jurisdiction::KZ,
            object,
            When::On(day("2026-01-06")),
            sale,
        )
        .unwrap_err();
        assert_eq!(error.rule(), "O-01");
        assert_eq!(
            error.to_string(),
            "dispensing \"D-1\": the dispensing at 2026-01-05T18:30:00Z (local 2026-01-05 23:30) \
             comes before the prescription written on 2026-01-06, which cannot happen (O-01)"
        );
    }

    /// O-02: a receipt of the same local day is in order even across UTC midnight; the next local day
    /// is not.
    #[test]
    fn o02_a_receipt_of_another_day_is_refused() {
        let object = || "dispensing \"D-1\"".to_owned();
        let sale = at("2026-01-05T04:00:00+05:00");
        assert!(check_receipt_day(object, at("2026-01-05T23:00:00+05:00"), sale).is_ok());
        let error = check_receipt_day(object, at("2026-01-06T00:10:00+05:00"), sale).unwrap_err();
        assert_eq!(error.rule(), "O-02");
        let text = error.to_string();
        assert!(text.contains("local 2026-01-06 00:10"), "{text}");
        assert!(text.contains("local 2026-01-05 04:00"), "{text}");
    }

    /// O-03…O-08 compare instants: equal is in order, a microsecond earlier is not.
    #[test]
    fn o03_to_o08_compare_instants() {
        let earlier = at("2026-02-10T10:00:00Z");
        let object = || "period 2026-01".to_owned();
        for rule in [
            REGISTRY_SUBMITTED_BEFORE_RECEIVED,
            ACT_SUBMITTED_BEFORE_RECEIVED,
            ACT_RECEIVED_BEFORE_SIGNED,
            ACT_SIGNED_BEFORE_PAID,
            KG_REPORT_SUBMITTED_BEFORE_REVIEWED,
            KG_REPORT_APPROVED_BEFORE_PAID,
        ] {
            let same = check(
                &rule,
                Jurisdiction::KZ,
                object,
                When::At(earlier),
                When::At(earlier),
            );
            assert!(same.is_ok(), "{}", rule.rule);
            let before = When::At(Timestamp::from_micros(earlier.micros() - 1));
            let error =
                check(&rule, Jurisdiction::KZ, object, When::At(earlier), before).unwrap_err();
            assert_eq!(error.rule(), rule.rule);
            assert!(error.to_string().contains(rule.earlier), "{error}");
        }
    }
}
