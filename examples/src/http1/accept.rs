//! A worker's accept loop ([`Server::serve`]): accepts connections and
//! serves each in its own task, until [`Server::stop`] or until shutdown
//! of the runtime is requested.
//!
//! # Invariants
//!
//! * **Connection limit.** One over [`Config::max_connections`] is
//!   accepted, sent `503` with `Connection: close` straight away (without
//!   reading its request) and closed; a client whose request had already
//!   arrived may see a reset instead of the `503`. So is a connection
//!   whose task cannot be spawned (over the runtime's `max_tasks`).
//!
//! [`Config::max_connections`]: super::Config::max_connections

use std::io::{self, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fibrio::net::{TcpListener, TcpStream};

use super::connection::{connection, CONNECTION_STACK};
use super::error_response::{write_error_head, Status};
use super::server::{Server, Slot};
use super::sweeper::Sweeper;

impl Server {
    /// Accepts connections on `listener` and serves each in its own task,
    /// until [`stop`](Server::stop) or until shutdown of the runtime is
    /// requested (`fibrio::shutdown`; the connections then finish as the
    /// module docs say). Must run inside a fibrio runtime.
    ///
    /// # Errors
    ///
    /// If the worker's timeout sweeper task cannot be spawned. Failed
    /// accepts are logged and skipped; a connection whose task cannot be
    /// spawned (over the runtime's `max_tasks`) is answered `503` with
    /// `Connection: close`, as one over `max_connections` is, and closed
    /// (logged with `log::warn!`).
    pub fn serve(self: &Arc<Self>, listener: TcpListener) -> io::Result<()> {
        let sweeper = Sweeper::start(&self.config)?;
        let result = self.accept_loop(listener, &sweeper);
        sweeper.accepting.set(false);
        result
    }

    fn accept_loop(
        self: &Arc<Self>,
        listener: TcpListener,
        sweeper: &Rc<Sweeper>,
    ) -> io::Result<()> {
        for stream in listener.incoming() {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(err) => {
                    eprintln!("accept failed: {err}");
                    continue;
                }
            };
            let Some(slot) = Slot::take(self) else {
                refuse_busy(&stream);
                continue;
            };
            let watched = sweeper.watch(stream, slot);
            // Kept to answer `503` if the task cannot start (the runtime's
            // `max_tasks`, say): the closure, and the stream in it, is
            // dropped with the failed spawn.
            let refused = Rc::clone(&watched);
            let sweeper = Rc::clone(sweeper);
            let spawned = fibrio::task::Builder::new()
                .stack_size(CONNECTION_STACK)
                .spawn(move || {
                    let result = watched
                        .stream
                        .set_nodelay(true)
                        .and_then(|()| connection(watched, sweeper));
                    if let Err(err) = result {
                        log::debug!("connection ended: {err}");
                    }
                });
            if let Err(err) = spawned {
                log::warn!("connection refused with 503: {err}");
                refuse_busy(&refused.stream);
            }
        }
        Ok(())
    }
}

/// Answers a connection over the limit with `503` and closes it, from the
/// accept loop: a fresh socket's send buffer takes the few bytes at once.
fn refuse_busy(stream: &TcpStream) {
    let mut response = Vec::with_capacity(256);
    // Writing to a Vec cannot fail.
    let _ = write_error_head(&mut response, Status::ServiceUnavailable);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(&response);
    let _ = stream.shutdown(Shutdown::Write);
}
