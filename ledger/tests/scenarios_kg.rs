//! Runs the budget, signing-key and Kyrgyz scenarios of `tests/scenarios/{budget,keys,kg}/*.txt`.
//!
//! Same line format as `ledger/tests/scenarios.rs` (the Kazakh scenarios), one step per line, `#`
//! starts a comment line:
//! ```text
//! scenario: an overspend of 2026 is paid from the 2027 budget
//! rule: B-03, A-20
//! setup: budget=KG/KG_CHI_ADDITIONAL/2026
//! given: allocate region=41711 amount=100.00
//! given: pay region=41711 amount=130.00 ref=P-1 month=2026-11
//! when: close year on=2027-01-15
//! then: events BudgetOverrunCarriedForward, BudgetYearClosed
//! then: BudgetOverrunCarriedForward amount="30.00 KGS" to_fiscal_year=2027
//! then: line:41711 balance="0.00 KGS" carried_forward="30.00 KGS"
//! then: error B-02 "closed"
//! ```
//! `given` steps must be accepted; `when` is the step under test; `then` checks its outcome: the exact
//! fact types, fields of a fact (dotted paths into its JSON form, `Type#2` for the second of a type;
//! money reads "30.00 KGS"), the state (`line:<region>` for a budget line), or a refusal with its rule
//! ID and a piece of its message. Times without an offset are Bishkek local time (UTC+6).
//!
//! Each directory has its own world: `budget/` drives `ledger::domain::budget`, `keys/` drives
//! `ledger::domain::keys`, `kg/` drives `ledger::domain::kg`.

use std::collections::BTreeMap;
use std::path::Path;

#[path = "scenarios_common/mod.rs"]
#[allow(dead_code)]
mod common;

use chrono::NaiveDate;
use ed25519_dalek::SigningKey;
use rust_decimal::Decimal;
use serde::Serialize;

use ledger::domain::budget::{
    self, Allocate, Budget, BudgetCommand, BudgetId, ChargeCarriedOverrun, CloseYear, Commit,
    FiscalYear, Pay, Redistribute, ServiceMonth, TransferToFund,
};
use ledger::domain::calendar::CalendarDays;
use ledger::domain::ident::{Bin, Iin};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{
    self, KeyCommand, KeyId, KeyRegistry, KeyRing, RegisterSigningKey, RevokeSigningKey,
};
use ledger::domain::kg;
use ledger::domain::kg::dispute::{
    self, Dispute, DisputeCommand, DisputeDecision, FileDisputeClaim, ResolveDispute,
};
use ledger::domain::kg::recovery::{
    self, Debtor, Recoveries, RecoveryAssessed, RecoveryEvent, RecoveryGround,
};
use ledger::domain::kg::{
    DrugId, KgDispensing, KgPolicy, KgPrescription, KgReimbursementInput, LimitEnforcement,
    PartialDispensing, PatientEligibility, PatientLimitParameters, PatientLimitSchedule,
    PriceBasis, ReferenceBookEntry, ReferenceBookPublished, ReferenceBooks,
};
use ledger::domain::money::{Currency, Money, Quantity, UnitPrice};
use ledger::domain::region::{Programme, Region};
use ledger::domain::time::Timestamp;

use common::{Scenario, Step};

#[path = "scenarios_kg/engine.rs"]
mod engine;

/// The minimum number of scenario files across the three directories.
const SCENARIOS_MIN: usize = 30;

/// A fact of an outcome: its type name and its JSON form.
type Facts = Vec<(String, serde_json::Value)>;

/// A refusal: the rule that refused and the message.
#[derive(Debug)]
struct Refusal {
    rule: &'static str,
    message: String,
}

type Outcome = Result<Facts, Refusal>;

fn refusal(rule: &'static str, error: impl std::fmt::Display) -> Refusal {
    Refusal {
        rule,
        message: error.to_string(),
    }
}

fn fact(name: &str, value: &impl Serialize) -> (String, serde_json::Value) {
    (
        name.to_owned(),
        serde_json::to_value(value).expect("facts serialise"),
    )
}

/// The Kyrgyz arguments of a step.
trait KgStep {
    fn date(&self, key: &str, default: &str) -> NaiveDate;
}

impl KgStep for Step {
    fn date(&self, key: &str, default: &str) -> NaiveDate {
        date(self.get(key).unwrap_or(default))
    }
}

fn date(text: &str) -> NaiveDate {
    text.parse()
        .unwrap_or_else(|_| panic!("date \"{text}\" must look like 2026-03-01"))
}

/// `2026-03-12T10:00` (Bishkek local, UTC+6) or full RFC 3339.
fn instant(text: &str) -> Timestamp {
    let has_offset =
        text.ends_with('Z') || text.get(19..).is_some_and(|tail| tail.contains(['+', '-']));
    let full = if has_offset {
        text.to_owned()
    } else if text.len() == 16 {
        format!("{text}:00+06:00")
    } else {
        format!("{text}+06:00")
    };
    Timestamp::parse_rfc3339(&full).unwrap_or_else(|_| panic!("instant \"{text}\""))
}

fn money(text: &str, currency: Currency) -> Money {
    let major: Decimal = text.parse().expect("amount like 300.00");
    let minor = (major * Decimal::ONE_HUNDRED).trunc();
    Money::new(i64::try_from(minor).expect("amount fits"), currency)
}

fn som(text: &str) -> Money {
    money(text, Currency::KGS)
}

fn price(text: &str) -> UnitPrice {
    text.parse().expect("unit price like 2.50")
}

fn units(text: &str) -> Quantity {
    text.parse().expect("units like 60")
}

/// The steps a directory's world understands.
trait World {
    fn setup(&mut self, step: &Step);
    fn execute(&mut self, step: &Step) -> Outcome;
    /// Facts about the state after the last step (e.g. budget lines), checked like events.
    fn state(&self) -> Facts {
        Vec::new()
    }
}

// ---------------------------------------------------------------- budget

struct BudgetWorld {
    jurisdiction: Jurisdiction,
    programme: Programme,
    year: i32,
    budgets: BTreeMap<i32, Budget>,
}

impl BudgetWorld {
    fn new() -> BudgetWorld {
        BudgetWorld {
            jurisdiction: Jurisdiction::KG,
            programme: Programme::KgChiAdditional,
            year: 2026,
            budgets: BTreeMap::new(),
        }
    }

    fn currency(&self) -> Currency {
        Currency::of(self.jurisdiction)
    }

    fn region(&self, step: &Step, key: &str) -> Region {
        Region::new(self.jurisdiction, step.require(key))
            .expect("a region code of the jurisdiction")
    }

    fn amount(&self, step: &Step) -> Money {
        money(step.require("amount"), self.currency())
    }

    fn command(&self, step: &Step) -> BudgetCommand {
        let on = step.date("on", "2026-06-01");
        match step.verb().as_str() {
            "allocate" => BudgetCommand::Allocate(Allocate {
                region: self.region(step, "region"),
                amount: self.amount(step),
                on,
                basis: step.get("basis").unwrap_or("budget order").to_owned(),
            }),
            "transfer" => BudgetCommand::TransferToFund(TransferToFund {
                region: self.region(step, "region"),
                amount: self.amount(step),
                on,
                due_on: date(step.require("due")),
            }),
            "commit" => BudgetCommand::Commit(Commit {
                region: self.region(step, "region"),
                amount: self.amount(step),
                act_ref: step.get("act").unwrap_or("A-1").to_owned(),
                on,
            }),
            "pay" => {
                let (year, month) = step
                    .require("month")
                    .split_once('-')
                    .expect("month=YYYY-MM");
                BudgetCommand::Pay(Pay {
                    region: self.region(step, "region"),
                    amount: self.amount(step),
                    payment_ref: step.get("ref").unwrap_or("P-1").to_owned(),
                    act_ref: step.get("act").unwrap_or("A-1").to_owned(),
                    service_month: ServiceMonth::new(
                        year.parse().expect("year"),
                        month.parse().expect("month"),
                    )
                    .expect("service month"),
                    on,
                })
            }
            "redistribute" => BudgetCommand::Redistribute(Redistribute {
                from_region: self.region(step, "from"),
                to_region: self.region(step, "to"),
                amount: self.amount(step),
                on,
                basis: step.get("basis").unwrap_or("mid-year analysis").to_owned(),
            }),
            "close year" => BudgetCommand::CloseYear(CloseYear { on }),
            "charge overrun" => BudgetCommand::ChargeCarriedOverrun(ChargeCarriedOverrun {
                region: self.region(step, "region"),
                amount: self.amount(step),
                from_fiscal_year: FiscalYear(step.require("from").parse().expect("from=YYYY")),
                on,
            }),
            other => panic!("unknown budget step \"{other}\""),
        }
    }
}

impl World for BudgetWorld {
    fn setup(&mut self, step: &Step) {
        if let Some(text) = step.get("budget") {
            let parts: Vec<&str> = text.split('/').collect();
            let [jurisdiction, programme, year] = parts.as_slice() else {
                panic!("budget=KG/KG_CHI_ADDITIONAL/2026");
            };
            self.jurisdiction = jurisdiction.parse().expect("KZ or KG");
            self.programme = programme.parse().expect("programme");
            self.year = year.parse().expect("year");
        }
    }

    fn execute(&mut self, step: &Step) -> Outcome {
        let year = step
            .get("year")
            .map_or(self.year, |year| year.parse().expect("year"));
        let id = BudgetId::new(self.jurisdiction, self.programme, FiscalYear(year))
            .map_err(|error| refusal(error.rule(), error))?;
        let command = self.command(step);
        let state = self
            .budgets
            .remove(&year)
            .unwrap_or_else(|| Budget::new(id));
        let result = budget::decide(&state, command);
        let events = match result {
            Ok(events) => events,
            Err(error) => {
                self.budgets.insert(year, state);
                return Err(refusal(error.rule(), error));
            }
        };
        let state = events.iter().fold(state, budget::evolve);
        self.budgets.insert(year, state);
        Ok(events
            .iter()
            .map(|event| fact_of(event.event_type(), event))
            .collect())
    }

    fn state(&self) -> Facts {
        let mut facts = Vec::new();
        for (year, state) in &self.budgets {
            for (region, line) in state.lines() {
                let name = if *year == self.year {
                    format!("line:{}", region.code())
                } else {
                    format!("line:{}@{year}", region.code())
                };
                let json = serde_json::json!({
                    "allocated": line.allocated, "transferred": line.transferred,
                    "committed": line.committed, "paid": line.paid, "balance": line.balance,
                    "expired": line.expired, "carried_forward": line.carried_forward,
                });
                facts.push((name, json));
            }
        }
        facts
    }
}

/// An externally tagged event's inner JSON under its type name.
fn fact_of(event_type: &str, event: &impl Serialize) -> (String, serde_json::Value) {
    let json = serde_json::to_value(event).expect("events serialise");
    (event_type.to_owned(), json[event_type].clone())
}

// ---------------------------------------------------------------- keys

struct KeysWorld {
    rings: BTreeMap<Bin, KeyRing>,
    registry: KeyRegistry,
}

/// `pharmacy`, `other`, or a literal 12-digit BIN.
fn bin_named(name: &str) -> Bin {
    let text = match name {
        "pharmacy" => "100140000003",
        "other" => "200240000018",
        literal => literal,
    };
    text.parse().expect("a valid BIN")
}

fn secret(seed: &str) -> SigningKey {
    SigningKey::from_bytes(&[seed.parse().expect("seed=0..255"); 32])
}

impl KeysWorld {
    fn new() -> KeysWorld {
        KeysWorld {
            rings: BTreeMap::new(),
            registry: KeyRegistry::new(),
        }
    }

    fn key_command(step: &Step) -> KeyCommand {
        let key_id = KeyId::new(step.require("key")).expect("key id");
        match step.verb().as_str() {
            "register" => KeyCommand::Register(RegisterSigningKey {
                key_id,
                public_key: step.get("public_key").map_or_else(
                    || keys::public_key_hex(&secret(step.get("seed").unwrap_or("7"))),
                    str::to_owned,
                ),
                valid_from: instant(step.get("from").unwrap_or("2026-01-01T00:00")),
                valid_to: instant(step.get("to").unwrap_or("2026-12-31T23:59:59")),
                signatory_iin: step
                    .get("signatory")
                    .map(|iin| iin.parse::<Iin>().expect("IIN")),
            }),
            "revoke" => KeyCommand::Revoke(RevokeSigningKey {
                key_id,
                revoked_at: instant(step.require("at")),
                reason: step.get("reason").unwrap_or("token lost").to_owned(),
            }),
            other => panic!("unknown keys step \"{other}\""),
        }
    }

    fn check(&self, step: &Step) -> Outcome {
        let hash = keys::document_hash(step.get("document").unwrap_or("registry R-1").as_bytes());
        let mut signature = keys::sign(&secret(step.get("seed").unwrap_or("7")), &hash).to_vec();
        let mut checked_hash = hash;
        match step.get("flip") {
            Some("hash") => checked_hash[0] ^= 1,
            Some("signature") => signature[0] ^= 1,
            Some("short") => signature.truncate(10),
            _ => {}
        }
        let signer = bin_named(step.get("signer").unwrap_or("pharmacy"));
        let at = instant(step.require("at"));
        let key = step.get("key").unwrap_or("k1");
        let result = match step.get("signatory") {
            Some(iin) => self.registry.verify_signatory(
                signer,
                iin.parse().expect("IIN"),
                key,
                &checked_hash,
                &signature,
                at,
            ),
            None => self
                .registry
                .verify(signer, key, &checked_hash, &signature, at)
                .map(|_| ()),
        };
        result
            .map(|()| Vec::new())
            .map_err(|rejected| refusal(rejected.rule, rejected))
    }
}

impl World for KeysWorld {
    fn setup(&mut self, _: &Step) {}

    fn execute(&mut self, step: &Step) -> Outcome {
        if step.verb() == "check" {
            return self.check(step);
        }
        let bin = bin_named(step.get("bin").unwrap_or("pharmacy"));
        let ring = self.rings.remove(&bin).unwrap_or_else(|| KeyRing::new(bin));
        let result = keys::decide(&ring, Self::key_command(step));
        let events = match result {
            Ok(events) => events,
            Err(error) => {
                self.rings.insert(bin, ring);
                return Err(refusal(error.rule(), error));
            }
        };
        for event in &events {
            self.registry.apply(event);
        }
        self.rings
            .insert(bin, events.iter().fold(ring, keys::evolve));
        Ok(events
            .iter()
            .map(|event| fact_of(event.event_type(), event))
            .collect())
    }
}

// ---------------------------------------------------------------- kg

struct KgWorld {
    books: ReferenceBooks,
    engine: engine::KgEngine,
    prescription: Option<KgPrescription>,
    prior: Option<Quantity>,
    limits: Vec<PatientLimitParameters>,
    compensated: Money,
    policy: KgPolicy,
    dispute: Dispute,
    recoveries: Recoveries,
}

/// The fixture book: two metformin trade names of one generic group and one amlodipine.
fn book_entries(compensation: &str) -> Vec<ReferenceBookEntry> {
    let entry = |id: &str, inn: &str, group: &str, compensation: &str, reference: &str| {
        ReferenceBookEntry {
            drug_id: DrugId::new(id).expect("drug id"),
            inn: inn.to_owned(),
            trade_name: id.to_owned(),
            generic_group: group.to_owned(),
            unit: "tablet".to_owned(),
            package_size: 30,
            reference_price_per_unit: price(reference),
            compensation_per_unit: price(compensation),
            source_basis: PriceBasis::PerUnit,
        }
    };
    vec![
        entry(
            "MET-500-A",
            "Metformin",
            "metformin-500-oral",
            compensation,
            "3.00",
        ),
        entry(
            "MET-500-B",
            "Metformin",
            "metformin-500-oral",
            compensation,
            "3.00",
        ),
        entry("AML-5", "Amlodipine", "amlodipine-5-oral", "1.00", "1.50"),
    ]
}

fn group_of(drug: &str) -> &'static str {
    if drug.starts_with("AML") {
        "amlodipine-5-oral"
    } else {
        "metformin-500-oral"
    }
}

fn kg_region(step: &Step, key: &str) -> Region {
    Region::new(Jurisdiction::KG, step.get(key).unwrap_or("41711")).expect("a KG region code")
}

impl KgWorld {
    fn new() -> KgWorld {
        KgWorld {
            books: ReferenceBooks::new(),
            engine: engine::KgEngine::default(),
            prescription: None,
            prior: None,
            limits: Vec::new(),
            compensated: som("0"),
            policy: KgPolicy::default(),
            dispute: Dispute::None,
            recoveries: Recoveries::new(),
        }
    }

    fn publish(&mut self, step: &Step) -> Outcome {
        let effective_from = date(step.require("effective"));
        let book = ReferenceBookPublished {
            version: step.require("version").parse().expect("version"),
            published_on: step.date("published", step.require("effective")),
            effective_from,
            entries: book_entries(step.get("compensation").unwrap_or("2.50")),
        };
        let book =
            kg::decide_publish(&self.books, book).map_err(|error| refusal(error.rule(), error))?;
        self.books = kg::evolve_books(std::mem::take(&mut self.books), &book);
        Ok(vec![fact("ReferenceBookPublished", &book)])
    }

    fn prescribe(&mut self, step: &Step) -> Outcome {
        let drug = step.get("drug").unwrap_or("MET-500-A");
        let patient_pin = step
            .get("pin")
            .unwrap_or("21501199012345")
            .parse()
            .map_err(|error: ledger::domain::values::ValueError| refusal(error.rule, error))?;
        self.prescription = Some(KgPrescription {
            number: step.get("number").unwrap_or("RX-1").to_owned(),
            patient_pin,
            written_on: step.date("written", "2026-03-01"),
            prescriber_region: kg_region(step, "region"),
            drug_id: DrugId::new(drug).expect("drug id"),
            generic_group: step.get("group").unwrap_or(group_of(drug)).to_owned(),
            course_dose_units: units(step.get("course").unwrap_or("60")),
            // E-08, V-06: insured and PHC-registered, checked on the day written, unless the step
            // says otherwise (`insured=no`, `phc=no`, `checked=DATE`, `eligibility=none`).
            eligibility: (step.get("eligibility") != Some("none")).then(|| PatientEligibility {
                insured: step.get("insured") != Some("no"),
                phc_registered: step.get("phc") != Some("no"),
                checked_on: step.date("checked", step.get("written").unwrap_or("2026-03-01")),
            }),
        });
        Ok(Vec::new())
    }

    fn set_policy(&mut self, step: &Step) -> Outcome {
        if step.get("partial") == Some("remainder") {
            self.policy.partial_dispensing = PartialDispensing::RemainderUntilExpiry;
        }
        if step.get("limit") == Some("block") {
            self.policy.limit_enforcement = LimitEnforcement::Block;
        }
        if let Some(days) = step.get("validity") {
            self.policy.prescription_validity = CalendarDays(days.parse().expect("validity days"));
        }
        Ok(Vec::new())
    }

    /// The sale a `dispense` or `record` step describes.
    fn sale(&self, step: &Step) -> (KgPrescription, KgDispensing) {
        let prescription = self
            .prescription
            .clone()
            .expect("a prescription step comes first");
        let region = step.get("region").unwrap_or("41711");
        let pharmacy_region = region
            .parse::<Region>()
            .or_else(|_| Region::new(Jurisdiction::KG, region).map_err(|error| error.to_string()))
            .expect("region");
        let dispensing = KgDispensing {
            drug_id: DrugId::new(step.get("drug").unwrap_or("MET-500-A")).expect("drug id"),
            units: units(step.get("units").unwrap_or("60")),
            dispensed_on: step.date("on", "2026-03-10"),
            pharmacy_region,
            retail_unit_price: price(step.get("retail").unwrap_or("3.00")),
            shelf_unit_price: step.get("shelf").map(price),
            approved_retail_unit_price: step.get("approved").map(price),
            patient_paid: som(step.get("paid").unwrap_or("30.00")),
        };
        (prescription, dispensing)
    }

    fn dispense(&self, step: &Step) -> Outcome {
        let (prescription, dispensing) = self.sale(step);
        let limits = PatientLimitSchedule::new(self.limits.clone());
        let input = KgReimbursementInput {
            books: &self.books,
            contract_terms: &self.engine.contract.terms,
            prescription: &prescription,
            dispensing: &dispensing,
            prior_dispensed_units: self.prior,
            patient_limits: &limits,
            patient_compensated_this_year: self.compensated,
            policy: &self.policy,
        };
        let result = kg::kg_reimbursement(input).map_err(|error| refusal(error.rule(), error))?;
        Ok(vec![fact("KgReimbursement", &result)])
    }

    /// The steps that go through the engine's KG period aggregate.
    fn settlement_step(&mut self, step: &Step) -> Option<Outcome> {
        let limits = PatientLimitSchedule::new(self.limits.clone());
        let reference = engine::Reference {
            books: &self.books,
            limits: &limits,
            policy: &self.policy,
            recoveries: &self.recoveries,
        };
        if step.verb() == "record" {
            let (prescription, dispensing) = self.sale(step);
            return Some(
                self.engine
                    .record(step, prescription, dispensing, &reference),
            );
        }
        self.engine.settlement_step(step, &reference)
    }

    fn dispute_step(&mut self, step: &Step) -> Option<Outcome> {
        let command = match step.verb().as_str() {
            "claim" => {
                let filed = step.require("filed");
                DisputeCommand::File(FileDisputeClaim {
                    dispute_id: step.get("id").unwrap_or("D-1").to_owned(),
                    contract_id: "C-1".to_owned(),
                    prescription_number: "RX-1".to_owned(),
                    dispensed_on: date(step.require("dispensed")),
                    filed_at: instant(filed),
                    filed_on: date(filed.get(..10).expect("filed=YYYY-MM-DDTHH:MM")),
                    claimant: "pharmacy".to_owned(),
                    claim: step
                        .get("text")
                        .unwrap_or("the patient disputes the dispensing")
                        .to_owned(),
                    report_submitted_at: step.get("report").map(instant),
                })
            }
            "resolve" => DisputeCommand::Resolve(ResolveDispute {
                protocol_id: step.get("protocol").unwrap_or("").to_owned(),
                commission_members: step
                    .require("members")
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
                decision: match step.get("decision").unwrap_or("full") {
                    "full" => DisputeDecision::PayInFull,
                    "none" => DisputeDecision::NoPayment,
                    amount => DisputeDecision::PayAmount(som(amount)),
                },
                resolved_on: step.date("on", "2026-03-25"),
            }),
            "payment decision" => {
                return Some(
                    dispute::check_payment_decision(&self.dispute, step.get("protocol"))
                        .map(|decision| vec![fact("DisputeDecision", decision)])
                        .map_err(|error| refusal(error.rule(), error)),
                );
            }
            _ => return None,
        };
        let events = match dispute::decide(&self.dispute, command) {
            Ok(events) => events,
            Err(error) => return Some(Err(refusal(error.rule(), error))),
        };
        self.dispute = events
            .iter()
            .fold(std::mem::take(&mut self.dispute), dispute::evolve);
        Some(Ok(events
            .iter()
            .map(|event| {
                let name = match event {
                    dispute::DisputeEvent::DisputeClaimFiled(_) => "DisputeClaimFiled",
                    dispute::DisputeEvent::DisputeResolved(_) => "DisputeResolved",
                };
                fact_of(name, event)
            })
            .collect()))
    }

    fn recovery_step(&mut self, step: &Step) -> Option<Outcome> {
        let events = match step.verb().as_str() {
            "assess" => {
                let (kind, id) = step
                    .require("debtor")
                    .split_once(':')
                    .expect("debtor=pharmacy:PH-1");
                let debtor = match kind {
                    "pharmacy" => Debtor::Pharmacy(id.to_owned()),
                    "doctor" => Debtor::Doctor(id.to_owned()),
                    _ => Debtor::PrescribingOrganisation(id.to_owned()),
                };
                let ground = if step.get("ground") == Some("R-01") {
                    RecoveryGround::UnjustifiedPrescription
                } else {
                    RecoveryGround::FaultyAfterDispensing
                };
                let assessment = RecoveryAssessed {
                    recovery_id: step.require("id").to_owned(),
                    debtor,
                    ground,
                    inspection_act_ref: step.get("act").unwrap_or("").to_owned(),
                    amount: som(step.require("amount")),
                    assessed_on: step.date("on", "2026-04-01"),
                };
                recovery::decide_assessment(&self.recoveries, assessment).map(|event| vec![event])
            }
            "offsets" => recovery::plan_offsets(
                &self.recoveries,
                step.get("pharmacy").unwrap_or("PH-1"),
                step.get("settlement").unwrap_or("S-1"),
                som(step.require("gross")),
                step.date("on", "2026-05-05"),
            ),
            _ => return None,
        };
        let events = match events {
            Ok(events) => events,
            Err(error) => return Some(Err(refusal(error.rule(), error))),
        };
        self.recoveries = events
            .iter()
            .fold(std::mem::take(&mut self.recoveries), recovery::evolve);
        Some(Ok(events
            .iter()
            .map(|event| {
                let name = match event {
                    RecoveryEvent::RecoveryAssessed(_) => "RecoveryAssessed",
                    RecoveryEvent::RecoveryOffset(_) => "RecoveryOffset",
                };
                fact_of(name, event)
            })
            .collect()))
    }
}

impl World for KgWorld {
    fn setup(&mut self, _: &Step) {}

    fn execute(&mut self, step: &Step) -> Outcome {
        if let Some(outcome) = self.engine.contract_step(step) {
            return outcome;
        }
        if let Some(outcome) = self.settlement_step(step) {
            return outcome;
        }
        if let Some(outcome) = self.dispute_step(step) {
            return outcome;
        }
        if let Some(outcome) = self.recovery_step(step) {
            return outcome;
        }
        match step.verb().as_str() {
            "book" => self.publish(step),
            "prescription" => self.prescribe(step),
            "policy" => self.set_policy(step),
            "limit" => {
                self.limits.push(PatientLimitParameters {
                    effective_from: date(step.require("from")),
                    multiplier: step
                        .get("multiplier")
                        .unwrap_or("300")
                        .parse()
                        .expect("multiplier"),
                    capitation_norm: som(step.require("norm")),
                });
                Ok(Vec::new())
            }
            "compensated" => {
                self.compensated = som(step.require("amount"));
                Ok(Vec::new())
            }
            "prior" => {
                self.prior = Some(units(step.require("units")));
                Ok(Vec::new())
            }
            "dispense" => self.dispense(step),
            other => panic!("unknown kg step \"{other}\""),
        }
    }
}

// ---------------------------------------------------------------- checks

/// `Type` or `Type#n` (the n-th fact of that type, from 1).
fn check_fields(facts: &Facts, selector: &str, step: &Step) -> Result<(), String> {
    let (name, nth) = match selector.split_once('#') {
        Some((name, nth)) => (
            name,
            nth.parse::<usize>()
                .map_err(|_| format!("bad selector {selector}"))?,
        ),
        None => (selector, 1),
    };
    let (_, value) = facts
        .iter()
        .filter(|(fact_name, _)| fact_name == name)
        .nth(nth.saturating_sub(1))
        .ok_or_else(|| format!("no {selector} among the facts"))?;
    common::check_json(selector, value, step)
}

fn check(outcome: &Outcome, state: &Facts, text: &str) -> Result<(), String> {
    let step = Step::parse(text);
    match (step.words.first().map(String::as_str), outcome) {
        (Some("error"), Err(refusal)) => {
            common::check_refusal(refusal.rule, &refusal.message, &step)
        }
        (Some(selector), _) if selector.starts_with("line:") => {
            check_fields(state, selector, &step)
        }
        (_, Err(refusal)) => Err(format!("refused: {} [{}]", refusal.message, refusal.rule)),
        (Some("error"), Ok(facts)) => Err(format!(
            "expected a refusal, got {:?}",
            facts.iter().map(|(name, _)| name).collect::<Vec<_>>()
        )),
        (Some("events"), Ok(facts)) => {
            let actual: Vec<&str> = facts.iter().map(|(name, _)| name.as_str()).collect();
            common::check_types(&actual, text)
        }
        (Some(selector), Ok(facts)) => check_fields(facts, selector, &step),
        (None, _) => Err("empty then".to_owned()),
    }
}

fn world_for(path: &Path) -> Box<dyn World> {
    let directory = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    match directory {
        "budget" => Box::new(BudgetWorld::new()),
        "keys" => Box::new(KeysWorld::new()),
        "kg" => Box::new(KgWorld::new()),
        other => panic!("no world for scenario directory \"{other}\""),
    }
}

impl Scenario for Box<dyn World> {
    type Outcome = Outcome;

    fn setup(&mut self, step: &Step) {
        World::setup(&mut **self, step);
    }

    fn execute(&mut self, step: &Step) -> Outcome {
        World::execute(&mut **self, step)
    }

    fn refused(outcome: &Outcome) -> Option<String> {
        outcome
            .as_ref()
            .err()
            .map(|refused| format!("{} [{}]", refused.message, refused.rule))
    }

    fn check(&self, outcome: &Outcome, then: &str) -> Result<(), String> {
        check(outcome, &self.state(), then)
    }
}

#[test]
fn scenarios_budget_keys_kg() {
    let paths = common::files(&["budget", "keys", "kg"]);
    common::run_all(&paths, SCENARIOS_MIN, world_for);
}

/// The checker itself must be able to fail.
#[test]
fn a_wrong_expectation_fails() {
    let outcome: Outcome = Ok(vec![]);
    assert!(check(&outcome, &Vec::new(), "events BudgetPaid").is_err());
    assert!(check(&outcome, &Vec::new(), "error B-02").is_err());
    assert!(check(&outcome, &Vec::new(), "line:41711 balance=\"1.00 KGS\"").is_err());
    assert!(check(&outcome, &Vec::new(), "events").is_ok());
    let refused: Outcome = Err(refusal("M-15", "capped"));
    assert!(check(&refused, &Vec::new(), "error M-14").is_err());
    assert!(check(&refused, &Vec::new(), "error M-15 \"capped\"").is_ok());
}
