//! Producing into the open transaction (issue #7, pipelined in issue #16 §3): the records of truth
//! of each decided batch as it arrives, and, with the public topic on (issue #14), each record's
//! public form once its record of truth has an offset, at the same partition number, in the same
//! order. The committing task (`commit.rs`) begins and commits the transaction.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use super::commit::{At, Committer, Open};
use super::kafka_partition;
use super::writer::{
    Decided, HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION,
    HEADER_STREAM_ID, HEADER_STREAM_VERSION, PublicTopic, classify,
};
use crate::log::envelope::EnvelopeBody;
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, Position};

impl Committer {
    /// Produces the records of truth of one decided batch into the open transaction. A refused
    /// record fails the transaction (the batch is still added, to be failed with it).
    pub(super) fn produce_batch(&self, open: &mut Open, decided: Decided) {
        let batch = open.batches.len();
        open.events += decided.events();
        open.offsets.push(
            decided
                .planned
                .iter()
                .map(|plan| Vec::with_capacity(plan.records.len()))
                .collect(),
        );
        for (index, plan) in decided.planned.iter().enumerate() {
            if open.error.is_some() {
                break;
            }
            for (record, sealed) in plan.records.iter().enumerate() {
                let message = FutureRecord::to(&self.topic)
                    .partition(kafka_partition(plan.partition))
                    .key(plan.stream.as_str())
                    .payload(&sealed.bytes)
                    .headers(headers(&sealed.body, None));
                match self.send(message) {
                    Ok(future) => {
                        let at = At {
                            batch,
                            plan: index,
                            record,
                        };
                        open.undelivered.push_back((at, plan.partition, future));
                    }
                    Err(error) => {
                        open.error = Some(error);
                        break;
                    }
                }
            }
        }
        open.batches.push(decided);
    }

    /// Produces the public form of the record at `at`, which was delivered at `offset`.
    pub(super) fn produce_public(
        &self,
        public: &PublicTopic,
        open: &mut Open,
        at: At,
        offset: Offset,
    ) -> Result<(), LogError> {
        let plan = &open.batches[at.batch].planned[at.plan];
        let sealed = &plan.records[at.record];
        let prepared = sealed
            .public
            .as_ref()
            .expect("records are prepared while the public topic is on");
        let position = Position {
            partition: plan.partition,
            offset,
        };
        let bytes = public
            .form
            .finish(prepared, &sealed.body, position, &sealed.hash);
        let message = FutureRecord::to(&public.topic)
            .partition(kafka_partition(plan.partition))
            .key(plan.stream.as_str())
            .payload(&bytes)
            .headers(headers(&sealed.body, Some(public.form.content_type())));
        let future = self.send(message)?;
        let partition = plan.partition;
        open.public.push((future, partition));
        Ok(())
    }

    fn send(&self, record: FutureRecord<'_, str, Vec<u8>>) -> Result<DeliveryFuture, LogError> {
        self.producer
            .send_result(record)
            .map_err(|(error, _)| classify(&self.producer, "enqueue", &error))
    }

    /// The offset in one delivery report (or why the record was not delivered).
    pub(super) fn offset_of(
        &self,
        output: <DeliveryFuture as std::future::Future>::Output,
        partition: PartitionId,
    ) -> Result<Offset, LogError> {
        let delivery = output
            .map_err(|_| {
                LogError::Unavailable("the Kafka producer dropped a delivery report".into())
            })?
            .map_err(|(error, _)| classify(&self.producer, "produce", &error))?;
        assert_eq!(
            delivery.partition,
            kafka_partition(partition),
            "explicit partition honoured"
        );
        Ok(Offset(
            u64::try_from(delivery.offset).expect("delivered offsets are non-negative"),
        ))
    }
}

/// The routing headers of a record (docs/subscribing.md), and on the public topic its media type.
fn headers(body: &EnvelopeBody, content_type: Option<&str>) -> OwnedHeaders {
    let schema_version = body.payload.schema_version.to_string();
    let event_id = body.event_id.to_string();
    let stream_version = body.stream_version.to_string();
    let headers = match content_type {
        Some(content_type) => OwnedHeaders::new_with_capacity(6).insert(Header {
            key: HEADER_CONTENT_TYPE,
            value: Some(content_type),
        }),
        None => OwnedHeaders::new_with_capacity(5),
    };
    headers
        .insert(Header {
            key: HEADER_EVENT_TYPE,
            value: Some(body.payload.event_type.as_str()),
        })
        .insert(Header {
            key: HEADER_SCHEMA_VERSION,
            value: Some(schema_version.as_str()),
        })
        .insert(Header {
            key: HEADER_EVENT_ID,
            value: Some(event_id.as_str()),
        })
        .insert(Header {
            key: HEADER_STREAM_ID,
            value: Some(body.stream.as_str()),
        })
        .insert(Header {
            key: HEADER_STREAM_VERSION,
            value: Some(stream_version.as_str()),
        })
}
