//! Property tests of the money invariants (STYLE §2.6).

use proptest::prelude::*;

use super::*;
use crate::domain::money::{Quantity, UnitPrice, line_amount};
use crate::domain::rules::{KzCopaymentPolicy, PricingInput, ReimbursementPolicy};
use rust_decimal::Decimal;

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
