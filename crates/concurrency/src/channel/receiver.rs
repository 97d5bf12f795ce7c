//! The receiving half of a channel, and its iterators.
//!
//! Invariant: the channel's `receivers` count equals the number of live
//! `Receiver`s; the drop that brings it to zero wakes every waiting sender
//! (which takes its message back) and drops the queued messages.

use std::time::Duration;

use super::error::{RecvError, RecvTimeoutError, TryRecvError};
use super::shared::{self, Shared};
use super::ChannelStatistics;
use crate::wait::lock;

/// The receiving half of a channel; clone it for more consumers (each
/// message goes to exactly one). `Send` and `Sync` when `T: Send`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::unbounded();
/// tx.send(1).unwrap();
/// let rx2 = rx.clone();
/// assert_eq!(rx2.recv(), Ok(1));
/// assert!(rx.try_recv().is_err());
/// ```
pub struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> Receiver<T> {
    pub(crate) fn new(shared: Shared<T>) -> Receiver<T> {
        Receiver { shared }
    }

    /// Receives the next message, waiting until one arrives. Messages
    /// already queued are received even after every sender is gone.
    /// Inside a task this parks the task; outside any task it blocks the
    /// thread.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the channel is empty and every
    /// sender is gone (or the channel was [`close`](Receiver::close)d),
    /// [`RecvError::Unwinding`] if it would have to wait while the task
    /// unwinds.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled receiver never
    /// takes a message: one handed to it meanwhile goes to the next waiting
    /// receiver, or back to the front of the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::channel::{self, RecvError};
    ///
    /// fibrio::run(|| {
    ///     let (tx, rx) = channel::bounded(1);
    ///     fibrio::spawn(move || tx.send(5).unwrap());
    ///     assert_eq!(rx.recv(), Ok(5));
    ///     assert_eq!(rx.recv(), Err(RecvError::Disconnected)); // tx dropped
    /// });
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        shared::recv(&self.shared, None).map_err(|e| match e {
            RecvTimeoutError::Unwinding => RecvError::Unwinding,
            _ => RecvError::Disconnected,
        })
    }

    /// Receives the next message if one is there now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no message is ready,
    /// [`TryRecvError::Disconnected`] if the channel is empty and every
    /// sender is gone (or the channel was [`close`](Receiver::close)d).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::channel::{self, TryRecvError};
    ///
    /// let (tx, rx) = channel::unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        shared::try_recv(&self.shared)
    }

    /// Like [`recv`](Receiver::recv), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when the time is up,
    /// [`RecvTimeoutError::Disconnected`] once the channel is empty and
    /// every sender is gone (or the channel was
    /// [`close`](Receiver::close)d), [`RecvTimeoutError::Unwinding`] if it would
    /// have to wait while the task unwinds.
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Receiver::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::channel::{self, RecvTimeoutError};
    ///
    /// fibrio::run(|| {
    ///     let (_tx, rx) = channel::unbounded::<()>();
    ///     let err = rx.recv_timeout(Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, RecvTimeoutError::Timeout);
    /// });
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        shared::recv(&self.shared, crate::wait::deadline_after(timeout))
    }

    /// An iterator that receives until the channel is disconnected (empty,
    /// and every sender gone or [`close`](Receiver::close) called).
    ///
    /// # Cancellation
    ///
    /// Each step is a [`recv`](Receiver::recv), so a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages ready now; it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]); // tx is still alive
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// True if no message will ever be received again: the channel is
    /// empty, and every sender is gone or the channel was
    /// [`close`](Receiver::close)d. (A message handed to a receiver that
    /// then leaves still counts: it may come back.) So after a close it
    /// stays false until the queued messages are drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded::<()>();
    /// drop(tx);
    /// assert!(rx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        lock(&self.shared).recv_disconnected()
    }

    /// Closes the channel, for every sender and receiver, without dropping
    /// the receivers: no new message is accepted, but the messages already
    /// queued can still be received. Like tokio's `Receiver::close`.
    ///
    /// * Every send from now on ([`send`](super::Sender::send),
    ///   [`send_timeout`](super::Sender::send_timeout),
    ///   [`try_send`](super::Sender::try_send)) fails at once with its
    ///   `Disconnected` error, which hands the message back. Senders
    ///   blocked on a full (or `bounded(0)` rendezvous) channel wake and
    ///   fail the same way, with their messages back: none of them is sent.
    ///   [`Sender::is_disconnected`](super::Sender::is_disconnected) is
    ///   true from now on.
    /// * Receivers drain the queue (for `bounded(0)` it is empty, so they
    ///   are done at once), then get [`RecvError::Disconnected`] (and
    ///   `TryRecvError::Disconnected`, `RecvTimeoutError::Disconnected`),
    ///   as if every sender were gone; receivers waiting on an empty
    ///   channel wake with it. [`is_disconnected`](Receiver::is_disconnected)
    ///   turns true once the queue is drained.
    /// * [`ChannelStatistics::closed`](super::ChannelStatistics::closed) is
    ///   true from now on; `sent` counts only the messages accepted before
    ///   the close.
    ///
    /// Closing twice does nothing more. It does not block, and is not a
    /// cancellation checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::channel::{self, RecvError, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(4);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// rx.close();
    /// assert!(matches!(tx.try_send(3), Err(TrySendError::Disconnected(3))));
    /// assert!(tx.is_disconnected());
    /// assert_eq!(rx.recv(), Ok(1)); // queued messages are still delivered
    /// assert_eq!(rx.recv(), Ok(2));
    /// assert_eq!(rx.recv(), Err(RecvError::Disconnected)); // tx is still alive
    /// assert!(rx.is_disconnected());
    /// ```
    pub fn close(&self) {
        lock(&self.shared).close();
    }

    /// A snapshot of the channel's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded();
    /// tx.send(()).unwrap();
    /// rx.recv().unwrap();
    /// let stats = rx.statistics();
    /// assert_eq!((stats.sent, stats.received, stats.senders), (1, 1, 1));
    /// ```
    pub fn statistics(&self) -> ChannelStatistics {
        lock(&self.shared).statistics()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        lock(&self.shared).receivers += 1;
        Receiver {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let dropped = {
            let mut st = lock(&self.shared);
            st.receivers -= 1;
            if st.receivers == 0 {
                st.close_receivers_side()
            } else {
                Default::default()
            }
        };
        drop(dropped); // outside the lock: a message's Drop may use the channel
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// Receives until the channel is closed; from [`Receiver::iter`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// let mut it = rx.iter();
/// assert_eq!(it.next(), Some(1));
/// assert_eq!(it.next(), None);
/// ```
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// The messages ready now; from [`Receiver::try_iter`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::unbounded::<i32>();
/// assert_eq!(rx.try_iter().next(), None);
/// # drop(tx);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Receives until the channel is closed, owning the receiver; from
/// `Receiver::into_iter`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = fibrio_concurrency::channel::unbounded();
/// tx.send('a').unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().collect::<String>(), "a");
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
