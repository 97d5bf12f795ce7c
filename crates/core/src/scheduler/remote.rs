//! A runtime's inbox, reachable from any thread: [`Remote`] (its sending
//! side) and [`Unparker`], which names one task of one runtime.
//!
//! # Invariants
//!
//! * Messages are only ever handled on the runtime's thread, by its loop
//!   (`drain_inbox`), which runs them after every batch of tasks and after
//!   every driver park. `send` notifies the driver, so a runtime blocked in
//!   the poller wakes up to read the message.
//! * A [`TaskKey`] is only meaningful with the id of the runtime that made
//!   it: every key that leaves the scheduler travels with that id (an
//!   [`Unparker`] carries its [`Remote`]), and the scheduler ignores keys
//!   of other runtimes.
//! * `running` is the id of the task the runtime's thread runs (0: none),
//!   written with a relaxed store (a plain move) at every switch in and
//!   out; `turn` is when the scheduler last polled its driver (nanoseconds
//!   since `origin`), written once per turn. Only the runtime's thread
//!   writes them; other threads read them only to explain a runtime that
//!   does not answer: a task that is running, with no turn since, has run
//!   at least since that turn.
//! * `handles` counts the live [`Handle`](super::Handle)s of the runtime
//!   (the deadlock check needs none alive).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::driver::DriverNotifier;
use super::table::TaskKey;

/// A message to a runtime from another thread.
pub(crate) enum RemoteMsg {
    Unpark(TaskKey),
    CancelWake(TaskKey),
    /// A job for the runtime's thread: a spawn, or a query (a dump, the
    /// metrics) that answers through a channel of its own.
    Spawn(Box<dyn FnOnce() + Send>),
}

/// The sending side of a runtime's inbox.
pub(crate) struct Remote {
    pub(crate) id: u64,
    tx: Sender<RemoteMsg>,
    pub(crate) notifier: Arc<dyn DriverNotifier>,
    running: AtomicU64,
    turn: AtomicU64,
    handles: AtomicUsize,
    /// What `since` counts from.
    pub(crate) origin: Instant,
}

impl Remote {
    pub(crate) fn new(
        id: u64,
        notifier: Arc<dyn DriverNotifier>,
    ) -> (Arc<Remote>, Receiver<RemoteMsg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let remote = Remote {
            id,
            tx,
            notifier,
            running: AtomicU64::new(0),
            turn: AtomicU64::new(0),
            handles: AtomicUsize::new(0),
            origin: Instant::now(),
        };
        (Arc::new(remote), rx)
    }

    /// The runtime's thread switches into task `id`.
    #[inline(always)]
    pub(crate) fn enter(&self, id: u64) {
        self.running.store(id, Ordering::Relaxed);
    }

    /// The scheduler polled its driver at `now`.
    #[inline]
    pub(crate) fn mark_turn(&self, now: Instant) {
        let since = now.saturating_duration_since(self.origin).as_nanos() as u64;
        self.turn.store(since, Ordering::Relaxed);
    }

    /// The runtime's thread is back on its loop.
    #[inline(always)]
    pub(crate) fn leave(&self) {
        self.running.store(0, Ordering::Relaxed);
    }

    /// The task running on the runtime's thread (0: none) and when the
    /// scheduler last polled its driver, since `origin`.
    pub(crate) fn running(&self) -> (u64, Duration) {
        let id = self.running.load(Ordering::Relaxed);
        let turn = Duration::from_nanos(self.turn.load(Ordering::Relaxed));
        (id, turn)
    }

    pub(crate) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_handle(&self) {
        self.handles.fetch_sub(1, Ordering::Relaxed);
    }

    /// The live `Handle`s.
    pub(crate) fn handles(&self) -> usize {
        self.handles.load(Ordering::Relaxed)
    }

    /// Queues `message` and wakes the runtime. False if the runtime is gone.
    pub(crate) fn send(&self, message: RemoteMsg) -> bool {
        if self.tx.send(message).is_err() {
            return false;
        }
        self.notifier.notify();
        true
    }
}

/// Wakes one task, from any thread. Cloneable and `Send`.
///
/// Its waking methods live with the scheduler loop (`run.rs`), which owns
/// the local fast path.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, Unparker};
///
/// let me = Unparker::current().unwrap();
/// std::thread::spawn(move || me.unpark()); // another OS thread
/// task::park().unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Unparker {
    pub(crate) key: TaskKey,
    pub(crate) remote: Arc<Remote>,
}

impl Unparker {
    pub(crate) fn new(key: TaskKey, remote: Arc<Remote>) -> Unparker {
        Unparker { key, remote }
    }

    /// The task this unparker wakes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, Unparker};
    ///
    /// assert_eq!(Unparker::current().unwrap().key(), task::current_key().unwrap());
    /// # });
    /// ```
    pub fn key(&self) -> TaskKey {
        self.key
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unparker")
            .field("key", &self.key)
            .field("runtime", &self.remote.id)
            .finish()
    }
}
