//! Property tests: the views equal a plain in-memory fold of the same events, whatever the batching;
//! replay is deterministic (two builds give identical store contents, on either store).

mod common;

use common::{Op, Workload};
use ledger::log::{EventEnvelope, PartitionId, StreamId};
use projector::{Entry, Projector, SimConfig, SimStore, SledStore, ViewStore};
use proptest::prelude::*;

fn arb_op() -> impl Strategy<Value = Op> {
    let entity = 0u8..6;
    prop_oneof![
        (entity.clone(), 0u64..1000).prop_map(|(entity, value)| Op::Set { entity, value }),
        (entity.clone(), 0u64..100).prop_map(|(entity, amount)| Op::Add { entity, amount }),
        entity.prop_map(|entity| Op::Delete { entity }),
    ]
}

/// A workload as a script: (stream index, op, redeliver the stream's last event instead?).
fn arb_workload() -> impl Strategy<Value = Workload> {
    let step = (0usize..12, arb_op(), prop::bool::weighted(0.05));
    (1u32..4, prop::collection::vec(step, 0..250)).prop_map(|(partitions, script)| {
        let ids: Vec<StreamId> = (0..12).map(common::stream_id).collect();
        Workload::from_script(partitions, &ids, &script)
    })
}

/// Projects `workload` partition by partition, cutting batches with the sizes in `cuts` (cycled).
fn build<S: ViewStore>(store: S, workload: &Workload, cuts: &[usize]) -> Projector<S> {
    let (mut projector, _) = Projector::open(store, common::views(1)).unwrap();
    let mut cut = cuts.iter().copied().cycle();
    for index in 0..workload.partition_count() {
        let events: &[EventEnvelope] = workload.partition(PartitionId(index));
        let mut start = 0;
        while start < events.len() {
            let end = (start + cut.next().unwrap_or(1).max(1)).min(events.len());
            projector.step(&events[start..end]).unwrap();
            start = end;
        }
    }
    projector
}

fn export<S: ViewStore>(projector: &Projector<S>) -> Vec<Entry> {
    projector.store().export().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn views_equal_the_in_memory_fold(workload in arb_workload(), cuts in prop::collection::vec(1usize..20, 1..6)) {
        let projector = build(SimStore::new(SimConfig::default()), &workload, &cuts);
        let actual = common::read_views(&projector.reader());
        let expected = common::model(&workload, 1);
        prop_assert_eq!(common::first_difference(&actual, &expected), None);
    }

    #[test]
    fn replay_gives_identical_store_contents(
        workload in arb_workload(),
        first in prop::collection::vec(1usize..20, 1..6),
        second in prop::collection::vec(1usize..20, 1..6),
    ) {
        let one = export(&build(SimStore::new(SimConfig::default()), &workload, &first));
        let two = export(&build(SimStore::new(SimConfig::default()), &workload, &second));
        prop_assert_eq!(one, two);
    }
}

proptest! {
    // sled opens a database per case: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn sled_and_sim_builds_are_byte_identical(workload in arb_workload(), cuts in prop::collection::vec(1usize..40, 1..4)) {
        let sim = export(&build(SimStore::new(SimConfig::default()), &workload, &cuts));
        let sled = export(&build(SledStore::temporary().unwrap(), &workload, &[7]));
        prop_assert_eq!(sim, sled);
    }
}
