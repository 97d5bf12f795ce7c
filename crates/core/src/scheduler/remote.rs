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

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::driver::DriverNotifier;
use super::table::TaskKey;

/// A message to a runtime from another thread.
pub(crate) enum RemoteMsg {
    Unpark(TaskKey),
    CancelWake(TaskKey),
    Spawn(Box<dyn FnOnce() + Send>),
}

/// The sending side of a runtime's inbox.
pub(crate) struct Remote {
    pub(crate) id: u64,
    tx: Sender<RemoteMsg>,
    pub(crate) notifier: Arc<dyn DriverNotifier>,
}

impl Remote {
    pub(crate) fn new(
        id: u64,
        notifier: Arc<dyn DriverNotifier>,
    ) -> (Arc<Remote>, Receiver<RemoteMsg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Arc::new(Remote { id, tx, notifier }), rx)
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
