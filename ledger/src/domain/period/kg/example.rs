//! A small, valid Kyrgyz world for tests, scenarios, golden fixtures and the demo: contract KG-1
//! concluded on 2 January 2026, a two-metformin, one-amlodipine Reference Book, and a 60-tablet
//! prescription dispensed in Osh. Pure data; nothing here is policy.

use chrono::NaiveDate;

use crate::domain::context::DecisionContext;
use crate::domain::contract::kg::{
    KgContractCommand, KgContractState, TaxDebtCheck, decide, evolve,
};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::kg::{
    DrugId, KgDispensing, KgPrescription, PriceBasis, ReferenceBookEntry, ReferenceBookPublished,
    ReferenceBooks, decide_publish, evolve_books,
};
use crate::domain::money::{Currency, Money, Quantity, UnitPrice};
use crate::domain::region::Region;
use crate::domain::rules::{RuleBook, RuleParameters, RuleSet};
use crate::domain::testkit::{AcceptAllSignatures, WeekdayCalendar, fund_bin};
use crate::domain::time::Timestamp;
use crate::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName};

fn date(text: &str) -> NaiveDate {
    text.parse().expect("example dates are valid")
}

fn unit_price(text: &str) -> UnitPrice {
    text.parse().expect("example prices are valid")
}

/// The example contract id.
pub fn contract_id() -> ContractId {
    ContractId::new("KG-1").expect("valid contract id")
}

/// The KG rule book: the defaults of RULES §4, in force from 2025.
pub fn rules() -> RuleBook {
    RuleBook::new(vec![RuleSet {
        jurisdiction: Jurisdiction::KG,
        version: 1,
        effective_from: date("2025-01-01"),
        effective_to: None,
        parameters: RuleParameters::kg_default(),
    }])
    .expect("the KG default rule set is valid")
}

/// KG-1, applied for and concluded on 2026-01-02 for one year (C-08), decided by the KG contract
/// aggregate itself.
pub fn contract() -> KgContractState {
    let calendar = WeekdayCalendar::kg();
    let rules = rules();
    let ctx = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund_bin(),
    };
    let commands = [
        KgContractCommand::ReceiveApplication {
            contract_id: contract_id(),
            received_at: at("2026-01-02T09:00:00+06:00"),
            applicant: KgTin::new("01234567890123").expect("valid TIN"),
            name: OrganisationName::new("Osh Pharm").expect("valid name"),
        },
        KgContractCommand::Conclude {
            concluded_at: at("2026-01-02T10:00:00+06:00"),
            tax_check: TaxDebtCheck {
                checked_on: date("2026-01-02"),
                has_debts: false,
                reference: DocumentNumber::new("STS-1").expect("valid number"),
            },
        },
    ];
    commands
        .into_iter()
        .fold(KgContractState::default(), |state, command| {
            let events = decide(&state, command, &ctx).expect("the example contract concludes");
            events.iter().fold(state, evolve)
        })
}

fn entry(id: &str, inn: &str, group: &str, compensation: &str) -> ReferenceBookEntry {
    ReferenceBookEntry {
        drug_id: DrugId::new(id).expect("valid drug id"),
        inn: inn.to_owned(),
        trade_name: id.to_owned(),
        generic_group: group.to_owned(),
        unit: "tablet".to_owned(),
        package_size: 30,
        reference_price_per_unit: unit_price("3.00"),
        compensation_per_unit: unit_price(compensation),
        source_basis: PriceBasis::PerUnit,
    }
}

/// Reference Book version 1, in force from 2026-01-01: 2.50 KGS per metformin tablet.
pub fn book() -> ReferenceBookPublished {
    ReferenceBookPublished {
        version: 1,
        published_on: date("2025-12-20"),
        effective_from: date("2026-01-01"),
        entries: vec![
            entry("MET-500-A", "Metformin", "metformin-500-oral", "2.50"),
            entry("MET-500-B", "Metformin", "metformin-500-oral", "2.50"),
            entry("AML-5", "Amlodipine", "amlodipine-5-oral", "1.00"),
        ],
    }
}

/// The books with [`book`] published.
pub fn books() -> ReferenceBooks {
    let books = ReferenceBooks::new();
    let first = decide_publish(&books, book()).expect("the example book publishes");
    evolve_books(books, &first)
}

/// An instant in RFC 3339.
pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("valid instant")
}

/// Prescription RX-1 written in Bishkek on 2026-03-01: metformin, a 60-tablet course.
pub fn prescription() -> KgPrescription {
    KgPrescription {
        number: "RX-1".to_owned(),
        patient_pin: "21501199012345".to_owned(),
        written_on: date("2026-03-01"),
        prescriber_region: Region::new(Jurisdiction::KG, "41711").expect("Bishkek"),
        drug_id: DrugId::new("MET-500-A").expect("valid drug id"),
        generic_group: "metformin-500-oral".to_owned(),
        course_dose_units: "60".parse::<Quantity>().expect("valid quantity"),
    }
}

/// 60 tablets sold in Osh (E-11: another region) on 2026-03-10 at 3.00; the patient paid 30.00.
pub fn dispensing() -> KgDispensing {
    KgDispensing {
        drug_id: DrugId::new("MET-500-A").expect("valid drug id"),
        units: "60".parse().expect("valid quantity"),
        dispensed_on: date("2026-03-10"),
        pharmacy_region: Region::new(Jurisdiction::KG, "41721").expect("Osh"),
        retail_unit_price: unit_price("3.00"),
        shelf_unit_price: Some(unit_price("3.00")),
        approved_retail_unit_price: None,
        patient_paid: Money::new(3_000, Currency::KGS),
    }
}

/// The instant of [`dispensing`]: 2026-03-10, 11:00 in Osh.
pub fn dispensed_at() -> Timestamp {
    at("2026-03-10T11:00:00+06:00")
}

/// The example dispensing as the engine records it in period 2026-03 of KG-1 (golden fixture,
/// demo): decided by the aggregate, not written by hand.
pub fn recorded() -> super::KgDispensingRecorded {
    let calendar = WeekdayCalendar::kg();
    let rules = rules();
    let decision = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund_bin(),
    };
    let contract = contract();
    let books = books();
    let ctx = super::KgPeriodContext {
        decision: &decision,
        contract: &contract,
        books: &books,
        patient_limits: &crate::domain::kg::PatientLimitSchedule::default(),
        policy: &crate::domain::kg::KgPolicy::default(),
        period: crate::domain::values::ReportingPeriod::month(2026, 3).expect("a month"),
        history: &super::NoOtherKgPeriods,
    };
    let command = super::RecordKgDispensing {
        dispensing_id: "D-1".parse().expect("valid dispensing id"),
        dispensed_at: dispensed_at(),
        prescription: prescription(),
        dispensing: dispensing(),
    };
    let events = super::decide(
        &super::KgPeriodState::default(),
        super::KgPeriodCommand::RecordDispensing(Box::new(command)),
        &ctx,
    )
    .expect("the example dispensing is reimbursable");
    match events.as_slice() {
        [crate::domain::event::Event::KgDispensingRecorded(recorded)] => recorded.clone(),
        other => panic!("the example records one dispensing, not {other:?}"),
    }
}
