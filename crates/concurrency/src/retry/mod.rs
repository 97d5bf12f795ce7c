//! Retrying a fallible operation with exponential backoff and jitter.
//!
//! [`retry`] calls an operation until it succeeds, its error is not
//! retryable, or the [`RetryPolicy`]'s retries run out, sleeping between
//! attempts. The policy says how many retries, how the pause grows
//! (`initial_delay * multiplier^(n-1)`, capped at `max_delay`), how much
//! randomness to take off each pause (`jitter`), and which errors are worth
//! retrying (`retry_if`).
//!
//! # Design
//!
//! * The retryable-error predicate is part of the policy, so a policy is
//!   generic over the error type: [`RetryPolicy<E>`]. The type is usually
//!   inferred from the operation given to [`retry`], and a policy built
//!   with [`retry_if`](RetryPolicyBuilder::retry_if) names it in the
//!   closure's argument. Without `retry_if`, every error is retryable.
//! * A [`RetryPolicy`] is valid by construction: [`RetryPolicy::new`] and
//!   the presets are, and anything else comes from
//!   [`RetryPolicyBuilder::build`], which checks the numbers once and
//!   returns a [`RetryConfigError`] instead of panicking later.
//!
//! # Invariants
//!
//! * The operation runs at most `max_retries + 1` times, and
//!   [`RetryError::attempts`] is exactly how many times it ran.
//! * The pause before retry `n` (1-based) is [`RetryPolicy::delay_for`]`(n)`,
//!   which always lies in [`RetryPolicy::delay_range`]`(n)`: the upper end
//!   is the nominal delay, never above `max_delay` and never smaller than
//!   the one before; jitter only shortens it, by at most `jitter` of it.
//! * Every error the operation returned is kept, in order, in the
//!   [`RetryError`]; none is dropped.
//! * Sleeping between attempts is a cancellation checkpoint (and so is the
//!   start of every attempt): a cancelled task stops retrying there and
//!   never calls the operation again.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
//!
//! #[derive(Debug, PartialEq)]
//! enum FetchError {
//!     Busy,
//!     NotFound,
//! }
//!
//! fibrio::run(|| {
//!     let policy = RetryPolicy::builder()
//!         .max_retries(4)
//!         .initial_delay(Duration::from_millis(1))
//!         .retry_if(|e: &FetchError| *e == FetchError::Busy)
//!         .build()
//!         .unwrap();
//!
//!     // Busy twice, then it works.
//!     let mut calls = 0;
//!     let value = retry(&policy, || {
//!         calls += 1;
//!         if calls < 3 { Err(FetchError::Busy) } else { Ok(calls) }
//!     });
//!     assert_eq!(value.unwrap(), 3);
//!
//!     // NotFound is not worth retrying: one attempt only.
//!     let err = retry(&policy, || Err::<(), _>(FetchError::NotFound)).unwrap_err();
//!     assert_eq!(err.attempts(), 1);
//!     assert_eq!(err.reason(), StopReason::NotRetryable);
//!     assert_eq!(*err.last(), FetchError::NotFound);
//! });
//! ```

mod error;
mod policy;

pub use error::{RetryError, StopReason};
pub use policy::{RetryConfigError, RetryPolicy, RetryPolicyBuilder};

/// Calls `op` until it returns `Ok`, retrying as `policy` says: after a
/// retryable error (see [`RetryPolicyBuilder::retry_if`]) it sleeps
/// [`policy.delay_for(n)`](RetryPolicy::delay_for) before retry `n`, for
/// at most [`max_retries`](RetryPolicy::max_retries) retries. Inside a task
/// the sleep parks the task (other tasks run); outside any task it sleeps
/// the thread.
///
/// # Errors
///
/// A [`RetryError`] holding every error `op` returned, once the last one
/// is not retryable ([`StopReason::NotRetryable`]), the retries are used
/// up ([`StopReason::Exhausted`]), or the task is unwinding and cannot
/// sleep ([`StopReason::Unwinding`]).
///
/// # Cancellation
///
/// A checkpoint before every attempt and during every sleep: a cancelled
/// task unwinds from there, `op` is not called again, and the errors so far
/// are dropped with the task's stack. An attempt that is running when the
/// task is cancelled finishes (or unwinds at its own checkpoints).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use fibrio_concurrency::retry::{retry, RetryPolicy};
///
/// fibrio::run(|| {
///     let policy = RetryPolicy::builder()
///         .max_retries(5)
///         .initial_delay(Duration::from_millis(2))
///         .jitter(0.0)
///         .build()
///         .unwrap();
///     let start = Instant::now();
///     let mut failures_left = 2;
///     let got = retry(&policy, || {
///         if failures_left > 0 {
///             failures_left -= 1;
///             Err("not yet")
///         } else {
///             Ok("done")
///         }
///     });
///     assert_eq!(got.unwrap(), "done");
///     assert!(start.elapsed() >= Duration::from_millis(2 + 4)); // two pauses
/// });
/// ```
pub fn retry<T, E, F>(policy: &RetryPolicy<E>, mut op: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Result<T, E>,
{
    let mut errors = Vec::new();
    loop {
        fibrio_core::task::checkpoint_if_cancelled();
        let err = match op() {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let retryable = policy.is_retryable(&err);
        errors.push(err);
        // Retries so far = attempts - 1, so the next retry's number is
        // the number of attempts made.
        let next_retry = u32::try_from(errors.len()).unwrap_or(u32::MAX);
        let reason = if !retryable {
            StopReason::NotRetryable
        } else if errors.len() > policy.max_retries() as usize {
            StopReason::Exhausted
        } else if std::thread::panicking() && fibrio_core::task::current_key().is_some() {
            // `sleep` would return at once while unwinding, turning the
            // backoff into a busy loop: stop, as other blocking calls do.
            StopReason::Unwinding
        } else {
            fibrio_core::task::sleep(policy.delay_for(next_retry));
            continue;
        };
        return Err(RetryError { errors, reason });
    }
}
