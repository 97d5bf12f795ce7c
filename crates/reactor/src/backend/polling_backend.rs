//! [`PollingBackend`]: the [`Backend`] on the `polling` crate (epoll on
//! Linux and Android, kqueue on macOS, iOS and the BSDs, event ports on
//! illumos and Solaris).
//!
//! # Invariants
//!
//! * `PollingBackend::registrations` holds an entry for `fd` exactly while
//!   `fd` is added to `Shared::poller`. Only `register` (insert, after a
//!   successful `Poller::add`) and `deregister` (remove, after a successful
//!   `Poller::delete`) change which fds it holds.
//! * Every fd is added to the poller with the fd number itself as the
//!   `polling` key (the "token"). Fds are non-negative `i32`s, so a token is
//!   never `usize::MAX`, the key `polling` reserves for itself, and the
//!   caller's own key may be any `usize`.
//! * `PollingBackend::mode` is [`PollMode::Oneshot`] or [`PollMode::Edge`],
//!   fixed at construction; every `add` and `modify` uses it.
//! * `Registration::armed` is the interest the kernel was last asked for and
//!   has not yet delivered. `register` and `modify` set it; in one-shot mode
//!   `wait` resets it to [`Interest::NONE`] when it delivers an event for the
//!   registration (in edge mode it stays: the kernel keeps the registration
//!   armed). Events are masked with it, which enforces the one-shot contract
//!   even where the kernel arms each direction separately (kqueue), and
//!   drops the error or hang-up reports epoll sends for disarmed
//!   registrations.
//! * `Registration::pending` is [`Interest::NONE`] outside `wait`. Inside
//!   `wait` it gathers everything reported for the fd in one batch, so that
//!   a fd whose directions arrive as separate kernel events (kqueue) still
//!   yields one [`ReadyEvent`]; `PollingBackend::touched` lists the fds whose
//!   `pending` is non-empty, in the order they were first reported.
//! * `Shared::notified` is raised by the notifier before it calls
//!   [`Poller::notify`], and lowered only by `wait`. `wait` keeps waiting
//!   after a wake-up that delivered nothing while the flag is down, which
//!   turns `polling`'s occasional spurious wake-ups into neither early
//!   returns nor lost notifications.

use std::collections::HashMap;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use super::{Backend, Interest, Notifier, ReadyEvent};

/// A [`Backend`] on the `polling` crate: epoll, kqueue or event ports,
/// whichever the target has.
///
/// Registrations are one-shot ([`PollingBackend::new`]): after
/// [`Backend::wait`] reports a fd, it stays quiet until [`Backend::modify`]
/// re-arms it; or persistent and edge-triggered
/// ([`PollingBackend::edge_triggered`]), as the [module contract](super)
/// describes. Errors and hang-ups are reported in every direction the
/// registration was armed for.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// use fibrio_reactor::backend::polling_backend::PollingBackend;
/// use fibrio_reactor::backend::{Backend, Interest, ReadyEvent};
///
/// let mut backend = PollingBackend::new()?;
/// let (a, mut b) = UnixStream::pair()?;
/// backend.register(a.as_raw_fd(), 7, Interest::READABLE)?;
/// b.write_all(b"ping")?;
///
/// let mut events = Vec::new();
/// backend.wait(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events, [ReadyEvent::new(7, Interest::READABLE)]);
///
/// backend.deregister(a.as_raw_fd())?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PollingBackend {
    /// The poller and the notification flag, shared with every notifier.
    shared: Arc<Shared>,
    /// Buffer `Poller::wait` fills; empty outside `wait`.
    events: Events,
    /// The registered fds; see the module invariants.
    registrations: HashMap<RawFd, Registration>,
    /// Fds with a non-empty `pending`, during `wait` only.
    touched: Vec<RawFd>,
    /// One-shot or edge-triggered; see the module invariants.
    mode: PollMode,
}

/// One registered fd.
#[derive(Debug, Clone, Copy)]
struct Registration {
    /// The caller's key, reported in [`ReadyEvent::key`].
    key: usize,
    /// The directions armed and not yet delivered.
    armed: Interest,
    /// The directions reported so far in the current `wait` batch.
    pending: Interest,
}

/// What the backend shares with its notifiers.
#[derive(Debug)]
struct Shared {
    /// The system poller.
    poller: Poller,
    /// Raised by a notifier before it wakes the poller; lowered by `wait`.
    notified: AtomicBool,
}

/// The [`Notifier`] of a [`PollingBackend`].
#[derive(Debug)]
struct PollingNotifier {
    /// The same `Shared` as the backend's.
    shared: Arc<Shared>,
}

impl Notifier for PollingNotifier {
    fn notify(&self) -> io::Result<()> {
        // Raise the flag first: a `wait` that wakes for this notification
        // must see it, or it would take the wake-up for a spurious one.
        self.shared.notified.store(true, Ordering::SeqCst);
        self.shared.poller.notify()
    }
}

impl PollingBackend {
    /// Creates a backend with a new system poller.
    ///
    /// # Errors
    ///
    /// The system error if the poller (an epoll, kqueue or event port
    /// descriptor, plus its wake-up mechanism) cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::backend::polling_backend::PollingBackend;
    /// use fibrio_reactor::backend::Backend;
    ///
    /// let backend = PollingBackend::new()?;
    /// assert!(["epoll", "kqueue", "event ports", "polling"].contains(&backend.name()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<PollingBackend> {
        PollingBackend::with_mode(PollMode::Oneshot)
    }

    /// Creates a backend whose registrations are persistent and
    /// edge-triggered ([`Backend::persistent`] is true): `EPOLLET` on
    /// Linux, `EV_CLEAR` on kqueue.
    ///
    /// # Errors
    ///
    /// `Unsupported` where the system poller has no edge-triggered mode
    /// (event ports), or as for [`PollingBackend::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::backend::polling_backend::PollingBackend;
    /// use fibrio_reactor::backend::Backend;
    ///
    /// # if cfg!(any(target_os = "linux", target_os = "macos", target_os = "freebsd")) {
    /// let backend = PollingBackend::edge_triggered()?;
    /// assert!(backend.persistent());
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn edge_triggered() -> io::Result<PollingBackend> {
        let backend = PollingBackend::with_mode(PollMode::Edge)?;
        if !backend.shared.poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this system's poller has no edge-triggered mode",
            ));
        }
        Ok(backend)
    }

    fn with_mode(mode: PollMode) -> io::Result<PollingBackend> {
        Ok(PollingBackend {
            shared: Arc::new(Shared {
                poller: Poller::new()?,
                notified: AtomicBool::new(false),
            }),
            events: Events::new(),
            registrations: HashMap::new(),
            touched: Vec::new(),
            mode,
        })
    }

    /// Moves the events in `self.events` into `out`, one per fd, masked with
    /// what each registration armed, and (one-shot mode) disarms every fd
    /// reported.
    /// Returns how many events were appended.
    fn collect(&mut self, out: &mut Vec<ReadyEvent>) -> usize {
        for event in self.events.iter() {
            let Ok(fd) = RawFd::try_from(event.key) else {
                continue;
            };
            let Some(registration) = self.registrations.get_mut(&fd) else {
                continue;
            };
            let failed = event.is_interrupt() || event.is_err() == Some(true);
            let reported = Interest {
                readable: event.readable || failed,
                writable: event.writable || failed,
            };
            let ready = restrict(reported, registration.armed);
            if ready == Interest::NONE {
                continue;
            }
            if registration.pending == Interest::NONE {
                self.touched.push(fd);
            }
            registration.pending = union(registration.pending, ready);
        }
        self.events.clear();

        let count = self.touched.len();
        let one_shot = self.mode == PollMode::Oneshot;
        for fd in self.touched.drain(..) {
            if let Some(registration) = self.registrations.get_mut(&fd) {
                out.push(ReadyEvent::new(registration.key, registration.pending));
                if one_shot {
                    registration.armed = Interest::NONE;
                }
                registration.pending = Interest::NONE;
            }
        }
        count
    }
}

/// The `polling` key for `fd`; see the module invariants.
fn token(fd: RawFd) -> io::Result<usize> {
    usize::try_from(fd).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file descriptor {fd}"),
        )
    })
}

/// `polling`'s interest for `token` in `interest`'s directions.
fn event(token: usize, interest: Interest) -> Event {
    Event::new(token, interest.readable, interest.writable)
}

/// The directions of `reported` that `armed` asked for. When the two do not
/// overlap but both are non-empty, which the kernels above never produce,
/// the armed directions, so that an armed waiter is never left asleep on a
/// readiness it was told about.
fn restrict(reported: Interest, armed: Interest) -> Interest {
    let ready = Interest {
        readable: reported.readable && armed.readable,
        writable: reported.writable && armed.writable,
    };
    if ready == Interest::NONE && reported != Interest::NONE {
        armed
    } else {
        ready
    }
}

/// Both sets of directions.
fn union(a: Interest, b: Interest) -> Interest {
    Interest {
        readable: a.readable || b.readable,
        writable: a.writable || b.writable,
    }
}

/// The error for a fd that is not registered.
fn not_found(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("file descriptor {fd} is not registered"),
    )
}

impl Backend for PollingBackend {
    fn name(&self) -> &'static str {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            "epoll"
        } else if cfg!(any(
            target_os = "macos",
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos",
            target_os = "visionos",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly",
        )) {
            "kqueue"
        } else if cfg!(any(target_os = "illumos", target_os = "solaris")) {
            "event ports"
        } else {
            "polling"
        }
    }

    fn register(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        let token = token(fd)?;
        if self.registrations.contains_key(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file descriptor {fd} is already registered"),
            ));
        }
        // SAFETY: `Poller::add_with_mode` requires the source to be deleted from the
        // poller before it is closed. The `Backend::deregister` contract
        // requires the caller to deregister `fd` before closing it, and
        // `deregister` calls `Poller::delete`; dropping the backend drops its
        // handle on the poller, and a poller kept alive by a notifier only
        // holds kernel registrations, which the kernel removes itself when
        // the fd is closed. `fd` is non-negative (checked by `token`).
        unsafe {
            self.shared
                .poller
                .add_with_mode(fd, event(token, interest), self.mode)?
        };
        self.registrations.insert(
            fd,
            Registration {
                key,
                armed: interest,
                pending: Interest::NONE,
            },
        );
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        let token = token(fd)?;
        let registration = self
            .registrations
            .get_mut(&fd)
            .ok_or_else(|| not_found(fd))?;
        // SAFETY: `fd` is in `registrations`, so it was registered and has
        // not been deregistered; the `Backend::deregister` contract says a
        // registered fd is not closed before it is deregistered, so `fd` is
        // open for the duration of this borrow.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        self.shared
            .poller
            .modify_with_mode(borrowed, event(token, interest), self.mode)?;
        registration.key = key;
        registration.armed = interest;
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        if !self.registrations.contains_key(&fd) {
            return Err(not_found(fd));
        }
        // SAFETY: as in `modify`: `fd` is registered, so by the
        // `Backend::deregister` contract it has not been closed yet.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        self.shared.poller.delete(borrowed)?;
        self.registrations.remove(&fd);
        Ok(())
    }

    fn wait(&mut self, events: &mut Vec<ReadyEvent>, timeout: Option<Duration>) -> io::Result<()> {
        // `None` here with `Some` timeout: a deadline too far to represent,
        // which is waited for like no deadline at all.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        loop {
            let remaining =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            self.events.clear();
            // `Poller::wait` retries `EINTR` itself, against the deadline.
            self.shared.poller.wait(&mut self.events, remaining)?;
            let delivered = self.collect(events);
            let notified = self.shared.notified.swap(false, Ordering::SeqCst);
            if delivered > 0 || notified {
                return Ok(());
            }
            if let Some(deadline) = deadline {
                if Instant::now() >= deadline {
                    return Ok(());
                }
            }
        }
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(PollingNotifier {
            shared: Arc::clone(&self.shared),
        })
    }

    fn persistent(&self) -> bool {
        self.mode == PollMode::Edge
    }
}
