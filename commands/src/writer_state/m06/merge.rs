//! Merging runs (issue #16 §5): every catch-up writes a run, and every lookup probes each run's
//! Bloom filter, so a year of monthly runs (or a `serve` catching up every few thousand records)
//! made each dispensing cost one filter probe, and a sled read per false positive, per run ever
//! written. Runs are merged like a binary counter: whenever the newest run is about as large as the
//! one before it, the two become one. `n` runs of one size leave at most `log2(n) + 1` runs, and each
//! take is rewritten about `log2(n)` times in all.
//!
//! A merge streams: buckets are the top bits of a fingerprint, so a bucket of the merged run (with at
//! least as many bits) is found within one bucket of each input. The merged run's file is written
//! first, then one batch swaps the manifest; the inputs' files are deleted after, and a restart
//! deletes what a crash left (`Runs::load`).

use projector::{StoreError, WriteBatch};

use super::file::{self, Kind, RunWriter};
use super::{
    BLOOM_BITS_PER_KEY, Bloom, MANIFEST_KEY, Run, Runs, bits_for, bucket_key, bucket_of,
    decode_takes, encode_take,
};
use crate::writer_state::StateStore;
use crate::writer_state::layout::{self, FINGERPRINT_BYTES};

/// The newest run is merged into the one before it when it holds at least this share of its takes
/// (as numerator/denominator): runs of one size then merge like a binary counter's carries, with a
/// margin for months of slightly different sizes.
const MERGE_SHARE: (u64, u64) = (3, 4);

impl Run {
    /// The takes the run was sized for (its filter holds [`BLOOM_BITS_PER_KEY`] bits a take,
    /// rounded up to whole blocks).
    fn takes_sized_for(&self) -> u64 {
        u64::try_from(self.bloom.bits.len()).expect("usize fits in u64") * 8 / BLOOM_BITS_PER_KEY
    }
}

impl Runs {
    /// Merges the newest runs while the policy asks; returns the merges made.
    pub fn compact(&mut self, store: &dyn StateStore) -> Result<usize, StoreError> {
        let mut merges = 0;
        while let [.., older, newer] = self.runs.as_slice() {
            let (share, of) = MERGE_SHARE;
            if newer.takes_sized_for() * of < older.takes_sized_for() * share {
                break;
            }
            self.merge_last_two(store)?;
            merges += 1;
        }
        Ok(merges)
    }

    fn merge_last_two(&mut self, store: &dyn StateStore) -> Result<(), StoreError> {
        let newer = self.runs.pop().expect("two runs");
        let older = self.runs.pop().expect("two runs");
        let id = newer.id + 1;
        let sized_for = older.takes_sized_for() + newer.takes_sized_for();
        let key_bits = bits_for(sized_for).max(older.key_bits).max(newer.key_bits);
        let dispensing_bits = bits_for(sized_for / 2)
            .max(older.dispensing_bits)
            .max(newer.dispensing_bits);
        let mut bloom = Bloom::with_keys(sized_for);
        let mut writer = RunWriter::create(store.runs_dir(), id, [key_bits, dispensing_bits])?;
        let inputs = [&older, &newer];
        let mut takes = Inputs::new(Kind::Takes, &inputs, |run| run.key_bits);
        for bucket in 0..1u32 << key_bits {
            let mut merged = Vec::new();
            for (run, bytes) in takes.bucket(bucket, key_bits)? {
                for take in decode_takes(&bucket_key(run, bucket), bytes)? {
                    if bucket_of(&take.key, key_bits) == bucket {
                        merged.push(take);
                    }
                }
            }
            if merged.is_empty() {
                continue;
            }
            merged.sort_unstable_by_key(|take| (take.key, take.dispensing));
            let mut bytes = Vec::new();
            for take in &merged {
                bloom.insert(&take.key);
                encode_take(&mut bytes, &take.key, &take.dispensing, &take.holder);
            }
            writer.bucket(Kind::Takes, bucket, &bytes)?;
        }
        let mut held = Inputs::new(Kind::Dispensings, &inputs, |run| run.dispensing_bits);
        let entry = 3 * FINGERPRINT_BYTES;
        for bucket in 0..1u32 << dispensing_bits {
            let mut merged: Vec<&[u8]> = Vec::new();
            let found = held.bucket(bucket, dispensing_bits)?;
            for (_, bytes) in &found {
                merged.extend(bytes.chunks(entry).filter(|chunk| {
                    chunk.len() == entry
                        && bucket_of(
                            chunk[..FINGERPRINT_BYTES].try_into().expect("16 bytes"),
                            dispensing_bits,
                        ) == bucket
                }));
            }
            if !merged.is_empty() {
                merged.sort_unstable();
                writer.bucket(Kind::Dispensings, bucket, &merged.concat())?;
            }
        }
        let file = writer.finish(&bloom.bits)?;
        let merged = Run {
            id,
            key_bits,
            dispensing_bits,
            bloom,
            file,
        };
        self.swap(store, [older.id, newer.id], merged)
    }

    /// Names `merged` in the manifest in place of the runs `gone`, in one batch, then deletes their
    /// files (a crash in between leaves files the next start deletes).
    fn swap(
        &mut self,
        store: &dyn StateStore,
        gone: [u32; 2],
        merged: Run,
    ) -> Result<(), StoreError> {
        self.runs.push(merged);
        let mut batch = WriteBatch::new();
        batch.put(&layout::meta(), MANIFEST_KEY.to_vec(), self.manifest());
        store.apply(batch)?;
        for id in gone {
            file::remove(store.runs_dir(), id)?;
        }
        Ok(())
    }
}

/// The input runs' buckets of one kind, each read once while the merged buckets go in order.
struct Inputs<'a> {
    kind: Kind,
    runs: Vec<Input<'a>>,
}

/// One input run, its bucket bits, and its bucket read last (number and bytes).
struct Input<'a> {
    run: &'a Run,
    bits: u8,
    last: Option<(u32, Vec<u8>)>,
}

impl<'a> Inputs<'a> {
    fn new(kind: Kind, runs: &[&'a Run], bits: impl Fn(&Run) -> u8) -> Inputs<'a> {
        Inputs {
            kind,
            runs: runs
                .iter()
                .map(|run| Input {
                    run,
                    bits: bits(run),
                    last: None,
                })
                .collect(),
        }
    }

    /// Each input's bucket that holds the merged bucket `bucket` (of `bits` bits, at least the
    /// input's), with the input's id; an input's bucket is read once for all the merged buckets it
    /// holds.
    fn bucket(&mut self, bucket: u32, bits: u8) -> Result<Vec<(u32, &[u8])>, StoreError> {
        for input in &mut self.runs {
            let within = bucket >> (bits - input.bits);
            if input.last.as_ref().is_none_or(|(read, _)| *read != within) {
                let bytes = input.run.file.bucket(self.kind, within)?;
                input.last = Some((within, bytes));
            }
        }
        Ok(self
            .runs
            .iter()
            .filter_map(|input| {
                let (_, bytes) = input.last.as_ref().expect("just read");
                (!bytes.is_empty()).then_some((input.run.id, bytes.as_slice()))
            })
            .collect())
    }
}
