//! The retry policy: [`RetryPolicy`], its [`RetryPolicyBuilder`] and the
//! [`RetryConfigError`] that [`build`](RetryPolicyBuilder::build) returns,
//! plus the backoff schedule (nominal delay, jitter) and the per-thread
//! random numbers behind the jitter.
//!
//! # Invariants
//!
//! * A [`RetryPolicy`] is valid by construction: [`RetryPolicy::new`] and
//!   the presets are, and anything else comes from
//!   [`RetryPolicyBuilder::build`], which checks the numbers once and
//!   returns a [`RetryConfigError`] instead of panicking later.
//! * The pause before retry `n` (1-based) is [`RetryPolicy::delay_for`]`(n)`,
//!   which always lies in [`RetryPolicy::delay_range`]`(n)`: the upper end
//!   is the nominal delay, never above `max_delay` and never smaller than
//!   the one before; jitter only shortens it, by at most `jitter` of it.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The predicate that decides whether an error is worth another attempt.
type Predicate<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

/// Why a [`RetryPolicyBuilder`] refused to build a policy.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::retry::{RetryConfigError, RetryPolicy};
///
/// let err = RetryPolicy::<()>::builder().multiplier(0.5).build().unwrap_err();
/// assert_eq!(err, RetryConfigError::InvalidMultiplier(0.5));
/// let err = RetryPolicy::<()>::builder()
///     .initial_delay(Duration::from_secs(2))
///     .max_delay(Duration::from_secs(1))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, RetryConfigError::MaxDelayBelowInitial { .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum RetryConfigError {
    /// The multiplier is NaN, infinite, or below 1.0.
    #[error(
        "backoff multiplier must be a finite number >= 1.0 (1.0 keeps the delay constant), got {0}"
    )]
    InvalidMultiplier(f64),
    /// The jitter fraction is NaN or outside `0.0..=1.0`.
    #[error("jitter must be a fraction in 0.0..=1.0 (0.0: no jitter), got {0}")]
    InvalidJitter(f64),
    /// `max_delay` is shorter than `initial_delay`.
    #[error("max_delay ({max:?}) is shorter than initial_delay ({initial:?}); raise max_delay or lower initial_delay")]
    MaxDelayBelowInitial {
        /// The initial delay that was given.
        initial: Duration,
        /// The maximum delay that was given.
        max: Duration,
    },
}

/// How [`retry`](super::retry) retries: how many times, how long it
/// pauses in between, and which errors it retries. Build one with
/// [`RetryPolicy::builder`], or take [`RetryPolicy::new`] or a preset;
/// every `RetryPolicy` is valid.
///
/// The pause before retry `n` is `initial_delay * multiplier^(n-1)`,
/// capped at `max_delay`, minus a random fraction of up to `jitter` of it
/// (see [`delay_for`](RetryPolicy::delay_for)).
///
/// `E` is the operation's error type; the policy's predicate (set with
/// [`retry_if`](RetryPolicyBuilder::retry_if)) takes `&E`. Two policies are
/// equal when their numbers are equal and they share the same predicate
/// (the same closure, or both without one): closures cannot be compared
/// by what they do. Cloning shares the predicate.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::retry::RetryPolicy;
///
/// let policy = RetryPolicy::<std::io::Error>::builder()
///     .max_retries(5)
///     .initial_delay(Duration::from_millis(100))
///     .multiplier(2.0)
///     .max_delay(Duration::from_millis(300))
///     .jitter(0.0)
///     .build()
///     .unwrap();
/// let delays: Vec<_> = (1..=5).map(|n| policy.delay_for(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 300, 300, 300]);
/// ```
pub struct RetryPolicy<E> {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    multiplier: f64,
    jitter: f64,
    /// `None`: every error is retryable.
    predicate: Option<Predicate<E>>,
}

impl<E> RetryPolicy<E> {
    /// The default policy: 3 retries (4 attempts), pauses starting at
    /// 100 ms and doubling up to 10 s, 10% jitter, every error retryable.
    /// The same as [`RetryPolicy::default`] and the starting point of
    /// [`RetryPolicy::builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::new();
    /// assert_eq!(policy.max_retries(), 3);
    /// assert_eq!(policy.initial_delay(), Duration::from_millis(100));
    /// assert_eq!(policy.max_delay(), Duration::from_secs(10));
    /// assert_eq!((policy.multiplier(), policy.jitter()), (2.0, 0.1));
    /// ```
    pub fn new() -> RetryPolicy<E> {
        RetryPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.1,
            predicate: None,
        }
    }

    /// A builder starting from [`RetryPolicy::new`]'s values.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder().max_retries(7).build().unwrap();
    /// assert_eq!(policy.max_retries(), 7);
    /// ```
    pub fn builder() -> RetryPolicyBuilder<E> {
        RetryPolicyBuilder {
            policy: RetryPolicy::new(),
        }
    }

    /// Many quick retries, for cheap operations that fail briefly (a busy
    /// local resource): 10 retries, pauses from 10 ms growing by 1.5x up
    /// to 250 ms, 20% jitter. Without jitter the ten pauses add up to just
    /// under 1 s (992.6 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::aggressive();
    /// assert_eq!(policy.max_retries(), 10);
    /// assert_eq!(*policy.delay_range(1).end(), Duration::from_millis(10));
    /// assert_eq!(*policy.delay_range(2).end(), Duration::from_millis(15));
    /// assert_eq!(*policy.delay_range(10).end(), Duration::from_millis(250));
    /// ```
    pub fn aggressive() -> RetryPolicy<E> {
        RetryPolicy {
            max_retries: 10,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(250),
            multiplier: 1.5,
            jitter: 0.2,
            predicate: None,
        }
    }

    /// Few, widely spaced retries, for expensive operations or a remote
    /// service that should not be hammered: 3 retries, pauses of 500 ms,
    /// 1.5 s and 4.5 s (growing by 3x, capped at 30 s), up to 50% jitter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::conservative();
    /// assert_eq!(policy.max_retries(), 3);
    /// assert_eq!(*policy.delay_range(3).end(), Duration::from_millis(4500));
    /// assert_eq!(*policy.delay_range(3).start(), Duration::from_millis(2250));
    /// ```
    pub fn conservative() -> RetryPolicy<E> {
        RetryPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 3.0,
            jitter: 0.5,
            predicate: None,
        }
    }

    /// No retries: [`retry`](super::retry) calls the operation once and
    /// returns its error (wrapped in a [`RetryError`](super::RetryError)
    /// with `attempts() == 1`). All delays are zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
    ///
    /// let err = retry(&RetryPolicy::disabled(), || Err::<(), _>("down")).unwrap_err();
    /// assert_eq!((err.attempts(), err.reason()), (1, StopReason::Exhausted));
    /// ```
    pub fn disabled() -> RetryPolicy<E> {
        RetryPolicy {
            max_retries: 0,
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            multiplier: 1.0,
            jitter: 0.0,
            predicate: None,
        }
    }

    /// A builder holding this policy's values (and predicate), to derive a
    /// variant of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let patient = RetryPolicy::<()>::aggressive()
    ///     .into_builder()
    ///     .max_retries(20)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(patient.max_retries(), 20);
    /// assert_eq!(patient.multiplier(), 1.5);
    /// ```
    pub fn into_builder(self) -> RetryPolicyBuilder<E> {
        RetryPolicyBuilder { policy: self }
    }

    /// Retries after the first attempt; the operation runs at most
    /// `max_retries() + 1` times.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::<()>::new().max_retries(), 3);
    /// assert_eq!(RetryPolicy::<()>::disabled().max_retries(), 0);
    /// ```
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The nominal pause before the first retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::aggressive();
    /// assert_eq!(policy.initial_delay(), Duration::from_millis(10));
    /// ```
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The cap on every pause.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::conservative();
    /// assert_eq!(policy.max_delay(), Duration::from_secs(30));
    /// ```
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// How much each nominal pause grows over the one before (>= 1.0).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::<()>::new().multiplier(), 2.0);
    /// assert_eq!(RetryPolicy::<()>::disabled().multiplier(), 1.0);
    /// ```
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The largest fraction (0.0..=1.0) of a pause that jitter takes off.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::<()>::new().jitter(), 0.1);
    /// assert_eq!(RetryPolicy::<()>::disabled().jitter(), 0.0);
    /// ```
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Whether the policy's predicate says `err` is worth another attempt
    /// (always true without [`retry_if`](RetryPolicyBuilder::retry_if)).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().retry_if(|e: &i32| *e < 0).build().unwrap();
    /// assert!(policy.is_retryable(&-1));
    /// assert!(!policy.is_retryable(&1));
    /// ```
    pub fn is_retryable(&self, err: &E) -> bool {
        self.predicate.as_ref().is_none_or(|p| p(err))
    }

    /// The shortest and longest pause before retry `retry` (1-based:
    /// `delay_range(1)` comes after the first attempt fails). The end is
    /// the nominal delay `min(initial_delay * multiplier^(retry-1),
    /// max_delay)`; the start is that minus `jitter` of it. `retry == 0`
    /// (before the first attempt) gives zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder()
    ///     .initial_delay(Duration::from_millis(100))
    ///     .multiplier(2.0)
    ///     .jitter(0.25)
    ///     .build()
    ///     .unwrap();
    /// let range = policy.delay_range(2);
    /// assert_eq!(*range.start(), Duration::from_millis(150));
    /// assert_eq!(*range.end(), Duration::from_millis(200));
    /// ```
    pub fn delay_range(&self, retry: u32) -> RangeInclusive<Duration> {
        let nominal = self.nominal_delay(retry);
        let low = nominal.saturating_sub(self.jitter_span(nominal));
        low..=nominal
    }

    /// The pause before retry `retry` (1-based), with jitter applied: a
    /// value drawn uniformly from [`delay_range`](RetryPolicy::delay_range)
    /// (so equal to its end when `jitter` is 0). `retry == 0` gives zero.
    /// This is the pause [`retry`](super::retry) sleeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::conservative();
    /// for n in 1..=3 {
    ///     assert!(policy.delay_range(n).contains(&policy.delay_for(n)));
    /// }
    /// assert_eq!(policy.delay_for(0), Duration::ZERO);
    /// ```
    pub fn delay_for(&self, retry: u32) -> Duration {
        let nominal = self.nominal_delay(retry);
        let span = self.jitter_span(nominal);
        if span.is_zero() {
            return nominal;
        }
        // Up to `span` off, in whole nanoseconds: stays inside the range.
        let off = from_nanos_f64((span.as_nanos() as f64 * random_unit()).floor());
        nominal.saturating_sub(off.unwrap_or(span).min(span))
    }

    /// `min(initial_delay * multiplier^(retry-1), max_delay)`, or zero for
    /// `retry == 0`.
    fn nominal_delay(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        if retry == 1 || self.multiplier == 1.0 || self.initial_delay.is_zero() {
            return self.initial_delay.min(self.max_delay);
        }
        let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        // Finite and >= 1.0 (checked in `build`) to a power: at worst
        // infinity, times a non-zero delay, so never NaN.
        let nanos = self.initial_delay.as_nanos() as f64 * self.multiplier.powi(exponent);
        if nanos >= self.max_delay.as_nanos() as f64 {
            return self.max_delay;
        }
        from_nanos_f64(nanos.round()).map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The most jitter may take off `nominal`.
    fn jitter_span(&self, nominal: Duration) -> Duration {
        if self.jitter == 0.0 {
            return Duration::ZERO;
        }
        let nanos = (nominal.as_nanos() as f64 * self.jitter).round();
        from_nanos_f64(nanos).map_or(nominal, |d| d.min(nominal))
    }
}

/// `nanos` (a whole, non-negative number) as a [`Duration`]: exact up to
/// `u64::MAX` nanoseconds (584 years), approximate beyond, `None` past
/// [`Duration::MAX`].
fn from_nanos_f64(nanos: f64) -> Option<Duration> {
    if nanos < u64::MAX as f64 {
        Some(Duration::from_nanos(nanos as u64))
    } else {
        Duration::try_from_secs_f64(nanos / 1e9).ok()
    }
}

impl<E> Default for RetryPolicy<E> {
    fn default() -> RetryPolicy<E> {
        RetryPolicy::new()
    }
}

impl<E> Clone for RetryPolicy<E> {
    fn clone(&self) -> RetryPolicy<E> {
        RetryPolicy {
            max_retries: self.max_retries,
            initial_delay: self.initial_delay,
            max_delay: self.max_delay,
            multiplier: self.multiplier,
            jitter: self.jitter,
            predicate: self.predicate.clone(),
        }
    }
}

impl<E> PartialEq for RetryPolicy<E> {
    fn eq(&self, other: &RetryPolicy<E>) -> bool {
        let same_predicate = match (&self.predicate, &other.predicate) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_predicate
            && self.max_retries == other.max_retries
            && self.initial_delay == other.initial_delay
            && self.max_delay == other.max_delay
            && self.multiplier == other.multiplier
            && self.jitter == other.jitter
    }
}

impl<E> fmt::Debug for RetryPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_retries", &self.max_retries)
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("multiplier", &self.multiplier)
            .field("jitter", &self.jitter)
            .field(
                "retry_if",
                &if self.predicate.is_some() {
                    "<predicate>"
                } else {
                    "<every error>"
                },
            )
            .finish()
    }
}

/// Builds a [`RetryPolicy`]; from [`RetryPolicy::builder`] or
/// [`RetryPolicy::into_builder`]. The setters take any value;
/// [`build`](RetryPolicyBuilder::build) checks them all at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .max_retries(2)
///     .initial_delay(Duration::from_millis(20))
///     .max_delay(Duration::from_secs(1))
///     .multiplier(4.0)
///     .jitter(0.5)
///     .retry_if(|e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut)
///     .build()
///     .unwrap();
/// assert_eq!(*policy.delay_range(2).end(), Duration::from_millis(80));
/// ```
pub struct RetryPolicyBuilder<E> {
    policy: RetryPolicy<E>,
}

impl<E> RetryPolicyBuilder<E> {
    /// Retries after the first attempt (0: never retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::{retry, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(0).build().unwrap();
    /// let err = retry(&policy, || Err::<(), _>("down")).unwrap_err();
    /// assert_eq!(err.attempts(), 1);
    /// ```
    pub fn max_retries(mut self, n: u32) -> RetryPolicyBuilder<E> {
        self.policy.max_retries = n;
        self
    }

    /// The pause before the first retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder()
    ///     .initial_delay(Duration::from_millis(50))
    ///     .jitter(0.0)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(policy.delay_for(1), Duration::from_millis(50));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> RetryPolicyBuilder<E> {
        self.policy.initial_delay = delay;
        self
    }

    /// The cap on every pause; must be at least the initial delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder()
    ///     .initial_delay(Duration::from_millis(100))
    ///     .max_delay(Duration::from_millis(150))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(*policy.delay_range(5).end(), Duration::from_millis(150));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> RetryPolicyBuilder<E> {
        self.policy.max_delay = delay;
        self
    }

    /// How much each pause grows over the one before: finite and at least
    /// 1.0 (1.0 keeps the pause constant).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder()
    ///     .initial_delay(Duration::from_millis(10))
    ///     .multiplier(3.0)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(*policy.delay_range(3).end(), Duration::from_millis(90));
    /// ```
    pub fn multiplier(mut self, factor: f64) -> RetryPolicyBuilder<E> {
        self.policy.multiplier = factor;
        self
    }

    /// The largest fraction of each pause that a random amount is taken
    /// off, in `0.0..=1.0`: with 0.25 a 100 ms pause lasts 75 to 100 ms.
    /// Jitter spreads out tasks that failed together, so they do not all
    /// retry at the same instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::<()>::builder()
    ///     .initial_delay(Duration::from_millis(100))
    ///     .jitter(0.25)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(policy.delay_range(1), Duration::from_millis(75)..=Duration::from_millis(100));
    /// ```
    pub fn jitter(mut self, fraction: f64) -> RetryPolicyBuilder<E> {
        self.policy.jitter = fraction;
        self
    }

    /// Retries only the errors for which `predicate` returns true; any
    /// other error ends [`retry`](super::retry) at once with
    /// [`StopReason::NotRetryable`](super::StopReason::NotRetryable).
    /// Replaces an earlier predicate. Without one, every error is retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::{retry, RetryPolicy, StopReason};
    ///
    /// let policy = RetryPolicy::builder().retry_if(|e: &i32| *e < 0).build().unwrap();
    /// let err = retry(&policy, || Err::<(), _>(404)).unwrap_err();
    /// assert_eq!((err.attempts(), err.reason()), (1, StopReason::NotRetryable));
    /// ```
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&E) -> bool + Send + Sync + 'static,
    ) -> RetryPolicyBuilder<E> {
        self.policy.predicate = Some(Arc::new(predicate));
        self
    }

    /// Checks the values and returns the policy.
    ///
    /// # Errors
    ///
    /// [`RetryConfigError::InvalidMultiplier`] for a NaN, infinite or
    /// below-1.0 multiplier, [`RetryConfigError::InvalidJitter`] for a
    /// jitter that is NaN or outside `0.0..=1.0`,
    /// [`RetryConfigError::MaxDelayBelowInitial`] if `max_delay <
    /// initial_delay`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::retry::{RetryConfigError, RetryPolicy};
    ///
    /// let err = RetryPolicy::<()>::builder().jitter(1.5).build().unwrap_err();
    /// assert_eq!(err, RetryConfigError::InvalidJitter(1.5));
    /// ```
    pub fn build(self) -> Result<RetryPolicy<E>, RetryConfigError> {
        let p = &self.policy;
        if !(p.multiplier.is_finite() && p.multiplier >= 1.0) {
            return Err(RetryConfigError::InvalidMultiplier(p.multiplier));
        }
        if !(0.0..=1.0).contains(&p.jitter) {
            return Err(RetryConfigError::InvalidJitter(p.jitter));
        }
        if p.max_delay < p.initial_delay {
            return Err(RetryConfigError::MaxDelayBelowInitial {
                initial: p.initial_delay,
                max: p.max_delay,
            });
        }
        Ok(self.policy)
    }
}

impl<E> fmt::Debug for RetryPolicyBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryPolicyBuilder")
            .field(&self.policy)
            .finish()
    }
}

/// A uniformly distributed number in `[0, 1)`. Inside a deterministic
/// simulation it comes from the run's User stream, so the jitter replays
/// with the seed; otherwise from a per-thread xorshift64 generator seeded
/// from std's randomly keyed hasher and the clock. Not cryptographic: it
/// only spreads retries apart.
fn random_unit() -> f64 {
    if let Some(x) = fibrio_core::task::det::random_u64(fibrio_core::task::det::Stream::User) {
        // The top 53 bits, as a fraction.
        return (x >> 11) as f64 / (1u64 << 53) as f64;
    }
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        // The top 53 bits, as a fraction.
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    SystemTime::now().hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    // xorshift must not start at zero.
    hasher.finish() | 1
}
