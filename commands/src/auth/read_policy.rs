//! Authorization of reads (issue #14 §3, DESIGN §8): the same policy file and the same roles as the
//! writes, with `[[read]]` rules naming what may be read. One trust boundary: a pharmacy is a
//! Pharmacy only on the contracts it holds (from the log), so "its own contracts" needs no list; the
//! Fund and regulators read everything; analysts read everything with patient identifiers replaced by
//! keyed pseudonyms (`crate::pseudonym`). Anything no rule allows is refused (403 `POLICY-DENY`).

use std::collections::BTreeSet;

use serde::Deserialize;

use super::Role;
use super::policy::{DENY_RULE, Denial, Policy, Request, Scope, list, why_denied};
use super::principal::{Channel, Organisation, Principal};

/// What a read rule may name in `resources` (or `"*"` for all of them).
pub const READ_RESOURCES: [&str; 8] = [
    "events",
    "contracts",
    "registries",
    "acts",
    "deadlines",
    "budgets",
    "history",
    "metrics",
];

/// One `[[read]]` rule of the policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRule {
    pub id: String,
    pub roles: Vec<Role>,
    pub resources: Vec<String>,
    /// `own`: only what belongs to the principal (a contract it holds, its own key stream).
    #[serde(default)]
    pub scope: Scope,
    /// How patients appear in what this rule lets the principal read.
    #[serde(default)]
    pub patients: Patients,
    #[serde(default)]
    pub channels: Option<Vec<Channel>>,
}

/// How patient identifiers (IIN, PIN) appear in an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Patients {
    /// As recorded.
    #[default]
    Clear,
    /// Replaced by keyed pseudonyms (HMAC-SHA256, `--pseudonym-key`), patient names dropped.
    Pseudonymized,
}

/// A read: a resource, and whose it is (the holder of its contract, a key stream's owner; `None`
/// for shared data such as budgets and reference streams, or for a whole collection).
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    pub resource: &'a str,
    /// What is read, for the refusal's message (a stream, a contract, a path).
    pub target: &'a str,
    pub owner: Option<Organisation>,
}

/// What a read rule granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGrant {
    pub rule: String,
    pub role: Role,
    pub scope: Scope,
    pub patients: Patients,
}

impl Policy {
    /// Decides a read: the first `[[read]]` rule that covers the resource, the channel, the scope and
    /// one of the principal's roles allows it. A token's role claim narrows as for writes.
    pub fn authorize_read(
        &self,
        principal: &Principal,
        read: &ReadRequest<'_>,
    ) -> Result<ReadGrant, Denial> {
        let request = Request {
            command_type: read.resource,
            stream: read.target,
            owner: read.owner,
        };
        let held = self.roles(principal, &request);
        let acting: BTreeSet<Role> = match principal.claimed_role {
            Some(claimed) if held.contains(&claimed) => BTreeSet::from([claimed]),
            Some(claimed) => {
                return Err(Denial {
                    rule: DENY_RULE,
                    message: format!(
                        "{principal} claims the role {claimed}, which the policy does not give it for {} \"{}\" (it holds {})",
                        read.resource,
                        read.target,
                        list(&held)
                    ),
                });
            }
            None => held,
        };
        let own = read.owner == Some(principal.organisation);
        for rule in &self.reads {
            if !rule.covers(read.resource, principal.channel) || (rule.scope == Scope::Own && !own)
            {
                continue;
            }
            if let Some(&role) = rule.roles.iter().find(|role| acting.contains(role)) {
                return Ok(ReadGrant {
                    rule: rule.id.clone(),
                    role,
                    scope: rule.scope,
                    patients: rule.patients,
                });
            }
        }
        Err(self.read_denial(principal, read, &acting))
    }

    /// Whether some rule could let `principal` read `resource` at all (on its own data at best): a
    /// collection is refused as a whole when not, and filtered item by item when so.
    pub fn may_read_some(&self, principal: &Principal, resource: &str) -> Result<(), Denial> {
        let own = ReadRequest {
            resource,
            target: resource,
            owner: Some(principal.organisation),
        };
        self.authorize_read(principal, &own).map(|_| ())
    }

    /// Whether some organisation the policy lists holds a role whose reads are pseudonymized (then a
    /// reader needs a pseudonym key).
    pub fn pseudonymizes_someone(&self) -> bool {
        self.reads
            .iter()
            .filter(|rule| rule.patients == Patients::Pseudonymized)
            .flat_map(|rule| &rule.roles)
            .any(|role| {
                self.organisations
                    .values()
                    .any(|roles| roles.contains(role))
            })
    }

    fn read_denial(
        &self,
        principal: &Principal,
        read: &ReadRequest<'_>,
        acting: &BTreeSet<Role>,
    ) -> Denial {
        let allowing: Vec<String> = self
            .reads
            .iter()
            .filter(|rule| rule.names(read.resource))
            .map(ReadRule::describe)
            .collect();
        Denial {
            rule: DENY_RULE,
            message: format!(
                "{principal} may not read {} \"{}\": {}",
                read.resource,
                read.target,
                why_denied(acting, &allowing)
            ),
        }
    }
}

impl ReadRule {
    fn names(&self, resource: &str) -> bool {
        self.resources
            .iter()
            .any(|named| named == resource || named == "*")
    }

    fn covers(&self, resource: &str, channel: Channel) -> bool {
        let channel = self
            .channels
            .as_ref()
            .is_none_or(|channels| channels.contains(&channel));
        self.names(resource) && channel
    }

    fn describe(&self) -> String {
        let roles: Vec<String> = self.roles.iter().map(ToString::to_string).collect();
        let mut text = format!("read rule \"{}\" ({}", self.id, roles.join(" or "));
        if self.scope == Scope::Own {
            text.push_str(" on its own contracts");
        }
        if self.patients == Patients::Pseudonymized {
            text.push_str(", patients pseudonymized");
        }
        text.push(')');
        text
    }
}

/// Checks a read rule when the policy loads: known resources, and analysts never see patients in
/// clear (DESIGN §9: patient identifiers leave only to principals entitled to them).
pub(super) fn check_read_rule(rule: &ReadRule) -> anyhow::Result<()> {
    anyhow::ensure!(!rule.id.is_empty(), "a read rule has an empty id");
    anyhow::ensure!(
        !rule.roles.is_empty(),
        "read rule \"{}\" names no role",
        rule.id
    );
    anyhow::ensure!(
        !rule.resources.is_empty(),
        "read rule \"{}\" names no resource",
        rule.id
    );
    for resource in &rule.resources {
        anyhow::ensure!(
            resource == "*" || READ_RESOURCES.contains(&resource.as_str()),
            "read rule \"{}\" names the unknown resource \"{resource}\"; known: {}",
            rule.id,
            READ_RESOURCES.join(", ")
        );
    }
    anyhow::ensure!(
        !(rule.roles.contains(&Role::Analyst) && rule.patients == Patients::Clear),
        "read rule \"{}\" shows patients in clear to Analyst; analysts read with patients = \"pseudonymized\"",
        rule.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUND: &str = "900101300007";
    const HOLDER: &str = "010203400011";
    const OTHER: &str = "020304500029";
    const REGULATOR: &str = "030405600036";
    const ANALYST: &str = "040506700043";

    fn organisation(text: &str) -> Organisation {
        text.parse().unwrap()
    }

    fn policy() -> Policy {
        let text = super::super::policy::DEFAULT_POLICY.replace(
            "Regulator = []\nAnalyst = []",
            &format!("Regulator = [\"{REGULATOR}\"]\nAnalyst = [\"{ANALYST}\"]"),
        );
        Policy::parse(&text, organisation(FUND)).expect("the default policy loads")
    }

    fn by_certificate(text: &str) -> Principal {
        Principal {
            organisation: organisation(text),
            person: None,
            claimed_role: None,
            channel: Channel::Certificate,
            credential: "test".into(),
        }
    }

    fn read(resource: &'static str, owner: Option<&str>) -> ReadRequest<'static> {
        ReadRequest {
            resource,
            target: "contract/KZ-008",
            owner: owner.map(organisation),
        }
    }

    #[test]
    fn a_pharmacy_reads_its_own_contracts_only() {
        let policy = policy();
        let holder = by_certificate(HOLDER);
        for resource in [
            "events",
            "contracts",
            "registries",
            "acts",
            "deadlines",
            "history",
        ] {
            let grant = policy
                .authorize_read(&holder, &read(resource, Some(HOLDER)))
                .unwrap_or_else(|denial| panic!("{resource}: {}", denial.message));
            assert_eq!(
                (grant.role, grant.patients),
                (Role::Pharmacy, Patients::Clear)
            );
            let denial = policy
                .authorize_read(&by_certificate(OTHER), &read(resource, Some(HOLDER)))
                .unwrap_err();
            assert_eq!(denial.rule, DENY_RULE);
            assert!(
                denial.message.contains("may not read") && denial.message.contains("KZ-008"),
                "{}",
                denial.message
            );
        }
        for resource in ["budgets", "metrics"] {
            assert!(
                policy
                    .authorize_read(&holder, &read(resource, None))
                    .is_err()
            );
            assert!(
                policy.may_read_some(&holder, resource).is_err(),
                "{resource}"
            );
        }
        assert!(
            policy
                .may_read_some(&by_certificate(OTHER), "events")
                .is_ok()
        );
    }

    #[test]
    fn the_fund_and_regulators_read_everything_analysts_pseudonymized() {
        let policy = policy();
        for resource in READ_RESOURCES {
            for reader in [FUND, REGULATOR] {
                let grant = policy
                    .authorize_read(&by_certificate(reader), &read(resource, Some(HOLDER)))
                    .unwrap();
                assert_eq!(grant.patients, Patients::Clear, "{reader} {resource}");
            }
            let analyst = policy.authorize_read(&by_certificate(ANALYST), &read(resource, None));
            match resource {
                "metrics" => assert!(analyst.is_err()),
                _ => assert_eq!(analyst.unwrap().patients, Patients::Pseudonymized),
            }
        }
        assert!(policy.pseudonymizes_someone());
        let without_analysts =
            Policy::parse(super::super::policy::DEFAULT_POLICY, organisation(FUND)).unwrap();
        assert!(!without_analysts.pseudonymizes_someone());
    }

    #[test]
    fn a_token_role_claim_narrows_reads_too() {
        let policy = policy();
        let mut regulator = by_certificate(REGULATOR);
        regulator.channel = Channel::Token;
        regulator.claimed_role = Some(Role::Fund);
        let denial = policy
            .authorize_read(&regulator, &read("events", None))
            .unwrap_err();
        assert!(
            denial.message.contains("claims the role Fund"),
            "{}",
            denial.message
        );
    }

    #[test]
    fn read_rules_are_checked_when_the_policy_loads() {
        let fund = organisation(FUND);
        let unknown = "[[read]]\nid = \"x\"\nroles = [\"Fund\"]\nresources = [\"payments\"]\n";
        let error = Policy::parse(unknown, fund).unwrap_err().to_string();
        assert!(error.contains("unknown resource \"payments\""), "{error}");
        let clear = "[[read]]\nid = \"x\"\nroles = [\"Analyst\"]\nresources = [\"events\"]\n";
        let error = Policy::parse(clear, fund).unwrap_err().to_string();
        assert!(error.contains("patients in clear to Analyst"), "{error}");
        let twice = "[[read]]\nid = \"x\"\nroles = [\"Fund\"]\nresources = [\"*\"]\n\
                     [[read]]\nid = \"x\"\nroles = [\"Fund\"]\nresources = [\"*\"]\n";
        let error = Policy::parse(twice, fund).unwrap_err().to_string();
        assert!(error.contains("defined twice"), "{error}");
    }
}
