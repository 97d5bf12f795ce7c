//! The mapping budget against the real `vm.max_map_count`: stacks stop
//! [`map_reserve`] mappings short of the limit, the error says which limit
//! would fit twice as many, and the process carries on working (sleeping,
//! joining, threads, large allocations, backtraces) instead of aborting or
//! hanging.
//!
//! Each check runs in a child process (this test binary re-run with
//! `FIBRIO_TEST_CHILD` set), which first uses up most of its own mappings
//! with one-page `mprotect` splits of a `PROT_NONE` region, so that only
//! [`ROOM`] stacks fit: nothing system-wide is changed, and the tests
//! running in parallel are not disturbed. The children run one at a time
//! (each holds up to `vm.max_map_count` kernel mappings) and are killed if
//! they hang.

mod common;
#[path = "common/timed_child.rs"]
mod timed_child;

use std::cell::RefCell;
use std::io::Read;
use std::process::Command;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::stack::{map_reserve, StackError, MAPPINGS_PER_STACK};
use fibrio_core::task::{self, Builder, JoinHandle, SpawnError};

use common::{role, CHILD};
use timed_child::{output_within, TimedOutput};

/// The stacks left room for, once the child has used up the rest.
const ROOM: usize = 8_192;
/// The child's stack size: 16 KiB, as a server with many tasks uses.
const STACK: usize = 16 * 1024;
/// The most mappings a child makes by hand before it skips the test: enough
/// for a `vm.max_map_count` of 1,048,576 (some distributions' default).
const MAX_PRE_CONSUMED: usize = 1_100_000;
/// A child that runs longer than this is taken to hang.
const HANG: Duration = Duration::from_secs(120);

/// One child at a time: each holds up to `vm.max_map_count` mappings.
static CHILDREN: Mutex<()> = Mutex::new(());

fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The mappings this process uses: the lines of `/proc/self/maps`.
fn mappings() -> usize {
    let mut file = std::fs::File::open("/proc/self/maps").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return lines;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
}

/// Makes about `count` new mappings: one `PROT_NONE` region of `count`
/// pages, every other page of it made readable, so that no two
/// neighbouring pages can merge. They stay until the process exits.
fn consume_mappings(count: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    // SAFETY: an anonymous mapping with no address hint has no
    // preconditions; the result is checked.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            count * page,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "cannot reserve {count} pages");
    for i in (1..count).step_by(2) {
        // SAFETY: page `i` lies inside the region mapped above, which
        // nothing else uses and which is never unmapped.
        let r = unsafe {
            libc::mprotect(
                base.cast::<u8>().add(i * page).cast(),
                page,
                libc::PROT_READ,
            )
        };
        assert_eq!(r, 0, "mprotect failed after {i} pages");
    }
}

/// The budget of this child: `(limit, reserve)`, after using up all but
/// [`ROOM`] stacks' worth of mappings; `None` (with a SKIP line printed)
/// where that cannot be done.
fn leave_room_for_few_stacks() -> Option<(usize, usize)> {
    let Some(limit) = max_map_count() else {
        println!("SKIP: no /proc/sys/vm/max_map_count");
        return None;
    };
    let reserve = map_reserve(limit);
    let target = (limit - reserve).saturating_sub(ROOM * MAPPINGS_PER_STACK);
    let consume = target.saturating_sub(mappings());
    if consume > MAX_PRE_CONSUMED {
        println!("SKIP: vm.max_map_count is {limit}; filling it would take {consume} mappings");
        return None;
    }
    let start = Instant::now();
    consume_mappings(consume);
    println!(
        "pre-consumed {consume} mappings in {:?}: {} of {limit} in use, reserve {reserve}",
        start.elapsed(),
        mappings()
    );
    Some((limit, reserve))
}

/// A runtime with 16 KiB stacks, on the real clock.
fn run<T>(f: impl FnOnce() -> T) -> T {
    let config = SchedulerConfig {
        stack_size: STACK,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
        .block_on(f)
        .expect("the scheduler failed")
}

/// A task that stays parked (on a timer) while the others are spawned.
fn sleeper(i: usize) -> usize {
    task::sleep(Duration::from_millis(200));
    i
}

/// Checks, after the refusal, that the process still works, and prints the
/// figures. Runs as the main task.
fn carry_on(handles: Vec<JoinHandle<usize>>, limit: usize, reserve: usize) {
    let spawned = handles.len();
    let at_refusal = mappings();
    assert!(
        at_refusal <= limit - reserve + 16,
        "the stacks ate into the reserve: {at_refusal} of {limit} mappings in use, reserve {reserve}"
    );
    assert!(
        at_refusal + reserve + 64 * MAPPINGS_PER_STACK >= limit,
        "the stacks stopped far short of the reserve: {at_refusal} of {limit} mappings in use"
    );
    // Sleeping: every spawned task now parks on a timer (the timer queue
    // grows to thousands of entries after the refusal), and so does this
    // one.
    let start = Instant::now();
    task::sleep(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
    // Large allocations, each above malloc's mmap threshold.
    let mut big: Vec<Vec<u8>> = Vec::new();
    for i in 0..64 {
        big.push(vec![i as u8; 256 * 1024]);
    }
    big.push(vec![1; 8 << 20]);
    assert_eq!(big[63][256 * 1024 - 1], 63);
    // A thread, and a symbolised backtrace (the debug information is
    // mapped and parsed).
    let trace = std::thread::spawn(|| std::backtrace::Backtrace::force_capture().to_string())
        .join()
        .unwrap();
    assert!(trace.contains("stack_map_budget"), "{trace}");
    let after_checks = mappings();
    drop(big);
    // Joining: every task completes.
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, spawned * (spawned - 1) / 2);
    // At the limit, a stack of another size makes room by unmapping pooled
    // ones.
    let other_size: Vec<_> = (0..100)
        .map(|i| {
            Builder::new()
                .stack_size(2 * STACK)
                .spawn(move || sleeper(i))
                .expect("no pooled stack made room")
        })
        .collect();
    assert_eq!(
        other_size
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>(),
        4950
    );
    // The stacks went back to the pool: as many tasks spawn again.
    let again: Vec<_> = (0..spawned)
        .map(|i| {
            Builder::new()
                .stack_size(STACK)
                .spawn(move || sleeper(i))
                .unwrap()
        })
        .collect();
    assert_eq!(
        again.into_iter().map(|h| h.join().unwrap()).sum::<usize>(),
        sum
    );
    println!(
        "CARRIED-ON spawned={spawned} limit={limit} reserve={reserve} \
         mappings_at_refusal={at_refusal} mappings_after_checks={after_checks}"
    );
}

/// Runs this test binary's `test` as a child playing `role`, with
/// `RUST_BACKTRACE` set to `backtrace`, and checks that it carried on.
fn check_child(test: &str, role: &str, backtrace: &str) -> TimedOutput {
    let _one_at_a_time = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env("RUST_BACKTRACE", backtrace)
        // `mprotect` guards, whose two mappings per stack are exactly what
        // the budget charges, so that the checks of how close to the
        // reserve the stacks stop hold. With guard markers (Linux 6.13+)
        // adjacent stacks share mappings and the budget, still charging
        // two, stops further from the limit (`stack_guard_markers.rs`).
        .env("FIBRIO_STACK_GUARD", "mprotect");
    let out = output_within(command, HANG);
    assert!(out.status.is_some(), "the child hung: {}", out.describe());
    assert!(
        out.status.unwrap().success(),
        "the child failed: {}",
        out.describe()
    );
    if !out.stdout.contains("SKIP") {
        assert!(out.stdout.contains("CARRIED-ON"), "{}", out.describe());
    }
    let figures = out.stdout.lines().filter(|l| {
        l.contains("pre-consumed")
            || l.contains("refusals took")
            || l.contains("CARRIED-ON")
            || l.contains("SKIP")
    });
    for line in figures {
        eprintln!("{role}: {line}");
    }
    eprintln!("{role}: the child took {:?}", out.elapsed);
    out
}

#[test]
fn builder_spawn_returns_the_error_and_the_process_carries_on() {
    if role().as_deref() == Some("builder") {
        let Some((limit, reserve)) = leave_room_for_few_stacks() else {
            return;
        };
        run(move || {
            let mut handles = Vec::with_capacity(ROOM * 2);
            let err = loop {
                match Builder::new().stack_size(STACK).spawn({
                    let i = handles.len();
                    move || sleeper(i)
                }) {
                    Ok(handle) => handles.push(handle),
                    Err(err) => break err,
                }
                assert!(handles.len() < ROOM * 2, "the budget never refused");
            };
            let SpawnError::Stack(StackError::MapLimit {
                stacks_mapped,
                in_use,
                limit: seen_limit,
                reserve: seen_reserve,
                needed,
                needed_for,
                ..
            }) = err
            else {
                panic!("expected a MapLimit error, got {err:?}");
            };
            assert_eq!((seen_limit, seen_reserve), (limit, reserve));
            // The main task's stack is mapped too.
            assert!(stacks_mapped > handles.len(), "{stacks_mapped}");
            assert_eq!(needed_for, (stacks_mapped * 2).max(1024));
            // `needed` fits twice the stacks beside the other mappings.
            let others = in_use - stacks_mapped * MAPPINGS_PER_STACK;
            assert!(needed - map_reserve(needed) >= others + needed_for * MAPPINGS_PER_STACK);
            assert!(needed > limit);
            let message = err.to_string();
            assert!(
                message.contains(&format!("sysctl -w vm.max_map_count={needed}`")),
                "{message}"
            );
            assert!(
                message.contains(&format!("keeps the last {reserve} free")),
                "{message}"
            );
            println!("ERROR: {message}");
            // Refusals are cheap: no /proc read per attempt.
            let start = Instant::now();
            for _ in 0..1_000 {
                assert!(Builder::new().stack_size(STACK).spawn(|| ()).is_err());
            }
            let refusals = start.elapsed();
            println!("1000 refusals took {refusals:?}");
            assert!(refusals < Duration::from_secs(2), "{refusals:?}");
            carry_on(handles, limit, reserve);
        });
        return;
    }
    let out = check_child(
        "builder_spawn_returns_the_error_and_the_process_carries_on",
        "builder",
        "0",
    );
    if let Some(line) = out.stdout.lines().find(|l| l.starts_with("ERROR: ")) {
        eprintln!("builder: {line}");
    }
}

/// The child of the two `task::spawn` tests: a task spawns with plain
/// `task::spawn` until it panics with the error; the main task checks the
/// panic and carries on.
fn spawn_until_it_panics() {
    let Some((limit, reserve)) = leave_room_for_few_stacks() else {
        return;
    };
    run(move || {
        let handles: Rc<RefCell<Vec<JoinHandle<usize>>>> = Rc::default();
        let spawner = Builder::new()
            .name("spawner")
            .stack_size(256 * 1024) // room to print a backtrace
            .spawn({
                let handles = handles.clone();
                move || loop {
                    let i = handles.borrow().len();
                    let handle = task::spawn(move || sleeper(i));
                    handles.borrow_mut().push(handle);
                    assert!(
                        handles.borrow().len() < ROOM * 2,
                        "the budget never refused"
                    );
                }
            })
            .unwrap();
        let err = spawner.join().unwrap_err();
        assert!(err.is_panic(), "{err}");
        let message = err.to_string();
        assert!(message.contains("fibrio::spawn failed"), "{message}");
        assert!(message.contains("sysctl -w vm.max_map_count="), "{message}");
        let handles = std::mem::take(&mut *handles.borrow_mut());
        carry_on(handles, limit, reserve);
    });
}

fn check_spawn_panic(out: &TimedOutput, backtrace: bool) {
    if out.stdout.contains("SKIP") {
        return;
    }
    assert!(
        out.stderr
            .contains("fibrio::spawn failed: cannot map another"),
        "the panic was not printed: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("sysctl -w vm.max_map_count="),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.stderr.contains("stack backtrace:"),
        backtrace,
        "{}",
        out.describe()
    );
    if backtrace {
        assert!(
            out.stderr.contains("spawn_until_it_panics"),
            "the backtrace is not symbolised: {}",
            out.describe()
        );
    }
}

#[test]
fn spawn_panics_with_the_error_and_the_process_carries_on() {
    if role().as_deref() == Some("spawn") {
        spawn_until_it_panics();
        return;
    }
    let out = check_child(
        "spawn_panics_with_the_error_and_the_process_carries_on",
        "spawn",
        "0",
    );
    check_spawn_panic(&out, false);
}

#[test]
fn spawn_panic_prints_its_backtrace_and_the_process_carries_on() {
    if role().as_deref() == Some("spawn-backtrace") {
        spawn_until_it_panics();
        return;
    }
    let out = check_child(
        "spawn_panic_prints_its_backtrace_and_the_process_carries_on",
        "spawn-backtrace",
        "1",
    );
    check_spawn_panic(&out, true);
}
