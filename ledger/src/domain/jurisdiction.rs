//! The two jurisdictions served by one engine (RULES A-15).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A jurisdiction: Kazakhstan (co-payment, S001) or Kyrgyzstan (CHI additional programme, S002).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Jurisdiction {
    /// Kazakhstan; local dates in Asia/Almaty, money in KZT.
    KZ,
    /// Kyrgyzstan; local dates in Asia/Bishkek, money in KGS.
    KG,
}

impl Jurisdiction {
    pub const ALL: [Jurisdiction; 2] = [Jurisdiction::KZ, Jurisdiction::KG];

    pub fn code(self) -> &'static str {
        match self {
            Jurisdiction::KZ => "KZ",
            Jurisdiction::KG => "KG",
        }
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown country \"{0}\": expected KZ or KG")]
pub struct UnknownJurisdiction(pub String);

impl FromStr for Jurisdiction {
    type Err = UnknownJurisdiction;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_uppercase().as_str() {
            "KZ" => Ok(Jurisdiction::KZ),
            "KG" => Ok(Jurisdiction::KG),
            _ => Err(UnknownJurisdiction(value.to_owned())),
        }
    }
}
