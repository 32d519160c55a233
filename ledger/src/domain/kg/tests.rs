//! Kyrgyz policy tests: one per rule, plus the reimbursement properties.

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::domain::contract::events::ContractTerm;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Money, Quantity, UnitPrice};
use crate::domain::region::Region;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn price(text: &str) -> UnitPrice {
    text.parse().unwrap()
}

fn units(text: &str) -> Quantity {
    text.parse().unwrap()
}

fn som(text: &str) -> Money {
    let value: Decimal = text.parse().unwrap();
    Money::new(
        i64::try_from((value * Decimal::ONE_HUNDRED).trunc()).unwrap(),
        Currency::KGS,
    )
}

fn drug(id: &str) -> DrugId {
    DrugId::new(id).unwrap()
}

fn entry(id: &str, group: &str, compensation: &str) -> ReferenceBookEntry {
    ReferenceBookEntry {
        drug_id: drug(id),
        inn: "Metformin".into(),
        trade_name: id.into(),
        generic_group: group.into(),
        unit: "tablet".into(),
        package_size: 30,
        reference_price_per_unit: price("3.00"),
        compensation_per_unit: price(compensation),
        source_basis: PriceBasis::PerUnit,
    }
}

fn book(version: u32, effective_from: &str, compensation: &str) -> ReferenceBookPublished {
    ReferenceBookPublished {
        version,
        published_on: date(effective_from),
        effective_from: date(effective_from),
        entries: vec![
            entry("MET-500-A", "metformin-500-oral", compensation),
            entry("MET-500-B", "metformin-500-oral", compensation),
            entry("AML-5", "amlodipine-5-oral", "1.00"),
        ],
    }
}

fn books() -> ReferenceBooks {
    let books = ReferenceBooks::new();
    let first = decide_publish(&books, book(1, "2026-01-01", "2.50")).unwrap();
    let books = evolve_books(books, &first);
    let second = decide_publish(&books, book(2, "2026-07-01", "2.00")).unwrap();
    evolve_books(books, &second)
}

fn bishkek() -> Region {
    Region::new(Jurisdiction::KG, "41711").unwrap()
}

fn prescription() -> KgPrescription {
    KgPrescription {
        number: "RX-1".into(),
        patient_pin: "12345678901234".parse().unwrap(),
        written_on: date("2026-03-01"),
        prescriber_region: bishkek(),
        drug_id: drug("MET-500-A"),
        generic_group: "metformin-500-oral".into(),
        course_dose_units: units("60"),
        eligibility: Some(PatientEligibility {
            insured: true,
            phc_registered: true,
            checked_on: date("2026-03-01"),
        }),
    }
}

/// 60 tablets at 3.00 retail; the patient paid 30.00 (retail 180.00 − 150.00 compensation).
fn dispensing() -> KgDispensing {
    KgDispensing {
        drug_id: drug("MET-500-A"),
        units: units("60"),
        dispensed_on: date("2026-03-10"),
        pharmacy_region: bishkek(),
        retail_unit_price: price("3.00"),
        shelf_unit_price: Some(price("3.00")),
        approved_retail_unit_price: Some(price("3.20")),
        patient_paid: som("30.00"),
    }
}

/// The case under test; each test changes one thing.
struct Case {
    books: ReferenceBooks,
    terms: Vec<ContractTerm>,
    prescription: KgPrescription,
    dispensing: KgDispensing,
    prior: Option<Quantity>,
    limits: PatientLimitSchedule,
    compensated: Money,
    policy: KgPolicy,
}

fn case() -> Case {
    Case {
        books: books(),
        terms: vec![ContractTerm {
            starts_on: date("2026-01-01"),
            ends_on: Some(date("2026-12-31")),
        }],
        prescription: prescription(),
        dispensing: dispensing(),
        prior: None,
        limits: PatientLimitSchedule::default(),
        compensated: som("0"),
        policy: KgPolicy::default(),
    }
}

impl Case {
    fn run(&self) -> Result<KgReimbursement, KgError> {
        kg_reimbursement(KgReimbursementInput {
            books: &self.books,
            contract_terms: &self.terms,
            prescription: &self.prescription,
            dispensing: &self.dispensing,
            prior_dispensed_units: self.prior,
            patient_limits: &self.limits,
            patient_compensated_this_year: self.compensated,
            policy: &self.policy,
        })
    }
}

fn rule_of(error: &KgError) -> String {
    format!("{error}")
}

#[test]
fn m13_compensation_per_unit_from_the_book_in_force() {
    let result = case().run().unwrap();
    assert_eq!(result.book_version, 1);
    assert_eq!(result.compensation, som("150.00"));
    assert_eq!(result.reimbursement, som("150.00"));
    assert_eq!(result.retail_total, som("180.00"));
    assert!(result.prescription_closed);
}

/// A-28, M-10: a dispensing after the second book takes effect uses the second book's compensation.
#[test]
fn a28_book_in_force_on_the_dispensing_date_applies() {
    let mut case = case();
    case.prescription.written_on = date("2026-07-01");
    case.dispensing.dispensed_on = date("2026-07-02");
    case.dispensing.patient_paid = som("60.00");
    let result = case.run().unwrap();
    assert_eq!(
        (result.book_version, result.reimbursement),
        (2, som("120.00"))
    );
    let mut before = self::case();
    before.books = ReferenceBooks::new();
    assert!(matches!(
        before.run(),
        Err(KgError::NoReferenceBookInForce { rule: "A-28", .. })
    ));
}

#[test]
fn m10_book_publication_is_checked_and_twice_a_year_is_tracked() {
    let books = books();
    assert_eq!(books.m10_shortfall(2026), None);
    assert_eq!(books.m10_shortfall(2027), Some(0));
    let mut over = book(3, "2026-12-01", "2.00");
    over.entries[0].compensation_per_unit = price("3.50");
    assert!(matches!(
        decide_publish(&books, over),
        Err(KgError::InvalidBookEntry { rule: "M-10", .. })
    ));
    assert!(matches!(
        decide_publish(&books, book(5, "2026-12-01", "2.00")),
        Err(KgError::BookVersionNotNext { .. })
    ));
    assert!(matches!(
        decide_publish(&books, book(3, "2026-02-01", "2.00")),
        Err(KgError::BookEffectiveBeforePrevious { .. })
    ));
    let mut twice = book(3, "2026-12-01", "2.00");
    twice.entries.push(entry("AML-5", "x", "1.00"));
    assert!(matches!(
        decide_publish(&books, twice),
        Err(KgError::InvalidBookEntry { .. })
    ));
}

#[test]
fn a16_package_price_is_derived_from_the_unit_price() {
    assert_eq!(
        entry("MET-500-A", "g", "2.50")
            .package_reference_price()
            .unwrap(),
        som("90.00")
    );
}

#[test]
fn m19_drug_not_in_the_book_is_refused() {
    let mut case = case();
    case.dispensing.drug_id = drug("UNLISTED-1");
    let error = case.run().unwrap_err();
    assert!(
        matches!(error, KgError::NotInReferenceBook { rule: "M-19", .. }),
        "{error}"
    );
}

#[test]
fn m18_generic_substitution_within_the_group_is_reimbursed() {
    let mut case = case();
    case.dispensing.drug_id = drug("MET-500-B");
    let result = case.run().unwrap();
    assert!(result.substituted);
    assert_eq!(result.reimbursement, som("150.00"));
}

#[test]
fn r03_dispensed_drug_of_another_group_reimburses_nothing() {
    let mut case = case();
    case.dispensing.drug_id = drug("AML-5");
    let error = case.run().unwrap_err();
    assert!(matches!(
        error,
        KgError::DispensedNotPrescribed { rule: "R-03", .. }
    ));
    assert!(rule_of(&error).contains("nothing is reimbursed (R-03)"));
}

#[test]
fn d11_prescription_is_valid_thirty_calendar_days_from_the_day_written() {
    let mut case = case();
    case.dispensing.dispensed_on = date("2026-03-31");
    assert!(
        case.run().is_ok(),
        "written 03-01 + 30 CD = 03-31 is still valid"
    );
    case.dispensing.dispensed_on = date("2026-04-01");
    let error = case.run().unwrap_err();
    assert_eq!(
        error.to_string(),
        "prescription \"RX-1\" written 2026-03-01 is valid through 2026-03-31, not on 2026-04-01 (D-11)"
    );
    case.dispensing.dispensed_on = date("2026-02-28");
    assert!(matches!(
        case.run(),
        Err(KgError::PrescriptionNotValid { .. })
    ));
}

#[test]
fn m14_units_above_the_course_dose_are_paid_by_the_patient() {
    let mut case = case();
    case.dispensing.units = units("70");
    case.dispensing.patient_paid = som("60.00"); // retail 210.00 − 150.00
    let result = case.run().unwrap();
    assert_eq!(result.eligible_units, units("60"));
    assert_eq!(result.excess_units, Some(units("10")));
    assert_eq!(result.reimbursement, som("150.00"));
}

/// M-14, A-18: fewer units than the course dose are reimbursed for the units actually dispensed.
#[test]
fn a18_fewer_units_are_reimbursed_pro_rata() {
    let mut case = case();
    case.dispensing.units = units("20");
    case.dispensing.patient_paid = som("10.00");
    let result = case.run().unwrap();
    assert_eq!(result.reimbursement, som("50.00"));
    assert!(
        result.prescription_closed,
        "by default one dispensing closes the prescription"
    );
}

#[test]
fn a18_remainder_is_refused_by_default_and_allowed_when_configured() {
    let mut case = case();
    case.prior = Some(units("20"));
    assert!(matches!(
        case.run(),
        Err(KgError::PrescriptionClosed { rule: "A-18", .. })
    ));
    case.policy.partial_dispensing = PartialDispensing::RemainderUntilExpiry;
    case.dispensing.patient_paid = som("80.00"); // 60 units, 40 eligible: retail 180 − 100
    let result = case.run().unwrap();
    assert_eq!(result.eligible_units, units("40"));
    assert_eq!(result.reimbursement, som("100.00"));
    assert!(result.prescription_closed);
    case.prior = Some(units("60"));
    assert!(matches!(
        case.run(),
        Err(KgError::CourseDoseExhausted { rule: "M-14", .. })
    ));
}

#[test]
fn m15_reimbursement_capped_at_retail_minus_patient_paid() {
    let mut case = case();
    case.dispensing.patient_paid = som("100.00"); // cap = 180 − 100 = 80 < 150
    let result = case.run().unwrap();
    assert_eq!(result.cap, som("80.00"));
    assert_eq!(result.reimbursement, som("80.00"));
}

/// a negative cap (the patient paid more than the retail total) refuses the line.
#[test]
fn a17_negative_cap_refuses_the_line() {
    let mut case = case();
    case.dispensing.patient_paid = som("180.01");
    assert!(matches!(
        case.run(),
        Err(KgError::PatientPaidExceedsRetail { rule: "M-15", .. })
    ));
}

#[test]
fn m16_retail_price_matches_the_shelf_and_stays_within_the_approved_price() {
    let mut case = case();
    case.dispensing.shelf_unit_price = Some(price("2.90"));
    assert!(matches!(
        case.run(),
        Err(KgError::RetailPrice { rule: "M-16", .. })
    ));
    case.dispensing.shelf_unit_price = None;
    case.dispensing.approved_retail_unit_price = Some(price("2.99"));
    let error = case.run().unwrap_err();
    assert_eq!(
        error.to_string(),
        "retail unit price 3 differs from or exceeds the approved retail price 2.99 (M-16)"
    );
}

#[test]
fn m17_receipt_amount_must_be_non_negative_som() {
    let mut case = case();
    case.dispensing.patient_paid = Money::new(100, Currency::KZT);
    assert!(matches!(
        case.run(),
        Err(KgError::PatientPaidInvalid { rule: "M-17", .. })
    ));
}

#[test]
fn a19_patient_limit_warns_by_default_and_blocks_when_configured() {
    let mut case = case();
    case.limits = PatientLimitSchedule::new(vec![
        PatientLimitParameters {
            effective_from: date("2026-01-01"),
            multiplier: MULTIPLIER_DEFAULT,
            capitation_norm: som("1.00"),
        },
        PatientLimitParameters {
            effective_from: date("2026-06-01"),
            multiplier: 100,
            capitation_norm: som("1.00"),
        },
    ]);
    case.compensated = som("200.00"); // 200 + 150 > 300
    let result = case.run().unwrap();
    assert_eq!(
        result.warnings,
        vec![KgWarning::PatientLimitExceeded {
            limit: som("300.00"),
            compensated_after: som("350.00")
        }]
    );
    case.policy.limit_enforcement = LimitEnforcement::Block;
    assert!(matches!(
        case.run(),
        Err(KgError::PatientLimitExceeded { rule: "A-19", .. })
    ));
    case.compensated = som("100.00");
    assert!(case.run().unwrap().warnings.is_empty());
}

/// B-05: the multiplier is effective-dated; a lower multiplier later in the year applies from its date.
#[test]
fn b05_limit_multiplier_is_effective_dated() {
    let schedule = PatientLimitSchedule::new(vec![
        PatientLimitParameters {
            effective_from: date("2026-01-01"),
            multiplier: 300,
            capitation_norm: som("2.00"),
        },
        PatientLimitParameters {
            effective_from: date("2026-06-01"),
            multiplier: 200,
            capitation_norm: som("2.00"),
        },
    ]);
    assert_eq!(
        schedule
            .in_force_on(date("2026-05-31"))
            .unwrap()
            .limit()
            .unwrap(),
        som("600.00")
    );
    assert_eq!(
        schedule
            .in_force_on(date("2026-06-01"))
            .unwrap()
            .limit()
            .unwrap(),
        som("400.00")
    );
    assert!(schedule.in_force_on(date("2025-12-31")).is_none());
}

#[test]
fn c10_no_compensation_outside_the_contract() {
    let mut case = case();
    case.terms = vec![ContractTerm {
        starts_on: date("2026-03-15"),
        ends_on: Some(date("2027-03-14")),
    }];
    assert!(matches!(
        case.run(),
        Err(KgError::OutsideContract { rule: "C-10", .. })
    ));
    case.terms.clear();
    assert!(matches!(case.run(), Err(KgError::OutsideContract { .. })));
}

/// E-11: dispensing by PIN and prescription number, whatever the region.
#[test]
fn e11_dispensing_in_any_region_is_reimbursed() {
    let mut case = case();
    case.dispensing.pharmacy_region = Region::new(Jurisdiction::KG, "41706").unwrap();
    assert_ne!(
        case.dispensing.pharmacy_region,
        case.prescription.prescriber_region
    );
    assert_eq!(case.run().unwrap().reimbursement, som("150.00"));
}

/// Kyrgyz rules never apply to a Kazakh dispensing.
#[test]
fn a15_kyrgyz_rules_refuse_a_kazakh_dispensing() {
    let mut case = case();
    case.dispensing.pharmacy_region = Region::new(Jurisdiction::KZ, "710000000").unwrap();
    assert!(matches!(
        case.run(),
        Err(KgError::NotKyrgyz { rule: "A-15", .. })
    ));
}

/// the Kyrgyz patient key is a 14-digit PIN; a 12-digit Kazakh IIN is not one.
#[test]
fn a35_patient_is_keyed_by_a_fourteen_digit_pin() {
    let error = "900101300007"
        .parse::<crate::domain::values::KgPin>()
        .unwrap_err();
    assert_eq!(error.rule, "A-35");
    assert_eq!(
        error.to_string(),
        "KG PIN \"900101300007\" is invalid: wrong number of digits or not only digits (A-35)"
    );
    assert_eq!(case().prescription.patient_pin.as_str().len(), 14);
}

/// M-11: the course dose the information system derived bounds the eligible units.
#[test]
fn m11_course_dose_from_the_prescription_bounds_eligible_units() {
    let mut case = case();
    case.prescription.course_dose_units = units("28");
    case.dispensing.units = units("30");
    case.dispensing.patient_paid = som("20.00"); // retail 90.00; 28 × 2.50 = 70.00
    let result = case.run().unwrap();
    assert_eq!(
        (result.eligible_units, result.excess_units),
        (units("28"), Some(units("2")))
    );
    assert_eq!(result.reimbursement, som("70.00"));
}

/// M-12: the compensation and the patient's share are computed for the units sold.
#[test]
fn m12_compensation_and_patient_share_are_computed() {
    let mut case = case();
    case.dispensing.patient_paid = som("0.00");
    let result = case.run().unwrap();
    assert_eq!(
        (result.reimbursement, result.patient_due),
        (som("150.00"), som("30.00"))
    );
}

/// M-09: the MHIF pays part and the patient part; together never more than the retail total.
#[test]
fn m09_reimbursement_and_patient_share_add_up_to_at_most_retail() {
    let result = case().run().unwrap();
    let total = result
        .reimbursement
        .checked_add(result.patient_paid)
        .unwrap();
    assert!(total.minor <= result.retail_total.minor);
}

#[test]
fn kg_events_round_trip_through_the_codec() {
    let event = KgEvent::ReferenceBookPublished(book(1, "2026-01-01", "2.50"));
    let bytes = crate::codec::encode(&event).unwrap();
    assert_eq!(crate::codec::decode::<KgEvent>(&bytes).unwrap(), event);
    let result = case().run().unwrap();
    let bytes = crate::codec::encode(&result).unwrap();
    assert_eq!(
        crate::codec::decode::<KgReimbursement>(&bytes).unwrap(),
        result
    );
}

#[test]
fn kg_schemas_generate() {
    let events = serde_json::to_string(&schemars::schema_for!(KgEvent)).unwrap();
    assert!(events.contains("ReferenceBookPublished"));
    let result = serde_json::to_string(&schemars::schema_for!(KgReimbursement)).unwrap();
    assert!(result.contains("patient_due"));
    let disputes =
        serde_json::to_string(&schemars::schema_for!(super::dispute::DisputeEvent)).unwrap();
    assert!(disputes.contains("DisputeResolved"));
    let recoveries =
        serde_json::to_string(&schemars::schema_for!(super::recovery::RecoveryEvent)).unwrap();
    assert!(recoveries.contains("RecoveryOffset"));
}

proptest! {
    /// M-15, A-17: 0 ≤ reimbursement ≤ retail − patient paid, whenever a line is accepted.
    #[test]
    fn m15_reimbursement_between_zero_and_retail_minus_patient_paid(
        dispensed in 1i64..200, retail_cents in 0i64..1_000, paid_cents in 0i64..200_000, course in 1i64..200,
    ) {
        let mut case = case();
        case.dispensing.units = Quantity::new(Decimal::from(dispensed)).unwrap();
        case.prescription.course_dose_units = Quantity::new(Decimal::from(course)).unwrap();
        let retail = UnitPrice::new(Decimal::new(retail_cents, 2)).unwrap();
        case.dispensing.retail_unit_price = retail;
        case.dispensing.shelf_unit_price = None;
        case.dispensing.approved_retail_unit_price = None;
        case.dispensing.patient_paid = Money::new(paid_cents, Currency::KGS);
        match case.run() {
            Ok(result) => {
                prop_assert!(result.reimbursement.minor >= 0);
                prop_assert!(result.reimbursement.minor <= result.retail_total.minor - paid_cents);
                prop_assert!(result.reimbursement.minor <= result.compensation.minor);
                prop_assert_eq!(result.reimbursement.minor + result.patient_due.minor, result.retail_total.minor);
            }
            Err(error) => prop_assert!(matches!(error, KgError::PatientPaidExceedsRetail { .. }), "{}", error),
        }
    }

    /// M-14, A-18: within the course dose and below the cap, k units are paid k × compensation per unit,
    /// so fewer units are paid pro rata and never more than more units.
    #[test]
    fn m14_fewer_units_are_paid_pro_rata(fewer in 1i64..60) {
        let mut case = case();
        case.dispensing.patient_paid = som("0");
        let full = case.run().unwrap();
        case.dispensing.units = Quantity::new(Decimal::from(fewer)).unwrap();
        let partial = case.run().unwrap();
        prop_assert_eq!(partial.reimbursement.minor, fewer * 250);
        prop_assert!(partial.reimbursement.minor * 60 == full.reimbursement.minor * fewer);
    }
}
