//! Recovery of unjustified reimbursements (RULES; S002 §23, §46–47).
//!
//! An inspection act assesses an amount against a debtor ([`RecoveryAssessed`]). A pharmacy's debt
//! prescriptions found faulty after dispensing) is recovered by offset against its next
//! settlements ([`RecoveryOffset`] lines, citing the inspection act). The debtor of an R-01 recovery
//! (unjustifiably written prescriptions) is the prescribing organisation or doctor, never the pharmacy
//! such debts are not offset against pharmacy settlements.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, Money};

/// Who owes a recovery.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Debtor {
    Pharmacy(String),
    PrescribingOrganisation(String),
    Doctor(String),
}

/// Why the money is recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RecoveryGround {
    /// compensation paid on unjustifiably written prescriptions.
    UnjustifiedPrescription,
    /// a prescription found faulty after dispensing, in a planned or targeted check.
    FaultyAfterDispensing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecoveryAssessed {
    pub recovery_id: String,
    pub debtor: Debtor,
    pub ground: RecoveryGround,
    /// The inspection act (source term: «текшерүү актысы») the recovery rests on.
    pub inspection_act_ref: String,
    pub amount: Money,
    pub assessed_on: NaiveDate,
}

/// One offset line of a settlement: part of a recovery deducted from what the pharmacy is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecoveryOffset {
    pub recovery_id: String,
    pub settlement_ref: String,
    pub inspection_act_ref: String,
    pub amount: Money,
    pub offset_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RecoveryEvent {
    RecoveryAssessed(RecoveryAssessed),
    RecoveryOffset(RecoveryOffset),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "recovery \"{recovery_id}\": a {ground:?} recovery cannot be charged to {debtor:?} ({rule})"
    )]
    DebtorNotAllowed {
        rule: &'static str,
        recovery_id: String,
        ground: RecoveryGround,
        debtor: Debtor,
    },
    #[error("recovery \"{recovery_id}\" must cite the inspection act it rests on ({rule})")]
    MissingInspectionAct {
        rule: &'static str,
        recovery_id: String,
    },
    #[error("recovery \"{recovery_id}\": amount {amount} must be a positive KGS amount ({rule})")]
    InvalidAmount {
        rule: &'static str,
        recovery_id: String,
        amount: Money,
    },
    #[error("recovery \"{recovery_id}\" is already assessed ({rule})")]
    DuplicateRecovery {
        rule: &'static str,
        recovery_id: String,
    },
    #[error("settlement \"{settlement_ref}\" already carries recovery offsets ({rule})")]
    SettlementAlreadyOffset {
        rule: &'static str,
        settlement_ref: String,
    },
    #[error(
        "settlement \"{settlement_ref}\": gross amount {gross} must be a non-negative KGS amount ({rule})"
    )]
    InvalidSettlement {
        rule: &'static str,
        settlement_ref: String,
        gross: Money,
    },
}

impl RecoveryError {
    /// The ID of the rule that refused the input (RULES.md).
    pub fn rule(&self) -> &'static str {
        match self {
            RecoveryError::DebtorNotAllowed { rule, .. } => rule,
            RecoveryError::MissingInspectionAct { rule, .. } => rule,
            RecoveryError::InvalidAmount { rule, .. } => rule,
            RecoveryError::DuplicateRecovery { rule, .. } => rule,
            RecoveryError::SettlementAlreadyOffset { rule, .. } => rule,
            RecoveryError::InvalidSettlement { rule, .. } => rule,
        }
    }
}

/// A recovery and what has been offset so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryBalance {
    pub assessed: RecoveryAssessed,
    pub offset: Money,
}

impl RecoveryBalance {
    pub fn outstanding(&self) -> Money {
        self.assessed
            .amount
            .checked_sub(self.offset)
            .expect("offsets never exceed the assessment")
    }
}

/// Every recovery of the programme (a projection over the recovery events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recoveries {
    recoveries: BTreeMap<String, RecoveryBalance>,
    settlements: BTreeSet<String>,
}

impl Recoveries {
    pub fn new() -> Recoveries {
        Recoveries::default()
    }

    pub fn get(&self, recovery_id: &str) -> Option<&RecoveryBalance> {
        self.recoveries.get(recovery_id)
    }
}

/// Implements: an assessment cites its inspection act and is charged to the debtor
/// the ground allows.
pub fn decide_assessment(
    recoveries: &Recoveries,
    assessment: RecoveryAssessed,
) -> Result<RecoveryEvent, RecoveryError> {
    let recovery_id = assessment.recovery_id.clone();
    let allowed = match assessment.ground {
        RecoveryGround::UnjustifiedPrescription => {
            !matches!(assessment.debtor, Debtor::Pharmacy(_))
        }
        RecoveryGround::FaultyAfterDispensing => matches!(assessment.debtor, Debtor::Pharmacy(_)),
    };
    if !allowed {
        let rule = match assessment.ground {
            RecoveryGround::UnjustifiedPrescription => "A-26",
            RecoveryGround::FaultyAfterDispensing => "R-04",
        };
        return Err(RecoveryError::DebtorNotAllowed {
            rule,
            recovery_id,
            ground: assessment.ground,
            debtor: assessment.debtor,
        });
    }
    if assessment.inspection_act_ref.trim().is_empty() {
        return Err(RecoveryError::MissingInspectionAct {
            rule: "R-04",
            recovery_id,
        });
    }
    if assessment.amount.currency != Currency::KGS || assessment.amount.minor <= 0 {
        return Err(RecoveryError::InvalidAmount {
            rule: "R-04",
            recovery_id,
            amount: assessment.amount,
        });
    }
    if recoveries.recoveries.contains_key(&recovery_id) {
        return Err(RecoveryError::DuplicateRecovery {
            rule: "R-04",
            recovery_id,
        });
    }
    Ok(RecoveryEvent::RecoveryAssessed(assessment))
}

/// Implements: the offset lines of a pharmacy's next settlement. Outstanding pharmacy
/// recoveries are offset oldest first, each up to what is left of the settlement's gross amount, so the
/// net payable never goes below zero; what does not fit waits for the following settlement.
pub fn plan_offsets(
    recoveries: &Recoveries,
    pharmacy: &str,
    settlement_ref: &str,
    gross: Money,
    on: NaiveDate,
) -> Result<Vec<RecoveryEvent>, RecoveryError> {
    if gross.currency != Currency::KGS || gross.is_negative() {
        return Err(RecoveryError::InvalidSettlement {
            rule: "R-04",
            settlement_ref: settlement_ref.to_owned(),
            gross,
        });
    }
    if recoveries.settlements.contains(settlement_ref) {
        return Err(RecoveryError::SettlementAlreadyOffset {
            rule: "R-04",
            settlement_ref: settlement_ref.to_owned(),
        });
    }
    let mut open: Vec<&RecoveryBalance> = recoveries
        .recoveries
        .values()
        .filter(|balance| balance.assessed.debtor == Debtor::Pharmacy(pharmacy.to_owned()))
        .filter(|balance| balance.outstanding().minor > 0)
        .collect();
    open.sort_by(|left, right| {
        (left.assessed.assessed_on, &left.assessed.recovery_id)
            .cmp(&(right.assessed.assessed_on, &right.assessed.recovery_id))
    });
    let mut left = gross.minor;
    let mut events = Vec::new();
    for balance in open {
        if left == 0 {
            break;
        }
        let amount = balance.outstanding().minor.min(left);
        left -= amount;
        events.push(RecoveryEvent::RecoveryOffset(RecoveryOffset {
            recovery_id: balance.assessed.recovery_id.clone(),
            settlement_ref: settlement_ref.to_owned(),
            inspection_act_ref: balance.assessed.inspection_act_ref.clone(),
            amount: Money::new(amount, Currency::KGS),
            offset_on: on,
        }));
    }
    assert!(
        left >= 0,
        "offsets never exceed the settlement's gross amount"
    );
    Ok(events)
}

pub fn evolve(mut recoveries: Recoveries, event: &RecoveryEvent) -> Recoveries {
    match event {
        RecoveryEvent::RecoveryAssessed(assessed) => {
            let balance = RecoveryBalance {
                assessed: assessed.clone(),
                offset: Money::zero(Currency::KGS),
            };
            let previous = recoveries
                .recoveries
                .insert(assessed.recovery_id.clone(), balance);
            assert!(previous.is_none(), "a recovery is assessed once");
        }
        RecoveryEvent::RecoveryOffset(offset) => {
            let balance = recoveries
                .recoveries
                .get_mut(&offset.recovery_id)
                .expect("an offset follows its assessment");
            balance.offset = balance
                .offset
                .checked_add(offset.amount)
                .expect("recovery amounts fit i64");
            assert!(
                balance.offset.minor <= balance.assessed.amount.minor,
                "offsets never exceed the assessment"
            );
            recoveries.settlements.insert(offset.settlement_ref.clone());
        }
    }
    recoveries
}
