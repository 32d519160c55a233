//! Breaches of the statutory clocks through the aggregates that own them (issue #17): the clock must
//! run and be past its due date, a clock is breached once, and D-02 raises its §22 ground exactly as a
//! late submission does, once.

use super::*;
use crate::domain::contract::ContractCommand;
use crate::domain::period::kg::{KgPeriodCommand, KgPeriodState, NoOtherKgPeriods};
use crate::domain::period::{PeriodCommand, SubmitRegistry};
use crate::domain::testkit::*;
use crate::domain::values::DocumentNumber;

fn breach(rule: ClockRule, observed_at: &str) -> RecordDeadlineBreach {
    RecordDeadlineBreach {
        rule,
        observed_at: at(observed_at),
    }
}

fn period_breach(
    world: &mut World,
    period: ReportingPeriod,
    observed_at: &str,
) -> Result<Vec<Event>, DomainError> {
    world.period(
        period,
        PeriodCommand::RecordDeadlineBreach(breach(ClockRule::RegistrySubmission, observed_at)),
    )
}

fn submit(world: &mut World, submitted_at: &str) -> Result<Vec<Event>, DomainError> {
    world.period(
        World::january(),
        PeriodCommand::SubmitRegistry(SubmitRegistry {
            registry_no: DocumentNumber::new("R-1").unwrap(),
            submitted_at: at(submitted_at),
            signature: signed_by(holder_bin()),
        }),
    )
}

/// D-02: a contract in force in January owes January's registry even with nothing dispensed; the
/// clock is breached the first instant after the 25th of February ends, not before; the breach
/// carries its deadline and raises the §22 ground (C-04) with it; and it is recorded once.
#[test]
fn d02_a_registry_never_submitted_is_breached_after_the_25th_once_with_its_ground() {
    let mut world = World::kz().with_concluded_contract();
    let january = World::january();
    let early = period_breach(&mut world, january, "2026-02-25T23:59:59+05:00").unwrap_err();
    assert_eq!(early.rule(), "D-02", "{early}");
    assert!(early.to_string().contains("past its due date"), "{early}");
    assert!(early.to_string().contains("due 2026-02-25"), "{early}");

    let events = period_breach(&mut world, january, "2026-02-26T00:00:00+05:00").unwrap();
    let [
        Event::DeadlineBreached(breached),
        Event::TerminationGroundDetected(ground),
    ] = events.as_slice()
    else {
        panic!("a breach and its ground, not {events:?}");
    };
    assert_eq!(breached.deadline.rule, ClockRule::RegistrySubmission);
    assert_eq!(
        (breached.deadline.started_on, breached.deadline.due),
        (day("2026-01-31"), day("2026-02-25"))
    );
    assert_eq!(breached.breached_at, at("2026-02-26T00:00:00+05:00"));
    assert_eq!(breached.obliged, Party::ContractHolder);
    assert_eq!(breached.period, Some(january));
    assert_eq!(
        (ground.ground, ground.finding.rule.as_str()),
        (TerminationGround::RegistrySubmission, "D-02")
    );
    assert_eq!(ground.detected_at, breached.breached_at);

    let again = period_breach(&mut world, january, "2026-03-10T10:00:00+05:00").unwrap_err();
    assert!(
        again.to_string().contains("recorded as breached already"),
        "{again}"
    );
}

/// D-02, A-06, A-02: after a breach the late first submission is recorded late without a second
/// ground, and a submission dated before the breach (the registry "was on time" after all) is
/// refused as out of order, naming both instants.
#[test]
fn d02_after_a_breach_the_late_submission_raises_no_second_ground() {
    let mut world = World::kz().with_concluded_contract();
    period_breach(&mut world, World::january(), "2026-03-02T10:00:00+05:00").unwrap();
    let backdated = submit(&mut world, "2026-02-20T10:00:00+05:00").unwrap_err();
    assert_eq!(backdated.rule(), "A-02", "{backdated}");
    assert!(
        backdated.to_string().contains("2026-02-25T19:00:00Z"),
        "{backdated}"
    );
    let events = submit(&mut world, "2026-03-03T10:00:00+05:00").unwrap();
    let [Event::RegistrySubmitted(submitted)] = events.as_slice() else {
        panic!("only the submission, not {events:?}");
    };
    assert!(submitted.late);
}

/// D-02: no registry is owed for a month the contract was not in force in, and a submitted one's
/// clock is stopped.
#[test]
fn d02_no_clock_runs_before_the_contract_or_after_the_submission() {
    let mut world = World::kz().with_concluded_contract();
    let december = ReportingPeriod::month(2025, 12).unwrap();
    let error = period_breach(&mut world, december, "2026-02-01T10:00:00+05:00").unwrap_err();
    assert!(error.to_string().contains("not running"), "{error}");
    submit(&mut world, "2026-02-10T10:00:00+05:00").unwrap();
    let error =
        period_breach(&mut world, World::january(), "2026-03-01T10:00:00+05:00").unwrap_err();
    assert!(error.to_string().contains("not running"), "{error}");
}

/// D-01: the Fund's review clock runs while the application is under review (5 working days from
/// Monday 5 January over the 7 January holiday: due the 13th); a window that only closes (D-12) is no
/// obligation to breach.
#[test]
fn d01_a_review_not_decided_in_five_working_days_is_breached() {
    let mut world = World::kz();
    world
        .contract(ContractCommand::ReceiveApplication(company_application(
            "2026-01-05T10:00:00+05:00",
            network("PH", 70, 3, holder_bin()),
        )))
        .unwrap();
    let not_yet = world
        .contract(ContractCommand::RecordDeadlineBreach(breach(
            ClockRule::ContractReview,
            "2026-01-13T18:00:00+05:00",
        )))
        .unwrap_err();
    assert_eq!(not_yet.rule(), "D-01");
    let events = world
        .contract(ContractCommand::RecordDeadlineBreach(breach(
            ClockRule::ContractReview,
            "2026-01-14T09:00:00+05:00",
        )))
        .unwrap();
    let [Event::DeadlineBreached(breached)] = events.as_slice() else {
        panic!("a breach without a ground, not {events:?}");
    };
    assert_eq!(
        (breached.deadline.due, breached.obliged),
        (day("2026-01-13"), Party::Fund)
    );
    let window = world
        .contract(ContractCommand::RecordDeadlineBreach(breach(
            ClockRule::KgDisputeWindow,
            "2026-01-13T09:00:00+05:00",
        )))
        .unwrap_err();
    assert_eq!(window.rule(), "D-12");
}

/// D-13: a KG contract's month owes a payment report by the day the contract set (the 10th of the
/// next month by default), from the day the month ends.
#[test]
fn d13_a_kg_report_never_submitted_is_breached_after_the_contract_day() {
    use crate::domain::period::kg::{self, example};
    let reference = example::Reference::default();
    let decision = reference.decision();
    let march = ReportingPeriod::month(2026, 3).unwrap();
    let ctx = reference.context(&decision, march, &NoOtherKgPeriods);
    let command = |observed: &str| {
        KgPeriodCommand::RecordDeadlineBreach(breach(ClockRule::KgPaymentReport, observed))
    };
    let state = KgPeriodState::default();
    let early = kg::decide(&state, command("2026-04-10T23:00:00+06:00"), &ctx).unwrap_err();
    assert_eq!(early.rule(), "D-13", "{early}");
    let events = kg::decide(&state, command("2026-04-11T00:00:00+06:00"), &ctx).unwrap();
    let [Event::DeadlineBreached(breached)] = events.as_slice() else {
        panic!("a breach, not {events:?}");
    };
    assert_eq!(
        (breached.deadline.due, breached.obliged),
        (day("2026-04-10"), Party::ContractHolder)
    );
    let state = events.iter().fold(state, kg::evolve);
    let again = kg::decide(&state, command("2026-04-12T00:00:00+06:00"), &ctx).unwrap_err();
    assert!(again.to_string().contains("already"), "{again}");
}
