//! Budget tests in given/when/then form, one per rule, plus the conservation property.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::domain::money::Money;
use crate::domain::region::Region;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("test dates are valid")
}

fn kg(code: &str) -> Region {
    Region::new(Jurisdiction::KG, code).expect("test regions are valid")
}

fn kz(code: &str) -> Region {
    Region::new(Jurisdiction::KZ, code).expect("test regions are valid")
}

fn som(major: i64) -> Money {
    Money::new(major * 100, Currency::KGS)
}

fn tenge(major: i64) -> Money {
    Money::new(major * 100, Currency::KZT)
}

fn kg_budget(year: i32) -> BudgetId {
    BudgetId::new(
        Jurisdiction::KG,
        Programme::KgChiAdditional,
        FiscalYear(year),
    )
    .unwrap()
}

fn kz_budget(year: i32) -> BudgetId {
    BudgetId::new(Jurisdiction::KZ, Programme::Gobmp, FiscalYear(year)).unwrap()
}

/// given/when/then over one budget stream (STYLE §2.6).
struct Given {
    budget: Budget,
}

fn given(id: BudgetId, commands: Vec<BudgetCommand>) -> Given {
    let mut budget = Budget::new(id);
    for command in commands {
        let events = decide(&budget, command).expect("given commands are accepted");
        budget = events.iter().fold(budget, evolve);
    }
    Given { budget }
}

impl Given {
    fn when(self, command: BudgetCommand) -> (Budget, Result<Vec<BudgetEvent>, BudgetError>) {
        let result = decide(&self.budget, command);
        (self.budget, result)
    }
}

fn apply(budget: Budget, events: &[BudgetEvent]) -> Budget {
    events.iter().fold(budget, evolve)
}

fn allocate(region: Region, amount: Money) -> BudgetCommand {
    BudgetCommand::Allocate(Allocate {
        region,
        amount,
        on: date("2026-01-10"),
        basis: "order 1".into(),
    })
}

fn pay(
    region: Region,
    amount: Money,
    payment_ref: &str,
    service_month: ServiceMonth,
) -> BudgetCommand {
    BudgetCommand::Pay(Pay {
        region,
        amount,
        payment_ref: payment_ref.into(),
        act_ref: "act-1".into(),
        service_month,
        on: date("2026-06-05"),
    })
}

fn month(year: i32, month: u32) -> ServiceMonth {
    ServiceMonth::new(year, month).unwrap()
}

#[test]
fn b07_kz_december_services_are_charged_to_next_fiscal_year() {
    assert_eq!(
        fiscal_year_of_payment(Jurisdiction::KZ, month(2026, 12)),
        FiscalYear(2027)
    );
    assert_eq!(
        fiscal_year_of_payment(Jurisdiction::KZ, month(2026, 11)),
        FiscalYear(2026)
    );
    // A-15: the Kazakh rule does not leak into Kyrgyzstan.
    assert_eq!(
        fiscal_year_of_payment(Jurisdiction::KG, month(2026, 12)),
        FiscalYear(2026)
    );
    let astana = kz("710000000");
    let (_, result) = given(kz_budget(2026), vec![allocate(astana, tenge(1000))]).when(pay(
        astana,
        tenge(10),
        "pay-1",
        month(2026, 12),
    ));
    assert!(matches!(
        result,
        Err(BudgetError::WrongFiscalYear { rule: "B-07", .. })
    ));
    let (_, result) = given(kz_budget(2027), vec![allocate(astana, tenge(1000))]).when(pay(
        astana,
        tenge(10),
        "pay-1",
        month(2026, 12),
    ));
    assert!(result.is_ok());
}

#[test]
fn a20_payment_over_budget_is_flagged_never_refused() {
    let bishkek = kg("41711");
    let (budget, result) = given(kg_budget(2026), vec![allocate(bishkek, som(100))]).when(pay(
        bishkek,
        som(150),
        "pay-1",
        month(2026, 5),
    ));
    let events = result.expect("the budget never blocks a payment");
    let BudgetEvent::BudgetPaid(paid) = &events[0] else {
        panic!("expected BudgetPaid")
    };
    assert!(paid.over_budget);
    let budget = apply(budget, &events);
    assert_eq!(budget.line(bishkek).balance, som(-50));
    assert_eq!(budget.line(bishkek).paid, som(150));
}

#[test]
fn a20_payment_releases_its_commitment_and_duplicates_are_refused() {
    let bishkek = kg("41711");
    let commit = BudgetCommand::Commit(Commit {
        region: bishkek,
        amount: som(40),
        act_ref: "act-1".into(),
        on: date("2026-06-01"),
    });
    let given_budget = given(kg_budget(2026), vec![allocate(bishkek, som(100)), commit]);
    assert_eq!(given_budget.budget.line(bishkek).committed, som(40));
    let (budget, result) = given_budget.when(pay(bishkek, som(30), "pay-1", month(2026, 5)));
    let budget = apply(budget, &result.unwrap());
    assert_eq!(budget.line(bishkek).committed, som(10));
    assert_eq!(budget.line(bishkek).balance, som(70));
    let again = decide(&budget, pay(bishkek, som(30), "pay-1", month(2026, 5)));
    assert!(matches!(again, Err(BudgetError::DuplicateReference { .. })));
}

/// D-08, A-08: the transfer event records whether it was late, which suspends the KZ payment clock.
#[test]
fn d08_late_transfer_to_fund_is_recorded_as_late() {
    let astana = kz("710000000");
    let transfer = |on: &str| {
        BudgetCommand::TransferToFund(TransferToFund {
            region: astana,
            amount: tenge(500),
            on: date(on),
            due_on: date("2026-02-05"),
        })
    };
    let (_, on_time) = given(kz_budget(2026), vec![]).when(transfer("2026-02-05"));
    let (_, late) = given(kz_budget(2026), vec![]).when(transfer("2026-02-06"));
    let late_flag = |events: Vec<BudgetEvent>| match &events[0] {
        BudgetEvent::BudgetTransferredToFund(transfer) => transfer.late,
        other => panic!("unexpected {other:?}"),
    };
    assert!(!late_flag(on_time.unwrap()));
    assert!(late_flag(late.unwrap()));
}

#[test]
fn b04_redistribution_between_regions_is_sum_neutral() {
    let (bishkek, osh) = (kg("41711"), kg("41721"));
    let redistribute = BudgetCommand::Redistribute(Redistribute {
        from_region: bishkek,
        to_region: osh,
        amount: som(30),
        on: date("2026-07-01"),
        basis: "analysis Q2".into(),
    });
    let (budget, result) = given(
        kg_budget(2026),
        vec![allocate(bishkek, som(100)), allocate(osh, som(50))],
    )
    .when(redistribute);
    let budget = apply(budget, &result.unwrap());
    assert_eq!(budget.line(bishkek).allocated, som(70));
    assert_eq!(budget.line(osh).allocated, som(80));
}

#[test]
fn b04_redistribution_refused_outside_year_beyond_balance_or_to_itself() {
    let (bishkek, osh) = (kg("41711"), kg("41721"));
    let setup = || given(kg_budget(2026), vec![allocate(bishkek, som(100))]);
    let command = |to: Region, amount: Money, on: &str| {
        BudgetCommand::Redistribute(Redistribute {
            from_region: bishkek,
            to_region: to,
            amount,
            on: date(on),
            basis: "a".into(),
        })
    };
    let (_, late) = setup().when(command(osh, som(10), "2027-01-02"));
    assert!(matches!(
        late,
        Err(BudgetError::RedistributionOutsideYear { rule: "B-04", .. })
    ));
    let (_, too_much) = setup().when(command(osh, som(101), "2026-05-01"));
    assert!(matches!(
        too_much,
        Err(BudgetError::RedistributionExceedsBalance { rule: "B-04", .. })
    ));
    let (_, itself) = setup().when(command(bishkek, som(1), "2026-05-01"));
    assert!(matches!(
        itself,
        Err(BudgetError::RedistributionToSameRegion { .. })
    ));
}

/// A-21, A-15, B-09: KZ does not redistribute money between regions (the S000 §203 redistribution is
/// of goods within a region and is not modelled).
#[test]
fn a21_redistribution_is_kyrgyz_only() {
    let (astana, almaty) = (kz("710000000"), kz("750000000"));
    let command = BudgetCommand::Redistribute(Redistribute {
        from_region: astana,
        to_region: almaty,
        amount: tenge(1),
        on: date("2026-05-01"),
        basis: "a".into(),
    });
    let (_, result) = given(kz_budget(2026), vec![allocate(astana, tenge(100))]).when(command);
    assert!(matches!(
        result,
        Err(BudgetError::NotInJurisdiction { rule: "A-21", .. })
    ));
}

#[test]
fn b02_unused_balance_expires_at_year_close_and_the_year_accepts_nothing_more() {
    let bishkek = kg("41711");
    let (budget, result) = given(
        kg_budget(2026),
        vec![
            allocate(bishkek, som(100)),
            pay(bishkek, som(60), "p", month(2026, 3)),
        ],
    )
    .when(BudgetCommand::CloseYear(CloseYear {
        on: date("2027-01-15"),
    }));
    let events = result.unwrap();
    assert_eq!(
        events,
        vec![BudgetEvent::BudgetYearClosed(BudgetYearClosed {
            closed_on: date("2027-01-15"),
            expired: vec![ExpiredBalance {
                region: bishkek,
                amount: som(40)
            }],
        })]
    );
    let budget = apply(budget, &events);
    assert_eq!(budget.line(bishkek).expired, som(40));
    let after = decide(&budget, pay(bishkek, som(1), "q", month(2026, 12)));
    assert!(matches!(
        after,
        Err(BudgetError::YearClosed { rule: "B-02", .. })
    ));
    let early = decide(
        &Budget::new(kg_budget(2026)),
        BudgetCommand::CloseYear(CloseYear {
            on: date("2026-12-31"),
        }),
    );
    assert!(matches!(early, Err(BudgetError::CloseBeforeYearEnd { .. })));
}

#[test]
fn b03_overspend_is_carried_forward_and_charged_to_next_year() {
    let bishkek = kg("41711");
    let (budget, result) = given(
        kg_budget(2026),
        vec![
            allocate(bishkek, som(100)),
            pay(bishkek, som(130), "p", month(2026, 11)),
        ],
    )
    .when(BudgetCommand::CloseYear(CloseYear {
        on: date("2027-01-15"),
    }));
    let events = result.unwrap();
    let BudgetEvent::BudgetOverrunCarriedForward(carried) = &events[0] else {
        panic!("expected carry-forward")
    };
    assert_eq!(
        (carried.amount, carried.to_fiscal_year),
        (som(30), FiscalYear(2027))
    );
    let closed = apply(budget, &events);
    assert_eq!(closed.line(bishkek).balance, som(0));
    assert_eq!(closed.line(bishkek).carried_forward, som(30));
    let charge = BudgetCommand::ChargeCarriedOverrun(ChargeCarriedOverrun {
        region: bishkek,
        amount: carried.amount,
        from_fiscal_year: FiscalYear(2026),
        on: date("2027-01-16"),
    });
    let (next, result) =
        given(kg_budget(2027), vec![allocate(bishkek, som(100))]).when(charge.clone());
    let next = apply(next, &result.unwrap());
    assert_eq!(next.line(bishkek).balance, som(70));
    assert!(matches!(
        decide(&next, charge),
        Err(BudgetError::DuplicateReference { .. })
    ));
}

/// A-15: the Kyrgyz year close does not apply to Kazakhstan.
#[test]
fn a15_year_close_is_not_applied_to_kazakhstan() {
    let result = decide(
        &Budget::new(kz_budget(2026)),
        BudgetCommand::CloseYear(CloseYear {
            on: date("2027-01-15"),
        }),
    );
    assert!(matches!(
        result,
        Err(BudgetError::NotInJurisdiction { rule: "B-02", .. })
    ));
}

/// B-01: the allocation formula is not in the seeds, so the allocated amount is recorded as a fact
/// with its basis, and repeated allocations add up.
#[test]
fn b01_allocations_are_recorded_facts_that_add_up() {
    let bishkek = kg("41711");
    let (budget, result) =
        given(kg_budget(2026), vec![allocate(bishkek, som(100))]).when(allocate(bishkek, som(25)));
    let events = result.unwrap();
    let BudgetEvent::BudgetAllocated(allocated) = &events[0] else {
        panic!("expected BudgetAllocated")
    };
    assert_eq!(allocated.basis, "order 1");
    let budget = apply(budget, &events);
    assert_eq!(
        (budget.line(bishkek).allocated, budget.line(bishkek).balance),
        (som(125), som(125))
    );
}

#[test]
fn a34_programme_is_budgeted_only_in_its_jurisdiction() {
    let result = BudgetId::new(
        Jurisdiction::KZ,
        Programme::KgChiAdditional,
        FiscalYear(2026),
    );
    assert!(matches!(
        result,
        Err(BudgetError::ProgrammeOutsideJurisdiction { rule: "A-34", .. })
    ));
    assert_eq!(
        kg_budget(2026).stream_id(),
        "budget/KG/KG_CHI_ADDITIONAL/2026"
    );
}

#[test]
fn inputs_are_checked_with_the_field_named() {
    let bishkek = kg("41711");
    let (_, zero) = given(kg_budget(2026), vec![]).when(allocate(bishkek, som(0)));
    let error = zero.unwrap_err();
    assert_eq!(
        error.to_string(),
        "budget budget/KG/KG_CHI_ADDITIONAL/2026: allocation 0.00 KGS must be greater than zero (A-20)"
    );
    let (_, wrong) = given(kg_budget(2026), vec![]).when(allocate(bishkek, tenge(5)));
    assert!(matches!(wrong, Err(BudgetError::WrongCurrency { .. })));
    let (_, region) = given(kg_budget(2026), vec![]).when(allocate(kz("710000000"), som(5)));
    assert!(matches!(
        region,
        Err(BudgetError::RegionOutsideJurisdiction { .. })
    ));
}

#[test]
fn service_month_is_validated_when_decoded() {
    assert!(ServiceMonth::new(2026, 13).is_err());
    let json = r#"{"year":2026,"month":13}"#;
    assert!(serde_json::from_str::<ServiceMonth>(json).is_err());
    let month = month(2026, 12);
    let bytes = crate::codec::encode(&month).unwrap();
    assert_eq!(crate::codec::decode::<ServiceMonth>(&bytes).unwrap(), month);
}

#[test]
fn event_schemas_generate() {
    let schema = schemars::schema_for!(BudgetEvent);
    let text = serde_json::to_string(&schema).unwrap();
    assert!(text.contains("BudgetOverrunCarriedForward"));
}

#[test]
fn events_round_trip_through_the_codec() {
    let bishkek = kg("41711");
    let (_, result) = given(kg_budget(2026), vec![allocate(bishkek, som(100))]).when(pay(
        bishkek,
        som(1),
        "p",
        month(2026, 2),
    ));
    for event in result.unwrap() {
        let bytes = crate::codec::encode(&event).unwrap();
        assert_eq!(crate::codec::decode::<BudgetEvent>(&bytes).unwrap(), event);
    }
}

fn arbitrary_command() -> impl Strategy<Value = BudgetCommand> {
    let region = prop::sample::select(vec!["41711", "41721", "41708"]).prop_map(kg);
    let amount = (1i64..5_000).prop_map(|minor| Money::new(minor, Currency::KGS));
    let day = (1u32..=365).prop_map(|ordinal| NaiveDate::from_yo_opt(2026, ordinal).unwrap());
    let reference = (0u8..6).prop_map(|n| format!("ref-{n}"));
    prop_oneof![
        (region.clone(), amount.clone(), day.clone()).prop_map(|(region, amount, on)| {
            BudgetCommand::Allocate(Allocate {
                region,
                amount,
                on,
                basis: "b".into(),
            })
        }),
        (
            region.clone(),
            amount.clone(),
            reference.clone(),
            day.clone()
        )
            .prop_map(
                |(region, amount, act_ref, on)| BudgetCommand::Commit(Commit {
                    region,
                    amount,
                    act_ref,
                    on
                })
            ),
        (
            region.clone(),
            amount.clone(),
            reference.clone(),
            reference,
            1u32..=12,
            day.clone()
        )
            .prop_map(|(region, amount, payment_ref, act_ref, month, on)| {
                BudgetCommand::Pay(Pay {
                    region,
                    amount,
                    payment_ref,
                    act_ref,
                    service_month: ServiceMonth::new(2026, month).unwrap(),
                    on,
                })
            }),
        (region.clone(), region, amount, day).prop_map(|(from_region, to_region, amount, on)| {
            BudgetCommand::Redistribute(Redistribute {
                from_region,
                to_region,
                amount,
                on,
                basis: "b".into(),
            })
        }),
        Just(BudgetCommand::CloseYear(CloseYear {
            on: NaiveDate::from_ymd_opt(2027, 1, 20).unwrap()
        })),
    ]
}

proptest! {
    /// A-20, B-04: no command sequence creates or destroys money. Per line allocated − paid = balance;
    /// redistribution is sum-neutral; at close, expired + carried forward account for every balance.
    #[test]
    fn a20_no_command_sequence_creates_or_destroys_money(commands in prop::collection::vec(arbitrary_command(), 1..60)) {
        let mut budget = Budget::new(kg_budget(2026));
        let (mut allocated_total, mut paid_total, mut carried_total) = (0i64, 0i64, 0i64);
        for command in commands {
            let Ok(events) = decide(&budget, command) else { continue };
            for event in &events {
                match event {
                    BudgetEvent::BudgetAllocated(e) => allocated_total += e.amount.minor,
                    BudgetEvent::BudgetPaid(e) => paid_total += e.amount.minor,
                    BudgetEvent::BudgetOverrunCarriedForward(e) => carried_total += e.amount.minor,
                    _ => {}
                }
            }
            budget = apply(budget, &events);
        }
        let lines: Vec<BudgetLine> = budget.lines().map(|(_, line)| *line).collect();
        for line in &lines {
            prop_assert_eq!(line.balance.minor, line.allocated.minor - line.paid.minor);
            prop_assert!(line.committed.minor >= 0);
            if budget.closed_on().is_some() {
                prop_assert!(line.balance.minor >= 0, "a closed year carries every overspend forward");
                prop_assert_eq!(line.expired.minor, line.balance.minor);
            }
        }
        prop_assert_eq!(lines.iter().map(|line| line.allocated.minor).sum::<i64>(), allocated_total);
        prop_assert_eq!(lines.iter().map(|line| line.paid.minor).sum::<i64>(), paid_total - carried_total);
        prop_assert_eq!(lines.iter().map(|line| line.carried_forward.minor).sum::<i64>(), carried_total);
    }

    /// B-03, A-20: across a year close, the carried overspend is charged to the next year exactly once,
    /// so the money paid over both years equals the payments made.
    #[test]
    fn b03_carry_forward_conserves_money_across_years(payments in prop::collection::vec(1i64..50_000, 0..12), allocation in 1i64..200_000) {
        let bishkek = kg("41711");
        let mut commands = vec![allocate(bishkek, Money::new(allocation, Currency::KGS))];
        for (index, minor) in payments.iter().enumerate() {
            commands.push(pay(bishkek, Money::new(*minor, Currency::KGS), &format!("p{index}"), month(2026, 6)));
        }
        let (year, close) = given(kg_budget(2026), commands).when(BudgetCommand::CloseYear(CloseYear { on: date("2027-01-10") }));
        let close = close.unwrap();
        let year = apply(year, &close);
        let (mut next, mut charged) = (Budget::new(kg_budget(2027)), 0i64);
        for event in &close {
            if let BudgetEvent::BudgetOverrunCarriedForward(carried) = event {
                let charge = ChargeCarriedOverrun { region: carried.region, amount: carried.amount, from_fiscal_year: FiscalYear(2026), on: date("2027-01-11") };
                let events = decide(&next, BudgetCommand::ChargeCarriedOverrun(charge)).unwrap();
                next = apply(next, &events);
                charged += carried.amount.minor;
            }
        }
        let paid_total: i64 = payments.iter().sum();
        prop_assert_eq!(year.line(bishkek).paid.minor + next.line(bishkek).paid.minor, paid_total);
        prop_assert_eq!(charged, (paid_total - allocation).max(0));
        prop_assert_eq!(year.line(bishkek).expired.minor, (allocation - paid_total).max(0));
    }

    /// The same events always fold to the same state.
    #[test]
    fn replay_is_deterministic(commands in prop::collection::vec(arbitrary_command(), 1..30)) {
        let mut budget = Budget::new(kg_budget(2026));
        let mut log = Vec::new();
        for command in commands {
            if let Ok(events) = decide(&budget, command) {
                budget = apply(budget, &events);
                log.extend(events);
            }
        }
        prop_assert_eq!(apply(Budget::new(kg_budget(2026)), &log), budget);
    }
}
