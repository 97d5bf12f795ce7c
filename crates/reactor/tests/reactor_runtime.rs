//! The reactor under a real scheduler, on every backend: sleeps, timers,
//! fd readiness, cross-thread wake-ups and the blocking pool. Each check is
//! instantiated once per backend by `runtime_tests!`.

mod common;

use common::block_on;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::Handle;
use fibrio_core::task::{self, JoinError};
use fibrio_reactor::io::Registration;
use fibrio_reactor::{
    pending_timers, registered_fds, sleep, sleep_until, spawn_blocking, BackendKind,
};

fn sleep_never_fires_early(kind: BackendKind) {
    block_on(kind, || {
        let handles: Vec<_> = [0u64, 1, 2, 3, 5, 8, 13, 21]
            .into_iter()
            .map(|ms| {
                task::spawn(move || {
                    let d = Duration::from_millis(ms);
                    let start = Instant::now();
                    sleep(d);
                    assert!(start.elapsed() >= d, "{ms} ms sleep woke early");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

fn sleeps_overlap(kind: BackendKind) {
    let (elapsed, log) = block_on(kind, || {
        let start = Instant::now();
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                task::spawn(move || {
                    log.borrow_mut().push(("sleeps", i));
                    sleep(Duration::from_millis(100));
                    log.borrow_mut().push(("wakes", i));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (start.elapsed(), log.take())
    });
    assert!(elapsed >= Duration::from_millis(100));
    // All three were asleep before the first woke: sleeping one after
    // another, the log would alternate. An order, not a wall-clock bound.
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(
        log[..3],
        [("sleeps", 0), ("sleeps", 1), ("sleeps", 2)],
        "sleeps did not overlap: {log:?}"
    );
}

fn timers_fire_in_deadline_order(kind: BackendKind) {
    let order = block_on(kind, || {
        let order = Rc::new(RefCell::new(Vec::new()));
        let base = Instant::now() + Duration::from_millis(5);
        let handles: Vec<_> = [40u64, 10, 30, 0, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                task::spawn(move || {
                    sleep_until(base + Duration::from_millis(ms));
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        order.take()
    });
    assert_eq!(order, [0, 10, 20, 30, 40]);
}

fn cancelled_sleeper_leaves_no_timer(kind: BackendKind) {
    block_on(kind, || {
        let sleeper = task::spawn(|| sleep(Duration::from_secs(3600)));
        task::yield_now();
        assert_eq!(pending_timers(), Some(1));
        let start = Instant::now();
        sleeper.cancel();
        assert!(sleeper.join().unwrap_err().is_cancelled());
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(pending_timers(), Some(0));
        // A finished sleep leaves nothing either.
        sleep(Duration::from_millis(1));
        assert_eq!(pending_timers(), Some(0));
    });
}

fn sleep_zero_yields(kind: BackendKind) {
    block_on(kind, || {
        let other = task::spawn(|| ());
        sleep(Duration::ZERO);
        assert!(other.is_finished());
    });
}

fn registration_wakes_a_reader(kind: BackendKind) {
    block_on(kind, || {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Registration::new(&a).unwrap();
        assert_eq!(registered_fds(), Some(1));
        let writer = task::spawn(move || {
            sleep(Duration::from_millis(10));
            b.write_all(b"hello").unwrap();
            b
        });
        let mut buf = [0u8; 16];
        let n = loop {
            match a.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    registration.wait_readable().unwrap()
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hello");
        drop(writer.join().unwrap());
        drop(registration);
        assert_eq!(registered_fds(), Some(0));
    });
}

fn registration_reports_writable(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Registration::new(&a).unwrap();
        registration.wait_writable().unwrap();
    });
}

fn closing_a_registration_wakes_its_waiters_with_an_error(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Rc::new(Registration::new(&a).unwrap());
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let r = registration.clone();
                task::spawn(move || (i, r.wait_readable()).1)
            })
            .collect();
        task::yield_now();
        registration.close();
        for waiter in waiters {
            let err = waiter.join().unwrap().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
        }
        assert_eq!(registered_fds(), Some(0));
        // A new registration that reuses the slot is not affected by the
        // old one being dropped later.
        let (c, _d) = UnixStream::pair().unwrap();
        c.set_nonblocking(true).unwrap();
        let fresh = Registration::new(&c).unwrap();
        drop(registration);
        assert_eq!(registered_fds(), Some(1));
        fresh.wait_writable().unwrap();
    });
}

fn cancelling_a_task_waiting_for_io_unwinds_it(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let waiter = task::spawn(move || {
            let registration = Registration::new(&a).unwrap();
            registration.wait_readable()
        });
        task::yield_now();
        assert_eq!(registered_fds(), Some(1));
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        assert_eq!(
            registered_fds(),
            Some(0),
            "the registration was dropped by the unwind"
        );
    });
}

fn handle_wakes_a_runtime_blocked_in_the_poller(kind: BackendKind) {
    let value = block_on(kind, || {
        let handle = Handle::current();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(handle.spawn(|| "spawned from a thread")).unwrap();
        });
        // Block the runtime in the poller with a long sleep in another task;
        // main waits on a remote handle that only another thread creates.
        let sleeper = task::spawn(|| sleep(Duration::from_secs(3600)));
        let remote = loop {
            match rx.try_recv() {
                Ok(remote) => break remote,
                Err(_) => sleep(Duration::from_millis(5)),
            }
        };
        let value = remote.join().unwrap();
        sleeper.cancel();
        value
    });
    assert_eq!(value, "spawned from a thread");
}

fn spawn_blocking_keeps_other_tasks_running(kind: BackendKind) {
    block_on(kind, || {
        let ticks = Rc::new(RefCell::new(0));
        let t = ticks.clone();
        // The blocking job waits until the ticker has ticked five times,
        // which it can only do if the runtime goes on running tasks while
        // the job blocks: an order, not a race between the two durations.
        let (ticked, five_ticks) = std::sync::mpsc::channel();
        let ticker = task::spawn(move || {
            for _ in 0..5 {
                sleep(Duration::from_millis(5));
                *t.borrow_mut() += 1;
            }
            ticked.send(()).unwrap();
        });
        let value = spawn_blocking(move || {
            // Generous: only a runtime blocked by the job waits this out.
            let waited = five_ticks.recv_timeout(Duration::from_secs(20));
            (waited.is_ok(), 7)
        })
        .unwrap();
        assert_eq!(
            value,
            (true, 7),
            "the ticker did not run while the blocking job did"
        );
        assert_eq!(*ticks.borrow(), 5);
        ticker.join().unwrap();
    });
}

fn spawn_blocking_reports_a_panic(kind: BackendKind) {
    block_on(kind, || {
        let err =
            spawn_blocking(|| -> u8 { std::panic::resume_unwind(Box::new("blocking job failed")) })
                .unwrap_err();
        assert!(matches!(err, JoinError::Panicked(_)));
    });
}

per_backend!(
    sleep_never_fires_early,
    sleeps_overlap,
    timers_fire_in_deadline_order,
    cancelled_sleeper_leaves_no_timer,
    sleep_zero_yields,
    registration_wakes_a_reader,
    registration_reports_writable,
    closing_a_registration_wakes_its_waiters_with_an_error,
    cancelling_a_task_waiting_for_io_unwinds_it,
    handle_wakes_a_runtime_blocked_in_the_poller,
    spawn_blocking_keeps_other_tasks_running,
    spawn_blocking_reports_a_panic,
);
