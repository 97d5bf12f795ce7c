//! The limits and timeouts of a [`Server`] ([`Config`]), and the server:
//! its configuration and the count of open connections, shared by every
//! worker that calls [`Server::serve`].
//!
//! # Invariants
//!
//! * **Connection limit.** At most [`Config::max_connections`] connections
//!   are served at once, over all workers: each holds one of the places, a
//!   [`Slot`], given back on drop.
//!
//! Also [`parse_duration`], which parses a duration flag for a [`Config`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The limits and timeouts of a [`Server`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a request head may take to arrive in full (default 10 s).
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests, and the longest
    /// a body read or a write may wait for progress (default 60 s).
    pub idle_timeout: Duration,
    /// Connections served at once, over all workers (default 10,000).
    pub max_connections: usize,
    /// The largest request head, request line included (default 8 KiB).
    pub max_head_bytes: usize,
    /// The largest request body (default 1 MiB).
    pub max_body_bytes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_head_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A server: its configuration and the count of open connections, shared
/// by every worker that calls [`Server::serve`].
#[derive(Debug)]
pub struct Server {
    pub(super) config: Config,
    open: AtomicUsize,
    pub(super) stop: AtomicBool,
}

impl Server {
    /// A server with `config`, serving nothing yet.
    pub fn new(config: Config) -> Arc<Server> {
        Arc::new(Server {
            config,
            open: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Asks every [`serve`](Server::serve) loop to return after its next
    /// accept. Connections already open are served to their end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One of the [`Config::max_connections`] places; given back on drop.
#[derive(Debug)]
pub(super) struct Slot {
    server: Arc<Server>,
}

impl Slot {
    pub(super) fn take(server: &Arc<Server>) -> Option<Slot> {
        let before = server.open.fetch_add(1, Ordering::AcqRel);
        if before >= server.config.max_connections {
            server.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            server: Arc::clone(server),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Parses a duration flag: `250ms`, `10s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let duration = if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().ok()?)
    } else {
        Duration::from_secs(text.strip_suffix('s').unwrap_or(text).parse().ok()?)
    };
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_ms_s_or_bare_seconds() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("fast"), None);
    }
}
