//! Golden fixtures of the events (issue #3, STYLE §2.8): one real example of every event type in
//! `Event::TYPES`, checked in as codec bytes (`schemas/golden/<Type>/v<N>.bin`) and JSON (`v<N>.json`).
//!
//! An example is the first event of its type the demo writes. The types the demo does not produce take
//! their example from [`decided_examples`]: short runs of the domain's own decide functions on
//! realistic input (valid BIN/IIN check digits, KZT/KGS amounts, dates in order), so every golden is a
//! decision the domain really makes. The test decodes the checked-in bytes, checks they agree with the
//! JSON, checks that the sources still produce exactly those bytes, and fails when a type has no golden.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test event_golden` and review the
//! diff (docs/schema-evolution.md).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use ledger::domain::budget::{
    self, Allocate, Budget, BudgetCommand, BudgetId, ChargeCarriedOverrun, CloseYear, FiscalYear,
    Pay, Redistribute, ServiceMonth,
};
use ledger::domain::context::DecisionContext;
use ledger::domain::contract::events::{Applicant, Party};
use ledger::domain::contract::kg::{self as kg_contract, KgContractCommand, TaxDebtCheck};
use ledger::domain::contract::{ChangeIssCertification, ChangePharmacyNetwork, ContractCommand};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{
    self, KeyCommand, KeyId, KeyRing, RegisterSigningKey, RevokeSigningKey,
};
use ledger::domain::kg::dispute::{
    self, Dispute, DisputeCommand, DisputeDecision, FileDisputeClaim, ResolveDispute,
};
use ledger::domain::kg::recovery::{self, Debtor, Recoveries, RecoveryAssessed, RecoveryGround};
use ledger::domain::kg::{
    self, DrugId, PriceBasis, ReferenceBookEntry, ReferenceBookPublished, ReferenceBooks,
};
use ledger::domain::money::{Currency, Money};
use ledger::domain::region::{Programme, Region};
use ledger::domain::rules::{RuleBook, RuleParameters, RuleSet};
use ledger::domain::testkit::{
    AcceptAllSignatures, WeekdayCalendar, World, at, bin, company_application, day, fund_bin, iin,
    network, review,
};
use ledger::domain::values::{ContractId, DocumentNumber, KgTin, OrganisationName};
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{EventLog, Offset, PartitionId, Payload, read_partition};
use ledger_commands::demo::{self, DemoOptions, Progress};

#[path = "event_golden/seal.rs"]
mod seal_example;

/// The folder of `schemas/golden/` that holds the envelope, not an event type.
const ENVELOPE_DIR: &str = "envelope";

struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish_phase(&self) {}
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/golden")
}

/// The demo's example of each type it writes: the one with the smallest (stream, version), which is
/// independent of write interleaving.
async fn demo_examples() -> BTreeMap<String, Payload> {
    let dir = tempfile::tempdir().unwrap();
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir.path(), options).unwrap());
    let demo_options = DemoOptions {
        dispensings: 60,
        networks: 3,
        kg_dispensings: 120,
        ..DemoOptions::default()
    };
    demo::run(Arc::clone(&log), &demo_options, &Quiet)
        .await
        .expect("the demo runs");
    let mut examples: BTreeMap<String, (String, u64, Payload)> = BTreeMap::new();
    for partition in 0..log.partitions() {
        let mut records = read_partition(&*log, PartitionId(partition), Offset(0));
        while let Some(envelope) = records.next().await {
            let body = envelope.unwrap().body;
            if seal_example::NOT_REPRODUCIBLE.contains(&body.payload.event_type.as_str()) {
                continue;
            }
            let key = (body.stream.to_string(), body.stream_version.0);
            let entry = examples.entry(body.payload.event_type.clone()).or_insert((
                key.0.clone(),
                key.1,
                body.payload.clone(),
            ));
            if (key.0.as_str(), key.1) < (entry.0.as_str(), entry.1) {
                *entry = (key.0, key.1, body.payload);
            }
        }
    }
    examples
        .into_iter()
        .map(|(event_type, (_, _, payload))| (event_type, payload))
        .collect()
}

/// Every example: the demo's, then the first decided example of each type the demo does not write.
async fn examples() -> BTreeMap<String, Payload> {
    let mut examples = demo_examples().await;
    for event in decided_examples() {
        if !examples.contains_key(event.event_type()) {
            let payload = event.to_payload().expect("decided events encode");
            examples.insert(event.event_type().to_owned(), payload);
        }
    }
    examples
}

/// Decides `commands` in order, folding each accepted command's events into the state as the command
/// handler would; every command must be accepted. Returns all events, lifted into [`Event`].
fn decide_all<S, C, E, X>(
    mut state: S,
    commands: Vec<C>,
    decide: impl Fn(&S, C) -> Result<Vec<E>, X>,
    evolve: impl Fn(S, &E) -> S,
) -> Vec<Event>
where
    C: Debug,
    X: Debug,
    Event: From<E>,
{
    let mut decided = Vec::new();
    for command in commands {
        let label = format!("{command:?}");
        let events =
            decide(&state, command).unwrap_or_else(|error| panic!("{label} is refused: {error:?}"));
        state = events.iter().fold(state, &evolve);
        decided.extend(events.into_iter().map(Event::from));
    }
    decided
}

/// The examples of the event types the demo does not produce, each from a real decision.
fn decided_examples() -> Vec<Event> {
    let mut events = kz_contract_examples();
    events.extend(kg_contract_examples());
    events.extend(kg_budget_examples());
    events.extend(key_examples());
    events.extend(kg_reference_book_examples());
    events.extend(kg_dispute_examples());
    events.extend(kg_recovery_examples());
    events.extend(seal_example::seal_examples());
    // KG settlement (period::kg): the example period, recorded, reported, approved and paid.
    events.extend(ledger::domain::period::kg::example::settlement());
    events.extend(breach_examples());
    events
}

/// A breach (issue #17, D-02): a contract concluded in January 2026 never submits January's
/// registry; the watcher observes it on 2 March, after the 25 February due date.
fn breach_examples() -> Vec<Event> {
    use ledger::domain::breach::RecordDeadlineBreach;
    use ledger::domain::clock::ClockRule;
    use ledger::domain::period::PeriodCommand;
    let mut world = World::kz().with_concluded_contract();
    world
        .period(
            World::january(),
            PeriodCommand::RecordDeadlineBreach(RecordDeadlineBreach {
                rule: ClockRule::RegistrySubmission,
                observed_at: at("2026-03-02T09:00:00+05:00"),
            }),
        )
        .unwrap_or_else(|error| panic!("the breach is refused: {error}"))
}

fn kz_contract(world: &mut World, command: ContractCommand) -> Vec<Event> {
    world
        .contract(command)
        .unwrap_or_else(|error| panic!("the KZ contract command is refused: {error}"))
}

/// KZ (D-01, E-01, A-32, E-05): a network of 69 pharmacies is refused; a network of 70 is concluded,
/// then grows by one pharmacy in Almaty and later loses its ISS test act.
fn kz_contract_examples() -> Vec<Event> {
    let holder = bin("16054001234");
    let pharmacies = network(&format!("LIC-{holder}"), 71, 3, holder);
    let application = |contract_id: &str, count: usize| {
        let mut application =
            company_application("2026-01-05T10:00:00+05:00", pharmacies[..count].to_vec());
        application.contract_id = ContractId::new(contract_id).unwrap();
        application.applicant = Applicant::PharmacyCompany {
            bin: holder,
            name: OrganisationName::new("ТОО «Дари Фарм»").unwrap(),
        };
        application
    };
    let mut refused = World::kz();
    kz_contract(
        &mut refused,
        ContractCommand::ReceiveApplication(application("KZ-201", 69)),
    );
    let mut events = kz_contract(
        &mut refused,
        ContractCommand::ReviewApplication(review("2026-01-09T11:00:00+05:00")),
    );
    let mut concluded = World::kz();
    for command in [
        ContractCommand::ReceiveApplication(application("KZ-202", 70)),
        ContractCommand::ReviewApplication(review("2026-01-09T11:30:00+05:00")),
        ContractCommand::ChangePharmacyNetwork(ChangePharmacyNetwork {
            changed_at: at("2026-02-16T09:00:00+05:00"),
            added: pharmacies[70..].to_vec(),
            removed: Vec::new(),
            members_joined: Vec::new(),
            members_left: Vec::new(),
        }),
        ContractCommand::ChangeIssCertification(ChangeIssCertification {
            changed_at: at("2026-04-20T15:00:00+05:00"),
            certified: false,
            test_act: None,
        }),
    ] {
        events.extend(kz_contract(&mut concluded, command));
    }
    events
}

/// KG contract (C-07, E-10, C-08, A-22): concluded after a clean tax check, renewed at its first
/// anniversary, objected to by the Fund during the second term, and expired at its end.
fn kg_contract_examples() -> Vec<Event> {
    let calendar = WeekdayCalendar::kg();
    let rules = RuleBook::new(vec![RuleSet {
        jurisdiction: Jurisdiction::KG,
        version: 1,
        effective_from: day("2025-01-01"),
        effective_to: None,
        parameters: RuleParameters::kg_default(),
    }])
    .expect("valid KG rules");
    let ctx = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund_bin(),
    };
    let commands = vec![
        KgContractCommand::ReceiveApplication {
            contract_id: ContractId::new("KG-014").unwrap(),
            received_at: at("2025-02-03T10:00:00+06:00"),
            applicant: KgTin::new("02303201910087").unwrap(),
            name: OrganisationName::new("ОсОО «Нео-Фарм»").unwrap(),
        },
        KgContractCommand::Conclude {
            concluded_at: at("2025-02-05T11:00:00+06:00"),
            tax_check: TaxDebtCheck {
                checked_on: day("2025-02-05"),
                has_debts: false,
                reference: DocumentNumber::new("STS-2025-0205-118").unwrap(),
            },
        },
        KgContractCommand::DecideRenewal {
            at: at("2026-02-05T09:00:00+06:00"),
        },
        KgContractCommand::FileObjection {
            filed_at: at("2026-11-16T14:00:00+06:00"),
            party: Party::Fund,
            reason: "repeated findings of the 2026 planned inspections".to_owned(),
        },
        KgContractCommand::DecideRenewal {
            at: at("2027-02-05T09:00:00+06:00"),
        },
    ];
    decide_all(
        kg_contract::KgContractState::default(),
        commands,
        |state, command| kg_contract::decide(state, command, &ctx),
        kg_contract::evolve,
    )
}

fn som(minor: i64) -> Money {
    Money::new(minor, Currency::KGS)
}

fn kg_region(code: &str) -> Region {
    Region::new(Jurisdiction::KG, code).expect("a KG region code")
}

fn kg_budget(year: i32) -> Budget {
    let id = BudgetId::new(
        Jurisdiction::KG,
        Programme::KgChiAdditional,
        FiscalYear(year),
    )
    .expect("the KG programme is budgeted in KG");
    Budget::new(id)
}

fn allocate(region: &str, amount_minor: i64, on: &str, basis: &str) -> BudgetCommand {
    BudgetCommand::Allocate(Allocate {
        region: kg_region(region),
        amount: som(amount_minor),
        on: day(on),
        basis: basis.to_owned(),
    })
}

fn pay_november(region: &str, amount_minor: i64) -> BudgetCommand {
    BudgetCommand::Pay(Pay {
        region: kg_region(region),
        amount: som(amount_minor),
        payment_ref: format!("PO-2026-11-{region}"),
        act_ref: format!("ACT-KG-2026-11-{region}"),
        service_month: ServiceMonth::new(2026, 11).unwrap(),
        on: day("2026-12-10"),
    })
}

/// KG budget (B-04, B-02, B-03): Bishkek (41711) gives Osh (41721) part of its 2026 line, Osh
/// overspends in November, the year close expires Bishkek's unused balance and carries Osh's overspend
/// to 2027, where it is charged to the new line.
fn kg_budget_examples() -> Vec<Event> {
    let law_2026 = "republican budget law for 2026";
    let mut events = decide_all(
        kg_budget(2026),
        vec![
            allocate("41711", 18_000_000_000, "2026-01-05", law_2026),
            allocate("41721", 6_000_000_000, "2026-01-05", law_2026),
            BudgetCommand::Redistribute(Redistribute {
                from_region: kg_region("41711"),
                to_region: kg_region("41721"),
                amount: som(850_000_000),
                on: day("2026-07-01"),
                basis: "mid-year utilisation analysis".to_owned(),
            }),
            pay_november("41711", 15_000_000_000),
            pay_november("41721", 7_000_000_000),
            BudgetCommand::CloseYear(CloseYear {
                on: day("2027-01-15"),
            }),
        ],
        budget::decide,
        budget::evolve,
    );
    events.extend(decide_all(
        kg_budget(2027),
        vec![
            allocate(
                "41721",
                6_500_000_000,
                "2027-01-05",
                "republican budget law for 2027",
            ),
            BudgetCommand::ChargeCarriedOverrun(ChargeCarriedOverrun {
                region: kg_region("41721"),
                amount: som(150_000_000),
                from_fiscal_year: FiscalYear(2026),
                on: day("2027-01-16"),
            }),
        ],
        budget::decide,
        budget::evolve,
    ));
    events
}

/// Signing keys (S-01): a pharmacy's key, bound to its signatory, is revoked after the token is lost.
fn key_examples() -> Vec<Event> {
    let pharmacy = bin("16054001234");
    let key_id = KeyId::new(&format!("EDS-{pharmacy}-2")).unwrap();
    let secret = SigningKey::from_bytes(&[0x2a; 32]);
    let commands = vec![
        KeyCommand::Register(RegisterSigningKey {
            key_id: key_id.clone(),
            public_key: keys::public_key_hex(&secret),
            valid_from: at("2026-01-01T00:00:00+05:00"),
            valid_to: at("2026-12-31T23:59:59+05:00"),
            signatory_iin: Some(iin("85031545012")),
        }),
        KeyCommand::Revoke(RevokeSigningKey {
            key_id,
            revoked_at: at("2026-06-18T09:30:00+05:00"),
            reason: "token reported lost by the signatory".to_owned(),
        }),
    ];
    decide_all(KeyRing::new(pharmacy), commands, keys::decide, keys::evolve)
}

/// The KG Reference Book (M-10, M-13, A-16): the first version, prices per tablet in KGS.
fn kg_reference_book_examples() -> Vec<Event> {
    let entry = |drug_id: &str, inn: &str, trade_name: &str, group: &str, prices: (&str, &str)| {
        ReferenceBookEntry {
            drug_id: DrugId::new(drug_id).unwrap(),
            inn: inn.to_owned(),
            trade_name: trade_name.to_owned(),
            generic_group: group.to_owned(),
            unit: "tablet".to_owned(),
            package_size: 30,
            reference_price_per_unit: prices.0.parse().unwrap(),
            compensation_per_unit: prices.1.parse().unwrap(),
            source_basis: PriceBasis::PerUnit,
        }
    };
    let book = ReferenceBookPublished {
        version: 1,
        published_on: day("2025-12-22"),
        effective_from: day("2026-01-01"),
        entries: vec![
            entry(
                "MET-500-SIOFOR",
                "Metformin",
                "Siofor 500",
                "metformin-500-oral",
                ("4.20", "3.15"),
            ),
            entry(
                "AML-5-NORVASC",
                "Amlodipine",
                "Norvasc 5",
                "amlodipine-5-oral",
                ("6.80", "5.10"),
            ),
        ],
    };
    let book = kg::decide_publish(&ReferenceBooks::new(), book)
        .unwrap_or_else(|error| panic!("the reference book is refused: {error}"));
    vec![Event::ReferenceBookPublished(book)]
}

/// KG disputes: a claim inside the dispensing month, resolved by a commission of
/// three with a partial payment recorded in its protocol.
fn kg_dispute_examples() -> Vec<Event> {
    let commands = vec![
        DisputeCommand::File(FileDisputeClaim {
            dispute_id: "DSP-KG-2026-0007".to_owned(),
            contract_id: "KG-014".to_owned(),
            prescription_number: "RX-KG-2026-031542".to_owned(),
            dispensed_on: day("2026-03-10"),
            filed_at: at("2026-03-12T10:00:00+06:00"),
            filed_on: day("2026-03-12"),
            claimant: "ОсОО «Нео-Фарм»".to_owned(),
            claim: "compensation for 60 tablets was withheld; the patient confirms the dispensing"
                .to_owned(),
            report_submitted_at: Some(at("2026-04-05T12:00:00+06:00")),
        }),
        DisputeCommand::Resolve(ResolveDispute {
            protocol_id: "PR-2026-03-07".to_owned(),
            commission_members: vec![
                "Асанов А. Т.".to_owned(),
                "Бекова Г. С.".to_owned(),
                "Токтогулов Н. К.".to_owned(),
            ],
            decision: DisputeDecision::PayAmount(som(18_900)),
            resolved_on: day("2026-03-25"),
        }),
    ];
    decide_all(Dispute::None, commands, dispute::decide, dispute::evolve)
}

/// KG recovery: a faulty prescription found after dispensing is assessed against the
/// pharmacy and offset in its next settlement.
fn kg_recovery_examples() -> Vec<Event> {
    let assessed = RecoveryAssessed {
        recovery_id: "REC-KG-2026-0031".to_owned(),
        debtor: Debtor::Pharmacy("02303201910087".to_owned()),
        ground: RecoveryGround::FaultyAfterDispensing,
        inspection_act_ref: "INS-KG-2026-0412".to_owned(),
        amount: som(412_050),
        assessed_on: day("2026-04-14"),
    };
    let assessed = recovery::decide_assessment(&Recoveries::new(), assessed)
        .unwrap_or_else(|error| panic!("the assessment is refused: {error}"));
    let recoveries = recovery::evolve(Recoveries::new(), &assessed);
    let offsets = recovery::plan_offsets(
        &recoveries,
        "02303201910087",
        "SET-KG-2026-05-014",
        som(2_375_000),
        day("2026-05-06"),
    )
    .unwrap_or_else(|error| panic!("the offsets are refused: {error}"));
    std::iter::once(assessed)
        .chain(offsets)
        .map(Event::from)
        .collect()
}

/// Checks (or under `UPDATE_GOLDEN` writes) one type's golden files against its example.
fn check_golden(event_type: &str, payload: &Payload, update: bool) {
    let base = golden_dir().join(event_type);
    let bin = base.join(format!("v{}.bin", payload.schema_version));
    let json = base.join(format!("v{}.json", payload.schema_version));
    let event = Event::from_payload(payload).expect("examples decode");
    if update {
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(&bin, &payload.data).unwrap();
        std::fs::write(&json, serde_json::to_string_pretty(&event).unwrap() + "\n").unwrap();
    }
    let stored = std::fs::read(&bin)
        .unwrap_or_else(|error| panic!("{}: {error}; run with UPDATE_GOLDEN=1", bin.display()));
    assert_eq!(
        stored,
        payload.data,
        "{event_type}: the example no longer encodes to the golden bytes {}; if the wire change is \
         deliberate, bump the schema version (docs/schema-evolution.md)",
        bin.display()
    );
    let stored_payload = Payload {
        data: stored,
        ..payload.clone()
    };
    let decoded = Event::from_payload(&stored_payload).expect("the checked-in bytes decode");
    let from_json: Event = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .expect("the checked-in JSON decodes");
    assert_eq!(
        decoded, from_json,
        "{event_type}: golden bytes and JSON disagree"
    );
    assert_eq!(
        from_json.to_payload().unwrap().data,
        stored_payload.data,
        "{event_type}: JSON re-encodes to the golden bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_matches_its_golden_fixture() {
    let examples = examples().await;
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (event_type, payload) in &examples {
        check_golden(event_type, payload, update);
    }
    let missing: Vec<&str> = Event::TYPES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !examples.contains_key(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "no golden example of {missing:?}: add a decision producing it to decided_examples()"
    );
    for (name, version) in Event::TYPES {
        assert_eq!(
            examples[*name].schema_version, *version,
            "{name}: the golden example is not of the current schema version"
        );
    }
}

/// A folder under `schemas/golden/` names an event type that exists (or the envelope): a renamed or
/// removed type must not leave fixtures that nothing checks.
#[test]
fn every_golden_folder_names_an_event_type() {
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(golden_dir()).expect("schemas/golden exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let known =
            name == ENVELOPE_DIR || Event::TYPES.iter().any(|(type_name, _)| *type_name == name);
        if !known {
            orphans.push(name);
        }
    }
    assert!(
        orphans.is_empty(),
        "schemas/golden/ has folders of no event type: {orphans:?}"
    );
}
