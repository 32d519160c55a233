//! Dispensing, registry, act and payment rules, one test per rule ID, plus the money invariants.

use super::events::{LineRejection, SuspensionReason};
use super::*;
use crate::domain::clock::ClockRule;
use crate::domain::contract::events::{Party, TerminationGround};
use crate::domain::contract::{ContractCommand, ReceiveTerminationNotice, SendTerminationNotice};
use crate::domain::money::Currency;
use crate::domain::region::Programme;
use crate::domain::rules::RuleParameters;
use crate::domain::testkit::*;
use crate::domain::values::{
    DocumentNumber, FiscalReceipt, OrganisationName, ReportingPeriod, UnitOfMeasure,
};

fn world() -> World {
    World::kz().with_concluded_contract()
}

fn january() -> ReportingPeriod {
    World::january()
}

fn dispense(world: &mut World, command: RecordDispensing) -> Result<Vec<Event>, DomainError> {
    world.period(
        january(),
        PeriodCommand::RecordDispensing(Box::new(command)),
    )
}

fn recorded(events: &[Event]) -> &events::DispensingRecorded {
    match events {
        [Event::DispensingRecorded(recorded)] => recorded,
        other => panic!("expected one DispensingRecorded, got {other:?}"),
    }
}

fn number(text: &str) -> DocumentNumber {
    DocumentNumber::new(text).unwrap()
}

#[test]
fn m03_fund_pays_min_of_limit_and_trade_name_price() {
    let mut world = world();
    let events = dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    let line = recorded(&events);
    // 30 × min(10.00, 12.00) = 300.00; patient 30 × 2.00 = 60.00; total 360.00.
    assert_eq!(line.amounts.fund, Money::new(30_000, Currency::KZT));
    assert_eq!(line.amounts.patient, Money::new(6_000, Currency::KZT));
    assert_eq!(line.amounts.total, Money::new(36_000, Currency::KZT));
    assert_eq!(
        (line.price_list_version, line.limit_unit_price.to_string()),
        (1, "10".to_owned())
    );
}

#[test]
fn m04_patient_pays_nothing_when_trade_name_is_cheaper() {
    let mut world = world();
    let command = with_sale(dispensing("D1", "2026-01-15T12:00:00+05:00"), "30", "9.5");
    let line = dispense(&mut world, command).unwrap();
    let line = recorded(&line);
    assert_eq!(line.amounts.fund.minor, 28_500);
    assert_eq!(line.amounts.patient.minor, 0);
}

#[test]
fn m07_a10_receipt_must_equal_the_total() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    let receipt = &command.fiscal_receipt;
    command.fiscal_receipt = FiscalReceipt::new(
        receipt.rnm(),
        receipt.fiscal_sign(),
        receipt.issued_at(),
        Money::new(35_000, Currency::KZT),
    )
    .unwrap();
    let error = dispense(&mut world, command).unwrap_err();
    assert_eq!(error.rule(), "M-07");
    assert!(
        error
            .to_string()
            .contains("350.00 KZT differs from the total 360.00 KZT"),
        "{error}"
    );
    assert!(
        !world.periods.contains_key(&january()),
        "a refusal appends nothing"
    );
}

#[test]
fn a10_unit_must_be_the_unit_of_the_limit_price() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.unit = UnitOfMeasure::new("pack").unwrap();
    assert_eq!(dispense(&mut world, command).unwrap_err().rule(), "A-10");
}

#[test]
fn a13_devices_are_priced_by_technical_characteristic() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.product = test_strips();
    command.unit = UnitOfMeasure::new("strip").unwrap();
    let command = with_sale(command, "50", "55");
    let line = dispense(&mut world, command).unwrap();
    assert_eq!(recorded(&line).amounts.fund.minor, 250_000);
    assert_eq!(recorded(&line).amounts.patient.minor, 25_000);
}

#[test]
fn a14_price_in_force_on_the_dispensing_date() {
    let mut world = world();
    world.prices(price_list(2, "2026-01-20", "11")).unwrap();
    let before = dispense(&mut world, dispensing("D1", "2026-01-19T23:00:00+05:00")).unwrap();
    assert_eq!(recorded(&before).price_list_version, 1);
    let after = dispense(&mut world, dispensing("D2", "2026-01-20T09:00:00+05:00")).unwrap();
    assert_eq!(recorded(&after).price_list_version, 2);
    assert_eq!(recorded(&after).amounts.fund.minor, 33_000);
}

#[test]
fn a14_domestic_price_type_is_configuration() {
    let parameters = RuleParameters {
        limit_price_type: crate::domain::rules::PriceType::DomesticLongTerm,
        ..RuleParameters::kz_2025()
    };
    let mut world = World::with_parameters(parameters).with_concluded_contract();
    let error = dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap_err();
    assert_eq!(error.rule(), "A-14");
}

#[test]
fn a37_copayment_needs_the_patients_consent() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.copayment_consent = false;
    assert_eq!(dispense(&mut world, command).unwrap_err().rule(), "A-37");
}

#[test]
fn a34_only_gobmp_and_osms_allow_copayment() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.programme = Programme::PenitentiaryAdditional;
    assert_eq!(dispense(&mut world, command).unwrap_err().rule(), "A-34");
    let mut command = dispensing("D2", "2026-01-15T12:00:00+05:00");
    command.programme = Programme::Gobmp;
    assert!(dispense(&mut world, command).is_ok());
}

#[test]
fn a33_dispenser_must_be_the_holder_or_a_member_on_the_date() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.dispenser_bin = stranger_bin();
    let error = dispense(&mut world, command).unwrap_err();
    assert_eq!(error.rule(), "A-33");
    assert!(error.to_string().contains(&stranger_bin().to_string()));
}

#[test]
fn m06_no_reimbursement_before_the_contract_is_concluded() {
    let mut world = World::kz();
    world.prices(price_list(1, "2026-01-01", "10")).unwrap();
    assert_eq!(
        dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00"))
            .unwrap_err()
            .rule(),
        "M-06"
    );
    let mut world = world_with_contract_before_dispensing();
    assert_eq!(
        dispense(&mut world, dispensing("D1", "2026-01-07T12:00:00+05:00"))
            .unwrap_err()
            .rule(),
        "M-06"
    );
}

fn world_with_contract_before_dispensing() -> World {
    world()
}

#[test]
fn a25_c10_dispensing_at_or_after_termination_receipt_is_not_reimbursable() {
    let mut world = world();
    let notice = SendTerminationNotice {
        notice: number("N-1"),
        sent_at: at("2026-01-19T10:00:00+05:00"),
        sender: Party::Fund,
        grounds: vec![TerminationGround::InformationSecurity],
        signature: signed_by(fund_bin()),
    };
    world
        .contract(ContractCommand::SendTerminationNotice(notice))
        .unwrap();
    assert!(
        dispense(&mut world, dispensing("D1", "2026-01-20T11:59:59+05:00")).is_ok(),
        "sent is not received"
    );
    let received_at = "2026-01-20T12:00:00+05:00";
    world
        .contract(ContractCommand::ReceiveTerminationNotice(
            ReceiveTerminationNotice {
                received_at: at(received_at),
            },
        ))
        .unwrap();
    assert_eq!(
        dispense(&mut world, dispensing("D2", received_at))
            .unwrap_err()
            .rule(),
        "A-25"
    );
}

#[test]
fn m06_same_marking_code_or_receipt_is_reimbursed_once() {
    let mut world = world();
    let first = dispensing("D1", "2026-01-15T12:00:00+05:00");
    dispense(&mut world, first.clone()).unwrap();
    let mut same_pack = dispensing("D2", "2026-01-16T12:00:00+05:00");
    same_pack.marking_code = first.marking_code.clone();
    let error = dispense(&mut world, same_pack).unwrap_err();
    assert_eq!(error.rule(), "M-06");
    assert!(
        error
            .to_string()
            .contains("already reimbursed by dispensing \"D1\""),
        "{error}"
    );
    let mut same_receipt = dispensing("D3", "2026-01-16T12:00:00+05:00");
    same_receipt.fiscal_receipt = first.fiscal_receipt.clone();
    assert_eq!(
        dispense(&mut world, same_receipt).unwrap_err().rule(),
        "M-06"
    );
}

#[test]
fn m06_uniqueness_holds_across_periods_through_the_writers_index() {
    let mut world = world();
    let first = dispensing("D1", "2026-01-15T12:00:00+05:00");
    dispense(&mut world, first.clone()).unwrap();
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let mut again = dispensing("D9", "2026-02-03T12:00:00+05:00");
    again.marking_code = first.marking_code;
    let error = world
        .period(february, PeriodCommand::RecordDispensing(Box::new(again)))
        .unwrap_err();
    assert!(error.to_string().contains("2026-01/D1"), "{error}");
}

#[test]
fn a06_reversal_withdraws_a_line_and_frees_its_keys() {
    let mut world = world();
    let first = dispensing("D1", "2026-01-15T12:00:00+05:00");
    dispense(&mut world, first.clone()).unwrap();
    let reversal = ReverseDispensing {
        dispensing_id: first.dispensing_id.clone(),
        reversed_at: at("2026-01-16T10:00:00+05:00"),
        reason: "wrong patient".into(),
    };
    world
        .period(
            january(),
            PeriodCommand::ReverseDispensing(reversal.clone()),
        )
        .unwrap();
    assert_eq!(
        world
            .period(january(), PeriodCommand::ReverseDispensing(reversal))
            .unwrap_err()
            .rule(),
        "A-06"
    );
    let mut corrected = dispensing("D1-fix", "2026-01-15T12:00:00+05:00");
    corrected.marking_code = first.marking_code;
    assert!(dispense(&mut world, corrected).is_ok());
    assert_eq!(world.periods[&january()].live_dispensings().len(), 1);
}

#[test]
fn p01_dispensing_must_fall_in_the_period() {
    let mut world = world();
    // 2026-01-31T20:00Z is 1 February local time (UTC+5).
    let error = dispense(&mut world, dispensing("D1", "2026-01-31T20:00:00Z")).unwrap_err();
    assert_eq!(error.rule(), "P-01");
}

#[test]
fn p02_a05_shorter_period_has_its_own_registry_due_date() {
    let mut world = world();
    let half = ReportingPeriod::span(day("2026-01-01"), day("2026-01-15")).unwrap();
    world
        .period(
            half,
            PeriodCommand::RecordDispensing(Box::new(dispensing(
                "D1",
                "2026-01-15T12:00:00+05:00",
            ))),
        )
        .unwrap();
    let events = world
        .period(
            half,
            PeriodCommand::SubmitRegistry(submit_at("2026-01-20T10:00:00+05:00")),
        )
        .unwrap();
    let Event::RegistrySubmitted(submitted) = &events[0] else {
        panic!()
    };
    assert_eq!(submitted.due.due, day("2026-02-25"));
}

fn submit_at(instant: &str) -> SubmitRegistry {
    SubmitRegistry {
        registry_no: number("R-1"),
        submitted_at: at(instant),
        signature: signed_by(holder_bin()),
    }
}

fn submit(world: &mut World, instant: &str) -> Vec<Event> {
    world
        .period(january(), PeriodCommand::SubmitRegistry(submit_at(instant)))
        .unwrap()
}

#[test]
fn d02_registry_due_the_25th_of_the_following_month() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    let events = submit(&mut world, "2026-02-25T23:59:00+05:00");
    let Event::RegistrySubmitted(submitted) = &events[0] else {
        panic!()
    };
    assert_eq!(
        (submitted.due.due, submitted.late, events.len()),
        (day("2026-02-25"), false, 1)
    );
    assert_eq!(submitted.total_fund.minor, 30_000);

    let mut world = self::world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    let events = submit(&mut world, "2026-02-26T00:00:00+05:00");
    let types: Vec<&str> = events.iter().map(Event::event_type).collect();
    assert_eq!(types, ["RegistrySubmitted", "TerminationGroundDetected"]);
    let Event::TerminationGroundDetected(ground) = &events[1] else {
        panic!()
    };
    assert_eq!(
        (ground.ground, ground.finding.rule.as_str()),
        (TerminationGround::RegistrySubmission, "D-02")
    );
}

#[test]
fn d03_a04_december_registry_due_25_january_and_rolled_forward() {
    let mut world = world();
    let december = ReportingPeriod::month(2026, 12).unwrap();
    let events = world
        .period(
            december,
            PeriodCommand::SubmitRegistry(submit_at("2027-01-25T18:00:00+05:00")),
        )
        .unwrap();
    let Event::RegistrySubmitted(submitted) = &events[0] else {
        panic!()
    };
    assert_eq!(
        (submitted.due.due, submitted.late),
        (day("2027-01-25"), false)
    );
    // 25 April 2026 is a Saturday: the March registry is due Monday 27 April.
    let march = ReportingPeriod::month(2026, 3).unwrap();
    let events = world
        .period(
            march,
            PeriodCommand::SubmitRegistry(submit_at("2026-04-27T18:00:00+05:00")),
        )
        .unwrap();
    let Event::RegistrySubmitted(submitted) = &events[0] else {
        panic!()
    };
    assert_eq!(
        (submitted.due.due_strict, submitted.due.due, submitted.late),
        (day("2026-04-25"), day("2026-04-27"), false)
    );
}

#[test]
fn a06_submitted_content_is_fixed() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-10T10:00:00+05:00");
    assert_eq!(
        dispense(&mut world, dispensing("D2", "2026-01-16T12:00:00+05:00"))
            .unwrap_err()
            .rule(),
        "A-06"
    );
    let error = world
        .period(
            january(),
            PeriodCommand::SubmitRegistry(submit_at("2026-02-11T10:00:00+05:00")),
        )
        .unwrap_err();
    assert_eq!(error.rule(), "A-06");
}

fn receive_registry(world: &mut World, instant: &str) -> Vec<Event> {
    world
        .period(
            january(),
            PeriodCommand::ReceiveRegistry(ReceiveRegistry {
                received_at: at(instant),
            }),
        )
        .unwrap()
}

#[test]
fn d04_registry_review_ten_working_days_from_receipt() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-19T10:00:00+05:00");
    let events = receive_registry(&mut world, "2026-02-20T10:00:00+05:00");
    let Event::RegistryReceived(received) = &events[0] else {
        panic!()
    };
    // Friday 20 Feb does not count; 23–27 Feb and 2–6 Mar are ten working days.
    assert_eq!(
        (received.review.rule, received.review.due),
        (ClockRule::RegistryReview, day("2026-03-06"))
    );
}

fn reject(
    world: &mut World,
    instant: &str,
    lines: Vec<LineRejection>,
) -> Result<Vec<Event>, DomainError> {
    world.period(
        january(),
        PeriodCommand::RejectRegistry(RejectRegistry {
            rejected_at: at(instant),
            reason: "line errors".into(),
            lines,
        }),
    )
}

#[test]
fn a06_rejection_resubmission_fresh_clock_and_first_submission_lateness() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    dispense(&mut world, dispensing("D2", "2026-01-16T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-20T10:00:00+05:00");
    receive_registry(&mut world, "2026-02-20T11:00:00+05:00");
    let unknown_line = vec![LineRejection {
        line_no: 3,
        code: "X".into(),
        reason: "?".into(),
    }];
    assert_eq!(
        reject(&mut world, "2026-02-24T10:00:00+05:00", unknown_line)
            .unwrap_err()
            .rule(),
        "A-06"
    );
    let line = vec![LineRejection {
        line_no: 2,
        code: "IIN".into(),
        reason: "patient not insured".into(),
    }];
    reject(&mut world, "2026-02-24T10:00:00+05:00", line).unwrap();
    let reversal = ReverseDispensing {
        dispensing_id: DispensingId::new("D2").unwrap(),
        reversed_at: at("2026-02-26T10:00:00+05:00"),
        reason: "rejected line 2".into(),
    };
    world
        .period(january(), PeriodCommand::ReverseDispensing(reversal))
        .unwrap();
    let events = submit(&mut world, "2026-02-26T11:00:00+05:00");
    let Event::RegistrySubmitted(second) = &events[0] else {
        panic!()
    };
    assert_eq!(
        (
            second.submission,
            second.late,
            usize::try_from(second.line_count).unwrap()
        ),
        (2, false, 1),
        "lateness judged on the first submission"
    );
    assert_eq!(
        events.len(),
        2,
        "a late resubmission is flagged by default (A-06 parameter)"
    );
    let events = receive_registry(&mut world, "2026-02-27T10:00:00+05:00");
    let Event::RegistryReceived(received) = &events[0] else {
        panic!()
    };
    assert_eq!(
        received.review.started_on,
        day("2026-02-27"),
        "a fresh clock"
    );
}

fn approve(world: &mut World, instant: &str) -> Vec<Event> {
    world
        .period(
            january(),
            PeriodCommand::ApproveRegistry(ApproveRegistry {
                approved_at: at(instant),
                signature: signed_by(fund_bin()),
            }),
        )
        .unwrap()
}

fn approved_world(world: &mut World, dispensings: Vec<RecordDispensing>) {
    for command in dispensings {
        dispense(world, command).unwrap();
    }
    submit(world, "2026-02-10T10:00:00+05:00");
    receive_registry(world, "2026-02-10T11:00:00+05:00");
    approve(world, "2026-02-16T10:00:00+05:00");
}

fn submit_act(world: &mut World, instant: &str) -> Result<Vec<Event>, DomainError> {
    let command = SubmitPaymentAct {
        act_no: number("A-1"),
        submitted_at: at(instant),
        supplier: OrganisationName::new("Dari Pharm LLP").unwrap(),
        signature: signed_by(holder_bin()),
    };
    world.period(january(), PeriodCommand::SubmitPaymentAct(command))
}

#[test]
fn d05_act_only_after_registry_approval() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-10T10:00:00+05:00");
    assert_eq!(
        submit_act(&mut world, "2026-02-11T10:00:00+05:00")
            .unwrap_err()
            .rule(),
        "D-05"
    );
}

#[test]
fn a12_act_has_one_row_per_region_counting_distinct_prescriptions() {
    let mut world = world();
    let astana_1 = dispensing("D1", "2026-01-15T12:00:00+05:00");
    let mut astana_2 = dispensing("D2", "2026-01-15T13:00:00+05:00");
    astana_2.prescription = astana_1.prescription.clone();
    let mut almaty = dispensing("D3", "2026-01-16T12:00:00+05:00");
    almaty.region = region("750000000");
    approved_world(&mut world, vec![astana_1, astana_2, almaty]);
    let events = submit_act(&mut world, "2026-02-17T10:00:00+05:00").unwrap();
    let Event::PaymentActSubmitted(act) = &events[0] else {
        panic!()
    };
    let rows: Vec<(&str, u32, i64)> = act
        .rows
        .iter()
        .map(|row| (row.region.code(), row.prescriptions, row.fund_amount.minor))
        .collect();
    assert_eq!(rows, [("710000000", 1, 60_000), ("750000000", 1, 30_000)]);
    assert_eq!(
        act.total.minor, 90_000,
        "A-11: act total = approved Σ col 15"
    );
}

#[test]
fn a07_no_act_deadline_by_default_and_a_ground_with_a_grace() {
    let mut world = world();
    approved_world(
        &mut world,
        vec![dispensing("D1", "2026-01-15T12:00:00+05:00")],
    );
    assert_eq!(
        submit_act(&mut world, "2026-06-01T10:00:00+05:00")
            .unwrap()
            .len(),
        1
    );

    let parameters = RuleParameters {
        act_submission_grace: Some(crate::domain::calendar::WorkingDays(3)),
        ..RuleParameters::kz_2025()
    };
    let mut world = World::with_parameters(parameters).with_concluded_contract();
    approved_world(
        &mut world,
        vec![dispensing("D1", "2026-01-15T12:00:00+05:00")],
    );
    let events = submit_act(&mut world, "2026-02-20T10:00:00+05:00").unwrap();
    let Event::TerminationGroundDetected(ground) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (ground.ground, ground.finding.rule.as_str()),
        (TerminationGround::ActSubmission, "A-07")
    );
}

fn signed_world(world: &mut World, signed_at: &str) {
    approved_world(world, vec![dispensing("D1", "2026-01-15T12:00:00+05:00")]);
    submit_act(world, "2026-02-17T10:00:00+05:00").unwrap();
    world
        .period(
            january(),
            PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
                received_at: at("2026-02-17T11:00:00+05:00"),
            }),
        )
        .unwrap();
    world
        .period(
            january(),
            PeriodCommand::SignPaymentAct(SignPaymentAct {
                signed_at: at(signed_at),
                signature: signed_by(fund_bin()),
            }),
        )
        .unwrap();
}

#[test]
fn d06_act_signing_five_working_days_from_receipt() {
    let mut world = world();
    approved_world(
        &mut world,
        vec![dispensing("D1", "2026-01-15T12:00:00+05:00")],
    );
    submit_act(&mut world, "2026-02-17T10:00:00+05:00").unwrap();
    let events = world
        .period(
            january(),
            PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
                received_at: at("2026-02-17T11:00:00+05:00"),
            }),
        )
        .unwrap();
    let Event::PaymentActReceived(received) = &events[0] else {
        panic!()
    };
    assert_eq!(received.signing.due, day("2026-02-24"));
}

#[test]
fn d07_payment_within_five_calendar_days_rolled_to_a_working_day() {
    let mut world = world();
    // Signed Monday 2 March: +5 = Saturday 7 March, rolled over Sunday and the 9 March holiday.
    signed_world(&mut world, "2026-03-02T10:00:00+05:00");
    let deadline = world.periods[&january()].payment_deadline.unwrap();
    assert_eq!(
        (deadline.due_strict, deadline.due),
        (day("2026-03-07"), day("2026-03-10"))
    );
}

fn pay(world: &mut World, reference: &str, minor: i64) -> Result<Vec<Event>, DomainError> {
    let command = MakePayment {
        payment_ref: number(reference),
        paid_at: at("2026-02-20T10:00:00+05:00"),
        programme: Programme::Osms,
        amount: Money::new(minor, Currency::KZT),
    };
    world.period(january(), PeriodCommand::MakePayment(command))
}

#[test]
fn d07_payments_sum_to_the_act_total_and_overpayment_is_refused() {
    let mut world = world();
    signed_world(&mut world, "2026-02-18T10:00:00+05:00");
    pay(&mut world, "P-1", 20_000).unwrap();
    let error = pay(&mut world, "P-2", 10_001).unwrap_err();
    assert_eq!(error.rule(), "D-07");
    assert!(matches!(error, DomainError::Overpayment { .. }));
    let events = pay(&mut world, "P-2", 10_000).unwrap();
    let Event::PaymentMade(made) = &events[0] else {
        panic!()
    };
    assert_eq!((made.paid_total.minor, made.fiscal_year), (30_000, 2026));
    assert_eq!(pay(&mut world, "P-3", 1).unwrap_err().rule(), "D-07");
}

#[test]
fn d08_a08_suspension_keeps_the_remaining_days() {
    let mut world = world();
    signed_world(&mut world, "2026-02-18T10:00:00+05:00");
    // Due strictly 23 Feb; suspended on 20 Feb with 3 days left; resumed 2 March → due 5 March.
    let suspend = SuspendPaymentClock {
        suspended_at: at("2026-02-20T10:00:00+05:00"),
        reason: SuspensionReason::BudgetTransferLate,
    };
    let events = world
        .period(
            january(),
            PeriodCommand::SuspendPaymentClock(suspend.clone()),
        )
        .unwrap();
    let Event::PaymentClockSuspended(suspended) = &events[0] else {
        panic!()
    };
    assert_eq!(suspended.remaining.0, 3);
    assert_eq!(
        world
            .period(january(), PeriodCommand::SuspendPaymentClock(suspend))
            .unwrap_err()
            .rule(),
        "D-08"
    );
    let events = world
        .period(
            january(),
            PeriodCommand::ResumePaymentClock(ResumePaymentClock {
                resumed_at: at("2026-03-02T09:00:00+05:00"),
            }),
        )
        .unwrap();
    let Event::PaymentClockResumed(resumed) = &events[0] else {
        panic!()
    };
    assert_eq!(resumed.payment.due, day("2026-03-05"));
}

#[test]
fn b07_december_service_is_charged_to_the_next_fiscal_year() {
    assert_eq!(
        act::fiscal_year_charged(ReportingPeriod::month(2026, 12).unwrap()),
        2027
    );
    assert_eq!(
        act::fiscal_year_charged(ReportingPeriod::month(2026, 11).unwrap()),
        2026
    );
}

#[test]
fn s02_registry_signature_is_checked() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    let mut command = submit_at("2026-02-10T10:00:00+05:00");
    command.signature = signed_by(stranger_bin());
    assert_eq!(
        world
            .period(january(), PeriodCommand::SubmitRegistry(command))
            .unwrap_err()
            .rule(),
        "S-03"
    );
    world.signatures = Box::new(RejectAllSignatures);
    let error = world
        .period(
            january(),
            PeriodCommand::SubmitRegistry(submit_at("2026-02-10T10:00:00+05:00")),
        )
        .unwrap_err();
    assert_eq!(error.rule(), "S-02");
}

#[test]
fn events_round_trip_through_the_payload() {
    let mut world = world();
    signed_world(&mut world, "2026-02-18T10:00:00+05:00");
    pay(&mut world, "P-1", 30_000).unwrap();
    for event in &world.log {
        let payload = event.to_payload().unwrap();
        assert_eq!(payload.event_type, event.event_type());
        assert_eq!(&Event::from_payload(&payload).unwrap(), event);
        let json = serde_json::to_string(event).unwrap();
        assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}

mod invariants;
mod order;

/// M-08: the patient sees the price and the co-payment of a trade name before dispensing.
#[test]
fn m08_quote_shows_the_copayment_before_dispensing() {
    let world = world();
    let amounts = dispensing::quote(
        &world.prices,
        crate::domain::rules::PriceType::InnLimit,
        &metformin(),
        "30".parse().unwrap(),
        "12".parse().unwrap(),
        day("2026-01-15"),
    )
    .unwrap();
    assert_eq!((amounts.fund.minor, amounts.patient.minor), (30_000, 6_000));
}

/// V-10: the KZ seeds set no prescription validity period (the 30-day rule is KG only, D-11).
#[test]
fn v10_kz_has_no_prescription_validity_period() {
    let mut world = world();
    let mut command = dispensing("D1", "2026-01-15T12:00:00+05:00");
    command.prescription.written_on = day("2025-06-01");
    assert!(dispense(&mut world, command).is_ok());
}

/// A-22 (KZ), C-03: the term is a parameter of the Fund's contract form; a dispensing after it ends
/// is not reimbursable.
#[test]
fn a22_dispensing_after_the_contract_term_is_refused() {
    let mut world = World::kz();
    world
        .contract(
            crate::domain::contract::ContractCommand::ReceiveApplication(company_application(
                "2026-01-05T10:00:00+05:00",
                network("PH", 70, 3, holder_bin()),
            )),
        )
        .unwrap();
    let mut review = review("2026-01-08T10:00:00+05:00");
    review.term.ends_on = Some(day("2026-01-20"));
    world
        .contract(crate::domain::contract::ContractCommand::ReviewApplication(
            review,
        ))
        .unwrap();
    world.prices(price_list(1, "2026-01-01", "10")).unwrap();
    assert!(dispense(&mut world, dispensing("D1", "2026-01-20T12:00:00+05:00")).is_ok());
    let error = dispense(&mut world, dispensing("D2", "2026-01-21T12:00:00+05:00")).unwrap_err();
    assert_eq!(error.rule(), "M-06");
    assert!(
        error.to_string().contains("outside the contract term"),
        "{error}"
    );
}

/// each dispensing is judged under the rule set in force on its own date.
#[test]
fn a28_dispensing_is_judged_under_the_rule_set_in_force() {
    use crate::domain::rules::{PriceType, RuleBook, RuleSet};
    let mut world = world();
    let mut january_rules = RuleSet::kz_2025(1, day("2025-10-06"));
    january_rules.effective_to = Some(day("2026-01-19"));
    let mut later_rules = RuleSet::kz_2025(2, day("2026-01-09"));
    later_rules.parameters.limit_price_type = PriceType::DomesticLongTerm;
    world.rules = RuleBook::new(vec![january_rules, later_rules]).unwrap();
    let events = dispense(&mut world, dispensing("D1", "2026-01-19T12:00:00+05:00")).unwrap();
    assert_eq!(recorded(&events).rule_set_version, 1);
    let error = dispense(&mut world, dispensing("D2", "2026-01-20T12:00:00+05:00")).unwrap_err();
    assert_eq!(
        error.rule(),
        "A-14",
        "version 2 prices at the domestic limit, which is not listed"
    );
}

/// O-03: a receipt is recorded separately from the submission and never before it; the refusal
/// names both instants.
#[test]
fn o03_a_registry_is_not_received_before_it_was_submitted() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-10T10:00:00+05:00");
    let command = ReceiveRegistry {
        received_at: at("2026-02-10T09:59:00+05:00"),
    };
    let error = world
        .period(january(), PeriodCommand::ReceiveRegistry(command))
        .unwrap_err();
    assert_eq!(error.rule(), "O-03");
    let text = error.to_string();
    assert!(
        text.contains("its receipt at 2026-02-10T04:59:00Z"),
        "{text}"
    );
    assert!(
        text.contains("the registry's submission at 2026-02-10T05:00:00Z"),
        "{text}"
    );
}

/// a step no O-rule names (an approval before the receipt) is still refused by the step
/// order.
#[test]
fn a02_steps_are_dated_in_order() {
    let mut world = world();
    dispense(&mut world, dispensing("D1", "2026-01-15T12:00:00+05:00")).unwrap();
    submit(&mut world, "2026-02-10T10:00:00+05:00");
    receive_registry(&mut world, "2026-02-11T10:00:00+05:00");
    let command = ApproveRegistry {
        approved_at: at("2026-02-11T09:00:00+05:00"),
        signature: signed_by(fund_bin()),
    };
    let error = world
        .period(january(), PeriodCommand::ApproveRegistry(command))
        .unwrap_err();
    assert_eq!(error.rule(), "A-02");
    assert!(
        error.to_string().contains("approving the registry"),
        "{error}"
    );
}

/// A-34, F-03: the act is split per programme and each programme is paid up to its own share.
#[test]
fn a34_payments_are_made_per_programme_share() {
    let mut world = world();
    let mut gobmp = dispensing("D2", "2026-01-16T12:00:00+05:00");
    gobmp.programme = Programme::Gobmp;
    approved_world(
        &mut world,
        vec![dispensing("D1", "2026-01-15T12:00:00+05:00"), gobmp],
    );
    submit_act(&mut world, "2026-02-17T10:00:00+05:00").unwrap();
    world
        .period(
            january(),
            PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
                received_at: at("2026-02-17T11:00:00+05:00"),
            }),
        )
        .unwrap();
    let events = world
        .period(
            january(),
            PeriodCommand::SignPaymentAct(SignPaymentAct {
                signed_at: at("2026-02-18T10:00:00+05:00"),
                signature: signed_by(fund_bin()),
            }),
        )
        .unwrap();
    let Event::PaymentActSigned(signed) = &events[0] else {
        panic!()
    };
    let shares: Vec<(Programme, i64)> = signed
        .by_programme
        .iter()
        .map(|share| (share.programme, share.amount.minor))
        .collect();
    assert_eq!(
        shares,
        [(Programme::Gobmp, 30_000), (Programme::Osms, 30_000)]
    );
    let error = pay(&mut world, "P-1", 30_001).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("on the OSMS share of act \"A-1\""),
        "{error}"
    );
    pay(&mut world, "P-1", 30_000).unwrap();
    let gobmp_payment = MakePayment {
        payment_ref: number("P-2"),
        paid_at: at("2026-02-20T11:00:00+05:00"),
        programme: Programme::Gobmp,
        amount: Money::new(30_000, Currency::KZT),
    };
    let events = world
        .period(january(), PeriodCommand::MakePayment(gobmp_payment))
        .unwrap();
    let Event::PaymentMade(made) = &events[0] else {
        panic!()
    };
    assert_eq!(
        (made.paid_programme_total.minor, made.paid_total.minor),
        (30_000, 60_000)
    );
}

/// C-02: a registry belongs to a concluded contract; an application under review has none.
#[test]
fn c02_no_registry_without_a_concluded_contract() {
    let mut world = World::kz();
    world
        .contract(
            crate::domain::contract::ContractCommand::ReceiveApplication(company_application(
                "2026-01-05T10:00:00+05:00",
                network("PH", 70, 3, holder_bin()),
            )),
        )
        .unwrap();
    let error = world
        .period(
            january(),
            PeriodCommand::SubmitRegistry(submit_at("2026-02-10T10:00:00+05:00")),
        )
        .unwrap_err();
    assert_eq!(error.rule(), "C-02");
}
