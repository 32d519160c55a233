//! One column's values on their way into Arrow arrays: the builders and the conversions from the
//! event's JSON (instants, dates and decimals are read exactly; a decimal with more places than the
//! column holds is refused, never rounded).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, TimeUnit};

use super::columns::Kind;
use super::flatten::Leaf;
use super::{DECIMAL_PRECISION, DECIMAL_SCALE};

/// One column's builder.
pub(super) enum Builder {
    Text(StringBuilder),
    Int64(Int64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Decimal(Decimal128Builder),
}

impl Builder {
    pub(super) fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Text | Kind::Json => Builder::Text(StringBuilder::new()),
            Kind::Int64 => Builder::Int64(Int64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new()),
            Kind::Date => Builder::Date(Date32Builder::new()),
            Kind::Decimal => Builder::Decimal(Decimal128Builder::new()),
        }
    }

    /// Appends one leaf value (`Leaf::Null`: null); `Err` says what is wrong with it.
    pub(super) fn append(&mut self, leaf: &Leaf<'_>) -> Result<(), String> {
        if *leaf == Leaf::Null {
            self.append_null();
            return Ok(());
        }
        match self {
            Builder::Text(builder) => builder.append_value(text(leaf)),
            Builder::Int64(builder) => builder.append_value(integer(leaf)?),
            Builder::Bool(builder) => match leaf {
                Leaf::Bool(value) => builder.append_value(*value),
                other => return Err(format!("{other:?} is not a boolean")),
            },
            Builder::Timestamp(builder) => builder.append_value(match leaf {
                Leaf::I64(micros) => *micros,
                other => timestamp_micros(&text(other))?,
            }),
            Builder::Date(builder) => builder.append_value(date_days(&text(leaf))?),
            Builder::Decimal(builder) => builder.append_value(decimal_units(&text(leaf))?),
        }
        Ok(())
    }

    pub(super) fn append_null(&mut self) {
        match self {
            Builder::Text(builder) => builder.append_null(),
            Builder::Int64(builder) => builder.append_null(),
            Builder::Bool(builder) => builder.append_null(),
            Builder::Timestamp(builder) => builder.append_null(),
            Builder::Date(builder) => builder.append_null(),
            Builder::Decimal(builder) => builder.append_null(),
        }
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(builder) => Arc::new(builder.finish()),
            Builder::Int64(builder) => Arc::new(builder.finish()),
            Builder::Bool(builder) => Arc::new(builder.finish()),
            Builder::Timestamp(builder) => Arc::new(builder.finish().with_timezone("UTC")),
            Builder::Date(builder) => Arc::new(builder.finish()),
            Builder::Decimal(builder) => Arc::new(
                builder
                    .finish()
                    .with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)
                    .expect("a valid decimal type"),
            ),
        }
    }
}

/// A leaf as text (a JSON list as its text, a number in decimal).
fn text<'l>(leaf: &'l Leaf<'_>) -> std::borrow::Cow<'l, str> {
    match leaf {
        Leaf::Str(text) => std::borrow::Cow::Borrowed(text.as_ref()),
        Leaf::Json(text) => std::borrow::Cow::Borrowed(text.as_str()),
        Leaf::I64(value) => std::borrow::Cow::Owned(value.to_string()),
        Leaf::U64(value) => std::borrow::Cow::Owned(value.to_string()),
        Leaf::Bool(value) => std::borrow::Cow::Owned(value.to_string()),
        Leaf::Null => std::borrow::Cow::Borrowed(""),
    }
}

fn integer(leaf: &Leaf<'_>) -> Result<i64, String> {
    match leaf {
        Leaf::I64(value) => Ok(*value),
        Leaf::U64(value) => i64::try_from(*value).map_err(|_| format!("{value} exceeds INT64")),
        other => Err(format!("{other:?} is not an integer")),
    }
}

fn timestamp_micros(text: &str) -> Result<i64, String> {
    if let Some(micros) = utc_micros(text) {
        return Ok(micros);
    }
    ledger::domain::time::Timestamp::parse_rfc3339(text)
        .map(ledger::domain::time::Timestamp::micros)
        .map_err(|error| format!("\"{text}\" is not RFC 3339: {error}"))
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn digits(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    if part.bytes().all(|byte| byte.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// The ledger's own instant form (`2026-01-31T10:00:00Z`, `.fff` or `.ffffff` before the `Z`), read
/// without a general parser; None for anything else (then parsed as RFC 3339).
fn utc_micros(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[10] != b'T' || *bytes.last()? != b'Z' {
        return None;
    }
    let (month, day) = (digits(text, 5..7)?, digits(text, 8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(digits(text, 0..4)?, month, day);
    let seconds = digits(text, 11..13)? * 3600 + digits(text, 14..16)? * 60 + digits(text, 17..19)?;
    let fraction = match &text[19..text.len() - 1] {
        "" => 0,
        dotted if dotted.len() == 4 && dotted.starts_with('.') => digits(dotted, 1..4)? * 1000,
        dotted if dotted.len() == 7 && dotted.starts_with('.') => digits(dotted, 1..7)?,
        _ => return None,
    };
    Some((days * 86_400 + seconds) * 1_000_000 + fraction)
}

fn date_days(text: &str) -> Result<i32, String> {
    let date: chrono::NaiveDate = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a date"))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((date - epoch).num_days()).map_err(|_| format!("\"{text}\" is out of range"))
}

/// A decimal string as an integer count of 10⁻⁶ (refused if it has more decimals: never rounded).
fn decimal_units(text: &str) -> Result<i128, String> {
    let mut decimal: rust_decimal::Decimal = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a decimal"))?;
    let scale = u32::try_from(DECIMAL_SCALE).expect("positive scale");
    if decimal.normalize().scale() > scale {
        return Err(format!("\"{text}\" has more than {scale} decimals"));
    }
    decimal.rescale(scale);
    Ok(decimal.mantissa())
}

pub(super) fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Json => DataType::Utf8,
        Kind::Int64 => DataType::Int64,
        Kind::Bool => DataType::Boolean,
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Date => DataType::Date32,
        Kind::Decimal => DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with chrono on every form the ledger writes.
    #[test]
    fn instants_and_dates_read_fast_agree_with_the_general_parser() {
        for text in [
            "2026-01-31T10:00:00Z",
            "1999-12-31T23:59:59.250Z",
            "2024-02-29T00:00:00.000001Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            let general = ledger::domain::time::Timestamp::parse_rfc3339(text)
                .unwrap()
                .micros();
            assert_eq!(utc_micros(text), Some(general), "{text}");
        }
        assert_eq!(utc_micros("2026-01-31T15:00:00+05:00"), None);
        for text in ["2026-01-31", "2024-02-29", "1970-01-01", "1900-03-01"] {
            let date: chrono::NaiveDate = text.parse().unwrap();
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            let expected = i32::try_from((date - epoch).num_days()).unwrap();
            assert_eq!(date_days(text), Ok(expected), "{text}");
        }
    }
}
