//! Validated value types of the documents: identifiers, codes, names and the reporting period.
//!
//! Every constructor validates and refuses with a [`ValueError`] that names the field, the value and
//! the rule. Wire forms are strings (or plain structs of validated parts), so that a stored event can
//! never hold a value its constructor would refuse: deserialisation goes through the constructor.

mod document;
mod reporting_period;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use document::{DocumentHash, FiscalReceipt, FiscalReceiptParts, PrescriptionRef};
pub use reporting_period::{ReportingPeriod, ReportingPeriodParts, last_day_of_month};

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
    KgTin,
    "KG taxpayer number",
    |value| check_digits("KG taxpayer number", "C-07", value, 14..=14),
    "Kyrgyz taxpayer identification number of an organisation (source term: «ИНН»): 14 digits, format only **[K]**."
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::{Currency, Money};
    use crate::domain::time::Timestamp;
    use chrono::NaiveDate;

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
