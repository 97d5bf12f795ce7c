//! One behaviour suite for every [`Backend`]: each check below is generic
//! over the backend's constructor, and `backend_tests!` instantiates all of
//! them once per backend (`polling_backend::*` and `poll_backend::*`, both
//! one-shot; `polling_edge_backend::*` and, on Linux, `epoll_backend::*`,
//! both edge-triggered), plus the checks of the backend's own model:
//! `one_shot_until_modified` for one-shot backends, the `edge_*` checks for
//! persistent ones.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(any(target_os = "linux", target_os = "android"))]
use fibrio_reactor::backend::epoll_backend::EpollBackend;
use fibrio_reactor::backend::poll_backend::PollBackend;
use fibrio_reactor::backend::polling_backend::PollingBackend;
use fibrio_reactor::backend::{Backend, Interest, ReadyEvent};
use proptest::prelude::*;

/// A backend constructor: `PollingBackend::new`, `PollBackend::new`, ...
type New<B> = fn() -> io::Result<B>;

/// How long a check waits for an event that should already be there.
const PATIENCE: Duration = Duration::from_secs(5);

/// How long a check watches a registration that should stay quiet.
const QUIET: Duration = Duration::from_millis(50);

/// How long a `wait(None)` may block before the watchdog fails the test.
const WATCHDOG: Duration = Duration::from_secs(30);

/// Readable and writable.
const BOTH: Interest = Interest {
    readable: true,
    writable: true,
};

/// Serialises the checks that open hundreds of descriptors, so that the two
/// backends' copies do not run at once and exceed a low `ulimit -n`.
static MANY_FDS: Mutex<()> = Mutex::new(());

fn fd(source: &impl AsRawFd) -> RawFd {
    source.as_raw_fd()
}

fn event(key: usize, ready: Interest) -> ReadyEvent {
    ReadyEvent::new(key, ready)
}

/// Waits until at least `count` events have arrived, or `PATIENCE` passes.
/// The directions are compared; `hangup` is cleared (and checked on its
/// own by `hang_up_flag_reported_where_promised`).
fn collect_events<B: Backend>(backend: &mut B, count: usize) -> io::Result<Vec<ReadyEvent>> {
    let events = collect_raw_events(backend, count)?;
    Ok(events
        .into_iter()
        .map(|e| ReadyEvent::new(e.key, e.ready))
        .collect())
}

/// [`collect_events`] keeping the `hangup` flags.
fn collect_raw_events<B: Backend>(backend: &mut B, count: usize) -> io::Result<Vec<ReadyEvent>> {
    let deadline = Instant::now() + PATIENCE;
    let mut events = Vec::new();
    while events.len() < count {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        backend.wait(&mut events, Some(deadline - now))?;
    }
    Ok(events)
}

/// Asserts that a wait of `QUIET` reports nothing.
fn assert_quiet<B: Backend>(backend: &mut B) -> io::Result<()> {
    let mut events = Vec::new();
    backend.wait(&mut events, Some(QUIET))?;
    assert_eq!(events, [], "expected no events");
    Ok(())
}

/// Writes to `stream` until its send buffer is full, leaving it
/// non-blocking and not writable.
fn fill(stream: &mut UnixStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let chunk = [0u8; 4096];
    loop {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

/// Runs `body` on its own thread and fails the test if it has not finished
/// within `WATCHDOG`, so that a `wait(None)` that never returns fails
/// instead of hanging the suite.
fn with_watchdog<F>(body: F) -> io::Result<()>
where
    F: FnOnce() -> io::Result<()> + Send + 'static,
{
    let (done, result) = mpsc::channel();
    let worker = thread::spawn(move || {
        // The receiver is gone only if the watchdog already fired.
        let _ = done.send(body());
    });
    match result.recv_timeout(WATCHDOG) {
        Ok(result) => {
            if let Err(payload) = worker.join() {
                panic::resume_unwind(payload);
            }
            result
        }
        Err(RecvTimeoutError::Timeout) => panic!("wait did not return within {WATCHDOG:?}"),
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => panic!("worker ended without a result"),
        },
    }
}

fn readable_after_peer_writes<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 1, Interest::READABLE)?;
    assert_quiet(&mut backend)?;

    b.write_all(b"ping")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(1, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn writable_right_away_on_fresh_socket<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 2, Interest::WRITABLE)?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(2, Interest::WRITABLE)]
    );
    backend.deregister(fd(&a))
}

fn both_directions_reported_in_one_event<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    b.write_all(b"ping")?;
    backend.register(fd(&a), 3, BOTH)?;
    assert_eq!(collect_events(&mut backend, 1)?, [event(3, BOTH)]);
    assert_quiet(&mut backend)?;
    backend.deregister(fd(&a))
}

fn one_shot_until_modified<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 4, Interest::READABLE)?;
    b.write_all(b"ping")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(4, Interest::READABLE)]
    );
    // The data is still unread, and more arrives: a level- or
    // edge-triggered poller would report again; a one-shot one must not.
    b.write_all(b"pong")?;
    assert_quiet(&mut backend)?;
    assert_quiet(&mut backend)?;
    backend.deregister(fd(&a))
}

fn one_shot_backend_says_so<B: Backend>(new: New<B>) -> io::Result<()> {
    assert!(!new()?.persistent());
    Ok(())
}

fn edge_backend_says_so<B: Backend>(new: New<B>) -> io::Result<()> {
    assert!(new()?.persistent());
    Ok(())
}

/// Edge-triggered: unread data is reported once, each new arrival again,
/// and the registration never needs re-arming.
fn edge_reports_each_new_arrival<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (mut a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 40, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    for round in 0..3u8 {
        b.write_all(&[round])?;
        assert_eq!(
            collect_events(&mut backend, 1)?,
            [event(40, Interest::READABLE)],
            "round {round}"
        );
        // Still unread, but no new edge.
        assert_quiet(&mut backend)?;
    }
    let mut buf = [0u8; 3];
    a.read_exact(&mut buf)?;
    assert_eq!(buf, [0, 1, 2]);
    assert_quiet(&mut backend)?;
    backend.deregister(fd(&a))
}

/// Changes made before a wait, with no wait in between, are not lost (and
/// may be reported as one event).
fn edge_changes_before_wait_are_kept<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 41, Interest::READABLE)?;
    b.write_all(b"one")?;
    b.write_all(b"two")?;
    let events = collect_events(&mut backend, 1)?;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| *e == event(41, Interest::READABLE)));
    assert_quiet(&mut backend)?;
    backend.deregister(fd(&a))
}

/// A writer that filled its buffer is told when the peer makes room, once.
fn edge_reports_room_to_write<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (mut a, mut b) = UnixStream::pair()?;
    fill(&mut a)?;
    backend.register(fd(&a), 42, Interest::WRITABLE)?;
    assert_quiet(&mut backend)?;
    b.set_nonblocking(true)?;
    let mut sink = [0u8; 64 * 1024];
    loop {
        match b.read(&mut sink) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => return Err(error),
        }
    }
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(42, Interest::WRITABLE)]
    );
    assert_quiet(&mut backend)?;
    backend.deregister(fd(&a))
}

/// An edge that happens while a `wait(None)` sleeps ends that wait.
fn edge_during_wait_ends_it<B: Backend + 'static>(new: New<B>) -> io::Result<()> {
    with_watchdog(move || {
        let mut backend = new()?;
        let (a, mut b) = UnixStream::pair()?;
        backend.register(fd(&a), 43, Interest::READABLE)?;
        for _ in 0..3 {
            let writer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                b.write_all(b"x").map(|()| b)
            });
            let mut events = Vec::new();
            backend.wait(&mut events, None)?;
            assert_eq!(events, [event(43, Interest::READABLE)]);
            b = writer.join().expect("writer panicked")?;
        }
        backend.deregister(fd(&a))
    })
}

fn modify_rearms<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (mut a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 5, Interest::READABLE)?;
    b.write_all(b"ping")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(5, Interest::READABLE)]
    );

    // Still readable, so re-arming reports it again.
    backend.modify(fd(&a), 5, Interest::READABLE)?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(5, Interest::READABLE)]
    );

    // Drained and re-armed: quiet until the peer writes again.
    let mut buf = [0u8; 4];
    a.read_exact(&mut buf)?;
    backend.modify(fd(&a), 5, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    b.write_all(b"pong")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(5, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn modify_changes_interest_and_key<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 6, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    backend.modify(fd(&a), 60, Interest::WRITABLE)?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(60, Interest::WRITABLE)]
    );
    backend.deregister(fd(&a))
}

fn disarmed_registration_stays_quiet<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 7, Interest::NONE)?;
    b.write_all(b"ping")?;
    assert_quiet(&mut backend)?;

    backend.modify(fd(&a), 7, BOTH)?;
    backend.modify(fd(&a), 7, Interest::NONE)?;
    assert_quiet(&mut backend)?;

    backend.modify(fd(&a), 7, Interest::READABLE)?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(7, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn deregister_stops_events<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 8, BOTH)?;
    backend.deregister(fd(&a))?;
    b.write_all(b"ping")?;
    assert_quiet(&mut backend)
}

fn register_again_after_deregister<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 9, Interest::READABLE)?;
    backend.deregister(fd(&a))?;
    backend.register(fd(&a), 90, Interest::READABLE)?;
    b.write_all(b"ping")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(90, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn register_twice_is_already_exists<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 10, Interest::WRITABLE)?;
    let error = backend
        .register(fd(&a), 11, Interest::WRITABLE)
        .expect_err("second register succeeded");
    assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);

    // The first registration is untouched.
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(10, Interest::WRITABLE)]
    );
    backend.deregister(fd(&a))
}

fn modify_unknown_fd_is_not_found<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    let error = backend
        .modify(fd(&a), 12, Interest::READABLE)
        .expect_err("modify of an unregistered fd succeeded");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    Ok(())
}

fn deregister_unknown_fd_is_not_found<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    let error = backend
        .deregister(fd(&a))
        .expect_err("deregister of an unregistered fd succeeded");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);

    backend.register(fd(&a), 13, Interest::READABLE)?;
    backend.deregister(fd(&a))?;
    let error = backend
        .deregister(fd(&a))
        .expect_err("second deregister succeeded");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    Ok(())
}

fn negative_fd_is_invalid_input<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let error = backend
        .register(-1, 14, Interest::READABLE)
        .expect_err("register of fd -1 succeeded");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

fn closed_fd_cannot_be_registered<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    // Far above any descriptor this process has open.
    let closed = RawFd::MAX;
    let error = backend
        .register(closed, 15, Interest::READABLE)
        .expect_err("register of a closed fd succeeded");
    assert_eq!(error.raw_os_error(), Some(libc::EBADF));
    // The failed registration left nothing behind.
    let error = backend
        .deregister(closed)
        .expect_err("deregister after a failed register succeeded");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    Ok(())
}

fn zero_timeout_returns_immediately<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 16, Interest::READABLE)?;
    let start = Instant::now();
    let mut events = Vec::new();
    for _ in 0..10 {
        backend.wait(&mut events, Some(Duration::ZERO))?;
    }
    assert_eq!(events, []);
    // Ten non-sleeping waits; generous for a loaded machine, far below the
    // first millisecond timer tick times ten if the wait slept.
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    backend.deregister(fd(&a))
}

fn timeout_elapses_without_events<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 17, Interest::READABLE)?;
    for timeout in [Duration::from_millis(20), Duration::from_micros(20_300)] {
        let start = Instant::now();
        let mut events = Vec::new();
        backend.wait(&mut events, Some(timeout))?;
        let elapsed = start.elapsed();
        assert_eq!(events, []);
        assert!(elapsed >= timeout, "woke early: {elapsed:?} < {timeout:?}");
        assert!(elapsed < Duration::from_secs(2), "overslept: {elapsed:?}");
    }
    backend.deregister(fd(&a))
}

fn wait_appends_to_existing_events<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, _b) = UnixStream::pair()?;
    backend.register(fd(&a), 18, Interest::WRITABLE)?;
    let earlier = event(999, Interest::READABLE);
    let mut events = vec![earlier];
    backend.wait(&mut events, Some(PATIENCE))?;
    assert_eq!(events, [earlier, event(18, Interest::WRITABLE)]);
    backend.deregister(fd(&a))
}

fn notify_from_other_thread_wakes_wait<B: Backend + 'static>(new: New<B>) -> io::Result<()> {
    const DELAY: Duration = Duration::from_millis(50);
    with_watchdog(move || {
        let mut backend = new()?;
        for _ in 0..3 {
            let notifier = backend.notifier();
            let start = Instant::now();
            let sender = thread::spawn(move || {
                thread::sleep(DELAY);
                notifier.notify()
            });
            let mut events = Vec::new();
            backend.wait(&mut events, None)?;
            let elapsed = start.elapsed();
            assert_eq!(events, []);
            // No spurious return before the notification was sent.
            assert!(elapsed >= DELAY, "returned before the notify: {elapsed:?}");
            sender.join().expect("notifying thread panicked")?;
        }
        Ok(())
    })
}

fn notify_before_wait_is_not_lost<B: Backend + 'static>(new: New<B>) -> io::Result<()> {
    with_watchdog(move || {
        let mut backend = new()?;
        let notifier = backend.notifier();
        thread::spawn(move || notifier.notify())
            .join()
            .expect("notifying thread panicked")?;
        let start = Instant::now();
        let mut events = Vec::new();
        backend.wait(&mut events, None)?;
        assert_eq!(events, []);
        assert!(start.elapsed() < Duration::from_secs(2));
        Ok(())
    })
}

fn notifications_coalesce<B: Backend + 'static>(new: New<B>) -> io::Result<()> {
    with_watchdog(move || {
        let mut backend = new()?;
        let notifier = backend.notifier();
        for _ in 0..3 {
            notifier.notify()?;
        }
        let mut events = Vec::new();
        backend.wait(&mut events, None)?;
        // All three were consumed by that one wait.
        let timeout = Duration::from_millis(20);
        let start = Instant::now();
        backend.wait(&mut events, Some(timeout))?;
        assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());
        assert_eq!(events, []);
        Ok(())
    })
}

fn notify_does_not_hide_ready_fds<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    backend.register(fd(&a), 19, Interest::READABLE)?;
    b.write_all(b"ping")?;
    backend.notifier().notify()?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(19, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn peer_hang_up_wakes_reader<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, b) = UnixStream::pair()?;
    backend.register(fd(&a), 20, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    drop(b);
    // Only the armed direction is reported.
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(20, Interest::READABLE)]
    );
    backend.deregister(fd(&a))
}

fn peer_hang_up_wakes_writer<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (mut a, b) = UnixStream::pair()?;
    fill(&mut a)?;
    backend.register(fd(&a), 21, Interest::WRITABLE)?;
    assert_quiet(&mut backend)?;
    drop(b);
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(21, Interest::WRITABLE)]
    );
    backend.deregister(fd(&a))
}

fn hang_up_reported_in_both_directions<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (mut a, b) = UnixStream::pair()?;
    // Neither readable (nothing sent to `a`) nor writable (buffer full).
    fill(&mut a)?;
    backend.register(fd(&a), 22, BOTH)?;
    assert_quiet(&mut backend)?;
    drop(b);
    assert_eq!(collect_events(&mut backend, 1)?, [event(22, BOTH)]);
    backend.deregister(fd(&a))
}

fn hang_up_with_unread_data_reported_in_both_directions<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (reader, mut writer) = io::pipe()?;
    // A pipe's read end is never writable by itself, so the writable half
    // of the event can only come from the hang-up.
    backend.register(fd(&reader), 26, BOTH)?;
    assert_quiet(&mut backend)?;
    writer.write_all(b"last words")?;
    drop(writer);
    assert_eq!(collect_events(&mut backend, 1)?, [event(26, BOTH)]);
    backend.deregister(fd(&reader))
}

/// Backends that promise `hangup` set it when the peer closes (with data
/// still unread, too), and never for plain data; the others never set it.
fn hang_up_flag_reported_where_promised<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, mut b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    backend.register(fd(&a), 30, Interest::READABLE)?;
    b.write_all(b"data")?;
    let events = collect_raw_events(&mut backend, 1)?;
    assert_eq!(events.len(), 1);
    assert!(!events[0].hangup, "plain data is not a hang-up");
    if !backend.persistent() {
        backend.modify(fd(&a), 30, Interest::READABLE)?;
    }
    drop(b);
    let events = collect_raw_events(&mut backend, 1)?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].hangup, backend.reports_hangup());
    backend.deregister(fd(&a))
}

fn disarmed_hang_up_does_not_cut_wait_short<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (a, b) = UnixStream::pair()?;
    backend.register(fd(&a), 25, Interest::READABLE)?;
    drop(b);
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(25, Interest::READABLE)]
    );
    // epoll reports hang-ups even for a registration modified to no
    // interest; the backend must swallow that and keep waiting.
    backend.modify(fd(&a), 25, Interest::NONE)?;
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    let mut events = Vec::new();
    backend.wait(&mut events, Some(timeout))?;
    let elapsed = start.elapsed();
    assert_eq!(events, []);
    assert!(elapsed >= timeout, "woke early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "overslept: {elapsed:?}");
    backend.deregister(fd(&a))
}

fn pipe_readable_after_write<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (reader, mut writer) = io::pipe()?;
    backend.register(fd(&reader), 23, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    writer.write_all(b"ping")?;
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(23, Interest::READABLE)]
    );
    backend.deregister(fd(&reader))
}

fn pipe_reader_woken_when_writer_closes<B: Backend>(new: New<B>) -> io::Result<()> {
    let mut backend = new()?;
    let (reader, writer) = io::pipe()?;
    backend.register(fd(&reader), 24, Interest::READABLE)?;
    assert_quiet(&mut backend)?;
    drop(writer);
    assert_eq!(
        collect_events(&mut backend, 1)?,
        [event(24, Interest::READABLE)]
    );
    backend.deregister(fd(&reader))
}

fn many_fds_all_reported<B: Backend>(new: New<B>) -> io::Result<()> {
    const PAIRS: usize = 200;
    let _serial = MANY_FDS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut backend = new()?;
    let mut pairs = Vec::with_capacity(PAIRS);
    let mut expected = HashMap::new();
    for i in 0..PAIRS {
        let (a, mut b) = UnixStream::pair()?;
        let key = 1_000 + 7 * i;
        // Even pairs wait to read (and are written to), odd ones to write.
        let interest = if i % 2 == 0 {
            b.write_all(&[1])?;
            Interest::READABLE
        } else {
            Interest::WRITABLE
        };
        backend.register(fd(&a), key, interest)?;
        expected.insert(key, interest);
        pairs.push((a, b));
    }

    let events = collect_events(&mut backend, PAIRS)?;
    let mut reported = HashMap::new();
    for ReadyEvent { key, ready, .. } in events {
        assert!(reported.insert(key, ready).is_none(), "key {key} twice");
    }
    assert_eq!(reported, expected);
    assert_quiet(&mut backend)?;

    for (a, _b) in &pairs {
        backend.deregister(fd(a))?;
    }
    Ok(())
}

/// One socket pair in a random scenario: whether its near end is
/// registered, with which interest, and whether the far end writes to it.
#[derive(Debug, Clone, Copy)]
struct PairPlan {
    registered: bool,
    interest: Interest,
    written: bool,
}

fn pair_plan() -> impl Strategy<Value = PairPlan> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(registered, readable, writable, written)| PairPlan {
            registered,
            interest: Interest { readable, writable },
            written,
        },
    )
}

fn reports_exactly_the_ready_registrations<B: Backend>(
    new: New<B>,
    plans: &[PairPlan],
) -> io::Result<()> {
    let mut backend = new()?;
    let mut pairs = Vec::with_capacity(plans.len());
    let mut expected = HashMap::new();
    for (i, plan) in plans.iter().enumerate() {
        let (a, b) = UnixStream::pair()?;
        let key = 3 * i + 1;
        if plan.registered {
            backend.register(fd(&a), key, plan.interest)?;
            // A fresh socket is always writable; readable once written to.
            let ready = Interest {
                readable: plan.interest.readable && plan.written,
                writable: plan.interest.writable,
            };
            if ready != Interest::NONE {
                expected.insert(key, ready);
            }
        }
        pairs.push((a, b));
    }
    for ((_a, b), plan) in pairs.iter_mut().zip(plans) {
        if plan.written {
            b.write_all(b"x")?;
        }
    }

    // Everything is ready before the first wait; keep waiting without
    // sleeping until a wait finds nothing more.
    let mut reported = HashMap::new();
    loop {
        let mut events = Vec::new();
        backend.wait(&mut events, Some(Duration::ZERO))?;
        if events.is_empty() {
            break;
        }
        for ReadyEvent { key, ready, .. } in events {
            assert!(reported.insert(key, ready).is_none(), "key {key} twice");
        }
    }
    assert_eq!(reported, expected);

    for ((a, _b), plan) in pairs.iter().zip(plans) {
        if plan.registered {
            backend.deregister(fd(a))?;
        }
    }
    Ok(())
}

macro_rules! backend_tests {
    ($module:ident, $new:path; $($own:ident),* $(,)?) => {
        mod $module {
            use super::*;

            backend_tests!(@each $new; $($own),*);
            backend_tests!(@each $new;
                readable_after_peer_writes,
                writable_right_away_on_fresh_socket,
                both_directions_reported_in_one_event,
                modify_rearms,
                modify_changes_interest_and_key,
                disarmed_registration_stays_quiet,
                deregister_stops_events,
                register_again_after_deregister,
                register_twice_is_already_exists,
                modify_unknown_fd_is_not_found,
                deregister_unknown_fd_is_not_found,
                negative_fd_is_invalid_input,
                closed_fd_cannot_be_registered,
                zero_timeout_returns_immediately,
                timeout_elapses_without_events,
                wait_appends_to_existing_events,
                notify_from_other_thread_wakes_wait,
                notify_before_wait_is_not_lost,
                notifications_coalesce,
                notify_does_not_hide_ready_fds,
                peer_hang_up_wakes_reader,
                peer_hang_up_wakes_writer,
                hang_up_reported_in_both_directions,
                hang_up_with_unread_data_reported_in_both_directions,
                disarmed_hang_up_does_not_cut_wait_short,
                hang_up_flag_reported_where_promised,
                pipe_readable_after_write,
                pipe_reader_woken_when_writer_closes,
                many_fds_all_reported,
            );

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                #[test]
                fn reports_exactly_the_ready_registrations(
                    plans in proptest::collection::vec(pair_plan(), 1..24),
                ) {
                    super::reports_exactly_the_ready_registrations($new, &plans)
                        .map_err(|error| TestCaseError::fail(error.to_string()))?;
                }
            }
        }
    };
    (@each $new:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() -> io::Result<()> {
                super::$name($new)
            }
        )*
    };
}

backend_tests!(polling_backend, PollingBackend::new;
    one_shot_backend_says_so, one_shot_until_modified);
backend_tests!(poll_backend, PollBackend::new;
    one_shot_backend_says_so, one_shot_until_modified);
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
))]
backend_tests!(polling_edge_backend, PollingBackend::edge_triggered;
    edge_backend_says_so, edge_reports_each_new_arrival, edge_changes_before_wait_are_kept,
    edge_reports_room_to_write, edge_during_wait_ends_it);
#[cfg(any(target_os = "linux", target_os = "android"))]
backend_tests!(epoll_backend, EpollBackend::new;
    edge_backend_says_so, edge_reports_each_new_arrival, edge_changes_before_wait_are_kept,
    edge_reports_room_to_write, edge_during_wait_ends_it);

#[test]
fn backend_names() -> io::Result<()> {
    assert_eq!(PollBackend::new()?.name(), "poll");
    let expected = if cfg!(any(target_os = "linux", target_os = "android")) {
        "epoll"
    } else if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "visionos",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
    )) {
        "kqueue"
    } else if cfg!(any(target_os = "illumos", target_os = "solaris")) {
        "event ports"
    } else {
        "polling"
    };
    assert_eq!(PollingBackend::new()?.name(), expected);
    Ok(())
}
