//! Scale: 100,000 tasks sleeping at once in one runtime, and what happens
//! when the kernel runs out of memory mappings for stacks.
//!
//! Each guarded stack takes two kernel mappings, and Linux allows
//! `vm.max_map_count` per process (65530 by default), so 100,000 tasks need
//! the limit raised: `sysctl -w vm.max_map_count=262144`. `.ci/run` does
//! that when it may; elsewhere the big test says so and checks the failure
//! mode instead.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use fibrio::task::SpawnError;
use fibrio::Runtime;

const TASKS: usize = 100_000;

fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn resident_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_hundred_thousand_tasks_sleep_at_once_and_all_complete() {
    let needed = TASKS * 2 + 20_000;
    match max_map_count() {
        Some(limit) if limit >= needed => {}
        other => {
            eprintln!(
                "SKIP: {TASKS} guarded stacks need vm.max_map_count >= {needed} (it is {other:?}); \
                 raise it with `sysctl -w vm.max_map_count=262144`. Checking 20,000 tasks instead."
            );
            run_sleepers(20_000);
            return;
        }
    }
    run_sleepers(TASKS);
}

fn run_sleepers(count: usize) {
    let rss_before = resident_kib();
    let (completed, elapsed, rss_peak) = Runtime::builder()
        .stack_size(16 * 1024)
        .build()
        .unwrap()
        .run(move || {
            let start = Instant::now();
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    fibrio::spawn(move || {
                        fibrio::sleep(Duration::from_millis(200));
                        i
                    })
                })
                .collect();
            // Every task is now parked on its timer at the same time.
            fibrio::sleep(Duration::from_millis(50));
            let rss_peak = resident_kib();
            let mut completed = 0;
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.join().unwrap(), i);
                completed += 1;
            }
            (completed, start.elapsed(), rss_peak)
        });
    assert_eq!(completed, count);
    if let (Some(before), Some(peak)) = (rss_before, rss_peak) {
        eprintln!(
            "{count} sleeping tasks: {:?} in all, about {} bytes of RSS per task",
            elapsed,
            (peak.saturating_sub(before) * 1024) / count
        );
    }
}

#[test]
fn running_out_of_stack_mappings_is_a_spawn_error_that_names_the_knob() {
    if std::env::var("FIBRIO_TEST_CHILD").as_deref() == Ok("map-limit") {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vsize_kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmSize:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let limit = (vsize_kib + 96 * 1024) * 1024;
        let rlimit = libc_rlimit(limit);
        assert!(rlimit, "setrlimit failed");
        let message = Runtime::new().unwrap().run(|| {
            let mut handles = Vec::with_capacity(50_000);
            loop {
                match fibrio::task::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(|| fibrio::sleep(Duration::from_secs(60)))
                {
                    Ok(handle) => handles.push(handle),
                    Err(SpawnError::Stack(err)) => break err.to_string(),
                    Err(other) => panic!("unexpected error: {other}"),
                }
                assert!(handles.len() < 50_000, "the limit never hit");
            }
        });
        println!("LIMIT-OK {message}");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "running_out_of_stack_mappings_is_a_spawn_error_that_names_the_knob",
            "--nocapture",
        ])
        .env("FIBRIO_TEST_CHILD", "map-limit")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?} signal {:?}\n{stdout}\n{stderr}",
        out.status.code(),
        out.status.signal()
    );
    assert!(stdout.contains("LIMIT-OK"), "{stdout}");
    assert!(stdout.contains("vm.max_map_count"), "{stdout}");
}

/// Lowers this process's address-space limit.
fn libc_rlimit(bytes: u64) -> bool {
    let rlimit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: `rlimit` is a valid, initialised struct that outlives the call.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) == 0 }
}
