//! The connection's input: `buf[consumed..filled]` is read and not yet
//! used. It grows up to the head limit and is compacted before reads. It
//! lives only while a batch of requests is served, and gives its buffer
//! back while the batch waits for a request.

use std::io::{self, Read, Write};

use fibrio::net::TcpStream;

use super::sweeper::{millis, Sweeper, Watched};

/// The input buffer's initial size.
pub(super) const INITIAL_BUFFER: usize = 4096;

/// What a waiting task (or a request task between requests) reads onto its
/// stack when bytes arrive; the input buffer continues from there.
pub(super) const FIRST_READ: usize = 1024;

// The first bytes fit in the input buffer.
const _: () = assert!(FIRST_READ <= INITIAL_BUFFER);

/// The connection's input: `buf[consumed..filled]` is read and not yet
/// used. It grows up to the head limit and is compacted before reads. It
/// lives only while a batch of requests is served, and gives its buffer
/// back while the batch waits for a request.
pub(super) struct Input<'s> {
    pub(super) stream: &'s TcpStream,
    pub(super) watched: &'s Watched,
    pub(super) sweeper: &'s Sweeper,
    /// The idle timeout in milliseconds: for body reads and writes.
    pub(super) idle_ms: u64,
    pub(super) buf: Vec<u8>,
    pub(super) consumed: usize,
    pub(super) filled: usize,
    capacity: usize,
}

impl<'s> Input<'s> {
    /// An input holding `first`, the bytes that woke the connection
    /// (`buf[..filled]`).
    pub(super) fn new(
        watched: &'s Watched,
        sweeper: &'s Sweeper,
        buf: Vec<u8>,
        filled: usize,
    ) -> Input<'s> {
        let config = &sweeper.config;
        Input {
            stream: &watched.stream,
            watched,
            sweeper,
            idle_ms: millis(config.idle_timeout),
            buf,
            consumed: 0,
            filled,
            capacity: config.max_head_bytes.max(INITIAL_BUFFER),
        }
    }

    /// When writes starting now must have made progress.
    pub(super) fn write_deadline(&self) -> u64 {
        self.sweeper.deadline(self.idle_ms)
    }

    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.consumed..self.filled]
    }

    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.filled - self.consumed);
        self.consumed += n;
        if self.consumed == self.filled {
            self.consumed = 0;
            self.filled = 0;
        }
    }

    /// Flushes `out` (the client may be waiting for those responses), then
    /// reads more input by `deadline_ms` (the sweeper's clock), else fails
    /// with `TimedOut`. `Ok(0)` is the end of the stream.
    pub(super) fn fill(&mut self, out: &mut impl Write, deadline_ms: u64) -> io::Result<usize> {
        self.watched.writing_until(self.write_deadline());
        out.flush()?;
        if self.filled == self.buf.len() {
            if self.consumed > 0 {
                self.buf.copy_within(self.consumed..self.filled, 0);
                self.filled -= self.consumed;
                self.consumed = 0;
            } else if self.buf.len() < self.capacity {
                let size = (self.buf.len() * 2).min(self.capacity);
                self.buf.resize(size, 0);
            } else {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "input full"));
            }
        }
        self.watched.reading.set(true);
        self.watched.deadline_ms.set(deadline_ms);
        let n = (&*self.stream).read(&mut self.buf[self.filled..])?;
        if n == 0 && self.watched.expired.get() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.filled += n;
        Ok(n)
    }
}
