//! Waiting: the one place that parks a task (or blocks a thread).
//!
//! Invariants:
//! * A [`Node`] is a waiter's registration. It is only read or written
//!   while the owning primitive's state mutex is held, so the node's own
//!   mutex is never contended; lock order is always state, then node.
//! * [`block`] may return spuriously; every caller re-checks its condition
//!   (the node's slot, the state) in a loop.
//! * Inside a task, waiting parks the task (a cancellation checkpoint);
//!   outside any task it parks the thread.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::Instant;

use fibrio_core::task::{ParkError, Unparker};

/// Locks `m`, ignoring poisoning: the primitives never panic while holding
/// their lock, so the state is always consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Who to wake: a task (from any thread) or a plain thread.
#[derive(Debug)]
pub(crate) enum Waker {
    Task(Unparker),
    Thread(Thread),
}

impl Waker {
    /// The waker for the caller: its task, or its thread outside a task.
    pub(crate) fn current() -> Waker {
        match Unparker::current() {
            Some(u) => Waker::Task(u),
            None => Waker::Thread(std::thread::current()),
        }
    }

    pub(crate) fn wake(&self) {
        match self {
            Waker::Task(u) => u.unpark(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

/// A waiter's registration: who to wake, and a slot through which a
/// permit or message is handed over (or taken).
#[derive(Debug)]
pub(crate) struct Node<T> {
    pub(crate) waker: Waker,
    slot: Mutex<Option<T>>,
}

impl<T> Node<T> {
    pub(crate) fn new(value: Option<T>) -> Arc<Node<T>> {
        Arc::new(Node {
            waker: Waker::current(),
            slot: Mutex::new(value),
        })
    }

    pub(crate) fn take(&self) -> Option<T> {
        lock(&self.slot).take()
    }

    pub(crate) fn put(&self, value: T) {
        *lock(&self.slot) = Some(value);
    }

    pub(crate) fn is_full(&self) -> bool {
        lock(&self.slot).is_some()
    }
}

/// Removes `node` from `queue` (by identity). Returns true if it was there.
pub(crate) fn remove_node<T>(
    queue: &mut std::collections::VecDeque<Arc<Node<T>>>,
    node: &Arc<Node<T>>,
) -> bool {
    match queue.iter().position(|n| Arc::ptr_eq(n, node)) {
        Some(i) => {
            queue.remove(i);
            true
        }
        None => false,
    }
}

/// The caller's task is unwinding, so it must not suspend.
#[derive(Debug)]
pub(crate) struct Unwinding;

/// Waits until woken, until `deadline`, or spuriously.
pub(crate) fn block(deadline: Option<Instant>) -> Result<(), Unwinding> {
    match fibrio_reactor::park_until(deadline) {
        Ok(()) => Ok(()),
        Err(ParkError::Unwinding) => Err(Unwinding),
        Err(ParkError::OutsideTask) => {
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if d > now {
                        std::thread::park_timeout(d - now);
                    }
                }
            }
            Ok(())
        }
    }
}

/// The deadline `timeout` from now; `None` (no deadline: wait as long as
/// it takes) when that instant cannot be represented, so a huge timeout
/// such as `Duration::MAX` never panics.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// True once `deadline` has passed.
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The state of a primitive whose waiters all wait for one condition to
/// hold (an `Event` being set, a `WaitGroup` reaching zero), as
/// [`wait_for_signal`] needs it. Whoever makes the condition hold hands
/// `()` to every queued node and wakes it.
pub(crate) trait Signal {
    /// True while waiters need not wait.
    fn is_signalled(&self) -> bool;
    /// The queued waiters.
    fn waiters(&mut self) -> &mut std::collections::VecDeque<Arc<Node<()>>>;
    /// Counts a waiter that left without seeing the condition.
    fn abandon(&mut self);
}

/// Waits until `state`'s condition holds (`Ok(true)`) or `deadline` passes
/// (`Ok(false)`). A checkpoint first; a waiter that leaves early, unwinding
/// included, leaves the queue and is counted as abandoned.
pub(crate) fn wait_for_signal<S: Signal>(
    state: &Mutex<S>,
    deadline: Option<Instant>,
) -> Result<bool, Unwinding> {
    fibrio_core::task::checkpoint();
    let node = {
        let mut st = lock(state);
        if st.is_signalled() {
            return Ok(true);
        }
        if expired(deadline) {
            st.abandon();
            return Ok(false);
        }
        let node = Node::new(None);
        st.waiters().push_back(node.clone());
        node
    };
    // Leaves the queue on every exit that did not see the condition.
    struct Leave<'a, S: Signal> {
        state: &'a Mutex<S>,
        node: Arc<Node<()>>,
        done: bool,
    }
    impl<S: Signal> Drop for Leave<'_, S> {
        fn drop(&mut self) {
            if self.done {
                return;
            }
            let mut st = lock(self.state);
            st.abandon();
            remove_node(st.waiters(), &self.node);
        }
    }
    let mut guard = Leave {
        state,
        node,
        done: false,
    };
    loop {
        let parked = block(deadline);
        if guard.node.take().is_some() {
            guard.done = true;
            return Ok(true);
        }
        parked?;
        if expired(deadline) {
            let mut st = lock(state);
            guard.done = true;
            if remove_node(st.waiters(), &guard.node) {
                st.abandon();
                return Ok(false);
            }
            // The condition came to hold just before the deadline.
            return Ok(true);
        }
    }
}
