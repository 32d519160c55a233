//! Where each period lies on each partition (issue #16): a seal of month *n* used to read every
//! partition from its first record, so sealing a year read the log twelve times over. As it replays
//! the log, the writer's state notes the first and the last record of each `(jurisdiction, month)`'s
//! period streams on each partition, each with the records before it (a seal's
//! `PartitionHead::records` counts from the partition's start). A seal then reads that span, and
//! whatever the checkpoint has not yet seen.

use std::collections::HashMap;

use ledger::log::{EventEnvelope, PartitionId};
use projector::{StoreError, WriteBatch};

use super::StateStore;
use super::layout::{self, Cursor};
use crate::audit::seal::{ReadSpan, period_month};

/// A period's records on one partition: the cursors before its first and before its last record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: Cursor,
    last: Cursor,
}

impl Span {
    fn encode(self) -> Vec<u8> {
        [self.first.encode(), self.last.encode()].concat()
    }

    fn decode(key: &[u8], bytes: &[u8]) -> Result<Span, StoreError> {
        if bytes.len() != 32 {
            return Err(StoreError::corrupt(
                &layout::periods(),
                key,
                format!("expected 32 bytes (two cursors), found {}", bytes.len()),
            ));
        }
        let (first, last) = bytes.split_at(16);
        Ok(Span {
            first: Cursor::decode(&layout::periods(), key, first)?,
            last: Cursor::decode(&layout::periods(), key, last)?,
        })
    }
}

/// The spans a replay has seen, stored or not, and which of them it changed.
#[derive(Debug, Default)]
pub struct PeriodSpans {
    spans: HashMap<Vec<u8>, (Span, bool)>,
}

impl PeriodSpans {
    /// Notes `envelope`, read at `before` (the cursor before it), in its period's span on its
    /// partition: the first such record a replay meets opens the span (a replay reads each partition
    /// in order, and the store has seen every record before the checkpoint), each one extends it.
    pub fn see(
        &mut self,
        store: &dyn StateStore,
        envelope: &EventEnvelope,
        before: Cursor,
    ) -> Result<(), StoreError> {
        let body = &envelope.body;
        let Some(month) = period_month(&body.stream) else {
            return Ok(());
        };
        let key = layout::period_key(body.jurisdiction.code(), month, envelope.position.partition);
        let at = Cursor {
            next: envelope.position.offset.0,
            records: before.records,
        };
        if let Some((span, changed)) = self.spans.get_mut(&key) {
            span.last = at;
            *changed = true;
            return Ok(());
        }
        let span = match store.get(&layout::periods(), &key)? {
            Some(bytes) => Span {
                last: at,
                ..Span::decode(&key, &bytes)?
            },
            None => Span {
                first: at,
                last: at,
            },
        };
        self.spans.insert(key, (span, true));
        Ok(())
    }

    /// Puts the changed spans into `batch` (committed with the checkpoint they were read to).
    pub fn write(&mut self, batch: &mut WriteBatch) {
        for (key, (span, changed)) in &mut self.spans {
            if std::mem::take(changed) {
                batch.put(&layout::periods(), key.clone(), span.encode());
            }
        }
    }
}

/// What a seal of `month` in `jurisdiction` reads on each partition: the stored span, then
/// everything from `checkpoint` on (the store has seen every record before it).
pub fn read_spans(
    store: &dyn StateStore,
    jurisdiction: &str,
    month: &str,
    checkpoint: &[Cursor],
) -> Result<Vec<Vec<ReadSpan>>, StoreError> {
    (0..)
        .zip(checkpoint)
        .map(|(partition, cursor)| {
            let key = layout::period_key(jurisdiction, month, PartitionId(partition));
            let tail = ReadSpan {
                from: *cursor,
                to: None,
            };
            let Some(bytes) = store.get(&layout::periods(), &key)? else {
                return Ok(vec![tail]);
            };
            let span = Span::decode(&key, &bytes)?;
            if span.last.next >= cursor.next {
                // Not yet checkpointed past it (a stale span can only come before the checkpoint).
                return Ok(vec![ReadSpan {
                    from: span.first,
                    to: None,
                }]);
            }
            let stored = ReadSpan {
                from: span.first,
                to: Some(span.last.next + 1),
            };
            Ok(vec![stored, tail])
        })
        .collect()
}
