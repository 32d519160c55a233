//! KG contract rules, one test per rule ID.

use super::*;
use crate::domain::rules::{RuleBook, RuleParameters, RuleSet};
use crate::domain::testkit::*;

fn kg_rules(parameters: RuleParameters) -> RuleBook {
    RuleBook::new(vec![RuleSet {
        jurisdiction: Jurisdiction::KG,
        version: 1,
        effective_from: day("2025-01-01"),
        effective_to: None,
        parameters,
    }])
    .unwrap()
}

/// Decides and folds a list of commands; returns the state and the last outcome.
fn run(
    parameters: RuleParameters,
    commands: Vec<KgContractCommand>,
) -> (KgContractState, Result<Vec<Event>, DomainError>) {
    let calendar = WeekdayCalendar::kg();
    let rules = kg_rules(parameters);
    let ctx = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund_bin(),
    };
    let mut state = KgContractState::default();
    let mut last = Ok(vec![]);
    for command in commands {
        last = decide(&state, command, &ctx);
        if let Ok(events) = &last {
            state = events.iter().fold(state, evolve);
        }
    }
    (state, last)
}

fn kg_at(text: &str) -> Timestamp {
    at(&format!("{text}+06:00"))
}

fn application() -> KgContractCommand {
    KgContractCommand::ReceiveApplication {
        contract_id: ContractId::new("KG-1").unwrap(),
        received_at: kg_at("2026-01-02T10:00:00"),
        applicant: KgTin::new("01234567890123").unwrap(),
        name: OrganisationName::new("Bishkek Pharm").unwrap(),
    }
}

fn conclude(on: &str, has_debts: bool) -> KgContractCommand {
    KgContractCommand::Conclude {
        concluded_at: kg_at(&format!("{on}T10:00:00")),
        tax_check: TaxDebtCheck {
            checked_on: day(on),
            has_debts,
            reference: DocumentNumber::new("TAX-1").unwrap(),
        },
    }
}

#[test]
fn d10_a23_refusal_due_three_calendar_days_after_the_application() {
    let (state, _) = run(RuleParameters::kg_default(), vec![application()]);
    let refusal = state.refusal.unwrap();
    // Friday 2 January + 3 = Monday 5 January (a working day).
    assert_eq!(
        (refusal.rule, refusal.due_strict, refusal.due),
        (ClockRule::KgRefusal, day("2026-01-05"), day("2026-01-05"))
    );
}

#[test]
fn c09_refusal_needs_reasons() {
    let refuse = |reasons: Vec<String>| KgContractCommand::Refuse {
        refused_at: kg_at("2026-01-03T10:00:00"),
        reasons,
    };
    let (_, outcome) = run(
        RuleParameters::kg_default(),
        vec![application(), refuse(vec![])],
    );
    assert_eq!(outcome.unwrap_err().rule(), "C-09");
    let (state, outcome) = run(
        RuleParameters::kg_default(),
        vec![application(), refuse(vec!["incomplete form".into()])],
    );
    assert_eq!(outcome.unwrap()[0].event_type(), "ContractRefused");
    assert_eq!(state.stage, KgContractStage::Refused);
}

#[test]
fn e10_no_tax_debts_on_the_day_of_conclusion() {
    let (_, outcome) = run(
        RuleParameters::kg_default(),
        vec![application(), conclude("2026-01-05", true)],
    );
    assert_eq!(outcome.unwrap_err().rule(), "E-10");
    let stale = KgContractCommand::Conclude {
        concluded_at: kg_at("2026-01-06T10:00:00"),
        tax_check: TaxDebtCheck {
            checked_on: day("2026-01-05"),
            has_debts: false,
            reference: DocumentNumber::new("TAX-1").unwrap(),
        },
    };
    let (_, outcome) = run(RuleParameters::kg_default(), vec![application(), stale]);
    assert!(
        outcome
            .unwrap_err()
            .to_string()
            .contains("not of the day of conclusion")
    );
}

#[test]
fn c08_e09_any_pharmacy_gets_a_one_year_term() {
    let (state, _) = run(
        RuleParameters::kg_default(),
        vec![application(), conclude("2026-01-05", false)],
    );
    assert_eq!(
        state.term,
        Some(ContractTerm {
            starts_on: day("2026-01-05"),
            ends_on: Some(day("2027-01-04"))
        })
    );
}

#[test]
fn a22_renewed_at_the_anniversary_unless_a_party_objects() {
    let renew = |on: &str| KgContractCommand::DecideRenewal {
        at: kg_at(&format!("{on}T09:00:00")),
    };
    let base = || vec![application(), conclude("2026-01-05", false)];
    let mut early = base();
    early.push(renew("2027-01-04"));
    assert_eq!(
        run(RuleParameters::kg_default(), early)
            .1
            .unwrap_err()
            .rule(),
        "A-22"
    );

    let mut renewed = base();
    renewed.push(renew("2027-01-05"));
    let (state, outcome) = run(RuleParameters::kg_default(), renewed);
    assert_eq!(outcome.unwrap()[0].event_type(), "ContractRenewed");
    assert_eq!(state.term.unwrap().ends_on, Some(day("2028-01-04")));

    let mut objected = base();
    objected.push(KgContractCommand::FileObjection {
        filed_at: kg_at("2026-11-01T10:00:00"),
        party: Party::Fund,
        reason: "late reports".into(),
    });
    objected.push(renew("2027-01-05"));
    let (state, outcome) = run(RuleParameters::kg_default(), objected);
    assert_eq!(outcome.unwrap()[0].event_type(), "ContractExpired");
    assert_eq!(state.stage, KgContractStage::Expired);
}

#[test]
fn a22_auto_renewal_is_configurable() {
    let mut parameters = RuleParameters::kg_default();
    parameters.kg_contract.as_mut().unwrap().auto_renew = false;
    let commands = vec![
        application(),
        conclude("2026-01-05", false),
        KgContractCommand::DecideRenewal {
            at: kg_at("2027-01-05T09:00:00"),
        },
    ];
    assert_eq!(
        run(parameters, commands).1.unwrap()[0].event_type(),
        "ContractExpired"
    );
}

#[test]
fn a15_a_kz_rule_set_has_no_kg_contract_lifecycle() {
    let (_, outcome) = run(RuleParameters::kz_2025(), vec![application()]);
    assert_eq!(outcome.unwrap_err().rule(), "A-15");
}

/// C-08: a term concluded on 1 March ends on the last day of February, and a renewal in a leap year
/// runs to 29 February (folded from the former `kg::contract` rules).
#[test]
fn c08_term_ends_the_day_before_the_anniversary_across_a_leap_year() {
    let (state, outcome) = run(
        RuleParameters::kg_default(),
        vec![
            application(),
            conclude("2026-03-01", false),
            KgContractCommand::DecideRenewal {
                at: kg_at("2027-03-01T09:00:00"),
            },
        ],
    );
    outcome.unwrap();
    let ends: Vec<Option<NaiveDate>> = state.terms.iter().map(|term| term.ends_on).collect();
    assert_eq!(ends, [Some(day("2027-02-28")), Some(day("2028-02-29"))]);
}

/// C-10: the contract is in force on every day of its first term and of each renewal, and on no
/// day before it.
#[test]
fn c10_in_force_only_within_a_term() {
    let (state, _) = run(
        RuleParameters::kg_default(),
        vec![
            application(),
            conclude("2026-01-05", false),
            KgContractCommand::DecideRenewal {
                at: kg_at("2027-01-05T09:00:00"),
            },
        ],
    );
    assert!(!state.in_force_on(day("2026-01-04")));
    assert!(state.in_force_on(day("2026-01-05")));
    assert!(state.in_force_on(day("2027-01-04")));
    assert!(state.in_force_on(day("2028-01-04")));
    assert!(!state.in_force_on(day("2028-01-05")));
}

/// an objection counts only during the term; after the term has ended it is refused, and the
/// renewal is decided on the objections filed in time (folded from the former `kg::contract`).
#[test]
fn a22_objection_after_the_term_is_refused() {
    let (_, outcome) = run(
        RuleParameters::kg_default(),
        vec![
            application(),
            conclude("2026-01-05", false),
            KgContractCommand::FileObjection {
                filed_at: kg_at("2027-01-05T08:00:00"),
                party: Party::ContractHolder,
                reason: "too late".into(),
            },
        ],
    );
    let error = outcome.unwrap_err();
    assert_eq!(error.rule(), "A-22");
    assert!(
        error
            .to_string()
            .contains("after the term ended on 2027-01-04"),
        "{error}"
    );
}
