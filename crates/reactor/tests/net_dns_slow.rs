//! `lookup_host` with a resolver the test controls (installed with the
//! hidden `set_resolver_for_tests` hook, in place of `getaddrinfo`): a
//! lookup that takes 200 ms parks only its task while the others keep
//! running, `TcpStream::connect` resolves through the same path, the
//! lookup runs off the runtime's thread inside a task and on the caller's
//! thread outside one, and literal addresses never reach the resolver.
//!
//! The hook is process-wide, so the tests of this file take turns
//! ([`HOOK`]), and no other test file installs it.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

use fibrio_reactor::net::{lookup_host, set_resolver_for_tests, TcpListener, TcpStream};
use fibrio_reactor::BackendKind;

/// Serialises the tests: the resolver hook is process-wide.
static HOOK: Mutex<()> = Mutex::new(());

/// How long the slow resolver takes.
const SLOW: Duration = Duration::from_millis(200);

/// Lookups that reached the test resolver.
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// The thread the last lookup ran on.
static LOOKUP_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

/// Answers every name with 127.0.0.1 after [`SLOW`].
fn slow_resolver(_host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    *LOOKUP_THREAD.lock().unwrap() = Some(std::thread::current().id());
    std::thread::sleep(SLOW);
    Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
}

/// Installs `slow_resolver` until the guard is dropped.
struct Installed {
    _turn: MutexGuard<'static, ()>,
}

impl Installed {
    fn slow() -> Installed {
        let turn = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        LOOKUPS.store(0, Ordering::SeqCst);
        set_resolver_for_tests(Some(slow_resolver));
        Installed { _turn: turn }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        set_resolver_for_tests(None);
    }
}

mod common;

/// Runs `f` as the main task of a runtime on the default backend.
fn block_on<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    common::block_on(BackendKind::Auto, f)
}

/// Runs `lookup` in the calling task while a ticker task sleeps 5 ms at a
/// time; returns the lookup's value and how many ticks happened during it.
fn ticks_during<T>(lookup: impl FnOnce() -> T) -> (T, u32) {
    let ticks = Rc::new(Cell::new(0u32));
    let done = Rc::new(Cell::new(false));
    let ticker = fibrio_core::task::spawn({
        let (ticks, done) = (ticks.clone(), done.clone());
        move || {
            while !done.get() {
                fibrio_reactor::sleep(Duration::from_millis(5));
                ticks.set(ticks.get() + 1);
            }
        }
    });
    fibrio_core::task::yield_now(); // the ticker is asleep now
    let before = ticks.get();
    let value = lookup();
    let during = ticks.get() - before;
    done.set(true);
    ticker.join().unwrap();
    (value, during)
}

#[test]
fn a_slow_lookup_parks_only_its_task() {
    let _installed = Installed::slow();
    let (addrs, ticks) =
        block_on(|| ticks_during(|| lookup_host("db.internal:5432").unwrap().collect::<Vec<_>>()));
    assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 5432))]);
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    // 200 ms of lookup is ~40 ticks of 5 ms; on the runtime's thread it
    // would be 0. A 10x margin.
    assert!(
        ticks >= 4,
        "the ticker ran {ticks} times during a 200 ms lookup"
    );
}

#[test]
fn connect_resolves_through_lookup_host() {
    let _installed = Installed::slow();
    let (peer, ticks) = block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = fibrio_core::task::spawn(move || listener.accept().map(|_| ()));
        let (stream, ticks) = ticks_during(|| TcpStream::connect(("db.internal", port)).unwrap());
        accepting.join().unwrap().unwrap();
        (stream.peer_addr().unwrap(), ticks)
    });
    assert!(peer.ip().is_loopback());
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    assert!(
        ticks >= 4,
        "the ticker ran {ticks} times during a 200 ms lookup in connect"
    );
}

#[test]
fn inside_a_task_the_lookup_runs_off_the_runtime_thread() {
    let _installed = Installed::slow();
    let runtime_thread = std::thread::current().id();
    block_on(|| lookup_host(("name.test", 80)).unwrap().count());
    let inside = LOOKUP_THREAD.lock().unwrap().take();
    assert_ne!(
        inside,
        Some(runtime_thread),
        "looked up on the runtime thread"
    );
    assert!(inside.is_some());
    // Outside a task there is nothing to park: the caller's thread
    // looks the name up itself, as std does.
    assert_eq!(lookup_host("name.test:80").unwrap().count(), 1);
    let outside = LOOKUP_THREAD.lock().unwrap().take();
    assert_eq!(outside, Some(runtime_thread));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 2);
}

#[test]
fn literal_addresses_never_reach_the_resolver() {
    let _installed = Installed::slow();
    let found = block_on(|| {
        let mut found: Vec<SocketAddr> = Vec::new();
        found.extend(lookup_host("127.0.0.1:80").unwrap());
        found.extend(lookup_host("[::1]:443").unwrap());
        found.extend(lookup_host(("::1", 8080)).unwrap());
        found.extend(lookup_host(("[::1]", 8081)).unwrap());
        found.extend(lookup_host(SocketAddr::from(([10, 0, 0, 1], 1))).unwrap());
        found
    });
    let expected: Vec<SocketAddr> = [
        "127.0.0.1:80",
        "[::1]:443",
        "[::1]:8080",
        "[::1]:8081",
        "10.0.0.1:1",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(found, expected);
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 0);
    // A missing port fails at once, without a lookup either.
    let err = block_on(|| lookup_host("name.test").map(|_| ()).unwrap_err());
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 0);
}
