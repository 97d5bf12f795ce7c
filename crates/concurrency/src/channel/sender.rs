//! The sending half of a channel.
//!
//! Invariant: the channel's `senders` count equals the number of live
//! `Sender`s; the drop that brings it to zero wakes every waiting receiver.

use std::time::Duration;

use super::error::{SendError, SendTimeoutError, TrySendError};
use super::shared::{self, Shared};
use super::ChannelStatistics;
use crate::wait::lock;

/// The sending half of a channel; clone it for more producers. `Send` and
/// `Sync` when `T: Send`, so another thread can feed a runtime's tasks.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel;
///
/// let (tx, rx) = channel::unbounded();
/// let feeder = std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
/// });
/// let got: Vec<i32> = fibrio::run(move || rx.iter().collect());
/// feeder.join().unwrap();
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct Sender<T> {
    shared: Shared<T>,
}

impl<T> Sender<T> {
    pub(crate) fn new(shared: Shared<T>) -> Sender<T> {
        Sender { shared }
    }

    /// Sends `msg`, waiting while the channel is full (for `bounded(0)`,
    /// until a receiver takes it). Inside a task this parks the task;
    /// outside any task it blocks the thread.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if every receiver is gone or one
    /// [`close`](super::Receiver::close)d the channel (also while waiting), [`SendError::Unwinding`] if it would have to wait while
    /// the task unwinds. Both return the message.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled send did not
    /// happen: its message is dropped with the task's stack, and no
    /// receiver sees it. If a receiver had already taken it, the send
    /// happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::channel;
    ///
    /// fibrio::run(|| {
    ///     let (tx, rx) = channel::bounded(0); // rendezvous
    ///     let receiver = fibrio::spawn(move || rx.recv().unwrap());
    ///     tx.send("hello").unwrap(); // waits until `receiver` takes it
    ///     assert_eq!(receiver.join().unwrap(), "hello");
    /// });
    /// ```
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        shared::send(&self.shared, msg, None).map_err(|e| match e {
            SendTimeoutError::Unwinding(m) => SendError::Unwinding(m),
            // Without a deadline there is no `Timeout`.
            SendTimeoutError::Disconnected(m) | SendTimeoutError::Timeout(m) => {
                SendError::Disconnected(m)
            }
        })
    }

    /// Like [`send`](Sender::send), but gives up after `timeout`: sends
    /// `msg` once there is room (for `bounded(0)`, once a receiver takes
    /// it), or hands it back. A zero timeout waits for nothing, like
    /// [`try_send`](Sender::try_send). A timeout too large to represent
    /// waits as long as it takes.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] when the time is up (the sender leaves
    /// the queue, and no receiver sees the message),
    /// [`SendTimeoutError::Disconnected`] if every receiver is gone or one
    /// [`close`](super::Receiver::close)d the channel (also while waiting:
    /// it is reported at once, not at the timeout), [`SendTimeoutError::Unwinding`] if it would have to
    /// wait while the task unwinds. Every one returns the message.
    ///
    /// # Cancellation
    ///
    /// As [`send`](Sender::send): a checkpoint, on entry and while
    /// waiting; a cancelled send did not happen unless a receiver had
    /// already taken the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::channel::{self, SendTimeoutError};
    ///
    /// fibrio::run(|| {
    ///     let (tx, rx) = channel::bounded(1);
    ///     tx.send_timeout(1, Duration::from_millis(5)).unwrap();
    ///     // Full, and nobody receives in time: 2 comes back.
    ///     let err = tx.send_timeout(2, Duration::from_millis(5)).unwrap_err();
    ///     assert!(matches!(err, SendTimeoutError::Timeout(2)));
    ///     assert_eq!(rx.recv(), Ok(1));
    /// });
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        shared::send(&self.shared, msg, crate::wait::deadline_after(timeout))
    }

    /// Sends `msg` if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the channel is full (for `bounded(0)`: no
    /// receiver is waiting), [`TrySendError::Disconnected`] if every
    /// receiver is gone or one [`close`](super::Receiver::close)d the
    /// channel. Both return the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::channel::{self, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    /// drop(rx);
    /// assert!(matches!(tx.try_send(3), Err(TrySendError::Disconnected(3))));
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        shared::try_send(&self.shared, msg)
    }

    /// True if every send will fail with `Disconnected`: every receiver is
    /// gone, or one [`close`](super::Receiver::close)d the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded::<()>();
    /// assert!(!tx.is_disconnected());
    /// rx.close();
    /// assert!(tx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        lock(&self.shared).send_disconnected()
    }

    /// A snapshot of the channel's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = fibrio_concurrency::channel::bounded(4);
    /// tx.send(1).unwrap();
    /// let stats = tx.statistics();
    /// assert_eq!((stats.queued, stats.sent, stats.capacity), (1, 1, Some(4)));
    /// ```
    pub fn statistics(&self) -> ChannelStatistics {
        lock(&self.shared).statistics()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        lock(&self.shared).senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        st.senders -= 1;
        if st.senders == 0 {
            st.close_senders_side();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("statistics", &self.statistics())
            .finish()
    }
}
