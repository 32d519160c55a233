//! Rule sets with effective dates (A-28) and the per-jurisdiction reimbursement policy (A-15).
//!
//! Every parameter the law leaves to configuration lives in a [`RuleSet`]: an event is judged under
//! the rule set in force on its business date, and the events record the version they were decided
//! under. Kazakhstan and Kyrgyzstan are two policies over one engine; KG rules never leak into KZ.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{CalendarDays, WorkingDays};
use super::error::DomainError;
use super::jurisdiction::Jurisdiction;
use super::money::{Currency, Money, Quantity, UnitPrice, line_amount};

/// Which limit price a dispensing is priced at (M-02, M-05, A-14): configuration, not code.
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
pub enum PriceType {
    /// The limit price per INN or technical characteristic under GOBMP and OSMS (S001 §2(4)).
    InnLimit,
    /// The limit price of domestic products under long-term contracts (S001 §2(11), M-05).
    DomesticLongTerm,
}

/// The parameters a rule set fixes. Defaults are the project's decisions of RULES §4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleParameters {
    /// D-01: application review.
    pub contract_review: WorkingDays,
    /// D-02, D-03, A-04: the registry is due on this day of the month after the period ends.
    pub registry_due_day: u32,
    /// D-04: registry review.
    pub registry_review: WorkingDays,
    /// A-07: grace for sending the act after approval; `None` = no deadline, nothing is overdue.
    pub act_submission_grace: Option<WorkingDays>,
    /// D-06: act signing.
    pub act_signing: WorkingDays,
    /// D-07: payment after signing, calendar days.
    pub payment: CalendarDays,
    /// A-06: whether a late *resubmission* is itself flagged as a §29 ground (lateness is judged on
    /// the first submission either way).
    pub flag_late_resubmission: bool,
    /// A-03(a): a filing on a non-working day or after hours counts as received the next working day.
    pub after_hours_deeming: bool,
    /// A-03(a): the local hour at which the working day ends, used only with `after_hours_deeming`.
    pub working_day_end_hour: u32,
    /// A-14: which limit price prices a dispensing.
    pub limit_price_type: PriceType,
    /// E-01: a single pharmacy company's minimum network.
    pub single_network_pharmacies_min: u32,
    pub single_network_regions_min: u32,
    /// E-03: a consortium's minimum network.
    pub consortium_pharmacies_min: u32,
    pub consortium_regions_min: u32,
    /// The KG contract lifecycle (S002 §28–§30); `None` in every KZ rule set (A-15).
    pub kg_contract: Option<KgContractParameters>,
}

/// KG contract parameters (C-08, D-10, A-22, A-23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgContractParameters {
    /// D-10, A-23: a refusal is sent within this many calendar days of the application (default 3).
    pub refusal: CalendarDays,
    /// C-08: the contract runs this many months (default 12).
    pub term_months: u32,
    /// A-22: at the anniversary, renew when no objection was filed (default on).
    pub auto_renew: bool,
    /// D-13: the day of the month after each period the payment report is due, written into the
    /// contract at conclusion (default the 10th, `clock::KG_PAYMENT_REPORT_DAY`: configuration).
    pub report_due_day: u32,
}

impl RuleParameters {
    /// The KZ 2025 Rules (S001 as amended by Order No. 104) with the RULES §4 decisions.
    pub fn kz_2025() -> Self {
        RuleParameters {
            contract_review: WorkingDays(5),
            registry_due_day: 25,
            registry_review: WorkingDays(10),
            act_submission_grace: None,
            act_signing: WorkingDays(5),
            payment: CalendarDays(5),
            flag_late_resubmission: true,
            after_hours_deeming: false,
            working_day_end_hour: 18,
            limit_price_type: PriceType::InnLimit,
            single_network_pharmacies_min: 70,
            single_network_regions_min: 3,
            consortium_pharmacies_min: 200,
            consortium_regions_min: 5,
            kg_contract: None,
        }
    }

    /// The KG Regulation (S002) with the RULES §4 decisions. The KZ-only fields are unused for KG.
    pub fn kg_default() -> Self {
        RuleParameters {
            kg_contract: Some(KgContractParameters {
                refusal: CalendarDays(3),
                term_months: 12,
                auto_renew: true,
                report_due_day: super::clock::KG_PAYMENT_REPORT_DAY,
            }),
            ..RuleParameters::kz_2025()
        }
    }
}

/// A versioned set of rules of one jurisdiction, in force on `[effective_from, effective_to]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleSet {
    pub jurisdiction: Jurisdiction,
    pub version: u32,
    pub effective_from: NaiveDate,
    /// Inclusive last day; `None` = open-ended.
    pub effective_to: Option<NaiveDate>,
    pub parameters: RuleParameters,
}

impl RuleSet {
    /// Implements D-09 (Order No. 104 §5), A-28: the KZ 2025 Rules take effect once ten calendar days
    /// after the day of first official publication have expired, i.e. on the 11th day after it. The
    /// publication date is not in the seed, so it is configuration.
    pub fn kz_2025(version: u32, published_on: NaiveDate) -> RuleSet {
        RuleSet {
            jurisdiction: Jurisdiction::KZ,
            version,
            effective_from: published_on + chrono::Duration::days(11),
            effective_to: None,
            parameters: RuleParameters::kz_2025(),
        }
    }

    fn invalid(&self, detail: String) -> DomainError {
        DomainError::InvalidRuleSet {
            rule: "A-28",
            jurisdiction: self.jurisdiction,
            version: self.version,
            detail,
        }
    }

    /// The parameters must make sense: a due day every month has, an hour of the day, a non-empty
    /// validity span and non-zero clocks.
    pub fn validate(&self) -> Result<(), DomainError> {
        let parameters = &self.parameters;
        if !(1..=28).contains(&parameters.registry_due_day) {
            return Err(self.invalid(format!(
                "registry due day {} is not within 1–28",
                parameters.registry_due_day
            )));
        }
        if parameters.working_day_end_hour > 24 {
            return Err(self.invalid(format!(
                "working-day end hour {} is not within 0–24",
                parameters.working_day_end_hour
            )));
        }
        if self.effective_to.is_some_and(|to| to < self.effective_from) {
            return Err(self.invalid(format!(
                "it ends before it starts on {}",
                self.effective_from
            )));
        }
        let kg_invalid = parameters.kg_contract.filter(|kg| {
            kg.term_months == 0 || kg.refusal.0 == 0 || !(1..=28).contains(&kg.report_due_day)
        });
        if let Some(kg) = kg_invalid {
            return Err(self.invalid(format!(
                "KG contract term {} months and refusal {} days must be positive, report due day {} within 1–28",
                kg.term_months, kg.refusal.0, kg.report_due_day
            )));
        }
        let clocks = [
            parameters.contract_review,
            parameters.registry_review,
            parameters.act_signing,
        ];
        if clocks.iter().any(|days| days.0 == 0) || parameters.payment.0 == 0 {
            return Err(self.invalid("a statutory clock of 0 days".to_owned()));
        }
        Ok(())
    }

    pub fn covers(&self, date: NaiveDate) -> bool {
        date >= self.effective_from && self.effective_to.is_none_or(|to| date <= to)
    }
}

/// All rule sets known to the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleBook {
    sets: Vec<RuleSet>,
}

impl RuleBook {
    /// Validates every rule set: a bad configuration is refused when loaded, never met mid-decision.
    pub fn new(sets: Vec<RuleSet>) -> Result<Self, DomainError> {
        for set in &sets {
            set.validate()?;
            let twins = sets
                .iter()
                .filter(|other| {
                    other.jurisdiction == set.jurisdiction && other.version == set.version
                })
                .count();
            if twins > 1 {
                return Err(
                    set.invalid(format!("version {} is defined {twins} times", set.version))
                );
            }
        }
        Ok(RuleBook { sets })
    }

    /// Implements A-28: the rule set of `jurisdiction` in force on `date`; when versions overlap the
    /// highest version wins (a later decree supersedes).
    pub fn in_force(
        &self,
        jurisdiction: Jurisdiction,
        date: NaiveDate,
    ) -> Result<&RuleSet, DomainError> {
        self.sets
            .iter()
            .filter(|set| set.jurisdiction == jurisdiction && set.covers(date))
            .max_by_key(|set| set.version)
            .ok_or(DomainError::NoRuleSet {
                rule: "A-28",
                jurisdiction,
                date,
            })
    }
}

/// What a reimbursement policy needs to price one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingInput {
    pub quantity: Quantity,
    pub limit_unit_price: UnitPrice,
    pub trade_name_unit_price: UnitPrice,
    pub currency: Currency,
}

/// The amounts of one line: Fund (col 15), patient (col 16), total (col 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineAmounts {
    pub fund: Money,
    pub patient: Money,
    pub total: Money,
}

/// A jurisdiction's way of splitting a line between the payer and the patient (A-15).
pub trait ReimbursementPolicy {
    fn jurisdiction(&self) -> Jurisdiction;
    fn line_amounts(&self, input: &PricingInput) -> Result<LineAmounts, DomainError>;
}

/// Implements M-01…M-04, M-07, A-10, A-13 (S001 §27): the Fund pays qty × min(limit, trade-name
/// price); the patient pays the rest, never below zero; total = qty × trade-name price.
///
/// ```
/// use ledger::domain::money::Currency;
/// use ledger::domain::rules::{KzCopaymentPolicy, PricingInput, ReimbursementPolicy};
///
/// // 30 tablets sold at 12.00 against a limit price of 10.00 per tablet.
/// let input = PricingInput {
///     quantity: "30".parse().unwrap(),
///     limit_unit_price: "10".parse().unwrap(),
///     trade_name_unit_price: "12".parse().unwrap(),
///     currency: Currency::KZT,
/// };
/// let amounts = KzCopaymentPolicy.line_amounts(&input).unwrap();
/// assert_eq!(amounts.fund.to_string(), "300.00 KZT"); // col 15
/// assert_eq!(amounts.patient.to_string(), "60.00 KZT"); // col 16
/// assert_eq!(amounts.total.to_string(), "360.00 KZT"); // col 17 = 15 + 16
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct KzCopaymentPolicy;

impl ReimbursementPolicy for KzCopaymentPolicy {
    fn jurisdiction(&self) -> Jurisdiction {
        Jurisdiction::KZ
    }

    fn line_amounts(&self, input: &PricingInput) -> Result<LineAmounts, DomainError> {
        let paid_unit_price = input.limit_unit_price.min(input.trade_name_unit_price);
        let fund = line_amount(input.quantity, paid_unit_price, input.currency)
            .map_err(|error| DomainError::money("M-03", "Fund amount", error))?;
        let total = line_amount(input.quantity, input.trade_name_unit_price, input.currency)
            .map_err(|error| DomainError::money("M-07", "total amount", error))?;
        let patient = total
            .checked_sub(fund)
            .map_err(|error| DomainError::money("M-04", "patient amount", error))?;
        // Rounding is monotone, so min(limit, tn) ≤ tn gives fund ≤ total.
        assert!(
            !patient.is_negative(),
            "M-04: patient share is never negative"
        );
        assert_eq!(
            fund.minor + patient.minor,
            total.minor,
            "M-07: 17 = 15 + 16"
        );
        Ok(LineAmounts {
            fund,
            patient,
            total,
        })
    }
}

/// Implements A-15: Kyrgyz lines are not priced from a limit price and a trade-name price at all.
/// The KG settlement aggregate (`period::kg`) prices them with `kg::kg_reimbursement` from the
/// Reference Book, the course dose and the retail cap (M-10…M-19). Asking for a KG line-amount
/// formula therefore refuses, so that the KZ computation is never applied to a KG line.
#[derive(Debug, Clone, Copy, Default)]
pub struct KgReferenceBookPolicy;

impl ReimbursementPolicy for KgReferenceBookPolicy {
    fn jurisdiction(&self) -> Jurisdiction {
        Jurisdiction::KG
    }

    fn line_amounts(&self, _input: &PricingInput) -> Result<LineAmounts, DomainError> {
        Err(DomainError::NotInJurisdiction {
            rule: "A-15",
            what: "the KZ co-payment formula".to_owned(),
            jurisdiction: Jurisdiction::KG,
            detail: "KG lines are priced from the Reference Book by the KG period aggregate (period::kg)"
                .to_owned(),
        })
    }
}

/// The policy of a jurisdiction.
pub fn policy_for(jurisdiction: Jurisdiction) -> &'static dyn ReimbursementPolicy {
    match jurisdiction {
        Jurisdiction::KZ => &KzCopaymentPolicy,
        Jurisdiction::KG => &KgReferenceBookPolicy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn set(version: u32, from: &str, to: Option<&str>) -> RuleSet {
        RuleSet {
            jurisdiction: Jurisdiction::KZ,
            version,
            effective_from: date(from),
            effective_to: to.map(date),
            parameters: RuleParameters::kz_2025(),
        }
    }

    #[test]
    fn a28_rule_set_in_force_on_business_date() {
        let book = RuleBook::new(vec![
            set(1, "2025-10-17", Some("2026-06-30")),
            set(2, "2026-07-01", None),
        ])
        .unwrap();
        assert_eq!(
            book.in_force(Jurisdiction::KZ, date("2026-01-15"))
                .unwrap()
                .version,
            1
        );
        assert_eq!(
            book.in_force(Jurisdiction::KZ, date("2026-07-01"))
                .unwrap()
                .version,
            2
        );
        let error = book
            .in_force(Jurisdiction::KZ, date("2025-10-01"))
            .unwrap_err();
        assert_eq!(error.rule(), "A-28");
        assert!(book.in_force(Jurisdiction::KG, date("2026-01-15")).is_err());
    }

    /// A-28: a configuration that cannot be applied is refused when the rule book is loaded.
    #[test]
    fn a28_invalid_rule_sets_are_refused_on_load() {
        let mut bad_day = set(1, "2025-10-17", None);
        bad_day.parameters.registry_due_day = 31;
        let error = RuleBook::new(vec![bad_day]).unwrap_err();
        assert_eq!(error.rule(), "A-28");
        assert!(error.to_string().contains("registry due day 31"), "{error}");
        let twins = RuleBook::new(vec![set(1, "2025-10-17", None), set(1, "2026-01-01", None)]);
        assert!(twins.is_err());
        assert!(RuleBook::new(vec![set(1, "2026-01-01", Some("2025-12-31"))]).is_err());
    }

    /// D-09: published 6 October → ten days expire on the 16th → in force 17 October.
    #[test]
    fn d09_kz_2025_rules_take_effect_after_ten_calendar_days() {
        let set = RuleSet::kz_2025(1, date("2025-10-06"));
        assert_eq!(set.effective_from, date("2025-10-17"));
        assert!(!set.covers(date("2025-10-16")));
        assert!(set.covers(date("2025-10-17")));
    }

    #[test]
    fn a15_kg_never_gets_the_kz_formula() {
        let input = PricingInput {
            quantity: "1".parse().unwrap(),
            limit_unit_price: "10".parse().unwrap(),
            trade_name_unit_price: "12".parse().unwrap(),
            currency: Currency::KGS,
        };
        assert_eq!(
            policy_for(Jurisdiction::KG)
                .line_amounts(&input)
                .unwrap_err()
                .rule(),
            "A-15"
        );
        assert!(policy_for(Jurisdiction::KZ).line_amounts(&input).is_ok());
    }

    #[test]
    fn m04_patient_pays_nothing_when_trade_name_is_cheaper() {
        let input = PricingInput {
            quantity: "30".parse().unwrap(),
            limit_unit_price: "10".parse().unwrap(),
            trade_name_unit_price: "8.5".parse().unwrap(),
            currency: Currency::KZT,
        };
        let amounts = KzCopaymentPolicy.line_amounts(&input).unwrap();
        assert_eq!(amounts.fund.minor, 25_500);
        assert_eq!(amounts.patient.minor, 0);
        assert_eq!(amounts.total.minor, 25_500);
    }
}
