//! Issue 18's million-task case, for `just scale` (ignored by default: it
//! needs `vm.max_map_count` raised and a few GiB of memory).
//!
//! 1,000,000 tasks (`FIBRIO_SCALE_TASKS` to change it) with 16 KiB stacks
//! park on a one-hour timer; then all are cancelled and joined. It prints
//! the spawn time, the teardown time and the RSS per parked task against
//! the targets (spawn < 5 s, cancel + join < 5 s, < 4 KiB per task), and
//! fails only if a task is lost or the limit is too low. Next to each wall
//! time it prints the thread's CPU time, steadier on a loaded machine. Run
//! it in release:
//!
//! ```sh
//! sysctl -w vm.max_map_count=2100000
//! cargo test --release -p fibrio --test runtime_scale_million -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use fibrio::stack::max_map_count_for;
use fibrio::Runtime;

/// Resident memory in bytes (`/proc/self/statm`).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * fibrio::stack::page_size()
}

/// CPU time this thread has run so far (`/proc/thread-self/schedstat`,
/// nanoseconds): the runtime, and so every task, runs on this thread.
fn cpu_time() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat");
    Duration::from_nanos(
        schedstat
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

#[test]
#[ignore = "needs vm.max_map_count >= 2.1M and ~5 GiB: run by `just scale`"]
fn a_million_parked_tasks_spawn_and_are_cancelled() {
    let tasks: usize = std::env::var("FIBRIO_SCALE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Generous room for the rest of the process.
    let needed = max_map_count_for(tasks + 1_000, 2_000);
    assert!(
        limit >= needed,
        "{tasks} tasks need vm.max_map_count >= {needed} (it is {limit}): \
         `sysctl -w vm.max_map_count={needed}` (docs/scaling.md)"
    );
    let baseline = rss();
    let (spawn, parked_rss, teardown, cancelled) = Runtime::builder()
        .stack_size(16 * 1024)
        .build()
        .unwrap()
        .run(move || {
            let (start, cpu) = (Instant::now(), cpu_time());
            let handles: Vec<_> = (0..tasks)
                .map(|_| fibrio::spawn(|| fibrio::sleep(Duration::from_secs(3600))))
                .collect();
            let spawn = (start.elapsed(), cpu_time() - cpu);
            // Let every task run to its park.
            fibrio::sleep(Duration::from_millis(20));
            let parked_rss = rss();
            let (start, cpu) = (Instant::now(), cpu_time());
            for handle in &handles {
                handle.cancel();
            }
            let cancelled = handles.into_iter().filter_map(|h| h.join().err()).count();
            let teardown = (start.elapsed(), cpu_time() - cpu);
            (spawn, parked_rss, teardown, cancelled)
        });
    let per_task = parked_rss.saturating_sub(baseline) / tasks;
    let verdict = |ok: bool| if ok { "target met" } else { "TARGET MISSED" };
    println!(
        "{tasks} parked tasks, 16 KiB stacks, guards by {:?}:\n  \
         spawn {:.2?}, CPU {:.2?} (< 5 s: {})\n  \
         cancel + join {:.2?}, CPU {:.2?} (< 5 s: {})\n  \
         RSS {per_task} B per parked task (< 4096: {})",
        fibrio::stack::guard_kind(),
        spawn.0,
        spawn.1,
        verdict(spawn.0 < Duration::from_secs(5)),
        teardown.0,
        teardown.1,
        verdict(teardown.0 < Duration::from_secs(5)),
        verdict(per_task < 4096),
    );
    assert_eq!(cancelled, tasks, "every task was cancelled and joined");
}
