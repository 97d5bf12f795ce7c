//! [`Pool`]: a pool of connections (database clients, ...) for the tasks
//! of one runtime, built from a connect closure and a health check.
//!
//! ```
//! use std::time::Duration;
//! use fibrio::pool::Pool;
//!
//! fibrio::run(|| {
//!     // Any value can be pooled; here a counter stands in for a client.
//!     let made = std::rc::Rc::new(std::cell::Cell::new(0));
//!     let pool = Pool::builder({
//!         let made = made.clone();
//!         move || -> Result<u32, std::io::Error> {
//!             made.set(made.get() + 1);
//!             Ok(made.get())
//!         }
//!     })
//!     .min_size(1)
//!     .max_size(2)
//!     .checkout_timeout(Duration::from_millis(50))
//!     .build()
//!     .unwrap();
//!     let a = pool.get().unwrap();
//!     let b = pool.get().unwrap();
//!     // Both connections are in use: the third checkout waits, then times out.
//!     assert!(matches!(pool.get(), Err(fibrio::pool::PoolError::Timeout(_))));
//!     drop(a); // back to the pool ...
//!     let c = pool.get().unwrap(); // ... and reused
//!     assert_eq!(made.get(), 2);
//!     drop((b, c));
//!     assert_eq!(pool.statistics().idle, 2);
//! });
//! ```
//!
//! # Invariants
//!
//! * A checkout holds one of `max_size` permits of a FIFO
//!   [`Semaphore`] for as long as its [`Pooled`] guard lives: at most
//!   `max_size` connections are in use, and a checkout beyond that parks,
//!   in arrival order, until one comes back or its timeout passes.
//! * A new connection is made only when no idle one is left, so in use
//!   plus idle never exceeds `max_size` (the heartbeat checks an idle
//!   connection only while holding a permit too).
//! * A guard dropped normally returns its connection to the idle list,
//!   unless it was marked broken ([`Pooled::mark_broken`]), the
//!   `is_broken` check says so, the task is unwinding (the connection may
//!   be mid-operation), or the pool is closed: then the connection is
//!   dropped.
//! * Every `heartbeat` interval, a task of the pool's checks the
//!   connections that sat idle that long with the health check, drops
//!   those that fail, and connects until `min_size` connections exist.
//!   It ends when the pool is closed or dropped.
//! * The pool is `!Send`: it belongs to one runtime (one per worker).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::{Rc, Weak};
use std::time::Duration;

use fibrio_concurrency::{AcquireError, Semaphore, SemaphorePermit};
use fibrio_core::time::Instant;

/// A boxed error from the connect closure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a checkout failed.
///
/// # Examples
///
/// ```
/// use fibrio::pool::PoolError;
///
/// assert!(PoolError::Closed.to_string().contains("closed"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool was closed ([`Pool::close`]).
    #[error("fibrio::pool: the pool is closed")]
    Closed,
    /// Every connection stayed in use for the whole checkout timeout.
    #[error("fibrio::pool: no connection became free within {0:?}")]
    Timeout(Duration),
    /// Making a new connection failed.
    #[error("fibrio::pool: cannot connect: {0}")]
    Connect(#[source] BoxError),
    /// The task is unwinding and may not wait for a connection.
    #[error("fibrio::pool: cannot check out a connection while the task is unwinding")]
    Unwinding,
}

/// What [`Pool::statistics`] reports.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).build().unwrap();
///     let stats = pool.statistics();
///     assert_eq!((stats.open, stats.in_use, stats.idle), (0, 0, 0));
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStatistics {
    /// Connections that exist now: in use, idle, or being checked.
    pub open: usize,
    /// Connections checked out now.
    pub in_use: usize,
    /// Connections idle in the pool now.
    pub idle: usize,
    /// Tasks parked waiting for a connection now.
    pub waiting: usize,
    /// Connections made so far.
    pub created: u64,
    /// Connections dropped as broken so far (by a guard, the `is_broken`
    /// check, or a failed heartbeat).
    pub broken: u64,
    /// Successful checkouts so far.
    pub checkouts: u64,
    /// Checkouts that timed out so far.
    pub timeouts: u64,
    /// Health checks run by the heartbeat so far.
    pub heartbeats: u64,
}

type Connect<C> = Box<dyn Fn() -> Result<C, BoxError>>;
type Check<C> = Box<dyn Fn(&mut C) -> bool>;

/// Configures a [`Pool`]: [`Pool::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fibrio::run(|| {
///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(String::from("conn")))
///         .min_size(2)
///         .max_size(10)
///         .checkout_timeout(Duration::from_secs(5))
///         .heartbeat(Duration::from_secs(30), |conn: &mut String| !conn.is_empty())
///         .is_broken(|conn: &mut String| conn.is_empty())
///         .build()
///         .unwrap();
///     assert_eq!(pool.statistics().open, 2);
/// });
/// ```
pub struct PoolBuilder<C> {
    connect: Connect<C>,
    min: usize,
    max: usize,
    timeout: Option<Duration>,
    heartbeat: Option<(Duration, Check<C>)>,
    is_broken: Option<Check<C>>,
}

impl<C> fmt::Debug for PoolBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("min_size", &self.min)
            .field("max_size", &self.max)
            .field("checkout_timeout", &self.timeout)
            .field("heartbeat", &self.heartbeat.as_ref().map(|(d, _)| d))
            .finish_non_exhaustive()
    }
}

impl<C: 'static> PoolBuilder<C> {
    /// Connections made by [`build`](Self::build) and kept by the
    /// heartbeat (0 by default).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).min_size(1);
    /// # drop(builder);
    /// ```
    pub fn min_size(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// The most connections at once (10 by default).
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).max_size(4);
    /// # drop(builder);
    /// ```
    pub fn max_size(mut self, max: usize) -> Self {
        assert!(max > 0, "fibrio::pool: max_size must be at least 1");
        self.max = max;
        self
    }

    /// How long a checkout waits for a free connection (30 s by default;
    /// `None`: for ever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(()))
    ///     .checkout_timeout(Duration::from_secs(1));
    /// # drop(builder);
    /// ```
    pub fn checkout_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Checks every connection that sat idle for `interval` with `check`
    /// (a `SELECT 1`, a ping), dropping those for which it returns false,
    /// and connects until `min_size` connections exist. The check may
    /// block (park the heartbeat task); it runs on one connection at a
    /// time, never on one in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(1u8))
    ///     .heartbeat(Duration::from_secs(10), |conn: &mut u8| *conn == 1);
    /// # drop(builder);
    /// ```
    pub fn heartbeat(
        mut self,
        interval: Duration,
        check: impl Fn(&mut C) -> bool + 'static,
    ) -> Self {
        self.heartbeat = Some((interval, Box::new(check)));
        self
    }

    /// A cheap check run on every connection given back: true drops it
    /// instead of returning it to the pool (say, `client.is_closed()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(Some(1)))
    ///     .is_broken(|conn: &mut Option<i32>| conn.is_none());
    /// # drop(builder);
    /// ```
    pub fn is_broken(mut self, check: impl Fn(&mut C) -> bool + 'static) -> Self {
        self.is_broken = Some(Box::new(check));
        self
    }

    /// The pool: connects `min_size` connections first, and starts the
    /// heartbeat task if there is a heartbeat.
    ///
    /// # Errors
    ///
    /// [`PoolError::Connect`] if one of the first connections fails.
    ///
    /// # Panics
    ///
    /// Outside a fibrio runtime when there is a heartbeat (its task needs
    /// one).
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let failing = fibrio::pool::Pool::builder(|| Err::<(), _>(std::io::Error::other("down")))
    ///         .min_size(1)
    ///         .build();
    ///     assert!(matches!(failing, Err(fibrio::pool::PoolError::Connect(_))));
    /// });
    /// ```
    pub fn build(self) -> Result<Pool<C>, PoolError> {
        let interval = self.heartbeat.as_ref().map(|(d, _)| *d);
        let inner = Rc::new(PoolInner {
            connect: self.connect,
            min: self.min.min(self.max),
            max: self.max,
            timeout: self.timeout,
            heartbeat: self.heartbeat.map(|(_, check)| check),
            is_broken: self.is_broken,
            permits: Semaphore::new(self.max),
            idle: RefCell::new(VecDeque::new()),
            closed: Cell::new(false),
            open: Cell::new(0),
            stats: Cell::new(PoolStatistics::default()),
            heartbeat_task: RefCell::new(None),
        });
        while inner.open.get() < inner.min {
            let conn = inner.connect()?;
            inner.idle.borrow_mut().push_back(Idle {
                conn,
                since: Instant::now(),
            });
        }
        if let Some(interval) = interval {
            let weak = Rc::downgrade(&inner);
            let task = crate::task::Builder::new()
                .name("fibrio::pool heartbeat")
                .spawn(move || heartbeat(weak, interval))
                .expect("fibrio::pool: the heartbeat needs a fibrio runtime");
            *inner.heartbeat_task.borrow_mut() = Some(task);
        }
        Ok(Pool { inner })
    }
}

struct Idle<C> {
    conn: C,
    since: Instant,
}

struct PoolInner<C> {
    connect: Connect<C>,
    min: usize,
    max: usize,
    timeout: Option<Duration>,
    heartbeat: Option<Check<C>>,
    is_broken: Option<Check<C>>,
    permits: Semaphore,
    /// Oldest first.
    idle: RefCell<VecDeque<Idle<C>>>,
    closed: Cell<bool>,
    open: Cell<usize>,
    stats: Cell<PoolStatistics>,
    heartbeat_task: RefCell<Option<crate::JoinHandle<()>>>,
}

impl<C> PoolInner<C> {
    fn count(&self, f: impl FnOnce(&mut PoolStatistics)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }

    fn connect(&self) -> Result<C, PoolError> {
        let conn = (self.connect)().map_err(PoolError::Connect)?;
        self.open.set(self.open.get() + 1);
        self.count(|s| s.created += 1);
        Ok(conn)
    }

    /// Forgets a connection that is being dropped.
    fn dropped(&self, broken: bool) {
        self.open.set(self.open.get() - 1);
        if broken {
            self.count(|s| s.broken += 1);
        }
    }
}

impl<C> Drop for PoolInner<C> {
    fn drop(&mut self) {
        if let Some(task) = self.heartbeat_task.get_mut().take() {
            task.cancel();
        }
    }
}

/// The heartbeat task: see the module invariants.
fn heartbeat<C>(pool: Weak<PoolInner<C>>, interval: Duration) {
    loop {
        crate::sleep(interval);
        let Some(pool) = pool.upgrade() else {
            return;
        };
        if pool.closed.get() {
            return;
        }
        // Check the connections idle for a whole interval, oldest first,
        // each under a permit so it is never counted twice.
        loop {
            let Ok(permit) = pool.permits.try_acquire() else {
                break;
            };
            let due = {
                let mut idle = pool.idle.borrow_mut();
                match idle.front() {
                    Some(front) if front.since.elapsed() >= interval => idle.pop_front(),
                    _ => None,
                }
            };
            let Some(mut entry) = due else {
                break;
            };
            pool.count(|s| s.heartbeats += 1);
            let healthy = pool
                .heartbeat
                .as_ref()
                .is_none_or(|check| check(&mut entry.conn));
            if healthy && !pool.closed.get() {
                entry.since = Instant::now();
                pool.idle.borrow_mut().push_back(entry);
            } else {
                drop(entry);
                pool.dropped(!healthy);
            }
            drop(permit);
            if pool
                .idle
                .borrow()
                .front()
                .is_none_or(|f| f.since.elapsed() < interval)
            {
                break;
            }
        }
        while !pool.closed.get() && pool.open.get() < pool.min {
            match pool.connect() {
                Ok(conn) => pool.idle.borrow_mut().push_back(Idle {
                    conn,
                    since: Instant::now(),
                }),
                // The server may be down: the next beat tries again.
                Err(_) => break,
            }
        }
    }
}

/// A pool of connections: see the [module docs](self). Cloning it shares
/// the pool.
///
/// # Examples
///
/// See the [module docs](self).
pub struct Pool<C> {
    inner: Rc<PoolInner<C>>,
}

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

impl<C: 'static> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("statistics", &self.statistics())
            .finish()
    }
}

impl<C: 'static> Pool<C> {
    /// A builder for a pool whose connections `connect` makes.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    pub fn builder<E>(connect: impl Fn() -> Result<C, E> + 'static) -> PoolBuilder<C>
    where
        E: Into<BoxError>,
    {
        PoolBuilder {
            connect: Box::new(move || connect().map_err(Into::into)),
            min: 0,
            max: 10,
            timeout: Some(Duration::from_secs(30)),
            heartbeat: None,
            is_broken: None,
        }
    }

    /// Checks out a connection: an idle one, or a new one while fewer than
    /// `max_size` exist; otherwise parks until one comes back (FIFO), for
    /// at most the checkout timeout. The connection goes back to the pool
    /// when the guard drops.
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] once the pool is closed (also for checkouts
    /// parked when it closes), [`PoolError::Timeout`],
    /// [`PoolError::Connect`], [`PoolError::Unwinding`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint while it waits; a cancelled checkout takes nothing.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    pub fn get(&self) -> Result<Pooled<C>, PoolError> {
        let pool = &self.inner;
        if pool.closed.get() {
            return Err(PoolError::Closed);
        }
        let acquired = match pool.timeout {
            Some(timeout) => pool.permits.acquire_timeout(timeout),
            None => pool.permits.acquire(),
        };
        let permit = match acquired {
            Ok(permit) => permit,
            Err(AcquireError::Closed) => return Err(PoolError::Closed),
            Err(AcquireError::Timeout) => {
                pool.count(|s| s.timeouts += 1);
                return Err(PoolError::Timeout(pool.timeout.unwrap_or_default()));
            }
            Err(_) => return Err(PoolError::Unwinding),
        };
        // Newest first: the likeliest to be alive, and the oldest ones
        // are left to the heartbeat.
        let idle = pool.idle.borrow_mut().pop_back();
        let conn = match idle {
            Some(entry) => entry.conn,
            None => pool.connect()?,
        };
        pool.count(|s| s.checkouts += 1);
        Ok(Pooled {
            conn: Some(conn),
            pool: pool.clone(),
            broken: false,
            _permit: permit,
        })
    }

    /// Closes the pool: idle connections are dropped, checkouts (parked
    /// or new) fail with [`PoolError::Closed`], connections in use are
    /// dropped when given back, and the heartbeat stops.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).build().unwrap();
    ///     pool.close();
    ///     assert!(matches!(pool.get(), Err(fibrio::pool::PoolError::Closed)));
    /// });
    /// ```
    pub fn close(&self) {
        let pool = &self.inner;
        pool.closed.set(true);
        pool.permits.close();
        let idle = std::mem::take(&mut *pool.idle.borrow_mut());
        for entry in idle {
            drop(entry);
            pool.dropped(false);
        }
        if let Some(task) = pool.heartbeat_task.borrow_mut().take() {
            task.cancel();
        }
    }

    /// True once [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).build().unwrap();
    ///     assert!(!pool.is_closed());
    /// });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Counts of the pool's connections and of what happened to them.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).build().unwrap();
    ///     let conn = pool.get().unwrap();
    ///     assert_eq!(pool.statistics().in_use, 1);
    ///     drop(conn);
    ///     assert_eq!(pool.statistics().idle, 1);
    /// });
    /// ```
    pub fn statistics(&self) -> PoolStatistics {
        let pool = &self.inner;
        let mut stats = pool.stats.get();
        let semaphore = pool.permits.statistics();
        stats.open = pool.open.get();
        stats.idle = pool.idle.borrow().len();
        stats.in_use = pool
            .max
            .saturating_sub(semaphore.available + semaphore.reserved);
        stats.waiting = semaphore.waiters;
        stats
    }
}

/// A checked-out connection: derefs to it, and gives it back to the pool
/// when dropped (see the module invariants).
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(vec![1])).build().unwrap();
///     let mut conn = pool.get().unwrap();
///     conn.push(2); // DerefMut
///     drop(conn);
///     assert_eq!(*pool.get().unwrap(), [1, 2]); // the same connection
/// });
/// ```
pub struct Pooled<C> {
    conn: Option<C>,
    pool: Rc<PoolInner<C>>,
    broken: bool,
    _permit: SemaphorePermit,
}

impl<C> Pooled<C> {
    /// Marks the connection broken: it is dropped instead of going back
    /// to the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let pool = fibrio::pool::Pool::builder(|| Ok::<_, std::io::Error>(())).build().unwrap();
    ///     let mut conn = pool.get().unwrap();
    ///     conn.mark_broken();
    ///     drop(conn);
    ///     assert_eq!(pool.statistics().broken, 1);
    ///     assert_eq!(pool.statistics().open, 0);
    /// });
    /// ```
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<C> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl<C> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl<C> fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<C> Drop for Pooled<C> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let pool = &self.pool;
        let broken = self.broken
            || std::thread::panicking()
            || pool
                .is_broken
                .as_ref()
                .is_some_and(|check| check(&mut conn));
        if broken || pool.closed.get() {
            drop(conn);
            pool.dropped(broken);
        } else {
            pool.idle.borrow_mut().push_back(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}
