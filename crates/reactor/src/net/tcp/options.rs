//! The options of a [`TcpStream`]: read and write timeouts,
//! `TCP_NODELAY`, the IP TTL and the pending socket error.
//!
//! Invariants:
//! * A timeout of `Some(Duration::ZERO)` is refused with `InvalidInput`,
//!   as std; timeouts apply to real and simulated streams alike.
//! * A simulated stream reports a TTL of 64 and no pending error; setting
//!   its TTL changes nothing.

use std::io;
use std::time::Duration;

use super::stream::{StreamInner, TcpStream};
use super::SIM_TTL;
use crate::timeouts::SocketTimeouts;

impl TcpStream {
    /// Sets the read timeout: a read that waits longer fails with
    /// `ErrorKind::TimedOut`. `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let _server = listener.accept()?; // connected, but sends nothing
    /// client.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = (&client).read(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// assert!(client.set_read_timeout(Some(Duration::ZERO)).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts().set_read(timeout)
    }

    /// Sets the write timeout. See [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts().set_write(timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.read_timeout()?, None);
    /// stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.read_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().read())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().write())
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().set_nodelay(nodelay),
            StreamInner::Sim(stream) => {
                stream.set_nodelay(nodelay);
                Ok(())
            }
        }
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(!stream.nodelay()?); // off by default
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().nodelay(),
            StreamInner::Sim(stream) => Ok(stream.nodelay()),
        }
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self.os() {
            Some(inner) => inner.get_ref().take_error(),
            None => Ok(None),
        }
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_ttl(42)?;
    /// assert_eq!(stream.ttl()?, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match self.os() {
            Some(inner) => inner.get_ref().set_ttl(ttl),
            None => Ok(()),
        }
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        match self.os() {
            Some(inner) => inner.get_ref().ttl(),
            None => Ok(SIM_TTL),
        }
    }

    /// The read and write timeouts, real socket or simulated.
    fn timeouts(&self) -> &SocketTimeouts {
        match &self.inner {
            StreamInner::Os(inner) => inner.timeouts(),
            StreamInner::Sim(stream) => stream.timeouts(),
        }
    }
}
