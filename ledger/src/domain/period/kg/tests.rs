//! The KG settlement aggregate, one test per rule ID it enforces (the pricing law itself is tested
//! in `domain::kg`), plus fold properties.

use proptest::prelude::*;

use super::example;
use super::*;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::kg::{KgWarning, PatientLimitParameters};
use crate::domain::money::Currency;
use crate::domain::region::Region;
use crate::domain::testkit::Given;
use crate::domain::time::Timestamp;

/// The reference data of one decision; each test changes one thing.
pub(super) struct World {
    pub(super) reference: example::Reference,
    pub(super) period: ReportingPeriod,
    pub(super) history: Box<dyn KgDispensingHistory>,
}

pub(super) fn world() -> World {
    World {
        reference: example::Reference::default(),
        period: ReportingPeriod::month(2026, 3).unwrap(),
        history: Box::new(NoOtherKgPeriods),
    }
}

impl World {
    pub(super) fn decide(
        &self,
        state: &KgPeriodState,
        command: KgPeriodCommand,
    ) -> Result<Vec<Event>, DomainError> {
        let decision = self.reference.decision();
        let ctx = self
            .reference
            .context(&decision, self.period, &*self.history);
        super::decide(state, command, &ctx)
    }

    /// Decides and folds each command; panics on a refusal.
    pub(super) fn run(&self, commands: Vec<KgPeriodCommand>) -> (KgPeriodState, Vec<Event>) {
        let mut state = KgPeriodState::default();
        let mut all = Vec::new();
        for command in commands {
            let events = self.decide(&state, command).unwrap();
            state = events.iter().fold(state, evolve);
            all.extend(events);
        }
        (state, all)
    }
}

pub(super) fn record(id: &str) -> RecordKgDispensing {
    RecordKgDispensing {
        dispensing_id: DispensingId::new(id).unwrap(),
        dispensed_at: example::dispensed_at(),
        prescription: example::prescription(),
        dispensing: example::dispensing(),
    }
}

pub(super) fn command(record: RecordKgDispensing) -> KgPeriodCommand {
    KgPeriodCommand::RecordDispensing(Box::new(record))
}

fn recorded(events: &[Event]) -> &KgDispensingRecorded {
    match events {
        [Event::KgDispensingRecorded(recorded)] => recorded,
        other => panic!("expected one KgDispensingRecorded, got {other:?}"),
    }
}

pub(super) fn som(minor: i64) -> Money {
    Money::new(minor, Currency::KGS)
}

/// E-11, M-10, M-13: a prescription written in Bishkek is dispensed in Osh and reimbursed at the
/// book's compensation per unit: 60 × 2.50 = 150.00 KGS, under book version 1.
#[test]
fn e11_m13_dispensing_in_another_region_is_reimbursed_per_unit() {
    let world = world();
    let given = Given::new(KgPeriodState::default(), evolve, &[]);
    let events = given
        .when(|state| world.decide(state, command(record("D-1"))))
        .events();
    let recorded = recorded(&events);
    assert_eq!(recorded.reimbursement.reimbursement, som(15_000));
    assert_eq!(recorded.reimbursement.book_version, 1);
    assert_eq!(recorded.contract_id, example::contract_id());
    assert_eq!(recorded.rule_set_version, 1);
    assert_ne!(
        recorded.prescription.prescriber_region,
        recorded.dispensing.pharmacy_region
    );
}

/// the book stores prices per smallest dispensable unit and derives the package price; the
/// recorded compensation is per tablet.
#[test]
fn a16_prices_per_unit_package_price_derived() {
    let book = example::book();
    let entry = &book.entries[0];
    assert_eq!(entry.package_reference_price().unwrap(), som(9_000));
    let (_, events) = world().run(vec![command(record("D-1"))]);
    assert_eq!(
        recorded(&events).reimbursement.compensation_per_unit,
        entry.compensation_per_unit
    );
}

/// M-19: a drug outside the Reference Book is not dispensed on a preferential prescription.
#[test]
fn m19_drug_outside_the_book_is_refused() {
    let world = world();
    let mut sale = record("D-1");
    sale.dispensing.drug_id = crate::domain::kg::DrugId::new("ASPIRIN").unwrap();
    let error = Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(sale)))
        .then_expect_error("M-19");
    assert!(
        error
            .to_string()
            .starts_with("dispensing \"D-1\" is not reimbursable: drug \"ASPIRIN\""),
        "{error}"
    );
}

/// another drug than the prescribed one, outside its generic group: nothing is reimbursed.
#[test]
fn r03_dispensed_not_prescribed_is_refused() {
    let world = world();
    let mut sale = record("D-1");
    sale.dispensing.drug_id = crate::domain::kg::DrugId::new("AML-5").unwrap();
    Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(sale)))
        .then_expect_error("R-03");
}

/// M-18: a generic of the prescribed group is reimbursed and marked as a substitution.
#[test]
fn m18_generic_substitution_within_the_group() {
    let world = world();
    let mut sale = record("D-1");
    sale.dispensing.drug_id = crate::domain::kg::DrugId::new("MET-500-B").unwrap();
    let (_, events) = world.run(vec![command(sale)]);
    assert!(recorded(&events).reimbursement.substituted);
}

/// D-11: a prescription written 1 March is valid through 31 March; on 1 April it is refused.
#[test]
fn d11_prescription_expires_after_thirty_calendar_days() {
    let mut world = world();
    world.period = ReportingPeriod::month(2026, 4).unwrap();
    let mut sale = record("D-1");
    sale.dispensed_at = example::at("2026-04-01T11:00:00+06:00");
    sale.dispensing.dispensed_on = "2026-04-01".parse().unwrap();
    Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(sale)))
        .then_expect_error("D-11");
}

/// M-14, A-18: 20 tablets of a 60-tablet course are paid pro rata (20 × 2.50) and, by default,
/// close the prescription: a second dispensing on it in the same period is refused.
#[test]
fn a18_m14_partial_dispensing_is_pro_rata_and_closes_the_prescription() {
    let world = world();
    let mut first = record("D-1");
    first.dispensing.units = "20".parse().unwrap();
    first.dispensing.patient_paid = som(1_000);
    let (state, events) = world.run(vec![command(first)]);
    assert_eq!(recorded(&events).reimbursement.reimbursement, som(5_000));
    let mut second = record("D-2");
    second.dispensing.units = "20".parse().unwrap();
    second.dispensing.patient_paid = som(1_000);
    let error = world.decide(&state, command(second)).unwrap_err();
    assert_eq!(error.rule(), "A-18", "{error}");
}

/// A history that reports earlier dispensings of RX-1 and compensation this year in other periods.
struct Earlier {
    units: Quantity,
    compensated: Money,
}

impl KgDispensingHistory for Earlier {
    fn dispensed_units(&self, _pin: &str, number: &str) -> Option<Quantity> {
        (number == "RX-1").then_some(self.units)
    }

    fn compensated(&self, _pin: &str, year: i32) -> Option<Money> {
        (year == 2026).then_some(self.compensated)
    }

    fn prescribed_drug(&self, _pin: &str, number: &str) -> Option<crate::domain::kg::DrugId> {
        (number == "RX-1").then(|| crate::domain::kg::DrugId::new("MET-500-A").unwrap())
    }
}

/// E-08: a patient not insured under CHI, or not registered with a PHC organisation, or whose
/// prescription carries no confirmation of either, gets no preferential dispensing; V-06: the status
/// is confirmed before the prescription is written, not after.
#[test]
fn e08_v06_an_ineligible_patient_is_refused_by_the_engine() {
    use crate::domain::kg::PatientEligibility;
    let world = world();
    let with = |eligibility: Option<PatientEligibility>| {
        let mut sale = record("D-1");
        sale.prescription.eligibility = eligibility;
        world
            .decide(&KgPeriodState::default(), command(sale))
            .unwrap_err()
    };
    let checked = |insured, phc_registered, checked_on: &str| {
        Some(PatientEligibility {
            insured,
            phc_registered,
            checked_on: checked_on.parse().unwrap(),
        })
    };
    let missing = with(None);
    assert_eq!(missing.rule(), "E-08", "{missing}");
    assert!(missing.to_string().contains("no confirmation"), "{missing}");
    let uninsured = with(checked(false, true, "2026-03-01"));
    assert_eq!(uninsured.rule(), "E-08");
    assert!(
        uninsured
            .to_string()
            .contains("not insured under CHI on 2026-03-01"),
        "{uninsured}"
    );
    let unregistered = with(checked(true, false, "2026-03-01"));
    assert!(unregistered.to_string().contains("PHC"), "{unregistered}");
    let late = with(checked(true, true, "2026-03-02"));
    assert_eq!(late.rule(), "V-06", "{late}");
    assert!(late.to_string().contains("written on 2026-03-01"), "{late}");
}

/// V-03: one prescription names one drug: a second dispensing citing prescription RX-1 of the same
/// patient for another drug is refused, in the same period and across periods (the writer's history).
#[test]
fn v03_a_prescription_number_never_stands_for_two_drugs() {
    let mut world = world();
    world.reference.policy.partial_dispensing =
        crate::domain::kg::PartialDispensing::RemainderUntilExpiry;
    let (state, _) = world.run(vec![command(record("D-1"))]);
    let mut other = record("D-2");
    other.prescription.drug_id = crate::domain::kg::DrugId::new("AML-5").unwrap();
    let error = world.decide(&state, command(other.clone())).unwrap_err();
    assert_eq!(error.rule(), "V-03", "{error}");
    assert!(
        error
            .to_string()
            .contains("recorded for drug \"MET-500-A\""),
        "{error}"
    );
    world.history = Box::new(Earlier {
        units: "10".parse().unwrap(),
        compensated: som(0),
    });
    let error = world
        .decide(&KgPeriodState::default(), command(other))
        .unwrap_err();
    assert_eq!(error.rule(), "V-03", "across periods: {error}");
}

/// with remainders allowed, the course dose counts units dispensed in another period; M-14:
/// units above what is left of the course are the patient's.
#[test]
fn a18_remainder_counts_units_dispensed_in_another_period() {
    let mut world = world();
    world.reference.policy.partial_dispensing =
        crate::domain::kg::PartialDispensing::RemainderUntilExpiry;
    world.history = Box::new(Earlier {
        units: "40".parse().unwrap(),
        compensated: som(10_000),
    });
    let (_, events) = world.run(vec![command(record("D-1"))]);
    let reimbursement = &recorded(&events).reimbursement;
    assert_eq!(reimbursement.eligible_units, "20".parse().unwrap());
    assert_eq!(reimbursement.excess_units, Some("40".parse().unwrap()));
    assert_eq!(reimbursement.reimbursement, som(5_000));
}

/// A-18, D-11: a prescription written on 20 March and dispensed in part in March is closed for
/// April too: the writer's history of the March period carries its units across.
#[test]
fn a18_history_of_another_period_closes_the_prescription() {
    let mut world = world();
    let mut march = record("D-1");
    march.prescription.written_on = "2026-03-20".parse().unwrap();
    march.dispensing.units = "20".parse().unwrap();
    march.dispensing.patient_paid = som(1_000);
    march.dispensed_at = example::at("2026-03-25T11:00:00+06:00");
    march.dispensing.dispensed_on = "2026-03-25".parse().unwrap();
    let (march_state, _) = world.run(vec![command(march.clone())]);
    let mut history = KgPeriodHistory::default();
    history.add(&march_state);
    assert_eq!(
        history.compensated(march.prescription.patient_pin.as_str(), 2026),
        Some(som(5_000))
    );
    world.history = Box::new(history);
    world.period = ReportingPeriod::month(2026, 4).unwrap();
    let mut april = march;
    april.dispensing_id = DispensingId::new("D-2").unwrap();
    april.dispensed_at = example::at("2026-04-02T11:00:00+06:00");
    april.dispensing.dispensed_on = "2026-04-02".parse().unwrap();
    let error = world
        .decide(&KgPeriodState::default(), command(april))
        .unwrap_err();
    assert_eq!(error.rule(), "A-18", "{error}");
}

/// passing the indicative limit (counted over the year, across periods) only warns by default;
/// the dispensing is recorded with the warning.
#[test]
fn a19_patient_limit_warns_across_periods() {
    let mut world = world();
    world.reference.limits = PatientLimitSchedule::new(vec![PatientLimitParameters {
        effective_from: "2026-01-01".parse().unwrap(),
        multiplier: 1,
        capitation_norm: som(20_000),
    }]);
    world.history = Box::new(Earlier {
        units: "0.5".parse().unwrap(),
        compensated: som(10_000),
    });
    world.reference.policy.partial_dispensing =
        crate::domain::kg::PartialDispensing::RemainderUntilExpiry;
    let (_, events) = world.run(vec![command(record("D-1"))]);
    assert_eq!(
        recorded(&events).reimbursement.warnings,
        vec![KgWarning::PatientLimitExceeded {
            limit: som(20_000),
            compensated_after: som(10_000 + 14_875),
        }]
    );
}

/// C-10: no compensation before the contract's validity (the example contract starts 2 January).
#[test]
fn c10_no_compensation_outside_the_contract() {
    let mut world = world();
    world.period = ReportingPeriod::month(2026, 1).unwrap();
    let mut sale = record("D-1");
    sale.dispensed_at = example::at("2026-01-01T11:00:00+06:00");
    sale.dispensing.dispensed_on = "2026-01-01".parse().unwrap();
    sale.prescription.written_on = "2025-12-20".parse().unwrap();
    if let Some(eligibility) = sale.prescription.eligibility.as_mut() {
        eligibility.checked_on = sale.prescription.written_on;
    }
    Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(sale)))
        .then_expect_error("C-10");
}

/// E-09: no contract, no dispensing.
#[test]
fn e09_no_contract_no_dispensing() {
    let mut world = world();
    world.reference.contract = KgContractState::default();
    Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(record("D-1"))))
        .then_expect_error("E-09");
}

/// a pharmacy in a Kazakh region never gets the Kyrgyz computation.
#[test]
fn a15_kazakh_region_is_refused() {
    let world = world();
    let mut sale = record("D-1");
    sale.dispensing.pharmacy_region = Region::new(Jurisdiction::KZ, "750000000").unwrap();
    Given::new(KgPeriodState::default(), evolve, &[])
        .when(|state| world.decide(state, command(sale)))
        .then_expect_error("A-15");
}

/// P-09, P-10: the sale belongs to the stream's month, its date is the reported instant's local
/// date, and an id is recorded once.
#[test]
fn p09_p10_sale_in_the_period_dated_by_its_instant_once() {
    let mut world = world();
    let (state, _) = world.run(vec![command(record("D-1"))]);
    let error = world.decide(&state, command(record("D-1"))).unwrap_err();
    assert_eq!(error.rule(), "P-10", "{error}");
    let mut misdated = record("D-2");
    misdated.dispensed_at = example::at("2026-03-10T23:30:00+00:00");
    let error = world
        .decide(&KgPeriodState::default(), command(misdated))
        .unwrap_err();
    assert_eq!(error.rule(), "P-10", "{error}");
    world.period = ReportingPeriod::month(2026, 4).unwrap();
    let error = world
        .decide(&KgPeriodState::default(), command(record("D-3")))
        .unwrap_err();
    assert_eq!(error.rule(), "P-09", "{error}");
}

proptest! {
    /// The fold keeps, per patient and year, exactly the sum of the recorded reimbursements, and
    /// per prescription the units dispensed; every accepted line has 0 ≤ reimbursement ≤ retail −
    /// patient paid (M-15).
    #[test]
    fn fold_sums_what_was_recorded(units in proptest::collection::vec(1_u32..=30, 1..6)) {
        let mut world = world();
        world.reference.policy.partial_dispensing = crate::domain::kg::PartialDispensing::RemainderUntilExpiry;
        let mut state = KgPeriodState::default();
        let mut reimbursed = 0_i64;
        let mut dispensed = 0_u32;
        for (index, count) in units.iter().enumerate() {
            let mut sale = record(&format!("D-{index}"));
            sale.dispensing.units = count.to_string().parse().unwrap();
            sale.dispensing.patient_paid = som(0);
            let minute = u32::try_from(index).unwrap();
            sale.dispensed_at = Timestamp::parse_rfc3339(
                &format!("2026-03-10T11:{minute:02}:00+06:00")).unwrap();
            let Ok(events) = world.decide(&state, command(sale)) else { continue };
            let line = recorded(&events).reimbursement.clone();
            prop_assert!(line.reimbursement.minor >= 0);
            prop_assert!(line.reimbursement.minor <= line.cap.minor);
            reimbursed += line.reimbursement.minor;
            dispensed += count;
            state = events.iter().fold(state, evolve);
        }
        let pin = example::prescription().patient_pin.to_string();
        let key = (pin, 2026);
        prop_assert_eq!(state.compensated.get(&key).map_or(0, |money| money.minor), reimbursed);
        let total: u32 = state.prescriptions.values()
            .map(|units| u32::try_from(units.value().mantissa()).unwrap()).sum();
        prop_assert_eq!(total, dispensed);
    }
}
