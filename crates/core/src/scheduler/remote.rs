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
//! * `queued_spawns` counts the [`RemoteMsg::Spawn`]s sent and not yet
//!   taken by the runtime (incremented before the send, decremented when
//!   `drain_inbox` takes one); `alive` is the runtime's live task count as
//!   of its last inbox read. Both only inform
//!   [`Handle::try_spawn`](super::Handle::try_spawn)'s back-pressure, which
//!   is approximate under concurrent spawners: the runtime itself enforces
//!   `max_tasks` exactly.
//! * The runtime takes at most [`INBOX_BATCH`] messages per read, and
//!   none while [`INBOX_BACKLOG`] tasks are runnable, so a flood of remote
//!   spawns cannot keep timers and running tasks from their turn, nor map a
//!   stack for every queued spawn at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::config::SchedulerConfig;
use super::driver::DriverNotifier;
use super::table::TaskKey;

/// The most messages the runtime takes from its inbox in one read; when a
/// read is full, the runtime polls its driver (timers, I/O) without
/// blocking before it reads again.
pub(crate) const INBOX_BATCH: usize = 128;

/// The runtime leaves its inbox alone while this many tasks are runnable:
/// they run first (the inbox's tasks would queue behind them anyway).
pub(crate) const INBOX_BACKLOG: usize = 1024;

/// A message to a runtime from another thread.
pub(crate) enum RemoteMsg {
    Unpark(TaskKey),
    CancelWake(TaskKey),
    /// A task spawn ([`Handle::spawn`](super::Handle::spawn),
    /// [`Handle::try_spawn`](super::Handle::try_spawn)), counted in
    /// `queued_spawns`.
    Spawn(Box<dyn FnOnce() + Send>),
    /// A query (a dump, the metrics) that answers through a channel of its
    /// own.
    Query(Box<dyn FnOnce() + Send>),
}

/// The sending side of a runtime's inbox.
pub(crate) struct Remote {
    pub(crate) id: u64,
    tx: Sender<RemoteMsg>,
    pub(crate) notifier: Arc<dyn DriverNotifier>,
    running: AtomicU64,
    turn: AtomicU64,
    handles: AtomicUsize,
    queued_spawns: AtomicUsize,
    alive: AtomicUsize,
    /// `SchedulerConfig::remote_spawn_capacity`.
    pub(crate) spawn_capacity: usize,
    /// `SchedulerConfig::max_tasks`.
    pub(crate) max_tasks: Option<usize>,
    /// What `since` counts from.
    pub(crate) origin: Instant,
}

impl Remote {
    pub(crate) fn new(
        id: u64,
        notifier: Arc<dyn DriverNotifier>,
        config: &SchedulerConfig,
    ) -> (Arc<Remote>, Receiver<RemoteMsg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let remote = Remote {
            id,
            tx,
            notifier,
            running: AtomicU64::new(0),
            turn: AtomicU64::new(0),
            handles: AtomicUsize::new(0),
            queued_spawns: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            spawn_capacity: config.remote_spawn_capacity,
            max_tasks: config.max_tasks,
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
        let spawn = matches!(message, RemoteMsg::Spawn(_));
        if spawn {
            self.queued_spawns.fetch_add(1, Ordering::Relaxed);
        }
        if self.tx.send(message).is_err() {
            if spawn {
                self.queued_spawns.fetch_sub(1, Ordering::Relaxed);
            }
            return false;
        }
        self.notifier.notify();
        true
    }

    /// The runtime took a spawn from its inbox.
    pub(crate) fn took_spawn(&self) {
        self.queued_spawns.fetch_sub(1, Ordering::Relaxed);
    }

    /// Spawns sent and not yet taken by the runtime.
    pub(crate) fn queued_spawns(&self) -> usize {
        self.queued_spawns.load(Ordering::Relaxed)
    }

    /// The runtime's thread publishes its live task count.
    pub(crate) fn publish_alive(&self, alive: usize) {
        self.alive.store(alive, Ordering::Relaxed);
    }

    /// The live task count as of the runtime's last inbox read.
    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }
}

/// Wakes one task, from any thread. Cloneable and `Send`.
///
/// Its waking methods live with the scheduler's wake-ups (`wake.rs`), which
/// own the local fast path.
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
