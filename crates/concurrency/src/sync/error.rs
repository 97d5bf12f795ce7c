//! The errors of the [`sync`](crate::sync) primitives.
//!
//! Invariants: every call that can block has an `Unwinding` error (it never
//! suspends a task that is unwinding); only the forms with a timeout ever
//! return [`LockError::Timeout`]. The enums are plain `Copy` values, so
//! they can be compared in tests and carried across threads.

/// Why [`Mutex::lock`](super::Mutex::lock), [`RwLock::read`](super::RwLock::read),
/// [`RwLock::write`](super::RwLock::write) or their `_timeout` forms failed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::sync::{LockError, Mutex};
///
/// fibrio::run(|| {
///     let m = Mutex::new(());
///     let _held = m.lock().unwrap();
///     let err = m.lock_timeout(Duration::from_millis(1)).unwrap_err();
///     assert_eq!(err, LockError::Timeout);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The timeout passed before the lock could be taken (only from the
    /// `_timeout` forms). The caller left the queue and holds nothing.
    #[error(
        "timed out waiting for the lock; retry, raise the timeout, or hold the lock for shorter"
    )]
    Timeout,
    /// The lock is taken and the calling task is unwinding, so it must not
    /// suspend; do not take locks in `Drop`.
    #[error("cannot wait for a lock while the task is unwinding; do not block in Drop")]
    Unwinding,
}

/// Why [`Mutex::try_lock`](super::Mutex::try_lock),
/// [`RwLock::try_read`](super::RwLock::try_read) or
/// [`RwLock::try_write`](super::RwLock::try_write) failed.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::sync::{Mutex, TryLockError};
///
/// let m = Mutex::new(1);
/// let _held = m.try_lock().unwrap();
/// assert_eq!(m.try_lock().unwrap_err(), TryLockError::WouldBlock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryLockError {
    /// The lock is held, or other tasks are already queued for it (they
    /// are served first).
    #[error(
        "the lock is held or other tasks are queued for it; use the blocking form to wait your turn"
    )]
    WouldBlock,
}

/// Why a wait on a [`Condvar`](super::Condvar), [`Event`](super::Event),
/// [`Notify`](super::Notify), [`WaitGroup`](super::WaitGroup) or
/// [`Barrier`](super::Barrier) failed. A timeout is not an error for these:
/// the `wait_timeout` forms report it in their `Ok` value.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::sync::WaitError;
///
/// let err = WaitError::Unwinding;
/// assert!(err.to_string().contains("do not block in Drop"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The wait would have to suspend and the calling task is unwinding;
    /// do not wait in `Drop`.
    #[error("cannot wait while the task is unwinding; do not block in Drop")]
    Unwinding,
}
