//! A small, valid Kyrgyz world for tests, scenarios, golden fixtures and the demo: contract KG-1
//! concluded on 2 January 2026, a two-metformin, one-amlodipine Reference Book, and a 60-tablet
//! prescription dispensed in Osh. Pure data; nothing here is policy.

use chrono::NaiveDate;

use crate::domain::context::DecisionContext;
use crate::domain::contract::kg::{
    KgContractCommand, KgContractState, TaxDebtCheck, decide, evolve,
};
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::kg::recovery::{self, Debtor, Recoveries, RecoveryAssessed, RecoveryGround};
use crate::domain::kg::{
    DrugId, KgDispensing, KgPrescription, PatientEligibility, PriceBasis, ReferenceBookEntry,
    ReferenceBookPublished, ReferenceBooks, decide_publish, evolve_books,
};
use crate::domain::kg::{KgPolicy, PatientLimitSchedule};
use crate::domain::money::{Currency, Money, Quantity, UnitPrice};
use crate::domain::region::Region;
use crate::domain::rules::{RuleBook, RuleParameters, RuleSet};
use crate::domain::testkit::{AcceptAllSignatures, WeekdayCalendar, fund_bin};
use crate::domain::time::Timestamp;
use crate::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName, ReportingPeriod};

use super::{
    ApproveKgPaymentReport, KgDispensingHistory, KgDispensingRecorded, KgPeriodCommand,
    KgPeriodContext, KgPeriodState, NoOtherKgPeriods, PayKgSettlement, RecordKgDispensing,
    RejectKgPaymentReport, ReverseKgDispensing, SubmitKgPaymentReport,
};

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
        patient_pin: "21501199012345".parse().expect("valid PIN"),
        written_on: date("2026-03-01"),
        prescriber_region: Region::new(Jurisdiction::KG, "41711").expect("Bishkek"),
        drug_id: DrugId::new("MET-500-A").expect("valid drug id"),
        generic_group: "metformin-500-oral".to_owned(),
        course_dose_units: "60".parse::<Quantity>().expect("valid quantity"),
        eligibility: Some(PatientEligibility {
            insured: true,
            phc_registered: true,
            checked_on: date("2026-03-01"),
        }),
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

/// The example's pharmacy owes 40.00 KGS under inspection act ACT-1, assessed 2026-03-20.
pub fn recoveries() -> Recoveries {
    let recoveries = Recoveries::new();
    let event = recovery::decide_assessment(
        &recoveries,
        RecoveryAssessed {
            recovery_id: "REC-1".to_owned(),
            debtor: Debtor::Pharmacy("01234567890123".to_owned()),
            ground: RecoveryGround::FaultyAfterDispensing,
            inspection_act_ref: "ACT-1".to_owned(),
            amount: Money::new(4_000, Currency::KGS),
            assessed_on: date("2026-03-20"),
        },
    )
    .expect("the example assessment is valid");
    recovery::evolve(recoveries, &event)
}

/// The reference data of a KG decision, owned, so that a test can change one thing and borrow the
/// contexts: the example's contract, books and rules, no patient limit, the default policy and no
/// recoveries.
pub struct Reference {
    pub calendar: WeekdayCalendar,
    pub rules: RuleBook,
    pub contract: KgContractState,
    pub books: ReferenceBooks,
    pub limits: PatientLimitSchedule,
    pub policy: KgPolicy,
    pub recoveries: Recoveries,
}

impl Default for Reference {
    fn default() -> Reference {
        Reference {
            calendar: WeekdayCalendar::kg(),
            rules: rules(),
            contract: contract(),
            books: books(),
            limits: PatientLimitSchedule::default(),
            policy: KgPolicy::default(),
            recoveries: Recoveries::new(),
        }
    }
}

impl Reference {
    pub fn decision(&self) -> DecisionContext<'_> {
        DecisionContext {
            calendar: &self.calendar,
            rules: &self.rules,
            signatures: &AcceptAllSignatures,
            fund_bin: fund_bin(),
        }
    }

    /// The context of a decision in `period`, given the writer's `history` of other periods.
    pub fn context<'a>(
        &'a self,
        decision: &'a DecisionContext<'a>,
        period: ReportingPeriod,
        history: &'a dyn KgDispensingHistory,
    ) -> KgPeriodContext<'a> {
        KgPeriodContext {
            decision,
            contract: &self.contract,
            books: &self.books,
            patient_limits: &self.limits,
            policy: &self.policy,
            period,
            history,
            recoveries: &self.recoveries,
        }
    }
}

/// Decides `commands` one after the other in period 2026-03 of KG-1 (the pharmacy owing
/// [`recoveries`]), folding each; the events of all of them. Panics on a refusal: the example is
/// valid.
fn decide_all(commands: Vec<KgPeriodCommand>) -> Vec<Event> {
    let reference = Reference {
        recoveries: recoveries(),
        ..Reference::default()
    };
    let decision = reference.decision();
    let period = ReportingPeriod::month(2026, 3).expect("a month");
    let ctx = reference.context(&decision, period, &NoOtherKgPeriods);
    let mut state = KgPeriodState::default();
    let mut all = Vec::new();
    for command in commands {
        let events = super::decide(&state, command, &ctx).expect("the example is valid");
        state = events.iter().fold(state, super::evolve);
        all.extend(events);
    }
    all
}

fn record_command() -> KgPeriodCommand {
    KgPeriodCommand::RecordDispensing(Box::new(RecordKgDispensing {
        dispensing_id: "D-1".parse().expect("valid dispensing id"),
        dispensed_at: dispensed_at(),
        prescription: prescription(),
        dispensing: dispensing(),
    }))
}

/// The example dispensing as the engine records it in period 2026-03 of KG-1 (golden fixture,
/// demo): decided by the aggregate, not written by hand.
pub fn recorded() -> KgDispensingRecorded {
    match decide_all(vec![record_command()]).as_slice() {
        [Event::KgDispensingRecorded(recorded)] => recorded.clone(),
        other => panic!("the example records one dispensing, not {other:?}"),
    }
}

/// The example period settled end to end: the dispensing (and a second one entered by mistake and
/// reversed), a report rejected and resubmitted, its
/// approval with the 40.00 recovery offset, and the payment of the 110.00 net.
pub fn settlement() -> Vec<Event> {
    let report_no = DocumentNumber::new("R-2026-03").expect("valid number");
    let submit = |day: &str| {
        KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
            report_no: report_no.clone(),
            submitted_at: at(&format!("2026-04-{day}T10:00:00+06:00")),
        })
    };
    let mut second = prescription();
    second.number = "RX-2".to_owned();
    let mut commands = vec![
        record_command(),
        KgPeriodCommand::RecordDispensing(Box::new(RecordKgDispensing {
            dispensing_id: "D-2".parse().expect("valid dispensing id"),
            dispensed_at: at("2026-03-11T11:00:00+06:00"),
            prescription: second,
            dispensing: KgDispensing {
                dispensed_on: date("2026-03-11"),
                ..dispensing()
            },
        })),
        KgPeriodCommand::ReverseDispensing(ReverseKgDispensing {
            dispensing_id: "D-2".parse().expect("valid dispensing id"),
            reversed_at: at("2026-03-12T09:00:00+06:00"),
            reason: "entered twice by the cashier".to_owned(),
        }),
        submit("02"),
    ];
    commands.push(KgPeriodCommand::RejectPaymentReport(
        RejectKgPaymentReport {
            rejected_at: at("2026-04-03T10:00:00+06:00"),
            reasons: vec!["the report number is missing from the cover letter".to_owned()],
        },
    ));
    commands.push(submit("04"));
    let reviewed = decide_all(commands.clone());
    let Some(Event::KgPaymentReportSubmitted(report)) = reviewed.last() else {
        panic!("the example ends with a resubmission");
    };
    commands.push(KgPeriodCommand::ApprovePaymentReport(
        ApproveKgPaymentReport {
            content_hash: report.content_hash,
            approved_at: at("2026-04-05T10:00:00+06:00"),
        },
    ));
    commands.push(KgPeriodCommand::PaySettlement(PayKgSettlement {
        payment_order: DocumentNumber::new("PO-1").expect("valid number"),
        paid_at: at("2026-04-06T10:00:00+06:00"),
        amount: Money::new(11_000, Currency::KGS),
    }));
    decide_all(commands)
}
