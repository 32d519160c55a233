//! Authorization as data (issue #13, DESIGN §8): a TOML policy says which roles may issue which command
//! types on which streams; the principal's roles come from the policy (the Fund, regulators, analysts,
//! operators) and from the log (the holder of a contract is a Pharmacy on that contract's streams and
//! nowhere else). The built-in default is `deploy/policy.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::Role;
use super::principal::{Channel, Organisation, Principal};
use super::read_policy::{ReadRule, check_read_rule};
use crate::submit::wire::WireCommand;

/// The policy compiled into the binary: `deploy/policy.toml`.
pub const DEFAULT_POLICY: &str = include_str!("../../../deploy/policy.toml");

/// The rule id of a refusal for which no rule allows the command.
pub const DENY_RULE: &str = "POLICY-DENY";

/// The loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) organisations: BTreeMap<Organisation, BTreeSet<Role>>,
    local_operator: Organisation,
    rules: Vec<AllowRule>,
    /// The read rules (`[[read]]`, issue #14): see `super::read_policy`.
    pub(super) reads: Vec<ReadRule>,
}

/// One rule of the policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    pub id: String,
    pub roles: Vec<Role>,
    pub commands: Vec<String>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub channels: Option<Vec<Channel>>,
}

/// Whose streams a rule covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Any,
    /// Only streams that belong to the principal (see [`Policy::authorize`]).
    Own,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    organisations: BTreeMap<Role, Vec<Organisation>>,
    #[serde(default)]
    local: LocalSection,
    #[serde(default)]
    allow: Vec<AllowRule>,
    #[serde(default)]
    read: Vec<ReadRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalSection {
    operator: Option<Organisation>,
}

/// What the policy granted: the rule and the role the command's events record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub rule: String,
    pub role: Role,
}

/// Why the policy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: &'static str,
    pub message: String,
}

/// What is being asked for: a command type on a stream, and whose stream it is (from the log).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub command_type: &'a str,
    pub stream: &'a str,
    /// The organisation the stream belongs to: the holder of its contract (or the applicant of a new
    /// one), or the owner of a key stream; `None` for reference, budget and other shared streams.
    pub owner: Option<Organisation>,
}

impl Policy {
    /// Loads `--policy FILE`, or the built-in default; `fund` is the Fund's BIN (`--fund-bin`).
    pub fn load(file: Option<&Path>, fund: Organisation) -> anyhow::Result<Policy> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    anyhow::anyhow!("cannot read the policy {}: {error}", path.display())
                })?;
                Policy::parse(&text, fund)
                    .map_err(|error| anyhow::anyhow!("the policy {}: {error}", path.display()))
            }
            None => Policy::parse(DEFAULT_POLICY, fund),
        }
    }

    /// Parses a policy and checks it: known command types, unique rule ids, and no command for the
    /// roles that never write (Regulator, Analyst); read rules name known resources and never show
    /// analysts patients in clear.
    pub fn parse(text: &str, fund: Organisation) -> anyhow::Result<Policy> {
        let file: PolicyFile = toml::from_str(text)?;
        let mut ids = BTreeSet::new();
        for rule in &file.allow {
            check_rule(rule)?;
            anyhow::ensure!(
                ids.insert(rule.id.clone()),
                "rule \"{}\" is defined twice",
                rule.id
            );
        }
        for rule in &file.read {
            check_read_rule(rule)?;
            anyhow::ensure!(
                ids.insert(rule.id.clone()),
                "rule \"{}\" is defined twice",
                rule.id
            );
        }
        let mut organisations: BTreeMap<Organisation, BTreeSet<Role>> = BTreeMap::new();
        for (role, members) in file.organisations {
            anyhow::ensure!(
                role != Role::Pharmacy,
                "[organisations] cannot list Pharmacy: a pharmacy's role comes from the contracts it holds"
            );
            for member in members {
                organisations.entry(member).or_default().insert(role);
            }
        }
        organisations.entry(fund).or_default().insert(Role::Fund);
        Ok(Policy {
            organisations,
            local_operator: file.local.operator.unwrap_or(fund),
            rules: file.allow,
            reads: file.read,
        })
    }

    /// Who local administration acts as when `--as` is not given.
    pub fn local_operator(&self) -> Organisation {
        self.local_operator
    }

    /// The roles `principal` holds for `request`: those the policy lists for its organisation, the
    /// local operator's Operator role on the local channel, and Pharmacy where the stream is its own.
    pub fn roles(&self, principal: &Principal, request: &Request<'_>) -> BTreeSet<Role> {
        let mut roles = self
            .organisations
            .get(&principal.organisation)
            .cloned()
            .unwrap_or_default();
        if principal.channel == Channel::Local && principal.organisation == self.local_operator {
            roles.insert(Role::Operator);
        }
        if request.owner == Some(principal.organisation) {
            roles.insert(Role::Pharmacy);
        }
        roles
    }

    /// Decides `request` for `principal`: the first rule that covers the command type, the channel,
    /// the scope and one of the principal's roles allows it; nothing else does. A token's role claim
    /// must be one of the roles the principal holds, and then only that role counts.
    pub fn authorize(&self, principal: &Principal, request: &Request<'_>) -> Result<Grant, Denial> {
        let held = self.roles(principal, request);
        let acting: BTreeSet<Role> = match principal.claimed_role {
            Some(claimed) if held.contains(&claimed) => BTreeSet::from([claimed]),
            Some(claimed) => {
                return Err(Denial {
                    rule: DENY_RULE,
                    message: format!(
                        "{principal} claims the role {claimed}, which the policy does not give it on \"{}\" (it holds {})",
                        request.stream,
                        list(&held)
                    ),
                });
            }
            None => held,
        };
        let own = request.owner == Some(principal.organisation);
        for rule in &self.rules {
            if !rule.covers(request.command_type, principal.channel) {
                continue;
            }
            if rule.scope == Scope::Own && !own {
                continue;
            }
            if let Some(&role) = rule.roles.iter().find(|role| acting.contains(role)) {
                return Ok(Grant {
                    rule: rule.id.clone(),
                    role,
                });
            }
        }
        Err(self.denial(principal, request, &acting))
    }

    fn denial(
        &self,
        principal: &Principal,
        request: &Request<'_>,
        acting: &BTreeSet<Role>,
    ) -> Denial {
        let allowing: Vec<String> = self
            .rules
            .iter()
            .filter(|rule| {
                rule.commands
                    .iter()
                    .any(|command| command == request.command_type || command == "*")
            })
            .map(|rule| rule.to_string())
            .collect();
        Denial {
            rule: DENY_RULE,
            message: format!(
                "{principal} may not issue {} on \"{}\": {}",
                request.command_type,
                request.stream,
                why_denied(acting, &allowing)
            ),
        }
    }
}

impl AllowRule {
    fn covers(&self, command_type: &str, channel: Channel) -> bool {
        let command = self
            .commands
            .iter()
            .any(|command| command == command_type || command == "*");
        let channel = self
            .channels
            .as_ref()
            .is_none_or(|channels| channels.contains(&channel));
        command && channel
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<String> = self.roles.iter().map(ToString::to_string).collect();
        write!(f, "rule \"{}\" ({}", self.id, roles.join(" or "))?;
        if self.scope == Scope::Own {
            f.write_str(" on its own streams")?;
        }
        if let Some(channels) = &self.channels {
            let channels: Vec<String> = channels.iter().map(ToString::to_string).collect();
            write!(f, ", by {}", channels.join(" or "))?;
        }
        f.write_str(")")
    }
}

fn check_rule(rule: &AllowRule) -> anyhow::Result<()> {
    anyhow::ensure!(!rule.id.is_empty(), "a rule has an empty id");
    anyhow::ensure!(!rule.roles.is_empty(), "rule \"{}\" names no role", rule.id);
    for role in &rule.roles {
        anyhow::ensure!(
            !matches!(role, Role::Regulator | Role::Analyst),
            "rule \"{}\" gives commands to {role}, which never writes",
            rule.id
        );
    }
    for command in &rule.commands {
        anyhow::ensure!(
            command == "*" || WireCommand::TYPES.contains(&command.as_str()),
            "rule \"{}\" names the unknown command type \"{command}\"; known: {}",
            rule.id,
            WireCommand::TYPES.join(", ")
        );
    }
    Ok(())
}

/// Why a request was refused, for a write and a read alike: the roles the principal acts in here,
/// and the rules that would have allowed the request.
pub(super) fn why_denied(acting: &BTreeSet<Role>, allowing: &[String]) -> String {
    let holds = if acting.is_empty() {
        "it holds no role here".to_owned()
    } else {
        format!("it acts here as {}", list(acting))
    };
    if allowing.is_empty() {
        format!("{holds}; the policy allows it to no one")
    } else {
        format!(
            "{holds}; the policy allows it only by {}",
            allowing.join("; ")
        )
    }
}

pub(super) fn list(roles: &BTreeSet<Role>) -> String {
    if roles.is_empty() {
        return "no role".to_owned();
    }
    let names: Vec<String> = roles.iter().map(ToString::to_string).collect();
    names.join(", ")
}
