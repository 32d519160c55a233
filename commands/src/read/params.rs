//! Query parameters of the reader's routes: each taken by name, at most once, and any parameter a
//! route does not know refused (400 naming it), so a typo never silently widens an answer.

use std::str::FromStr;

use axum::http::StatusCode;
use axum::response::Response;
use ledger::log::{PartitionId, Position};

use crate::serve::error;

/// The rule of a refused query parameter, path segment or header.
pub const PARAMETER_RULE: &str = "PARAMETER";

/// The longest `wait` accepted, in seconds.
pub const WAIT_SECONDS_MAX: u64 = 60;
/// How long a request with `min_position` and no `wait` waits, in seconds.
pub const WAIT_SECONDS_DEFAULT: u64 = 10;

/// A 400 in the refusal shape naming `field`.
pub fn bad_request(field: &str, message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        PARAMETER_RULE,
        Some(field.to_owned()),
        message,
    )
}

/// The decoded query string of one request.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Params { pairs }
    }

    /// The value of `name`, if given; given twice is refused.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, Response> {
        let mut values = Vec::new();
        self.pairs.retain(|(key, value)| {
            if key == name {
                values.push(value.clone());
                false
            } else {
                true
            }
        });
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.pop()),
            _ => Err(bad_request(
                name,
                format!(
                    "query parameter \"{name}\" is given {} times; give it once",
                    values.len()
                ),
            )),
        }
    }

    /// `name` parsed with `FromStr`; `expected` says what it must be.
    pub fn parsed<T: FromStr>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, Response> {
        match self.take(name)? {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                bad_request(
                    name,
                    format!("query parameter {name}={text:?} is not {expected}"),
                )
            }),
        }
    }

    /// A flag: `true`/`false` (or `1`/`0`); absent is false.
    pub fn flag(&mut self, name: &str) -> Result<bool, Response> {
        match self.take(name)?.as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(other) => Err(bad_request(
                name,
                format!("query parameter {name}={other:?} is not true or false"),
            )),
        }
    }

    /// Refuses whatever parameter is left: the route does not know it.
    pub fn finish(self, known: &[&str]) -> Result<(), Response> {
        let Some((name, _)) = self.pairs.first() else {
            return Ok(());
        };
        let known = if known.is_empty() {
            "it takes none".to_owned()
        } else {
            format!("it knows {}", known.join(", "))
        };
        Err(bad_request(
            name,
            format!("unknown query parameter \"{name}\" for this route; {known}"),
        ))
    }
}

/// Read-your-writes (issue #14 §3): the positions a write answered with, and how long to wait for
/// the views to apply them.
#[derive(Debug, Clone, Default)]
pub struct MinPosition {
    pub positions: Vec<Position>,
    pub wait_seconds: u64,
}

/// The names `MinPosition::take` consumes.
pub const CONSISTENCY_PARAMETERS: [&str; 2] = ["min_position", "wait"];

impl MinPosition {
    /// Takes `min_position=p:o,…` and `wait=SECONDS` from the query.
    pub fn take(params: &mut Params, partitions: u32) -> Result<MinPosition, Response> {
        let wait_seconds = params
            .parsed::<u64>("wait", &format!("a number of seconds 0–{WAIT_SECONDS_MAX}"))?
            .unwrap_or(WAIT_SECONDS_DEFAULT);
        if wait_seconds > WAIT_SECONDS_MAX {
            return Err(bad_request(
                "wait",
                format!(
                    "query parameter wait={wait_seconds} is more than {WAIT_SECONDS_MAX} seconds"
                ),
            ));
        }
        let Some(text) = params.take("min_position")? else {
            return Ok(MinPosition::default());
        };
        let mut positions = Vec::new();
        for part in text.split(',') {
            let position = Position::from_str(part).map_err(|error| {
                bad_request(
                    "min_position",
                    format!("query parameter min_position={text:?}: {error}"),
                )
            })?;
            if position.partition >= PartitionId(partitions) {
                return Err(bad_request(
                    "min_position",
                    format!(
                        "query parameter min_position={text:?}: partition {} does not exist; the log has {partitions} (0–{})",
                        position.partition,
                        partitions - 1
                    ),
                ));
            }
            positions.push(position);
        }
        Ok(MinPosition {
            positions,
            wait_seconds,
        })
    }
}
