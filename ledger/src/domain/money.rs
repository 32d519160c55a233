//! Money, prices and quantities (RULES A-36, DESIGN §5).
//!
//! Amounts are integer minor units with a currency ([`Money`]): tiyn for KZT, tyiyn for KGS, 100 to the
//! unit. Unit prices and quantities may carry more decimals than an amount and are exact decimals
//! ([`UnitPrice`], [`Quantity`]). A price × quantity becomes money in exactly one place,
//! [`line_amount`], which rounds half-up (away from zero) to minor units. Totals are sums of rounded
//! lines. Arithmetic is checked; mixing currencies is an error, never a conversion.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::jurisdiction::Jurisdiction;

/// The currency of an amount.
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
pub enum Currency {
    /// Kazakhstani tenge; minor unit tiyn (1/100).
    KZT,
    /// Kyrgyz som; minor unit tyiyn (1/100).
    KGS,
}

impl Currency {
    /// Decimal places of the minor unit.
    pub const MINOR_DIGITS: u32 = 2;

    /// The currency in which `jurisdiction` settles.
    pub fn of(jurisdiction: Jurisdiction) -> Currency {
        match jurisdiction {
            Jurisdiction::KZ => Currency::KZT,
            Jurisdiction::KG => Currency::KGS,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount overflow in {operation}")]
    Overflow { operation: &'static str },
    #[error("cannot combine {left} with {right}: currencies differ")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("{field} \"{value}\" is not a valid {kind}: {reason}")]
    Invalid {
        field: &'static str,
        kind: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// An exact amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Money {
    /// Minor units (tiyn / tyiyn); may be negative for reversals and balances.
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub fn is_negative(self) -> bool {
        self.minor < 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow {
                operation: "addition",
            })?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow {
                operation: "subtraction",
            })?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow {
            operation: "negation",
        })?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// Sums amounts of one currency; an empty sum is zero in `currency`.
    pub fn sum<'a>(
        currency: Currency,
        amounts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), |total, amount| {
                total.checked_add(*amount)
            })
    }

    /// The amount as a decimal in major units (e.g. `1234.50`).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, Currency::MINOR_DIGITS)
    }

    /// `1234.50`: major units with exactly two decimals, no currency, no grouping (CSV, forms).
    pub fn to_plain_string(self) -> String {
        format!("{:.2}", self.to_decimal())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_plain_string(), self.currency)
    }
}

macro_rules! decimal_newtype {
    ($name:ident, $kind:literal, $doc:literal, $check:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: Decimal) -> Result<Self, MoneyError> {
                let check: fn(Decimal) -> Result<(), &'static str> = $check;
                check(value).map_err(|reason| MoneyError::Invalid {
                    field: $kind,
                    kind: $kind,
                    value: value.to_string(),
                    reason,
                })?;
                Ok(Self(value.normalize()))
            }

            pub fn value(self) -> Decimal {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = MoneyError;
            fn from_str(text: &str) -> Result<Self, MoneyError> {
                let value = Decimal::from_str_exact(text.trim()).map_err(|_| MoneyError::Invalid {
                    field: $kind,
                    kind: $kind,
                    value: text.to_owned(),
                    reason: "not a decimal number",
                })?;
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// Serialised as a decimal string (`"12.345"`) in every format: never a float.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
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
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[0-9]+(\\.[0-9]+)?$",
                    "description": $doc
                })
            }
        }
    };
}

/// Scale limit of prices and quantities: at most 6 decimal places.
pub const DECIMAL_SCALE_MAX: u32 = 6;

decimal_newtype!(
    UnitPrice,
    "unit price",
    "A price per unit of measurement in major currency units (≥ 0, ≤ 6 decimals).",
    |value| {
        if value.is_sign_negative() && !value.is_zero() {
            Err("a price cannot be negative")
        } else if value.normalize().scale() > DECIMAL_SCALE_MAX {
            Err("more than 6 decimal places")
        } else {
            Ok(())
        }
    }
);

decimal_newtype!(
    Quantity,
    "quantity",
    "A quantity dispensed in units of measurement (> 0, ≤ 6 decimals).",
    |value| {
        if value <= Decimal::ZERO {
            Err("a quantity must be greater than zero")
        } else if value.normalize().scale() > DECIMAL_SCALE_MAX {
            Err("more than 6 decimal places")
        } else {
            Ok(())
        }
    }
);

/// Implements A-36: the one place where quantity × unit price becomes money. Rounds half-up (away from
/// zero at .5) to minor units. Returns an error if the result does not fit an `i64` of minor units.
pub fn line_amount(
    quantity: Quantity,
    unit_price: UnitPrice,
    currency: Currency,
) -> Result<Money, MoneyError> {
    let overflow = MoneyError::Overflow {
        operation: "quantity × unit price",
    };
    let major = quantity
        .value()
        .checked_mul(unit_price.value())
        .ok_or(overflow.clone())?;
    let rounded = major.round_dp_with_strategy(
        Currency::MINOR_DIGITS,
        RoundingStrategy::MidpointAwayFromZero,
    );
    let minor = rounded
        .checked_mul(Decimal::ONE_HUNDRED)
        .ok_or(overflow.clone())?;
    let minor = i64::try_from(minor.trunc()).map_err(|_| overflow)?;
    Ok(Money { minor, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantity(text: &str) -> Quantity {
        text.parse().unwrap()
    }

    fn price(text: &str) -> UnitPrice {
        text.parse().unwrap()
    }

    /// half-up to two decimals, per line.
    #[test]
    fn a36_line_amount_rounds_half_up() {
        assert_eq!(
            line_amount(quantity("3"), price("0.335"), Currency::KZT)
                .unwrap()
                .minor,
            101
        ); // 1.005 -> 1.01
        assert_eq!(
            line_amount(quantity("1"), price("0.004"), Currency::KZT)
                .unwrap()
                .minor,
            0
        );
        assert_eq!(
            line_amount(quantity("1"), price("0.005"), Currency::KZT)
                .unwrap()
                .minor,
            1
        );
        assert_eq!(
            line_amount(quantity("2.5"), price("1234.56"), Currency::KGS)
                .unwrap()
                .minor,
            308_640
        );
    }

    #[test]
    fn currencies_never_mix() {
        let kzt = Money::new(100, Currency::KZT);
        let kgs = Money::new(100, Currency::KGS);
        assert!(matches!(
            kzt.checked_add(kgs),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn invalid_decimals_are_refused_with_the_field_named() {
        let error = "-1".parse::<UnitPrice>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unit price \"-1\" is not a valid unit price: a price cannot be negative"
        );
        assert!("0".parse::<Quantity>().is_err());
        assert!("1.0000001".parse::<Quantity>().is_err());
        assert!("abc".parse::<Quantity>().is_err());
    }

    #[test]
    fn decimals_serialise_as_strings() {
        let unit_price = price("12.50");
        assert_eq!(serde_json::to_string(&unit_price).unwrap(), "\"12.5\"");
        let bytes = crate::codec::encode(&unit_price).unwrap();
        assert_eq!(
            crate::codec::decode::<UnitPrice>(&bytes).unwrap(),
            unit_price
        );
    }

    proptest::proptest! {
        /// the rounded amount is within half a minor unit of the exact product.
        #[test]
        fn a36_rounding_error_is_at_most_half_a_minor_unit(units in 1i64..10_000, cents in 0i64..10_000_000) {
            let quantity = Quantity::new(Decimal::new(units, 2)).unwrap();
            let unit_price = UnitPrice::new(Decimal::new(cents, 3)).unwrap();
            let amount = line_amount(quantity, unit_price, Currency::KZT).unwrap();
            let exact = quantity.value() * unit_price.value() * Decimal::ONE_HUNDRED;
            let error = (Decimal::from(amount.minor) - exact).abs();
            proptest::prop_assert!(error <= Decimal::new(5, 1));
        }
    }
}
