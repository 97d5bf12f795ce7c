//! Memory that comes back: after a burst of tasks that touched their
//! stacks, the pool gives the stacks' memory back once they have stayed
//! unused for the quiet period, both on its own (checked as stacks are
//! taken and returned, here by a trickle of tasks) and on
//! `stack::trim_pool()`.
//!
//! This binary holds this one test, so nothing else moves its RSS. The
//! quiet period is set to 100 ms (the default is 10 s), and the checks
//! leave generous margins: they compare RSS with what the burst added, not
//! with a tight figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::stack;
use fibrio_core::task;

const TASKS: usize = 20_000;
/// Each task's stack, and how much of it the task touches.
const STACK: usize = 32 * 1024;
const TOUCH: usize = 8 * 1024;
const QUIET: Duration = Duration::from_millis(100);
/// How long the automatic trim may take before the test gives up: 100
/// quiet periods.
const PATIENCE: Duration = Duration::from_secs(10);

/// This process's resident memory, in bytes (`/proc/self/statm`).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * stack::page_size()
}

/// Touches `TOUCH` bytes of the task's stack, then stays parked for a
/// while so that all the tasks are alive at once.
fn toucher() {
    let mut buf = [0u8; TOUCH];
    black_box(&mut buf);
    for i in (0..TOUCH).step_by(512) {
        buf[i] = i as u8;
    }
    black_box(&buf);
    task::sleep(Duration::from_millis(300));
}

/// Runs a burst of `TASKS` touching tasks and returns the RSS while they
/// are all alive.
fn burst() -> usize {
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            task::Builder::new()
                .stack_size(STACK)
                .spawn(toucher)
                .unwrap()
        })
        .collect();
    task::sleep(Duration::from_millis(100));
    let loaded = rss();
    for handle in handles {
        handle.join().unwrap();
    }
    loaded
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[test]
fn pooled_stacks_give_their_memory_back_after_the_quiet_period() {
    stack::set_trim_quiet_period(QUIET);
    let config = SchedulerConfig {
        stack_size: STACK,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
        .block_on(|| {
            // Warm up everything but the stacks.
            task::spawn(|| ()).join().unwrap();
            let baseline = rss();

            // 1. The automatic trim, driven by a trickle of tasks.
            let loaded = burst();
            let after_load = rss();
            let added = loaded.saturating_sub(baseline);
            assert!(
                added > TASKS * TOUCH / 2,
                "the burst added only {:.1} MiB",
                mib(added)
            );
            let start = Instant::now();
            let mut now_rss = after_load;
            while start.elapsed() < PATIENCE {
                task::spawn(|| ()).join().unwrap();
                task::sleep(Duration::from_millis(2));
                now_rss = rss();
                // Both: the memory came back, and the pool is down to its
                // floor. Stacks that came back to the pool during a quiet
                // period (the burst's last tasks ending) are given back only
                // at the end of the next one, so on a slow machine the RSS
                // can come back one period before the pool shrinks to its
                // floor (CI saw 1,190 pooled once).
                if now_rss < baseline + added / 10
                    && stack::statistics().pooled <= stack::POOL_TRIM_FLOOR + 1
                {
                    break;
                }
            }
            let took = start.elapsed();
            eprintln!(
                "automatic trim: baseline {:.1} MiB, with {TASKS} tasks {:.1} MiB, after they \
                 ended {:.1} MiB, {took:?} later {:.1} MiB (pool: {:?})",
                mib(baseline),
                mib(loaded),
                mib(after_load),
                mib(now_rss),
                stack::statistics()
            );
            // Within 2x of the baseline plus slack for the heap the tasks
            // used (which malloc may keep), and most of the burst gone.
            let slack = 32 << 20;
            assert!(
                now_rss <= 2 * baseline + slack,
                "RSS {:.1} MiB did not come back near the baseline {:.1} MiB",
                mib(now_rss),
                mib(baseline)
            );
            assert!(
                now_rss < baseline + added / 4,
                "RSS {:.1} MiB kept most of the burst's {:.1} MiB",
                mib(now_rss),
                mib(added)
            );
            assert!(stack::statistics().pooled <= stack::POOL_TRIM_FLOOR + 1);

            // 2. An explicit trim gives everything back at once.
            stack::set_trim_quiet_period(Duration::from_secs(3600));
            let loaded = burst();
            let before = rss();
            let trimmed = stack::trim_pool();
            let after = rss();
            eprintln!(
                "trim_pool: with {TASKS} tasks {:.1} MiB, after they ended {:.1} MiB, after \
                 trim_pool {:.1} MiB ({trimmed:?})",
                mib(loaded),
                mib(before),
                mib(after)
            );
            assert!(trimmed.unmapped + trimmed.released > 0);
            assert!(
                after <= 2 * baseline + slack,
                "RSS {:.1} MiB after trim_pool, baseline {:.1} MiB",
                mib(after),
                mib(baseline)
            );
            stack::set_trim_quiet_period(stack::DEFAULT_TRIM_QUIET_PERIOD);
        })
        .expect("the scheduler failed");
}
