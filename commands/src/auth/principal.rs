//! Who is asking: the principal of a request, taken from the transport (a client certificate or a
//! signed token) or, for local administration, from `--as` (DESIGN §8). Never from a request body.

use std::fmt;
use std::str::FromStr;

use ledger::domain::ident::{Bin, Iin};
use ledger::domain::values::KgTin;
use ledger::log::{Actor, ActorId, ActorRole};
use serde::{Deserialize, Serialize};

use super::Role;

/// An organisation as the trust boundary knows it: a Kazakh BIN (RULES §3, check digit verified) or a
/// Kyrgyz taxpayer number (14 digits, A-35).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Organisation {
    Kz(Bin),
    Kg(KgTinKey),
}

/// A [`KgTin`] as a `Copy` key (its 14 ASCII digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KgTinKey([u8; 14]);

impl KgTinKey {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a taxpayer number holds ASCII digits")
    }
}

impl fmt::Debug for KgTinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TIN({})", self.as_str())
    }
}

impl From<&KgTin> for KgTinKey {
    fn from(tin: &KgTin) -> KgTinKey {
        let mut digits = [0u8; 14];
        digits.copy_from_slice(tin.as_str().as_bytes());
        KgTinKey(digits)
    }
}

impl Organisation {
    /// The event actor this organisation is recorded as, acting in `role`, with the person who acted.
    pub fn actor(&self, role: ActorRole, person: Option<Iin>) -> Actor {
        let id = match self {
            Organisation::Kz(bin) => ActorId::Organisation(*bin),
            Organisation::Kg(tin) => ActorId::Kyrgyz(tin.as_str().to_owned()),
        };
        Actor { id, role, person }
    }

    /// The organisation an event actor names, if it names one.
    pub fn of_actor(id: &ActorId) -> Option<Organisation> {
        match id {
            ActorId::Organisation(bin) => Some(Organisation::Kz(*bin)),
            ActorId::Kyrgyz(number) => number.parse().ok(),
            ActorId::Person(_) | ActorId::System(_) => None,
        }
    }
}

/// Parses `123456789012` (a BIN, check digit verified) or `12345678901234` (a KG taxpayer number).
impl FromStr for Organisation {
    type Err = String;
    fn from_str(text: &str) -> Result<Organisation, String> {
        match text.len() {
            12 => text
                .parse::<Bin>()
                .map(Organisation::Kz)
                .map_err(|error| error.to_string()),
            14 => KgTin::new(text)
                .map(|tin| Organisation::Kg(KgTinKey::from(&tin)))
                .map_err(|error| error.to_string()),
            _ => Err(format!(
                "\"{text}\" is neither a BIN (12 digits, RULES §3) nor a KG taxpayer number (14 digits, A-35)"
            )),
        }
    }
}

impl fmt::Display for Organisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Organisation::Kz(bin) => write!(f, "BIN {bin}"),
            Organisation::Kg(tin) => write!(f, "TIN {}", tin.as_str()),
        }
    }
}

impl Serialize for Organisation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Organisation::Kz(bin) => serializer.serialize_str(bin.as_str()),
            Organisation::Kg(tin) => serializer.serialize_str(tin.as_str()),
        }
    }
}

impl<'de> Deserialize<'de> for Organisation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How a principal was authenticated; policy rules may be limited to some channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A client certificate verified against the configured CA (mTLS).
    Certificate,
    /// A bearer token (JWT) verified against the configured issuer's keys.
    Token,
    /// Local administration on the data directory (`ledger submit`, `ledger import`): `--as`.
    Local,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Certificate => "certificate",
            Channel::Token => "token",
            Channel::Local => "local",
        })
    }
}

/// An authenticated principal: the organisation, the person who acts for it when known, the role a
/// token asked for, and how it was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub organisation: Organisation,
    pub person: Option<Iin>,
    /// The `role` claim of a token: the principal acts only in this role (which the policy must give
    /// it). Certificates and `--as` carry none: every role the organisation has applies.
    pub claimed_role: Option<Role>,
    pub channel: Channel,
    /// What identified it, for logs: a certificate's subject and serial, or a token's issuer and
    /// subject.
    pub credential: String,
}

impl Principal {
    /// A local administrator acting as `organisation` (and `person`), from `--as`.
    pub fn local(organisation: Organisation, person: Option<Iin>) -> Principal {
        Principal {
            organisation,
            person,
            claimed_role: None,
            channel: Channel::Local,
            credential: "--as".to_owned(),
        }
    }

    /// Parses `--as BIN[:IIN]` (or a KG taxpayer number), each checked with its check digit.
    pub fn parse_local(text: &str) -> Result<Principal, String> {
        let (organisation, person) = match text.split_once(':') {
            Some((organisation, person)) => {
                let person = person
                    .parse::<Iin>()
                    .map_err(|error| format!("--as \"{text}\": the person: {error}"))?;
                (organisation, Some(person))
            }
            None => (text, None),
        };
        let organisation = organisation
            .parse::<Organisation>()
            .map_err(|error| format!("--as \"{text}\": {error}"))?;
        Ok(Principal::local(organisation, person))
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.organisation)?;
        if let Some(person) = &self.person {
            write!(f, " (IIN {person})")?;
        }
        if let Some(role) = self.claimed_role {
            write!(f, " as {role}")?;
        }
        write!(f, " by {}", self.channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RULES §3: identifiers from the edge are checked with their check digit.
    #[test]
    fn local_principals_are_checked_with_their_check_digits() {
        let principal = Principal::parse_local("900101300007:900101300007").unwrap();
        assert_eq!(principal.organisation.to_string(), "BIN 900101300007");
        assert_eq!(principal.person.unwrap().as_str(), "900101300007");
        let bad_bin = Principal::parse_local("900101300008").unwrap_err();
        assert!(bad_bin.contains("900101300008"), "{bad_bin}");
        let bad_iin = Principal::parse_local("900101300007:900101300008").unwrap_err();
        assert!(bad_iin.contains("the person"), "{bad_iin}");
        let kg = Principal::parse_local("01234567890123").unwrap();
        assert_eq!(kg.organisation.to_string(), "TIN 01234567890123");
        assert!(Principal::parse_local("1234").is_err());
    }

    #[test]
    fn organisations_map_to_event_actors_and_back() {
        for text in ["900101300007", "01234567890123"] {
            let organisation: Organisation = text.parse().unwrap();
            let actor = organisation.actor(ActorRole::Pharmacy, None);
            assert_eq!(Organisation::of_actor(&actor.id), Some(organisation));
        }
    }
}
