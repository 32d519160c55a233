//! The M-06 index in the writer's state (issue #16): which live dispensing holds a marked pack's or a
//! fiscal receipt's uniqueness key, across every period ever recorded, with memory bounded by the
//! records since the last checkpoint.
//!
//! What is checkpointed lives in immutable **runs**, one per catch-up, merged as they accumulate
//! ([`merge`]): a run's takes (`key → dispensing`) sorted into buckets by the key's fingerprint, its
//! dispensings (`dispensing → its two keys`, for reversals) likewise, and a Bloom filter of its keys,
//! in one file per run ([`file`]); the store names the runs (the manifest) in the batch that moves
//! the checkpoint. A lookup asks the in-memory overlay (what was appended since the checkpoint), then
//! each run whose filter may hold the key: one positional read of a few kilobytes. A reversal is a
//! *release* of the pair `(key, dispensing)`, kept beside the runs (`m06/released`), so a run never
//! changes once written. A pack taken, released and taken again is simply two pairs, one released:
//! the answer is the same in whatever order the partitions are replayed.
//!
//! Why runs in files: sled 0.34 takes ~25 µs per random insert on this machine and, in batches large
//! enough to be fast, holds gigabytes while it splits nodes (measured: 600k random keys in 30k-write
//! batches peaked at 2.1 GB; in 1k batches at 0.2 GB but 38k keys/s); even sorted ~4 KB buckets went
//! in at ~30 MB/s, which made merging runs cost more than the month it served. A run is written once,
//! in order, so a file written sequentially is what it needs.

use std::collections::{HashMap, HashSet};

use projector::{StoreError, WriteBatch};

use super::StateStore;
use super::layout::{self, FINGERPRINT_BYTES, Fingerprint};

mod file;
mod merge;

use file::{Kind, RunFile, RunWriter};

/// Bits of the Bloom filter per key (≈ 0.1–0.2 % false positives with [`BLOOM_PROBES`] probes in
/// one block). Every run is probed for every key looked up, so false positives (a sled read each)
/// and cache misses per probe are what a year of runs costs (docs/performance.md).
const BLOOM_BITS_PER_KEY: u64 = 16;
const BLOOM_PROBES: u32 = 7;
/// A key's probes all fall in one block of this many bytes (one cache line): one cache miss per run.
const BLOOM_BLOCK_BYTES: usize = 64;

/// The takes per bucket a run aims at (a bucket is one sled value, ~4 KB).
const BUCKET_ENTRIES_TARGET: u64 = 64;

/// A take: `dispensing` holds `key`; `holder` is how a refusal names it (`<period>/<dispensing id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub key: Fingerprint,
    pub dispensing: Fingerprint,
    pub holder: Box<str>,
}

/// Changes to the index in log order: the overlay of a running writer, and what a catch-up reads.
#[derive(Debug, Default)]
pub struct Changes {
    /// Takes by key fingerprint.
    takes: HashMap<Fingerprint, Vec<(Fingerprint, Box<str>)>>,
    /// The keys each dispensing taken here holds.
    dispensings: HashMap<Fingerprint, [Fingerprint; 2]>,
    /// Released pairs `(key, dispensing)`.
    released: HashSet<(Fingerprint, Fingerprint)>,
    /// Takes recorded (two per dispensing).
    take_count: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.takes.is_empty() && self.released.is_empty()
    }

    /// Takes recorded (two per dispensing).
    pub fn take_count(&self) -> usize {
        self.take_count
    }

    pub fn has_takes(&self) -> bool {
        !self.takes.is_empty()
    }

    pub fn take(&mut self, dispensing: Fingerprint, keys: [Fingerprint; 2], holder: &str) {
        for key in keys {
            let holders = self.takes.entry(key).or_default();
            if !holders.iter().any(|(held_by, _)| *held_by == dispensing) {
                holders.push((dispensing, holder.into()));
                self.take_count += 1;
            }
        }
        self.dispensings.insert(dispensing, keys);
    }

    /// Releases the keys of `dispensing`, found here or in the runs.
    pub fn release(&mut self, dispensing: Fingerprint, runs: &Runs) -> Result<(), StoreError> {
        let keys = match self.dispensings.get(&dispensing) {
            Some(keys) => Some(*keys),
            None => runs.keys_of(&dispensing)?,
        };
        for key in keys.into_iter().flatten() {
            self.released.insert((key, dispensing));
        }
        Ok(())
    }

    /// The live holder of `key` among these changes' takes.
    fn holder(
        &self,
        key: &Fingerprint,
        released: impl Fn(&Fingerprint) -> Result<bool, StoreError>,
    ) -> Result<Option<String>, StoreError> {
        let Some(holders) = self.takes.get(key) else {
            return Ok(None);
        };
        for (dispensing, holder) in holders {
            if !self.released.contains(&(*key, *dispensing)) && !released(dispensing)? {
                return Ok(Some(holder.to_string()));
            }
        }
        Ok(None)
    }
}

/// A blocked Bloom filter over key fingerprints (already uniform): the first half of a fingerprint
/// picks a 512-bit block, the second gives [`BLOOM_PROBES`] bit positions of 9 bits each inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bits: Vec<u8>,
}

impl Bloom {
    fn with_keys(count: u64) -> Bloom {
        let block_bits = u64::try_from(BLOOM_BLOCK_BYTES * 8).expect("a block's bits fit in u64");
        let blocks = usize::try_from((count * BLOOM_BITS_PER_KEY).div_ceil(block_bits).max(1))
            .expect("a run's filter fits in memory");
        Bloom {
            bits: vec![0; blocks * BLOOM_BLOCK_BYTES],
        }
    }

    fn probes(&self, key: &Fingerprint) -> impl Iterator<Item = (usize, u8)> {
        let first = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
        let second = u64::from_be_bytes(key[8..].try_into().expect("8 bytes"));
        let blocks = u64::try_from(self.bits.len() / BLOOM_BLOCK_BYTES).expect("usize fits in u64");
        let block = usize::try_from(first % blocks.max(1)).expect("within the filter");
        (0..BLOOM_PROBES).map(move |probe| {
            let bit = usize::try_from((second >> (9 * probe)) & 511).expect("9 bits");
            (block * BLOOM_BLOCK_BYTES + bit / 8, 1u8 << (bit % 8))
        })
    }

    fn insert(&mut self, key: &Fingerprint) {
        let probes: Vec<_> = self.probes(key).collect();
        for (byte, mask) in probes {
            self.bits[byte] |= mask;
        }
    }

    fn may_contain(&self, key: &Fingerprint) -> bool {
        self.probes(key)
            .all(|(byte, mask)| self.bits[byte] & mask != 0)
    }
}

/// One run as the manifest describes it, with its file open.
#[derive(Debug)]
struct Run {
    id: u32,
    /// Bucket bits of the takes and of the dispensings.
    key_bits: u8,
    dispensing_bits: u8,
    bloom: Bloom,
    file: RunFile,
}

/// The runs of the index, newest last, with their filters in memory.
#[derive(Debug, Default)]
pub struct Runs {
    runs: Vec<Run>,
}

const MANIFEST_KEY: &[u8] = b"runs";

impl Runs {
    /// Reads the manifest and opens its runs' files (their indexes and filters); removes the run
    /// files it does not name (left by a crash).
    pub fn load(store: &dyn StateStore) -> Result<Runs, StoreError> {
        let Some(manifest) = store.get(&layout::meta(), MANIFEST_KEY)? else {
            file::remove_others(store.runs_dir(), &[])?;
            return Ok(Runs::default());
        };
        let corrupt = |detail: String| StoreError::corrupt(&layout::meta(), MANIFEST_KEY, detail);
        if manifest.len() % 6 != 0 {
            return Err(corrupt(format!(
                "{} bytes is not a list of runs",
                manifest.len()
            )));
        }
        let mut runs = Vec::new();
        for entry in manifest.chunks(6) {
            let id = u32::from_be_bytes(entry[..4].try_into().expect("4 bytes"));
            let (file, bits, bloom) = RunFile::open(store.runs_dir(), id)?;
            if bits != [entry[4], entry[5]] {
                return Err(corrupt(format!(
                    "run {id} has bucket bits {bits:?} in its file, {:?} in the manifest",
                    &entry[4..]
                )));
            }
            runs.push(Run {
                id,
                key_bits: entry[4],
                dispensing_bits: entry[5],
                bloom: Bloom { bits: bloom },
                file,
            });
        }
        let ids: Vec<u32> = runs.iter().map(|run| run.id).collect();
        file::remove_others(store.runs_dir(), &ids)?;
        Ok(Runs { runs })
    }

    fn manifest(&self) -> Vec<u8> {
        self.runs
            .iter()
            .flat_map(|run| {
                let mut entry = run.id.to_be_bytes().to_vec();
                entry.extend([run.key_bits, run.dispensing_bits]);
                entry
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Bytes of the filters held in memory.
    pub fn filter_bytes(&self) -> usize {
        self.runs.iter().map(|run| run.bloom.bits.len()).sum()
    }

    /// The live holder of `key` in the runs, newest first, skipping released pairs.
    pub fn holder(
        &self,
        key: &Fingerprint,
        released: impl Fn(&Fingerprint) -> Result<bool, StoreError>,
    ) -> Result<Option<String>, StoreError> {
        for run in self.runs.iter().rev() {
            if !run.bloom.may_contain(key) {
                continue;
            }
            let bucket = bucket_of(key, run.key_bits);
            let bytes = run.file.bucket(Kind::Takes, bucket)?;
            for take in decode_takes(&bucket_key(run.id, bucket), &bytes)? {
                if take.key == *key && !released(&take.dispensing)? {
                    return Ok(Some(take.holder.into()));
                }
            }
        }
        Ok(None)
    }

    /// The keys `dispensing` took, if a run holds it.
    fn keys_of(&self, dispensing: &Fingerprint) -> Result<Option<[Fingerprint; 2]>, StoreError> {
        for run in self.runs.iter().rev() {
            let number = bucket_of(dispensing, run.dispensing_bits);
            let bytes = run.file.bucket(Kind::Dispensings, number)?;
            let bucket = bucket_key(run.id, number);
            for chunk in bytes.chunks(3 * FINGERPRINT_BYTES) {
                if chunk.len() != 3 * FINGERPRINT_BYTES {
                    return Err(StoreError::corrupt(
                        &layout::m06_dispensings(),
                        &bucket,
                        "a dispensing entry is cut short",
                    ));
                }
                if chunk[..FINGERPRINT_BYTES] == dispensing[..] {
                    return Ok(Some(layout::decode_held_keys(
                        &bucket,
                        &chunk[FINGERPRINT_BYTES..],
                    )?));
                }
            }
        }
        Ok(None)
    }

    /// Writes `changes` as a new run's file; returns the batch (the manifest naming the run, and its
    /// releases), which the caller commits with the checkpoint. Until then the file is garbage the
    /// next start deletes.
    pub fn write_run(
        &mut self,
        store: &dyn StateStore,
        changes: &Changes,
    ) -> Result<WriteBatch, StoreError> {
        let mut last = WriteBatch::new();
        for (key, dispensing) in &changes.released {
            last.put(
                &layout::m06_released(),
                released_key(key, dispensing),
                Vec::new(),
            );
        }
        if changes.takes.is_empty() {
            return Ok(last);
        }
        let id = self.runs.last().map_or(0, |run| run.id + 1);
        let count = u64::try_from(changes.take_count()).expect("usize fits in u64");
        let key_bits = bits_for(count);
        let dispensing_bits = bits_for(count / 2);
        let mut bloom = Bloom::with_keys(count);
        let mut takes: Vec<(u32, Fingerprint, Fingerprint, &str)> = changes
            .takes
            .iter()
            .flat_map(|(key, holders)| {
                holders.iter().map(move |(dispensing, holder)| {
                    (bucket_of(key, key_bits), *key, *dispensing, &**holder)
                })
            })
            .collect();
        takes.sort_unstable();
        let mut writer = RunWriter::create(store.runs_dir(), id, [key_bits, dispensing_bits])?;
        for bucket in takes.chunk_by(|a, b| a.0 == b.0) {
            let mut bytes = Vec::new();
            for (_, key, dispensing, holder) in bucket {
                bloom.insert(key);
                encode_take(&mut bytes, key, dispensing, holder);
            }
            writer.bucket(Kind::Takes, bucket[0].0, &bytes)?;
        }
        let mut held: Vec<(u32, Fingerprint, [Fingerprint; 2])> = changes
            .dispensings
            .iter()
            .map(|(dispensing, keys)| (bucket_of(dispensing, dispensing_bits), *dispensing, *keys))
            .collect();
        held.sort_unstable();
        for bucket in held.chunk_by(|a, b| a.0 == b.0) {
            let bytes: Vec<u8> = bucket
                .iter()
                .flat_map(|(_, dispensing, keys)| [*dispensing, keys[0], keys[1]].concat())
                .collect();
            writer.bucket(Kind::Dispensings, bucket[0].0, &bytes)?;
        }
        let file = writer.finish(&bloom.bits)?;
        self.runs.push(Run {
            id,
            key_bits,
            dispensing_bits,
            bloom,
            file,
        });
        last.put(&layout::meta(), MANIFEST_KEY.to_vec(), self.manifest());
        Ok(last)
    }

    /// Forgets a run written but not committed (its commit failed).
    pub fn abandon_last(&mut self) {
        self.runs.pop();
    }
}

/// Whether the pair `(key, dispensing)` was released in a checkpointed run.
pub fn released_in_store(
    store: &dyn StateStore,
    key: &Fingerprint,
    dispensing: &Fingerprint,
) -> Result<bool, StoreError> {
    Ok(store
        .get(&layout::m06_released(), &released_key(key, dispensing))?
        .is_some())
}

/// The live holder of `key` in `overlay` then in the runs.
pub fn holder(
    store: &dyn StateStore,
    runs: &Runs,
    overlay: &Changes,
    key: &Fingerprint,
) -> Result<Option<String>, StoreError> {
    let stored_release = |dispensing: &Fingerprint| released_in_store(store, key, dispensing);
    if let Some(holder) = overlay.holder(key, stored_release)? {
        return Ok(Some(holder));
    }
    runs.holder(key, |dispensing| {
        Ok(overlay.released.contains(&(*key, *dispensing)) || stored_release(dispensing)?)
    })
}

/// Bucket bits for `entries`: about [`BUCKET_ENTRIES_TARGET`] per bucket, at most 2^24 buckets.
fn bits_for(entries: u64) -> u8 {
    let buckets = entries.div_ceil(BUCKET_ENTRIES_TARGET).max(1);
    let bits = 64 - (buckets - 1).leading_zeros();
    u8::try_from(bits.min(24)).expect("at most 24")
}

/// The bucket of a fingerprint: its top `bits` bits.
fn bucket_of(fingerprint: &Fingerprint, bits: u8) -> u32 {
    if bits == 0 {
        return 0;
    }
    let top = u32::from_be_bytes(fingerprint[..4].try_into().expect("4 bytes"));
    top >> (32 - u32::from(bits))
}

fn bucket_key(run: u32, bucket: u32) -> Vec<u8> {
    let mut key = run.to_be_bytes().to_vec();
    key.extend_from_slice(&bucket.to_be_bytes());
    key
}

fn released_key(key: &Fingerprint, dispensing: &Fingerprint) -> Vec<u8> {
    [key.as_slice(), dispensing.as_slice()].concat()
}

fn encode_take(out: &mut Vec<u8>, key: &Fingerprint, dispensing: &Fingerprint, holder: &str) {
    out.extend_from_slice(key);
    out.extend_from_slice(dispensing);
    let length = u16::try_from(holder.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&holder.as_bytes()[..usize::from(length)]);
}

fn decode_takes(bucket: &[u8], mut bytes: &[u8]) -> Result<Vec<Take>, StoreError> {
    let corrupt = || StoreError::corrupt(&layout::m06_takes(), bucket, "a take is cut short");
    let mut takes = Vec::new();
    while !bytes.is_empty() {
        let head = 2 * FINGERPRINT_BYTES + 2;
        if bytes.len() < head {
            return Err(corrupt());
        }
        let length = usize::from(u16::from_be_bytes(
            bytes[head - 2..head].try_into().expect("2 bytes"),
        ));
        if bytes.len() < head + length {
            return Err(corrupt());
        }
        takes.push(Take {
            key: bytes[..FINGERPRINT_BYTES].try_into().expect("16 bytes"),
            dispensing: bytes[FINGERPRINT_BYTES..2 * FINGERPRINT_BYTES]
                .try_into()
                .expect("16 bytes"),
            holder: String::from_utf8_lossy(&bytes[head..head + length]).into(),
        });
        bytes = &bytes[head + length..];
    }
    Ok(takes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bloom_filter_holds_what_was_inserted_and_little_else() {
        let mut bloom = Bloom::with_keys(1000);
        let keys: Vec<Fingerprint> = (0..1000)
            .map(|n| layout::key_fingerprint(&n.to_string()))
            .collect();
        for key in &keys {
            bloom.insert(key);
        }
        assert!(keys.iter().all(|key| bloom.may_contain(key)));
        let strangers = (1000..11_000)
            .filter(|n| bloom.may_contain(&layout::key_fingerprint(&n.to_string())))
            .count();
        assert!(strangers < 60, "{strangers} of 10,000 false positives");
    }

    #[test]
    fn takes_round_trip() {
        let (key, dispensing) = (layout::key_fingerprint("k"), layout::key_fingerprint("d"));
        let mut bytes = Vec::new();
        encode_take(&mut bytes, &key, &dispensing, "2026-01/D-1");
        encode_take(&mut bytes, &dispensing, &key, "");
        let takes = decode_takes(b"b", &bytes).unwrap();
        assert_eq!(takes.len(), 2);
        assert_eq!(&*takes[0].holder, "2026-01/D-1");
        assert_eq!(takes[1].key, dispensing);
        assert!(decode_takes(b"b", &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn buckets_aim_at_a_few_kilobytes() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(64), 0);
        assert_eq!(bits_for(65), 1);
        assert_eq!(bits_for(2_000_000), 15);
        let key = [0xff; 16];
        assert_eq!(bucket_of(&key, 0), 0);
        assert_eq!(bucket_of(&key, 3), 7);
    }
}
