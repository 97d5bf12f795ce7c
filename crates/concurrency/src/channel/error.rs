//! The channel's error types. Every error that carries an undelivered
//! message hands it back (`into_inner`), so a failed send never loses it.

/// Why [`Sender::send`](super::Sender::send) failed. The message comes back.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel::{self, SendError};
///
/// let (tx, rx) = channel::unbounded();
/// drop(rx);
/// assert_eq!(tx.send("hi"), Err(SendError::Disconnected("hi")));
/// ```
#[derive(PartialEq, Eq, Clone, Copy, thiserror::Error)]
pub enum SendError<T> {
    /// Every [`Receiver`](super::Receiver) is gone, or one closed the
    /// channel ([`Receiver::close`](super::Receiver::close)), before or
    /// while waiting; nobody will ever receive the message.
    #[error(
        "sending on a channel whose receivers are all dropped or that a receiver closed; stop sending, or keep a Receiver alive and do not close it"
    )]
    Disconnected(T),
    /// The channel was full and the calling task is unwinding, so it could
    /// not wait; do not send on a full channel in `Drop`.
    #[error("cannot wait to send while the task is unwinding; do not block in Drop")]
    Unwinding(T),
}

impl<T> SendError<T> {
    /// The message that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = fibrio_concurrency::channel::unbounded();
    /// drop(rx);
    /// assert_eq!(tx.send(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Disconnected(t) | SendError::Unwinding(t) => t,
        }
    }
}

impl<T> std::fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Disconnected(_) => f.write_str("Disconnected(..)"),
            SendError::Unwinding(_) => f.write_str("Unwinding(..)"),
        }
    }
}

/// Why [`Sender::send_timeout`](super::Sender::send_timeout) failed. The
/// message comes back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::channel::{self, SendTimeoutError};
///
/// let (tx, _rx) = channel::bounded(1);
/// tx.send(1).unwrap();
/// let err = tx.send_timeout(2, Duration::ZERO).unwrap_err();
/// assert_eq!(err, SendTimeoutError::Timeout(2));
/// ```
#[derive(PartialEq, Eq, Clone, Copy, thiserror::Error)]
pub enum SendTimeoutError<T> {
    /// The channel stayed full (for `bounded(0)`: no receiver took the
    /// message) until the timeout passed.
    #[error(
        "timed out waiting for room in the channel; retry, or raise the timeout or the capacity"
    )]
    Timeout(T),
    /// Every [`Receiver`](super::Receiver) is gone, or one closed the
    /// channel ([`Receiver::close`](super::Receiver::close)), before or
    /// while waiting; nobody will ever receive the message.
    #[error(
        "sending on a channel whose receivers are all dropped or that a receiver closed; stop sending, or keep a Receiver alive and do not close it"
    )]
    Disconnected(T),
    /// The channel was full and the calling task is unwinding, so it could
    /// not wait; do not send on a full channel in `Drop`.
    #[error("cannot wait to send while the task is unwinding; do not block in Drop")]
    Unwinding(T),
}

impl<T> SendTimeoutError<T> {
    /// The message that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = fibrio_concurrency::channel::bounded(0);
    /// let err = tx.send_timeout(7, Duration::ZERO).unwrap_err();
    /// assert_eq!(err.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(t)
            | SendTimeoutError::Disconnected(t)
            | SendTimeoutError::Unwinding(t) => t,
        }
    }

    /// True for [`SendTimeoutError::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = fibrio_concurrency::channel::bounded(0);
    /// assert!(tx.send_timeout((), Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// True for [`SendTimeoutError::Disconnected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = fibrio_concurrency::channel::bounded(1);
    /// drop(rx);
    /// assert!(tx.send_timeout((), Duration::ZERO).unwrap_err().is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> SendTimeoutError<T> {
        match err {
            SendError::Disconnected(t) => SendTimeoutError::Disconnected(t),
            SendError::Unwinding(t) => SendTimeoutError::Unwinding(t),
        }
    }
}

impl<T> std::fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
            SendTimeoutError::Unwinding(_) => f.write_str("Unwinding(..)"),
        }
    }
}

/// Why [`Sender::try_send`](super::Sender::try_send) failed. The message
/// comes back.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel::{self, TrySendError};
///
/// let (tx, rx) = channel::bounded(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
/// ```
#[derive(PartialEq, Eq, Clone, Copy, thiserror::Error)]
pub enum TrySendError<T> {
    /// The channel is full (for `bounded(0)`: no receiver is waiting).
    /// Use `send` to wait for room.
    #[error("the channel is full; use send() to wait for room")]
    Full(T),
    /// Every [`Receiver`](super::Receiver) is gone, or one closed the
    /// channel ([`Receiver::close`](super::Receiver::close)).
    #[error(
        "sending on a channel whose receivers are all dropped or that a receiver closed; stop sending, or keep a Receiver alive and do not close it"
    )]
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = fibrio_concurrency::channel::bounded(0);
    /// assert_eq!(tx.try_send(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(t) | TrySendError::Disconnected(t) => t,
        }
    }
}

impl<T> std::fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

/// Why [`Receiver::recv`](super::Receiver::recv) failed.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel::{self, RecvError};
///
/// let (tx, rx) = channel::unbounded::<i32>();
/// drop(tx);
/// assert_eq!(rx.recv(), Err(RecvError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The channel is empty and every [`Sender`](super::Sender) is gone,
    /// or a receiver closed it ([`Receiver::close`](super::Receiver::close)).
    #[error(
        "the channel is empty and all its senders are dropped, or a receiver closed it; no message will arrive, so stop receiving"
    )]
    Disconnected,
    /// The channel was empty and the calling task is unwinding, so it could
    /// not wait; do not receive in `Drop`.
    #[error("cannot wait to receive while the task is unwinding; do not block in Drop")]
    Unwinding,
}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) failed.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::channel::{self, TryRecvError};
///
/// let (tx, rx) = channel::unbounded::<i32>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// No message now; use `recv` to wait for one.
    #[error("the channel is empty; use recv() to wait for a message")]
    Empty,
    /// The channel is empty and every [`Sender`](super::Sender) is gone,
    /// or a receiver closed it ([`Receiver::close`](super::Receiver::close)).
    #[error(
        "the channel is empty and all its senders are dropped, or a receiver closed it; no message will arrive, so stop receiving"
    )]
    Disconnected,
}

/// Why [`Receiver::recv_timeout`](super::Receiver::recv_timeout) failed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::channel::{self, RecvTimeoutError};
///
/// fibrio::run(|| {
///     let (tx, rx) = channel::unbounded::<i32>();
///     let err = rx.recv_timeout(Duration::from_millis(1)).unwrap_err();
///     assert_eq!(err, RecvTimeoutError::Timeout);
///     drop(tx);
///     let err = rx.recv_timeout(Duration::from_millis(1)).unwrap_err();
///     assert_eq!(err, RecvTimeoutError::Disconnected);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// No message arrived in time.
    #[error("timed out waiting for a message; retry, or raise the timeout")]
    Timeout,
    /// The channel is empty and every [`Sender`](super::Sender) is gone,
    /// or a receiver closed it ([`Receiver::close`](super::Receiver::close)).
    #[error(
        "the channel is empty and all its senders are dropped, or a receiver closed it; no message will arrive, so stop receiving"
    )]
    Disconnected,
    /// The channel was empty and the calling task is unwinding, so it could
    /// not wait; do not receive in `Drop`.
    #[error("cannot wait to receive while the task is unwinding; do not block in Drop")]
    Unwinding,
}
