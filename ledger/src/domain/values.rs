//! Validated value types of the documents: identifiers, codes, names and the reporting period.
//!
//! Every constructor validates and refuses with a [`ValueError`] that names the field, the value and
//! the rule. Wire forms are strings (or plain structs of validated parts), so that a stored event can
//! never hold a value its constructor would refuse: deserialisation goes through the constructor.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::money::Money;
use super::time::Timestamp;

/// Why a value was refused: the field, the value as given, the rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} \"{value}\" is invalid: {reason} ({rule})")]
pub struct ValueError {
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
    pub reason: &'static str,
}

impl ValueError {
    fn new(field: &'static str, value: &str, rule: &'static str, reason: &'static str) -> Self {
        ValueError {
            field,
            value: value.to_owned(),
            rule,
            reason,
        }
    }
}

/// The longest free-text value accepted (names, INNs, forms): bounds every stored string.
pub const TEXT_CHARS_MAX: usize = 256;
/// The longest identifier accepted (contract, dispensing, document numbers).
pub const IDENTIFIER_BYTES_MAX: usize = 64;
/// The longest raw marking code accepted.
pub const MARKING_CODE_BYTES_MAX: usize = 512;

fn check_text(field: &'static str, rule: &'static str, value: &str) -> Result<(), ValueError> {
    if value.trim().is_empty() {
        Err(ValueError::new(field, value, rule, "it is empty"))
    } else if value.chars().count() > TEXT_CHARS_MAX {
        Err(ValueError::new(
            field,
            value,
            rule,
            "longer than 256 characters",
        ))
    } else if value.chars().any(char::is_control) {
        Err(ValueError::new(
            field,
            value,
            rule,
            "contains control characters",
        ))
    } else if value.trim() != value {
        Err(ValueError::new(
            field,
            value,
            rule,
            "has leading or trailing spaces",
        ))
    } else {
        Ok(())
    }
}

/// Identifiers become parts of stream ids (DESIGN §1), so they are printable ASCII without `/`.
fn check_identifier(
    field: &'static str,
    rule: &'static str,
    value: &str,
) -> Result<(), ValueError> {
    if value.is_empty() || value.len() > IDENTIFIER_BYTES_MAX {
        Err(ValueError::new(
            field,
            value,
            rule,
            "must be 1–64 characters",
        ))
    } else if !value
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && byte != b'/')
    {
        Err(ValueError::new(
            field,
            value,
            rule,
            "only printable ASCII without spaces or '/' is allowed",
        ))
    } else {
        Ok(())
    }
}

fn check_digits(
    field: &'static str,
    rule: &'static str,
    value: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<(), ValueError> {
    if len.contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValueError::new(
            field,
            value,
            rule,
            "wrong number of digits or not only digits",
        ))
    }
}

fn check_icd10(value: &str) -> Result<(), ValueError> {
    let bytes = value.as_bytes();
    let head_ok = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_digit();
    let tail_ok = match &bytes.get(3..).unwrap_or_default() {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=2).contains(&rest.len())
                && rest
                    .iter()
                    .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase())
        }
        _ => false,
    };
    if head_ok && tail_ok {
        Ok(())
    } else {
        Err(ValueError::new(
            "ICD-10 code",
            value,
            "RULES §3",
            "must match ^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,2})?$",
        ))
    }
}

fn check_marking_code(value: &str) -> Result<(), ValueError> {
    // GS1 DataMatrix payloads use the group separator (0x1D); other control characters are refused.
    if value.is_empty() || value.len() > MARKING_CODE_BYTES_MAX {
        Err(ValueError::new(
            "marking code",
            value,
            "RULES §3",
            "must be 1–512 bytes",
        ))
    } else if value.chars().any(|c| c.is_control() && c != '\u{1d}') {
        Err(ValueError::new(
            "marking code",
            value,
            "RULES §3",
            "contains control characters",
        ))
    } else {
        Ok(())
    }
}

macro_rules! string_value {
    ($name:ident, $field:literal, $check:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, ValueError> {
                let value = value.into();
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValueError;
            fn from_str(value: &str) -> Result<Self, ValueError> {
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "description": $doc })
            }
        }
    };
}

string_value!(
    KgPin,
    "KG PIN",
    |value| check_digits("KG PIN", "A-35", value, 14..=14),
    "Kyrgyz personal identification number (source term: «ИЖН», S002 §34): 14 digits, format only (A-35)."
);
string_value!(
    Icd10,
    "ICD-10 code",
    check_icd10,
    "Diagnosis code (source term: «Код МКБ-10», S001 App. 1 col 5), WHO ICD-10 format."
);
string_value!(
    ContractId,
    "contract id",
    |value| check_identifier("contract id", "DESIGN §1", value),
    "Identifier of a co-payment contract (source term: «договор сооплаты», S001 §9); names its streams."
);
string_value!(
    DispensingId,
    "dispensing id",
    |value| check_identifier("dispensing id", "P-08", value),
    "Identifier of one dispensing event (source term: «отпуск», S001 §8(5)), chosen by the sender."
);
string_value!(
    DocumentNumber,
    "document number",
    |value| check_identifier("document number", "RULES §3", value),
    "Number of a registry, act or notice as printed in its header (RULES §3: free text plus date)."
);
string_value!(
    MarkingCode,
    "marking code",
    check_marking_code,
    "Drug marking code as scanned (source term: «код маркировки», S001 App. 1 col 14), raw GS1 string."
);
string_value!(
    UnitOfMeasure,
    "unit of measurement",
    |value| check_text("unit of measurement", "A-10", value),
    "Unit of measurement (source term: «Единица измерения», S001 App. 1 col 11)."
);
string_value!(
    InnName,
    "INN",
    |value| check_text("INN", "M-02", value),
    "International non-proprietary name (source term: «МНН», S001 §2(6), App. 1 col 8)."
);
string_value!(
    TradeName,
    "trade name",
    |value| check_text("trade name", "M-03", value),
    "Trade name from the State Register (source term: «торговое наименование», App. 1 col 9)."
);
string_value!(
    DoseForm,
    "dose and dosage form",
    |value| check_text("dose and dosage form", "V-08", value),
    "Dose and dosage form (source term: «Дозировка и Форма выпуска», App. 1 col 10)."
);
string_value!(
    TechnicalCharacteristic,
    "technical characteristic",
    |value| check_text("technical characteristic", "A-13", value),
    "Technical characteristic of a medical device, its price key (S001 §2(4), A-13)."
);
string_value!(
    OrganisationName,
    "organisation name",
    |value| check_text("organisation name", "RULES §2.1", value),
    "Name of an organisation as printed on the forms (App. 1 col 2, App. 2 col 3)."
);
string_value!(
    PharmacyLicence,
    "pharmacy licence",
    |value| check_identifier("pharmacy licence", "A-32", value),
    "Licence number of one pharmacy; the unit the network size is counted in (A-32)."
);

/// The serial-level identity of a marked pack (GTIN-14 + serial), the uniqueness key of RULES §3.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sgtin {
    pub gtin: String,
    pub serial: String,
}

impl MarkingCode {
    /// Parses `(01)<14 digits>(21)<serial>…` or `01<14 digits>21<serial>[GS]…`. `None` when the raw code
    /// is not in either shape; the raw string is then its own key.
    pub fn sgtin(&self) -> Option<Sgtin> {
        let raw = self.as_str();
        let (rest, bracketed) = match raw.strip_prefix("(01)") {
            Some(rest) => (rest, true),
            None => (raw.strip_prefix("01")?, false),
        };
        let gtin = rest.get(..14)?;
        if !gtin.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let after = rest.get(14..)?;
        let serial_part = if bracketed {
            after.strip_prefix("(21)")?
        } else {
            after.strip_prefix("21")?
        };
        let end = if bracketed {
            serial_part.find('(')
        } else {
            serial_part.find('\u{1d}')
        };
        let serial = &serial_part[..end.unwrap_or(serial_part.len()).min(20)];
        (!serial.is_empty()).then(|| Sgtin {
            gtin: gtin.to_owned(),
            serial: serial.to_owned(),
        })
    }

    /// The key under which the same pack cannot be reimbursed twice.
    pub fn uniqueness_key(&self) -> String {
        match self.sgtin() {
            Some(sgtin) => format!("sgtin:{}:{}", sgtin.gtin, sgtin.serial),
            None => format!("raw:{}", self.as_str()),
        }
    }
}

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

/// A reporting period (source term: «отчетный период», S001 §20): a calendar month (P-01) or, by
/// agreement, a shorter span inside one month (P-02). A-05: each period gets its own registry.
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
#[serde(try_from = "ReportingPeriodParts", into = "ReportingPeriodParts")]
pub struct ReportingPeriod {
    first_day: NaiveDate,
    last_day: NaiveDate,
}

/// The wire form of [`ReportingPeriod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportingPeriodParts {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl ReportingPeriod {
    /// Implements P-01: the calendar month `year`-`month`.
    pub fn month(year: i32, month: u32) -> Result<Self, ValueError> {
        let value = format!("{year}-{month:02}");
        let first_day = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(|| {
            ValueError::new("reporting period", &value, "P-01", "not a calendar month")
        })?;
        let last_day = last_day_of_month(first_day);
        Ok(ReportingPeriod {
            first_day,
            last_day,
        })
    }

    /// Implements P-02: a span shorter than a month, agreed with the Fund; it may not cross a month.
    pub fn span(first_day: NaiveDate, last_day: NaiveDate) -> Result<Self, ValueError> {
        let value = format!("{first_day}..{last_day}");
        if last_day < first_day {
            return Err(ValueError::new(
                "reporting period",
                &value,
                "P-02",
                "ends before it starts",
            ));
        }
        if (first_day.year(), first_day.month()) != (last_day.year(), last_day.month()) {
            return Err(ValueError::new(
                "reporting period",
                &value,
                "P-02",
                "crosses a month boundary",
            ));
        }
        Ok(ReportingPeriod {
            first_day,
            last_day,
        })
    }

    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    pub fn last_day(self) -> NaiveDate {
        self.last_day
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&date)
    }

    pub fn is_whole_month(self) -> bool {
        self.first_day.day() == 1 && self.last_day == last_day_of_month(self.first_day)
    }

    /// The stream segment: `2026-01` for a month, `2026-01-01..2026-01-15` for a shorter span.
    pub fn key(self) -> String {
        if self.is_whole_month() {
            self.first_day.format("%Y-%m").to_string()
        } else {
            format!("{}..{}", self.first_day, self.last_day)
        }
    }
}

impl fmt::Display for ReportingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl TryFrom<ReportingPeriodParts> for ReportingPeriod {
    type Error = ValueError;
    fn try_from(parts: ReportingPeriodParts) -> Result<Self, ValueError> {
        ReportingPeriod::span(parts.first_day, parts.last_day)
    }
}

impl From<ReportingPeriod> for ReportingPeriodParts {
    fn from(period: ReportingPeriod) -> Self {
        ReportingPeriodParts {
            first_day: period.first_day,
            last_day: period.last_day,
        }
    }
}

/// The last day of the month of `date`.
pub fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|next| next.pred_opt())
        .expect("the first of a month after a valid date exists")
}

/// SHA-256 of a document's canonical bytes: fixes a submitted document's content (A-06) and is what a
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    #[test]
    fn rules_s3_icd10_format() {
        for good in ["E11", "E11.9", "J45.90", "U07.1"] {
            assert!(Icd10::new(good).is_ok(), "{good}");
        }
        for bad in ["e11", "E1", "E11.", "E11.123", "E11-9", "11.9"] {
            assert!(Icd10::new(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Icd10::new("E1").unwrap_err().to_string(),
            "ICD-10 code \"E1\" is invalid: must match ^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,2})?$ (RULES §3)"
        );
    }

    #[test]
    fn a35_kg_pin_is_fourteen_digits() {
        assert!(KgPin::new("21501199012345").is_ok());
        assert!(KgPin::new("2150119901234").is_err());
        assert!(KgPin::new("2150119901234x").is_err());
    }

    #[test]
    fn rules_s3_marking_code_sgtin_key() {
        let bracketed =
            MarkingCode::new("(01)04601234567893(21)ABC123def4567(91)EE06(92)xyz").unwrap();
        let raw = MarkingCode::new("010460123456789321ABC123def4567\u{1d}91EE06").unwrap();
        assert_eq!(bracketed.uniqueness_key(), raw.uniqueness_key());
        assert_eq!(
            bracketed.uniqueness_key(),
            "sgtin:04601234567893:ABC123def4567"
        );
        let opaque = MarkingCode::new("KZ-XYZ").unwrap();
        assert_eq!(opaque.uniqueness_key(), "raw:KZ-XYZ");
    }

    #[test]
    fn rules_s3_fiscal_receipt_key_and_validation() {
        let at = Timestamp::from_micros(0);
        let receipt =
            FiscalReceipt::new("123456789012", "4455", at, Money::new(100, Currency::KZT)).unwrap();
        assert_eq!(receipt.uniqueness_key(), "receipt:123456789012:4455");
        assert!(FiscalReceipt::new("12345", "4455", at, Money::new(1, Currency::KZT)).is_err());
        let bytes = crate::codec::encode(&receipt).unwrap();
        assert_eq!(
            crate::codec::decode::<FiscalReceipt>(&bytes).unwrap(),
            receipt
        );
    }

    #[test]
    fn p01_p02_reporting_period() {
        let january = ReportingPeriod::month(2026, 1).unwrap();
        assert_eq!(january.key(), "2026-01");
        assert_eq!(
            january.last_day(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
        );
        let day = |d| NaiveDate::from_ymd_opt(2026, 2, d).unwrap();
        let half = ReportingPeriod::span(day(1), day(14)).unwrap();
        assert_eq!(half.key(), "2026-02-01..2026-02-14");
        assert!(
            ReportingPeriod::span(day(1), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()).is_err()
        );
        let json = serde_json::to_string(&half).unwrap();
        assert_eq!(
            serde_json::from_str::<ReportingPeriod>(&json).unwrap(),
            half
        );
        assert!(
            serde_json::from_str::<ReportingPeriod>(
                r#"{"first_day":"2026-02-10","last_day":"2026-02-01"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn identifiers_refuse_slashes_and_name_the_field() {
        let error = ContractId::new("C/1").unwrap_err();
        assert_eq!(error.field, "contract id");
        assert!(error.to_string().contains("\"C/1\""));
    }
}
