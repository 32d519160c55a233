//! Kyrgyz contract lifecycle rules as pure functions (S002 §27–31, §53): the one-year term and its
//! renewal (C-08, A-22), the refusal deadline (D-10, A-23), tax debts on the day of conclusion (E-10)
//! and the validity that bounds compensation (C-10). The contract aggregate itself belongs to the
//! domain engine; these functions are what it calls for a KG contract, never for a KZ one.

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::error::KgError;
use crate::domain::calendar::CalendarDays;

/// C-08: a KG contract runs for one year.
pub const CONTRACT_TERM_MONTHS: u32 = 12;

/// D-10, A-23: a refusal is sent within 3 calendar days of the application (the stricter reading).
pub const REFUSAL_DEADLINE: CalendarDays = CalendarDays(3);

/// A period of contract validity, both ends inclusive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ContractTerm {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl ContractTerm {
    /// C-08: the first year, from the day of conclusion to the day before its anniversary.
    pub fn first(concluded_on: NaiveDate) -> ContractTerm {
        ContractTerm {
            start: concluded_on,
            end: one_year_from(concluded_on),
        }
    }

    /// C-08: the year after this one.
    pub fn next(self) -> ContractTerm {
        let start = self.end + Days::new(1);
        ContractTerm {
            start,
            end: one_year_from(start),
        }
    }

    /// C-10: whether `date` lies within the term.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }
}

fn one_year_from(start: NaiveDate) -> NaiveDate {
    let anniversary = start
        .checked_add_months(Months::new(CONTRACT_TERM_MONTHS))
        .expect("contract dates stay within chrono's range");
    anniversary - Days::new(1)
}

/// Which party filed an objection to renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ContractParty {
    /// The MHIF (source term: «ММК фонду»).
    Fund,
    Pharmacy,
}

/// C-08: a party objects to the contract being extended to the next year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractObjectionFiled {
    /// The contract (the engine's contract id type replaces this string on merge).
    pub contract_id: String,
    pub party: ContractParty,
    pub filed_on: NaiveDate,
    pub reason: String,
}

/// no objection was filed, so the contract runs another year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractRenewed {
    pub contract_id: String,
    pub previous: ContractTerm,
    pub renewed: ContractTerm,
}

/// C-08: an objection was filed, so the contract ends with its term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractExpired {
    pub contract_id: String,
    pub term: ContractTerm,
    pub objection_filed_on: NaiveDate,
}

/// Whether renewal at the anniversary is automatic (A-22 default) or left to a person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum RenewalPolicy {
    #[default]
    Automatic,
    Manual,
}

/// What happens at the anniversary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnniversaryOutcome {
    Renewed(ContractRenewed),
    Expired(ContractExpired),
    /// Manual renewal: nothing happens until a person decides.
    AwaitingDecision,
}

/// Implements C-08 and A-22: after the term ends, the contract is renewed for a year unless an
/// objection was filed during the term. Refused before the term has ended.
pub fn decide_anniversary(
    contract_id: &str,
    term: ContractTerm,
    objections: &[ContractObjectionFiled],
    policy: RenewalPolicy,
    today: NaiveDate,
) -> Result<AnniversaryOutcome, KgError> {
    if today <= term.end {
        return Err(KgError::AnniversaryNotReached {
            rule: "C-08",
            contract_id: contract_id.to_owned(),
            term_end: term.end,
            today,
        });
    }
    let objection = objections
        .iter()
        .filter(|objection| {
            objection.contract_id == contract_id && term.contains(objection.filed_on)
        })
        .min_by_key(|objection| objection.filed_on);
    if let Some(objection) = objection {
        return Ok(AnniversaryOutcome::Expired(ContractExpired {
            contract_id: contract_id.to_owned(),
            term,
            objection_filed_on: objection.filed_on,
        }));
    }
    Ok(match policy {
        RenewalPolicy::Automatic => AnniversaryOutcome::Renewed(ContractRenewed {
            contract_id: contract_id.to_owned(),
            previous: term,
            renewed: term.next(),
        }),
        RenewalPolicy::Manual => AnniversaryOutcome::AwaitingDecision,
    })
}

/// The timeliness of a refusal to conclude, as recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefusalTimeliness {
    pub due_on: NaiveDate,
    pub late: bool,
}

/// Implements D-10 and A-23: a refusal gives reasons and is due 3 calendar days after the application
/// (plain date arithmetic: filed + 3 CD). A late refusal is still a fact and is recorded as late; a
/// refusal without reasons, or dated before the application, is refused.
pub fn check_refusal(
    application_filed_on: NaiveDate,
    refused_on: NaiveDate,
    reasons: &[String],
) -> Result<RefusalTimeliness, KgError> {
    if reasons.iter().all(|reason| reason.trim().is_empty()) {
        return Err(KgError::RefusalWithoutReasons { rule: "D-10" });
    }
    if refused_on < application_filed_on {
        return Err(KgError::RefusalBeforeApplication {
            rule: "D-10",
            application_filed_on,
            refused_on,
        });
    }
    let due_on = application_filed_on + Days::new(u64::from(REFUSAL_DEADLINE.0));
    Ok(RefusalTimeliness {
        due_on,
        late: refused_on > due_on,
    })
}

/// The result of the state tax-debt check (E-10), as the state information systems returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaxDebtCheck {
    pub checked_on: NaiveDate,
    pub has_debts: bool,
    /// The reference of the state IS response.
    pub source_ref: String,
}

/// Implements E-10: on the day of conclusion the pharmacy has no mandatory-tax debts, confirmed by a
/// check made that same day.
pub fn check_no_tax_debts(concluded_on: NaiveDate, check: &TaxDebtCheck) -> Result<(), KgError> {
    if check.checked_on != concluded_on {
        return Err(KgError::TaxCheckNotOnConclusionDay {
            rule: "E-10",
            checked_on: check.checked_on,
            concluded_on,
        });
    }
    if check.has_debts {
        return Err(KgError::TaxDebts {
            rule: "E-10",
            source_ref: check.source_ref.clone(),
            concluded_on,
        });
    }
    Ok(())
}
