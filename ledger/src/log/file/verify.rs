//! `verify`: a full, read-only check of a data directory, reporting instead of failing.
//!
//! Per partition it checks every segment header, every frame's length and CRC-32C, the hash chain from
//! genesis, that every body decodes, that every stream sits on its partition with gapless versions, and
//! that every multi-event command is complete and contiguous. It stops a partition at its first
//! problem, since nothing after a break can be trusted. It takes no lock; run against a log that is
//! being written, a write in progress may show as a torn tail.

use std::path::Path;

use super::index::Index;
use super::layout::{Layout, settle_partitions};
use super::scan::{Access, Problem, scan_partition};
use crate::log::envelope::ChainHash;
use crate::log::error::LogError;
use crate::log::ids::PartitionId;

/// The verdict on every partition of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub partitions: Vec<PartitionVerdict>,
}

/// The verdict on one partition: what was good, and the first problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionVerdict {
    pub partition: PartitionId,
    /// Segments scanned (all of them when the partition is intact).
    pub segments: u32,
    /// Good records before the first problem.
    pub records: u64,
    /// Bytes of the segment files scanned (all of them when the partition is intact).
    pub bytes: u64,
    /// The chain hash of the last good record.
    pub head: ChainHash,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether every partition is intact.
    pub fn is_ok(&self) -> bool {
        self.partitions
            .iter()
            .all(|verdict| verdict.problem.is_none())
    }

    /// The first problem of any partition, in partition order.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.partitions
            .iter()
            .find_map(|verdict| verdict.problem.as_ref())
    }
}

/// Verifies the log in `dir`. Errors only when the log cannot be read at all (missing, unreadable).
pub fn verify(dir: &Path) -> Result<VerifyReport, LogError> {
    let layout = Layout::new(dir);
    let meta = layout.read_meta()?.ok_or_else(|| super::no_log(&layout))?;
    let partitions = settle_partitions(&layout, meta.partitions, false)?;
    let mut index = Index::new(partitions);
    let mut verdicts = Vec::new();
    for number in 0..partitions {
        let partition = PartitionId(number);
        let scan = scan_partition(&layout, partition, partitions, &mut index, Access::ReadOnly)?;
        verdicts.push(PartitionVerdict {
            partition,
            segments: u32::try_from(scan.segments.len()).expect("segment count fits in u32"),
            records: scan.records,
            bytes: scan.bytes,
            head: scan.head,
            problem: scan.problem,
        });
    }
    Ok(VerifyReport {
        partitions: verdicts,
    })
}
