//! `Builder::timer_spin`: while the runtime spins towards a deadline
//! instead of blocking, timers still never fire early, and it still serves
//! its cross-thread inbox and its sockets.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use fibrio::{Handle, Runtime};

/// A spin window longer than any wait in these tests: the runtime never
/// blocks in the poller while a timer is set.
const WHOLE_TEST: Duration = Duration::from_secs(30);

/// A sleep inside the spin window that no echo on loopback should come near.
const SLEEPER: Duration = Duration::from_secs(10);

#[test]
fn spun_sleeps_are_never_early_and_keep_deadline_order() {
    let woken = Runtime::builder()
        .timer_spin(Duration::from_micros(300))
        .build()
        .unwrap()
        .run(|| {
            let handles: Vec<_> = [7u64, 1, 4, 2]
                .into_iter()
                .map(|ms| {
                    fibrio::spawn(move || {
                        let deadline = Instant::now() + Duration::from_millis(ms);
                        fibrio::sleep_until(deadline);
                        let woke = Instant::now();
                        assert!(woke >= deadline, "woke early");
                        (woke, deadline)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
    // In the order they woke, their deadlines never go back (whatever the
    // machine's load did to when each one went to sleep).
    let mut by_wake = woken;
    by_wake.sort();
    for pair in by_wake.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "woke out of deadline order: {by_wake:?}"
        );
    }
}

#[test]
fn a_spinning_runtime_still_runs_tasks_spawned_from_other_threads() {
    Runtime::builder()
        .timer_spin(WHOLE_TEST)
        .build()
        .unwrap()
        .run(|| {
            let handle = Handle::current();
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let sender = std::thread::spawn(move || {
                handle
                    .spawn(move || flag.store(true, Ordering::SeqCst))
                    .join()
                    .unwrap();
            });
            // The runtime spins for this whole sleep; the remote task must
            // still run during it, not after.
            let start = Instant::now();
            while !ran.load(Ordering::SeqCst) {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "inbox not served"
                );
                fibrio::sleep(Duration::from_millis(5));
            }
            sender.join().unwrap();
        });
}

#[test]
fn a_spinning_runtime_still_serves_its_sockets() {
    Runtime::builder()
        .timer_spin(WHOLE_TEST)
        .build()
        .unwrap()
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // A sleeper keeps a timer set, so every turn is inside the spin
            // window while the echo below waits on its sockets. Its sleep
            // is far longer than an echo takes but still inside the spin
            // window; the echo must come back while it still sleeps (an
            // order, not a wall-clock bound), and then it is cancelled.
            let sleeper = fibrio::spawn(|| fibrio::sleep(SLEEPER));
            let server = fibrio::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 5];
                stream.read_exact(&mut buf).unwrap();
                stream.write_all(&buf).unwrap();
            });
            let mut client = TcpStream::connect(addr).unwrap();
            client.write_all(b"hello").unwrap();
            let mut reply = [0u8; 5];
            client.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"hello");
            assert!(!sleeper.is_finished(), "the echo waited for the timer");
            server.join().unwrap();
            sleeper.cancel();
            assert!(sleeper.join().unwrap_err().is_cancelled());
        });
}
