//! What the soak's clients share: the seeded [`Rng`] of their payloads
//! and choices, the [`Tally`] of what they did, and how they open
//! ([`client_stream`]) and reset ([`reset`]) a connection.
//!
//! Invariants (from the soak's docs): the payloads and the chaos's choices
//! are seeded (`SOAK_SEED`); a checking client waits [`IO_TIMEOUT`] for a
//! byte before calling it lost.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

/// How long a checking client waits for a byte before calling it lost.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// xorshift64*: the seeded payloads and the chaos's choices.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Random bytes, `min..max` of them.
    pub(super) fn payload(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = min + self.below((max - min) as u64) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the clients of one server did, and what went wrong.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) verified_bytes: AtomicU64,
    pub(super) exchanges: AtomicU64,
    pub(super) chaos_connections: AtomicU64,
    pub(super) killed_clients: AtomicU64,
    pub(super) failures: Mutex<Vec<String>>,
}

impl Tally {
    pub(super) fn fail(&self, what: String) {
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 20 {
            failures.push(what);
        }
    }
}

pub(super) fn client_stream(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Closes with a RST (SO_LINGER 0): the connection is reset, not shut down.
pub(super) fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this function owns, with a pointer to a
    // live `linger` and its exact size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
