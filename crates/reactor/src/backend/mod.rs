//! Poller backends: the part of the reactor that asks the kernel which file
//! descriptors are ready.
//!
//! Three implementations sit behind [`Backend`]:
//!
//! * [`EpollBackend`](epoll_backend::EpollBackend) (Linux and Android only),
//!   our own epoll: edge-triggered, persistent registrations, an eventfd for
//!   notifications, and `epoll_pwait2` for nanosecond timeouts, so that a
//!   wait is one system call. It is what [`BackendKind::Epoll`] (and so
//!   `Auto` on Linux) opens.
//! * [`PollingBackend`](polling_backend::PollingBackend), on the `polling`
//!   crate: epoll on Linux, kqueue on macOS and the BSDs, event ports on
//!   illumos. `polling` picks its system interface at compile time. It runs
//!   one-shot ([`PollingBackend::new`](polling_backend::PollingBackend::new))
//!   or, where the system supports it, edge-triggered and persistent
//!   ([`PollingBackend::edge_triggered`](polling_backend::PollingBackend::edge_triggered),
//!   what [`BackendKind::Kqueue`] opens).
//! * [`PollBackend`](poll_backend::PollBackend), our own portable `poll(2)`
//!   (`ppoll` where available, for sub-millisecond timeouts): what PHP
//!   AsyncIO, the library fibrio was modelled on, calls its "select" loop;
//!   it works everywhere. One-shot.
//!
//! [`BackendKind::Epoll`]: crate::BackendKind::Epoll
//! [`BackendKind::Kqueue`]: crate::BackendKind::Kqueue
//!
//! # Contract (every backend passes the same tests)
//!
//! A backend is either **one-shot** or **persistent**, as
//! [`Backend::persistent`] says; the rest of the contract is common.
//!
//! * One-shot (`persistent() == false`): after an event for a registration
//!   is delivered, that registration delivers nothing more until
//!   [`Backend::modify`] re-arms it. This is `polling`'s default model, and
//!   it lets the reactor keep exactly one waiter set per direction.
//! * Persistent (`persistent() == true`): a registration stays armed for
//!   its interest until `modify` or `deregister`, and is **edge-triggered**:
//!   a direction is reported when the fd may have become ready in it since
//!   the last report (it became ready, more data or buffer space arrived,
//!   or it failed or hung up), including once at `register` or `modify`
//!   time if it is ready then. A readiness that does not change is not
//!   reported again. Reports may be spurious (the caller must still try the
//!   operation), but never missed: a change that happens after a `wait`
//!   began (or while none runs) is reported by that `wait` or the next one.
//!   The reactor relies on this to park after `EAGAIN` without re-arming.
//! * Each fd is registered at most once at a time. Registering it again
//!   without [`Backend::deregister`] is an error (`AlreadyExists`).
//! * [`Backend::wait`] never returns later than its timeout plus scheduling
//!   delay, never sleeps at all for `Some(Duration::ZERO)`, and returns
//!   early, with no events, when [`Notifier::notify`] is called from any
//!   thread (a notification that arrives before `wait` is not lost: the
//!   next `wait` returns at once).
//! * Errors and hang-ups are reported as both readable and writable (within
//!   the registration's interest), so a waiter in either direction wakes
//!   and sees the error on its next call.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod epoll_backend;
pub mod poll_backend;
pub mod polling_backend;

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

/// Which directions a registration is interested in, or which are ready.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::backend::Interest;
///
/// let both = Interest { readable: true, writable: true };
/// assert!(both.readable && both.writable);
/// assert_eq!(Interest::READABLE.writable, false);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// Wake when the fd can be read (or accepted on, or has hung up).
    pub readable: bool,
    /// Wake when the fd can be written (or a connect has finished).
    pub writable: bool,
}

impl Interest {
    /// Only readable.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// Only writable.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    /// Neither: a registration that is kept but disarmed.
    pub const NONE: Interest = Interest {
        readable: false,
        writable: false,
    };
}

/// One readiness event: the `key` given at registration, and what is ready.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::backend::{Interest, ReadyEvent};
///
/// let event = ReadyEvent::new(3, Interest::READABLE);
/// assert!(event.ready.readable && !event.ready.writable && !event.hangup);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyEvent {
    /// The key the fd was registered with.
    pub key: usize,
    /// The directions that are ready.
    pub ready: Interest,
    /// The backend saw the peer hang up or the fd fail: reading will never
    /// block again. Only backends whose [`Backend::reports_hangup`] is true
    /// set it; the others leave it false.
    pub hangup: bool,
}

impl ReadyEvent {
    /// An event for `key` with `ready` directions and no hang-up.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::backend::{Interest, ReadyEvent};
    ///
    /// let event = ReadyEvent::new(7, Interest::WRITABLE);
    /// assert_eq!((event.key, event.ready), (7, Interest::WRITABLE));
    /// assert!(!event.hangup);
    /// ```
    pub fn new(key: usize, ready: Interest) -> ReadyEvent {
        ReadyEvent {
            key,
            ready,
            hangup: false,
        }
    }
}

/// Wakes a [`Backend::wait`] from any thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_reactor::backend::{poll_backend::PollBackend, Backend};
///
/// let mut backend = PollBackend::new()?;
/// let notifier = backend.notifier();
/// std::thread::spawn(move || notifier.notify().unwrap());
/// let mut events = Vec::new();
/// backend.wait(&mut events, None)?; // returns once notified
/// assert!(events.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Notifier: Send + Sync {
    /// Makes the current or next `wait` return early.
    ///
    /// # Errors
    ///
    /// The system error if the wake-up could not be sent.
    fn notify(&self) -> io::Result<()>;
}

/// A poller backend. See the module documentation for the contract.
///
/// A backend is used from the one thread that owns its runtime; only its
/// [`Notifier`] crosses threads.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use fibrio_reactor::backend::{poll_backend::PollBackend, Backend, Interest};
///
/// let mut backend: Box<dyn Backend> = Box::new(PollBackend::new()?);
/// let (a, _b) = UnixStream::pair()?;
/// backend.register(a.as_raw_fd(), 1, Interest::WRITABLE)?;
/// let mut events = Vec::new();
/// backend.wait(&mut events, Some(Duration::from_secs(1)))?;
/// assert_eq!(events[0].key, 1);
/// backend.deregister(a.as_raw_fd())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Backend {
    /// The backend's name: `"epoll"`, `"kqueue"`, `"event ports"`, `"poll"`.
    fn name(&self) -> &'static str;

    /// Starts watching `fd` for `interest`, reporting events with `key`.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if `fd` is registered, or the system error.
    fn register(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()>;

    /// Re-arms `fd` (registered with `key`) for `interest`. On a persistent
    /// backend it changes the interest, and a direction of it that is ready
    /// now is reported again.
    ///
    /// # Errors
    ///
    /// `NotFound` if `fd` is not registered, or the system error.
    fn modify(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()>;

    /// Stops watching `fd`. Must be called before `fd` is closed.
    ///
    /// # Errors
    ///
    /// `NotFound` if `fd` is not registered, or the system error.
    fn deregister(&mut self, fd: RawFd) -> io::Result<()>;

    /// Waits for events, appending them to `events`, for at most `timeout`
    /// (`None`: until an event or a notification).
    ///
    /// # Errors
    ///
    /// The system error; `EINTR` is retried inside, never returned.
    fn wait(&mut self, events: &mut Vec<ReadyEvent>, timeout: Option<Duration>) -> io::Result<()>;

    /// A handle that wakes `wait` from other threads.
    fn notifier(&self) -> Arc<dyn Notifier>;

    /// Whether registrations are persistent and edge-triggered rather than
    /// one-shot (see the module documentation). Fixed for the backend's
    /// lifetime. The default is one-shot.
    fn persistent(&self) -> bool {
        false
    }

    /// Whether events carry [`ReadyEvent::hangup`] when the peer hangs up
    /// or the fd fails. The reactor skips a stream read's doomed system
    /// call after a short read only on persistent backends that report
    /// hang-ups (an end of stream left after the data brings no new edge).
    /// The default is false.
    fn reports_hangup(&self) -> bool {
        false
    }
}
