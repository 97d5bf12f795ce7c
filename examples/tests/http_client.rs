//! `fibrio::http::Client` (hyper over fibrio sockets) against the real
//! `http_server` binary, in a child process (`--workers 1`): GET, HEAD,
//! POST with a body, a 404, keep-alive reuse (the client's own count of
//! the connections it opened), and 1,000 concurrent requests from the
//! tasks of one runtime over a capped pool, each answered with its own
//! body.
//!
//! No wall-clock bound is asserted; every request has the client's
//! timeout (30 s), so a server that stops answering fails the test
//! instead of hanging it.

mod common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use fibrio::http::{header, Client, Method, StatusCode};

/// `http://addr` + `path`.
fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

#[test]
fn get_head_post_and_not_found() {
    let (_server, addr) = common::http_server(1, &[]);
    fibrio::run(move || {
        let client = Client::new();

        let hello = client.get(&url(addr, "/")).send().unwrap();
        assert_eq!(hello.status(), StatusCode::OK);
        assert_eq!(hello.text().unwrap(), "Hello, World!");
        assert_eq!(hello.headers()[header::CONTENT_TYPE], "text/plain");

        let json = client.get(&url(addr, "/json")).send().unwrap();
        assert_eq!(json.status(), StatusCode::OK);
        let value: serde_json::Value = serde_json::from_slice(json.body()).unwrap();
        assert_eq!(value["message"], "Hello, World!");

        // HEAD: the GET's headers, no body.
        let head = client
            .request(Method::HEAD, &url(addr, "/"))
            .send()
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "13");
        assert!(head.body().is_empty());

        // POST: the body comes back, small and large (several reads and
        // writes on both sides).
        let echoed = client
            .post(&url(addr, "/echo"))
            .header("content-type", "text/plain")
            .body("hello, echo")
            .send()
            .unwrap();
        assert_eq!(echoed.status(), StatusCode::OK);
        assert_eq!(echoed.text().unwrap(), "hello, echo");
        let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let echoed = client
            .post(&url(addr, "/echo"))
            .body(large.clone())
            .send()
            .unwrap();
        assert_eq!(echoed.status(), StatusCode::OK);
        assert_eq!(&echoed.body()[..], &large[..]);

        // A 404 and a 405 are responses, not errors.
        let missing = client.get(&url(addr, "/no/such/path")).send().unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.text().unwrap(), "Not Found");
        let wrong_method = client.get(&url(addr, "/echo")).send().unwrap();
        assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(wrong_method.headers()[header::ALLOW], "POST");

        // Every one of them went over the same kept-alive connection.
        assert_eq!(client.connections_opened(), 1);
        assert_eq!(client.idle_connections(), 1);
    });
}

#[test]
fn sequential_requests_reuse_one_connection() {
    let (_server, addr) = common::http_server(1, &[]);
    fibrio::run(move || {
        let client = Client::new();
        for i in 0..100 {
            let response = if i % 2 == 0 {
                client.get(&url(addr, "/")).send().unwrap()
            } else {
                client
                    .post(&url(addr, "/echo"))
                    .body(format!("request {i}"))
                    .send()
                    .unwrap()
            };
            assert_eq!(response.status(), StatusCode::OK, "request {i}");
        }
        assert_eq!(client.connections_opened(), 1, "keep-alive not reused");
        assert_eq!(client.idle_connections(), 1);
        // A second client does not share the first one's connections.
        let other = Client::new();
        other.get(&url(addr, "/")).send().unwrap();
        assert_eq!(other.connections_opened(), 1);
        assert_eq!(client.connections_opened(), 1);
    });
}

#[test]
fn a_thousand_concurrent_requests_on_one_worker() {
    const TASKS: usize = 1_000;
    const PER_HOST: usize = 16;
    let (_server, addr) = common::http_server(1, &[]);
    fibrio::run(move || {
        let client = Client::builder().max_connections_per_host(PER_HOST).build();
        let answered = Rc::new(Cell::new(0usize));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let (client, answered) = (client.clone(), answered.clone());
                fibrio::spawn(move || {
                    let body = format!("task {i}");
                    let response = client
                        .post(&url(addr, "/echo"))
                        .body(body.clone())
                        .send()
                        .unwrap_or_else(|err| panic!("task {i}: {err}"));
                    assert_eq!(response.status(), StatusCode::OK, "task {i}");
                    // Each task gets its own answer, never another's.
                    assert_eq!(response.text().unwrap(), body);
                    answered.set(answered.get() + 1);
                })
            })
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        assert_eq!(answered.get(), TASKS);
        // The pool is capped per host, and kept alive: the thousand
        // requests shared at most PER_HOST connections.
        let opened = client.connections_opened();
        assert!(
            (1..=PER_HOST as u64).contains(&opened),
            "{opened} connections opened for {TASKS} requests"
        );
        assert!(client.idle_connections() <= PER_HOST);
        // Only the main task is left: no driver or request task leaked
        // beyond the idle connections' drivers.
        let alive = fibrio::metrics().tasks_alive;
        assert!(
            alive <= 1 + client.idle_connections(),
            "{alive} tasks alive with {} idle connections",
            client.idle_connections()
        );
        // Dropping the client closes them: their drivers are cancelled
        // and end at their next turn.
        drop(client);
        for _ in 0..100 {
            if fibrio::metrics().tasks_alive == 1 {
                break;
            }
            fibrio::yield_now();
        }
        assert_eq!(fibrio::metrics().tasks_alive, 1, "{}", fibrio::dump());
    });
}
