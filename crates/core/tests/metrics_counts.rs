//! Runtime metrics after a known workload are exact.

use std::time::Duration;

use fibrio_core::scheduler::{metrics, Handle, NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, WaitKind};

#[test]
fn metrics_count_a_known_workload_exactly() {
    task::test_support::quiet_planned_panics();
    let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    scheduler
        .block_on(|| {
            let start = metrics();
            assert_eq!((start.tasks_spawned, start.tasks_alive), (1, 1));
            assert_eq!(start.switches, 1); // main's first run
            assert_eq!(start.driver, "notify");

            // Three children that complete: main parks on the first join,
            // each child runs once, main runs again.
            let children: Vec<_> = (0..3).map(|i| task::spawn(move || i)).collect();
            assert_eq!(metrics().run_queue_depth, 3);
            let sum: i32 = children.into_iter().map(|c| c.join().unwrap()).sum();
            assert_eq!(sum, 3);
            let m = metrics();
            assert_eq!((m.tasks_spawned, m.tasks_completed), (4, 3));
            assert_eq!(m.switches, 1 + 3 + 1);

            // One that panics, one cancelled before it runs.
            let failing = task::spawn(|| panic!("planned failure"));
            assert!(failing.join().is_err());
            let cancelled = task::spawn(|| ());
            cancelled.cancel();
            assert!(cancelled.join().unwrap_err().is_cancelled());
            let m = metrics();
            assert_eq!(m.tasks_spawned, 6);
            assert_eq!(
                (m.tasks_completed, m.tasks_failed, m.tasks_cancelled),
                (3, 1, 1)
            );
            assert_eq!(m.switches, 5 + 2 + 1); // the cancelled one never ran
            assert_eq!(m.tasks_alive, 1);

            // Parked tasks by reason, timers pending.
            let parked: Vec<_> = (0..4).map(|_| task::spawn(task::park)).collect();
            let sleepers: Vec<_> = (0..2)
                .map(|_| task::spawn(|| task::sleep(Duration::from_secs(3600))))
                .collect();
            task::yield_now();
            let m = Handle::current().metrics().unwrap();
            assert_eq!(
                m.parked_by_reason,
                [(WaitKind::Park, 4), (WaitKind::Sleep, 2)]
            );
            assert_eq!(m.timers_pending, 2);
            assert_eq!(m.tasks_alive, 7);
            assert_eq!(m.run_queue_depth, 0);
            assert!(m.stacks_in_use >= 7);
            assert!(m.busy + m.idle <= m.uptime);
            for p in &parked {
                p.cancel();
            }
            for s in &sleepers {
                s.cancel();
            }
            for p in parked {
                let _ = p.join();
            }
            for s in sleepers {
                let _ = s.join();
            }
            let m = metrics();
            assert_eq!(m.tasks_cancelled, 1 + 6);
            assert_eq!(m.tasks_alive, 1);
        })
        .unwrap();
}

#[test]
fn wake_to_run_delays_are_sampled() {
    Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()))
        .block_on(|| {
            let me = task::Unparker::current().unwrap();
            for _ in 0..1000 {
                me.unpark(); // a token: no wake-up to sample
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let child = task::spawn(move || {
                tx.send(task::Unparker::current().unwrap()).unwrap();
                for _ in 0..1000 {
                    let _ = task::park();
                }
            });
            task::yield_now();
            let child_unparker = rx.recv().unwrap();
            for _ in 0..1000 {
                child_unparker.unpark();
                task::yield_now();
            }
            child.join().unwrap();
            let histogram = metrics().wake_to_run;
            let samples = histogram.count();
            // One wake-up in 64 is timed (1000 wake-ups and a join).
            assert!((10..=20).contains(&samples), "{samples} samples");
        })
        .unwrap();
}
