//! Runs the domain scenarios of `tests/scenarios/*.txt`: plain-text files a domain expert can read.
//!
//! Format, one step per line (`#` starts a comment line):
//! ```text
//! scenario: the Fund pays the limit price when the trade-name price is higher
//! rule: M-03
//! setup: deeming=on grace=3 resubmission_flag=off price_type=domestic signatures=reject rules_from=2026-01-10
//! given: contract concluded
//! given: dispensing id=D1 at=2026-01-15T12:00 qty=30 price=12
//! when: dispensing id=D2 at=2026-01-16T12:00 qty=30 price=12
//! then: events DispensingRecorded
//! then: DispensingRecorded amounts.fund="300.00 KZT" amounts.patient="60.00 KZT"
//! then: error M-07 "differs from the total"
//! ```
//! `given` steps must be accepted; `when` is the command under test; `then` checks its outcome: the
//! exact event types, fields of an event (dotted paths into its JSON form; money reads "300.00 KZT"),
//! or a refusal with its rule ID and a piece of its message. Times without an offset are KZ local
//! time (UTC+5).

#[path = "scenarios_common/mod.rs"]
#[allow(dead_code)]
mod common;

use ledger::domain::calendar::WorkingDays;
use ledger::domain::contract::events::{Applicant, ContractTerm, Party, TerminationGround};
use ledger::domain::contract::{
    ChangeIssCertification, ChangePharmacyNetwork, ContractCommand, ReceiveApplication,
    ReceiveTerminationNotice, SendTerminationNotice,
};
use ledger::domain::error::DomainError;
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::events::{DispensingRecorded, LineRejection, SuspensionReason};
use ledger::domain::period::{
    ApproveRegistry, MakePayment, PeriodCommand, ReceivePaymentAct, ReceiveRegistry,
    RecordDispensing, RejectRegistry, ResumePaymentClock, ReverseDispensing, SignPaymentAct,
    SubmitPaymentAct, SubmitRegistry, SuspendPaymentClock,
};
use ledger::domain::region::Programme;
use ledger::domain::rules::{PriceType, RuleBook, RuleParameters};
use ledger::domain::testkit::*;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{
    DispensingId, DocumentNumber, FiscalReceipt, OrganisationName, PharmacyLicence,
    ReportingPeriod, UnitOfMeasure,
};

use common::{Scenario, Step};

/// The minimum number of scenario files the suite must hold (issue #4).
const SCENARIOS_MIN: usize = 30;

type Outcome = Result<Vec<Event>, DomainError>;

/// The Kazakh arguments of a step.
trait KzStep {
    fn at(&self) -> Timestamp;
    fn local_at(&self) -> String;
    fn period(&self) -> ReportingPeriod;
}

impl KzStep for Step {
    fn at(&self) -> Timestamp {
        instant(self.require("at"))
    }

    fn local_at(&self) -> String {
        instant(self.require("at")).to_string()
    }

    /// `period=2026-01` (a month) or `period=2026-01-01..2026-01-15` (a shorter period, P-02).
    fn period(&self) -> ReportingPeriod {
        let text = self.get("period").unwrap_or("2026-01");
        if let Some((first, last)) = text.split_once("..") {
            return ReportingPeriod::span(day(first), day(last)).expect("period span");
        }
        let (year, month) = text.split_once('-').expect("period=YYYY-MM");
        ReportingPeriod::month(year.parse().expect("year"), month.parse().expect("month"))
            .expect("period")
    }
}

/// `2026-01-15T12:00` or `2026-01-15T12:00:00` (KZ local, UTC+5) or full RFC 3339.
fn instant(text: &str) -> Timestamp {
    let has_offset =
        text.ends_with('Z') || text.get(19..).is_some_and(|tail| tail.contains(['+', '-']));
    if has_offset {
        at(text)
    } else if text.len() == 16 {
        at(&format!("{text}:00+05:00"))
    } else {
        at(&format!("{text}+05:00"))
    }
}

fn bin_named(name: &str) -> Bin {
    match name {
        "holder" => holder_bin(),
        "fund" => fund_bin(),
        "stranger" => stranger_bin(),
        member => member_bin(
            member
                .trim_start_matches("member")
                .parse()
                .expect("holder, fund, stranger or memberN"),
        ),
    }
}

fn money(text: &str) -> Money {
    let major: rust_decimal::Decimal = text.parse().expect("amount like 300.00");
    let minor = (major * rust_decimal::Decimal::ONE_HUNDRED).trunc();
    Money::new(i64::try_from(minor).expect("amount fits"), Currency::KZT)
}

fn setup(step: &Step) -> World {
    let mut parameters = RuleParameters::kz_2025();
    if step.get("deeming") == Some("on") {
        parameters.after_hours_deeming = true;
    }
    if let Some(grace) = step.get("grace") {
        parameters.act_submission_grace = Some(WorkingDays(grace.parse().expect("grace days")));
    }
    if step.get("resubmission_flag") == Some("off") {
        parameters.flag_late_resubmission = false;
    }
    if step.get("price_type") == Some("domestic") {
        parameters.limit_price_type = PriceType::DomesticLongTerm;
    }
    let mut world = World::with_parameters(parameters.clone());
    if let Some(from) = step.get("rules_from") {
        let mut rule_set = kz_rule_set(parameters);
        rule_set.effective_from = day(from);
        world.rules = RuleBook::new(vec![rule_set]).expect("valid rules");
    }
    if step.get("signatures") == Some("reject") {
        world.signatures = Box::new(RejectAllSignatures);
    }
    world
}

fn contract_step(world: &mut World, step: &Step) -> Option<Outcome> {
    let command = match step.verb().as_str() {
        "contract concluded" => {
            let taken = std::mem::replace(world, World::kz());
            *world = taken.with_concluded_contract();
            return Some(Ok(Vec::new()));
        }
        "application company" | "application consortium" => {
            ContractCommand::ReceiveApplication(application(step))
        }
        "review" => {
            let mut command = review(&step.local_at());
            if let Some(ends_on) = step.get("term_ends") {
                command.term = ContractTerm {
                    starts_on: command.term.starts_on,
                    ends_on: Some(day(ends_on)),
                };
            }
            if let Some(signer) = step.get("signer") {
                command.fund_signature = signed_by(bin_named(signer));
            }
            ContractCommand::ReviewApplication(command)
        }
        "network change" => ContractCommand::ChangePharmacyNetwork(network_change(step)),
        "iss withdrawn" => ContractCommand::ChangeIssCertification(ChangeIssCertification {
            changed_at: step.at(),
            certified: false,
            test_act: None,
        }),
        "termination notice sent" => ContractCommand::SendTerminationNotice(notice(step)),
        "termination notice received" => {
            ContractCommand::ReceiveTerminationNotice(ReceiveTerminationNotice {
                received_at: step.at(),
            })
        }
        "price list" => {
            let list = price_list(
                step.require("version").parse().expect("version"),
                step.require("from"),
                step.require("metformin"),
            );
            return Some(world.prices(list));
        }
        _ => return None,
    };
    Some(world.contract(command))
}

fn application(step: &Step) -> ReceiveApplication {
    let pharmacies: u32 = step
        .get("pharmacies")
        .unwrap_or("70")
        .parse()
        .expect("pharmacies");
    let regions: usize = step.get("regions").unwrap_or("3").parse().expect("regions");
    let received = step.local_at();
    let mut application = if step.verb() == "application company" {
        company_application(&received, network("PH", pharmacies, regions, holder_bin()))
    } else {
        let members: u32 = step.get("members").unwrap_or("4").parse().expect("members");
        let network = (1..=members)
            .flat_map(|member| {
                network(
                    &format!("M{member}"),
                    pharmacies / members,
                    regions,
                    member_bin(member),
                )
            })
            .collect();
        let mut application = consortium_application(&received, members, network);
        if let Applicant::Consortium { agreement, .. } = &mut application.applicant {
            agreement.equal_reimbursement_terms = step.get("equal_terms") != Some("no");
            agreement.representative_named = step.get("representative_named") != Some("no");
        }
        application
    };
    if step.get("iss_act") == Some("none") {
        application.iss_test_act = None;
    }
    if let Some(count) = step.get("unconnected") {
        let count: usize = count.parse().expect("count");
        for pharmacy in application.pharmacies.iter_mut().take(count) {
            pharmacy.iss_connected = false;
        }
    }
    if step.get("duplicate_licence") == Some("yes") {
        let first = application.pharmacies[0].licence.clone();
        application
            .pharmacies
            .last_mut()
            .expect("a network")
            .licence = first;
    }
    if let Some(jurisdiction) = step.get("jurisdiction") {
        application.jurisdiction = jurisdiction.parse().expect("KZ or KG");
    }
    application
}

fn network_change(step: &Step) -> ChangePharmacyNetwork {
    let remove: u32 = step.get("remove").unwrap_or("0").parse().expect("remove");
    let prefix = step.get("prefix").unwrap_or("PH");
    ChangePharmacyNetwork {
        changed_at: step.at(),
        added: step
            .get("add")
            .map(|count| network("NEW", count.parse().expect("add"), 1, holder_bin()))
            .unwrap_or_default(),
        removed: (0..remove)
            .map(|n| PharmacyLicence::new(format!("{prefix}-{n:04}")).expect("licence"))
            .collect(),
        members_joined: vec![],
        members_left: step
            .get("member_leaves")
            .map(|name| vec![bin_named(name)])
            .unwrap_or_default(),
    }
}

fn notice(step: &Step) -> SendTerminationNotice {
    let ground = |name: &str| {
        serde_json::from_value::<TerminationGround>(serde_json::Value::String(name.to_owned()))
            .expect("a §29 ground, e.g. INFORMATION_SECURITY")
    };
    let grounds = step
        .get("grounds")
        .map(|list| {
            list.split(',')
                .filter(|name| !name.is_empty())
                .map(ground)
                .collect()
        })
        .unwrap_or_default();
    SendTerminationNotice {
        notice: DocumentNumber::new(step.get("notice").unwrap_or("N-1")).expect("notice"),
        sent_at: step.at(),
        sender: Party::Fund,
        grounds,
        signature: signed_by(fund_bin()),
    }
}

fn earlier<'a>(world: &'a World, step: &Step, key: &str) -> Option<&'a DispensingRecorded> {
    let other = DispensingId::new(step.get(key)?).expect("id");
    world
        .periods
        .values()
        .find_map(|state| state.dispensings.get(&other))
        .map(|entry| &entry.recorded)
}

fn dispensing_command(world: &World, step: &Step) -> RecordDispensing {
    let mut command = dispensing(step.require("id"), &step.local_at());
    if step.get("product") == Some("strips") {
        command.product = test_strips();
        command.unit = UnitOfMeasure::new("strip").expect("unit");
    }
    if let Some(unit) = step.get("unit") {
        command.unit = UnitOfMeasure::new(unit).expect("unit");
    }
    command = with_sale(
        command,
        step.get("qty").unwrap_or("30"),
        step.get("price").unwrap_or("12"),
    );
    if let Some(amount) = step.get("receipt") {
        let receipt = &command.fiscal_receipt;
        command.fiscal_receipt = FiscalReceipt::new(
            receipt.rnm(),
            receipt.fiscal_sign(),
            receipt.issued_at(),
            money(amount),
        )
        .expect("receipt");
    }
    if let Some(code) = step.get("region") {
        command.region = region(code);
    }
    command.copayment_consent = step.get("consent") != Some("no");
    if let Some(programme) = step.get("programme") {
        command.programme = programme.parse::<Programme>().expect("programme");
    }
    if let Some(dispenser) = step.get("dispenser") {
        command.dispenser_bin = bin_named(dispenser);
    }
    if let Some(number) = step.get("prescription") {
        command.prescription.number = DocumentNumber::new(number).expect("prescription");
    }
    if let Some(first) = earlier(world, step, "marking_of") {
        command.marking_code = first.marking_code.clone();
    }
    if let Some(first) = earlier(world, step, "receipt_of") {
        command.fiscal_receipt = first.fiscal_receipt.clone();
    }
    command
}

fn registry_step(step: &Step) -> Option<PeriodCommand> {
    let number =
        |default: &str| DocumentNumber::new(step.get("no").unwrap_or(default)).expect("number");
    let signer = |default: &str| signed_by(bin_named(step.get("signer").unwrap_or(default)));
    Some(match step.verb().as_str() {
        "registry submitted" => PeriodCommand::SubmitRegistry(SubmitRegistry {
            registry_no: number("R-1"),
            submitted_at: step.at(),
            signature: signer("holder"),
        }),
        "registry received" => PeriodCommand::ReceiveRegistry(ReceiveRegistry {
            received_at: step.at(),
        }),
        "registry approved" => PeriodCommand::ApproveRegistry(ApproveRegistry {
            approved_at: step.at(),
            signature: signer("fund"),
        }),
        "registry rejected" => PeriodCommand::RejectRegistry(RejectRegistry {
            rejected_at: step.at(),
            reason: step.get("reason").unwrap_or("line errors").to_owned(),
            lines: step.get("lines").map(line_rejections).unwrap_or_default(),
        }),
        "act submitted" => PeriodCommand::SubmitPaymentAct(SubmitPaymentAct {
            act_no: number("A-1"),
            submitted_at: step.at(),
            supplier: OrganisationName::new("Dari Pharm LLP").expect("name"),
            signature: signer("holder"),
        }),
        "act received" => PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
            received_at: step.at(),
        }),
        "act signed" => PeriodCommand::SignPaymentAct(SignPaymentAct {
            signed_at: step.at(),
            signature: signer("fund"),
        }),
        _ => return None,
    })
}

fn period_command(world: &World, step: &Step) -> Option<PeriodCommand> {
    if let Some(command) = registry_step(step) {
        return Some(command);
    }
    Some(match step.verb().as_str() {
        "dispensing" => PeriodCommand::RecordDispensing(Box::new(dispensing_command(world, step))),
        "reversal" => PeriodCommand::ReverseDispensing(ReverseDispensing {
            dispensing_id: DispensingId::new(step.require("id")).expect("id"),
            reversed_at: step.at(),
            reason: step.get("reason").unwrap_or("correction").to_owned(),
        }),
        "payment clock suspended" => PeriodCommand::SuspendPaymentClock(SuspendPaymentClock {
            suspended_at: step.at(),
            reason: SuspensionReason::BudgetTransferLate,
        }),
        "payment clock resumed" => PeriodCommand::ResumePaymentClock(ResumePaymentClock {
            resumed_at: step.at(),
        }),
        "payment" => PeriodCommand::MakePayment(MakePayment {
            payment_ref: DocumentNumber::new(step.get("ref").unwrap_or("P-1")).expect("ref"),
            paid_at: step.at(),
            programme: step
                .get("programme")
                .unwrap_or("OSMS")
                .parse::<Programme>()
                .expect("programme"),
            amount: money(step.require("amount")),
        }),
        _ => return None,
    })
}

/// `2:IIN,3:PRICE` → per-line rejections.
fn line_rejections(text: &str) -> Vec<LineRejection> {
    text.split(',')
        .map(|item| {
            let (line, code) = item.split_once(':').expect("line:CODE");
            LineRejection {
                line_no: line.parse().expect("line number"),
                code: code.to_owned(),
                reason: format!("rejected with code {code}"),
            }
        })
        .collect()
}

fn execute(world: &mut World, step: &Step) -> Outcome {
    if let Some(outcome) = contract_step(world, step) {
        return outcome;
    }
    let command =
        period_command(world, step).unwrap_or_else(|| panic!("unknown step \"{}\"", step.verb()));
    world.period(step.period(), command)
}

fn check_fields(events: &[Event], event_type: &str, step: &Step) -> Result<(), String> {
    let event = events
        .iter()
        .find(|event| event.event_type() == event_type)
        .ok_or_else(|| format!("no {event_type} among the events"))?;
    let json = serde_json::to_value(event).expect("events serialise");
    common::check_json(event_type, &json[event_type], step)
}

fn check(outcome: &Outcome, text: &str) -> Result<(), String> {
    let step = Step::parse(text);
    match (step.words.first().map(String::as_str), outcome) {
        (Some("error"), Err(error)) => {
            common::check_refusal(error.rule(), &error.to_string(), &step)
        }
        (_, Err(error)) => Err(format!("command refused: {error} [{}]", error.rule())),
        (Some("error"), Ok(events)) => Err(format!(
            "expected a refusal, got {:?}",
            events.iter().map(Event::event_type).collect::<Vec<_>>()
        )),
        (Some("events"), Ok(events)) => {
            let actual: Vec<&str> = events.iter().map(Event::event_type).collect();
            common::check_types(&actual, text)
        }
        (Some(event_type), Ok(events)) => check_fields(events, event_type, &step),
        (None, _) => Err("empty then".to_owned()),
    }
}

impl Scenario for World {
    type Outcome = Outcome;

    fn setup(&mut self, step: &Step) {
        *self = setup(step);
    }

    fn execute(&mut self, step: &Step) -> Outcome {
        execute(self, step)
    }

    fn refused(outcome: &Outcome) -> Option<String> {
        outcome.as_ref().err().map(ToString::to_string)
    }

    fn check(&self, outcome: &Outcome, then: &str) -> Result<(), String> {
        check(outcome, then)
    }
}

#[test]
fn scenarios() {
    common::run_all(&common::files(&[""]), SCENARIOS_MIN, |_| World::kz());
}

/// The checker itself must be able to fail.
#[test]
fn a_wrong_expectation_fails() {
    let outcome: Outcome = Ok(vec![]);
    assert!(check(&outcome, "events DispensingRecorded").is_err());
    assert!(check(&outcome, "error M-07").is_err());
    assert!(check(&outcome, "events").is_ok());
}
