//! Multi-producer multi-consumer channels: the "async queue" of PHP
//! AsyncIO, the PHP Fiber plus Workerman library that fibrio was modelled
//! on.
//!
//! [`bounded(n)`](bounded) holds at most `n` queued messages (senders wait
//! for room); `bounded(0)` is a rendezvous channel (each send waits for a
//! receiver to take the message). [`unbounded()`](unbounded) never makes a
//! sender wait. [`Sender`] and [`Receiver`] are both cloneable, `Send` and
//! `Sync` (for `T: Send`), so a thread outside the runtime can feed tasks.
//!
//! Invariants:
//! * Every message accepted by a send is received exactly once, or dropped
//!   with the channel after every receiver is gone; a message that was not
//!   accepted is handed back in the error ([`SendError::into_inner`]).
//! * Dropping every `Sender` closes the channel: every waiting receiver
//!   wakes, receivers first drain the messages already queued, then get
//!   `Disconnected`. Dropping every `Receiver` wakes every waiting sender,
//!   which gets its message back.
//! * [`Receiver::close`] closes the channel from the receiving side, for
//!   every sender and receiver: from then on every send fails with
//!   `Disconnected` and hands its message back (blocked senders wake and
//!   do so too), while receivers drain the messages already queued, then
//!   get `Disconnected`, as if every sender were gone.
//! * Messages are received in the order they were accepted; blocked
//!   senders and receivers are served FIFO.
//! * Blocking calls are cancellation checkpoints, and a cancelled waiter
//!   neither loses nor steals a message (see `shared.rs`).
//! * A `send` or `recv` that completes at once spends a unit of the task's
//!   cooperative budget ([`fibrio_core::coop`]); once every
//!   [`BUDGET`](fibrio_core::coop::BUDGET) of them the call yields first,
//!   before it takes or gives anything, so a consumer whose channel never
//!   runs dry still lets the other tasks (and the timers) run.
//!
//! # Examples
//!
//! ```
//! use fibrio_concurrency::channel;
//!
//! fibrio::run(|| {
//!     let (tx, rx) = channel::bounded(2);
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let rx = rx.clone();
//!             fibrio::spawn(move || rx.iter().map(|n: u32| n * n).sum::<u32>())
//!         })
//!         .collect();
//!     drop(rx);
//!     for n in 1..=4 {
//!         tx.send(n).unwrap();
//!     }
//!     drop(tx); // closes the channel: the workers' loops end
//!     let total: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
//!     assert_eq!(total, 1 + 4 + 9 + 16);
//! });
//! ```

mod error;
mod receiver;
mod sender;
mod shared;

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use receiver::{IntoIter, Iter, Receiver, TryIter};
pub use sender::Sender;

/// A channel that queues at most `capacity` messages; `send` waits for
/// room. `bounded(0)` is a rendezvous channel: `send` waits until a
/// receiver takes the message.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel::{self, TrySendError};
///
/// let (tx, rx) = channel::bounded(1);
/// tx.try_send(1).unwrap();
/// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = shared::new(Some(capacity));
    (Sender::new(shared.clone()), Receiver::new(shared))
}

/// A channel without a bound: `send` never waits.
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().count(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let shared = shared::new(None);
    (Sender::new(shared.clone()), Receiver::new(shared))
}

/// A snapshot of a channel's counters, from [`Sender::statistics`] or
/// [`Receiver::statistics`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::bounded(2);
/// tx.send('a').unwrap();
/// let stats = rx.statistics();
/// assert_eq!((stats.queued, stats.capacity), (1, Some(2)));
/// assert_eq!((stats.senders, stats.receivers, stats.closed), (1, 1, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChannelStatistics {
    /// Messages in the queue now.
    pub queued: usize,
    /// The bound, or `None` for an unbounded channel.
    pub capacity: Option<usize>,
    /// Live `Sender`s.
    pub senders: usize,
    /// Live `Receiver`s.
    pub receivers: usize,
    /// Messages accepted since creation.
    pub sent: u64,
    /// Messages received since creation.
    pub received: u64,
    /// Senders waiting for room (or, for `bounded(0)`, for a receiver).
    pub waiting_senders: usize,
    /// Receivers waiting for a message.
    pub waiting_receivers: usize,
    /// Whether [`Receiver::close`] has been called: sends fail, and the
    /// `queued` messages are the last ones to be received.
    pub closed: bool,
}
