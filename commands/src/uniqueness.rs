//! The writer-side uniqueness index of marking codes and fiscal receipts across periods (DESIGN §3,
//! M-06, P-08): what makes a double reimbursement impossible across months and across restarts. Every
//! writer of period commands uses it: `submit` and `serve` (the dispatcher), `import`, and the demo.
//!
//! The index lives in the writer's state store (`writer_state`, issue #16): what the checkpoint
//! covers is on disk in immutable runs (`writer_state::m06`), what was appended since is in an
//! in-memory overlay, so the writer's memory does not grow with every dispensing ever recorded and a
//! restart reads only the log after the checkpoint.

use std::sync::{Arc, Mutex, RwLock};

use ledger::domain::event::Event;
use ledger::domain::period::{PeriodCommand, ReimbursedIndex};
use ledger::domain::values::ReportingPeriod;
use ledger::log::{AppendOutcome, EventLog};
use projector::{StoreError, WriteBatch};

use crate::handler::HandlerError;
use crate::writer_state::StateStore;
use crate::writer_state::layout;
use crate::writer_state::m06::{self, Changes, Runs};

/// The writer-side index of marking codes and fiscal receipts across periods (DESIGN §3, M-06): the
/// same marked pack or fiscal receipt cannot be reimbursed twice, even in another month. A reversed
/// dispensing no longer holds its keys (the period state releases them too), so the pack may be
/// dispensed again.
#[derive(Clone)]
pub struct UniquenessIndex {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn StateStore>,
    runs: RwLock<Runs>,
    /// What was appended after the checkpoint.
    overlay: Mutex<Changes>,
}

impl Default for UniquenessIndex {
    /// An empty index in a temporary store, deleted when the last handle goes (tests, single runs).
    fn default() -> Self {
        UniquenessIndex::open(crate::writer_state::temporary_store())
            .expect("an empty store has no runs to read")
    }
}

impl UniquenessIndex {
    /// The index over the runs `store` holds.
    pub fn open(store: Arc<dyn StateStore>) -> Result<UniquenessIndex, StoreError> {
        let runs = Runs::load(&*store)?;
        Ok(UniquenessIndex {
            inner: Arc::new(Inner {
                store,
                runs: RwLock::new(runs),
                overlay: Mutex::new(Changes::default()),
            }),
        })
    }

    /// Applies one recorded event (the JSON writer, after each append): a dispensing takes its
    /// pack's and its receipt's keys, a reversal releases them.
    pub fn apply(&self, event: &Event) -> Result<(), HandlerError> {
        let mut overlay = self.inner.overlay.lock().expect("overlay lock");
        self.apply_to(&mut overlay, event)?;
        Ok(())
    }

    /// Applies the dispensings and reversals of an append just made: only the new events, so a
    /// command costs the same in a period of ten dispensings as in one of a hundred thousand.
    pub async fn apply_appended(
        &self,
        log: &dyn EventLog,
        appended: &AppendOutcome,
    ) -> Result<(), HandlerError> {
        for event in crate::writer::appended_events(log, appended).await? {
            self.apply(&event)?;
        }
        Ok(())
    }

    /// Applies `event` to `changes` (the overlay, or a replay's changes).
    pub(crate) fn apply_to(&self, changes: &mut Changes, event: &Event) -> Result<(), StoreError> {
        match event {
            Event::DispensingRecorded(recorded) => {
                let dispensing = layout::dispensing_fingerprint(
                    recorded.contract_id.as_str(),
                    &recorded.period,
                    recorded.dispensing_id.as_str(),
                );
                let keys = [
                    layout::key_fingerprint(&recorded.marking_code.uniqueness_key()),
                    layout::key_fingerprint(&recorded.fiscal_receipt.uniqueness_key()),
                ];
                changes.take(
                    dispensing,
                    keys,
                    &holder_name(&recorded.period, recorded.dispensing_id.as_str()),
                );
                Ok(())
            }
            Event::DispensingReversed(reversed) => {
                let dispensing = layout::dispensing_fingerprint(
                    reversed.contract_id.as_str(),
                    &reversed.period,
                    reversed.dispensing_id.as_str(),
                );
                let runs = self.inner.runs.read().expect("runs lock");
                changes.release(dispensing, &runs)
            }
            _ => Ok(()),
        }
    }

    /// Writes `changes` as a run; returns the batch (manifest, filter, releases) the caller commits
    /// with its checkpoint, then [`UniquenessIndex::committed`] or [`UniquenessIndex::abandoned`].
    pub(crate) fn write_run(&self, changes: &Changes) -> Result<WriteBatch, StoreError> {
        let mut runs = self.inner.runs.write().expect("runs lock");
        runs.write_run(&*self.inner.store, changes)
    }

    /// Merges the newest runs while they are about the same size (`m06::merge`), so lookups probe
    /// about `log2` of the runs ever written; returns the merges made.
    pub(crate) fn compact(&self) -> Result<usize, StoreError> {
        let mut runs = self.inner.runs.write().expect("runs lock");
        runs.compact(&*self.inner.store)
    }

    /// The last written run's commit failed: forget it (a restart deletes its buckets).
    pub(crate) fn abandoned(&self, wrote_run: bool) {
        if wrote_run {
            self.inner.runs.write().expect("runs lock").abandon_last();
        }
    }

    /// Replaces the overlay (after a catch-up: everything it held is in the runs now; at start-up:
    /// the log after the checkpoint).
    pub(crate) fn set_overlay(&self, changes: Changes) {
        *self.inner.overlay.lock().expect("overlay lock") = changes;
    }

    /// Runs on disk, their filters' bytes in memory, and the takes in the overlay.
    pub fn size(&self) -> (usize, usize, usize) {
        let runs = self.inner.runs.read().expect("runs lock");
        let overlay = self
            .inner
            .overlay
            .lock()
            .expect("overlay lock")
            .take_count();
        (runs.len(), runs.filter_bytes(), overlay)
    }
}

/// How a refusal names the holder of a key.
fn holder_name(period: &ReportingPeriod, dispensing: &str) -> String {
    format!("{}/{dispensing}", period.key())
}

impl ReimbursedIndex for UniquenessIndex {
    /// Fails closed: a key the store cannot be asked about is treated as held, so a broken disk
    /// refuses dispensings instead of paying a pack twice.
    fn reimbursed_by(&self, key: &str) -> Option<String> {
        let key = layout::key_fingerprint(key);
        let runs = self.inner.runs.read().expect("runs lock");
        let overlay = self.inner.overlay.lock().expect("overlay lock");
        match m06::holder(&*self.inner.store, &runs, &overlay, &key) {
            Ok(holder) => holder,
            Err(error) => {
                tracing::error!(%error, "the M-06 index cannot be read; refusing the key");
                Some(format!(
                    "an unknown dispensing (the M-06 index cannot be read: {error})"
                ))
            }
        }
    }
}

/// The uniqueness keys (marked pack, fiscal receipt) the dispensings of a period command batch take.
pub fn uniqueness_keys(commands: &[PeriodCommand]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|command| match command {
            PeriodCommand::RecordDispensing(dispensing) => Some([
                dispensing.marking_code.uniqueness_key(),
                dispensing.fiscal_receipt.uniqueness_key(),
            ]),
            _ => None,
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::UniquenessIndex;
    use crate::writer_state::layout;
    use crate::writer_state::m06::Changes;
    use ledger::domain::period::ReimbursedIndex;

    /// One step: dispense `dispensing` with two keys drawn from a small pool, or reverse it.
    #[derive(Debug, Clone)]
    enum Step {
        Dispense { dispensing: u8, keys: [u8; 2] },
        Reverse { dispensing: u8 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..12, 0u8..16, 16u8..32).prop_map(|(dispensing, a, b)| Step::Dispense {
                dispensing,
                keys: [a, b]
            }),
            (0u8..12).prop_map(|dispensing| Step::Reverse { dispensing }),
        ]
    }

    fn dispensing(number: u8) -> layout::Fingerprint {
        layout::key_fingerprint(&format!("D{number}"))
    }

    fn key(number: u8) -> layout::Fingerprint {
        layout::key_fingerprint(&format!("k{number}"))
    }

    proptest! {
        // A sled database per case.
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// M-06: whatever order of dispensings and reversals the domain lets through (a key is taken
        /// only while no live dispensing holds it, a dispensing id once), the index names, for every
        /// key, exactly the live dispensing that holds it, and nothing once its holder was reversed,
        /// wherever the steps are cut into runs (catch-ups) and with the rest in the overlay.
        #[test]
        fn m06_the_index_names_the_live_holder_of_every_key(
            steps in proptest::collection::vec(step(), 0..60),
            cuts in proptest::collection::btree_set(0usize..60, 0..4),
        ) {
            let index = UniquenessIndex::default();
            let mut live: BTreeMap<u8, [u8; 2]> = BTreeMap::new();
            let mut used = std::collections::BTreeSet::new();
            let mut changes = Changes::default();
            for (number, step) in steps.into_iter().enumerate() {
                if cuts.contains(&number) {
                    let last = index.write_run(&changes).unwrap();
                    index.inner.store.apply(last).unwrap();
                    changes = Changes::default();
                }
                match step {
                    Step::Dispense { dispensing: d, keys } => {
                        let taken = live.values().flatten().any(|held| keys.contains(held));
                        if used.contains(&d) || taken {
                            continue; // the domain refuses it (P-08, M-06)
                        }
                        used.insert(d);
                        live.insert(d, keys);
                        changes.take(dispensing(d), keys.map(key), &format!("2026-02/D{d}"));
                    }
                    Step::Reverse { dispensing: d } => {
                        if live.remove(&d).is_some() {
                            let runs = index.inner.runs.read().unwrap();
                            changes.release(dispensing(d), &runs).unwrap();
                        }
                    }
                }
            }
            index.set_overlay(changes);
            for number in 0u8..32 {
                let expected = live
                    .iter()
                    .find(|(_, keys)| keys.contains(&number))
                    .map(|(d, _)| format!("2026-02/D{d}"));
                let found = index.reimbursed_by(&format!("k{number}"));
                prop_assert_eq!(found, expected, "key k{}", number);
            }
        }
    }
}
