//! The KG settlement of a period: report, review, recovery offsets and payment.

use super::example;
use super::tests::{World, command, record, som, world};
use super::*;
use crate::domain::kg::recovery::{self, Debtor, RecoveryAssessed, RecoveryGround};
use crate::domain::values::DocumentNumber;

fn submit(on: &str) -> KgPeriodCommand {
    KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
        report_no: DocumentNumber::new("R-2026-03").unwrap(),
        submitted_at: example::at(&format!("{on}T10:00:00+06:00")),
    })
}

fn approve(state: &KgPeriodState, on: &str) -> KgPeriodCommand {
    KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
        content_hash: state.report.as_ref().unwrap().content_hash,
        approved_at: example::at(&format!("{on}T10:00:00+06:00")),
    })
}

fn pay(amount: i64, on: &str) -> KgPeriodCommand {
    KgPeriodCommand::PaySettlement(PayKgSettlement {
        payment_order: DocumentNumber::new("PO-1").unwrap(),
        paid_at: example::at(&format!("{on}T10:00:00+06:00")),
        amount: som(amount),
    })
}

/// A dispensing of 150.00 and a report submitted on 2 April.
fn submitted(world: &World) -> KgPeriodState {
    world
        .run(vec![command(record("D-1")), submit("2026-04-02")])
        .0
}

fn assess(recoveries: Recoveries, id: &str, debtor: Debtor, ground: RecoveryGround) -> Recoveries {
    let event = recovery::decide_assessment(
        &recoveries,
        RecoveryAssessed {
            recovery_id: id.to_owned(),
            debtor,
            ground,
            inspection_act_ref: format!("ACT-{id}"),
            amount: som(4_000),
            assessed_on: "2026-03-20".parse().unwrap(),
        },
    )
    .unwrap();
    recovery::evolve(recoveries, &event)
}

/// P-09: the report sums its lines and fixes them by hash; a submitted report takes no new line.
#[test]
fn p09_report_sums_and_fixes_its_lines() {
    let world = world();
    let (state, events) = world.run(vec![command(record("D-1")), submit("2026-04-02")]);
    let Some(Event::KgPaymentReportSubmitted(report)) = events.last() else {
        panic!("expected a report, got {events:?}");
    };
    assert_eq!(report.line_count, 1);
    assert_eq!(report.total_reimbursement, som(15_000));
    assert_eq!(report.total_retail, som(18_000));
    assert_eq!(report.total_patient_paid, som(3_000));
    assert_eq!(report.content_hash, report::content_hash(&state));
    let error = world.decide(&state, command(record("D-2"))).unwrap_err();
    assert_eq!(error.rule(), "P-09", "{error}");
}

/// D-13: reports are submitted after the period ends.
#[test]
fn d13_report_only_after_the_period() {
    let world = world();
    let (state, _) = world.run(vec![command(record("D-1"))]);
    let error = world.decide(&state, submit("2026-03-31")).unwrap_err();
    assert_eq!(error.rule(), "D-13", "{error}");
}

/// P-09: the MHIF approves the content it reviewed; with no recovery the net is the gross.
#[test]
fn p09_approval_names_the_reviewed_content() {
    let world = world();
    let state = submitted(&world);
    let mut stale = approve(&state, "2026-04-05");
    if let KgPeriodCommand::ApprovePaymentReport(command) = &mut stale {
        command.content_hash = crate::domain::values::DocumentHash([7; 32]);
    }
    assert_eq!(world.decide(&state, stale).unwrap_err().rule(), "P-09");
    let events = world.decide(&state, approve(&state, "2026-04-05")).unwrap();
    let [Event::KgPaymentReportApproved(approved)] = events.as_slice() else {
        panic!("expected one approval, got {events:?}");
    };
    assert_eq!(
        (approved.gross, approved.net_payable),
        (som(15_000), som(15_000))
    );
}

/// a pharmacy's recovery is offset in its next settlement, citing the inspection act;
/// an R-01 recovery owed by the prescribing doctor is never offset against the pharmacy.
#[test]
fn r04_a26_recovery_offset_in_the_next_settlement() {
    let mut world = world();
    let tin = example::contract().applicant.unwrap().to_string();
    world.reference.recoveries = assess(
        Recoveries::new(),
        "REC-1",
        Debtor::Pharmacy(tin),
        RecoveryGround::FaultyAfterDispensing,
    );
    world.reference.recoveries = assess(
        std::mem::take(&mut world.reference.recoveries),
        "REC-2",
        Debtor::Doctor("DR-7".into()),
        RecoveryGround::UnjustifiedPrescription,
    );
    let state = submitted(&world);
    let events = world.decide(&state, approve(&state, "2026-04-05")).unwrap();
    let [
        Event::KgPaymentReportApproved(approved),
        Event::RecoveryOffset(offset),
    ] = events.as_slice()
    else {
        panic!("expected an approval and one offset, got {events:?}");
    };
    assert_eq!(approved.offset_total, som(4_000));
    assert_eq!(approved.net_payable, som(11_000));
    assert_eq!(
        (
            offset.recovery_id.as_str(),
            offset.inspection_act_ref.as_str()
        ),
        ("REC-1", "ACT-REC-1")
    );
    assert_eq!(offset.settlement_ref, "KG-1/2026-03");
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        world
            .decide(&state, pay(11_001, "2026-04-06"))
            .unwrap_err()
            .rule(),
        "P-09",
        "the net payable bounds the payments"
    );
}

/// P-09: a rejected report reopens for corrections and is resubmitted as submission 2.
#[test]
fn p09_rejection_reopens_for_a_resubmission() {
    let world = world();
    let state = submitted(&world);
    let no_reasons = KgPeriodCommand::RejectPaymentReport(RejectKgPaymentReport {
        rejected_at: example::at("2026-04-03T10:00:00+06:00"),
        reasons: vec![" ".into()],
    });
    assert_eq!(world.decide(&state, no_reasons).unwrap_err().rule(), "P-09");
    let reject = KgPeriodCommand::RejectPaymentReport(RejectKgPaymentReport {
        rejected_at: example::at("2026-04-03T10:00:00+06:00"),
        reasons: vec!["line D-1: receipt missing".into()],
    });
    let events = world.decide(&state, reject).unwrap();
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.stage, KgReportStage::Rejected);
    let events = world.decide(&state, submit("2026-04-04")).unwrap();
    let [Event::KgPaymentReportSubmitted(report)] = events.as_slice() else {
        panic!("expected a resubmission");
    };
    assert_eq!(report.submission, 2);
}

/// P-09: payments add up to the net payable and never pass it; O-07: a report is not reviewed before
/// it was submitted.
#[test]
fn p09_payments_up_to_the_net_and_o07_review_after_submission() {
    let world = world();
    let state = submitted(&world);
    let early = approve(&state, "2026-04-01");
    let error = world.decide(&state, early).unwrap_err();
    assert_eq!(error.rule(), "O-07", "{error}");
    assert!(
        error.to_string().contains("the report's submission at"),
        "{error}"
    );
    assert_eq!(
        world
            .decide(&state, pay(100, "2026-04-06"))
            .unwrap_err()
            .rule(),
        "P-09"
    );
    let events = world.decide(&state, approve(&state, "2026-04-05")).unwrap();
    let state = events.iter().fold(state, evolve);
    let events = world.decide(&state, pay(10_000, "2026-04-06")).unwrap();
    let state = events.iter().fold(state, evolve);
    let error = world.decide(&state, pay(5_001, "2026-04-07")).unwrap_err();
    assert!(
        matches!(error, DomainError::Overpayment { rule: "P-09", .. }),
        "{error}"
    );
    let events = world.decide(&state, pay(5_000, "2026-04-07")).unwrap();
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.paid, som(15_000));
}

/// P-09: a reversal withdraws a line and its counts while the report is open; the id stays taken;
/// a submitted report takes no reversal.
#[test]
fn p09_reversal_withdraws_a_line_before_submission() {
    let world = world();
    let reverse = |id: &str| {
        KgPeriodCommand::ReverseDispensing(ReverseKgDispensing {
            dispensing_id: DispensingId::new(id).unwrap(),
            reversed_at: example::at("2026-03-12T09:00:00+06:00"),
            reason: "entered twice".into(),
        })
    };
    let (state, events) = world.run(vec![command(record("D-1")), reverse("D-1")]);
    let Some(Event::KgDispensingReversed(reversed)) = events.last() else {
        panic!("expected a reversal, got {events:?}");
    };
    assert_eq!(reversed.reimbursement, som(15_000));
    assert!(state.dispensings.is_empty() && state.prescriptions.is_empty());
    assert_eq!(
        state
            .compensated
            .values()
            .map(|money| money.minor)
            .sum::<i64>(),
        0
    );
    assert_eq!(
        world.decide(&state, reverse("D-1")).unwrap_err().rule(),
        "P-09"
    );
    assert_eq!(
        world
            .decide(&state, command(record("D-1")))
            .unwrap_err()
            .rule(),
        "P-10"
    );
    let (state, _) = world.run(vec![command(record("D-2")), submit("2026-04-02")]);
    assert_eq!(
        world.decide(&state, reverse("D-2")).unwrap_err().rule(),
        "P-09"
    );
}

/// The example settlement (golden fixtures) runs every step once.
#[test]
fn the_example_settlement_has_every_step() {
    let types: Vec<&str> = example::settlement()
        .iter()
        .map(Event::event_type)
        .collect();
    assert_eq!(
        types,
        [
            "KgDispensingRecorded",
            "KgDispensingRecorded",
            "KgDispensingReversed",
            "KgPaymentReportSubmitted",
            "KgPaymentReportRejected",
            "KgPaymentReportSubmitted",
            "KgPaymentReportApproved",
            "RecoveryOffset",
            "KgSettlementPaid",
        ]
    );
}

proptest::proptest! {
    /// No command sequence creates or destroys money in a KG settlement: gross = Σ reimbursement of
    /// the lines, net = gross − offsets ≥ 0, Σ payments ≤ net, and the same events always fold to
    /// the same state.
    #[test]
    fn settlement_money_is_conserved(
        debt in 0_i64..30_000,
        payments in proptest::collection::vec(1_i64..10_000, 0..6),
    ) {
        let mut world = world();
        if debt > 0 {
            let tin = example::contract().applicant.unwrap().to_string();
            let mut recoveries = Recoveries::new();
            let event = recovery::decide_assessment(&recoveries, RecoveryAssessed {
                recovery_id: "REC-P".into(),
                debtor: Debtor::Pharmacy(tin),
                ground: RecoveryGround::FaultyAfterDispensing,
                inspection_act_ref: "ACT-P".into(),
                amount: som(debt),
                assessed_on: "2026-03-20".parse().unwrap(),
            }).unwrap();
            recoveries = recovery::evolve(recoveries, &event);
            world.reference.recoveries = recoveries;
        }
        let (mut state, mut events) = world.run(vec![command(record("D-1")), submit("2026-04-02")]);
        let approval = world.decide(&state, approve(&state, "2026-04-05")).unwrap();
        state = approval.iter().fold(state, evolve);
        events.extend(approval);
        for (day, amount) in payments.iter().enumerate() {
            let on = format!("2026-04-{:02}", 6 + day);
            if let Ok(paid) = world.decide(&state, pay(*amount, &on)) {
                state = paid.iter().fold(state, evolve);
                events.extend(paid);
            }
        }
        let approved = state.approved.clone().unwrap();
        let lines: i64 = state.lines().iter().map(|line| line.reimbursement.reimbursement.minor).sum();
        proptest::prop_assert_eq!(approved.gross.minor, lines);
        proptest::prop_assert_eq!(approved.net_payable.minor, approved.gross.minor - approved.offset_total.minor);
        proptest::prop_assert!(approved.net_payable.minor >= 0);
        proptest::prop_assert_eq!(approved.offset_total.minor, debt.min(approved.gross.minor));
        proptest::prop_assert!(state.paid.minor <= approved.net_payable.minor);
        let refolded = events.iter().fold(KgPeriodState::default(), evolve);
        proptest::prop_assert_eq!(refolded, state);
    }
}

mod order {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::time::Timestamp;

    const MINUTE_MICROS: i64 = 60_000_000;

    fn minutes_after(base: Timestamp, minutes: i64) -> Timestamp {
        Timestamp::from_micros(base.micros() + minutes * MINUTE_MICROS)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// O-01, O-07, O-08 for the KG settlement: random orderings of the prescription, the sale,
        /// the report, its approval and the payment; exactly the lawful prefix is recorded and the
        /// first unlawful fact is refused with its rule, naming both instants.
        #[test]
        fn o01_o07_o08_only_lawful_kg_orderings_are_recorded(
            written_days in prop_oneof![3 => -5i64..=0, 1 => 1i64..=3],
            [submitted, reviewed, paid] in proptest::array::uniform3(0i64..4_320),
        ) {
            let world = world();
            let mut sale = record("D-1");
            sale.prescription.written_on = sale.dispensing.dispensed_on + chrono::Duration::days(written_days);
            let result = world.decide(&KgPeriodState::default(), command(sale.clone()));
            if written_days > 0 {
                let error = result.expect_err("O-01");
                prop_assert_eq!(error.rule(), "O-01", "{}", error);
                let text = error.to_string();
                prop_assert!(text.contains(&sale.dispensed_at.to_string()), "{text}");
                prop_assert!(text.contains(&sale.prescription.written_on.to_string()), "{text}");
                return Ok(());
            }
            let state = result.unwrap().iter().fold(KgPeriodState::default(), evolve);
            let base = example::at("2026-04-01T00:00:00+06:00");
            let submitted_at = minutes_after(base, submitted);
            let report = KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
                report_no: DocumentNumber::new("R-2026-03").unwrap(),
                submitted_at,
            });
            let state = world.decide(&state, report).unwrap().iter().fold(state, evolve);
            let approved_at = minutes_after(base, reviewed);
            let mut approval = approve(&state, "2026-04-01");
            if let KgPeriodCommand::ApprovePaymentReport(command) = &mut approval {
                command.approved_at = approved_at;
            }
            let result = world.decide(&state, approval);
            if approved_at < submitted_at {
                let error = result.expect_err("O-07");
                prop_assert_eq!(error.rule(), "O-07", "{}", error);
                prop_assert!(error.to_string().contains(&submitted_at.to_string()), "{error}");
                prop_assert!(error.to_string().contains(&approved_at.to_string()), "{error}");
                return Ok(());
            }
            let state = result.unwrap().iter().fold(state, evolve);
            let paid_at = minutes_after(base, paid);
            let mut payment = pay(15_000, "2026-04-01");
            if let KgPeriodCommand::PaySettlement(command) = &mut payment {
                command.paid_at = paid_at;
            }
            let result = world.decide(&state, payment);
            if paid_at < approved_at {
                let error = result.expect_err("O-08");
                prop_assert_eq!(error.rule(), "O-08", "{}", error);
                prop_assert!(error.to_string().contains(&approved_at.to_string()), "{error}");
                prop_assert!(error.to_string().contains(&paid_at.to_string()), "{error}");
            } else {
                let state = result.unwrap().iter().fold(state, evolve);
                prop_assert_eq!(state.paid, som(15_000));
            }
        }
    }
}
