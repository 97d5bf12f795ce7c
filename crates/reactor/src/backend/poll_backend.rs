//! [`PollBackend`]: the portable [`Backend`] on `poll(2)`, or `ppoll(2)` on
//! Linux and Android for nanosecond timeouts.
//!
//! # Invariants
//!
//! * `PollBackend::registrations` holds one `Registration` per registered
//!   fd, in no particular order; `PollBackend::index` maps each registered fd
//!   to its position there. Only `register` (push and insert) and
//!   `deregister` (swap-remove, then re-point the index of the entry that
//!   moved) change either, and they always change both.
//! * `Registration::armed` is the interest not yet delivered. `register` and
//!   `modify` set it; `wait` resets it to [`Interest::NONE`] as it reports
//!   the registration, which is the one-shot contract. A registration with
//!   nothing armed is left out of the `poll` set.
//! * `PollBackend::pollfds` and `PollBackend::slots` are scratch space for
//!   `wait`, rebuilt at the start of every `poll` call: `pollfds[0]` is the
//!   waker's read end, and `pollfds[i]` for `i >= 1` watches
//!   `registrations[slots[i - 1]]`.
//! * `PollBackend::waker` is shared with every notifier. Its descriptors
//!   stay open as long as the backend or any notifier is alive, and are
//!   closed when the last of them is dropped (by `OwnedFd`'s `Drop`), so a
//!   notifier never writes to a closed or reused descriptor, nor to a pipe
//!   without a reader (which would raise `SIGPIPE`). Notifiers only write to
//!   it; only `wait` reads (drains) it.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libc::{c_int, c_short};

use super::{Backend, Interest, Notifier, ReadyEvent};

/// A [`Backend`] on `poll(2)` (`ppoll(2)` on Linux and Android), which works
/// on every Unix.
///
/// Each [`Backend::wait`] hands the kernel the whole set of armed
/// registrations, so a wait costs time in proportion to the number of fds
/// armed. Registrations are one-shot: after `wait` reports a fd, it is left
/// out of the set until [`Backend::modify`] re-arms it. Notifications go
/// through an eventfd on Linux and Android, a self-pipe elsewhere (or where
/// eventfd is unavailable).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// use fibrio_reactor::backend::poll_backend::PollBackend;
/// use fibrio_reactor::backend::{Backend, Interest, ReadyEvent};
///
/// let mut backend = PollBackend::new()?;
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
pub struct PollBackend {
    /// The registered fds; see the module invariants.
    registrations: Vec<Registration>,
    /// Fd to position in `registrations`.
    index: HashMap<RawFd, usize>,
    /// The set handed to `poll`; scratch for `wait`.
    pollfds: Vec<libc::pollfd>,
    /// `slots[i]` is the registration watched by `pollfds[i + 1]`.
    slots: Vec<usize>,
    /// The wake-up channel shared with notifiers.
    waker: Arc<Waker>,
}

impl fmt::Debug for PollBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pollfds` is scratch (and `libc::pollfd` has no `Debug` here).
        f.debug_struct("PollBackend")
            .field("registrations", &self.registrations)
            .field("waker", &self.waker)
            .finish_non_exhaustive()
    }
}

/// One registered fd.
#[derive(Debug, Clone, Copy)]
struct Registration {
    /// The descriptor.
    fd: RawFd,
    /// The caller's key, reported in [`ReadyEvent::key`].
    key: usize,
    /// The directions armed and not yet delivered.
    armed: Interest,
}

/// The [`Notifier`] of a [`PollBackend`].
#[derive(Debug)]
struct PollNotifier {
    /// The same waker as the backend's.
    waker: Arc<Waker>,
}

impl Notifier for PollNotifier {
    fn notify(&self) -> io::Result<()> {
        self.waker.wake()
    }
}

impl PollBackend {
    /// Creates a backend with no registrations and a fresh wake-up channel.
    ///
    /// # Errors
    ///
    /// The system error if the wake-up channel (an eventfd, or a pipe) cannot
    /// be created, for example when the process is out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::backend::poll_backend::PollBackend;
    /// use fibrio_reactor::backend::Backend;
    ///
    /// let backend = PollBackend::new()?;
    /// assert_eq!(backend.name(), "poll");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<PollBackend> {
        Ok(PollBackend::with_waker(Waker::new()?))
    }

    /// A backend notified through `waker`.
    fn with_waker(waker: Waker) -> PollBackend {
        PollBackend {
            registrations: Vec::new(),
            index: HashMap::new(),
            pollfds: Vec::new(),
            slots: Vec::new(),
            waker: Arc::new(waker),
        }
    }

    /// Rebuilds `pollfds` and `slots` from the armed registrations.
    fn fill_pollfds(&mut self) {
        self.pollfds.clear();
        self.slots.clear();
        self.pollfds.push(libc::pollfd {
            fd: self.waker.poll_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for (slot, registration) in self.registrations.iter().enumerate() {
            let events = poll_events(registration.armed);
            if events != 0 {
                self.pollfds.push(libc::pollfd {
                    fd: registration.fd,
                    events,
                    revents: 0,
                });
                self.slots.push(slot);
            }
        }
    }

    /// Reports every registration `poll` marked, disarming it. Returns how
    /// many events were appended.
    fn collect(&mut self, out: &mut Vec<ReadyEvent>) -> usize {
        let mut count = 0;
        for (pollfd, &slot) in self.pollfds[1..].iter().zip(&self.slots) {
            if pollfd.revents == 0 {
                continue;
            }
            let registration = &mut self.registrations[slot];
            out.push(ReadyEvent::new(
                registration.key,
                readiness(pollfd.revents, registration.armed),
            ));
            registration.armed = Interest::NONE;
            count += 1;
        }
        count
    }
}

/// The `poll` event mask for `interest`.
fn poll_events(interest: Interest) -> c_short {
    let mut events = 0;
    if interest.readable {
        events |= libc::POLLIN;
    }
    if interest.writable {
        events |= libc::POLLOUT;
    }
    events
}

/// The directions `revents` (non-zero) reports, restricted to `armed`
/// (non-empty). Errors, hang-ups and invalid descriptors count as both
/// directions. The result is never empty: if `revents` holds only flags
/// that name no direction, every armed direction is reported, so an armed
/// waiter always wakes for a fd the kernel flagged (and the registration is
/// disarmed rather than flagged again at once, which would spin).
fn readiness(revents: c_short, armed: Interest) -> Interest {
    let failed = revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
    let ready = Interest {
        readable: armed.readable && (failed || revents & libc::POLLIN != 0),
        writable: armed.writable && (failed || revents & libc::POLLOUT != 0),
    };
    if ready == Interest::NONE {
        armed
    } else {
        ready
    }
}

/// The error for a fd that is not registered.
fn not_found(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("file descriptor {fd} is not registered"),
    )
}

/// `Ok(ret)`, or the system error if `ret` is `-1`.
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `len` as the `nfds_t` that `poll` takes.
fn nfds(len: usize) -> io::Result<libc::nfds_t> {
    libc::nfds_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fds to poll"))
}

/// `ppoll(fds, timeout)`; `None` waits without limit. Returns the number of
/// entries with non-zero `revents`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<c_int> {
    let nfds = nfds(fds.len())?;
    let timespec = timeout.map(|timeout| libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 1_000_000_000, so it fits every `tv_nsec` type.
        tv_nsec: timeout.subsec_nanos() as _,
    });
    let timespec_ptr = timespec.as_ref().map_or(std::ptr::null(), |timespec| {
        timespec as *const libc::timespec
    });
    // SAFETY: `fds` is a live, exclusively borrowed slice of `nfds`
    // `pollfd`s, which `ppoll` reads and writes (`revents`) only within
    // those bounds. `timespec_ptr` is null (no limit) or points to
    // `timespec`, which outlives the call. A null signal mask means the
    // mask is left as it is.
    cvt(unsafe { libc::ppoll(fds.as_mut_ptr(), nfds, timespec_ptr, std::ptr::null()) })
}

/// `poll(fds, timeout)`; `None` waits without limit. Returns the number of
/// entries with non-zero `revents`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<c_int> {
    poll_millis(fds, timeout)
}

/// `poll(fds, timeout)` with `timeout` rounded up to whole milliseconds, so
/// that it never returns before `timeout` has passed.
#[cfg(any(test, not(any(target_os = "linux", target_os = "android"))))]
fn poll_millis(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<c_int> {
    let nfds = nfds(fds.len())?;
    let millis = timeout.map_or(-1, millis_rounded_up);
    // SAFETY: `fds` is a live, exclusively borrowed slice of `nfds`
    // `pollfd`s, which `poll` reads and writes (`revents`) only within
    // those bounds.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), nfds, millis) })
}

/// `timeout` in milliseconds, rounded up, capped at `c_int::MAX` (about 24
/// days; `wait` polls again if that passes before its deadline).
#[cfg(any(test, not(any(target_os = "linux", target_os = "android"))))]
fn millis_rounded_up(timeout: Duration) -> c_int {
    c_int::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(c_int::MAX)
}

/// Makes a pipe in `fds` (read end, write end). Returns whether both ends
/// are already close-on-exec and non-blocking.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
))]
fn raw_pipe(fds: &mut [c_int; 2]) -> io::Result<bool> {
    // SAFETY: `fds` points to two writable `c_int`s, which is what `pipe2`
    // stores the descriptors in; the flags are valid `pipe2` flags.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    Ok(true)
}

/// Makes a pipe in `fds` (read end, write end). Returns whether both ends
/// are already close-on-exec and non-blocking.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
)))]
fn raw_pipe(fds: &mut [c_int; 2]) -> io::Result<bool> {
    // SAFETY: `fds` points to two writable `c_int`s, which is what `pipe`
    // stores the descriptors in.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    Ok(false)
}

/// Sets close-on-exec and non-blocking mode on `fd`.
fn set_cloexec_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: `fd` comes from a `BorrowedFd`, so it is open for this whole
    // function; `F_GETFD` takes no argument and touches no memory.
    let fd_flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: `fd` is open (as above); `F_SETFD` takes an `int` of
    // descriptor flags, which is what is passed, and touches no memory.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC) })?;
    // SAFETY: `fd` is open (as above); `F_GETFL` takes no argument and
    // touches no memory.
    let status_flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: `fd` is open (as above); `F_SETFL` takes an `int` of status
    // flags, which is what is passed, and touches no memory.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, status_flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// The channel through which notifiers wake `wait`: readable while a
/// notification is pending, drained by `wait`. Both kinds are
/// close-on-exec and non-blocking.
#[derive(Debug)]
enum Waker {
    /// An eventfd, polled and drained by `wait`, written by notifiers.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    EventFd(OwnedFd),
    /// A self-pipe: `wait` polls and drains `read`, notifiers write to
    /// `write`.
    Pipe {
        /// The read end.
        read: OwnedFd,
        /// The write end.
        write: OwnedFd,
    },
}

impl Waker {
    /// An eventfd where there is one, else a pipe.
    fn new() -> io::Result<Waker> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match Waker::eventfd() {
            Ok(waker) => return Ok(waker),
            // Some sandboxes refuse eventfd; a pipe does the same job.
            Err(error) => log::debug!("eventfd unavailable ({error}); using a pipe"),
        }
        Waker::pipe()
    }

    /// A non-blocking, close-on-exec eventfd.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn eventfd() -> io::Result<Waker> {
        // SAFETY: `eventfd` takes no pointers; the flags are valid for it.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by a successful `eventfd`, so it is
        // an open descriptor, and nothing else owns it.
        Ok(Waker::EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// A pipe whose ends are both non-blocking and close-on-exec.
    fn pipe() -> io::Result<Waker> {
        let mut fds: [c_int; 2] = [-1, -1];
        let flags_set = raw_pipe(&mut fds)?;
        // SAFETY: `raw_pipe` succeeded, so `fds` holds the two ends of a new
        // pipe: open descriptors that nothing else owns.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if !flags_set {
            set_cloexec_nonblock(read.as_fd())?;
            set_cloexec_nonblock(write.as_fd())?;
        }
        Ok(Waker::Pipe { read, write })
    }

    /// The descriptor `wait` polls for readability.
    fn poll_fd(&self) -> RawFd {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Waker::EventFd(fd) => fd.as_raw_fd(),
            Waker::Pipe { read, .. } => read.as_raw_fd(),
        }
    }

    /// Makes the descriptor readable, if it is not already.
    fn wake(&self) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const EVENTFD_ONE: [u8; 8] = 1u64.to_ne_bytes();
        let (fd, bytes): (BorrowedFd<'_>, &[u8]) = match self {
            // An eventfd takes 8-byte counter increments.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Waker::EventFd(fd) => (fd.as_fd(), &EVENTFD_ONE),
            Waker::Pipe { write, .. } => (write.as_fd(), &[1]),
        };
        loop {
            // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes, and
            // `fd` is borrowed from an `OwnedFd` that `self` keeps open.
            let written =
                unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
            if written >= 0 {
                // Writes this small to a pipe or eventfd are all or nothing.
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                // Pipe full, or eventfd counter at its maximum: a wake-up is
                // pending already.
                io::ErrorKind::WouldBlock => return Ok(()),
                _ => return Err(error),
            }
        }
    }

    /// Consumes every pending notification.
    fn drain(&self) -> io::Result<()> {
        let fd = match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Waker::EventFd(fd) => fd,
            Waker::Pipe { read, .. } => read,
        };
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and
            // `fd` is an `OwnedFd` that `self` keeps open.
            let read = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if read >= 0 {
                // A short read (an eventfd always reads 8 bytes and resets)
                // emptied it; a full one may have left more behind. End of
                // file cannot happen while `self` holds the write end.
                if read.unsigned_abs() < buf.len() {
                    return Ok(());
                }
                continue;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(()),
                _ => return Err(error),
            }
        }
    }
}

impl Backend for PollBackend {
    fn name(&self) -> &'static str {
        "poll"
    }

    fn register(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid file descriptor {fd}"),
            ));
        }
        if self.index.contains_key(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file descriptor {fd} is already registered"),
            ));
        }
        // Fail now, as epoll and kqueue do, rather than report `POLLNVAL`
        // on every wait.
        // SAFETY: `F_GETFD` takes no argument and touches no memory; on a
        // descriptor that is not open it fails with `EBADF`.
        cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
        self.index.insert(fd, self.registrations.len());
        self.registrations.push(Registration {
            fd,
            key,
            armed: interest,
        });
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        let &slot = self.index.get(&fd).ok_or_else(|| not_found(fd))?;
        let registration = &mut self.registrations[slot];
        registration.key = key;
        registration.armed = interest;
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let slot = self.index.remove(&fd).ok_or_else(|| not_found(fd))?;
        self.registrations.swap_remove(slot);
        if let Some(moved) = self.registrations.get(slot) {
            self.index.insert(moved.fd, slot);
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Vec<ReadyEvent>, timeout: Option<Duration>) -> io::Result<()> {
        // `None` here with `Some` timeout: a deadline too far to represent,
        // which is waited for like no deadline at all.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        loop {
            self.fill_pollfds();
            let remaining =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            match sys_poll(&mut self.pollfds, remaining) {
                Ok(_) => {}
                // Retried with the time that is left.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            let notified = self.pollfds[0].revents != 0;
            if notified {
                self.waker.drain()?;
            }
            let delivered = self.collect(events);
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
        Arc::new(PollNotifier {
            waker: Arc::clone(&self.waker),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Paths the integration tests cannot reach on Linux: the pipe waker
    //! (Linux uses an eventfd) and millisecond `poll` (Linux uses `ppoll`).

    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::thread;

    #[test]
    fn pipe_waker_wakes_wait_from_another_thread() -> io::Result<()> {
        let mut backend = PollBackend::with_waker(Waker::pipe()?);
        let notifier = backend.notifier();
        let handle = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            notifier.notify()
        });
        let start = Instant::now();
        let mut events = Vec::new();
        backend.wait(&mut events, Some(Duration::from_secs(30)))?;
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(events.is_empty());
        handle.join().expect("notifier thread panicked")
    }

    #[test]
    fn pipe_waker_keeps_notification_sent_before_wait() -> io::Result<()> {
        let mut backend = PollBackend::with_waker(Waker::pipe()?);
        backend.notifier().notify()?;
        let start = Instant::now();
        let mut events = Vec::new();
        backend.wait(&mut events, Some(Duration::from_secs(30)))?;
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(events.is_empty());
        Ok(())
    }

    #[test]
    fn pipe_waker_full_pipe_coalesces_notifications() -> io::Result<()> {
        let mut backend = PollBackend::with_waker(Waker::pipe()?);
        let notifier = backend.notifier();
        // More bytes than any pipe buffer holds: the later writes hit EAGAIN.
        for _ in 0..200_000 {
            notifier.notify()?;
        }
        let mut events = Vec::new();
        backend.wait(&mut events, Some(Duration::from_secs(30)))?;
        // Drained completely: the next wait sleeps for its whole timeout.
        let start = Instant::now();
        backend.wait(&mut events, Some(Duration::from_millis(20)))?;
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(events.is_empty());
        Ok(())
    }

    #[test]
    fn pipe_waker_ends_are_cloexec_and_nonblocking() -> io::Result<()> {
        let Waker::Pipe { read, write } = Waker::pipe()? else {
            panic!("Waker::pipe made something else");
        };
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            assert_flags(fd)?;
        }
        Ok(())
    }

    #[test]
    fn set_cloexec_nonblock_sets_both_flags() -> io::Result<()> {
        // `std` makes its pipes close-on-exec but blocking; clear
        // close-on-exec too, to see both set again.
        let (reader, _writer) = io::pipe()?;
        let fd = reader.as_fd();
        // SAFETY: `fd` is borrowed from `reader`, open for this test;
        // `F_SETFD` takes an `int` of flags and touches no memory.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) })?;
        set_cloexec_nonblock(fd)?;
        assert_flags(fd.as_raw_fd())
    }

    /// Asserts that `fd` is close-on-exec and non-blocking.
    fn assert_flags(fd: RawFd) -> io::Result<()> {
        // SAFETY: the callers pass descriptors they keep open; `F_GETFD`
        // takes no argument and touches no memory.
        let fd_flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
        // SAFETY: as above, for `F_GETFL`.
        let status_flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "fd {fd} not close-on-exec");
        assert_ne!(status_flags & libc::O_NONBLOCK, 0, "fd {fd} blocking");
        Ok(())
    }

    #[test]
    fn millisecond_timeouts_round_up() {
        assert_eq!(millis_rounded_up(Duration::ZERO), 0);
        assert_eq!(millis_rounded_up(Duration::from_nanos(1)), 1);
        assert_eq!(millis_rounded_up(Duration::from_millis(1)), 1);
        assert_eq!(millis_rounded_up(Duration::from_micros(1_001)), 2);
        assert_eq!(millis_rounded_up(Duration::from_micros(19_999)), 20);
        assert_eq!(millis_rounded_up(Duration::MAX), c_int::MAX);
    }

    #[test]
    fn poll_millis_sleeps_at_least_its_timeout() -> io::Result<()> {
        let (a, _b) = UnixStream::pair()?;
        let mut fds = [libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let start = Instant::now();
        let ready = poll_millis(&mut fds, Some(Duration::from_micros(20_500)))?;
        assert_eq!(ready, 0);
        assert!(start.elapsed() >= Duration::from_micros(20_500));
        Ok(())
    }

    #[test]
    fn poll_millis_reports_readable_fd() -> io::Result<()> {
        let (a, mut b) = UnixStream::pair()?;
        b.write_all(b"x")?;
        let mut fds = [libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll_millis(&mut fds, Some(Duration::from_secs(5)))?, 1);
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
        Ok(())
    }

    #[test]
    fn revents_map_to_armed_directions() {
        let both = Interest {
            readable: true,
            writable: true,
        };
        assert_eq!(readiness(libc::POLLIN, both), Interest::READABLE);
        assert_eq!(readiness(libc::POLLOUT, both), Interest::WRITABLE);
        assert_eq!(readiness(libc::POLLHUP, both), both);
        assert_eq!(
            readiness(libc::POLLERR, Interest::WRITABLE),
            Interest::WRITABLE
        );
        assert_eq!(
            readiness(libc::POLLNVAL, Interest::READABLE),
            Interest::READABLE
        );
        assert_eq!(
            readiness(libc::POLLPRI, Interest::READABLE),
            Interest::READABLE
        );
    }
}
