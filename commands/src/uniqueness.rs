//! The writer-side uniqueness index of marking codes and fiscal receipts across periods (DESIGN §3,
//! M-06, P-08): what makes a double reimbursement impossible across months and across restarts. Every
//! writer of period commands uses it: `submit` and `serve` (the dispatcher), `import`, and the demo.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use hashbrown::HashTable;
use ledger::domain::event::Event;
use ledger::domain::keys::{KeyEvent, KeyRegistry};
use ledger::domain::period::events::DispensingRecorded;
use ledger::domain::period::{PeriodCommand, PeriodState, ReimbursedIndex};
use ledger::domain::values::ReportingPeriod;
use ledger::log::{AppendOutcome, EventLog, Offset, PartitionId, read_partition};

use crate::audit::seal::SealedMonths;
use crate::handler::HandlerError;

/// The writer-side index of marking codes and fiscal receipts across periods (DESIGN §3, M-06): the
/// same marked pack or fiscal receipt cannot be reimbursed twice, even in another month. A reversed
/// dispensing no longer holds its keys (the period state releases them too), so the pack may be
/// dispensed again.
#[derive(Default)]
pub struct UniquenessIndex(Mutex<Holders>);

/// The index keeps every key and dispensing id once, in [`Held`]; its two tables store only numbers
/// and compare against the held strings, so a million dispensings cost about 200 bytes each. The
/// hasher is seeded per process (the keys come from pharmacies, as in the log's own index) and is
/// foldhash, not SipHash: rebuilding the index at start-up hashes two million keys.
#[derive(Default)]
struct Holders {
    hasher: foldhash::fast::RandomState,
    /// Every dispensing that took keys, by number (kept after a reversal, so numbers stay stable).
    held: Vec<Held>,
    /// Each held key as (dispensing number, which of its two keys).
    by_key: HashTable<(u32, u8)>,
    /// Each live dispensing's number, found by (contract, period, id): dispensing ids are unique
    /// within a period stream only.
    by_dispensing: HashTable<u32>,
    /// Contract ids, interned.
    contracts: Vec<Box<str>>,
    contract_numbers: HashTable<u32>,
}

/// A dispensing that took two keys.
struct Held {
    contract: u32,
    period: ReportingPeriod,
    id: Box<str>,
    keys: [Box<str>; 2],
}

impl Holders {
    fn held(&self, number: u32) -> &Held {
        &self.held[usize::try_from(number).expect("u32 fits in usize")]
    }

    fn contract(&mut self, contract: &str) -> u32 {
        let hash = self.hasher.hash_one(contract);
        let contracts = &self.contracts;
        let found = self.contract_numbers.find(hash, |&number| {
            *contracts[usize::try_from(number).expect("u32 fits in usize")] == *contract
        });
        if let Some(&number) = found {
            return number;
        }
        let number = u32::try_from(self.contracts.len()).expect("fewer than 2^32 contracts");
        self.contracts.push(contract.into());
        let (contracts, hasher) = (&self.contracts, &self.hasher);
        self.contract_numbers.insert_unique(hash, number, |&other| {
            hasher.hash_one(&*contracts[usize::try_from(other).expect("u32 fits in usize")])
        });
        number
    }

    fn dispensing_hash(&self, contract: u32, period: &ReportingPeriod, id: &str) -> u64 {
        self.hasher.hash_one((contract, period, id))
    }

    /// The number of the live dispensing `id` of `contract` in `period`.
    fn live(&self, contract: u32, period: &ReportingPeriod, id: &str) -> Option<u32> {
        let hash = self.dispensing_hash(contract, period, id);
        self.by_dispensing
            .find(hash, |&number| {
                let held = self.held(number);
                held.contract == contract && held.period == *period && *held.id == *id
            })
            .copied()
    }

    /// The number of the dispensing holding `key`.
    fn holding(&self, key: &str) -> Option<u32> {
        self.by_key
            .find(self.hasher.hash_one(key), |&(number, which)| {
                *self.held(number).keys[usize::from(which)] == *key
            })
            .map(|&(number, _)| number)
    }

    fn hold(
        &mut self,
        contract: &str,
        period: &ReportingPeriod,
        dispensing: &str,
        keys: [String; 2],
    ) {
        let contract = self.contract(contract);
        if self.live(contract, period, dispensing).is_some() {
            return; // recorded before (the demo records a period's keys more than once)
        }
        let number = u32::try_from(self.held.len()).expect("fewer than 2^32 dispensings");
        let hashes = keys
            .each_ref()
            .map(|key| self.hasher.hash_one(key.as_str()));
        let free = keys.each_ref().map(|key| self.holding(key).is_none());
        let dispensing_hash = self.dispensing_hash(contract, period, dispensing);
        self.held.push(Held {
            contract,
            period: *period,
            id: dispensing.into(),
            keys: keys.map(String::into_boxed_str),
        });
        let (held, hasher) = (&self.held, &self.hasher);
        let key_hash = |&(other, which): &(u32, u8)| {
            let other = &held[usize::try_from(other).expect("u32 fits in usize")];
            hasher.hash_one(&*other.keys[usize::from(which)])
        };
        for (which, (hash, free)) in (0u8..).zip(hashes.into_iter().zip(free)) {
            if free {
                self.by_key.insert_unique(hash, (number, which), key_hash);
            }
        }
        self.by_dispensing
            .insert_unique(dispensing_hash, number, |&other| {
                let other = &held[usize::try_from(other).expect("u32 fits in usize")];
                hasher.hash_one((other.contract, &other.period, &*other.id))
            });
    }

    /// A recorded dispensing takes its pack's and its receipt's keys.
    fn hold_recorded(&mut self, recorded: &DispensingRecorded) {
        self.hold(
            recorded.contract_id.as_str(),
            &recorded.period,
            recorded.dispensing_id.as_str(),
            [
                recorded.marking_code.uniqueness_key(),
                recorded.fiscal_receipt.uniqueness_key(),
            ],
        );
    }

    fn release(&mut self, contract: &str, period: &ReportingPeriod, dispensing: &str) {
        let contract = self.contract(contract);
        let hash = self.dispensing_hash(contract, period, dispensing);
        let held = &self.held;
        let Ok(entry) = self.by_dispensing.find_entry(hash, |&number| {
            let other = &held[usize::try_from(number).expect("u32 fits in usize")];
            other.contract == contract && other.period == *period && *other.id == *dispensing
        }) else {
            return;
        };
        let (number, _) = entry.remove();
        for which in 0u8..2 {
            let key = &self.held(number).keys[usize::from(which)];
            let hash = self.hasher.hash_one(&**key);
            if let Ok(entry) = self
                .by_key
                .find_entry(hash, |&slot| slot == (number, which))
            {
                entry.remove();
            }
        }
    }

    /// `<period>/<dispensing id>` of the holder of `key`, as refusals name it.
    fn holder_of(&self, key: &str) -> Option<String> {
        let held = self.held(self.holding(key)?);
        Some(format!("{}/{}", held.period.key(), held.id))
    }
}

impl UniquenessIndex {
    /// Dispensings recorded and keys held now.
    pub fn size(&self) -> (usize, usize) {
        let holders = self.0.lock().expect("index lock");
        (holders.held.len(), holders.by_key.len())
    }

    /// Records the live dispensings of a period state (the demo, once per contract and month).
    pub fn record(&self, state: &PeriodState) {
        let mut holders = self.0.lock().expect("index lock");
        for entry in state.dispensings.values().filter(|entry| !entry.reversed) {
            holders.hold_recorded(&entry.recorded);
        }
    }

    /// Applies one recorded event (the JSON writer, after each append and when it starts): a
    /// dispensing takes its pack's and its receipt's keys, a reversal releases them.
    pub fn apply(&self, event: &Event) {
        let mut holders = self.0.lock().expect("index lock");
        match event {
            Event::DispensingRecorded(recorded) => holders.hold_recorded(recorded),
            Event::DispensingReversed(reversed) => holders.release(
                reversed.contract_id.as_str(),
                &reversed.period,
                reversed.dispensing_id.as_str(),
            ),
            _ => {}
        }
    }
}

impl ReimbursedIndex for UniquenessIndex {
    fn reimbursed_by(&self, key: &str) -> Option<String> {
        self.0.lock().expect("index lock").holder_of(key)
    }
}

impl UniquenessIndex {
    /// Applies the dispensings and reversals of an append just made: only the new events, so a
    /// command costs the same in a period of ten dispensings as in one of a hundred thousand.
    pub async fn apply_appended(
        &self,
        log: &dyn EventLog,
        appended: &AppendOutcome,
    ) -> Result<(), HandlerError> {
        for event in crate::writer::appended_events(log, appended).await? {
            self.apply(&event);
        }
        Ok(())
    }
}

/// Reads what the writer must know before its first decision (DESIGN §3): every `keys/<BIN>` stream
/// into a registry, and every dispensing and reversal into the uniqueness index (M-06), so a pack
/// reimbursed before this process started is still refused. The log has no index of stream names, so
/// this scans each partition once at start-up and decodes only the events it needs (the envelope
/// names the stream and the event type without decoding the payload): seconds for a million-record
/// log.
pub async fn load_writer_indexes(
    log: &Arc<dyn EventLog>,
) -> Result<(KeyRegistry, UniquenessIndex, SealedMonths), HandlerError> {
    let started = std::time::Instant::now();
    let found = Arc::new((
        Mutex::new(KeyRegistry::new()),
        UniquenessIndex::default(),
        Mutex::new(SealedMonths::default()),
    ));
    // One task per partition: decoding the dispensings is most of the start-up time, and partitions
    // are independent (a stream lives on one, and the index ends the same in any partition order: at
    // most one live dispensing holds a key).
    let scans = (0..log.partitions()).map(|partition| {
        let (log, found) = (Arc::clone(log), Arc::clone(&found));
        tokio::spawn(async move { scan_partition(&*log, PartitionId(partition), &found).await })
    });
    for scan in futures::future::join_all(scans).await {
        scan.map_err(|error| {
            HandlerError::Log(ledger::log::LogError::Unavailable(format!(
                "the start-up scan stopped: {error}"
            )))
        })??;
    }
    let (registry, index, sealed) = Arc::into_inner(found).expect("every scan has finished");
    let (dispensings, keys) = index.size();
    tracing::info!(
        dispensings,
        keys,
        elapsed_ms = started.elapsed().as_millis(),
        "writer indexes loaded from the log"
    );
    Ok((
        registry.into_inner().expect("key registry lock"),
        index,
        sealed.into_inner().expect("sealed months lock"),
    ))
}

async fn scan_partition(
    log: &dyn EventLog,
    partition: PartitionId,
    (registry, index, sealed): &(Mutex<KeyRegistry>, UniquenessIndex, Mutex<SealedMonths>),
) -> Result<(), HandlerError> {
    let mut records = read_partition(log, partition, Offset(0));
    while let Some(record) = records.next().await {
        let envelope = record?;
        match envelope.body.stream.category() {
            "keys" => {
                if let Ok(event) = KeyEvent::try_from(&crate::writer::decode(&envelope)?) {
                    registry.lock().expect("key registry lock").apply(&event);
                }
            }
            // SEAL-01: the months sealed so far (`seal/<jurisdiction>/<YYYY-MM>`).
            "seal" => {
                let event = crate::writer::decode(&envelope)?;
                sealed.lock().expect("sealed months lock").apply(&event);
            }
            "period" if UNIQUENESS_EVENTS.contains(&envelope.body.payload.event_type.as_str()) => {
                index.apply(&crate::writer::decode(&envelope)?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The event types that take or release a uniqueness key.
const UNIQUENESS_EVENTS: [&str; 2] = ["DispensingRecorded", "DispensingReversed"];

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

    use super::Holders;
    use ledger::domain::values::ReportingPeriod;

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

    proptest! {
        /// M-06: whatever order of dispensings and reversals the domain lets through (a key is taken
        /// only while no live dispensing holds it), the index names, for every key, exactly the live
        /// dispensing that holds it, and nothing once its holder was reversed.
        #[test]
        fn m06_the_index_names_the_live_holder_of_every_key(steps in proptest::collection::vec(step(), 0..60)) {
            let period = ReportingPeriod::month(2026, 2).unwrap();
            let mut holders = Holders::default();
            let mut live: BTreeMap<u8, [u8; 2]> = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Dispense { dispensing, keys } => {
                        let taken = live.values().flatten().any(|key| keys.contains(key));
                        if live.contains_key(&dispensing) || taken {
                            continue; // the domain refuses it (P-08, M-06)
                        }
                        holders.hold("KZ-1", &period, &format!("D{dispensing}"), keys.map(|key| format!("k{key}")));
                        live.insert(dispensing, keys);
                    }
                    Step::Reverse { dispensing } => {
                        holders.release("KZ-1", &period, &format!("D{dispensing}"));
                        live.remove(&dispensing);
                    }
                }
            }
            for key in 0u8..32 {
                let expected = live
                    .iter()
                    .find(|(_, keys)| keys.contains(&key))
                    .map(|(dispensing, _)| format!("2026-02/D{dispensing}"));
                let found = holders.holder_of(&format!("k{key}"));
                prop_assert_eq!(found, expected, "key k{}", key);
            }
        }
    }
}
