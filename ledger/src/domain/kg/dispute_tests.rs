//! Dispute and recovery tests, one per rule, in given/when/then form.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::dispute::{
    self, Dispute, DisputeCommand, DisputeDecision, DisputeError, DisputeEvent, FileDisputeClaim,
    ResolveDispute, check_payment_decision, dispute_window_closes_on,
};
use super::recovery::{
    self, Debtor, Recoveries, RecoveryAssessed, RecoveryError, RecoveryEvent, RecoveryGround,
    decide_assessment, plan_offsets,
};
use crate::domain::money::{Currency, Money};
use crate::domain::time::Timestamp;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn instant(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn som(major: i64) -> Money {
    Money::new(major * 100, Currency::KGS)
}

fn claim(filed_on: &str, report: Option<&str>) -> DisputeCommand {
    DisputeCommand::File(FileDisputeClaim {
        dispute_id: "D-1".into(),
        contract_id: "C-1".into(),
        prescription_number: "RX-1".into(),
        dispensed_on: date("2026-03-10"),
        filed_at: instant(&format!("{filed_on}T06:00:00Z")),
        filed_on: date(filed_on),
        claimant: "pharmacy 1".into(),
        claim: "the patient says the drug was not dispensed".into(),
        report_submitted_at: report.map(instant),
    })
}

fn resolve(members: &[&str], protocol_id: &str) -> DisputeCommand {
    DisputeCommand::Resolve(ResolveDispute {
        protocol_id: protocol_id.into(),
        commission_members: members.iter().map(|member| (*member).to_owned()).collect(),
        decision: DisputeDecision::PayAmount(som(40)),
        resolved_on: date("2026-03-20"),
    })
}

fn given(commands: Vec<DisputeCommand>) -> Dispute {
    commands.into_iter().fold(Dispute::None, |state, command| {
        let events = dispute::decide(&state, command).expect("given commands are accepted");
        events.iter().fold(state, dispute::evolve)
    })
}

#[test]
fn a27_window_is_the_dispensing_month() {
    assert_eq!(
        dispute_window_closes_on(date("2026-02-10")),
        date("2026-02-28")
    );
    assert_eq!(
        dispute_window_closes_on(date("2026-12-31")),
        date("2026-12-31")
    );
    assert!(dispute::decide(&Dispute::None, claim("2026-03-31", None)).is_ok());
    let late = dispute::decide(&Dispute::None, claim("2026-04-01", None)).unwrap_err();
    assert!(matches!(
        late,
        DisputeError::ClaimOutsideWindow { rule: "A-27", .. }
    ));
    assert!(
        late.to_string()
            .contains("outside the window that closed 2026-03-31"),
        "{late}"
    );
}

/// D-12: the window also closes when the pharmacy's payment report is submitted.
#[test]
fn d12_claim_after_the_payment_report_is_rejected() {
    let report = Some("2026-03-20T05:00:00Z");
    assert!(dispute::decide(&Dispute::None, claim("2026-03-19", report)).is_ok());
    let late = dispute::decide(&Dispute::None, claim("2026-03-20", report)).unwrap_err();
    assert!(matches!(
        late,
        DisputeError::ClaimAfterReport { rule: "D-12", .. }
    ));
}

/// the claim is written.
#[test]
fn x01_claim_must_be_written() {
    let mut command = claim("2026-03-12", None);
    if let DisputeCommand::File(file) = &mut command {
        file.claim = "  ".into();
    }
    assert!(matches!(
        dispute::decide(&Dispute::None, command),
        Err(DisputeError::ClaimNotWritten { rule: "X-01", .. })
    ));
}

#[test]
fn x02_resolution_needs_three_distinct_members_and_a_protocol() {
    let filed = given(vec![claim("2026-03-12", None)]);
    let two = dispute::decide(&filed, resolve(&["A", "B", "B"], "P-7"));
    assert!(matches!(
        two,
        Err(DisputeError::CommissionTooSmall {
            rule: "X-02",
            members: 2,
            ..
        })
    ));
    let no_protocol = dispute::decide(&filed, resolve(&["A", "B", "C"], " "));
    assert!(matches!(
        no_protocol,
        Err(DisputeError::MissingProtocol { rule: "X-02", .. })
    ));
    let events = dispute::decide(&filed, resolve(&["A", "B", "C"], "P-7")).unwrap();
    let resolved = events.iter().fold(filed, dispute::evolve);
    assert!(matches!(
        dispute::decide(&resolved, resolve(&["A", "B", "C"], "P-8")),
        Err(DisputeError::WrongState { .. })
    ));
}

#[test]
fn x03_payment_decision_must_cite_the_protocol() {
    let filed = given(vec![claim("2026-03-12", None)]);
    assert!(matches!(
        check_payment_decision(&filed, Some("P-7")),
        Err(DisputeError::Unresolved { rule: "X-03", .. })
    ));
    let resolved = given(vec![
        claim("2026-03-12", None),
        resolve(&["A", "B", "C"], "P-7"),
    ]);
    assert_eq!(
        check_payment_decision(&resolved, Some("P-7")),
        Ok(&DisputeDecision::PayAmount(som(40)))
    );
    let wrong = check_payment_decision(&resolved, Some("P-6")).unwrap_err();
    assert!(matches!(
        wrong,
        DisputeError::ProtocolNotCited { rule: "X-03", .. }
    ));
    assert!(check_payment_decision(&resolved, None).is_err());
}

#[test]
fn dispute_events_round_trip_through_the_codec() {
    let filed = Dispute::None;
    for event in dispute::decide(&filed, claim("2026-03-12", None)).unwrap() {
        let bytes = crate::codec::encode(&event).unwrap();
        assert_eq!(crate::codec::decode::<DisputeEvent>(&bytes).unwrap(), event);
    }
}

fn assessment(
    id: &str,
    debtor: Debtor,
    ground: RecoveryGround,
    amount: Money,
    on: &str,
) -> RecoveryAssessed {
    RecoveryAssessed {
        recovery_id: id.into(),
        debtor,
        ground,
        inspection_act_ref: format!("INSPECTION-{id}"),
        amount,
        assessed_on: date(on),
    }
}

fn pharmacy() -> Debtor {
    Debtor::Pharmacy("PH-1".into())
}

fn assessed(list: Vec<RecoveryAssessed>) -> Recoveries {
    list.into_iter().fold(Recoveries::new(), |state, item| {
        let event = decide_assessment(&state, item).expect("given assessments are accepted");
        recovery::evolve(state, &event)
    })
}

/// an R-01 recovery is owed by the prescribing organisation or doctor, never the pharmacy.
#[test]
fn a26_r01_debtor_is_the_prescriber_not_the_pharmacy() {
    let wrong = assessment(
        "R1",
        pharmacy(),
        RecoveryGround::UnjustifiedPrescription,
        som(10),
        "2026-04-01",
    );
    assert!(matches!(
        decide_assessment(&Recoveries::new(), wrong),
        Err(RecoveryError::DebtorNotAllowed { rule: "A-26", .. })
    ));
    let doctor = assessment(
        "R1",
        Debtor::Doctor("DR-9".into()),
        RecoveryGround::UnjustifiedPrescription,
        som(10),
        "2026-04-01",
    );
    assert!(decide_assessment(&Recoveries::new(), doctor).is_ok());
    let org = assessment(
        "R2",
        Debtor::PrescribingOrganisation("FMC-3".into()),
        RecoveryGround::FaultyAfterDispensing,
        som(10),
        "2026-04-01",
    );
    assert!(matches!(
        decide_assessment(&Recoveries::new(), org),
        Err(RecoveryError::DebtorNotAllowed { rule: "R-04", .. })
    ));
}

/// a prescriber's debt is recorded but never offset against a pharmacy settlement.
#[test]
fn r01_prescriber_debt_is_not_offset_against_pharmacy_settlements() {
    let recoveries = assessed(vec![assessment(
        "R1",
        Debtor::Doctor("DR-9".into()),
        RecoveryGround::UnjustifiedPrescription,
        som(10),
        "2026-04-01",
    )]);
    assert_eq!(
        plan_offsets(&recoveries, "PH-1", "S-1", som(100), date("2026-05-05")).unwrap(),
        vec![]
    );
}

#[test]
fn r04_pharmacy_recovery_is_offset_in_the_next_settlements_citing_the_act() {
    let recoveries = assessed(vec![
        assessment(
            "R2",
            pharmacy(),
            RecoveryGround::FaultyAfterDispensing,
            som(70),
            "2026-04-02",
        ),
        assessment(
            "R1",
            pharmacy(),
            RecoveryGround::FaultyAfterDispensing,
            som(50),
            "2026-04-01",
        ),
    ]);
    let events = plan_offsets(&recoveries, "PH-1", "S-1", som(100), date("2026-05-05")).unwrap();
    let lines: Vec<(String, Money, String)> = events
        .iter()
        .map(|event| match event {
            RecoveryEvent::RecoveryOffset(offset) => (
                offset.recovery_id.clone(),
                offset.amount,
                offset.inspection_act_ref.clone(),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("R1".into(), som(50), "INSPECTION-R1".into()),
            ("R2".into(), som(50), "INSPECTION-R2".into())
        ]
    );
    let recoveries = events.iter().fold(recoveries, recovery::evolve);
    assert_eq!(recoveries.get("R2").unwrap().outstanding(), som(20));
    assert!(matches!(
        plan_offsets(&recoveries, "PH-1", "S-1", som(100), date("2026-05-06")),
        Err(RecoveryError::SettlementAlreadyOffset { .. })
    ));
    let next = plan_offsets(&recoveries, "PH-1", "S-2", som(100), date("2026-06-05")).unwrap();
    assert_eq!(next.len(), 1);
}

#[test]
fn r04_assessment_cites_an_inspection_act_and_a_positive_amount() {
    let mut no_act = assessment(
        "R1",
        pharmacy(),
        RecoveryGround::FaultyAfterDispensing,
        som(10),
        "2026-04-01",
    );
    no_act.inspection_act_ref = String::new();
    assert!(matches!(
        decide_assessment(&Recoveries::new(), no_act),
        Err(RecoveryError::MissingInspectionAct { rule: "R-04", .. })
    ));
    let zero = assessment(
        "R1",
        pharmacy(),
        RecoveryGround::FaultyAfterDispensing,
        som(0),
        "2026-04-01",
    );
    assert!(matches!(
        decide_assessment(&Recoveries::new(), zero),
        Err(RecoveryError::InvalidAmount { .. })
    ));
    let recoveries = assessed(vec![assessment(
        "R1",
        pharmacy(),
        RecoveryGround::FaultyAfterDispensing,
        som(10),
        "2026-04-01",
    )]);
    let again = assessment(
        "R1",
        pharmacy(),
        RecoveryGround::FaultyAfterDispensing,
        som(10),
        "2026-04-01",
    );
    assert!(matches!(
        decide_assessment(&recoveries, again),
        Err(RecoveryError::DuplicateRecovery { .. })
    ));
}

/// the KZ rules have no recovery; a tenge amount cannot be assessed here.
#[test]
fn r05_kazakh_amounts_cannot_be_recovered() {
    let tenge = assessment(
        "R1",
        pharmacy(),
        RecoveryGround::FaultyAfterDispensing,
        Money::new(1_000, Currency::KZT),
        "2026-04-01",
    );
    assert!(matches!(
        decide_assessment(&Recoveries::new(), tenge),
        Err(RecoveryError::InvalidAmount { .. })
    ));
}

proptest! {
    /// offsets never exceed the settlement nor any recovery's outstanding amount, and all money
    /// is accounted for: Σ offsets = min(gross, Σ outstanding).
    #[test]
    fn r04_offsets_conserve_money(amounts in prop::collection::vec(1i64..10_000, 1..8), gross in 0i64..50_000) {
        let list = amounts.iter().enumerate().map(|(index, amount)| {
            assessment(&format!("R{index}"), pharmacy(), RecoveryGround::FaultyAfterDispensing, Money::new(*amount, Currency::KGS), "2026-04-01")
        }).collect();
        let recoveries = assessed(list);
        let events = plan_offsets(&recoveries, "PH-1", "S-1", Money::new(gross, Currency::KGS), date("2026-05-05")).unwrap();
        let offset: i64 = events.iter().map(|event| match event {
            RecoveryEvent::RecoveryOffset(offset) => offset.amount.minor,
            RecoveryEvent::RecoveryAssessed(_) => 0,
        }).sum();
        prop_assert_eq!(offset, gross.min(amounts.iter().sum()));
        let after = events.iter().fold(recoveries, recovery::evolve);
        for index in 0..amounts.len() {
            let id = format!("R{index}");
            let outstanding = after.get(&id).unwrap().outstanding().minor;
            prop_assert!(outstanding >= 0);
        }
    }
}
