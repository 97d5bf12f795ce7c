//! What a failed [`retry`](super::retry) returns: [`RetryError`], every
//! error the operation gave, and [`StopReason`], why retrying stopped.
//!
//! # Invariants
//!
//! * A [`RetryError`] holds at least one error, one per attempt, so
//!   [`RetryError::attempts`] is exactly how many times the operation ran
//!   (at most `max_retries + 1`).
//! * Every error the operation returned is kept, in order, in the
//!   [`RetryError`]; none is dropped.

use std::fmt;

/// Why [`retry`](super::retry) gave up.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
///
/// let policy = RetryPolicy::builder().retry_if(|e: &&str| *e == "busy").build().unwrap();
/// let err = retry(&policy, || Err::<(), _>("not found")).unwrap_err();
/// assert_eq!(err.reason(), StopReason::NotRetryable);
/// let err = retry(&RetryPolicy::disabled(), || Err::<(), _>("busy")).unwrap_err();
/// assert_eq!(err.reason(), StopReason::Exhausted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every retry the policy allows was used, and the last attempt failed
    /// too.
    Exhausted,
    /// The policy's predicate said the last error is not worth retrying.
    NotRetryable,
    /// The task is unwinding (the call is in a `Drop`), so it could not
    /// sleep before the next attempt; do not retry in `Drop`.
    Unwinding,
}

/// The operation never succeeded: every error it returned (oldest first),
/// how many attempts that took, and why [`retry`](super::retry) stopped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
///
/// let policy = RetryPolicy::builder()
///     .max_retries(2)
///     .initial_delay(Duration::ZERO)
///     .build()
///     .unwrap();
/// let mut n = 0;
/// let err = retry(&policy, || {
///     n += 1;
///     Err::<(), _>(format!("failure {n}"))
/// })
/// .unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.reason(), StopReason::Exhausted);
/// assert_eq!(err.errors(), ["failure 1", "failure 2", "failure 3"]);
/// assert_eq!(err.to_string(), "gave up after 3 attempts (retries exhausted): failure 3");
/// assert_eq!(err.into_last(), "failure 3");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryError<E> {
    /// Never empty: one error per attempt.
    pub(super) errors: Vec<E>,
    pub(super) reason: StopReason,
}

impl<E> RetryError<E> {
    /// How many times the operation ran (and failed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).initial_delay(Duration::ZERO).build().unwrap();
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(err.attempts(), 2);
    /// ```
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.errors.len()).unwrap_or(u32::MAX)
    }

    /// Why [`retry`](super::retry) stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
    ///
    /// let err = retry(&RetryPolicy::disabled(), || Err::<(), _>("down")).unwrap_err();
    /// assert_eq!(err.reason(), StopReason::Exhausted);
    /// ```
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// The error of the last attempt.
    ///
    /// # Panics
    ///
    /// Never: a `RetryError` holds at least one error, one per attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).initial_delay(Duration::ZERO).build().unwrap();
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(*err.last(), 2);
    /// ```
    pub fn last(&self) -> &E {
        self.errors
            .last()
            .expect("a RetryError holds at least one error")
    }

    /// Every attempt's error, oldest first (`attempts()` of them).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).initial_delay(Duration::ZERO).build().unwrap();
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(err.errors(), [1, 2]);
    /// ```
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// The error of the last attempt, by value.
    ///
    /// # Panics
    ///
    /// Never: a `RetryError` holds at least one error, one per attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).initial_delay(Duration::ZERO).build().unwrap();
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(err.into_last(), 2);
    /// ```
    pub fn into_last(mut self) -> E {
        self.errors
            .pop()
            .expect("a RetryError holds at least one error")
    }

    /// Every attempt's error, oldest first, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).initial_delay(Duration::ZERO).build().unwrap();
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(err.into_errors(), vec![1, 2]);
    /// ```
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            StopReason::Exhausted => "retries exhausted",
            StopReason::NotRetryable => "error not retryable",
            StopReason::Unwinding => "cannot wait while the task is unwinding",
        };
        let attempts = self.attempts();
        let plural = if attempts == 1 { "" } else { "s" };
        write!(
            f,
            "gave up after {attempts} attempt{plural} ({why}): {}",
            self.last()
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.last())
    }
}
