//! [`SocketTimeouts`]: a socket's read and write timeouts, shared by the
//! real sockets (`net/evented.rs`) and the simulated ones (`sim/tcp.rs`).
//!
//! # Invariants
//!
//! * A timeout is `None` (wait for ever) or a non-zero `Duration`: a zero
//!   timeout is refused with `InvalidInput`, as std's sockets refuse it.
//! * A deadline is read from the runtime's clock (virtual inside a
//!   simulation). A timeout too large to add to the clock means no
//!   deadline, never a panic.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use crate::reactor::Direction;

/// A socket's read and write timeouts (`None`: no timeout).
#[derive(Debug, Default)]
pub(crate) struct SocketTimeouts {
    read: Cell<Option<Duration>>,
    write: Cell<Option<Duration>>,
}

impl SocketTimeouts {
    pub(crate) fn read(&self) -> Option<Duration> {
        self.read.get()
    }

    pub(crate) fn write(&self) -> Option<Duration> {
        self.write.get()
    }

    /// Sets the read timeout; a zero timeout is `InvalidInput`.
    pub(crate) fn set_read(&self, timeout: Option<Duration>) -> io::Result<()> {
        check(timeout)?;
        self.read.set(timeout);
        Ok(())
    }

    /// Sets the write timeout; a zero timeout is `InvalidInput`.
    pub(crate) fn set_write(&self, timeout: Option<Duration>) -> io::Result<()> {
        check(timeout)?;
        self.write.set(timeout);
        Ok(())
    }

    /// The deadline of a wait in `direction` that starts now.
    pub(crate) fn deadline(&self, direction: Direction) -> Option<Instant> {
        let timeout = match direction {
            Direction::Read => self.read.get(),
            Direction::Write => self.write.get(),
        };
        deadline_after(timeout)
    }
}

/// Now on the runtime's clock plus `timeout`; `None` without a timeout, or
/// when the sum would overflow (a deadline that far never comes). Without
/// a timeout the clock is not read: a socket call without one pays nothing.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    let timeout = timeout?;
    fibrio_core::time::now_std().checked_add(timeout)
}

fn check(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout; use None for no timeout",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_and_a_huge_timeout_means_no_deadline() {
        let timeouts = SocketTimeouts::default();
        let err = timeouts.set_read(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(timeouts.read(), None);
        timeouts.set_write(Some(Duration::MAX)).unwrap();
        assert_eq!(timeouts.deadline(Direction::Write), None);
        timeouts.set_read(Some(Duration::from_secs(1))).unwrap();
        let deadline = timeouts.deadline(Direction::Read).unwrap();
        assert!(deadline > Instant::now());
    }
}
