//! Keep-alive connections, pooled per host (scheme, host, port), and one
//! request-response exchange on one of them.
//!
//! Invariants: a host has at most `max_connections_per_host` connections,
//! in use or idle: one semaphore permit per connection in use, and a new
//! connection is made only when no idle one is left. Checkouts park FIFO
//! on the semaphore. Only a connection whose response was read to the end
//! goes back to the idle list; any other is dropped, which cancels its
//! hyper driver task and closes the socket. A request hyper did not send
//! at all on a reused connection is sent once more on a new one.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use fibrio_concurrency::{Semaphore, SemaphorePermit};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;

use super::client::ClientInner;
use super::request::Request;
use super::{header, Error, HeaderValue, HyperIo, Response, Uri};
use crate::compat::{block_on, spawn_future};

/// Scheme, host and port: what a pooled connection can serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct HostKey {
    pub(super) https: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

/// One host's connections.
pub(super) struct HostPool {
    /// One permit per connection in use. A new connection is made only
    /// when no idle one is left, so in use plus idle never exceeds the
    /// permits.
    pub(super) permits: Semaphore,
    pub(super) idle: RefCell<Vec<Conn>>,
}

/// A pooled connection. Dropping it closes it: its driver task is
/// cancelled, which drops hyper's connection and the socket.
pub(super) struct Conn {
    pub(super) sender: SendRequest<Full<Bytes>>,
    pub(super) driver: crate::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.cancel();
    }
}

impl ClientInner {
    /// Sends `request` once on a pooled connection, and reads the whole
    /// response.
    pub(super) fn send_once(&self, request: &Request) -> Result<Response, Error> {
        let key = host_key(&request.uri)?;
        let host = self.host_pool(&key);
        let mut fresh_tries = 0;
        loop {
            // The permit is held until the connection is back in the idle
            // list or closed.
            let (mut conn, reused, _permit) = self.checkout(&key, &host)?;
            let mut builder = hyper::Request::builder()
                .method(request.method.clone())
                .uri(origin_form(&request.uri));
            if let Some(headers) = builder.headers_mut() {
                *headers = request.headers.clone();
                if !headers.contains_key(header::HOST) {
                    let host = if key.host.contains(':') {
                        format!("[{}]", key.host) // an IPv6 literal
                    } else {
                        key.host.clone()
                    };
                    let host_header = match (key.https, key.port) {
                        (false, 80) | (true, 443) => host,
                        (_, port) => format!("{host}:{port}"),
                    };
                    if let Ok(value) = HeaderValue::from_str(&host_header) {
                        headers.insert(header::HOST, value);
                    }
                }
            }
            let hyper_request = builder
                .body(Full::new(request.body.clone()))
                .map_err(|e| Error::InvalidUrl(e.to_string()))?;
            let sent = block_on(conn.sender.try_send_request(hyper_request));
            let response = match sent {
                Ok(response) => response,
                Err(mut err) => {
                    let unsent = err.take_message().is_some();
                    drop(conn);
                    // The server closed the idle connection before it took
                    // the request: send it on a new one.
                    if unsent && reused && fresh_tries == 0 {
                        fresh_tries += 1;
                        continue;
                    }
                    return Err(Error::Http(err.into_error()));
                }
            };
            let (parts, body) = response.into_parts();
            // If reading the body fails, or the task is cancelled meanwhile,
            // `conn` is dropped: closed, not reused.
            let body = block_on(body.collect())?.to_bytes();
            if !conn.sender.is_closed() {
                host.idle.borrow_mut().push(conn);
            }
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
    }

    pub(super) fn host_pool(&self, key: &HostKey) -> Rc<HostPool> {
        self.hosts
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| {
                Rc::new(HostPool {
                    permits: Semaphore::new(self.max_per_host),
                    idle: RefCell::new(Vec::new()),
                })
            })
            .clone()
    }

    /// A permit (parking FIFO while the host's connections are all in
    /// use), then an idle connection that is still open, or a new one.
    /// True if reused.
    pub(super) fn checkout(
        &self,
        key: &HostKey,
        host: &HostPool,
    ) -> Result<(Conn, bool, SemaphorePermit), Error> {
        let permit = host.permits.acquire().map_err(|err| Error::Connect {
            host: format!("{}:{}", key.host, key.port),
            source: std::io::Error::other(err),
        })?;
        loop {
            // Newest first: the likeliest to be still open.
            let idle = host.idle.borrow_mut().pop();
            let Some(mut conn) = idle else {
                break;
            };
            if !conn.sender.is_closed() && block_on(conn.sender.ready()).is_ok() {
                return Ok((conn, true, permit));
            }
        }
        let connect = || self.connect(key);
        let stream = match self.connect_timeout {
            Some(timeout) => crate::fail_after(timeout, connect).unwrap_or_else(|_| {
                Err(Error::Connect {
                    host: format!("{}:{}", key.host, key.port),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting took longer than {timeout:?}"),
                    ),
                })
            }),
            None => connect(),
        }?;
        let (sender, connection) =
            block_on(hyper::client::conn::http1::handshake(HyperIo::new(stream)))?;
        let driver = spawn_future(async move {
            // Ends when the connection closes; its error (if any) reaches
            // the request that was using it.
            let _ = connection.await;
        });
        self.opened.set(self.opened.get() + 1);
        Ok((Conn { sender, driver }, false, permit))
    }
}

/// The pool key of `uri`.
fn host_key(uri: &Uri) -> Result<HostKey, Error> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(Error::UnsupportedScheme(other.to_owned())),
        None => return Err(Error::InvalidUrl(format!("{uri}: no scheme"))),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::InvalidUrl(format!("{uri}: no host")))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(HostKey { https, host, port })
}

/// The request target of `uri`: its path and query.
fn origin_form(uri: &Uri) -> Uri {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    target.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> Result<HostKey, Error> {
        host_key(&url.parse().unwrap())
    }

    #[test]
    fn connections_are_pooled_by_scheme_host_and_port() {
        let plain = key("http://example.test/a").unwrap();
        assert_eq!(
            (plain.https, plain.host.as_str(), plain.port),
            (false, "example.test", 80)
        );
        let tls = key("https://example.test/a").unwrap();
        assert_eq!((tls.https, tls.port), (true, 443));
        let v6 = key("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert!(matches!(
            key("ftp://example.test/"),
            Err(Error::UnsupportedScheme(_))
        ));
        assert!(matches!(key("/relative"), Err(Error::InvalidUrl(_))));
    }

    #[test]
    fn the_request_target_is_the_path_and_query() {
        let target = |url: &str| origin_form(&url.parse().unwrap()).to_string();
        assert_eq!(target("http://a.test/x/y?z=1"), "/x/y?z=1");
        assert_eq!(target("http://a.test"), "/");
    }
}
