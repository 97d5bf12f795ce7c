//! tokio-postgres (its runtime feature off) from blocking-style fibrio
//! code, against a real PostgreSQL server started by the test
//! (`postgres_support`): `connect_raw` over a `fibrio::net::TcpStream`
//! (feature `tokio-io`), the `Connection` driven by
//! `fibrio::compat::spawn_future`, queries run with
//! `fibrio::compat::block_on`.
//!
//! Without PostgreSQL the tests print `SKIP: <reason>` and return;
//! `.ci/run` installs it and runs this file with the feature on.

#![cfg(feature = "tokio-io")]

mod postgres_support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::compat::{block_on, spawn_future};
use fibrio::net::TcpStream;
use postgres_support::{server_or_skip, PASSWORD};
use tokio_postgres::{Client, NoTls};

#[path = "common/leaks.rs"]
mod leaks;
use leaks::{assert_no_leak, serial, tasks_and_fds};

/// Connects to the test server on `port`: a fibrio socket, the
/// handshake through `block_on`, the connection driven by its own task.
fn connect(port: u16) -> Result<(Client, fibrio::JoinHandle<()>), tokio_postgres::Error> {
    connect_as(port, PASSWORD)
}

fn connect_as(
    port: u16,
    password: &str,
) -> Result<(Client, fibrio::JoinHandle<()>), tokio_postgres::Error> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("TCP connect");
    stream.set_nodelay(true).unwrap();
    let mut config = tokio_postgres::Config::new();
    config
        .user("postgres")
        .password(password)
        .dbname("postgres");
    let (client, connection) = block_on(config.connect_raw(stream, NoTls))?;
    let driver = spawn_future(async move {
        // Ends with an error when the server goes away; the client's calls
        // report it.
        let _ = connection.await;
    });
    Ok((client, driver))
}

#[test]
fn two_hundred_tasks_on_one_worker_run_fifty_queries_each() {
    let _serial = serial();
    let Some(server) = server_or_skip("two_hundred_tasks_on_one_worker_run_fifty_queries_each")
    else {
        return;
    };
    let port = server.port;
    let (queries, elapsed) = fibrio::run(move || {
        // 20 connections, each shared by 10 tasks: tokio-postgres
        // pipelines the queries of the tasks that share a client.
        let clients: Vec<Rc<Client>> = (0..20)
            .map(|_| Rc::new(connect(port).expect("connect").0))
            .collect();
        let done = Rc::new(Cell::new(0u32));
        let started = Instant::now();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let client = clients[i % clients.len()].clone();
                let done = done.clone();
                fibrio::spawn(move || {
                    for q in 0..50i32 {
                        let row = block_on(
                            client.query_one("SELECT $1::int4 + $2::int4", &[&(i as i32), &q]),
                        )
                        .expect("query");
                        let sum: i32 = row.get(0);
                        assert_eq!(sum, i as i32 + q);
                        done.set(done.get() + 1);
                    }
                })
            })
            .collect();
        for task in tasks {
            fibrio::fail_after(Duration::from_secs(120), || task.join().unwrap())
                .expect("the queries finished in time");
        }
        (done.get(), started.elapsed())
    });
    assert_eq!(queries, 200 * 50);
    println!(
        "200 tasks x 50 queries on one worker: {queries} queries in {elapsed:?} ({:.0} queries/s)",
        f64::from(queries) / elapsed.as_secs_f64()
    );
    drop(server);
}

/// Sends a PostgreSQL cancel request for the connection of its token when
/// dropped armed (the task unwound before it disarmed it).
struct CancelOnUnwind(Option<(tokio_postgres::CancelToken, u16)>);

impl Drop for CancelOnUnwind {
    fn drop(&mut self) {
        if let Some((token, port)) = self.0.take() {
            // A new task: the unwinding one may not block.
            fibrio::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let _ = block_on(token.cancel_query_raw(stream, NoTls));
            });
        }
    }
}

#[test]
fn a_transaction_rolls_back_when_its_task_is_cancelled() {
    let _serial = serial();
    let Some(server) = server_or_skip("a_transaction_rolls_back_when_its_task_is_cancelled") else {
        return;
    };
    let port = server.port;
    fibrio::run(move || {
        let (admin, _driver) = connect(port).expect("connect");
        block_on(
            admin.batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL)"),
        )
        .unwrap();

        for in_flight in [false, true] {
            let id = if in_flight { 2 } else { 1 };
            let inserted = Rc::new(Cell::new(false));
            let task = fibrio::spawn({
                let inserted = inserted.clone();
                move || {
                    let (mut client, driver) = connect(port).expect("connect");
                    // The server does not notice a cancelled client while a
                    // statement runs: a guard asks it to cancel the statement
                    // when the task unwinds (a PostgreSQL cancel request, on
                    // its own connection, from a task of its own).
                    let mut guard = CancelOnUnwind(Some((client.cancel_token(), port)));
                    let tx = block_on(client.transaction()).unwrap();
                    block_on(tx.execute("INSERT INTO accounts VALUES ($1, 'cancelled')", &[&id]))
                        .unwrap();
                    inserted.set(true);
                    if in_flight {
                        // Cancelled while the future is waiting on the server.
                        let _ = block_on(tx.query_one("SELECT pg_sleep(30)", &[]));
                    } else {
                        // Cancelled while parked in blocking-style code.
                        fibrio::sleep(Duration::from_secs(30));
                    }
                    block_on(tx.commit()).unwrap();
                    guard.0 = None;
                    drop(driver);
                }
            });
            while !inserted.get() {
                fibrio::sleep(Duration::from_millis(1));
            }
            fibrio::sleep(Duration::from_millis(20));
            task.cancel();
            assert!(task.join().unwrap_err().is_cancelled());

            // The row's key is free again only once the transaction has
            // ended: were it still open, this insert would wait for it (and
            // fail at the lock timeout); were it committed, it would fail
            // with a duplicate key.
            block_on(admin.batch_execute("SET lock_timeout = '10s'")).unwrap();
            let started = Instant::now();
            let inserted =
                block_on(admin.execute("INSERT INTO accounts VALUES ($1, 'admin')", &[&id]));
            assert_eq!(inserted.expect("the cancelled transaction rolled back"), 1);
            assert!(started.elapsed() < Duration::from_secs(10));
        }
        let owners: Vec<String> =
            block_on(admin.query("SELECT owner FROM accounts ORDER BY id", &[]))
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
        assert_eq!(owners, ["admin", "admin"]);
    });
    drop(server);
}

#[test]
fn a_server_restart_mid_run_surfaces_as_errors_and_nothing_hangs() {
    let _serial = serial();
    let Some(server) =
        server_or_skip("a_server_restart_mid_run_surfaces_as_errors_and_nothing_hangs")
    else {
        return;
    };
    let server = std::sync::Arc::new(server);
    let port = server.port;
    fibrio::run(move || {
        let ok = Rc::new(Cell::new(0u32));
        let workers: Vec<_> = (0..20)
            .map(|_| {
                let ok = ok.clone();
                fibrio::spawn(move || {
                    let (client, driver) = connect(port).expect("connect");
                    // Query until the server goes away: that must be an error,
                    // not a hang.
                    let err = loop {
                        match block_on(client.query_one("SELECT 1", &[])) {
                            Ok(_) => ok.set(ok.get() + 1),
                            Err(err) => break err,
                        }
                    };
                    drop(client);
                    driver.join().unwrap();
                    err.to_string()
                })
            })
            .collect();
        while ok.get() < 200 {
            fibrio::sleep(Duration::from_millis(5));
        }
        // Stop the server under the running queries (on the blocking pool:
        // pg_ctl waits), then start it again.
        let stopper = server.clone();
        fibrio::spawn_blocking(move || stopper.pg_ctl_stop())
            .unwrap()
            .expect("pg_ctl stop");
        for worker in workers {
            let err = fibrio::fail_after(Duration::from_secs(60), || worker.join().unwrap())
                .expect("every worker saw the restart within the timeout");
            assert!(!err.is_empty());
        }
        let starter = server.clone();
        fibrio::spawn_blocking(move || starter.pg_ctl_start())
            .unwrap()
            .expect("pg_ctl start");
        // After the restart, new connections work again.
        let (client, _driver) = connect(port).expect("reconnect after the restart");
        let row = block_on(client.query_one("SELECT 40 + 2", &[])).unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
    });
}

#[test]
fn a_wrong_password_and_a_refused_connection_are_clear_errors() {
    let _serial = serial();
    let Some(server) = server_or_skip("a_wrong_password_and_a_refused_connection_are_clear_errors")
    else {
        return;
    };
    let port = server.port;
    fibrio::run(move || {
        let baseline = tasks_and_fds();
        let err = match connect_as(port, "not the password") {
            Ok(_) => panic!("a wrong password was accepted"),
            Err(err) => err,
        };
        let db = err.as_db_error().expect("the server's error");
        assert_eq!(
            db.code(),
            &tokio_postgres::error::SqlState::INVALID_PASSWORD
        );
        assert!(
            db.message().contains("password authentication failed"),
            "{db}"
        );
        assert_no_leak("a wrong password", baseline);
        drop(server);
        // The server's process and its output pipes are gone: a new
        // baseline.
        let baseline = tasks_and_fds();
        let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            fibrio_reactor::registered_fds(),
            Some(0),
            "no socket leaked"
        );
        assert_no_leak("a refused connection", baseline);
    });
}

#[test]
fn a_thousand_tasks_share_a_pool_of_ten_connections() {
    let _serial = serial();
    let Some(server) = server_or_skip("a_thousand_tasks_share_a_pool_of_ten_connections") else {
        return;
    };
    let port = server.port;
    fibrio::run(move || {
        let pool =
            fibrio::pool::Pool::builder(move || connect(port).map(|(client, _driver)| client))
                // All ten made up front (SCRAM authentication is slow in a
                // debug build), so the timing below is of the queries.
                .min_size(10)
                .max_size(10)
                .checkout_timeout(Duration::from_secs(60))
                .is_broken(|client: &mut Client| client.is_closed())
                .heartbeat(Duration::from_secs(5), |client: &mut Client| {
                    block_on(client.simple_query("SELECT 1")).is_ok()
                })
                .build()
                .expect("the first connections");
        let started = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|i: i32| {
                let pool = pool.clone();
                fibrio::spawn(move || {
                    let client = pool.get().expect("a connection");
                    let row = block_on(client.query_one("SELECT $1::int4 * 2", &[&i])).unwrap();
                    assert_eq!(row.get::<_, i32>(0), i * 2);
                })
            })
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        let stats = pool.statistics();
        println!(
            "1,000 tasks over a pool of 10: {:?}, {stats:?}",
            started.elapsed()
        );
        assert_eq!(stats.checkouts, 1000);
        assert!(stats.created <= 10, "{stats:?}");
        assert_eq!(stats.in_use, 0);
        pool.close();
        assert!(matches!(pool.get(), Err(fibrio::pool::PoolError::Closed)));
    });
    drop(server);
}

/// The benchmark: queries per second of 200 tasks running
/// `SELECT 1` on one worker, fibrio through `compat` against the same
/// workload on tokio's current-thread runtime, in the same run, over the
/// same number of connections. Ignored (slow, and meaningful only in
/// release):
/// `cargo test --release -p fibrio --features tokio-io --test postgres_tokio_postgres -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_select_1_fibrio_compat_against_tokio() {
    let _serial = serial();
    const TASKS: usize = 200;
    const CONNECTIONS: usize = 10;
    const QUERIES: usize = 200; // per task
    let Some(server) = server_or_skip("bench_select_1_fibrio_compat_against_tokio") else {
        return;
    };
    let port = server.port;
    let mut rates = Vec::new();
    for round in 0..3 {
        let fibrio_rate = fibrio::run(move || {
            let clients: Vec<Rc<Client>> = (0..CONNECTIONS)
                .map(|_| Rc::new(connect(port).unwrap().0))
                .collect();
            let started = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let client = clients[i % CONNECTIONS].clone();
                    fibrio::spawn(move || {
                        for _ in 0..QUERIES {
                            block_on(client.query_one("SELECT 1", &[])).unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.join().unwrap();
            }
            (TASKS * QUERIES) as f64 / started.elapsed().as_secs_f64()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let tokio_rate = runtime.block_on(async move {
            let mut clients = Vec::new();
            for _ in 0..CONNECTIONS {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                stream.set_nodelay(true).unwrap();
                let mut config = tokio_postgres::Config::new();
                config
                    .user("postgres")
                    .password(PASSWORD)
                    .dbname("postgres");
                let (client, connection) = config.connect_raw(stream, NoTls).await.unwrap();
                tokio::spawn(connection);
                clients.push(std::sync::Arc::new(client));
            }
            let started = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let client = clients[i % CONNECTIONS].clone();
                    tokio::spawn(async move {
                        for _ in 0..QUERIES {
                            client.query_one("SELECT 1", &[]).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            (TASKS * QUERIES) as f64 / started.elapsed().as_secs_f64()
        });
        println!(
            "round {round}: fibrio (compat) {fibrio_rate:.0} queries/s, tokio {tokio_rate:.0} queries/s, ratio {:.2}",
            fibrio_rate / tokio_rate
        );
        rates.push(fibrio_rate / tokio_rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median ratio fibrio/tokio: {:.2}", rates[1]);
}
