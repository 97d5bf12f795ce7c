//! Issue 12, fault 2: a suspended fiber dropped while the thread's
//! thread-locals are being destroyed must not run its frames, because they
//! may hold a borrow (`LocalKey::with`) of a thread-local that is already
//! gone. Such a fiber is leaked instead of unwound.
//!
//! The scenario: a fiber suspends inside `K.with(..)` and is then stored in
//! another thread-local `F` that was first touched *before* `K`. At thread
//! exit the destructors run last-registered-first, so `K` is destroyed,
//! and then `F`'s destructor drops the fiber. Unwinding the fiber there
//! would run a `Drop` that reads `K`'s dropped value.
//!
//! Each scenario runs in a child process (this binary re-run with
//! `FIBRIO_TEST_CHILD=<role>`), which reports what happened on stderr in a
//! `REPORT` line; without the fix the fiber's frame runs after `K` is gone.
//! The role `uaf-touch` is the same scenario as `thread-exit`, but the
//! fiber's `Drop` really reads `K`'s freed buffer when it runs after `K`'s
//! destruction, so that `valgrind` reports the invalid read without the
//! fix (`valgrind <this test binary> --exact
//! thread_exit_with_a_real_read_is_clean --nocapture` with
//! `FIBRIO_TEST_CHILD=uaf-touch`).

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use fibrio_core::fiber::{suspend, Fiber};

use common::{role, run_child};

/// `K`'s value has been dropped (its buffer freed).
static K_DROPPED: AtomicBool = AtomicBool::new(false);
/// `F`'s destructor dropped the fiber after `K` was destroyed: the
/// scenario really happened in that order.
static DROPPED_AFTER_K: AtomicBool = AtomicBool::new(false);
/// A frame of the fiber ran its `Drop` (the fiber was unwound).
static FRAME_RAN: AtomicBool = AtomicBool::new(false);
/// A frame of the fiber ran while `K`'s value was already dropped: with a
/// real read this is a use after free.
static FRAME_RAN_AFTER_K: AtomicBool = AtomicBool::new(false);
/// The fiber's `Drop` should really read `K` even after its destruction
/// (the `uaf-touch` role, for valgrind).
static TOUCH: AtomicBool = AtomicBool::new(false);

/// `K`'s value: a heap buffer, freed when the thread-local is destroyed.
struct Borrowed {
    data: RefCell<Vec<u64>>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        K_DROPPED.store(true, SeqCst);
    }
}

/// Lives on the fiber's stack, inside `K.with`, and uses the borrow of `K`
/// when dropped (as a `RefMut` guard or a cache handle would).
struct UsesBorrow<'a>(&'a Borrowed);

impl Drop for UsesBorrow<'_> {
    fn drop(&mut self) {
        FRAME_RAN.store(true, SeqCst);
        if K_DROPPED.load(SeqCst) {
            FRAME_RAN_AFTER_K.store(true, SeqCst);
            if !TOUCH.load(SeqCst) {
                // Do not read freed memory in the ordinary test run.
                return;
            }
        }
        // After `K`'s destruction this reads its freed buffer.
        std::hint::black_box(self.0.data.borrow()[0]);
    }
}

/// `F`'s value: owns the fiber and drops it from its own destructor.
struct Owner(RefCell<Option<Fiber<(), (), ()>>>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(fiber) = self.0.borrow_mut().take() {
            DROPPED_AFTER_K.store(K_DROPPED.load(SeqCst), SeqCst);
            if NESTED.load(SeqCst) {
                // Drop it from inside a fiber started here, so that the
                // thread-local destructor is not the immediate caller.
                let carrier: Fiber<(), (), ()> = Fiber::new(move |()| drop(fiber));
                carrier.start(()).unwrap();
                assert!(carrier.is_terminated());
            } else {
                drop(fiber);
            }
        }
        report();
    }
}

/// Drop the fiber from inside a fresh fiber (`nested` role).
static NESTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static F: Owner = const { Owner(RefCell::new(None)) };
    static K: Borrowed = Borrowed { data: RefCell::new(vec![7; 64]) };
}

/// Writes the flags as one `REPORT` line on stderr (the test harness does
/// not capture it: the child runs with `--nocapture`, and this may run
/// during thread-local destruction, when `eprintln!` capture is gone).
fn report() {
    let line = format!(
        "REPORT k_dropped={} dropped_after_k={} frame_ran={} frame_ran_after_k={}\n",
        K_DROPPED.load(SeqCst),
        DROPPED_AFTER_K.load(SeqCst),
        FRAME_RAN.load(SeqCst),
        FRAME_RAN_AFTER_K.load(SeqCst),
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Touches `F`, then suspends a fiber inside `K.with` (so `K` is first
/// touched after `F`) and hands the fiber to `F`.
///
/// The fiber is created before `F` is touched, so that fibrio's own
/// thread-locals (the stack pool) outlive `F` and the `nested` role can
/// still create a fiber from `F`'s destructor.
fn park_a_fiber_inside_k_and_give_it_to_f() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| {
        K.with(|k| {
            let _use = UsesBorrow(k);
            suspend::<(), ()>(()).unwrap();
            unreachable!("the fiber is never resumed");
        })
    });
    F.with(|_| ());
    assert_eq!(fiber.start(()).unwrap(), Some(()));
    F.with(|f| *f.0.borrow_mut() = Some(fiber));
}

/// Runs the scenario on a thread that then exits.
fn scenario_on_an_exiting_thread() {
    std::thread::spawn(park_a_fiber_inside_k_and_give_it_to_f)
        .join()
        .unwrap();
}

/// What the child reported, as `(k_dropped, dropped_after_k, frame_ran,
/// frame_ran_after_k)`.
fn parse(output: &Output) -> (bool, bool, bool, bool) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("REPORT "))
        .unwrap_or_else(|| {
            panic!(
                "no REPORT line; status {:?}, stderr:\n{stderr}",
                output.status
            )
        });
    let flag = |name: &str| -> bool {
        let key = format!("{name}=");
        let value = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        value == "true"
    };
    (
        flag("k_dropped"),
        flag("dropped_after_k"),
        flag("frame_ran"),
        flag("frame_ran_after_k"),
    )
}

fn assert_leaked_not_unwound(output: &Output) {
    assert!(
        output.status.success(),
        "child failed: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (k_dropped, dropped_after_k, frame_ran, frame_ran_after_k) = parse(output);
    assert!(
        k_dropped && dropped_after_k,
        "the scenario did not happen: K must be destroyed before F drops the fiber"
    );
    assert!(
        !frame_ran_after_k,
        "the fiber's frame ran after the thread-local it borrows was destroyed (use after free)"
    );
    assert!(
        !frame_ran,
        "a suspended fiber dropped during thread-local destruction is leaked, not unwound"
    );
}

#[test]
fn a_fiber_dropped_by_a_thread_local_destructor_at_thread_exit_is_leaked() {
    match role().as_deref() {
        Some("thread-exit") => scenario_on_an_exiting_thread(),
        Some(_) => {}
        None => {
            let output = run_child(
                "a_fiber_dropped_by_a_thread_local_destructor_at_thread_exit_is_leaked",
                "thread-exit",
            );
            assert_leaked_not_unwound(&output);
        }
    }
}

#[test]
fn a_fiber_dropped_inside_another_fiber_during_thread_exit_is_leaked() {
    match role().as_deref() {
        Some("nested") => {
            NESTED.store(true, SeqCst);
            scenario_on_an_exiting_thread();
        }
        Some(_) => {}
        None => {
            let output = run_child(
                "a_fiber_dropped_inside_another_fiber_during_thread_exit_is_leaked",
                "nested",
            );
            assert_leaked_not_unwound(&output);
        }
    }
}

#[test]
fn a_fiber_dropped_by_process_exit_called_inside_a_fiber_is_leaked() {
    match role().as_deref() {
        Some("process-exit") => {
            std::thread::spawn(|| {
                park_a_fiber_inside_k_and_give_it_to_f();
                // `exit` runs this thread's thread-local destructors right
                // here, on the stack of the fiber that calls it.
                let exits: Fiber<(), (), ()> = Fiber::new(|()| std::process::exit(0));
                let _ = exits.start(());
                unreachable!("exit returned");
            })
            .join()
            .unwrap();
        }
        Some(_) => {}
        None => {
            let output = run_child(
                "a_fiber_dropped_by_process_exit_called_inside_a_fiber_is_leaked",
                "process-exit",
            );
            assert_leaked_not_unwound(&output);
        }
    }
}

/// The same scenario with a real read of the freed buffer in the fiber's
/// `Drop` if it ever runs after `K`'s destruction; meant to be run under
/// valgrind (see the module docs). In an ordinary run it checks the same
/// as the thread-exit test.
#[test]
fn thread_exit_with_a_real_read_is_clean() {
    match role().as_deref() {
        Some("uaf-touch") => {
            TOUCH.store(true, SeqCst);
            scenario_on_an_exiting_thread();
        }
        Some(_) => {}
        None => {
            let output = run_child("thread_exit_with_a_real_read_is_clean", "uaf-touch");
            assert_leaked_not_unwound(&output);
        }
    }
}

#[test]
fn a_suspended_fiber_dropped_on_a_live_thread_still_unwinds() {
    // The rule leaks only during thread-local destruction: an ordinary drop
    // on a thread's own stack, or inside another fiber, still unwinds.
    let ran = std::rc::Rc::new(std::cell::Cell::new(0));
    for nested in [false, true] {
        let r = ran.clone();
        let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
            struct Count(std::rc::Rc<std::cell::Cell<u32>>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            let _count = Count(r);
            suspend::<(), ()>(()).unwrap();
        });
        fiber.start(()).unwrap();
        if nested {
            let carrier: Fiber<(), (), ()> = Fiber::new(move |()| drop(fiber));
            carrier.start(()).unwrap();
        } else {
            drop(fiber);
        }
    }
    assert_eq!(ran.get(), 2);
}
