//! The runtime's clock: [`Instant`] and [`now_std`].
//!
//! Outside a deterministic simulation the runtime's clock *is*
//! [`std::time::Instant::now`]. Inside one (a scheduler built with
//! `Scheduler::deterministic`) it is virtual: it starts at the real instant the simulation started and
//! moves only when every task is parked, straight to the next deadline.
//! Every deadline of fibrio (`sleep`, `park_until`, cancel-scope deadlines,
//! the timeouts of the higher crates) reads this clock.
//!
//! # Invariants
//!
//! * A virtual instant is a real [`std::time::Instant`] (the simulation's
//!   origin plus the virtual time elapsed), so every API that takes a
//!   `std::time::Instant` deadline accepts one, and [`Instant`] converts to
//!   and from `std::time::Instant` losslessly.
//! * [`Instant::now`] and [`now_std`] read the same clock.
//! * `std::time::Instant::now()` is **not** virtual: inside a simulation it
//!   lags behind the virtual clock (which jumps ahead whenever every task
//!   sleeps), so a deadline built from it has usually passed already. Use
//!   [`Instant::now`] (or [`now_std`]) in code that may run in a
//!   simulation.

use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// The runtime's clock now, as a `std::time::Instant`: virtual inside a
/// deterministic simulation, [`std::time::Instant::now`] otherwise.
///
/// Build deadlines for APIs that take a `std::time::Instant` from this,
/// not from `std::time::Instant::now()`, so that they are virtual in a
/// simulation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let deadline = fibrio_core::time::now_std() + Duration::from_millis(1);
/// # fibrio_core::task::test_support::block_on(|| {
/// fibrio_core::task::sleep_until(deadline);
/// assert!(fibrio_core::time::now_std() >= deadline);
/// # });
/// ```
#[inline]
pub fn now_std() -> std::time::Instant {
    crate::scheduler::clock_now()
}

/// A point in time read from the runtime's clock: [`std::time::Instant`],
/// except that [`Instant::now`] is virtual inside a deterministic
/// simulation.
///
/// It is a newtype over `std::time::Instant` with the same operations, and
/// converts both ways ([`from_std`](Instant::from_std),
/// [`into_std`](Instant::into_std), `From`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::time::Instant;
///
/// let start = Instant::now();
/// let later = start + Duration::from_secs(2);
/// assert_eq!(later - start, Duration::from_secs(2));
/// assert_eq!(later.duration_since(start), Duration::from_secs(2));
/// assert!(later > start);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// The runtime's clock now: virtual inside a deterministic simulation,
    /// `std::time::Instant::now()` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::time::Instant;
    ///
    /// let a = Instant::now();
    /// let b = Instant::now();
    /// assert!(b >= a); // monotonic
    /// ```
    #[inline]
    pub fn now() -> Instant {
        Instant(now_std())
    }

    /// Wraps a `std::time::Instant`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::time::Instant;
    ///
    /// let std_now = std::time::Instant::now();
    /// assert_eq!(Instant::from_std(std_now).into_std(), std_now);
    /// ```
    #[inline]
    pub const fn from_std(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }

    /// The `std::time::Instant` inside: what the APIs that take a
    /// `std::time::Instant` deadline want.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let deadline = (Instant::now() + Duration::from_millis(1)).into_std();
    /// # fibrio_core::task::test_support::block_on(|| {
    /// fibrio_core::task::sleep_until(deadline);
    /// # });
    /// ```
    #[inline]
    pub const fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later (as
    /// `std::time::Instant::duration_since` does).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let a = Instant::now();
    /// let b = a + Duration::from_millis(5);
    /// assert_eq!(b.duration_since(a), Duration::from_millis(5));
    /// assert_eq!(a.duration_since(b), Duration::ZERO);
    /// ```
    #[inline]
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let a = Instant::now();
    /// let b = a + Duration::from_millis(5);
    /// assert_eq!(b.checked_duration_since(a), Some(Duration::from_millis(5)));
    /// assert_eq!(a.checked_duration_since(b), None);
    /// ```
    #[inline]
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let a = Instant::now();
    /// let b = a + Duration::from_millis(5);
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// ```
    #[inline]
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time since `self` on the runtime's clock (virtual inside a
    /// simulation); zero if `self` is in the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let start = Instant::now();
    /// # fibrio_core::task::test_support::block_on(|| {
    /// fibrio_core::task::sleep(Duration::from_millis(2));
    /// # });
    /// assert!(start.elapsed() >= Duration::from_millis(2));
    /// ```
    #[inline]
    pub fn elapsed(&self) -> Duration {
        now_std().saturating_duration_since(self.0)
    }

    /// `self + duration`, or `None` if that cannot be represented.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let now = Instant::now();
    /// assert!(now.checked_add(Duration::from_secs(1)).is_some());
    /// assert!(now.checked_add(Duration::MAX).is_none());
    /// ```
    #[inline]
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` if that cannot be represented.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::time::Instant;
    ///
    /// let now = Instant::now();
    /// let later = now + Duration::from_secs(1);
    /// assert_eq!(later.checked_sub(Duration::from_secs(1)), Some(now));
    /// assert!(now.checked_sub(Duration::MAX).is_none());
    /// ```
    #[inline]
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl From<std::time::Instant> for Instant {
    /// # Examples
    ///
    /// ```
    /// let std_now = std::time::Instant::now();
    /// let ours: fibrio_core::time::Instant = std_now.into();
    /// assert_eq!(ours.into_std(), std_now);
    /// ```
    #[inline]
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    /// # Examples
    ///
    /// ```
    /// let ours = fibrio_core::time::Instant::now();
    /// let std_instant: std::time::Instant = ours.into();
    /// assert_eq!(fibrio_core::time::Instant::from(std_instant), ours);
    /// ```
    #[inline]
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result cannot be represented; see [`Instant::checked_add`].
    #[inline]
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0 + duration)
    }
}

impl AddAssign<Duration> for Instant {
    /// # Panics
    ///
    /// If the result cannot be represented; see [`Instant::checked_add`].
    #[inline]
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result cannot be represented; see [`Instant::checked_sub`].
    #[inline]
    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0 - duration)
    }
}

impl SubAssign<Duration> for Instant {
    /// # Panics
    ///
    /// If the result cannot be represented; see [`Instant::checked_sub`].
    #[inline]
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// The time from `earlier` to `self`, zero if `earlier` is later; see
    /// [`Instant::duration_since`].
    #[inline]
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}
