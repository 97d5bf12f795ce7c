//! Deadlines on tasks and closures: [`wait_for`] (asyncio's `wait_for`)
//! and [`timeout`].
//!
//! Both are built on [`CancelScope`]: the wait happens inside a scope with
//! a deadline, whose wake-up is disarmed however the wait ends, so a
//! finished wait never leaves a timer behind.
//!
//! Invariants:
//! * [`wait_for`] never returns while the task it gave up on is still
//!   running: on expiry it cancels the task and waits (shielded) until the
//!   task has ended, so the body really stopped. PHP AsyncIO (the PHP
//!   library fibrio was modelled on) only marked the task and let its body
//!   run on.
//! * If the *caller* is cancelled while it waits, the awaited task is
//!   cancelled too (as in asyncio), and the caller's cancellation goes on.
//! * A timeout never hides a failure: if the task, once cancelled for the
//!   timeout, ends by panicking (it caught the cancellation and then
//!   panicked, say) rather than ending cancelled, that panic is reported
//!   ([`WaitForError::FailedWhileCancelled`]), not [`WaitForError::Elapsed`]
//!   (asyncio's `wait_for` re-raises such an exception too).

use std::time::Duration;

use fibrio_core::task::{fail_after, CancelScope, Elapsed, JoinError, JoinHandle};

/// Why [`wait_for`] returned no value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::{wait_for, WaitForError};
///
/// fibrio::run(|| {
///     let gone = fibrio::spawn(|| 1);
///     gone.cancel();
///     let err = wait_for(gone, Duration::from_secs(1)).unwrap_err();
///     assert!(matches!(err, WaitForError::Failed(ref e) if e.is_cancelled()));
/// });
/// ```
#[derive(Debug, thiserror::Error)]
pub enum WaitForError {
    /// The timeout passed first. The task was cancelled, and ended
    /// cancelled by the time `wait_for` returned.
    #[error("{0}; the task was cancelled")]
    Elapsed(Elapsed),
    /// The task ended without a value, before the timeout.
    #[error("the task failed before the timeout: {0}")]
    Failed(JoinError),
    /// The timeout passed and the task was cancelled, but it did not end
    /// cancelled: it failed on its way out (typically it caught the
    /// cancellation and then panicked, giving
    /// [`JoinError::Panicked`]). This is the task's failure, reported
    /// rather than hidden behind the timeout; `error` holds it, payload and
    /// all. [`is_elapsed`](WaitForError::is_elapsed) is false for it.
    #[error(
        "the timeout of {:?} passed, and the task failed while being cancelled: {error}",
        .elapsed.timeout()
    )]
    FailedWhileCancelled {
        /// The timeout that passed.
        elapsed: Elapsed,
        /// How the task ended (not [`JoinError::Cancelled`]).
        error: JoinError,
    },
}

impl WaitForError {
    /// True if the timeout passed and the task ended cancelled
    /// ([`WaitForError::Elapsed`]); false when the task failed, even while
    /// being cancelled for the timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::wait_for;
    ///
    /// fibrio::run(|| {
    ///     let slow = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(60)));
    ///     assert!(wait_for(slow, Duration::from_millis(1)).unwrap_err().is_elapsed());
    /// });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self, WaitForError::Elapsed(_))
    }

    /// The task's own failure, if it failed (before the timeout, or while
    /// being cancelled for it); `None` for [`WaitForError::Elapsed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::wait_for;
    ///
    /// fibrio::run(|| {
    ///     let gone = fibrio::spawn(|| 1);
    ///     gone.cancel();
    ///     let err = wait_for(gone, Duration::from_secs(1)).unwrap_err();
    ///     assert!(err.task_error().unwrap().is_cancelled());
    ///     let slow = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(60)));
    ///     assert!(wait_for(slow, Duration::from_millis(1)).unwrap_err().task_error().is_none());
    /// });
    /// ```
    pub fn task_error(&self) -> Option<&JoinError> {
        match self {
            WaitForError::Elapsed(_) => None,
            WaitForError::Failed(error) | WaitForError::FailedWhileCancelled { error, .. } => {
                Some(error)
            }
        }
    }
}

/// Waits at most `timeout` for the task behind `handle` to finish, and
/// returns its value. On expiry the task is cancelled, and `wait_for`
/// returns only once it has ended (its body stops at its next checkpoint,
/// running its `Drop`s).
///
/// # Errors
///
/// [`WaitForError::Elapsed`] if the timeout passed first and the task,
/// cancelled, ended cancelled;
/// [`WaitForError::FailedWhileCancelled`] if the timeout passed but the
/// cancelled task ended by failing instead (it panicked while being
/// cancelled: the panic is reported, not turned into a timeout);
/// [`WaitForError::Failed`] if the task panicked or was cancelled by
/// someone else before the timeout, or the caller cannot wait (outside a
/// task, unwinding).
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, the
/// awaited task is cancelled too, and the caller unwinds. On the timeout,
/// the task is cancelled and waited for; what it ends with decides the
/// result: a value is kept (it finished right at the deadline), a
/// cancellation gives [`WaitForError::Elapsed`], and any failure (a panic
/// raised while being cancelled) gives [`WaitForError::FailedWhileCancelled`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::wait_for;
///
/// fibrio::run(|| {
///     let quick = fibrio::spawn(|| 1);
///     assert_eq!(wait_for(quick, Duration::from_secs(1)).unwrap(), 1);
///
///     let slow = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(60)));
///     let watcher = slow.task_ref();
///     let err = wait_for(slow, Duration::from_millis(10)).unwrap_err();
///     assert!(err.is_elapsed());
///     assert!(watcher.state().is_cancelled()); // it has already ended
/// });
/// ```
pub fn wait_for<T: 'static>(handle: JoinHandle<T>, timeout: Duration) -> Result<T, WaitForError> {
    let task = handle.task_ref();
    // Cancels the task if the caller unwinds out of the wait.
    struct CancelOnUnwind<'a>(&'a fibrio_core::task::TaskRef);
    impl Drop for CancelOnUnwind<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.cancel();
            }
        }
    }
    let guard = CancelOnUnwind(&task);
    let waited = CancelScope::with_timeout(timeout).run(|| task.wait());
    drop(guard);
    match waited {
        Some(Ok(())) => handle.join().map_err(WaitForError::Failed),
        Some(Err(err)) => Err(WaitForError::Failed(err)),
        None => {
            task.cancel();
            CancelScope::shield(|| task.wait()).map_err(WaitForError::Failed)?;
            match handle.join() {
                // It finished on its own right at the deadline: keep the value.
                Ok(value) => Ok(value),
                Err(JoinError::Cancelled) => Err(WaitForError::Elapsed(Elapsed::new(timeout))),
                // It failed on its way out (caught the cancellation and
                // panicked, say): that failure is its outcome, not a timeout.
                Err(error) => Err(WaitForError::FailedWhileCancelled {
                    elapsed: Elapsed::new(timeout),
                    error,
                }),
            }
        }
    }
}

/// Runs `f` in the current task under a deadline `timeout` from now:
/// `f` is cut short at its first checkpoint after the deadline. The same as
/// [`fail_after`]; deadlines nest (the earliest visible one wins).
///
/// # Errors
///
/// [`Elapsed`] if the deadline cut `f` short.
///
/// # Cancellation
///
/// Cancellation from outside passes through.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::timeout;
///
/// fibrio::run(|| {
///     let err = timeout(Duration::from_millis(10), || fibrio::sleep(Duration::from_secs(60)));
///     assert_eq!(err.unwrap_err().timeout(), Duration::from_millis(10));
///     assert_eq!(timeout(Duration::from_secs(1), || 5), Ok(5));
/// });
/// ```
pub fn timeout<R>(timeout: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    fail_after(timeout, f)
}
