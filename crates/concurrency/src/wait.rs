//! Waiting: the one wait queue every primitive uses ([`WaitQueue`]), the
//! guard of a queued waiter ([`Waiter`]), and the one place that parks a
//! task (or blocks a thread).
//!
//! A primitive keeps its state behind one `std::sync::Mutex`, the *state
//! lock*, with a [`WaitQueue`] in it per kind of waiter, and says in a
//! [`WaitState`] impl on that state where that queue is, whether waiting
//! has become pointless, and what a waiter that gives up leaves behind;
//! one blanket impl makes the state lock, `Mutex<State>`, the [`Waitable`]
//! that a [`Waiter`] works with. (A primitive whose state is not all under
//! its state lock, as the task mutex's lock word is not, implements
//! [`Waitable`] itself.) A blocking call takes the state lock and either
//! succeeds at once or queues a node with [`Waiter::enqueue`], in the same
//! hold of the lock. [`Waiter::wait`] then parks until the waiter is
//! *served* (popped from the queue by whoever releases what it waits for,
//! usually with a permit, a message or a notification put into its node's
//! slot) or gives up.
//!
//! Invariants:
//! * Lock order: the state lock, then a node's slot lock; no primitive
//!   takes another's state lock under its own. A state lock is held for a
//!   few instructions, never across a park, and no user code runs under it
//!   (a message is never dropped there): it covers state updates and the
//!   waking of waiters.
//! * Who touches a node: the node is shared by its [`Waiter`] and, while it
//!   is queued, its [`WaitQueue`]. While queued it is read or written only
//!   with the state lock held: by the serving side, which pops it, fills
//!   (or empties) its slot, marks it served and wakes it in one hold of
//!   the lock; or by its waiter, which checks whether it was served or
//!   removes it. Once out of the queue only its waiter holds it. So the
//!   slot's own mutex is never contended.
//! * Served means out of the queue: under the state lock a node is queued
//!   until it is served or its own waiter removes it, so "not queued" is
//!   the waiter's success test, and needs no search.
//! * No lost wake-up: a waiter queues in the same hold of the state lock in
//!   which it saw that it must wait, and whoever changes the state serves
//!   or wakes the waiters in the hold that changes it. A wake-up sent
//!   between the waiter's unlock and its park stays as the task's (or
//!   thread's) unpark token, so the park returns at once. Parks may also
//!   return spuriously: the waiter re-checks, under the state lock, after
//!   every one.
//! * Hand-off: a waiter that returns success keeps what it was handed. One
//!   that leaves any other way (it gave up: closed, timed out, unwinding;
//!   it was cancelled while parked; or it was dropped after being served,
//!   as a condvar waiter cancelled while re-locking its mutex) leaves
//!   through the one path in [`Waiter`], under the state lock: removed if
//!   still queued, else what it was handed goes to [`Waitable::abandon`],
//!   which passes it on. So a waiter that does not return success never
//!   takes anything.
//! * FIFO: waiters queue at the back and are served from the front. The
//!   one exception is [`WaitQueue::serve_back`], for `Notify::notify_last`
//!   (tokio's LIFO notification), which serves the most recent waiter.
//! * Every blocking operation starts with [`begin`], before it looks at
//!   the state: the cancellation checkpoint and the cooperative budget
//!   (`fibrio_core::coop`), so a task whose operations keep succeeding at
//!   once still yields once every `coop::BUDGET` of them, and the yield
//!   comes before the operation takes anything.
//! * Inside a task, waiting parks the task (a cancellation checkpoint: a
//!   cancelled waiter unwinds, and its [`Waiter`]'s `Drop` leaves); outside
//!   any task it parks the thread.
//! * What a parked waiter waits for: every park here records a
//!   [`WaitReason`] in the task, built from [`Waitable::wait_kind`] (per
//!   primitive and, by the tag, per direction), the address of the
//!   primitive's state lock (to tell objects apart; never dereferenced) and
//!   [`Waitable::holder`] (the mutex's owner, the rwlock's writer for a
//!   waiting writer, read when the waiter parks; stale for a waiter already
//!   parked when the lock is handed on, until it parks again, which in a
//!   simulation the hand-off makes it do at once). Nothing is formatted
//!   and nothing allocated for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use fibrio_core::task::{ParkError, Unparker, WaitKind, WaitReason};

use crate::sync::WaitError;

/// Starts a blocking operation of a primitive (a channel send or receive,
/// a lock, an acquire, a wait that may be over already): a cancellation
/// checkpoint, and one unit of the task's cooperative budget
/// ([`fibrio_core::coop::proceed`]), which yields first when it is empty.
/// Called before the operation looks at the state, so a cancellation at
/// that yield takes nothing: no message is lost, no permit or lock leaks.
/// Outside a task it does nothing.
#[inline]
pub(crate) fn begin() {
    fibrio_core::coop::proceed();
}

/// Locks `m`, ignoring poisoning: the primitives never panic while holding
/// their lock, so the state is always consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The deadline `timeout` from now on the runtime's clock (virtual inside
/// a simulation); `None` (no deadline: wait as long as it takes) when that
/// instant cannot be represented, so a huge timeout such as
/// `Duration::MAX` never panics.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    fibrio_core::time::now_std().checked_add(timeout)
}

/// True once `deadline` has passed on the runtime's clock.
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| fibrio_core::time::now_std() >= d)
}

/// A primitive whose state (behind [`state`](Waitable::state)) holds a
/// [`WaitQueue`] of waiters of kind `T`, `K`. `T` is what goes through a
/// node's slot; `K` is the tag every node carries (the rwlock's
/// read-or-write flag), or a marker type telling apart two queues of one
/// state (the channel's senders and receivers). A state lock
/// `Mutex<State>` is `Waitable` when its `State` is a [`WaitState`].
pub(crate) trait Waitable<T, K: Copy = ()> {
    /// What the state lock guards.
    type State;

    /// The state lock.
    fn state(&self) -> &Mutex<Self::State>;

    /// The queue, in the state.
    fn queue(st: &mut Self::State) -> &mut WaitQueue<T, K>;

    /// Whether waiting has become pointless (closed, disconnected).
    /// Checked after every wake-up that did not serve the waiter, which
    /// then gives up with [`Stop::Closed`].
    fn closed(_st: &Self::State) -> bool {
        false
    }

    /// Under the state lock, a waiter tagged `tag` gives up, as `left`
    /// says: still queued (it has just been removed), or handed a value it
    /// does not keep. Counts the abandoned wait and passes the value on.
    /// Not called for a waiter served without being handed anything (a
    /// sender whose message was taken: its send is done).
    fn abandon(&self, st: &mut Self::State, tag: K, left: Left<T>);

    /// What a waiter tagged `tag` waits for, as a deadlock report or a task
    /// dump names it (a `Mutex`, a channel `Recv`, a `RwLockWrite`, ...).
    fn wait_kind(tag: K) -> WaitKind;

    /// The id of the task holding what a waiter tagged `tag` waits for,
    /// read (without the state lock held) each time a waiter parks; 0 (the
    /// default) when unknown or not applicable.
    fn holder(&self, _tag: K) -> u64 {
        0
    }
}

/// What a primitive whose state is all under its state lock implements,
/// on that state, instead of [`Waitable`]: the same questions, asked of
/// the state. The state lock, `Mutex<Self>`, is then the [`Waitable`].
pub(crate) trait WaitState<T, K: Copy = ()> {
    /// The queue (see [`Waitable::queue`]).
    fn waiters(&mut self) -> &mut WaitQueue<T, K>;

    /// Whether waiting has become pointless (see [`Waitable::closed`]).
    fn closed(&self) -> bool {
        false
    }

    /// A waiter tagged `tag` gives up, as `left` says (see
    /// [`Waitable::abandon`]).
    fn abandon(&mut self, tag: K, left: Left<T>);

    /// What a waiter tagged `tag` waits for (see [`Waitable::wait_kind`]).
    fn wait_kind(tag: K) -> WaitKind;

    /// Who holds what a waiter tagged `tag` waits for (see
    /// [`Waitable::holder`]); 0 (the default) when unknown or not
    /// applicable.
    fn holder(&self, _tag: K) -> u64 {
        0
    }
}

impl<S: WaitState<T, K>, T, K: Copy> Waitable<T, K> for Mutex<S> {
    type State = S;

    fn state(&self) -> &Mutex<S> {
        self
    }

    fn queue(st: &mut S) -> &mut WaitQueue<T, K> {
        st.waiters()
    }

    fn closed(st: &S) -> bool {
        st.closed()
    }

    fn abandon(&self, st: &mut S, tag: K, left: Left<T>) {
        st.abandon(tag, left);
    }

    fn wait_kind(tag: K) -> WaitKind {
        S::wait_kind(tag)
    }

    fn holder(&self, tag: K) -> u64 {
        lock(self).holder(tag)
    }
}

/// How a waiter that gives up stood, for [`Waitable::abandon`].
#[derive(Debug)]
pub(crate) enum Left<T> {
    /// Still queued (now removed): nobody served it.
    Waiting,
    /// Served with this value, which it hands back.
    Handed(T),
}

/// Why [`Waiter::wait`] gave up (the waiter has left the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// [`Waitable::closed`] became true (never, for the primitives that
    /// keep its default).
    Closed,
    /// The task is unwinding and must not suspend.
    Unwinding,
    /// The deadline passed.
    Timeout,
}

/// A waiter's registration: who to wake, its tag, and its slot.
#[derive(Debug)]
struct Node<T, K> {
    waker: Waker,
    tag: K,
    slot: Mutex<Slot<T>>,
}

#[derive(Debug)]
struct Slot<T> {
    /// In its queue: neither served nor removed yet.
    queued: bool,
    /// What was handed over (or, for a sender, what it offers).
    value: Option<T>,
}

impl<T, K> Node<T, K> {
    /// By the serving side, having popped the node: marks it served, puts
    /// `value` in its slot, wakes it. Returns what the slot held.
    fn serve(&self, value: Option<T>) -> Option<T> {
        let old = {
            let mut slot = lock(&self.slot);
            slot.queued = false;
            std::mem::replace(&mut slot.value, value)
        };
        self.waker.wake();
        old
    }
}

/// A FIFO queue of waiters, kept in a primitive's state and used only
/// under its state lock.
#[derive(Debug)]
pub(crate) struct WaitQueue<T, K = ()> {
    nodes: VecDeque<Arc<Node<T, K>>>,
}

impl<T, K> Default for WaitQueue<T, K> {
    fn default() -> WaitQueue<T, K> {
        WaitQueue {
            nodes: VecDeque::new(),
        }
    }
}

impl<T, K: Copy> WaitQueue<T, K> {
    /// Waiters queued now.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The front waiter's tag.
    pub(crate) fn front_tag(&self) -> Option<K> {
        self.nodes.front().map(|n| n.tag)
    }

    /// How many waiters have a tag for which `f` holds.
    pub(crate) fn count(&self, f: impl Fn(K) -> bool) -> usize {
        self.nodes.iter().filter(|n| f(n.tag)).count()
    }

    /// Serves the front waiter with `value` (it is handed over, and the
    /// waiter woken); gives `value` back if nobody waits.
    pub(crate) fn serve_front(&mut self, value: T) -> Result<(), T> {
        match self.nodes.pop_front() {
            Some(node) => {
                node.serve(Some(value));
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Serves the back waiter, the most recent one, with `value`; gives
    /// `value` back if nobody waits. Only `Notify::notify_last` serves out
    /// of FIFO order.
    pub(crate) fn serve_back(&mut self, value: T) -> Result<(), T> {
        match self.nodes.pop_back() {
            Some(node) => {
                node.serve(Some(value));
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Serves the front waiter by taking the value it queued with (a
    /// blocked sender's message), and wakes it.
    pub(crate) fn take_front(&mut self) -> Option<T> {
        self.nodes.pop_front().and_then(|node| node.serve(None))
    }

    /// Serves every queued waiter with a copy of `value`; returns how many.
    pub(crate) fn serve_all(&mut self, value: T) -> u64
    where
        T: Clone,
    {
        let served = self.nodes.len() as u64;
        for node in self.nodes.drain(..) {
            node.serve(Some(value.clone()));
        }
        served
    }

    /// Wakes every queued waiter without serving it, so it re-checks the
    /// state (closed, disconnected).
    pub(crate) fn wake_all(&self) {
        for node in &self.nodes {
            node.waker.wake();
        }
    }

    /// Removes `node` if it is still queued; returns whether it was.
    fn remove(&mut self, node: &Arc<Node<T, K>>) -> bool {
        if !std::mem::replace(&mut lock(&node.slot).queued, false) {
            return false;
        }
        if let Some(i) = self.nodes.iter().position(|n| Arc::ptr_eq(n, node)) {
            self.nodes.remove(i);
        }
        true
    }
}

/// The guard of a queued waiter: [`wait`](Waiter::wait) parks until it is
/// served or gives up; dropping it before [`take`](Waiter::take) (on any
/// early exit, unwinding included) leaves the queue and passes on whatever
/// it had been handed.
#[must_use = "dropping a waiter leaves the queue at once"]
pub(crate) struct Waiter<'a, W: Waitable<T, K>, T, K: Copy = ()> {
    owner: &'a W,
    node: Arc<Node<T, K>>,
    /// Not yet left the queue nor taken its value.
    armed: bool,
}

impl<'a, W: Waitable<T, K>, T, K: Copy> Waiter<'a, W, T, K> {
    /// Queues the caller, tagged `tag`, at the back of `owner`'s queue;
    /// `st` is `owner`'s locked state, and `value` goes into the slot (a
    /// sender's message).
    pub(crate) fn enqueue(owner: &'a W, st: &mut W::State, tag: K, value: Option<T>) -> Self {
        let node = Arc::new(Node {
            waker: Waker::current(),
            tag,
            slot: Mutex::new(Slot {
                queued: true,
                value,
            }),
        });
        W::queue(st).nodes.push_back(node.clone());
        Waiter {
            owner,
            node,
            armed: true,
        }
    }

    /// Parks until served, then returns the locked state (the value handed
    /// over waits in the slot for [`take`](Waiter::take)). Gives up, having
    /// left the queue, when the state is [`closed`](Waitable::closed), the
    /// task is unwinding or `deadline` passes, checked in that order after
    /// every wake-up that did not serve it.
    pub(crate) fn wait(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<MutexGuard<'a, W::State>, Stop> {
        let owner = self.owner;
        let kind = W::wait_kind(self.node.tag);
        let object = WaitReason::object_id(owner.state());
        loop {
            let reason = WaitReason::new(kind, object).with_holder(owner.holder(self.node.tag));
            let parked = block(deadline, reason);
            let mut st = lock(owner.state());
            if !lock(&self.node.slot).queued {
                return Ok(st);
            }
            let stop = if W::closed(&st) {
                Stop::Closed
            } else if let Err(stop) = parked {
                stop
            } else if expired(deadline) {
                Stop::Timeout
            } else {
                continue;
            };
            self.leave(&mut st);
            return Err(stop);
        }
    }

    /// Ends the wait, keeping what the slot holds: the value handed over
    /// (after [`wait`](Waiter::wait) succeeded), or the waiter's own (after
    /// it gave up: a sender's message).
    pub(crate) fn take(mut self) -> Option<T> {
        self.armed = false;
        lock(&self.node.slot).value.take()
    }

    /// The one way out for a waiter that does not return success, under the
    /// state lock `st`.
    fn leave(&mut self, st: &mut W::State) {
        self.armed = false;
        let left = if W::queue(st).remove(&self.node) {
            Left::Waiting
        } else if let Some(value) = lock(&self.node.slot).value.take() {
            Left::Handed(value)
        } else {
            return;
        };
        self.owner.abandon(st, self.node.tag, left);
    }
}

impl<W: Waitable<T, K>, T, K: Copy> Drop for Waiter<'_, W, T, K> {
    fn drop(&mut self) {
        if self.armed {
            let owner = self.owner;
            self.leave(&mut lock(owner.state()));
        }
        // A value still in the slot (an unsent message) drops with the
        // node, after the state lock is released.
    }
}

/// Who to wake: a task (from any thread) or a plain thread.
#[derive(Debug)]
enum Waker {
    Task(Unparker),
    Thread(Thread),
}

impl Waker {
    /// The waker for the caller: its task, or its thread outside a task.
    fn current() -> Waker {
        match Unparker::current() {
            Some(u) => Waker::Task(u),
            None => Waker::Thread(std::thread::current()),
        }
    }

    fn wake(&self) {
        match self {
            Waker::Task(u) => u.unpark(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

/// Waits until woken, until `deadline`, or spuriously, recording `reason`
/// in the task. The one call that parks.
#[inline]
fn block(deadline: Option<Instant>, reason: WaitReason) -> Result<(), Stop> {
    match fibrio_core::task::park_for(reason, deadline) {
        Ok(()) => Ok(()),
        Err(ParkError::Unwinding) => Err(Stop::Unwinding),
        Err(ParkError::OutsideTask) => {
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    // Outside a task no simulation runs: the real clock.
                    let now = fibrio_core::time::now_std();
                    if d > now {
                        std::thread::park_timeout(d - now);
                    }
                }
            }
            Ok(())
        }
    }
}

/// Waits until the condition `signalled` holds in `owner`'s state
/// (`Ok(true)`) or `deadline` passes (`Ok(false)`), for a primitive whose
/// waiters all wait for one condition (an `Event` being set, a `WaitGroup`
/// reaching zero) and are all served with `()` when it comes to hold. A
/// checkpoint and a unit of the budget first ([`begin`]); a waiter that gives up, before queueing or after, is
/// counted by [`Waitable::abandon`].
pub(crate) fn wait_for_signal<W: Waitable<()>>(
    owner: &W,
    deadline: Option<Instant>,
    signalled: fn(&W::State) -> bool,
) -> Result<bool, WaitError> {
    begin();
    let mut waiter = {
        let mut st = lock(owner.state());
        if signalled(&st) {
            return Ok(true);
        }
        if expired(deadline) {
            owner.abandon(&mut st, (), Left::Waiting);
            return Ok(false);
        }
        Waiter::enqueue(owner, &mut st, (), None)
    };
    match waiter.wait(deadline) {
        Ok(_) => {
            waiter.take();
            Ok(true)
        }
        Err(Stop::Timeout) => Ok(false),
        Err(_) => Err(WaitError::Unwinding),
    }
}
