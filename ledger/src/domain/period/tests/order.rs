//! O-01…O-06 (`domain::order`) and A-02 as a property: random orderings of one KZ period's facts,
//! from the prescription to the payment, are decided step by step; exactly the lawful prefix is
//! recorded, and the first unlawful fact is refused with its rule, naming both instants.

use proptest::prelude::*;

use super::*;
use crate::domain::time::Timestamp;

/// 2026-02-10 00:00 in Astana: the registry steps are drawn within three days of it.
const STEPS_BASE_MICROS: i64 = 1_770_663_600_000_000;
const MINUTE_MICROS: i64 = 60_000_000;

fn minutes_after(base: i64, minutes: i64) -> Timestamp {
    Timestamp::from_micros(base + minutes * MINUTE_MICROS)
}

/// One drawn ordering: the sale (day of January and minute), the prescription's day relative to the
/// sale's, the receipt's offset in minutes, and the minutes of the eight period steps after the base.
#[derive(Debug, Clone)]
struct Drawn {
    sale_day: u32,
    sale_minute: i64,
    prescription_days: i64,
    receipt_minutes: i64,
    steps: [i64; 8],
}

/// Mostly lawful drawings, so that every step is reached: the sale's receipt is usually within the
/// hour, the prescription usually of an earlier day, and the steps come sorted with at most one of
/// them moved back by a random amount.
fn drawn() -> impl Strategy<Value = Drawn> {
    let receipt = prop_oneof![4 => 0i64..60, 1 => -1_500i64..1_500];
    let prescription = prop_oneof![4 => -3i64..=0, 1 => 1i64..=2];
    (
        (10u32..28, 0i64..1_440, prescription, receipt),
        proptest::array::uniform8(0i64..4_320),
        (0usize..12, 1i64..4_320),
    )
        .prop_map(
            |(
                (sale_day, sale_minute, prescription_days, receipt_minutes),
                mut steps,
                (moved, back),
            )| {
                steps.sort_unstable();
                if let Some(step) = steps.get_mut(moved) {
                    *step -= back;
                }
                Drawn {
                    sale_day,
                    sale_minute,
                    prescription_days,
                    receipt_minutes,
                    steps,
                }
            },
        )
}

/// The rule that refuses step `index` at `step_at` after the accepted steps at `times`, and the
/// instant it names, or `None` when the step is lawful: O-03…O-06 where an order rule names the fact
/// the step answers, else A-02 against the previous step (the approval, the act's submission, and a
/// second payment after the signature but before the first payment).
fn step_refusal(
    index: usize,
    step_at: Timestamp,
    times: &[Timestamp],
) -> Option<(&'static str, Timestamp)> {
    let previous = *times.last()?;
    let fact = match index {
        1 => Some(("O-03", times[0])),
        4 => Some(("O-04", times[3])),
        5 => Some(("O-05", times[4])),
        6 | 7 => Some(("O-06", times[5])),
        _ => None,
    };
    if let Some((rule, earlier)) = fact.filter(|(_, earlier)| step_at < *earlier) {
        return Some((rule, earlier));
    }
    (step_at < previous).then_some(("A-02", previous))
}

fn step_command(index: usize, at: Timestamp) -> PeriodCommand {
    let signature = |bin| crate::domain::testkit::signed_by(bin);
    match index {
        0 => PeriodCommand::SubmitRegistry(SubmitRegistry {
            registry_no: DocumentNumber::new("R-1").unwrap(),
            submitted_at: at,
            signature: signature(holder_bin()),
        }),
        1 => PeriodCommand::ReceiveRegistry(ReceiveRegistry { received_at: at }),
        2 => PeriodCommand::ApproveRegistry(ApproveRegistry {
            approved_at: at,
            signature: signature(fund_bin()),
        }),
        3 => PeriodCommand::SubmitPaymentAct(SubmitPaymentAct {
            act_no: DocumentNumber::new("A-1").unwrap(),
            submitted_at: at,
            supplier: OrganisationName::new("Dari Pharm LLP").unwrap(),
            signature: signature(holder_bin()),
        }),
        4 => PeriodCommand::ReceivePaymentAct(ReceivePaymentAct { received_at: at }),
        5 => PeriodCommand::SignPaymentAct(SignPaymentAct {
            signed_at: at,
            signature: signature(fund_bin()),
        }),
        // Two payments of half the act (30 tablets at 10.00 = 300.00 paid by the Fund).
        _ => PeriodCommand::MakePayment(MakePayment {
            payment_ref: DocumentNumber::new(format!("P-{index}")).unwrap(),
            paid_at: at,
            programme: Programme::Osms,
            amount: Money::new(15_000, Currency::KZT),
        }),
    }
}

/// The sale of the drawing, with its prescription day and receipt instant.
fn sale(drawn: &Drawn) -> RecordDispensing {
    let sale_at = minutes_after(
        at(&format!("2026-01-{:02}T00:00:00+05:00", drawn.sale_day)).micros(),
        drawn.sale_minute,
    );
    let mut command = dispensing("D1", &sale_at.to_string());
    let sale_day = local_date(Jurisdiction::KZ, sale_at);
    command.prescription.written_on = sale_day + chrono::Duration::days(drawn.prescription_days);
    let receipt = &command.fiscal_receipt;
    command.fiscal_receipt = FiscalReceipt::new(
        receipt.rnm(),
        receipt.fiscal_sign(),
        Timestamp::from_micros(sale_at.micros() + drawn.receipt_minutes * MINUTE_MICROS),
        receipt.amount(),
    )
    .unwrap();
    command
}

/// The model: which rule refuses the sale, if any.
fn sale_refusal(command: &RecordDispensing) -> Option<&'static str> {
    let sale_day = local_date(Jurisdiction::KZ, command.dispensed_at);
    if command.prescription.written_on > sale_day {
        return Some("O-01");
    }
    let receipt_day = local_date(Jurisdiction::KZ, command.fiscal_receipt.issued_at());
    (receipt_day != sale_day).then_some("O-02")
}

use crate::domain::context::local_date;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::period::{
    ApproveRegistry, MakePayment, ReceivePaymentAct, ReceiveRegistry, SignPaymentAct,
    SubmitPaymentAct, SubmitRegistry,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Only lawful orderings are recorded: each fact is accepted exactly when it does not come before
    /// the fact it depends on, the first unlawful one is refused with its rule and both instants, and
    /// nothing after it is recorded.
    #[test]
    fn o01_to_o06_only_lawful_orderings_are_recorded(drawn in drawn()) {
        let mut world = World::kz().with_concluded_contract();
        let command = sale(&drawn);
        let expected = sale_refusal(&command);
        let before = world.log.len();
        let result = world.period(january(), PeriodCommand::RecordDispensing(Box::new(command.clone())));
        match (expected, &result) {
            (None, Ok(_)) => {}
            (Some(rule), Err(error)) => {
                prop_assert_eq!(error.rule(), rule, "{}", error);
                let text = error.to_string();
                prop_assert!(text.contains(&command.dispensed_at.to_string()), "names the sale: {text}");
                let other = match rule {
                    "O-01" => command.prescription.written_on.to_string(),
                    _ => command.fiscal_receipt.issued_at().to_string(),
                };
                prop_assert!(text.contains(&other), "names the other fact: {text}");
                prop_assert_eq!(world.log.len(), before, "a refusal appends nothing");
                return Ok(());
            }
            (expected, result) => prop_assert!(false, "sale: expected {expected:?}, got {result:?}"),
        }
        let mut times: Vec<Timestamp> = Vec::new();
        for (index, minutes) in drawn.steps.iter().enumerate() {
            let step_at = minutes_after(STEPS_BASE_MICROS, *minutes);
            let expected = step_refusal(index, step_at, &times);
            let before = world.log.len();
            let result = world.period(january(), step_command(index, step_at));
            let Some((rule, earlier)) = expected else {
                prop_assert!(result.is_ok(), "step {index} at {step_at}: {result:?}");
                times.push(step_at);
                continue;
            };
            let error = result.expect_err("an unlawful step is refused");
            prop_assert_eq!(error.rule(), rule, "step {}: {}", index, error);
            let text = error.to_string();
            prop_assert!(text.contains(&step_at.to_string()), "names its own instant: {text}");
            prop_assert!(text.contains(&earlier.to_string()), "names the earlier instant: {text}");
            prop_assert_eq!(world.log.len(), before, "a refusal appends nothing");
            return Ok(());
        }
        let state = &world.periods[&january()];
        prop_assert_eq!(state.paid_total.unwrap().minor, 30_000, "the whole lawful ordering is recorded");
    }
}
