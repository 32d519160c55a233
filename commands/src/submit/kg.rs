//! The JSON form of the Kyrgyz contract commands (S002 §27–§30). The domain's
//! [`KgContractCommand`] has struct variants; the wire gives each its own type so that the command's
//! `type` names it, like every other command (`ReceiveKgContractApplication`, not a nested tag), and
//! no name clashes with the KZ contract's (A-15: the two aggregates share the stream shape only).

use ledger::domain::contract::events::Party;
use ledger::domain::contract::kg::{KgContractCommand, TaxDebtCheck};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, KgTin, OrganisationName};
use serde::{Deserialize, Serialize};

/// C-07, E-09, D-10, A-23: a pharmacy (by its TIN) applies for a KG contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveKgContractApplication {
    pub contract_id: ContractId,
    pub received_at: Timestamp,
    pub applicant: KgTin,
    pub name: OrganisationName,
}

/// C-08, E-10: the contract is concluded on a same-day tax check without debts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcludeKgContract {
    pub concluded_at: Timestamp,
    pub tax_check: TaxDebtCheck,
}

/// C-09, D-10: the application is refused, with reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseKgContract {
    pub refused_at: Timestamp,
    pub reasons: Vec<String>,
}

/// a party objects to the renewal during the term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileKgContractObjection {
    pub filed_at: Timestamp,
    pub party: Party,
    pub reason: String,
}

/// at (or after) the anniversary the contract renews or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideKgContractRenewal {
    pub at: Timestamp,
}

impl From<ReceiveKgContractApplication> for KgContractCommand {
    fn from(command: ReceiveKgContractApplication) -> KgContractCommand {
        KgContractCommand::ReceiveApplication {
            contract_id: command.contract_id,
            received_at: command.received_at,
            applicant: command.applicant,
            name: command.name,
        }
    }
}

impl From<ConcludeKgContract> for KgContractCommand {
    fn from(command: ConcludeKgContract) -> KgContractCommand {
        KgContractCommand::Conclude {
            concluded_at: command.concluded_at,
            tax_check: command.tax_check,
        }
    }
}

impl From<RefuseKgContract> for KgContractCommand {
    fn from(command: RefuseKgContract) -> KgContractCommand {
        KgContractCommand::Refuse {
            refused_at: command.refused_at,
            reasons: command.reasons,
        }
    }
}

impl From<FileKgContractObjection> for KgContractCommand {
    fn from(command: FileKgContractObjection) -> KgContractCommand {
        KgContractCommand::FileObjection {
            filed_at: command.filed_at,
            party: command.party,
            reason: command.reason,
        }
    }
}

impl From<DecideKgContractRenewal> for KgContractCommand {
    fn from(command: DecideKgContractRenewal) -> KgContractCommand {
        KgContractCommand::DecideRenewal { at: command.at }
    }
}
