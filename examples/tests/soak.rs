//! The soak (issue 18): the real `echo_server` and `http_server` binaries,
//! each with `--workers 2` and its admin listener, under load for
//! `SOAK_SECONDS` (60 unless set; `just soak` runs 1800 in release), while
//! chaos clients reset connections mid-request (`SO_LINGER` 0), drop them
//! with unread echoes and half-sent messages, and `echo_client` processes
//! are SIGKILLed at random.
//!
//! Checking clients send seeded random payloads (to the echo server, and
//! as `POST /echo` bodies on kept-alive HTTP connections) and verify every
//! byte that comes back: a lost or mangled byte fails the run.
//!
//! Every `SOAK_INTERVAL_SECONDS` (60 from 20 minutes on, else a twelfth of
//! the run, at least 2) it samples each server: open fds
//! (`/proc/PID/fd`), RSS (`VmRSS`), and, from the admin's `/metrics`, the
//! tasks alive and stacks mapped summed over the workers
//! (`fibrio_tasks_alive`, `fibrio_stacks_mapped`). The samples are printed
//! as a table. After the first sixth of the run (the warm-up) nothing may
//! grow: the median of the last third of the samples must stay within a
//! tolerance of the largest sample of the first half after the warm-up
//! (fds +32, tasks +32, stacks x1.25 +32, RSS x1.25 +8 MiB: the load's own
//! ups and downs stay inside it, a leak of one connection in a hundred
//! does not). When the load stops, both servers must come back to the fds
//! and tasks they had before it.
//!
//! Ignored in `cargo test`: it takes a minute. CI runs it as a step of its
//! own (`.ci/run`), the long version is `just soak`.
//!
//! This file holds the test and the threads of the load; the rest is in
//! `tests/soak/` (included with `#[path]`, so cargo builds no test of its
//! own from them): `client` (what the clients share), `echo_load` and
//! `http_load` (the checking and chaos clients of each server), `server`
//! (starting and sampling a server), `samples` (the table and the growth
//! check).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "soak/client.rs"]
mod client;
mod common;
#[path = "soak/echo_load.rs"]
mod echo_load;
#[path = "soak/http_load.rs"]
mod http_load;
#[path = "soak/samples.rs"]
mod samples;
#[path = "soak/server.rs"]
mod server;

use client::{Rng, Tally};
use common::example_binary;
use echo_load::{echo_chaos, echo_check, kill_clients};
use http_load::{http_chaos, http_check};
use samples::{growth_problems, print_table, show, Sample};
use server::Server;

/// Checking and chaos clients per server (threads of this test).
const CHECKERS: usize = 3;
const CHAOS: usize = 3;

/// Runs `clients` checking and `chaos` threads against one server until
/// `stop`; failures of the checking ones go to the tally.
fn load(
    addr: SocketAddr,
    seed: u64,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
    check: fn(SocketAddr, &mut Rng, &Tally) -> Result<(), String>,
    chaos: fn(SocketAddr, &mut Rng),
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for n in 0..CHECKERS {
        let (stop, tally) = (stop.clone(), tally.clone());
        threads.push(std::thread::spawn(move || {
            let seed = seed + n as u64;
            let mut rng = Rng::new(seed);
            while !stop.load(Ordering::Relaxed) {
                if let Err(err) = check(addr, &mut rng, &tally) {
                    tally.fail(format!("checking client (seed {seed}): {err}"));
                }
            }
        }));
    }
    for n in 0..CHAOS {
        let (stop, tally) = (stop.clone(), tally.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed + 100 + n as u64);
            while !stop.load(Ordering::Relaxed) {
                chaos(addr, &mut rng);
                tally.chaos_connections.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    threads
}

fn env_seconds(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number of seconds, not {value:?}")),
    )
}

#[test]
#[ignore = "a minute long: CI runs it as its own step, `just soak` for 30 minutes"]
fn soak_echo_and_http_under_chaos() {
    let seconds = env_seconds("SOAK_SECONDS").unwrap_or(60);
    let interval = Duration::from_secs(env_seconds("SOAK_INTERVAL_SECONDS").unwrap_or(
        if seconds >= 1200 {
            60
        } else {
            (seconds / 12).max(2)
        },
    ));
    let duration = Duration::from_secs(seconds);
    let warm_up = duration / 6;
    let seed = env_seconds("SOAK_SEED").unwrap_or(18);
    println!(
        "soak: {seconds} s, a sample every {} s, warm-up {} s, seed {seed}",
        interval.as_secs(),
        warm_up.as_secs()
    );
    example_binary("echo_client");
    let mut servers = [
        Server::start("echo_server", "echoing on"),
        Server::start("http_server", "serving http://"),
    ];
    let idle: Vec<Sample> = servers
        .iter_mut()
        .map(|s| s.sample(Duration::ZERO))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let tallies = [Arc::new(Tally::default()), Arc::new(Tally::default())];
    let mut threads = load(
        servers[0].addr,
        seed,
        &stop,
        &tallies[0],
        echo_check,
        echo_chaos,
    );
    threads.extend(load(
        servers[1].addr,
        seed + 1000,
        &stop,
        &tallies[1],
        http_check,
        http_chaos,
    ));
    {
        let (stop, tally, addr) = (stop.clone(), tallies[0].clone(), servers[0].addr);
        threads.push(std::thread::spawn(move || {
            kill_clients(addr, seed + 2000, &stop, &tally)
        }));
    }

    let start = Instant::now();
    let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    let mut next = interval;
    while next <= duration {
        std::thread::sleep(next.saturating_sub(start.elapsed()));
        for (server, samples) in servers.iter_mut().zip(&mut samples) {
            let sample = server.sample(start.elapsed());
            eprintln!(
                "soak {:>6} s {}: fds {} RSS {} KiB tasks {} stacks {}",
                sample.at.as_secs(),
                server.name,
                sample.fds,
                sample.rss_kib,
                show(sample.tasks),
                show(sample.stacks)
            );
            samples.push(sample);
        }
        next += interval;
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a client thread panicked");
    }

    // Back to the idle state: the fds and tasks the servers had before the
    // load (chaos connections the kernel is still tearing down may take a
    // moment).
    let mut problems = Vec::new();
    let mut quiet = Vec::new();
    for (server, idle) in servers.iter_mut().zip(&idle) {
        let since = Instant::now();
        let back = loop {
            let now = server.sample(start.elapsed());
            let settled =
                now.fds <= idle.fds && now.tasks.zip(idle.tasks).is_none_or(|(n, i)| n <= i);
            if settled || since.elapsed() > Duration::from_secs(30) {
                break now;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if back.fds > idle.fds || back.tasks.zip(idle.tasks).is_some_and(|(n, i)| n > i) {
            problems.push(format!(
                "{}: 30 s after the load, fds {} tasks {} (before it: fds {} tasks {})",
                server.name,
                back.fds,
                show(back.tasks),
                idle.fds,
                show(idle.tasks)
            ));
        }
        quiet.push(back);
    }

    for (i, server) in servers.iter().enumerate() {
        let tally = &tallies[i];
        print_table(server.name, &samples[i]);
        println!(
            "idle before: fds {} RSS {} KiB tasks {} stacks {}; after the load: fds {} RSS {} KiB tasks {} stacks {}",
            idle[i].fds,
            idle[i].rss_kib,
            show(idle[i].tasks),
            show(idle[i].stacks),
            quiet[i].fds,
            quiet[i].rss_kib,
            show(quiet[i].tasks),
            show(quiet[i].stacks)
        );
        println!(
            "{}: {} verified exchanges, {} bytes verified, {} chaos connections, {} echo_client processes killed",
            server.name,
            tally.exchanges.load(Ordering::Relaxed),
            tally.verified_bytes.load(Ordering::Relaxed),
            tally.chaos_connections.load(Ordering::Relaxed),
            tally.killed_clients.load(Ordering::Relaxed)
        );
        problems.extend(
            tally
                .failures
                .lock()
                .unwrap()
                .iter()
                .map(|f| format!("{}: {f}", server.name)),
        );
        if tally.verified_bytes.load(Ordering::Relaxed) == 0 {
            problems.push(format!("{}: no byte was verified", server.name));
        }
        problems.extend(growth_problems(server.name, &samples[i], warm_up));
    }
    assert!(
        problems.is_empty(),
        "the soak failed:\n{}",
        problems.join("\n")
    );
}
