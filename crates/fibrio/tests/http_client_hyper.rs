//! `fibrio::http::Client` (feature `http-client`) against a small hyper
//! server run in the test itself (plain and TLS, each connection served by
//! `fibrio::compat::spawn_future`): keep-alive reuse under a per-host cap,
//! 1,000 concurrent requests on one worker, redirects refused or followed,
//! timeouts, retries honouring `Retry-After`, and TLS errors. Bad input
//! (a refused connection, a TLS name mismatch or an untrusted
//! certificate) gets a clear error and leaves no task or socket behind.

#![cfg(feature = "http-client")]

use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fibrio::compat::{block_on, spawn_future};
use fibrio::http::{Client, Error, HyperIo, Redirects, StatusCode};
use fibrio::net::TcpListener;
use fibrio::RetryPolicy;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio_rustls::rustls;

#[path = "common/leaks.rs"]
mod leaks;
use leaks::{assert_no_leak, serial, tasks_and_fds};

/// The test server's shared state: connections accepted, and per-path
/// hit counts.
#[derive(Default)]
struct State {
    accepted: Cell<usize>,
    hits: std::cell::RefCell<HashMap<String, u32>>,
}

impl State {
    fn hit(&self, path: &str) -> u32 {
        let mut hits = self.hits.borrow_mut();
        let n = hits.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }
}

fn reply(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

async fn handle(
    state: Rc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let hits = state.hit(&path);
    Ok(match path.as_str() {
        "/hello" => reply(200, "hello"),
        "/echo" => {
            let header = request.headers().get("x-test").cloned();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let mut response = reply(200, body);
            if let Some(value) = header {
                response.headers_mut().insert("x-echo", value);
            }
            response
        }
        "/redirect" => {
            let mut response = reply(302, "");
            response
                .headers_mut()
                .insert("location", "/hello".parse().unwrap());
            response
        }
        "/loop" => {
            let mut response = reply(307, "");
            response
                .headers_mut()
                .insert("location", "loop".parse().unwrap());
            response
        }
        "/slow" => {
            // Blocking-style code inside the service: parks this
            // connection's task only.
            fibrio::sleep(Duration::from_secs(3));
            reply(200, "late")
        }
        "/flaky" if hits <= 2 => {
            let mut response = reply(503, "try again");
            response
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
            response
        }
        "/flaky" => reply(200, format!("ok after {hits}")),
        "/busy" if hits == 1 => {
            let mut response = reply(429, "slow down");
            response
                .headers_mut()
                .insert("retry-after", "1".parse().unwrap());
            response
        }
        "/busy" => reply(200, "ok"),
        "/always-500" => reply(500, "broken"),
        _ => reply(404, "not found"),
    })
}

/// Serves on a loopback port, plain or (with `tls`) HTTPS; returns the
/// port. Its tasks are cancelled when the test's `main` returns.
fn serve(state: Rc<State>, tls: Option<Arc<rustls::ServerConfig>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    fibrio::spawn(move || loop {
        let (stream, _) = listener.accept().unwrap();
        state.accepted.set(state.accepted.get() + 1);
        let state = state.clone();
        let tls = tls.clone();
        fibrio::spawn(move || {
            let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = block_on(http.serve_connection(HyperIo::new(stream), service));
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    if let Ok(stream) = block_on(acceptor.accept(stream)) {
                        let _ = block_on(http.serve_connection(HyperIo::new(stream), service));
                    }
                }
            }
        });
    });
    port
}

#[test]
fn get_post_headers_and_keep_alive_reuse() {
    let _serial = serial();
    fibrio::run(|| {
        let state = Rc::new(State::default());
        let port = serve(state.clone(), None);
        let client = Client::builder()
            .default_header("x-test", "default")
            .build();
        for _ in 0..10 {
            let response = client
                .get(&format!("http://127.0.0.1:{port}/hello"))
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().unwrap(), "hello");
        }
        let response = client
            .post(&format!("http://127.0.0.1:{port}/echo"))
            .header("x-test", "mine")
            .body("posted body")
            .send()
            .unwrap();
        assert_eq!(response.text().unwrap(), "posted body");
        assert_eq!(response.headers()["x-echo"], "mine");
        let response = client
            .post(&format!("http://127.0.0.1:{port}/echo"))
            .send()
            .unwrap();
        assert_eq!(response.headers()["x-echo"], "default");
        let response = client
            .get(&format!("http://127.0.0.1:{port}/nothing"))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        // One connection served all of them, one after the other.
        assert_eq!(client.connections_opened(), 1);
        assert_eq!(state.accepted.get(), 1);
        assert_eq!(client.idle_connections(), 1);
    });
}

#[test]
fn a_thousand_concurrent_requests_on_one_worker_share_a_capped_pool() {
    let _serial = serial();
    fibrio::run(|| {
        let state = Rc::new(State::default());
        let port = serve(state.clone(), None);
        let client = Client::builder().max_connections_per_host(16).build();
        let started = Instant::now();
        let requests: Vec<_> = (0..1000)
            .map(|_| {
                let client = client.clone();
                fibrio::spawn(move || client.get(&format!("http://127.0.0.1:{port}/hello")).send())
            })
            .collect();
        for request in requests {
            assert_eq!(request.join().unwrap().unwrap().text().unwrap(), "hello");
        }
        println!(
            "1,000 concurrent requests on one worker: {:?}",
            started.elapsed()
        );
        assert!(
            state.accepted.get() <= 16,
            "{} connections",
            state.accepted.get()
        );
        assert_eq!(client.connections_opened(), state.accepted.get() as u64);
        assert!(client.idle_connections() <= 16);
    });
}

#[test]
fn redirects_are_returned_refused_or_followed_as_configured() {
    let _serial = serial();
    fibrio::run(|| {
        let port = serve(Rc::new(State::default()), None);
        let url = format!("http://127.0.0.1:{port}/redirect");
        let response = Client::new().get(&url).send().unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let refused = Client::builder().redirects(Redirects::Refuse).build();
        assert!(matches!(
            refused.get(&url).send(),
            Err(Error::TooManyRedirects(0))
        ));
        let following = Client::builder().redirects(Redirects::Follow(3)).build();
        assert_eq!(following.get(&url).send().unwrap().text().unwrap(), "hello");
        let looping = following
            .get(&format!("http://127.0.0.1:{port}/loop"))
            .send();
        assert!(
            matches!(looping, Err(Error::TooManyRedirects(3))),
            "{looping:?}"
        );
    });
}

#[test]
fn a_slow_server_hits_the_timeout_and_the_connection_is_not_reused() {
    let _serial = serial();
    fibrio::run(|| {
        let state = Rc::new(State::default());
        let port = serve(state.clone(), None);
        let client = Client::new();
        let ticks = Rc::new(Cell::new(0));
        let ticker = fibrio::spawn({
            let ticks = ticks.clone();
            move || loop {
                fibrio::sleep(Duration::from_millis(10));
                ticks.set(ticks.get() + 1);
            }
        });
        let started = Instant::now();
        let result = client
            .get(&format!("http://127.0.0.1:{port}/slow"))
            .timeout(Duration::from_millis(200))
            .send();
        let waited = started.elapsed();
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        assert!(ticks.get() >= 5, "other tasks ran meanwhile");
        assert_eq!(
            client.idle_connections(),
            0,
            "the timed-out connection was closed"
        );
        // The client still works, on a new connection.
        let response = client
            .get(&format!("http://127.0.0.1:{port}/hello"))
            .send()
            .unwrap();
        assert_eq!(response.text().unwrap(), "hello");
        assert_eq!(client.connections_opened(), 2);
        ticker.cancel();
    });
}

#[test]
fn retries_on_503_and_429_honour_retry_after() {
    let _serial = serial();
    fibrio::run(|| {
        let port = serve(Rc::new(State::default()), None);
        let policy = RetryPolicy::builder()
            .max_retries(3)
            .initial_delay(Duration::from_millis(5))
            .retry_if(Error::is_transient)
            .build()
            .unwrap();
        let client = Client::builder().retry(policy).build();
        let response = client
            .get(&format!("http://127.0.0.1:{port}/flaky"))
            .send()
            .unwrap();
        assert_eq!(response.text().unwrap(), "ok after 3");

        let started = Instant::now();
        let response = client
            .get(&format!("http://127.0.0.1:{port}/busy"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited for Retry-After: 1"
        );

        // Out of retries: the last response is returned.
        let response = client
            .get(&format!("http://127.0.0.1:{port}/always-500"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 500);

        // Without a policy nothing is retried.
        let fresh = serve(Rc::new(State::default()), None);
        let response = Client::new()
            .get(&format!("http://127.0.0.1:{fresh}/flaky"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 503);
    });
}

#[test]
fn bad_input_gets_clear_errors() {
    let _serial = serial();
    fibrio::run(|| {
        let client = Client::new();
        assert!(matches!(
            client.get("no scheme").send(),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            client.get("ftp://127.0.0.1/").send(),
            Err(Error::UnsupportedScheme(_))
        ));
        assert!(matches!(
            client
                .get("http://127.0.0.1:1/")
                .header("bad header", "x")
                .send(),
            Err(Error::InvalidHeader(_))
        ));
        // A refused connection: nothing listens on port 1.
        let baseline = tasks_and_fds();
        match client.get("http://127.0.0.1:1/").send() {
            Err(Error::Connect { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused)
            }
            other => panic!("{other:?}"),
        }
        assert_no_leak("a refused connection", baseline);
        assert_eq!(
            fibrio_reactor::registered_fds(),
            Some(0),
            "no socket leaked"
        );
    });
}

#[test]
fn https_with_a_trusted_certificate_and_a_name_mismatch() {
    let _serial = serial();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let config = Arc::new(config);
    fibrio::run(move || {
        let state = Rc::new(State::default());
        let port = serve(state.clone(), Some(config));
        let client = Client::builder()
            .add_root_certificate(&cert)
            .unwrap()
            .build();
        for _ in 0..3 {
            let response = client
                .get(&format!("https://localhost:{port}/hello"))
                .send()
                .unwrap();
            assert_eq!(response.text().unwrap(), "hello");
        }
        assert_eq!(
            client.connections_opened(),
            1,
            "TLS connections are kept alive too"
        );

        // The certificate names localhost, not 127.0.0.1. (The kept-alive
        // connection to localhost and its tasks are part of the baseline.)
        let baseline = tasks_and_fds();
        match client
            .get(&format!("https://127.0.0.1:{port}/hello"))
            .send()
        {
            Err(Error::Tls { source, .. }) => {
                let message = source.to_string();
                assert!(message.contains("certificate"), "{message}");
            }
            other => panic!("a name mismatch must fail: {other:?}"),
        }
        assert_no_leak("a TLS name mismatch", baseline);
        // Not trusted at all without the root.
        let untrusting = Client::new();
        let err = untrusting
            .get(&format!("https://localhost:{port}/hello"))
            .send()
            .unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{err}");
        drop(untrusting);
        assert_no_leak("an untrusted certificate", baseline);
        let _ = spawn_future(async {});
    });
}
