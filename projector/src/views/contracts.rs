//! The contract view (C-01…C-05, E-01…E-06, A-25, A-31, A-32): status, holder, network size by
//! region, ISS certification and the §29 termination grounds detected (never a termination by itself).
//!
//! Keys: `c\0<contract>` → [`ContractRecord`]. The network is kept per licence (A-32 counts unique
//! licences; a pharmacy counts in its own region, A-31); a network has at most
//! `NETWORK_PHARMACIES_MAX` pharmacies, so the record stays small enough to rewrite per contract event.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger::domain::contract::events::{RuleFinding, TerminationGround};
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::region::Region;
use ledger::domain::time::Timestamp;
use ledger::domain::values::OrganisationName;
use ledger::log::{EventEnvelope, EventId};
use serde::{Deserialize, Serialize};

use super::{Key, QueryError, decode_event, scan_values};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{View, ViewError, ViewTxn};

pub const NAME: &str = "contracts";
pub const VERSION: u32 = 2;

const FOLDED: [&str; 13] = [
    "ContractApplicationReceived",
    "KgContractApplicationReceived",
    "KgContractConcluded",
    "ContractConcluded",
    "ContractRefused",
    "PharmacyNetworkChanged",
    "IssCertificationChanged",
    "TerminationGroundDetected",
    "TerminationNoticeSent",
    "TerminationNoticeReceived",
    "ContractRenewed",
    "ContractExpired",
    "ContractObjectionFiled",
];

/// Every contract.
pub struct ContractView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Application received, under review (D-01).
    Applied,
    Concluded,
    Refused,
    /// A termination notice was sent and not yet received (C-05, A-25).
    TerminationNoticed,
    Terminated,
    /// KG: an objection was filed; the contract ends with its term.
    ObjectionFiled,
    Expired,
}

impl ContractStatus {
    pub fn name(self) -> &'static str {
        match self {
            ContractStatus::Applied => "applied",
            ContractStatus::Concluded => "concluded",
            ContractStatus::Refused => "refused",
            ContractStatus::TerminationNoticed => "termination noticed",
            ContractStatus::Terminated => "terminated",
            ContractStatus::ObjectionFiled => "objection filed",
            ContractStatus::Expired => "expired",
        }
    }
}

/// A termination ground found (C-04), with the event that recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroundDetected {
    pub ground: TerminationGround,
    pub finding: RuleFinding,
    pub detected_at: Timestamp,
    pub event_id: EventId,
}

/// One contract as folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractRecord {
    pub contract_id: String,
    pub jurisdiction: Option<Jurisdiction>,
    pub status: ContractStatus,
    pub holder_name: Option<OrganisationName>,
    pub holder_bin: Option<Bin>,
    pub applied_at: Option<Timestamp>,
    pub concluded_at: Option<Timestamp>,
    pub ends_on: Option<NaiveDate>,
    /// Licence → the pharmacy's own region.
    pub pharmacies: BTreeMap<String, Region>,
    /// E-05: the ISS test act is in force.
    pub iss_certified: bool,
    /// Why the Fund refused, if it did.
    pub refusal: Vec<RuleFinding>,
    pub grounds: Vec<GroundDetected>,
}

impl ContractRecord {
    fn new(contract_id: &str) -> ContractRecord {
        ContractRecord {
            contract_id: contract_id.to_owned(),
            jurisdiction: None,
            status: ContractStatus::Applied,
            holder_name: None,
            holder_bin: None,
            applied_at: None,
            concluded_at: None,
            ends_on: None,
            pharmacies: BTreeMap::new(),
            iss_certified: false,
            refusal: Vec::new(),
            grounds: Vec::new(),
        }
    }

    /// Network size by region code.
    pub fn network_by_region(&self) -> BTreeMap<&'static str, u32> {
        let mut counts = BTreeMap::new();
        for region in self.pharmacies.values() {
            *counts.entry(region.code()).or_insert(0u32) += 1;
        }
        counts
    }

    /// Eligible to keep working as far as the log shows: concluded, ISS certified, no ground detected.
    /// A ground is for human review (C-04), so this is a flag, not a decision.
    pub fn eligible(&self) -> bool {
        self.status == ContractStatus::Concluded && self.iss_certified && self.grounds.is_empty()
    }
}

impl View for ContractView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        if !FOLDED.contains(&envelope.body.payload.event_type.as_str()) {
            return Ok(());
        }
        let event = decode_event(envelope)?;
        let Some(contract_id) = contract_of(&event) else {
            return Ok(());
        };
        let key = Key::new(b'c').push(&contract_id).into_bytes();
        let mut record = txn
            .get_decoded::<ContractRecord>(&key)?
            .unwrap_or_else(|| ContractRecord::new(&contract_id));
        fold(&mut record, &event, envelope.body.event_id);
        txn.put_encoded(key, &record)
    }
}

fn contract_of(event: &Event) -> Option<String> {
    Some(match event {
        Event::ContractApplicationReceived(e) => e.contract_id.to_string(),
        Event::ContractConcluded(e) => e.contract_id.to_string(),
        Event::ContractRefused(e) => e.contract_id.to_string(),
        Event::PharmacyNetworkChanged(e) => e.contract_id.to_string(),
        Event::IssCertificationChanged(e) => e.contract_id.to_string(),
        Event::TerminationGroundDetected(e) => e.contract_id.to_string(),
        Event::TerminationNoticeSent(e) => e.contract_id.to_string(),
        Event::TerminationNoticeReceived(e) => e.contract_id.to_string(),
        Event::KgContractApplicationReceived(e) => e.contract_id.to_string(),
        Event::KgContractConcluded(e) => e.contract_id.to_string(),
        Event::ContractRenewed(e) => e.contract_id.to_string(),
        Event::ContractExpired(e) => e.contract_id.to_string(),
        Event::ContractObjectionFiled(e) => e.contract_id.to_string(),
        _ => return None,
    })
}

fn fold(record: &mut ContractRecord, event: &Event, event_id: EventId) {
    match event {
        Event::ContractApplicationReceived(e) => {
            record.jurisdiction = Some(e.jurisdiction);
            record.status = ContractStatus::Applied;
            record.holder_name = Some(e.applicant.name().clone());
            record.holder_bin = Some(e.applicant.holder());
            record.applied_at = Some(e.received_at);
            record.iss_certified = e.iss_test_act.is_some();
            record.pharmacies = e
                .pharmacies
                .iter()
                .map(|pharmacy| (pharmacy.licence.to_string(), pharmacy.region))
                .collect();
        }
        Event::ContractConcluded(e) => {
            record.status = ContractStatus::Concluded;
            record.holder_bin = Some(e.holder);
            record.concluded_at = Some(e.concluded_at);
            record.ends_on = e.term.ends_on;
        }
        Event::ContractRefused(e) => {
            record.status = ContractStatus::Refused;
            record.refusal = e.reasons.clone();
        }
        Event::PharmacyNetworkChanged(e) => {
            for licence in &e.removed {
                record.pharmacies.remove(licence.as_str());
            }
            for pharmacy in &e.added {
                record
                    .pharmacies
                    .insert(pharmacy.licence.to_string(), pharmacy.region);
            }
        }
        Event::IssCertificationChanged(e) => record.iss_certified = e.certified,
        Event::TerminationGroundDetected(e) => record.grounds.push(GroundDetected {
            ground: e.ground,
            finding: e.finding.clone(),
            detected_at: e.detected_at,
            event_id,
        }),
        Event::TerminationNoticeSent(_) => record.status = ContractStatus::TerminationNoticed,
        Event::TerminationNoticeReceived(_) => record.status = ContractStatus::Terminated,
        Event::KgContractApplicationReceived(e) => {
            record.jurisdiction = Some(Jurisdiction::KG);
            record.status = ContractStatus::Applied;
            record.holder_name = Some(e.name.clone());
            record.applied_at = Some(e.received_at);
        }
        Event::KgContractConcluded(e) => {
            record.status = ContractStatus::Concluded;
            record.concluded_at = Some(e.concluded_at);
            record.ends_on = e.term.ends_on;
            // KG has no ISS test act (E-05 is Kazakh); certification does not apply.
            record.iss_certified = true;
        }
        Event::ContractRenewed(e) => {
            record.status = ContractStatus::Concluded;
            record.ends_on = e.term.ends_on;
        }
        Event::ContractObjectionFiled(_) => record.status = ContractStatus::ObjectionFiled,
        Event::ContractExpired(_) => record.status = ContractStatus::Expired,
        _ => {}
    }
}

/// Every contract, in id order.
pub fn all<R: ViewRead>(reader: &ProjectorReader<R>) -> Result<Vec<ContractRecord>, QueryError> {
    scan_values(reader, NAME, &[b'c', 0])
}
