//! The Kafka backend's configuration, parsed from a URL so that every `ledger` command takes the same
//! `--log kafka://HOST:PORT[,HOST:PORT]?prefix=ledger&partitions=8&…` (issue #7).
//!
//! Options the ledger understands are listed in [`KafkaConfig`]; every other query parameter whose
//! name starts with `security.`, `sasl.`, `ssl.` or `client.` is passed to librdkafka untouched, so TLS
//! and SASL need no code here. Anything else is refused: a typo must not silently fall back to a default.

use std::collections::BTreeMap;
use std::fmt;

/// The topic prefix used when the URL names none.
pub const PREFIX_DEFAULT: &str = "ledger";
/// The partition count used when the URL names none; fixed for the life of a deployment.
pub const PARTITIONS_DEFAULT: u32 = 8;
/// The largest partition count accepted (a sanity bound, far above any planned deployment).
pub const PARTITIONS_MAX: u32 = 1024;
/// The replication factor used when creating the topic if the URL names none (1 suits a test broker;
/// production sets 3, see `deploy/`).
pub const REPLICATION_DEFAULT: i32 = 1;

/// The most events one Kafka transaction carries unless the URL says otherwise (`transaction_events`).
pub const TRANSACTION_EVENTS_DEFAULT: usize = 20_000;
/// How long a transaction stays open for more commands unless the URL says otherwise (`linger_ms`).
/// Under load (the deciding task never idle) this bounds how long a command waits in an open
/// transaction; without load a transaction closes as soon as nothing more is being decided.
pub const LINGER_MS_DEFAULT: u64 = 50;

/// librdkafka setting prefixes passed through from the URL query.
const PASS_THROUGH_PREFIXES: [&str; 4] = ["security.", "sasl.", "ssl.", "client."];

/// Whether this process appends (and so fences any other writer) or only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns every partition: claims the transactional id (fencing the previous owner) and rebuilds
    /// stream versions, command ids and chain heads from the topic on open.
    Writer,
    /// Reads only (projectors, exports, audits): never claims the transactional id, so it cannot
    /// fence the writer; `read_stream` and `stream_version` scan the partition.
    Reader,
}

/// A parsed `kafka://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `HOST:PORT[,HOST:PORT…]`, handed to librdkafka as `bootstrap.servers`.
    pub bootstrap: String,
    /// Topic names start with this; the events topic is `<prefix>.events`.
    pub prefix: String,
    pub partitions: u32,
    /// Used only when this process creates the topic.
    pub replication: i32,
    pub role: Role,
    /// The partitions this writer owns, `first..=last` (default: all). Streams on other partitions are
    /// refused; their writer is another process with its own range and transactional id. The ranges of
    /// a deployment must not overlap: writers with different transactional ids do not fence each other.
    pub owns: (u32, u32),
    /// The writer's transactional id; two writers with the same id fence each other (the later
    /// wins). Defaults to `<prefix>.writer`: one writer per deployment.
    pub writer_id: String,
    /// The consumer group of a following projector; defaults to `<prefix>.projector`. The group names
    /// one view store: every view store needs its own (see `docs/kafka.md`, "Following").
    pub group: String,
    /// Whether the writer also publishes every event's public form (a CloudEvent) on
    /// `<prefix>.events.json`, in the same transaction (issue #14). On by default;
    /// `public_topic=off` turns it off.
    pub public_topic: bool,
    /// The writer closes a transaction once it holds this many events (`transaction_events`, 1 to
    /// 100,000; default [`TRANSACTION_EVENTS_DEFAULT`]).
    pub transaction_events: usize,
    /// …or once it has been open this long, in milliseconds (`linger_ms`, 0 to 1,000; default
    /// [`LINGER_MS_DEFAULT`]), whichever comes first.
    pub linger_ms: u64,
    /// librdkafka settings passed through (security.protocol, sasl.*, ssl.*, client.id).
    pub pass_through: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log URL \"{url}\" is invalid: {reason}")]
pub struct InvalidKafkaUrl {
    pub url: String,
    pub reason: String,
}

impl KafkaConfig {
    /// Parses `kafka://HOST:PORT[,HOST:PORT]?option=value&…`.
    pub fn from_url(url: &str) -> Result<KafkaConfig, InvalidKafkaUrl> {
        let invalid = |reason: String| InvalidKafkaUrl {
            url: redact(url),
            reason,
        };
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("expected it to start with kafka://".to_owned()))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        if hosts.is_empty() || hosts.split(',').any(|host| !is_host_port(host)) {
            return Err(invalid(format!(
                "bootstrap \"{hosts}\" must be HOST:PORT[,HOST:PORT…]"
            )));
        }
        let mut config = KafkaConfig {
            bootstrap: hosts.to_owned(),
            prefix: PREFIX_DEFAULT.to_owned(),
            partitions: PARTITIONS_DEFAULT,
            replication: REPLICATION_DEFAULT,
            role: Role::Writer,
            owns: (0, u32::MAX),
            writer_id: String::new(),
            group: String::new(),
            public_topic: true,
            transaction_events: TRANSACTION_EVENTS_DEFAULT,
            linger_ms: LINGER_MS_DEFAULT,
            pass_through: BTreeMap::new(),
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("option \"{pair}\" must be NAME=VALUE")))?;
            config.set(name, value).map_err(invalid)?;
        }
        let last = config.partitions - 1;
        if config.owns.1 == u32::MAX {
            config.owns.1 = last;
        } else if config.owns.1 > last {
            let (first, end) = config.owns;
            return Err(invalid(format!(
                "owns={first}-{end} reaches past the last partition {last} (partitions={})",
                config.partitions
            )));
        }
        if config.group.is_empty() {
            config.group = format!("{}.projector", config.prefix);
        }
        if config.writer_id.is_empty() {
            config.writer_id = if config.owns == (0, last) {
                format!("{}.writer", config.prefix)
            } else {
                format!(
                    "{}.writer.{}-{}",
                    config.prefix, config.owns.0, config.owns.1
                )
            };
        }
        Ok(config)
    }

    /// Whether this writer owns `partition`.
    pub fn owns(&self, partition: u32) -> bool {
        (self.owns.0..=self.owns.1).contains(&partition)
    }

    /// The events topic: `<prefix>.events`.
    pub fn events_topic(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// The public topic: `<prefix>.events.json` (written only with `public_topic` on).
    pub fn public_topic_name(&self) -> String {
        format!("{}.events.json", self.prefix)
    }

    /// `transaction_events` and `linger_ms`: when the writer closes a transaction.
    fn set_transactions(&mut self, name: &str, value: &str) -> Result<(), String> {
        if name == "transaction_events" {
            self.transaction_events = value
                .parse()
                .ok()
                .filter(|count| (1..=100_000).contains(count))
                .ok_or_else(|| {
                    format!("transaction_events \"{value}\" must be a number from 1 to 100000")
                })?;
        } else {
            self.linger_ms = value
                .parse()
                .ok()
                .filter(|millis| *millis <= 1_000)
                .ok_or_else(|| format!("linger_ms \"{value}\" must be a number from 0 to 1000"))?;
        }
        Ok(())
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "prefix" => {
                let valid = !value.is_empty()
                    && value.len() <= 200
                    && value
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
                if !valid {
                    return Err(format!(
                        "prefix \"{value}\" must be 1–200 characters of [A-Za-z0-9._-]"
                    ));
                }
                self.prefix = value.to_owned();
            }
            "partitions" => {
                self.partitions = value
                    .parse()
                    .ok()
                    .filter(|count| (1..=PARTITIONS_MAX).contains(count))
                    .ok_or_else(|| {
                        format!(
                            "partitions \"{value}\" must be a number from 1 to {PARTITIONS_MAX}"
                        )
                    })?;
            }
            "replication" => {
                self.replication = value
                    .parse()
                    .ok()
                    .filter(|factor| (1..=16).contains(factor))
                    .ok_or_else(|| {
                        format!("replication \"{value}\" must be a number from 1 to 16")
                    })?;
            }
            "role" => self.role = parse_role(value)?,
            "writer_id" if !value.is_empty() => self.writer_id = value.to_owned(),
            "public_topic" => self.public_topic = parse_switch(name, value)?,
            "group" if !value.is_empty() => self.group = value.to_owned(),
            "transaction_events" | "linger_ms" => self.set_transactions(name, value)?,
            "owns" => {
                let range = value.split_once('-').and_then(|(first, last)| {
                    Some((first.parse::<u32>().ok()?, last.parse::<u32>().ok()?))
                });
                self.owns = range
                    .filter(|(first, last)| first <= last && *last < PARTITIONS_MAX)
                    .ok_or_else(|| {
                        format!("owns \"{value}\" must be FIRST-LAST partitions, e.g. 0-3")
                    })?;
            }
            _ if PASS_THROUGH_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix)) =>
            {
                self.pass_through.insert(name.to_owned(), value.to_owned());
            }
            _ => {
                return Err(format!(
                    "unknown option \"{name}\"; known: prefix, partitions, replication, role, owns, writer_id, group, \
                     public_topic, transaction_events, linger_ms, and librdkafka settings starting with {}",
                    PASS_THROUGH_PREFIXES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Secrets (SASL passwords, key passwords) never appear in `Debug` output or error messages.
impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings: Vec<&String> = self.pass_through.keys().collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap", &self.bootstrap)
            .field("prefix", &self.prefix)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("role", &self.role)
            .field("owns", &self.owns)
            .field("writer_id", &self.writer_id)
            .field("group", &self.group)
            .field("public_topic", &self.public_topic)
            .field("transaction_events", &self.transaction_events)
            .field("linger_ms", &self.linger_ms)
            .field("pass_through (values hidden)", &settings)
            .finish()
    }
}

fn parse_role(value: &str) -> Result<Role, String> {
    match value {
        "writer" => Ok(Role::Writer),
        "reader" => Ok(Role::Reader),
        _ => Err(format!("role \"{value}\" must be writer or reader")),
    }
}

fn parse_switch(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{name} \"{value}\" must be on or off")),
    }
}

fn is_host_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|port| port > 0),
        None => false,
    }
}

/// Drops the query (which may hold passwords) from a URL quoted in an error.
fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_options() {
        let config = KafkaConfig::from_url("kafka://127.0.0.1:9092").unwrap();
        assert_eq!(config.bootstrap, "127.0.0.1:9092");
        assert_eq!(config.events_topic(), "ledger.events");
        assert_eq!(config.partitions, PARTITIONS_DEFAULT);
        assert_eq!(config.role, Role::Writer);
        assert_eq!(config.writer_id, "ledger.writer");
        assert_eq!(config.owns, (0, PARTITIONS_DEFAULT - 1));
        assert_eq!(config.group, "ledger.projector");
        assert!(config.public_topic, "the public topic is on by default");
        assert_eq!(config.public_topic_name(), "ledger.events.json");
        assert_eq!(
            (config.transaction_events, config.linger_ms),
            (TRANSACTION_EVENTS_DEFAULT, LINGER_MS_DEFAULT)
        );
        let config =
            KafkaConfig::from_url("kafka://a:1?transaction_events=50&linger_ms=0").unwrap();
        assert_eq!((config.transaction_events, config.linger_ms), (50, 0));
        let config =
            KafkaConfig::from_url("kafka://a:1?prefix=kz&group=kz.views-2&public_topic=off")
                .unwrap();
        assert_eq!(config.group, "kz.views-2");
        assert!(!config.public_topic);
        assert_eq!(config.public_topic_name(), "kz.events.json");

        let config = KafkaConfig::from_url("kafka://a:1?partitions=8&owns=4-7").unwrap();
        assert_eq!(
            (config.owns, config.writer_id.as_str()),
            ((4, 7), "ledger.writer.4-7")
        );
        assert!(config.owns(4) && config.owns(7) && !config.owns(3));

        let url = "kafka://a:1,b:2/?prefix=kz-prod&partitions=16&role=reader&security.protocol=SASL_SSL\
                   &sasl.password=secret&replication=3";
        let config = KafkaConfig::from_url(url).unwrap();
        assert_eq!(config.bootstrap, "a:1,b:2");
        assert_eq!(config.events_topic(), "kz-prod.events");
        assert_eq!(
            (config.partitions, config.replication, config.role),
            (16, 3, Role::Reader)
        );
        assert_eq!(config.writer_id, "kz-prod.writer");
        assert_eq!(config.pass_through["security.protocol"], "SASL_SSL");
        assert!(
            !format!("{config:?}").contains("secret"),
            "Debug must hide pass-through values"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, reason) in [
            ("http://a:1", "kafka://"),
            ("kafka://", "HOST:PORT"),
            ("kafka://a", "HOST:PORT"),
            ("kafka://a:0", "HOST:PORT"),
            ("kafka://a:1?partitions=0", "partitions"),
            ("kafka://a:1?partitions=x", "partitions"),
            ("kafka://a:1?prefix=a/b", "prefix"),
            ("kafka://a:1?role=boss", "role"),
            (
                "kafka://a:1?public_topic=no",
                "public_topic \"no\" must be on or off",
            ),
            ("kafka://a:1?owns=3", "FIRST-LAST"),
            ("kafka://a:1?owns=4-2", "FIRST-LAST"),
            (
                "kafka://a:1?partitions=4&owns=2-4",
                "past the last partition 3",
            ),
            ("kafka://a:1?partition=8", "unknown option \"partition\""),
            ("kafka://a:1?linger.ms=5", "unknown option"),
            ("kafka://a:1?novalue", "NAME=VALUE"),
            (
                "kafka://a:1?transaction_events=0",
                "transaction_events \"0\" must be a number from 1 to 100000",
            ),
            (
                "kafka://a:1?linger_ms=5000",
                "linger_ms \"5000\" must be a number from 0 to 1000",
            ),
        ] {
            let error = KafkaConfig::from_url(url).expect_err(url);
            assert!(error.to_string().contains(reason), "{url}: {error}");
        }
        let error = KafkaConfig::from_url("kafka://a?sasl.password=secret").unwrap_err();
        assert!(
            !error.to_string().contains("secret"),
            "errors must not quote the query: {error}"
        );
    }
}
