//! `fibrio::shutdown` on request (no signals): `requested`, `wait`,
//! listeners that stop accepting, `move_on`, the programmatic triggers,
//! outside a runtime and inside a simulation.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::TcpStream as StdStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::net::TcpListener;
use fibrio::shutdown::{self, ShutdownError};

/// Far above anything these tests wait for: a hang fails instead.
const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn requested_turns_true_once_and_wait_wakes_every_waiter() {
    let woken = fibrio::run(|| {
        assert!(!shutdown::requested());
        let woken = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let woken = woken.clone();
                fibrio::spawn(move || {
                    shutdown::wait().unwrap();
                    assert!(shutdown::requested());
                    woken.set(woken.get() + 1);
                })
            })
            .collect();
        fibrio::yield_now(); // all three park
        assert_eq!(woken.get(), 0);
        assert!(shutdown::request().unwrap());
        assert!(
            !shutdown::request().unwrap(),
            "a second request changes nothing"
        );
        for waiter in waiters {
            waiter.join().unwrap();
        }
        // Once requested, wait returns at once.
        shutdown::wait().unwrap();
        woken.get()
    });
    assert_eq!(woken, 3);
}

#[test]
fn accept_after_shutdown_is_a_stopped_accepting_error() {
    fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        shutdown::request().unwrap();
        // Even with a connection waiting, nothing more is accepted.
        let _client = StdStream::connect(addr).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(shutdown::is_stopped_accepting(&err), "{err}");
        assert!(err.to_string().contains("accepts no more connections"));
        assert!(listener.incoming().next().is_none(), "incoming ends");
    });
}

#[test]
fn a_blocked_accept_ends_when_shutdown_is_requested_from_another_thread() {
    let start = Instant::now();
    let (accepted, err) = fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let state = shutdown::current().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            state.request();
        });
        let mut accepted = 0;
        // Blocks: no client ever connects; the request ends the loop.
        for stream in listener.incoming() {
            stream.unwrap();
            accepted += 1;
        }
        (accepted, listener.accept().unwrap_err())
    });
    assert_eq!(accepted, 0);
    assert!(shutdown::is_stopped_accepting(&err));
    assert!(start.elapsed() < LIMIT);
}

#[test]
fn accept_loops_in_several_tasks_all_end() {
    let ended = fibrio::run(|| {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let loops: Vec<_> = (0..4)
            .map(|_| {
                let listener = listener.clone();
                fibrio::spawn(move || listener.incoming().count())
            })
            .collect();
        fibrio::sleep(Duration::from_millis(10));
        shutdown::request().unwrap();
        loops.into_iter().map(|l| l.join().unwrap()).sum::<usize>()
    });
    assert_eq!(ended, 0);
}

#[test]
fn connections_before_the_request_are_accepted_and_served() {
    fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = StdStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        shutdown::request().unwrap();
        // The accepted connection still works.
        assert_eq!(stream.peer_addr().unwrap().ip(), addr.ip());
    });
}

#[test]
fn move_on_is_cut_short_by_the_request_and_keeps_finished_work() {
    fibrio::run(|| {
        assert_eq!(shutdown::move_on(|| 5), Some(5));
        let state = shutdown::current().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            state.request();
        });
        let idle = shutdown::move_on(|| fibrio::sleep(Duration::from_secs(3600)));
        assert_eq!(idle, None);
        // Already requested: the body stops at its first checkpoint.
        let ran = Cell::new(false);
        let again = shutdown::move_on(|| {
            fibrio::yield_now();
            ran.set(true);
        });
        assert_eq!(again, None);
        assert!(!ran.get());
    });
}

#[test]
fn each_runtime_has_its_own_state() {
    fibrio::run(|| shutdown::request().unwrap());
    fibrio::run(|| assert!(!shutdown::requested(), "a new runtime starts afresh"));
}

#[test]
fn outside_a_runtime_nothing_is_requested_and_nothing_waits() {
    assert!(!shutdown::requested());
    assert!(shutdown::current().is_none());
    assert!(matches!(shutdown::wait(), Err(ShutdownError::NoRuntime)));
    assert!(matches!(shutdown::request(), Err(ShutdownError::NoRuntime)));
    let err: std::io::Error = ShutdownError::NoRuntime.into();
    assert!(err.to_string().contains("outside a fibrio runtime"));
    // A plain listener is unaffected.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    listener.accept().unwrap();
}

#[test]
fn in_a_simulation_only_an_explicit_request_counts_and_each_run_starts_afresh() {
    for seed in 0..3 {
        let seen = fibrio::sim::run(seed, || {
            let before = shutdown::requested();
            let waiter = fibrio::spawn(|| shutdown::wait().unwrap());
            fibrio::sleep(Duration::from_secs(60)); // virtual time
            assert!(!waiter.is_finished());
            shutdown::request().unwrap();
            waiter.join().unwrap();
            (before, shutdown::requested())
        });
        assert_eq!(seen, (false, true), "seed {seed}");
    }
}
