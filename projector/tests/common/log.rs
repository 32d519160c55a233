//! An in-memory, read-only [`EventLog`] over prepared records, for driving the projector in tests.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ledger::log::{
    AppendOutcome, AppendRequest, EventEnvelope, EventLog, LogError, Offset, PartitionId, StreamId,
    StreamVersion,
};

pub struct VecLog {
    partitions: Mutex<Vec<Vec<EventEnvelope>>>,
}

impl VecLog {
    pub fn new(partitions: Vec<Vec<EventEnvelope>>) -> VecLog {
        VecLog {
            partitions: Mutex::new(partitions),
        }
    }

    /// Adds prepared records at the end of their partitions (as a writer would have).
    pub fn push(&self, records: Vec<EventEnvelope>) {
        let mut partitions = self.partitions.lock().unwrap();
        for record in records {
            let log = &mut partitions[usize::try_from(record.position.partition.0).unwrap()];
            assert_eq!(
                record.position.offset.0,
                u64::try_from(log.len()).unwrap(),
                "records arrive in offset order"
            );
            log.push(record);
        }
    }

    fn len(&self, partition: PartitionId) -> u64 {
        let partitions = self.partitions.lock().unwrap();
        u64::try_from(partitions[usize::try_from(partition.0).unwrap()].len()).unwrap()
    }
}

#[async_trait]
impl EventLog for VecLog {
    fn partitions(&self) -> u32 {
        u32::try_from(self.partitions.lock().unwrap().len()).unwrap()
    }

    async fn append(&self, _request: AppendRequest) -> Result<AppendOutcome, LogError> {
        Err(LogError::Invalid("the test log is read-only".into()))
    }

    async fn read_batch(
        &self,
        partition: PartitionId,
        from: Offset,
        max: usize,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let partitions = self.partitions.lock().unwrap();
        let log = &partitions[usize::try_from(partition.0).unwrap()];
        let start = usize::try_from(from.0).unwrap().min(log.len());
        Ok(log[start..].iter().take(max).cloned().collect())
    }

    async fn end_offset(&self, partition: PartitionId) -> Result<Offset, LogError> {
        Ok(Offset(self.len(partition)))
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let partitions = self.partitions.lock().unwrap();
        let records = partitions.iter().flatten();
        Ok(records
            .filter(|record| &record.body.stream == stream && record.body.stream_version >= from)
            .cloned()
            .collect())
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, LogError> {
        let records = self.read_stream(stream, StreamVersion(1)).await?;
        Ok(records
            .last()
            .map_or(StreamVersion::NONE, |record| record.body.stream_version))
    }

    async fn command_outcome(
        &self,
        _command_id: ledger::log::CommandId,
    ) -> Result<Option<AppendOutcome>, LogError> {
        // Read-only over prepared records: no command was ever appended through it.
        Ok(None)
    }

    async fn wait_for(
        &self,
        partition: PartitionId,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, LogError> {
        // Poll: the test log has no notifier, and a short sleep keeps follow tests responsive.
        let poll = Duration::from_millis(5);
        let mut waited = Duration::ZERO;
        while self.len(partition) <= offset.0 {
            if waited >= timeout {
                return Ok(false);
            }
            tokio::time::sleep(poll).await;
            waited += poll;
        }
        Ok(true)
    }
}
