//! fibrio's concurrency toolkit: synchronisation primitives that park
//! fibrio *tasks* rather than threads.
//!
//! * [`Semaphore`]: counting semaphore with RAII permits ([`SemaphorePermit`]),
//!   FIFO waiters, timeouts and `close`.
//! * [`channel`]: multi-producer multi-consumer channels, [`bounded`](channel::bounded)
//!   (including the rendezvous `bounded(0)`) and [`unbounded`](channel::unbounded).
//!
//! # Invariants shared by every primitive
//!
//! * Every blocking call is a cancellation checkpoint: it calls
//!   [`checkpoint`](fibrio_core::task::checkpoint) first, and parks through
//!   `fibrio_core`'s `park` (which unwinds a cancelled task).
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
mod semaphore;
mod wait;

pub use semaphore::{
    AcquireError, Semaphore, SemaphorePermit, SemaphoreStatistics, TryAcquireError,
};
