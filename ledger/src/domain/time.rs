//! Instants. Instants are UTC ([`Timestamp`]); legal dates are local dates of a jurisdiction and live in
//! the calendar module.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// An instant in UTC with microsecond precision.
///
/// Wire form: integer microseconds since the Unix epoch in binary encodings, an RFC 3339 string
/// (`2026-01-31T10:00:00Z`) in human-readable ones (JSON).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp { micros: 0 };

    pub fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    pub fn micros(self) -> i64 {
        self.micros
    }

    pub fn from_datetime(datetime: DateTime<Utc>) -> Self {
        Self {
            micros: datetime.timestamp_micros(),
        }
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.micros)
            .single()
            .expect("every i64 microsecond count is a valid instant")
    }

    /// Parses RFC 3339 (`2026-01-31T10:00:00Z`, offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Result<Self, chrono::ParseError> {
        Ok(Self::from_datetime(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .to_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        f.write_str(&text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.micros)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
        } else {
            Ok(Timestamp {
                micros: i64::deserialize(deserializer)?,
            })
        }
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "An instant in UTC, RFC 3339."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_rfc3339_and_binary_is_micros() {
        let instant = Timestamp::parse_rfc3339("2026-01-31T10:00:00Z").unwrap();
        assert_eq!(
            serde_json::to_string(&instant).unwrap(),
            "\"2026-01-31T10:00:00Z\""
        );
        let bytes = crate::codec::encode(&instant).unwrap();
        assert_eq!(crate::codec::decode::<Timestamp>(&bytes).unwrap(), instant);
        let back: Timestamp = serde_json::from_str("\"2026-01-31T15:00:00+05:00\"").unwrap();
        assert_eq!(back, instant);
    }
}
