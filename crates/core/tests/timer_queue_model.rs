//! proptest: the reactor's `TimerQueue` against a `BTreeMap` model under
//! random inserts, cancels (live and stale) and pops. Timers fire in
//! deadline order (ties in insertion order), never before their deadline,
//! and a cancelled timer never fires. Inserts are a mix of random deadlines
//! (mostly the queue's heap) and runs of in-order ones (its lane), so both
//! structures, their interleaving and the lane's tombstone compaction are
//! exercised.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{TaskKey, TimerId, TimerQueue};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    /// Insert `n` timers in deadline order from the latest deadline so far.
    InsertRun(u64, usize),
    Cancel(usize),
    FireUntil(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..200).prop_map(Op::Insert),
        2 => (0u64..3, 1usize..40).prop_map(|(step, n)| Op::InsertRun(step, n)),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => (0u64..220).prop_map(Op::FireUntil),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn timer_queue_matches_an_ordered_model(ops in proptest::collection::vec(op(), 1..200)) {
        let base = Instant::now();
        let mut queue = TimerQueue::new();
        // model: (deadline offset, insertion number) -> task index
        let mut model: BTreeMap<(u64, usize), u32> = BTreeMap::new();
        let mut ids: Vec<(TimerId, (u64, usize))> = Vec::new();
        let mut latest = 0u64;
        for op in ops {
            match op {
                Op::InsertRun(step, n) => {
                    for _ in 0..n {
                        latest = (latest + step).min(219);
                        let k = ids.len();
                        let id = queue.insert(base + Duration::from_millis(latest), TaskKey::new(k as u32, 0));
                        model.insert((latest, k), k as u32);
                        ids.push((id, (latest, k)));
                    }
                }
                Op::Insert(offset) => {
                    latest = latest.max(offset);
                    let n = ids.len();
                    let id = queue.insert(base + Duration::from_millis(offset), TaskKey::new(n as u32, 0));
                    model.insert((offset, n), n as u32);
                    ids.push((id, (offset, n)));
                }
                Op::Cancel(pick) if !ids.is_empty() => {
                    let (id, key) = ids[pick % ids.len()];
                    let expected = model.remove(&key).is_some();
                    prop_assert_eq!(queue.cancel(id), expected);
                    prop_assert!(!queue.contains(id));
                }
                Op::Cancel(_) => {}
                Op::FireUntil(offset) => {
                    let mut fired = Vec::new();
                    queue.fire_due(base + Duration::from_millis(offset), |key| fired.push(key));
                    let due: Vec<(u64, usize)> = model.range(..(offset + 1, 0)).map(|(k, _)| *k).collect();
                    let expected: Vec<TaskKey> = due
                        .iter()
                        .map(|k| TaskKey::new(model[k], 0))
                        .collect();
                    for k in due {
                        model.remove(&k);
                    }
                    prop_assert_eq!(fired, expected);
                }
            }
            prop_assert_eq!(queue.len(), model.len());
            let next = model.keys().next().map(|(offset, _)| base + Duration::from_millis(*offset));
            prop_assert_eq!(queue.next_deadline(), next);
        }
    }
}
