//! Facts of the contract stream `contract/<id>` (S001 §9–§15, §29).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::clock::{Deadline, MonthlyDue};
use crate::domain::ident::Bin;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::region::Region;
use crate::domain::signature::Signature;
use crate::domain::time::Timestamp;
use crate::domain::values::{ContractId, DocumentNumber, OrganisationName, PharmacyLicence};

/// One pharmacy of the network (source term: «аптечная сеть», S001 §10). Counted by licence;
/// its region is the pharmacy's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NetworkPharmacy {
    pub licence: PharmacyLicence,
    /// The company that runs it (the holder, or for a consortium one of its members).
    pub operator: Bin,
    pub region: Region,
    /// E-02: the pharmacy is technically able to work with the ISS.
    pub iss_connected: bool,
}

/// A consortium agreement (source term: «договор консорциума», S001 §11(3), §14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsortiumAgreement {
    pub reference: DocumentNumber,
    pub signed_on: NaiveDate,
    /// E-04: equal reimbursement conditions for every member.
    pub equal_reimbursement_terms: bool,
    /// E-06: names the official representative with powers to sign the contract, registry and act.
    pub representative_named: bool,
}

/// A member of a consortium (source term: «участник консорциума», S001 §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsortiumMember {
    pub bin: Bin,
    pub name: OrganisationName,
}

/// Who applies (C-01): a pharmacy company, or a consortium through its official representative (E-06).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Applicant {
    PharmacyCompany {
        bin: Bin,
        name: OrganisationName,
    },
    Consortium {
        /// The official representative (source term: «официальный представитель консорциума»).
        representative: Bin,
        name: OrganisationName,
        agreement: ConsortiumAgreement,
        members: Vec<ConsortiumMember>,
    },
}

impl Applicant {
    /// The BIN that signs the contract, registries and acts (the contract holder, App. 1 header).
    pub fn holder(&self) -> Bin {
        match self {
            Applicant::PharmacyCompany { bin, .. } => *bin,
            Applicant::Consortium { representative, .. } => *representative,
        }
    }

    pub fn name(&self) -> &OrganisationName {
        match self {
            Applicant::PharmacyCompany { name, .. } | Applicant::Consortium { name, .. } => name,
        }
    }
}

/// A reason with the rule it comes from (refusals, grounds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleFinding {
    pub rule: String,
    pub detail: String,
}

/// The contract term (A-22 KZ: a parameter from the Fund's contract form, C-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractTerm {
    pub starts_on: NaiveDate,
    /// Inclusive last day; `None` = until terminated.
    pub ends_on: Option<NaiveDate>,
}

/// The §29 termination grounds (C-04, A-09 "violation or non-observance").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TerminationGround {
    /// §10: network size or ISS of a pharmacy company.
    NetworkRequirements,
    /// §11: consortium requirements.
    ConsortiumRequirements,
    /// §12: ISS information security.
    InformationSecurity,
    /// §22: registry late or improper.
    RegistrySubmission,
    /// §24: act late or improper.
    ActSubmission,
}

/// Which party a notice is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Party {
    Fund,
    ContractHolder,
}

/// C-01, D-01: the Fund received an application; starts CONTRACT_REVIEW (5 WD, A-02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractApplicationReceived {
    pub contract_id: ContractId,
    pub jurisdiction: Jurisdiction,
    pub received_at: Timestamp,
    pub applicant: Applicant,
    pub pharmacies: Vec<NetworkPharmacy>,
    /// E-05: the ISS information-security test act or protocol, if presented.
    pub iss_test_act: Option<DocumentNumber>,
    pub review: Deadline,
    pub rule_set_version: u32,
}

/// D-01, C-02: the Fund concluded the contract after finding the applicant eligible.
///
/// v2 adds `registry_due`: the terms every month's REGISTRY_SUBMISSION clock is computed from (D-02,
/// D-03), so that the clock runs from the day a month ends, before any registry arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractConcluded {
    pub contract_id: ContractId,
    pub concluded_at: Timestamp,
    pub holder: Bin,
    pub term: ContractTerm,
    /// E-01/E-03 counts the decision was made on (A-32: unique licences; A-31: pharmacy regions).
    pub pharmacies: u32,
    pub regions: u32,
    pub rule_set_version: u32,
    /// The Fund's signature over the contract document.
    pub signature: Signature,
    /// D-02, D-03: the registry's due day and the calendar version it rolls on, as decided at
    /// conclusion. `None` only on contracts recorded before schema v2 (the law's 25th applies, see
    /// the deadline view).
    pub registry_due: Option<MonthlyDue>,
}

/// D-01: the Fund refused, with the criteria not met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractRefused {
    pub contract_id: ContractId,
    pub refused_at: Timestamp,
    pub reasons: Vec<RuleFinding>,
    pub rule_set_version: u32,
}

/// the network changed; carries the counts after the change so views need no recount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PharmacyNetworkChanged {
    pub contract_id: ContractId,
    pub changed_at: Timestamp,
    pub added: Vec<NetworkPharmacy>,
    pub removed: Vec<PharmacyLicence>,
    pub members_joined: Vec<ConsortiumMember>,
    pub members_left: Vec<Bin>,
    pub pharmacies_after: u32,
    pub regions_after: u32,
}

/// E-05, A-32: the ISS test act was granted, renewed or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IssCertificationChanged {
    pub contract_id: ContractId,
    pub changed_at: Timestamp,
    pub certified: bool,
    pub test_act: Option<DocumentNumber>,
}

/// a §29 ground was found. Never terminates by itself: a human decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TerminationGroundDetected {
    pub contract_id: ContractId,
    pub detected_at: Timestamp,
    pub ground: TerminationGround,
    pub finding: RuleFinding,
}

/// C-05, A-25: a written termination notice was sent; the contract still runs until it is received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TerminationNoticeSent {
    pub contract_id: ContractId,
    pub notice: DocumentNumber,
    pub sent_at: Timestamp,
    pub sender: Party,
    pub grounds: Vec<TerminationGround>,
    pub signature: Signature,
}

/// C-05, A-25: the notice was received; the contract ends at this instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TerminationNoticeReceived {
    pub contract_id: ContractId,
    pub notice: DocumentNumber,
    pub received_at: Timestamp,
}
