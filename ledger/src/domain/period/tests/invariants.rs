//! Property tests of the money invariants (STYLE §2.6).

use proptest::prelude::*;

use super::*;
use crate::domain::money::{Quantity, UnitPrice, line_amount};
use crate::domain::rules::{KzCopaymentPolicy, PricingInput, ReimbursementPolicy};
use rust_decimal::Decimal;

use crate::domain::region::Programme;
use crate::domain::time::Timestamp;

fn unit_price(cents: i64) -> UnitPrice {
    UnitPrice::new(Decimal::new(cents, 2)).unwrap()
}

proptest! {
    /// M-07, M-03, M-04 on every line: 17 = 15 + 16; Fund ≤ qty × limit; patient ≥ 0.
    #[test]
    fn m07_m03_m04_line_invariants(quantity_thousandths in 1i64..10_000_000, limit in 0i64..10_000_000, trade in 0i64..10_000_000) {
        let input = PricingInput {
            quantity: Quantity::new(Decimal::new(quantity_thousandths, 3)).unwrap(),
            limit_unit_price: unit_price(limit),
            trade_name_unit_price: unit_price(trade),
            currency: Currency::KZT,
        };
        let amounts = KzCopaymentPolicy.line_amounts(&input).unwrap();
        prop_assert_eq!(amounts.total.minor, amounts.fund.minor + amounts.patient.minor);
        let limit_total = line_amount(input.quantity, input.limit_unit_price, Currency::KZT).unwrap();
        prop_assert!(amounts.fund.minor <= limit_total.minor);
        prop_assert!(amounts.patient.minor >= 0);
    }
}

/// One random dispensing: (region index, quantity, trade-name price in tiyn, reversed?).
fn sale() -> impl Strategy<Value = (usize, u32, i64, bool)> {
    (
        0usize..3,
        1u32..200,
        1i64..5_000,
        proptest::bool::weighted(0.2),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// act total = approved registry Σ col 15 = Σ of live dispensings; the same events
    /// always fold to the same state, also after a payload round trip.
    #[test]
    fn act_total_equals_approved_registry_and_folds_are_deterministic(sales in proptest::collection::vec(sale(), 1..12)) {
        let mut world = World::kz().with_concluded_contract();
        for (n, (region_index, quantity, price, reversed)) in sales.iter().enumerate() {
            let id = format!("D{n}");
            let mut command = dispensing(&id, &format!("2026-01-{:02}T12:00:00+05:00", 10 + n));
            command.region = region(FIXTURE_REGIONS[*region_index]);
            let command = with_sale(command, &quantity.to_string(), &Decimal::new(*price, 2).to_string());
            dispense(&mut world, command).unwrap();
            if *reversed {
                let reversal = ReverseDispensing { dispensing_id: DispensingId::new(id).unwrap(), reversed_at: at("2026-01-31T10:00:00+05:00"), reason: "test".into() };
                world.period(january(), PeriodCommand::ReverseDispensing(reversal)).unwrap();
            }
        }
        let live_fund: i64 = world.periods[&january()].live_dispensings().iter().map(|line| line.amounts.fund.minor).sum();
        submit(&mut world, "2026-02-10T10:00:00+05:00");
        receive_registry(&mut world, "2026-02-10T11:00:00+05:00");
        approve(&mut world, "2026-02-16T10:00:00+05:00");
        submit_act(&mut world, "2026-02-17T10:00:00+05:00").unwrap();
        let state = &world.periods[&january()];
        let approved = state.approved.as_ref().unwrap();
        let act = state.act.as_ref().unwrap();
        prop_assert_eq!(act.total, approved.total_fund);
        prop_assert_eq!(act.total.minor, live_fund);
        prop_assert_eq!(act.rows.iter().map(|row| row.fund_amount.minor).sum::<i64>(), live_fund);

        let replayed = world.log.iter().fold(PeriodState::default(), evolve);
        prop_assert_eq!(&replayed, state);
        let decoded: Vec<Event> = world.log.iter().map(|event| Event::from_payload(&event.to_payload().unwrap()).unwrap()).collect();
        prop_assert_eq!(decoded.iter().fold(PeriodState::default(), evolve), replayed);
    }
}

/// One random command of a period (STYLE §2.6: random command sequences never break an invariant).
#[derive(Debug, Clone)]
enum Op {
    Dispense {
        region: usize,
        quantity: u32,
        price: i64,
    },
    Reverse(usize),
    Submit,
    Receive,
    Approve,
    Reject,
    SubmitAct,
    ReceiveAct,
    SignAct,
    Suspend,
    Resume,
    Pay(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, 1u32..100, 1i64..3_000).prop_map(|(region, quantity, price)| Op::Dispense { region, quantity, price }),
        1 => (0usize..20).prop_map(Op::Reverse),
        2 => Just(Op::Submit),
        2 => Just(Op::Receive),
        2 => Just(Op::Approve),
        1 => Just(Op::Reject),
        2 => Just(Op::SubmitAct),
        2 => Just(Op::ReceiveAct),
        2 => Just(Op::SignAct),
        1 => Just(Op::Suspend),
        1 => Just(Op::Resume),
        3 => (1i64..40_000).prop_map(Op::Pay),
    ]
}

fn dispense_command(step: usize, region_index: usize, quantity: u32, price: i64) -> PeriodCommand {
    let mut command = dispensing(
        &format!("D{step}"),
        &format!("2026-01-{:02}T12:00:00+05:00", 9 + step % 20),
    );
    command.region = region(FIXTURE_REGIONS[region_index]);
    if price % 2 == 1 {
        command.programme = Programme::Gobmp;
    }
    PeriodCommand::RecordDispensing(Box::new(with_sale(
        command,
        &quantity.to_string(),
        &Decimal::new(price, 2).to_string(),
    )))
}

fn command(op: &Op, step: usize, document_at: Timestamp) -> PeriodCommand {
    let signed = |bin| signed_by(bin);
    match op {
        Op::Dispense {
            region,
            quantity,
            price,
        } => dispense_command(step, *region, *quantity, *price),
        Op::Reverse(target) => PeriodCommand::ReverseDispensing(ReverseDispensing {
            dispensing_id: DispensingId::new(format!("D{target}")).unwrap(),
            reversed_at: document_at,
            reason: "random".into(),
        }),
        Op::Submit => PeriodCommand::SubmitRegistry(SubmitRegistry {
            registry_no: number("R-1"),
            submitted_at: document_at,
            signature: signed(holder_bin()),
        }),
        Op::Receive => PeriodCommand::ReceiveRegistry(ReceiveRegistry {
            received_at: document_at,
        }),
        Op::Approve => PeriodCommand::ApproveRegistry(ApproveRegistry {
            approved_at: document_at,
            signature: signed(fund_bin()),
        }),
        Op::Reject => PeriodCommand::RejectRegistry(RejectRegistry {
            rejected_at: document_at,
            reason: "random".into(),
            lines: vec![],
        }),
        Op::SubmitAct => PeriodCommand::SubmitPaymentAct(SubmitPaymentAct {
            act_no: number("A-1"),
            submitted_at: document_at,
            supplier: OrganisationName::new("Dari Pharm LLP").unwrap(),
            signature: signed(holder_bin()),
        }),
        Op::ReceiveAct => PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
            received_at: document_at,
        }),
        Op::SignAct => PeriodCommand::SignPaymentAct(SignPaymentAct {
            signed_at: document_at,
            signature: signed(fund_bin()),
        }),
        Op::Suspend => PeriodCommand::SuspendPaymentClock(SuspendPaymentClock {
            suspended_at: document_at,
            reason: SuspensionReason::BudgetTransferLate,
        }),
        Op::Resume => PeriodCommand::ResumePaymentClock(ResumePaymentClock {
            resumed_at: document_at,
        }),
        Op::Pay(minor) => PeriodCommand::MakePayment(MakePayment {
            payment_ref: number(&format!("P-{step}")),
            paid_at: document_at,
            programme: if minor % 2 == 0 {
                Programme::Osms
            } else {
                Programme::Gobmp
            },
            amount: Money::new(*minor, Currency::KZT),
        }),
    }
}

fn check_invariants(state: &PeriodState) -> Result<(), TestCaseError> {
    for line in state.live_dispensings() {
        prop_assert_eq!(
            line.amounts.total.minor,
            line.amounts.fund.minor + line.amounts.patient.minor
        );
        prop_assert!(line.amounts.patient.minor >= 0);
    }
    if let Some(approved) = &state.approved {
        let live: i64 = state
            .live_dispensings()
            .iter()
            .map(|line| line.amounts.fund.minor)
            .sum();
        prop_assert_eq!(approved.total_fund.minor, live);
        if let Some(act) = &state.act {
            prop_assert_eq!(act.total, approved.total_fund);
        }
    }
    if let (Some(signed), Some(paid)) = (&state.signed, state.paid_total) {
        prop_assert!(
            paid.minor <= signed.total.minor,
            "never paid above the act total"
        );
    }
    Ok(())
}

/// A sequence that walks the whole lifecycle (so random runs reach payment) with random commands,
/// in or out of order, inserted anywhere.
fn lifecycle() -> impl Strategy<Value = Vec<Op>> {
    let dispensings = proptest::collection::vec(
        (0usize..3, 1u32..100, 1i64..3_000).prop_map(|(region, quantity, price)| Op::Dispense {
            region,
            quantity,
            price,
        }),
        1..10,
    );
    let noise = proptest::collection::vec((0usize..100, op()), 0..12);
    let payments = proptest::collection::vec((1i64..40_000).prop_map(Op::Pay), 1..5);
    (
        dispensings,
        proptest::bool::ANY,
        proptest::bool::ANY,
        noise,
        payments,
    )
        .prop_map(|(mut ops, reject_round, suspend, noise, payments)| {
            if reject_round {
                ops.extend([Op::Submit, Op::Receive, Op::Reject, Op::Reverse(0)]);
            }
            ops.extend([
                Op::Submit,
                Op::Receive,
                Op::Approve,
                Op::SubmitAct,
                Op::ReceiveAct,
                Op::SignAct,
            ]);
            if suspend {
                ops.extend([Op::Suspend, Op::Resume]);
            }
            ops.extend(payments);
            for (position, op) in noise {
                let index = position % (ops.len() + 1);
                ops.insert(index, op);
            }
            ops
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_command_sequences_keep_every_money_invariant(ops in lifecycle()) {
        let mut world = World::kz().with_concluded_contract();
        let start = at("2026-02-02T10:00:00+05:00").micros();
        for (step, op) in ops.iter().enumerate() {
            let hours = i64::try_from(step).unwrap() * 7;
            let document_at = Timestamp::from_micros(start + hours * 3_600_000_000);
            let before = world.log.len();
            let outcome = world.period(january(), command(op, step, document_at));
            if outcome.is_err() {
                prop_assert_eq!(world.log.len(), before, "a refusal appends nothing");
            }
            if let Some(state) = world.periods.get(&january()) {
                check_invariants(state)?;
                let replayed = world.log.iter().fold(PeriodState::default(), evolve);
                prop_assert_eq!(&replayed, state);
            }
        }
    }
}
