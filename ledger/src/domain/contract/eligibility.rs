//! Eligibility of a pharmacy company or consortium (E-01…E-06, A-31, A-32).

use std::collections::BTreeSet;

use crate::domain::ident::Bin;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::rules::RuleParameters;

use super::events::{Applicant, NetworkPharmacy, RuleFinding, TerminationGround};

/// The outcome of an eligibility check: the counts it was made on and every criterion not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    /// unique pharmacy licences run by the holder or a current member.
    pub pharmacies: u32,
    /// distinct KZ regions of those pharmacies.
    pub regions: u32,
    pub findings: Vec<RuleFinding>,
}

impl Eligibility {
    pub fn is_eligible(&self) -> bool {
        self.findings.is_empty()
    }
}

fn finding(rule: &str, detail: String) -> RuleFinding {
    RuleFinding {
        rule: rule.to_owned(),
        detail,
    }
}

/// Implements E-01…E-06 with A-31 (a pharmacy counts in its own region) and A-32 (pharmacies are
/// counted by unique licence; only those run by the holder or a current consortium member count).
pub fn evaluate<'a>(
    applicant: &Applicant,
    current_members: &BTreeSet<Bin>,
    pharmacies: impl Iterator<Item = &'a NetworkPharmacy>,
    iss_certified: bool,
    parameters: &RuleParameters,
) -> Eligibility {
    let holder = applicant.holder();
    let counted: Vec<&NetworkPharmacy> = pharmacies
        .filter(|pharmacy| {
            pharmacy.operator == holder || current_members.contains(&pharmacy.operator)
        })
        .collect();
    let licences: BTreeSet<_> = counted.iter().map(|pharmacy| &pharmacy.licence).collect();
    let regions: BTreeSet<_> = counted
        .iter()
        .filter(|pharmacy| pharmacy.region.jurisdiction() == Jurisdiction::KZ)
        .map(|pharmacy| pharmacy.region)
        .collect();
    let pharmacy_count = u32::try_from(licences.len()).expect("networks are far below u32::MAX");
    let region_count = u32::try_from(regions.len()).expect("at most 20 regions");
    let mut findings = applicant_findings(
        applicant,
        current_members,
        pharmacy_count,
        region_count,
        parameters,
    );
    let unconnected = counted
        .iter()
        .filter(|pharmacy| !pharmacy.iss_connected)
        .count();
    if unconnected > 0 {
        findings.push(finding(
            "E-02",
            format!("{unconnected} pharmacies of the network cannot work with the ISS"),
        ));
    }
    if !iss_certified {
        findings.push(finding(
            "E-05",
            "no ISS information-security test act or protocol is in force".to_owned(),
        ));
    }
    Eligibility {
        pharmacies: pharmacy_count,
        regions: region_count,
        findings,
    }
}

/// E-01, E-03, E-04, E-06: the criteria that depend on the kind of applicant.
fn applicant_findings(
    applicant: &Applicant,
    current_members: &BTreeSet<Bin>,
    pharmacy_count: u32,
    region_count: u32,
    parameters: &RuleParameters,
) -> Vec<RuleFinding> {
    let mut findings = Vec::new();
    match applicant {
        Applicant::PharmacyCompany { .. } => {
            let (pharmacies_min, regions_min) = (
                parameters.single_network_pharmacies_min,
                parameters.single_network_regions_min,
            );
            if pharmacy_count < pharmacies_min || region_count < regions_min {
                findings.push(finding("E-01", format!(
                    "the network has {pharmacy_count} pharmacies in {region_count} regions; at least {pharmacies_min} in {regions_min} are required"
                )));
            }
        }
        Applicant::Consortium {
            representative,
            agreement,
            ..
        } => {
            let (pharmacies_min, regions_min) = (
                parameters.consortium_pharmacies_min,
                parameters.consortium_regions_min,
            );
            if pharmacy_count < pharmacies_min || region_count < regions_min {
                findings.push(finding("E-03", format!(
                    "the consortium runs {pharmacy_count} pharmacies in {region_count} regions; at least {pharmacies_min} in {regions_min} are required"
                )));
            }
            if !agreement.equal_reimbursement_terms {
                findings.push(finding("E-04", format!(
                    "consortium agreement \"{}\" does not give every member equal reimbursement terms",
                    agreement.reference
                )));
            }
            if !agreement.representative_named || !current_members.contains(representative) {
                findings.push(finding("E-06", format!(
                    "BIN {representative} is not named in the agreement as the official representative and a member"
                )));
            }
        }
    }
    findings
}

/// The §29 ground (C-04) a failed criterion falls under.
pub fn ground_of(rule: &str) -> TerminationGround {
    match rule {
        "E-03" | "E-04" | "E-06" => TerminationGround::ConsortiumRequirements,
        "E-05" => TerminationGround::InformationSecurity,
        _ => TerminationGround::NetworkRequirements,
    }
}
