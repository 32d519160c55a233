//! Producing one transaction's records (issue #7) and, with the public topic on, their public forms
//! (issue #14): the records of truth first, then, once their offsets are known, the public records at
//! the same partition numbers in the same order. The caller begins and commits the transaction.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use super::kafka_partition;
use super::writer::{
    HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION,
    HEADER_STREAM_ID, HEADER_STREAM_VERSION, Planned, PublicTopic, Writer, classify,
};
use crate::log::envelope::EnvelopeBody;
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, Position};

impl Writer {
    /// Produces the records of truth and waits for their offsets.
    pub(super) async fn produce_records(
        &self,
        planned: &[Planned],
    ) -> Result<Vec<Vec<Offset>>, LogError> {
        let mut deliveries: Vec<Vec<DeliveryFuture>> = Vec::with_capacity(planned.len());
        for plan in planned {
            let mut futures = Vec::with_capacity(plan.records.len());
            for sealed in &plan.records {
                let record = FutureRecord::to(&self.topic)
                    .partition(kafka_partition(plan.partition))
                    .key(plan.stream.as_str())
                    .payload(&sealed.bytes)
                    .headers(headers(&sealed.body, None));
                futures.push(self.send(record)?);
            }
            deliveries.push(futures);
        }
        let mut offsets = Vec::with_capacity(planned.len());
        for (plan, futures) in planned.iter().zip(deliveries) {
            let mut delivered = Vec::with_capacity(futures.len());
            for future in futures {
                let offset = self.delivered(future, plan.partition).await?;
                delivered.push(Offset(
                    u64::try_from(offset).expect("delivered offsets are non-negative"),
                ));
            }
            offsets.push(delivered);
        }
        Ok(offsets)
    }

    /// Produces each record's public form at the offset its record of truth got, in the same order on
    /// the same partition number, and waits until the broker has them all.
    pub(super) async fn produce_public(
        &self,
        public: &PublicTopic,
        planned: &[Planned],
        offsets: &[Vec<Offset>],
    ) -> Result<(), LogError> {
        let mut futures = Vec::new();
        for (plan, offsets) in planned.iter().zip(offsets) {
            for (sealed, offset) in plan.records.iter().zip(offsets) {
                let prepared = sealed
                    .public
                    .as_ref()
                    .expect("records are prepared while the public topic is on");
                let position = Position {
                    partition: plan.partition,
                    offset: *offset,
                };
                let bytes = public
                    .form
                    .finish(prepared, &sealed.body, position, &sealed.hash);
                let record = FutureRecord::to(&public.topic)
                    .partition(kafka_partition(plan.partition))
                    .key(plan.stream.as_str())
                    .payload(&bytes)
                    .headers(headers(&sealed.body, Some(public.form.content_type())));
                futures.push((self.send(record)?, plan.partition));
            }
        }
        for (future, partition) in futures {
            self.delivered(future, partition).await?;
        }
        Ok(())
    }

    fn send(&self, record: FutureRecord<'_, str, Vec<u8>>) -> Result<DeliveryFuture, LogError> {
        self.producer
            .send_result(record)
            .map_err(|(error, _)| classify(&self.producer, "enqueue", &error))
    }

    /// Waits for one delivery report; returns the Kafka offset.
    async fn delivered(
        &self,
        future: DeliveryFuture,
        partition: PartitionId,
    ) -> Result<i64, LogError> {
        let delivery = future
            .await
            .map_err(|_| {
                LogError::Unavailable("the Kafka producer dropped a delivery report".into())
            })?
            .map_err(|(error, _)| classify(&self.producer, "produce", &error))?;
        assert_eq!(
            delivery.partition,
            kafka_partition(partition),
            "explicit partition honoured"
        );
        Ok(delivery.offset)
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
