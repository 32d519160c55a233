//! A record's bytes exactly as stored (issue #15: audit packs and proofs carry raw records). The log
//! hands out decoded envelopes; the codec is deterministic, so re-encoding a body under the layout it
//! was written with gives its stored bytes back, and the chain hash tells which layout that was: the
//! current one (byte 2) or the first (byte 1, no person on the actor and no command digest).

use ledger::codec;
use ledger::log::envelope::{ActorV1, ENVELOPE_LAYOUT, EnvelopeBodyV1};
use ledger::log::{ChainHash, EnvelopeBody, EventEnvelope, LogError};

/// `codec(body) ‖ hash` as stored, given the previous record's chain hash; None when no layout
/// reproduces the stored hash (a record this build cannot re-encode).
pub fn record_bytes(
    envelope: &EventEnvelope,
    previous: &ChainHash,
) -> Result<Option<Vec<u8>>, LogError> {
    let (bytes, hash) = EventEnvelope::seal(&envelope.body, previous)?;
    if hash == envelope.hash {
        return Ok(Some(bytes));
    }
    let body = &envelope.body;
    if body.actor.person.is_some() || body.command_digest.is_some() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(256);
    codec::encode_layout_into(&first_layout(body), 1, &mut bytes)?;
    let hash = previous.link(&bytes);
    if hash != envelope.hash {
        return Ok(None);
    }
    bytes.extend_from_slice(&hash.0);
    Ok(Some(bytes))
}

/// The body in the envelope's first layout.
fn first_layout(body: &EnvelopeBody) -> EnvelopeBodyV1 {
    debug_assert_ne!(
        ENVELOPE_LAYOUT, 1,
        "the first layout is not the current one"
    );
    EnvelopeBodyV1 {
        event_id: body.event_id,
        stream: body.stream.clone(),
        stream_version: body.stream_version,
        recorded_at: body.recorded_at,
        occurred_at: body.occurred_at,
        jurisdiction: body.jurisdiction,
        command_id: body.command_id,
        causation_id: body.causation_id,
        correlation_id: body.correlation_id,
        actor: ActorV1 {
            id: body.actor.id.clone(),
            role: body.actor.role,
        },
        payload: body.payload.clone(),
    }
}

#[cfg(test)]
mod tests {
    use ledger::domain::time::Timestamp;
    use ledger::log::{
        Actor, ActorId, ActorRole, CommandId, EventId, Offset, PartitionId, Payload, Position,
        StreamId, StreamVersion,
    };
    use uuid::Uuid;

    use super::*;

    fn body() -> EnvelopeBody {
        EnvelopeBody {
            event_id: EventId(Uuid::from_u128(1)),
            stream: StreamId::new("period/C-1/2026-01").unwrap(),
            stream_version: StreamVersion(1),
            recorded_at: Timestamp::from_micros(5),
            occurred_at: Timestamp::from_micros(6),
            jurisdiction: ledger::domain::jurisdiction::Jurisdiction::KZ,
            command_id: CommandId(Uuid::from_u128(2)),
            causation_id: None,
            correlation_id: Uuid::nil(),
            actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
            payload: Payload {
                event_type: "X".into(),
                schema_version: 1,
                data: vec![1, 2, 3],
            },
            command_digest: None,
        }
    }

    /// A record of either layout is given back byte for byte; a foreign hash gives none.
    #[test]
    fn stored_bytes_of_both_layouts_come_back() {
        let position = Position {
            partition: PartitionId(0),
            offset: Offset(0),
        };
        let (current, _) = EventEnvelope::seal(&body(), &ChainHash::GENESIS).unwrap();
        let mut first = Vec::new();
        codec::encode_layout_into(&first_layout(&body()), 1, &mut first).unwrap();
        let hash = ChainHash::GENESIS.link(&first);
        first.extend_from_slice(&hash.0);
        for stored in [current, first] {
            let envelope = EventEnvelope::decode(position, &stored).unwrap();
            assert_eq!(
                record_bytes(&envelope, &ChainHash::GENESIS).unwrap(),
                Some(stored.clone())
            );
            assert_eq!(record_bytes(&envelope, &ChainHash([9; 32])).unwrap(), None);
        }
    }
}
