//! Where the embedded log keeps its files, and the small files beside the segments.
//!
//! ```text
//! <data-dir>/LOCK                                   exclusive lock of the writing process
//! <data-dir>/log/meta.json                          {"format":1,"partitions":8}, written once at creation
//! <data-dir>/log/p-0000/00000000000000000000.seg    segments of partition 0, named by their first offset
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::log::error::LogError;
use crate::log::ids::PartitionId;

/// The layout version recorded in `meta.json`.
pub const LAYOUT_FORMAT: u32 = 1;

/// The largest partition count accepted; partitions are directories with open files, so keep it sane.
pub const PARTITIONS_MAX: u32 = 1024;

const SEGMENT_SUFFIX: &str = ".seg";

/// The paths of one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

/// The contents of `meta.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub partitions: u32,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    pub fn meta_path(&self) -> PathBuf {
        self.log_dir().join("meta.json")
    }

    pub fn partition_dir(&self, partition: PartitionId) -> PathBuf {
        self.log_dir().join(format!("p-{:04}", partition.0))
    }

    pub fn segment_path(&self, partition: PartitionId, base_offset: u64) -> PathBuf {
        self.partition_dir(partition)
            .join(format!("{base_offset:020}{SEGMENT_SUFFIX}"))
    }

    /// The segments of a partition as `(base offset, path)`, in offset order.
    pub fn list_segments(&self, partition: PartitionId) -> Result<Vec<(u64, PathBuf)>, LogError> {
        let dir = self.partition_dir(partition);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(LogError::io(&dir, error)),
        };
        let mut segments = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| LogError::io(&dir, error))?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
                continue;
            };
            let base_offset = stem.parse::<u64>().map_err(|_| LogError::CorruptSegment {
                path: path.clone(),
                byte_offset: 0,
                detail: "segment file name is not a 20-digit offset; move the stray file away"
                    .to_owned(),
            })?;
            segments.push((base_offset, path));
        }
        segments.sort();
        Ok(segments)
    }

    /// Reads `meta.json`, or `None` when the log was never created here.
    pub fn read_meta(&self) -> Result<Option<Meta>, LogError> {
        let path = self.meta_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(LogError::io(&path, error)),
        };
        let meta: Meta = serde_json::from_str(&text).map_err(|error| LogError::CorruptSegment {
            path: path.clone(),
            byte_offset: 0,
            detail: format!("log metadata is not valid JSON: {error}"),
        })?;
        if meta.format != LAYOUT_FORMAT {
            return Err(LogError::Invalid(format!(
                "log metadata {} has layout format {}, this build reads format {LAYOUT_FORMAT}",
                path.display(),
                meta.format
            )));
        }
        Ok(Some(meta))
    }

    /// Writes `meta.json` atomically (temporary file, fsync, rename, fsync of the directory).
    pub fn create_meta(&self, meta: Meta) -> Result<(), LogError> {
        let dir = self.log_dir();
        std::fs::create_dir_all(&dir).map_err(|error| LogError::io(&dir, error))?;
        let temporary = dir.join("meta.json.tmp");
        let text = serde_json::to_string(&meta).expect("meta serializes");
        let mut file = File::create(&temporary).map_err(|error| LogError::io(&temporary, error))?;
        file.write_all(text.as_bytes())
            .map_err(|error| LogError::io(&temporary, error))?;
        file.sync_all()
            .map_err(|error| LogError::io(&temporary, error))?;
        std::fs::rename(&temporary, self.meta_path())
            .map_err(|error| LogError::io(self.meta_path(), error))?;
        sync_dir(&dir)
    }
}

/// Checks the partition count asked for against the one the log was created with, creating the
/// metadata on first use. Returns the count to use.
pub fn settle_partitions(layout: &Layout, requested: u32, create: bool) -> Result<u32, LogError> {
    if requested == 0 || requested > PARTITIONS_MAX {
        return Err(LogError::Invalid(format!(
            "partition count {requested} is outside 1..={PARTITIONS_MAX}; pick a count in that range"
        )));
    }
    match layout.read_meta()? {
        Some(meta) if meta.partitions == requested => Ok(requested),
        Some(meta) => Err(LogError::Invalid(format!(
            "log in {} was created with {} partitions, but {requested} were requested; the partition \
             count is fixed at creation, open it with {} partitions",
            layout.root().display(),
            meta.partitions,
            meta.partitions
        ))),
        None if create => {
            layout.create_meta(Meta {
                format: LAYOUT_FORMAT,
                partitions: requested,
            })?;
            Ok(requested)
        }
        None => Err(LogError::Invalid(format!(
            "no event log in {} (missing {}); check --data-dir",
            layout.root().display(),
            layout.meta_path().display()
        ))),
    }
}

/// Takes the exclusive lock of the data directory; the lock lasts as long as the returned file is open.
/// `fs2` locks are `flock` locks: per open file description, so a second open in the same process is
/// refused as well as one in another process.
pub fn lock(layout: &Layout) -> Result<File, LogError> {
    let root = layout.root();
    std::fs::create_dir_all(root).map_err(|error| LogError::io(root, error))?;
    let path = layout.lock_path();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|error| LogError::io(&path, error))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(error) if error.kind() == fs2::lock_contended_error().kind() => Err(LogError::Locked {
            path: root.to_path_buf(),
            lock: path,
        }),
        Err(error) => Err(LogError::io(&path, error)),
    }
}

/// Makes a directory entry change (a created or renamed file) durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|error| LogError::io(dir, error))
}
