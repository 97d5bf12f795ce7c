//! Stack overflow and stack-mapping failure, each checked in a child process
//! (this test binary re-run with `FIBRIO_TEST_CHILD` set), because one
//! aborts the process and the other lowers a process-wide limit.

mod common;

use std::os::unix::process::ExitStatusExt;

use fibrio_core::fiber::{Builder, Fiber};
use fibrio_core::stack::StackError;

use common::{role, run_child};

/// Recurses until the stack runs out (the bound is never reached).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 512];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[0])
}

#[test]
fn overflow_in_a_fiber_names_the_fiber_and_aborts() {
    if role().as_deref() == Some("overflow") {
        let fiber: Fiber<(), (), u64> = Builder::new()
            .name("deep-recursion")
            .stack_size(64 * 1024)
            .build(|()| recurse(0))
            .unwrap();
        let _ = fiber.start(());
        unreachable!("the overflow must abort");
    }
    let out = run_child("overflow_in_a_fiber_names_the_fiber_and_aborts", "overflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("fiber 'deep-recursion' overflowed its 64 KiB stack"),
        "stderr: {stderr}"
    );
}

#[test]
fn overflow_in_an_unnamed_fiber_names_its_id() {
    if role().as_deref() == Some("overflow-unnamed") {
        let fiber: Fiber<(), (), u64> = Builder::new()
            .stack_size(32 * 1024)
            .build(|()| recurse(0))
            .unwrap();
        let _ = fiber.start(());
        unreachable!("the overflow must abort");
    }
    let out = run_child(
        "overflow_in_an_unnamed_fiber_names_its_id",
        "overflow-unnamed",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(stderr.contains("fiber '<unnamed #"), "stderr: {stderr}");
    assert!(
        stderr.contains("overflowed its 32 KiB stack"),
        "stderr: {stderr}"
    );
}

#[test]
fn overflow_in_a_task_names_the_task_and_aborts() {
    if role().as_deref() == Some("task-overflow") {
        fibrio_core::task::test_support::block_on(|| {
            let handle = fibrio_core::task::Builder::new()
                .name("runaway-task")
                .stack_size(48 * 1024)
                .spawn(|| recurse(0))
                .unwrap();
            let _ = handle.join();
        });
        unreachable!("the overflow must abort");
    }
    let out = run_child(
        "overflow_in_a_task_names_the_task_and_aborts",
        "task-overflow",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("task 'runaway-task' overflowed its 48 KiB stack"),
        "stderr: {stderr}"
    );
}

#[test]
fn other_segfaults_keep_their_previous_behaviour() {
    if role().as_deref() == Some("segfault") {
        // Install the handler by making a fiber, then fault outside any
        // fiber's guard page, from inside a fiber.
        let fiber: Fiber<(), (), u8> = Fiber::new(|()| {
            // SAFETY: deliberately invalid; this child process exists to die.
            unsafe { std::ptr::read_volatile(std::hint::black_box(16usize) as *const u8) }
        });
        let _ = fiber.start(());
        unreachable!("the fault must kill the process");
    }
    let out = run_child("other_segfaults_keep_their_previous_behaviour", "segfault");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "stderr: {stderr}");
    assert!(!stderr.contains("overflowed its"), "stderr: {stderr}");
}

#[test]
fn thread_overflow_is_still_reported_by_rust() {
    if role().as_deref() == Some("thread-overflow") {
        let _ = Fiber::<(), (), ()>::new(|()| ()); // installs our handler
        std::thread::Builder::new()
            .name("plain-thread".into())
            .stack_size(128 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        unreachable!("the overflow must abort");
    }
    let out = run_child(
        "thread_overflow_is_still_reported_by_rust",
        "thread-overflow",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("stack overflow") && !stderr.contains("fiber '"),
        "stderr: {stderr}"
    );
}

/// The process's current virtual size in bytes, from /proc.
fn virtual_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn refused_stack_mapping_is_an_error_that_names_the_knobs() {
    if role().as_deref() == Some("map-failure") {
        let Some(vsize) = virtual_size() else {
            println!("SKIP: no /proc/self/status");
            return;
        };
        let limit = vsize + 48 * 1024 * 1024;
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: `rlimit` is a valid, initialised struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
        let mut fibers: Vec<Fiber<(), (), ()>> = Vec::with_capacity(10_000);
        let err = loop {
            match Builder::new().stack_size(256 * 1024).build(|()| ()) {
                Ok(fiber) => fibers.push(fiber),
                Err(err) => break err,
            }
            assert!(fibers.len() < 10_000, "the address-space limit never hit");
        };
        assert!(matches!(err, StackError::Map { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("vm.max_map_count"), "{message}");
        assert!(message.contains("ulimit -v"), "{message}");
        // Freeing stacks makes creation work again.
        fibers.truncate(fibers.len() / 2);
        fibers.push(Fiber::new(|()| ()));
        println!("MAP-FAILURE-OK after {} fibers: {message}", fibers.len());
        return;
    }
    let out = run_child(
        "refused_stack_mapping_is_an_error_that_names_the_knobs",
        "map-failure",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("MAP-FAILURE-OK") || stdout.contains("SKIP"),
        "stdout: {stdout}"
    );
}
