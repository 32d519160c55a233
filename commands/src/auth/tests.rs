//! The default policy (`deploy/policy.toml`) decided for the principals of the trust-boundary issue
//! (#13): the Fund, a contract's holder, another pharmacy, a regulator, an analyst and the local
//! operator.

use super::Role;
use super::policy::{DENY_RULE, Policy, Request};
use super::principal::{Channel, Organisation, Principal};

const FUND: &str = "900101300007";
const HOLDER: &str = "010203400011";
const OTHER: &str = "020304500029";
const REGULATOR: &str = "030405600036";
const ANALYST: &str = "040506700043";

fn organisation(text: &str) -> Organisation {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn policy() -> Policy {
    let text = super::policy::DEFAULT_POLICY.replace(
        "Regulator = []\nAnalyst = []",
        &format!("Regulator = [\"{REGULATOR}\"]\nAnalyst = [\"{ANALYST}\"]"),
    );
    Policy::parse(&text, organisation(FUND)).expect("the default policy loads")
}

fn over(channel: Channel, text: &str) -> Principal {
    Principal {
        organisation: organisation(text),
        person: None,
        claimed_role: None,
        channel,
        credential: "test".into(),
    }
}

fn dispensing(owner: &str) -> Request<'static> {
    Request {
        command_type: "RecordDispensing",
        stream: "period/KZ-008/2026-02",
        owner: Some(organisation(owner)),
    }
}

#[test]
fn the_holder_dispenses_on_its_own_contract_only() {
    let policy = policy();
    let grant = policy
        .authorize(&over(Channel::Certificate, HOLDER), &dispensing(HOLDER))
        .expect("the holder may dispense");
    assert_eq!(
        (grant.rule.as_str(), grant.role),
        ("pharmacy-period", Role::Pharmacy)
    );
    let denial = policy
        .authorize(&over(Channel::Certificate, OTHER), &dispensing(HOLDER))
        .unwrap_err();
    assert_eq!(denial.rule, DENY_RULE);
    assert!(
        denial.message.contains("RecordDispensing"),
        "{}",
        denial.message
    );
    assert!(
        denial.message.contains("period/KZ-008/2026-02"),
        "{}",
        denial.message
    );
    assert!(
        denial.message.contains("pharmacy-period"),
        "{}",
        denial.message
    );
}

/// The attempts listed at the top of issue #13: the Fund, a regulator and another pharmacy recording a
/// dispensing are all refused.
#[test]
fn the_fund_and_regulators_do_not_dispense() {
    let policy = policy();
    for principal in [FUND, REGULATOR, ANALYST, OTHER] {
        let refused = policy.authorize(&over(Channel::Token, principal), &dispensing(HOLDER));
        assert!(refused.is_err(), "{principal} must not dispense");
    }
}

#[test]
fn only_the_fund_publishes_prices_and_pays() {
    let policy = policy();
    for command_type in [
        "PublishPriceList",
        "MakePayment",
        "AllocateBudget",
        "ApproveRegistry",
    ] {
        let request = Request {
            command_type,
            stream: "reference/prices/KZ",
            owner: None,
        };
        let grant = policy
            .authorize(&over(Channel::Certificate, FUND), &request)
            .unwrap();
        assert_eq!(grant.role, Role::Fund);
        for principal in [HOLDER, REGULATOR, ANALYST] {
            assert!(
                policy
                    .authorize(&over(Channel::Certificate, principal), &request)
                    .is_err()
            );
        }
    }
}

#[test]
fn a_key_owner_registers_only_its_own_keys() {
    let policy = policy();
    let own = Request {
        command_type: "RegisterSigningKey",
        stream: "keys/010203400011",
        owner: Some(organisation(HOLDER)),
    };
    assert!(
        policy
            .authorize(&over(Channel::Certificate, HOLDER), &own)
            .is_ok()
    );
    assert!(
        policy
            .authorize(&over(Channel::Certificate, OTHER), &own)
            .is_err()
    );
    // Not even the Fund registers another organisation's key.
    assert!(
        policy
            .authorize(&over(Channel::Certificate, FUND), &own)
            .is_err()
    );
}

#[test]
fn the_local_operator_administers_only_locally() {
    let policy = policy();
    let grant = policy
        .authorize(&over(Channel::Local, FUND), &dispensing(HOLDER))
        .expect("local administration");
    assert_eq!(grant.role, Role::Operator);
    assert!(
        policy
            .authorize(&over(Channel::Certificate, FUND), &dispensing(HOLDER))
            .is_err()
    );
    // The Fund's own commands keep the Fund's role locally (the first matching rule decides).
    let pay = Request {
        command_type: "MakePayment",
        stream: "period/KZ-008/2026-02",
        owner: Some(organisation(HOLDER)),
    };
    assert_eq!(
        policy
            .authorize(&over(Channel::Local, FUND), &pay)
            .unwrap()
            .role,
        Role::Fund
    );
}

#[test]
fn a_token_role_claim_narrows_and_cannot_grant() {
    let policy = policy();
    let mut fund_as_operator = over(Channel::Token, FUND);
    fund_as_operator.claimed_role = Some(Role::Regulator);
    let denial = policy
        .authorize(
            &fund_as_operator,
            &Request {
                command_type: "MakePayment",
                stream: "period/KZ-008/2026-02",
                owner: None,
            },
        )
        .unwrap_err();
    assert!(
        denial.message.contains("claims the role Regulator"),
        "{}",
        denial.message
    );
}

#[test]
fn policies_that_would_let_readers_write_are_refused_at_load() {
    let fund = organisation(FUND);
    let writer_regulator =
        "[[allow]]\nid = \"x\"\nroles = [\"Regulator\"]\ncommands = [\"MakePayment\"]\n";
    let error = Policy::parse(writer_regulator, fund)
        .unwrap_err()
        .to_string();
    assert!(error.contains("never writes"), "{error}");
    let unknown = "[[allow]]\nid = \"x\"\nroles = [\"Fund\"]\ncommands = [\"PayEverybody\"]\n";
    let error = Policy::parse(unknown, fund).unwrap_err().to_string();
    assert!(error.contains("PayEverybody"), "{error}");
    let pharmacy = "[organisations]\nPharmacy = [\"010203400011\"]\n";
    assert!(Policy::parse(pharmacy, fund).is_err());
    let twice = "[[allow]]\nid = \"x\"\nroles = [\"Fund\"]\ncommands = [\"*\"]\n[[allow]]\nid = \"x\"\nroles = [\"Fund\"]\ncommands = [\"*\"]\n";
    assert!(
        Policy::parse(twice, fund)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
}

/// Every command type of the JSON writer is allowed to someone by the default policy (no command is
/// accidentally unreachable), and none to regulators or analysts.
#[test]
fn every_command_type_has_a_writer_and_readers_have_none() {
    let policy = policy();
    for command_type in crate::submit::wire::WireCommand::TYPES {
        let request = Request {
            command_type,
            stream: "contract/KZ-001",
            owner: Some(organisation(HOLDER)),
        };
        let by_fund = policy.authorize(&over(Channel::Certificate, FUND), &request);
        let by_holder = policy.authorize(&over(Channel::Certificate, HOLDER), &request);
        assert!(
            by_fund.is_ok() || by_holder.is_ok(),
            "{command_type} has no writer"
        );
        for reader in [REGULATOR, ANALYST] {
            assert!(
                policy
                    .authorize(&over(Channel::Certificate, reader), &request)
                    .is_err()
            );
        }
    }
}
