//! The trust boundary (issue #13, DESIGN §8, docs/security.md): every write passes one principal type
//! and one policy, in one place, before the domain sees the command.
//!
//! - [`principal`]: who asks, from a client certificate, a bearer token, or `--as` for local
//!   administration; never from a request body.
//! - [`policy`]: which roles may issue which command types on which streams, as data; and
//!   [`read_policy`]: which roles may read what (the reader service, issue #14), in the same file.
//! - [`tls`] and [`token`]: the two real ways to authenticate over HTTP (mTLS with Kazakh NCA-style
//!   subjects; JWTs from an OpenID Connect provider's JWKS).
//! - [`limits`]: per-principal rate and concurrency limits.
//! - [`time`]: business instants may not lie in the writer's future (TIME-01, TIME-02).
//! - [`digest`]: the canonical content a command id is bound to (IDEMPOTENCY_KEY_REUSED).

pub mod digest;
pub mod limits;
pub mod mask;
pub mod policy;
pub mod principal;
pub mod read_policy;
pub mod time;
pub mod tls;
pub mod token;

use std::fmt;

use ledger::log::ActorRole;
use serde::{Deserialize, Serialize};

pub use policy::{Grant, Policy};
pub use principal::{Channel, Organisation, Principal};

/// A role in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The Fund (KZ: NAO «ФСМС»; KG: the MHIF).
    Fund,
    /// A pharmacy company, on the streams of the contracts it holds.
    Pharmacy,
    /// A regulator or auditor: reads everything, never writes.
    Regulator,
    /// An analyst: reads with patient identifiers pseudonymized, never writes.
    Analyst,
    /// An operator administering the ledger.
    Operator,
}

impl Role {
    /// The role recorded on the events of a command issued in this role. Regulators and analysts never
    /// write (the policy refuses a rule that would let them), so they have no event role.
    pub fn actor_role(self) -> ActorRole {
        match self {
            Role::Fund => ActorRole::Fund,
            Role::Pharmacy => ActorRole::Pharmacy,
            Role::Operator => ActorRole::Operator,
            Role::Regulator | Role::Analyst => {
                unreachable!("the policy never lets {self} write")
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "Fund" => Ok(Role::Fund),
            "Pharmacy" => Ok(Role::Pharmacy),
            "Regulator" => Ok(Role::Regulator),
            "Analyst" => Ok(Role::Analyst),
            "Operator" => Ok(Role::Operator),
            other => Err(format!(
                "unknown role \"{other}\"; expected Fund, Pharmacy, Regulator, Analyst or Operator"
            )),
        }
    }
}

#[cfg(test)]
mod tests;
