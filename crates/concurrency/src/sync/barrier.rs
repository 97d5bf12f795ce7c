//! A reusable barrier, like `std::sync::Barrier`, whose waiters are tasks.
//!
//! Invariants (all under the `state` mutex):
//! * `parties` is fixed at creation (0 behaves as 1, as in std).
//! * `arrived` counts the waiters of the current generation; it stays
//!   below `parties`, and equals `waiters.len()`: every arrival queues,
//!   except the one that brings `arrived` up to `parties`. That arrival is
//!   the leader: it hands a token to every queued waiter, empties the
//!   queue, resets `arrived` to zero and bumps `generation`, all at once,
//!   so exactly `parties` waits return per generation.
//! * A waiter that leaves before its generation is released (cancelled,
//!   unwinding) removes its node and its arrival in a `Drop` guard, so the
//!   generation still waits for `parties` live arrivals. A waiter already
//!   released that is cancelled before it runs leaves nothing behind: its
//!   generation is complete.

use super::error::WaitError;
use crate::wait::{lock, Left, WaitQueue, WaitState, Waiter};

/// A snapshot of a barrier's state and counters, from
/// [`Barrier::statistics`].
///
/// # Examples
///
/// ```
/// let barrier = fibrio_concurrency::sync::Barrier::new(1);
/// assert!(barrier.wait().unwrap().is_leader());
/// let stats = barrier.statistics();
/// assert_eq!((stats.parties, stats.waiting, stats.generation), (1, 0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BarrierStatistics {
    /// How many waits release a generation.
    pub parties: usize,
    /// Tasks or threads waiting in the current generation.
    pub waiting: usize,
    /// Generations released since creation.
    pub generation: u64,
    /// Waits that ended before their generation was released (cancelled,
    /// unwinding).
    pub abandoned: u64,
}

/// What [`Barrier::wait`] returns: whether this caller was the leader of
/// its generation.
///
/// # Examples
///
/// ```
/// let barrier = fibrio_concurrency::sync::Barrier::new(1);
/// let result = barrier.wait().unwrap();
/// assert!(result.is_leader());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// True for exactly one wait per generation: the last arrival, which
    /// released the others.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = fibrio_concurrency::sync::Barrier::new(0); // acts as 1
    /// assert!(barrier.wait().unwrap().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

#[derive(Debug, Default)]
struct State {
    arrived: usize,
    waiters: WaitQueue<()>,
    generation: u64,
    abandoned: u64,
}

impl WaitState<()> for State {
    fn waiters(&mut self) -> &mut WaitQueue<()> {
        &mut self.waiters
    }

    fn wait_kind(_: ()) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Barrier
    }

    /// A waiter that leaves before its generation is released withdraws
    /// its arrival; one already released leaves nothing behind.
    fn abandon(&mut self, _: (), left: Left<()>) {
        if let Left::Waiting = left {
            self.arrived -= 1;
            self.abandoned += 1;
        }
    }
}

/// Lets a fixed number of tasks wait for each other: each
/// [`wait`](Barrier::wait) parks until `n` waits have arrived, then all
/// `n` return together and the barrier starts the next generation, like
/// `std::sync::Barrier`.
///
/// A waiter that is cancelled before its generation is released is not
/// counted: the generation still needs `n` waits that return. `Send +
/// Sync`; share it through an [`Arc`](std::sync::Arc). Outside any task,
/// `wait` blocks the thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::Barrier;
///
/// fibrio::run(|| {
///     let barrier = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             fibrio::spawn(move || b.wait().unwrap().is_leader())
///         })
///         .collect();
///     let leaders = tasks.into_iter().map(|t| t.join().unwrap());
///     assert_eq!(leaders.filter(|&leader| leader).count(), 1);
/// });
/// ```
#[derive(Debug)]
pub struct Barrier {
    parties: usize,
    state: std::sync::Mutex<State>,
}

impl Barrier {
    /// A barrier that releases every `n` waits (`0` behaves as `1`).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = fibrio_concurrency::sync::Barrier::new(4);
    /// assert_eq!(barrier.statistics().parties, 4);
    /// ```
    pub fn new(n: usize) -> Barrier {
        Barrier {
            parties: n,
            state: std::sync::Mutex::new(State::default()),
        }
    }

    /// Waits until `n` waits (this one included) have arrived in this
    /// generation, then returns; the last arrival is the leader and does
    /// not wait.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not wait in `Drop`). The failed call is not counted as
    /// an arrival.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A waiter cancelled before
    /// its generation is released withdraws its arrival.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Barrier;
    ///
    /// fibrio::run(|| {
    ///     let barrier = Arc::new(Barrier::new(2));
    ///     let b2 = barrier.clone();
    ///     let other = fibrio::spawn(move || b2.wait().unwrap());
    ///     let mine = barrier.wait().unwrap(); // waits for `other`
    ///     let theirs = other.join().unwrap();
    ///     assert!(mine.is_leader() != theirs.is_leader());
    /// });
    /// ```
    pub fn wait(&self) -> Result<BarrierWaitResult, WaitError> {
        crate::wait::begin();
        let mut waiter = {
            let mut st = lock(&self.state);
            if st.arrived + 1 >= self.parties {
                st.arrived = 0;
                st.generation += 1;
                st.waiters.serve_all(());
                return Ok(BarrierWaitResult { leader: true });
            }
            st.arrived += 1;
            Waiter::enqueue(&self.state, &mut st, (), None)
        };
        match waiter.wait(None) {
            Ok(_) => {
                waiter.take();
                Ok(BarrierWaitResult { leader: false })
            }
            Err(_) => Err(WaitError::Unwinding),
        }
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Barrier;
    ///
    /// fibrio::run(|| {
    ///     let barrier = Arc::new(Barrier::new(2));
    ///     let b2 = barrier.clone();
    ///     let other = fibrio::spawn(move || b2.wait().map(drop));
    ///     fibrio::yield_now(); // `other` arrives and waits
    ///     assert_eq!(barrier.statistics().waiting, 1);
    ///     barrier.wait().unwrap();
    ///     other.join().unwrap().unwrap();
    ///     assert_eq!(barrier.statistics().generation, 1);
    /// });
    /// ```
    pub fn statistics(&self) -> BarrierStatistics {
        let st = lock(&self.state);
        BarrierStatistics {
            parties: self.parties,
            waiting: st.arrived,
            generation: st.generation,
            abandoned: st.abandoned,
        }
    }
}
