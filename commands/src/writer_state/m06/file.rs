//! A run's file (`<state>/runs/<id>.run`): runs are immutable and written in bucket order, so they
//! are plain files written sequentially and read with positional reads, not sled values. sled 0.34
//! stored ~4 KB bucket values at ~30 MB/s (it rewrites a node per insert), which made the month-end
//! run and, above all, the merges of runs the largest cost of a month (docs/performance.md).
//!
//! Layout: the take buckets, then the dispensing buckets (each as `m06` encodes it), then the index:
//! the Bloom filter's length (u64) and bytes, per bucket kind its start offsets (n + 1 × u64, the
//! last one the end) and the CRC-32C of each bucket (n × u32), then a trailer: the index's offset
//! and length (u64 each), the index's CRC-32C (u32), the bucket bits of takes and dispensings (u8
//! each) and the magic `LGM06R01`. All integers big-endian. A file is written under a temporary
//! name, synced and renamed: it is whole or absent, and the manifest in the store names it only
//! after that.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use projector::StoreError;

const MAGIC: &[u8; 8] = b"LGM06R01";
const TRAILER_BYTES: usize = 8 + 8 + 4 + 1 + 1 + 8;

/// Which buckets of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Takes,
    Dispensings,
}

/// Where each bucket of one kind sits, and its checksum.
#[derive(Debug, Default)]
struct Table {
    /// Start offsets, one per bucket and the end.
    starts: Vec<u64>,
    crcs: Vec<u32>,
}

impl Table {
    fn encode(&self, out: &mut Vec<u8>) {
        for start in &self.starts {
            out.extend_from_slice(&start.to_be_bytes());
        }
        for crc in &self.crcs {
            out.extend_from_slice(&crc.to_be_bytes());
        }
    }

    fn decode(bytes: &mut &[u8], buckets: usize) -> Option<Table> {
        let starts = take_words(bytes, buckets + 1, u64::from_be_bytes)?;
        let crcs = take_words(bytes, buckets, u32::from_be_bytes)?;
        starts
            .windows(2)
            .all(|pair| pair[0] <= pair[1])
            .then_some(Table { starts, crcs })
    }
}

fn take_words<const N: usize, T>(
    bytes: &mut &[u8],
    count: usize,
    decode: fn([u8; N]) -> T,
) -> Option<Vec<T>> {
    let length = count.checked_mul(N)?;
    if bytes.len() < length {
        return None;
    }
    let (words, rest) = bytes.split_at(length);
    *bytes = rest;
    Some(
        words
            .chunks_exact(N)
            .map(|word| decode(word.try_into().expect("N bytes")))
            .collect(),
    )
}

/// A run's file, open for positional reads, with its index in memory.
#[derive(Debug)]
pub struct RunFile {
    path: PathBuf,
    file: File,
    takes: Table,
    dispensings: Table,
}

/// The path of run `id` in `dir`.
pub fn path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.run"))
}

/// The run id a file name in the runs directory stands for (written or half written).
pub fn id_of(name: &str) -> Option<u32> {
    let stem = name
        .strip_suffix(".run")
        .or_else(|| name.strip_suffix(".run.tmp"))?;
    stem.parse().ok()
}

fn io_error(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Backend {
        operation,
        source: format!("{}: {error}", path.display()).into(),
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        keyspace: "m06 run file".into(),
        key: path.display().to_string(),
        detail: detail.into(),
    }
}

impl RunFile {
    /// Opens run `id` in `dir` and reads its index; returns it with the run's bucket bits and
    /// Bloom filter bytes.
    pub fn open(dir: &Path, id: u32) -> Result<(RunFile, [u8; 2], Vec<u8>), StoreError> {
        let path = path(dir, id);
        let file = File::open(&path).map_err(|error| io_error("open an M-06 run", &path, error))?;
        let size = file
            .metadata()
            .map_err(|error| io_error("read an M-06 run's size", &path, error))?
            .len();
        let trailer_bytes = u64::try_from(TRAILER_BYTES).expect("small");
        if size < trailer_bytes {
            return Err(corrupt(&path, format!("{size} bytes hold no trailer")));
        }
        let mut trailer = [0; TRAILER_BYTES];
        read_at(&file, &path, &mut trailer, size - trailer_bytes)?;
        if &trailer[22..] != MAGIC {
            return Err(corrupt(&path, "not an M-06 run file (no magic)"));
        }
        let word = |at: usize| u64::from_be_bytes(trailer[at..at + 8].try_into().expect("8"));
        let (index_at, index_length) = (word(0), word(8));
        let crc = u32::from_be_bytes(trailer[16..20].try_into().expect("4"));
        let bits = [trailer[20], trailer[21]];
        if bits.iter().any(|bits| *bits > 24)
            || index_at.checked_add(index_length) != Some(size - trailer_bytes)
        {
            return Err(corrupt(&path, "the trailer does not describe the file"));
        }
        let mut index = vec![0; usize::try_from(index_length).expect("an index fits in memory")];
        read_at(&file, &path, &mut index, index_at)?;
        if crc32c::crc32c(&index) != crc {
            return Err(corrupt(&path, "the index fails its checksum"));
        }
        let (bloom, takes, dispensings) = decode_index(&index, bits, index_at)
            .ok_or_else(|| corrupt(&path, "the index is cut short or out of order"))?;
        let run = RunFile {
            path,
            file,
            takes,
            dispensings,
        };
        Ok((run, bits, bloom))
    }

    /// The bytes of bucket `bucket` of `kind` (empty when the bucket is), checked against its CRC.
    pub fn bucket(&self, kind: Kind, bucket: u32) -> Result<Vec<u8>, StoreError> {
        let table = match kind {
            Kind::Takes => &self.takes,
            Kind::Dispensings => &self.dispensings,
        };
        let bucket = usize::try_from(bucket).expect("u32 fits in usize");
        let (Some(start), Some(end)) = (table.starts.get(bucket), table.starts.get(bucket + 1))
        else {
            return Err(corrupt(&self.path, format!("no bucket {bucket}")));
        };
        let mut bytes = vec![0; usize::try_from(end - start).expect("a bucket fits in memory")];
        read_at(&self.file, &self.path, &mut bytes, *start)?;
        if crc32c::crc32c(&bytes) != table.crcs[bucket] {
            return Err(corrupt(
                &self.path,
                format!("bucket {bucket} fails its checksum"),
            ));
        }
        Ok(bytes)
    }
}

fn decode_index(index: &[u8], bits: [u8; 2], data_end: u64) -> Option<(Vec<u8>, Table, Table)> {
    let mut rest = index;
    let bloom_length = usize::try_from(take_words(&mut rest, 1, u64::from_be_bytes)?[0]).ok()?;
    if rest.len() < bloom_length {
        return None;
    }
    let (bloom, mut rest) = rest.split_at(bloom_length);
    let takes = Table::decode(&mut rest, 1 << bits[0])?;
    let dispensings = Table::decode(&mut rest, 1 << bits[1])?;
    let ends_within = |table: &Table| table.starts.last().is_some_and(|end| *end <= data_end);
    (rest.is_empty() && ends_within(&takes) && ends_within(&dispensings))
        .then(|| (bloom.to_vec(), takes, dispensings))
}

fn read_at(file: &File, path: &Path, bytes: &mut [u8], at: u64) -> Result<(), StoreError> {
    file.read_exact_at(bytes, at)
        .map_err(|error| io_error("read an M-06 run", path, error))
}

/// Writes a run's file bucket by bucket, in bucket order: takes first, then dispensings.
pub struct RunWriter {
    dir: PathBuf,
    id: u32,
    temporary: PathBuf,
    out: BufWriter<File>,
    written: u64,
    bits: [u8; 2],
    takes: Table,
    dispensings: Table,
}

impl RunWriter {
    /// Starts run `id` in `dir` with `bits` bucket bits (takes, dispensings).
    pub fn create(dir: &Path, id: u32, bits: [u8; 2]) -> Result<RunWriter, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|error| io_error("create the M-06 runs directory", dir, error))?;
        let temporary = path(dir, id).with_extension("run.tmp");
        let file = File::create(&temporary)
            .map_err(|error| io_error("create an M-06 run", &temporary, error))?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            id,
            temporary,
            out: BufWriter::with_capacity(1 << 20, file),
            written: 0,
            bits,
            takes: Table::default(),
            dispensings: Table::default(),
        })
    }

    /// Writes bucket `bucket` of `kind`; buckets of one kind come in increasing order, takes before
    /// dispensings, and buckets never written are empty.
    pub fn bucket(&mut self, kind: Kind, bucket: u32, bytes: &[u8]) -> Result<(), StoreError> {
        let bucket = usize::try_from(bucket).expect("u32 fits in usize");
        if kind == Kind::Dispensings {
            self.close(Kind::Takes);
        }
        self.fill(kind, bucket);
        self.out
            .write_all(bytes)
            .map_err(|error| io_error("write an M-06 run", &self.temporary, error))?;
        let table = self.table(kind);
        table.crcs.push(crc32c::crc32c(bytes));
        self.written += u64::try_from(bytes.len()).expect("usize fits in u64");
        Ok(())
    }

    fn table(&mut self, kind: Kind) -> &mut Table {
        match kind {
            Kind::Takes => &mut self.takes,
            Kind::Dispensings => &mut self.dispensings,
        }
    }

    /// Ends the table of `kind` here, once: its remaining buckets are empty.
    fn close(&mut self, kind: Kind) {
        let buckets = 1usize
            << match kind {
                Kind::Takes => self.bits[0],
                Kind::Dispensings => self.bits[1],
            };
        if self.table(kind).starts.len() <= buckets {
            self.fill(kind, buckets);
        }
    }

    /// Marks every bucket of `kind` before `bucket` that was not written as empty, and `bucket` as
    /// starting here.
    fn fill(&mut self, kind: Kind, bucket: usize) {
        let written = self.written;
        let table = self.table(kind);
        assert!(table.starts.len() <= bucket, "buckets come in order");
        while table.starts.len() < bucket {
            table.starts.push(written);
            table.crcs.push(crc32c::crc32c(&[]));
        }
        table.starts.push(written);
    }

    /// Writes the index with `bloom`, syncs, and renames the file into place; returns it open.
    pub fn finish(mut self, bloom: &[u8]) -> Result<RunFile, StoreError> {
        self.close(Kind::Takes);
        self.close(Kind::Dispensings);
        let mut index = u64::try_from(bloom.len())
            .expect("usize fits in u64")
            .to_be_bytes()
            .to_vec();
        index.extend_from_slice(bloom);
        self.takes.encode(&mut index);
        self.dispensings.encode(&mut index);
        let mut trailer = self.written.to_be_bytes().to_vec();
        trailer.extend_from_slice(
            &u64::try_from(index.len())
                .expect("usize fits in u64")
                .to_be_bytes(),
        );
        trailer.extend_from_slice(&crc32c::crc32c(&index).to_be_bytes());
        trailer.extend_from_slice(&self.bits);
        trailer.extend_from_slice(MAGIC);
        let temporary = self.temporary.clone();
        let failed = |error| io_error("write an M-06 run", &temporary, error);
        self.out.write_all(&index).map_err(failed)?;
        self.out.write_all(&trailer).map_err(failed)?;
        let file = self
            .out
            .into_inner()
            .map_err(|error| failed(error.into_error()))?;
        file.sync_all().map_err(failed)?;
        drop(file);
        let path = path(&self.dir, self.id);
        std::fs::rename(&temporary, &path).map_err(failed)?;
        if let Ok(dir) = File::open(&self.dir) {
            dir.sync_all()
                .map_err(|error| io_error("sync the M-06 runs directory", &self.dir, error))?;
        }
        let (run, _, _) = RunFile::open(&self.dir, self.id)?;
        Ok(run)
    }
}

/// Removes run `id`'s file, written or half written, if there is one.
pub fn remove(dir: &Path, id: u32) -> Result<(), StoreError> {
    for path in [path(dir, id), path(dir, id).with_extension("run.tmp")] {
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error("remove an M-06 run", &path, error));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes every run file in `dir` that `keep` does not name: what a crash left half written, or
/// merged away before it could be deleted.
pub fn remove_others(dir: &Path, keep: &[u32]) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        entries => entries.map_err(|error| io_error("list the M-06 runs", dir, error))?,
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(id_of) else {
            continue;
        };
        if !keep.contains(&id) || name.to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(entry.path())
                .map_err(|error| io_error("remove an M-06 run", &entry.path(), error))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_file_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RunWriter::create(dir.path(), 3, [2, 1]).unwrap();
        writer.bucket(Kind::Takes, 1, b"one").unwrap();
        writer.bucket(Kind::Takes, 3, b"three").unwrap();
        writer.bucket(Kind::Dispensings, 0, b"zero").unwrap();
        let run = writer.finish(b"bloom").unwrap();
        assert_eq!(run.bucket(Kind::Takes, 0).unwrap(), b"");
        assert_eq!(run.bucket(Kind::Takes, 1).unwrap(), b"one");
        assert_eq!(run.bucket(Kind::Takes, 3).unwrap(), b"three");
        assert_eq!(run.bucket(Kind::Dispensings, 0).unwrap(), b"zero");
        assert_eq!(run.bucket(Kind::Dispensings, 1).unwrap(), b"");
        assert!(run.bucket(Kind::Takes, 4).is_err());
        let (_, bits, bloom) = RunFile::open(dir.path(), 3).unwrap();
        assert_eq!((bits, bloom.as_slice()), ([2, 1], &b"bloom"[..]));

        // A flipped data byte fails that bucket's checksum; a flipped index byte fails the open.
        let path = path(dir.path(), 3);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (run, _, _) = RunFile::open(dir.path(), 3).unwrap();
        assert!(run.bucket(Kind::Takes, 3).is_err());
        bytes[3] ^= 1;
        let index_byte = bytes.len() - TRAILER_BYTES - 2;
        bytes[index_byte] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(RunFile::open(dir.path(), 3).is_err());
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(RunFile::open(dir.path(), 3).is_err());

        // Files the manifest does not name go.
        std::fs::write(dir.path().join("0000000009.run.tmp"), b"half").unwrap();
        remove_others(dir.path(), &[3]).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
        remove_others(dir.path(), &[]).unwrap();
        assert!(!path.exists());
    }
}
