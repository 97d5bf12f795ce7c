//! Per-worker timekeeping, so that timeouts cost the request path no clock
//! read and no timer: the [`Sweeper`], and the connections it watches
//! ([`Watched`]).
//!
//! # Invariants
//!
//! * Each worker runs one sweeper task that wakes every tick (a quarter of
//!   the shortest timeout, within 5-250 ms), reads the clock once,
//!   refreshes the cached `Date`, and shuts down the socket of every
//!   connection past its deadline, which wakes the connection's blocked
//!   read (with end-of-file) or write (with an error). A connection only
//!   writes its deadline, from the sweeper's coarse clock, into a `Cell`
//!   before it blocks. So timeouts fire up to two ticks late, and `Date`
//!   may be a tick old.
//! * The sweeper cancels a request task's wait for a request once it has
//!   lasted a whole tick (the sweeper counts two sweeps; see
//!   [`Watched::demote`]).
//! * At a shutdown request (`fibrio::shutdown`) the sweeper wakes at once
//!   and shuts the read side of every connection idle between requests
//!   (nothing of a next request read).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::Shutdown;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use fibrio::net::TcpStream;
use fibrio::CancelScope;

use super::date;
use super::server::{Config, Slot};

/// Per-worker timekeeping, so that timeouts cost the request path no clock
/// read and no timer: a task wakes every `tick`, reads the clock once,
/// refreshes the cached `Date`, and shuts down the read side of every
/// connection past its deadline, which wakes its blocked read with
/// end-of-file (and `expired` tells the connection why). A connection sets
/// its deadline from the coarse clock before each read, one `Cell` write.
/// Timeouts fire between `timeout` and `timeout + 2 * tick` late.
#[derive(Debug)]
pub(super) struct Sweeper {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last sweep.
    now_ms: Cell<u64>,
    tick_ms: u64,
    watched: RefCell<Vec<Weak<Watched>>>,
    /// False once the accept loop has returned: the sweeper ends when the
    /// last connection does.
    pub(super) accepting: Cell<bool>,
    /// The server's configuration, for the connections of this worker.
    pub(super) config: Config,
}

/// A connection's socket and deadline, shared with the [`Sweeper`].
#[derive(Debug)]
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    /// In the sweeper's milliseconds; `u64::MAX` for none.
    pub(super) deadline_ms: Cell<u64>,
    /// Whether the deadline is a read's (past it, the read side is shut
    /// down, and the connection may still answer `408`) or a write's (past
    /// it, both sides are, which wakes a blocked write with an error).
    pub(super) reading: Cell<bool>,
    pub(super) expired: Cell<bool>,
    /// True while the connection waits for the first byte of a request:
    /// at shutdown the sweeper closes it then.
    pub(super) idle: Cell<bool>,
    /// While a request task serves the connection: the cancel scope its
    /// batch runs in. The sweeper cancels it once the task has waited a
    /// whole tick for a request (`demotable`), which ends the request
    /// task, and a waiting task takes over, with no buffer.
    pub(super) demote: RefCell<Option<CancelScope>>,
    /// True while the request task waits for a request.
    pub(super) demotable: Cell<bool>,
    /// Sweeps since `demotable` was set.
    pub(super) idle_sweeps: Cell<u8>,
    /// The connection's place among [`Config::max_connections`]: given back
    /// when the last task serving it ends.
    _slot: Slot,
}

impl Watched {
    /// Sets the deadline of the writes that follow.
    pub(super) fn writing_until(&self, deadline_ms: u64) {
        self.reading.set(false);
        self.deadline_ms.set(deadline_ms);
    }
}

impl Sweeper {
    /// A sweeper ticking at a quarter of the shortest timeout, within
    /// 5-250 ms, and its task.
    pub(super) fn start(config: &Config) -> io::Result<Rc<Sweeper>> {
        let shortest = config.header_timeout.min(config.idle_timeout);
        let tick = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        let sweeper = Rc::new(Sweeper {
            epoch: Instant::now(),
            now_ms: Cell::new(0),
            tick_ms: tick.as_millis() as u64,
            watched: RefCell::new(Vec::new()),
            accepting: Cell::new(true),
            config: config.clone(),
        });
        date::refresh();
        let task = Rc::clone(&sweeper);
        fibrio::task::Builder::new()
            .stack_size(32 * 1024)
            .spawn(move || loop {
                if fibrio::shutdown::requested() {
                    fibrio::sleep(tick);
                } else {
                    // Woken early by a shutdown request, to close the idle
                    // connections at once.
                    let _ = fibrio::shutdown::move_on(|| fibrio::sleep(tick));
                }
                if !task.sweep() {
                    return;
                }
            })
            .map_err(|err| io::Error::other(err.to_string()))?;
        Ok(sweeper)
    }

    /// One tick; false when the sweeper should end.
    fn sweep(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.now_ms.set(now);
        date::refresh();
        let closing = fibrio::shutdown::requested();
        let mut watched = self.watched.borrow_mut();
        watched.retain(|weak| {
            let Some(connection) = weak.upgrade() else {
                return false;
            };
            if closing && connection.idle.replace(false) {
                // Shutdown: its blocked read ends with end-of-file, and it
                // closes without an answer (no request came).
                let _ = connection.stream.shutdown(Shutdown::Read);
            }
            if connection.deadline_ms.get() <= now && !connection.expired.get() {
                connection.expired.set(true);
                // Wakes a blocked read with end-of-file, a blocked write
                // with an error.
                let how = if connection.reading.get() {
                    Shutdown::Read
                } else {
                    Shutdown::Both
                };
                let _ = connection.stream.shutdown(how);
            }
            if connection.demotable.get() {
                // Waiting since before the previous sweep: a whole tick.
                let sweeps = connection.idle_sweeps.get() + 1;
                connection.idle_sweeps.set(sweeps);
                if sweeps >= 2 {
                    connection.demotable.set(false);
                    if let Some(scope) = connection.demote.take() {
                        scope.cancel();
                    }
                }
            }
            true
        });
        // After a peak of connections, give its room back.
        let len = watched.len();
        if watched.capacity() > 4 * len + 64 {
            watched.shrink_to(2 * len + 16);
        }
        self.accepting.get() || !watched.is_empty()
    }

    pub(super) fn watch(&self, stream: TcpStream, slot: Slot) -> Rc<Watched> {
        let watched = Rc::new(Watched {
            stream,
            deadline_ms: Cell::new(u64::MAX),
            reading: Cell::new(true),
            expired: Cell::new(false),
            idle: Cell::new(false),
            demote: RefCell::new(None),
            demotable: Cell::new(false),
            idle_sweeps: Cell::new(0),
            _slot: slot,
        });
        self.watched.borrow_mut().push(Rc::downgrade(&watched));
        watched
    }

    /// The deadline `timeout` from now, never early: the coarse clock may
    /// lag a tick behind.
    pub(super) fn deadline(&self, timeout_ms: u64) -> u64 {
        self.now_ms.get() + timeout_ms + self.tick_ms
    }

    pub(super) fn passed(&self, deadline_ms: u64) -> bool {
        self.now_ms.get() >= deadline_ms
    }
}

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}
