//! Kazakh individual and business identification numbers (RULES §3).
//!
//! IIN (source term: «ИИН / ЖСН», individual identification number) and BIN (source term: «БИН / БСН»,
//! business identification number) are both 12 digits with a check digit computed by the same
//! algorithm. The algorithm is **[K]** (general knowledge, agrees with public validators), see RULES §3.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a 12-digit identifier was refused (RULES §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("{kind} \"{value}\" must be exactly 12 digits (RULES §3)")]
    Format { kind: &'static str, value: String },
    #[error("{kind} \"{value}\" fails the check digit (RULES §3)")]
    CheckDigit { kind: &'static str, value: String },
}

/// Computes the RULES §3 check digit of the first 11 digits, or `None` when the number can never be
/// issued (the second weighted sum is also 10).
pub fn check_digit(first_eleven: &[u8; 11]) -> Option<u8> {
    const WEIGHTS_FIRST: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const WEIGHTS_SECOND: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
    let weighted = |weights: &[u32; 11]| -> u32 {
        first_eleven
            .iter()
            .zip(weights)
            .map(|(&digit, &weight)| u32::from(digit) * weight)
            .sum::<u32>()
            % 11
    };
    let first = weighted(&WEIGHTS_FIRST);
    let sum = if first == 10 {
        weighted(&WEIGHTS_SECOND)
    } else {
        first
    };
    if sum == 10 {
        None
    } else {
        u8::try_from(sum).ok()
    }
}

fn validate_twelve(kind: &'static str, value: &str) -> Result<[u8; 12], IdentError> {
    let bytes = value.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(IdentError::Format {
            kind,
            value: value.to_owned(),
        });
    }
    let mut digits = [0u8; 12];
    for (digit, byte) in digits.iter_mut().zip(bytes) {
        *digit = byte - b'0';
    }
    let mut first_eleven = [0u8; 11];
    first_eleven.copy_from_slice(&digits[..11]);
    match check_digit(&first_eleven) {
        Some(check) if check == digits[11] => Ok(digits),
        _ => Err(IdentError::CheckDigit {
            kind,
            value: value.to_owned(),
        }),
    }
}

macro_rules! twelve_digit_id {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 12]);

        impl $name {
            /// The identifier as its 12 ASCII digits.
            pub fn as_str(&self) -> &str {
                // The array only ever holds ASCII digits (checked in the constructor).
                std::str::from_utf8(&self.0).expect("identifier holds ASCII digits")
            }
        }

        impl FromStr for $name {
            type Err = IdentError;
            fn from_str(value: &str) -> Result<Self, IdentError> {
                validate_twelve($kind, value)?;
                let mut ascii = [0u8; 12];
                ascii.copy_from_slice(value.as_bytes());
                Ok(Self(ascii))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", $kind, self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $kind.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[0-9]{12}$",
                    "description": concat!($doc, " 12 digits, the last a check digit (RULES §3).")
                })
            }
        }
    };
}

twelve_digit_id!(
    Iin,
    "IIN",
    "Individual identification number of a person (RULES §3)."
);
twelve_digit_id!(
    Bin,
    "BIN",
    "Business identification number of an organisation (RULES §3)."
);

#[cfg(test)]
mod tests {
    use super::*;

    /// RULES §3 worked example: 90010130000? has check digit 7.
    #[test]
    fn rules_s3_worked_example() {
        assert_eq!(check_digit(&[9, 0, 0, 1, 0, 1, 3, 0, 0, 0, 0]), Some(7));
        assert!("900101300007".parse::<Iin>().is_ok());
        let error = "900101300008".parse::<Iin>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "IIN \"900101300008\" fails the check digit (RULES §3)"
        );
    }

    #[test]
    fn rules_s3_format_is_twelve_digits() {
        assert!(matches!(
            "90010130000".parse::<Bin>(),
            Err(IdentError::Format { .. })
        ));
        assert!(matches!(
            "90010130000a".parse::<Bin>(),
            Err(IdentError::Format { .. })
        ));
        assert!(matches!(
            "９00101300007".parse::<Bin>(),
            Err(IdentError::Format { .. })
        ));
    }

    /// RULES §3 step 2: when the first sum is 10 the second weights decide.
    #[test]
    fn rules_s3_second_weights() {
        // Find an 11-digit prefix whose first weighted sum is 10 and check the second pass is used.
        let prefix = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        // first: 1*10 = 10 -> second: 1*1 = 1
        assert_eq!(check_digit(&prefix), Some(1));
    }

    proptest::proptest! {
        #[test]
        fn rules_s3_any_valid_id_round_trips(digits in proptest::array::uniform11(0u8..10)) {
            if let Some(check) = check_digit(&digits) {
                let text: String = digits.iter().chain(std::iter::once(&check)).map(|d| char::from(b'0' + d)).collect();
                let bin: Bin = text.parse().unwrap();
                proptest::prop_assert_eq!(bin.to_string(), text.clone());
                let wrong = (check + 1) % 10;
                let bad: String = digits.iter().chain(std::iter::once(&wrong)).map(|d| char::from(b'0' + d)).collect();
                proptest::prop_assert!(bad.parse::<Bin>().is_err());
            }
        }
    }
}
