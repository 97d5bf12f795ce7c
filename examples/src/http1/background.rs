//! A server running on its own thread and runtime, on `127.0.0.1` and a
//! free port: for tests. Dropping it stops the accept loop; connections
//! still open end at their timeouts or when their clients close.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fibrio::net::TcpListener;

use super::server::{Config, Server};

/// A server running on its own thread and runtime, on `127.0.0.1` and a
/// free port: for tests. Dropping it stops the accept loop; connections
/// still open end at their timeouts or when their clients close.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    server: Arc<Server>,
}

impl Background {
    /// Starts a server with `config`.
    ///
    /// # Errors
    ///
    /// If the runtime cannot start or the port cannot be bound.
    pub fn start(config: Config) -> io::Result<Background> {
        Background::start_on(config, fibrio::Runtime::builder().stack_pool(1024))
    }

    /// Starts a server with `config` on a runtime built by `runtime` (a
    /// `max_tasks`, say).
    ///
    /// # Errors
    ///
    /// If the runtime cannot start or the port cannot be bound.
    pub fn start_on(config: Config, runtime: fibrio::Builder) -> io::Result<Background> {
        let server = Server::new(config);
        let (tx, rx) = std::sync::mpsc::channel();
        let serving = Arc::clone(&server);
        std::thread::Builder::new()
            .name("http1-background".into())
            .spawn(move || {
                let runtime = match runtime.build() {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = tx.send(Err(io::Error::other(err.to_string())));
                        return;
                    }
                };
                runtime.run(move || {
                    let listener = match TcpListener::bind("127.0.0.1:0") {
                        Ok(listener) => listener,
                        Err(err) => {
                            let _ = tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = tx.send(listener.local_addr());
                    if let Err(err) = serving.serve(listener) {
                        eprintln!("background server: {err}");
                    }
                });
            })?;
        let addr = rx
            .recv()
            .map_err(|_| io::Error::other("the server thread ended before binding"))??;
        Ok(Background { addr, server })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server, for its connection count.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.server.stop();
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}
