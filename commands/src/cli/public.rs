//! The one public form on the command line (issue #14, DESIGN §9): `ledger log tail --format json` and
//! `ledger history --format json` print each event as the CloudEvent `ledger::public` renders, the
//! same bytes a subscriber reads from the Kafka topic `<prefix>.events.json`.

use std::io::Write;

use ledger::log::EventEnvelope;
use ledger::public::CloudEvents;

use super::GlobalOpts;

/// The deployment's form: CloudEvents with `--event-source` as their `source`.
pub fn form(global: &GlobalOpts) -> CloudEvents {
    CloudEvents::new(global.event_source.clone())
}

/// Writes the CloudEvent of `envelope` as one line. A record this build cannot decode (a newer
/// event type or schema version) has no public form: that is an error naming the record.
pub fn write_line(
    out: &mut impl Write,
    form: &CloudEvents,
    envelope: &EventEnvelope,
) -> anyhow::Result<()> {
    let bytes = form.to_bytes(envelope).map_err(|error| {
        anyhow::anyhow!(
            "record {} ({} v{} on stream \"{}\") has no public form: {error}; \
             print it with --format text, or upgrade this ledger binary",
            envelope.position,
            envelope.body.payload.event_type,
            envelope.body.payload.schema_version,
            envelope.body.stream
        )
    })?;
    out.write_all(&bytes)?;
    out.write_all(b"\n")?;
    Ok(())
}
