//! fibrio's concurrency toolkit: structured concurrency, and
//! synchronisation primitives that park fibrio *tasks* rather than threads.
//!
//! * [`mod@gather`]: [`gather`](fn@gather), [`gather_with`] ([`GatherStrategy`]),
//!   [`gather_partial`] and [`gather!`](macro@gather): wait for many tasks, fail-fast or
//!   wait-all, with a [`GatherError`] report that names every failure.
//! * [`mod@select`]: [`select`](fn@select) (the first task to end wins) and [`race`]
//!   (the first success wins); the losers are cancelled and waited for.
//! * [`TaskGroup`]: no child outlives [`TaskGroup::scope`]; the first
//!   failure cancels the rest, and every failure is reported.
//!   [`TaskGroup::try_scope`] lets the body end the group with an error
//!   value, and a [`TaskGroupHandle`] lets children spawn siblings.
//! * [`JoinSet`]: tokio's set of tasks, joined in completion order;
//!   dropping it cancels what is left and waits for it.
//! * [`wait_for`] and [`timeout`]: deadlines on a task and on a closure.
//!   Cancel scopes themselves ([`CancelScope`](fibrio_core::task::CancelScope),
//!   `move_on_after`, `fail_after`, `move_on_at`, `fail_at`) live in
//!   `fibrio_core::task`.
//! * [`Semaphore`]: counting semaphore with RAII permits ([`SemaphorePermit`]),
//!   FIFO waiters, multi-permit requests (`acquire_many`), timeouts and
//!   `close`.
//! * [`sync`]: [`Mutex`](sync::Mutex), [`RwLock`](sync::RwLock),
//!   [`Condvar`](sync::Condvar), [`Event`](sync::Event),
//!   [`Notify`](sync::Notify), [`WaitGroup`](sync::WaitGroup) and
//!   [`Barrier`](sync::Barrier), each with `statistics()`.
//! * [`channel`]: multi-producer multi-consumer channels, [`bounded`](channel::bounded)
//!   (including the rendezvous `bounded(0)`) and [`unbounded`](channel::unbounded):
//!   the "async queue" of PHP AsyncIO, the PHP Fiber plus Workerman library
//!   that fibrio was modelled on.
//! * [`mod@retry`]: [`RetryPolicy`] and [`retry`](fn@retry), backoff with jitter that
//!   honours cancellation.
//!
//! # Invariants shared by every primitive
//!
//! * Every blocking call is a cancellation checkpoint: it calls
//!   [`checkpoint_if_cancelled`](fibrio_core::task::checkpoint_if_cancelled)
//!   first (which does not yield: an uncontended acquire is not a schedule
//!   point), and parks through `fibrio_core`'s `park` (which unwinds a
//!   cancelled task).
//! * Waiters queue in FIFO order. A waiter that leaves early (cancelled,
//!   timed out) removes itself in a `Drop` guard, and passes on whatever it
//!   was handed in the meantime (a permit, a message), so nothing is lost or
//!   leaked.
//! * A blocking call reached while the task is unwinding never suspends: it
//!   returns an `Unwinding` error instead (do not block in `Drop`).
//! * The shared state is `Send + Sync` (a `std::sync::Mutex`), so the types
//!   work across threads: outside any task, a blocking call blocks the
//!   thread.
//!
//! # Examples
//!
//! ```
//! use fibrio_concurrency::{channel, Semaphore};
//!
//! fibrio::run(|| {
//!     let (tx, rx) = channel::bounded(1);
//!     let sem = Semaphore::new(2);
//!     let producer = fibrio::spawn(move || {
//!         for i in 0..3 {
//!             let _permit = sem.acquire().unwrap();
//!             tx.send(i).unwrap();
//!         }
//!     });
//!     let got: Vec<i32> = rx.iter().collect(); // ends when `tx` is dropped
//!     producer.join().unwrap();
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```

#![forbid(unsafe_code)]

pub mod channel;
pub mod gather;
mod join_set;
pub mod retry;
pub mod select;
mod semaphore;
pub mod sync;
mod task_group;
mod timeout;
mod wait;

pub use gather::{gather, gather_partial, gather_with, GatherError, GatherFailure, GatherStrategy};
pub use join_set::JoinSet;
pub use retry::{retry, RetryError, RetryPolicy};
pub use select::{race, select, RaceError, SelectError};
pub use task_group::{
    ChildFailure, TaskGroup, TaskGroupError, TaskGroupHandle, TaskGroupSpawnError,
};
pub use timeout::{timeout, wait_for, WaitForError};

pub use semaphore::{
    AcquireError, Semaphore, SemaphorePermit, SemaphoreStatistics, TryAcquireError,
};
