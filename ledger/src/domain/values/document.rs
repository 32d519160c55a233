//! Document references and document hashes: prescriptions, fiscal receipts, content hashes.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DocumentNumber, ValueError, check_digits};
use crate::domain::money::Money;
use crate::domain::time::Timestamp;

/// A prescription reference (App. 1 col 7): its number and the date it was written.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct PrescriptionRef {
    pub number: DocumentNumber,
    pub written_on: NaiveDate,
}

/// A fiscal receipt of an online cash register (source term: «фискальный чек», App. 1 col 13).
/// Key = (RNM, fiscal sign); the amount cross-checks col 17 (RULES §3, M-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "FiscalReceiptParts", into = "FiscalReceiptParts")]
pub struct FiscalReceipt {
    rnm: String,
    fiscal_sign: String,
    issued_at: Timestamp,
    amount: Money,
}

/// The wire form of [`FiscalReceipt`]; deserialisation validates through [`FiscalReceipt::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FiscalReceiptParts {
    pub rnm: String,
    pub fiscal_sign: String,
    pub issued_at: Timestamp,
    pub amount: Money,
}

impl FiscalReceipt {
    /// RNM = 12-digit cash-register registration number; fiscal sign = 1–20 digits; amount ≥ 0.
    pub fn new(
        rnm: &str,
        fiscal_sign: &str,
        issued_at: Timestamp,
        amount: Money,
    ) -> Result<Self, ValueError> {
        check_digits("fiscal receipt RNM", "RULES §3", rnm, 12..=12)?;
        check_digits("fiscal sign", "RULES §3", fiscal_sign, 1..=20)?;
        if amount.is_negative() {
            return Err(ValueError::new(
                "fiscal receipt amount",
                &amount.to_string(),
                "M-07",
                "cannot be negative",
            ));
        }
        Ok(FiscalReceipt {
            rnm: rnm.to_owned(),
            fiscal_sign: fiscal_sign.to_owned(),
            issued_at,
            amount,
        })
    }

    pub fn rnm(&self) -> &str {
        &self.rnm
    }

    pub fn fiscal_sign(&self) -> &str {
        &self.fiscal_sign
    }

    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    pub fn amount(&self) -> Money {
        self.amount
    }

    /// The key under which the same receipt cannot be reimbursed twice.
    pub fn uniqueness_key(&self) -> String {
        format!("receipt:{}:{}", self.rnm, self.fiscal_sign)
    }
}

impl TryFrom<FiscalReceiptParts> for FiscalReceipt {
    type Error = ValueError;
    fn try_from(parts: FiscalReceiptParts) -> Result<Self, ValueError> {
        FiscalReceipt::new(
            &parts.rnm,
            &parts.fiscal_sign,
            parts.issued_at,
            parts.amount,
        )
    }
}

impl From<FiscalReceipt> for FiscalReceiptParts {
    fn from(receipt: FiscalReceipt) -> Self {
        FiscalReceiptParts {
            rnm: receipt.rnm,
            fiscal_sign: receipt.fiscal_sign,
            issued_at: receipt.issued_at,
            amount: receipt.amount,
        }
    }
}

/// SHA-256 of a document's canonical bytes: fixes a submitted document's content and is what a
/// signature signs (S-01). Wire form: 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentHash(pub [u8; 32]);

impl DocumentHash {
    /// Hashes the canonical codec bytes of `document`.
    pub fn of<T: Serialize>(document: &T) -> DocumentHash {
        let bytes = crate::codec::encode(document).expect("domain documents always encode");
        DocumentHash(Sha256::digest(&bytes).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for DocumentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DocumentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentHash({})", &self.to_hex()[..16])
    }
}

impl std::str::FromStr for DocumentHash {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| ValueError::new("document hash", text, "S-01", "must be 64 hex digits"))?;
        Ok(DocumentHash(bytes))
    }
}

impl Serialize for DocumentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for DocumentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for DocumentHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DocumentHash".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[0-9a-f]{64}$" })
    }
}
