//! [`EpollBackend`]: fibrio's own [`Backend`] on Linux `epoll`, with
//! persistent, edge-triggered registrations (Linux and Android only).
//!
//! Why not the `polling` crate here: every `Poller::wait` there costs five
//! system calls on Linux (it programs a timerfd and re-arms it, waits, then
//! reads its eventfd and re-arms that), and its default one-shot mode adds
//! an `epoll_ctl` per socket wait. Here a wait is one `epoll_pwait2`, whose
//! timeout has nanosecond resolution, and a registration is made once and
//! never re-armed.
//!
//! # Invariants
//!
//! * `EpollBackend::registrations[fd]` is `Some` exactly while `fd` is in the
//!   epoll set. Only `register` (after a successful `EPOLL_CTL_ADD`) and
//!   `deregister` (after `EPOLL_CTL_DEL`, or when the kernel says the fd is
//!   no longer there) change which entries are `Some`.
//! * Every fd is added with `EPOLLET` and its own number as the event data.
//!   The eventfd is added once, with `EPOLLIN | EPOLLET` and the data
//!   `NOTIFY` (`u64::MAX`), which no fd number equals (fds are non-negative `i32`s).
//! * `Registration::interest` is the interest the kernel was last given for
//!   the fd. Events are masked with it, so the error and hang-up reports
//!   epoll always sends are dropped for a registration with no interest.
//! * `Shared::pending` is raised by the first [`Notifier::notify`] that finds
//!   it down, which then writes to the eventfd; it is lowered (with a swap,
//!   so it synchronises with every notifier that raised or saw it raised)
//!   only by a `wait` that has just received the eventfd's event, and that
//!   `wait` returns. So every notification either wrote an edge that a
//!   `wait` will report, or was made while such an edge was still
//!   unreported, and in both cases a `wait` returns after it.
//! * The eventfd is never read. With `EPOLLET` every write is a new edge
//!   whatever the counter holds, and the counter grows by at most one per
//!   lowering of `pending`, so it cannot reach its limit.
//! * `EpollBackend::pwait2` is true until `epoll_pwait2` fails with `ENOSYS`
//!   (Linux before 5.11) or `EPERM` (a seccomp filter that predates it);
//!   from then on waits use `epoll_wait`, with the timeout rounded **up** to
//!   a whole millisecond, so a wait still never ends before its timeout.
//! * `EpollBackend::events` holds the kernel's output of the last
//!   `epoll_pwait2`/`epoll_wait` only inside `wait`; its length is what the
//!   kernel reported, never more than its capacity.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libc::c_int;

use super::{Backend, Interest, Notifier, ReadyEvent};

/// The event data of the eventfd.
const NOTIFY: u64 = u64::MAX;

/// How many events one system call can return.
const EVENTS_PER_WAIT: usize = 1024;

/// The kernel's `struct __kernel_timespec`, which `epoll_pwait2` takes:
/// 64-bit fields on every architecture (unlike `libc::timespec` on some
/// 32-bit ones).
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// A [`Backend`] on Linux `epoll`: persistent, edge-triggered registrations
/// ([`Backend::persistent`] is true), an eventfd for notifications, and
/// `epoll_pwait2` for timeouts, so that a wait is one system call.
///
/// See the [module contract](super) for what "edge-triggered" promises.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// use fibrio_reactor::backend::epoll_backend::EpollBackend;
/// use fibrio_reactor::backend::{Backend, Interest, ReadyEvent};
///
/// let mut backend = EpollBackend::new()?;
/// assert!(backend.persistent());
/// let (a, mut b) = UnixStream::pair()?;
/// backend.register(a.as_raw_fd(), 7, Interest::READABLE)?;
/// b.write_all(b"ping")?;
///
/// let mut events = Vec::new();
/// backend.wait(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events, [ReadyEvent::new(7, Interest::READABLE)]);
///
/// // Edge-triggered: the unread data is not reported again...
/// events.clear();
/// backend.wait(&mut events, Some(Duration::from_millis(10)))?;
/// assert!(events.is_empty());
/// // ...but new data is, without re-arming.
/// b.write_all(b"pong")?;
/// backend.wait(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events, [ReadyEvent::new(7, Interest::READABLE)]);
///
/// backend.deregister(a.as_raw_fd())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct EpollBackend {
    /// The epoll and eventfd descriptors, shared with every notifier.
    shared: Arc<Shared>,
    /// Indexed by fd; see the module invariants.
    registrations: Vec<Option<Registration>>,
    /// The kernel's output buffer; see the module invariants.
    events: Vec<libc::epoll_event>,
    /// Whether `epoll_pwait2` is usable; see the module invariants.
    pwait2: bool,
}

impl fmt::Debug for EpollBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpollBackend")
            .field("shared", &self.shared)
            .field(
                "registrations",
                &self.registrations.iter().filter(|r| r.is_some()).count(),
            )
            .field("pwait2", &self.pwait2)
            .finish_non_exhaustive()
    }
}

/// One registered fd.
#[derive(Debug, Clone, Copy)]
struct Registration {
    /// The caller's key, reported in [`ReadyEvent::key`].
    key: usize,
    /// The interest the kernel was last given.
    interest: Interest,
}

/// What the backend shares with its notifiers. Both descriptors are closed
/// when the backend and every notifier are gone, so a notifier never writes
/// to a closed or reused descriptor.
#[derive(Debug)]
struct Shared {
    /// The epoll instance.
    epoll: OwnedFd,
    /// The eventfd notifiers write to.
    eventfd: OwnedFd,
    /// Whether a notification is written and not yet reported.
    pending: AtomicBool,
}

/// The [`Notifier`] of an [`EpollBackend`].
#[derive(Debug)]
struct EpollNotifier {
    /// The same `Shared` as the backend's.
    shared: Arc<Shared>,
}

impl Notifier for EpollNotifier {
    fn notify(&self) -> io::Result<()> {
        if self.shared.pending.swap(true, Ordering::SeqCst) {
            // An edge is written and not yet reported: the wait that
            // reports it returns after this call (module invariants).
            return Ok(());
        }
        let one: u64 = 1;
        loop {
            // SAFETY: `eventfd` is open for as long as `shared` lives (it is
            // an `OwnedFd` inside the `Arc` we hold), and the buffer is the 8
            // readable bytes of `one`, alive for the call.
            let written = unsafe {
                libc::write(
                    self.shared.eventfd.as_raw_fd(),
                    ptr::from_ref(&one).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if written >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// Returns the fd a successful system call returned, or the error.
fn check_fd(fd: c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel as a new descriptor, and
    // nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The epoll flags for `interest`, always edge-triggered.
fn flags(interest: Interest) -> u32 {
    let mut flags = libc::EPOLLET as u32;
    if interest.readable {
        flags |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
    }
    if interest.writable {
        flags |= libc::EPOLLOUT as u32;
    }
    flags
}

/// The directions epoll's `flags` report; errors and hang-ups count as both.
fn reported(flags: u32) -> Interest {
    let failed = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
    Interest {
        readable: failed || flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32 != 0,
        writable: failed || flags & libc::EPOLLOUT as u32 != 0,
    }
}

/// The error for a fd that is not registered.
fn not_found(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("file descriptor {fd} is not registered"),
    )
}

/// `fd` as an index into `registrations`.
fn index(fd: RawFd) -> io::Result<usize> {
    usize::try_from(fd).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file descriptor {fd}"),
        )
    })
}

impl EpollBackend {
    /// Creates a backend with a new epoll instance and eventfd.
    ///
    /// # Errors
    ///
    /// The system error if either descriptor cannot be created (for
    /// example, out of fds).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::backend::epoll_backend::EpollBackend;
    /// use fibrio_reactor::backend::Backend;
    ///
    /// let backend = EpollBackend::new()?;
    /// assert_eq!(backend.name(), "epoll");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<EpollBackend> {
        // SAFETY: `epoll_create1` takes only flags and returns a new fd or -1.
        let epoll = check_fd(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `eventfd` takes an initial value and flags and returns a
        // new fd or -1.
        let eventfd =
            check_fd(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: NOTIFY,
        };
        // SAFETY: both descriptors are open (owned above), and `event` is a
        // valid `epoll_event` the kernel only reads during the call.
        let added = unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                eventfd.as_raw_fd(),
                &mut event,
            )
        };
        if added < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EpollBackend {
            shared: Arc::new(Shared {
                epoll,
                eventfd,
                pending: AtomicBool::new(false),
            }),
            registrations: Vec::new(),
            events: Vec::with_capacity(EVENTS_PER_WAIT),
            pwait2: true,
        })
    }

    /// `epoll_ctl(op, fd)` with `interest` and the fd as event data.
    fn control(&self, op: c_int, fd: RawFd, interest: Interest) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: flags(interest),
            u64: fd as u64,
        };
        // SAFETY: the epoll fd is open while `self` lives; `event` is a valid
        // `epoll_event` the kernel only reads during the call; an invalid
        // `fd` is reported as `EBADF`, not undefined behaviour.
        let done = unsafe { libc::epoll_ctl(self.shared.epoll.as_raw_fd(), op, fd, &mut event) };
        if done < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One system call: fills `self.events` with what is ready, waiting at
    /// most `timeout` (`None`: forever). A wait cut short by a signal
    /// returns with no events.
    fn wait_once(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.events.clear();
        let capacity = c_int::try_from(self.events.capacity()).unwrap_or(c_int::MAX);
        let buffer = self.events.as_mut_ptr();
        let epoll = self.shared.epoll.as_raw_fd();
        let count = if self.pwait2 {
            let timespec = timeout.map(|t| KernelTimespec {
                tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(t.subsec_nanos()),
            });
            let timespec_ptr = timespec.as_ref().map_or(ptr::null(), ptr::from_ref);
            // SAFETY: `buffer` has room for `capacity` events and the kernel
            // writes at most that many; `timespec_ptr` is null or points to a
            // `__kernel_timespec` alive for the call; a null signal mask
            // means "leave the mask alone", and then its size is not read.
            let count = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    epoll,
                    buffer,
                    capacity,
                    timespec_ptr,
                    ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if count < 0 {
                let err = io::Error::last_os_error();
                if matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                    log::debug!("fibrio: epoll_pwait2 unavailable ({err}); using epoll_wait");
                    self.pwait2 = false;
                    return self.wait_once(timeout);
                }
                -1
            } else {
                count as c_int
            }
        } else {
            let millis = match timeout {
                None => -1,
                // Rounded up, so the wait never ends before the timeout.
                Some(t) => c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(c_int::MAX),
            };
            // SAFETY: as above: `buffer` has room for `capacity` events.
            unsafe { libc::epoll_wait(epoll, buffer, capacity, millis) }
        };
        if count < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err);
        }
        let count = usize::try_from(count)
            .unwrap_or(0)
            .min(self.events.capacity());
        // SAFETY: the kernel initialised the first `count` entries, and
        // `count` is within the capacity.
        unsafe { self.events.set_len(count) };
        Ok(())
    }

    /// Moves `self.events` into `out`, masked with each registration's
    /// interest. Returns how many events were appended and whether the
    /// eventfd was among them.
    fn collect(&mut self, out: &mut Vec<ReadyEvent>) -> (usize, bool) {
        let mut delivered = 0;
        let mut notified = false;
        for event in self.events.drain(..) {
            let (flags, data) = (event.events, event.u64);
            if data == NOTIFY {
                notified = true;
                continue;
            }
            let Some(Some(registration)) = usize::try_from(data)
                .ok()
                .and_then(|fd| self.registrations.get(fd))
            else {
                continue;
            };
            let reported = reported(flags);
            let ready = Interest {
                readable: reported.readable && registration.interest.readable,
                writable: reported.writable && registration.interest.writable,
            };
            if ready != Interest::NONE {
                out.push(ReadyEvent {
                    key: registration.key,
                    ready,
                    hangup: registration.interest.readable
                        && flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0,
                });
                delivered += 1;
            }
        }
        if notified {
            self.shared.pending.swap(false, Ordering::SeqCst);
        }
        (delivered, notified)
    }
}

impl Backend for EpollBackend {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn register(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        let slot = index(fd)?;
        if self.registrations.get(slot).is_some_and(Option::is_some) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file descriptor {fd} is already registered"),
            ));
        }
        self.control(libc::EPOLL_CTL_ADD, fd, interest)?;
        if self.registrations.len() <= slot {
            self.registrations.resize(slot + 1, None);
        }
        self.registrations[slot] = Some(Registration { key, interest });
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        let slot = index(fd)?;
        if !self.registrations.get(slot).is_some_and(Option::is_some) {
            return Err(not_found(fd));
        }
        // `EPOLL_CTL_MOD` re-polls the fd, so a direction that is ready now
        // is reported again, as the contract asks.
        self.control(libc::EPOLL_CTL_MOD, fd, interest)?;
        self.registrations[slot] = Some(Registration { key, interest });
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let slot = index(fd)?;
        if !self.registrations.get(slot).is_some_and(Option::is_some) {
            return Err(not_found(fd));
        }
        let deleted = self.control(libc::EPOLL_CTL_DEL, fd, Interest::NONE);
        if let Err(err) = &deleted {
            // A fd closed before it was deregistered has already left the
            // epoll set (`EBADF`, or `ENOENT` once the number is reused):
            // forget it, so the number can be registered again.
            if !matches!(err.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) {
                return deleted;
            }
        }
        self.registrations[slot] = None;
        deleted
    }

    fn wait(&mut self, events: &mut Vec<ReadyEvent>, timeout: Option<Duration>) -> io::Result<()> {
        // `None` with a `Some` timeout: a deadline too far to represent,
        // which is waited for like no deadline at all.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut remaining = deadline.and(timeout);
        loop {
            self.wait_once(remaining)?;
            let (delivered, notified) = self.collect(events);
            if delivered > 0 || notified {
                return Ok(());
            }
            // Nothing for the caller: a signal, a report masked out, or (with
            // `epoll_wait`) the end of the rounded timeout. Wait out the rest.
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(());
                }
                remaining = Some(deadline - now);
            }
        }
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(EpollNotifier {
            shared: Arc::clone(&self.shared),
        })
    }

    fn persistent(&self) -> bool {
        true
    }

    fn reports_hangup(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// The `epoll_wait` fallback (kernels before 5.11) rounds timeouts up,
    /// never down, and still delivers events.
    #[test]
    fn epoll_wait_fallback_never_returns_early() -> io::Result<()> {
        let mut backend = EpollBackend::new()?;
        backend.pwait2 = false;
        let (a, mut b) = UnixStream::pair()?;
        backend.register(a.as_raw_fd(), 3, Interest::READABLE)?;
        for timeout in [Duration::from_micros(300), Duration::from_micros(20_300)] {
            let start = Instant::now();
            let mut events = Vec::new();
            backend.wait(&mut events, Some(timeout))?;
            assert!(events.is_empty());
            assert!(
                start.elapsed() >= timeout,
                "{:?} < {timeout:?}",
                start.elapsed()
            );
        }
        b.write_all(b"x")?;
        let mut events = Vec::new();
        backend.wait(&mut events, Some(Duration::from_secs(5)))?;
        assert_eq!(events, [ReadyEvent::new(3, Interest::READABLE)]);
        backend.deregister(a.as_raw_fd())
    }

    /// A fd closed before it is deregistered can still be forgotten, so its
    /// number can be registered again.
    #[test]
    fn deregister_after_close_frees_the_number() -> io::Result<()> {
        let mut backend = EpollBackend::new()?;
        let (a, _b) = UnixStream::pair()?;
        let fd = a.as_raw_fd();
        backend.register(fd, 1, Interest::READABLE)?;
        drop(a);
        assert!(backend.deregister(fd).is_err());
        assert_eq!(
            backend.deregister(fd).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        Ok(())
    }
}
