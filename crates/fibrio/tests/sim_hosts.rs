//! `fibrio::sim::Sim`: several hosts on one simulated network, each with
//! its own main and tasks, reaching each other by name; the simulation
//! ends when the clients return, reports its figures, and fails with the
//! host's name, the seed and the replay hint.

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use fibrio::net::{TcpListener, TcpStream};
use fibrio::sim::{self, Sim, SimError};

/// A server that answers each connection's 4-byte request with the
/// request reversed, one task per connection.
fn reverser() {
    let listener = TcpListener::bind("0.0.0.0:9000").unwrap();
    loop {
        let (mut stream, _) = listener.accept().unwrap();
        fibrio::spawn(move || {
            let mut buf = [0; 4];
            if stream.read_exact(&mut buf).is_err() {
                return; // the client left without asking
            }
            buf.reverse();
            stream.write_all(&buf).unwrap();
        });
    }
}

fn ask(host: &str, request: &[u8; 4]) -> [u8; 4] {
    let mut stream = TcpStream::connect((host, 9000)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = [0; 4];
    stream.read_exact(&mut reply).unwrap();
    reply
}

#[test]
fn clients_reach_servers_by_name_and_address() {
    for seed in 0..16 {
        let mut sim = Sim::builder().seed(seed).build();
        sim.host("alpha", reverser);
        sim.host("beta", reverser);
        sim.client("c1", || {
            assert_eq!(&ask("alpha", b"abcd"), b"dcba");
            assert_eq!(&ask("10.0.0.2", b"wxyz"), b"zyxw"); // beta, by address
        });
        sim.client("c2", || {
            let stream = TcpStream::connect("beta:9000").unwrap();
            assert_eq!(stream.local_addr().unwrap().ip().to_string(), "10.0.0.4");
            assert_eq!(stream.peer_addr().unwrap().to_string(), "10.0.0.2:9000");
        });
        let report = sim.run().unwrap();
        assert_eq!(report.seed, seed);
        assert!(report.steps > 10);
        assert!(report.virtual_elapsed > Duration::ZERO);
    }
}

#[test]
fn the_same_seed_gives_the_same_report_100_times() {
    let run = |seed| {
        let mut sim = Sim::builder()
            .seed(seed)
            .latency(Duration::from_millis(1), Duration::from_millis(9))
            .build();
        sim.host("server", reverser);
        for c in 0..3 {
            sim.client(&format!("client{c}"), || {
                for _ in 0..3 {
                    ask("server", b"ping");
                    fibrio::sleep(Duration::from_millis(sim::random_u64() % 50));
                }
            });
        }
        sim.run().unwrap()
    };
    let first = run(42);
    for _ in 0..99 {
        assert_eq!(run(42), first);
    }
    assert_ne!(run(43).trace_hash, first.trace_hash);
}

#[test]
fn tasks_spawned_by_a_host_stay_on_it() {
    let mut sim = Sim::builder().build();
    sim.host("server", || {
        let listener = TcpListener::bind("0.0.0.0:1").unwrap();
        let _ = listener.accept().unwrap();
        fibrio::task::park().ok();
    });
    sim.client("client", || {
        // A task spawned by the client's main connects from the client.
        let child = fibrio::spawn(|| {
            TcpStream::connect("server:1")
                .unwrap()
                .local_addr()
                .unwrap()
        });
        let addr = child.join().unwrap();
        assert_eq!(addr.ip().to_string(), "10.0.0.2");
        // Binding another host's address is refused, as on a real host.
        let err = TcpListener::bind("10.0.0.1:5").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
    });
    sim.run().unwrap();
}

#[test]
fn the_simulation_ends_when_every_client_returned_and_cancels_the_servers() {
    let ended = Rc::new(Cell::new(false));
    let mut sim = Sim::builder().build();
    let flag = ended.clone();
    sim.host("server", move || {
        struct OnDrop(Rc<Cell<bool>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let _guard = OnDrop(flag.clone());
        fibrio::sleep(Duration::from_secs(3600 * 1000)); // would pass the time limit
    });
    sim.client("client", || fibrio::sleep(Duration::from_secs(5)));
    let report = sim.run().unwrap();
    assert_eq!(report.virtual_elapsed, Duration::from_secs(5));
    assert!(ended.get(), "the server's main was cancelled and unwound");
}

#[test]
fn without_clients_it_runs_until_every_host_main_returned() {
    let mut sim = Sim::builder().build();
    sim.host("a", || fibrio::sleep(Duration::from_secs(1)));
    sim.host("b", || fibrio::sleep(Duration::from_secs(3)));
    assert_eq!(sim.run().unwrap().virtual_elapsed, Duration::from_secs(3));
}

#[test]
fn a_host_main_that_returns_ends_the_hosts_other_tasks() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Sim::builder().build();
    let server_log = log.clone();
    sim.host("server", move || {
        let log = server_log.clone();
        fibrio::spawn(move || {
            fibrio::sleep(Duration::from_secs(10));
            log.borrow_mut().push("background task survived");
        });
        fibrio::sleep(Duration::from_secs(1));
    });
    sim.client("client", || fibrio::sleep(Duration::from_secs(20)));
    sim.run().unwrap();
    assert!(log.borrow().is_empty(), "{:?}", log.borrow());
}

#[test]
fn a_panic_on_a_host_fails_with_the_host_seed_and_replay_hint() {
    let mut sim = Sim::builder().seed(11).build();
    sim.host("server", || {
        fibrio::sleep(Duration::from_millis(5));
        panic!("server broke");
    });
    sim.client("client", || fibrio::sleep(Duration::from_secs(1)));
    let err = sim.run().unwrap_err();
    match &err {
        SimError::Panic {
            host,
            name,
            message,
            ..
        } => {
            assert_eq!(host.as_deref(), Some("server"));
            assert_eq!(name.as_deref(), Some("main"));
            assert_eq!(message, "server broke");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("\"main\" on server panicked: server broke"),
        "{text}"
    );
    assert!(text.contains("seed 11"), "{text}");
    assert!(text.contains("FIBRIO_SIM_SEED=11"), "{text}");
}

#[test]
fn a_detached_task_panic_on_a_client_names_the_client() {
    let mut sim = Sim::builder().seed(3).build();
    sim.client("worker", || {
        drop(
            fibrio::task::Builder::new()
                .name("helper")
                .spawn(|| panic!("oops"))
                .unwrap(),
        );
        fibrio::sleep(Duration::from_secs(1));
    });
    let err = sim.run().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"helper\" on worker panicked and nobody joined it: oops"),
        "{text}"
    );
}

#[test]
fn a_deadlock_names_every_host_task_and_what_it_waits_for() {
    let mut sim = Sim::builder().seed(8).build();
    sim.host("server", || {
        let listener = TcpListener::bind("0.0.0.0:80").unwrap();
        let (_stream, _) = listener.accept().unwrap();
        fibrio::task::park().ok(); // never answers
    });
    sim.client("client", || {
        let mut stream = TcpStream::connect("server:80").unwrap();
        let mut buf = [0; 1];
        let _ = stream.read(&mut buf); // no timeout: waits forever
    });
    let err = sim.run().unwrap_err();
    assert!(matches!(err, SimError::Deadlock { seed: 8, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("deadlock"), "{text}");
    assert!(
        text.contains("\"main\" on client: waits for a read"),
        "{text}"
    );
    assert!(
        text.contains("\"main\" on server: waits for an unpark"),
        "{text}"
    );
    assert!(
        !text.contains("keeper"),
        "the simulation's own tasks are left out: {text}"
    );
    assert!(text.contains("FIBRIO_SIM_SEED=8"), "{text}");
}

#[test]
fn the_time_limit_is_reported() {
    let mut sim = Sim::builder()
        .seed(1)
        .max_virtual_time(Duration::from_secs(60))
        .build();
    sim.client("client", || fibrio::sleep(Duration::from_secs(61)));
    let err = sim.run().unwrap_err();
    assert!(matches!(err, SimError::TimeLimit { seed: 1, .. }), "{err}");
}

#[test]
#[should_panic(expected = "duplicate host name 'SERVER'")]
fn a_duplicate_host_name_is_refused() {
    let mut sim = Sim::builder().build();
    sim.host("server", || ());
    sim.client("SERVER", || ());
}

#[test]
#[should_panic(expected = "cannot name a host")]
fn localhost_is_not_a_host_name() {
    Sim::builder().build().host("localhost", || ());
}

#[test]
#[should_panic(expected = "inside a running fibrio runtime")]
fn a_sim_inside_fibrio_run_is_refused() {
    fibrio::run(|| {
        let mut sim = Sim::builder().build();
        sim.client("c", || ());
        let _ = sim.run();
    });
}

#[test]
fn fibrio_run_and_workers_inside_a_host_are_refused() {
    let mut sim = Sim::builder().build();
    sim.client("c", || {
        let err = fibrio::Runtime::new().unwrap().try_run(|| ()).unwrap_err();
        assert!(err.to_string().contains("inside a simulation"), "{err}");
    });
    sim.run().unwrap();
}

#[test]
fn a_sim_inside_check_joins_each_case() {
    let runs = Rc::new(Cell::new(0));
    let counter = runs.clone();
    sim::check_with(sim::Config::new().cases(20), move || {
        let mut sim = Sim::builder().build();
        sim.host("server", reverser);
        sim.client("client", || assert_eq!(&ask("server", b"1234"), b"4321"));
        let report = sim.run().unwrap();
        assert!(report.steps > 0);
        counter.set(counter.get() + 1);
    });
    if std::env::var_os("FIBRIO_SIM_SEED").is_none() {
        assert_eq!(runs.get(), 20);
    }
}

#[test]
fn the_main_of_sim_run_is_on_the_implicit_host_main() {
    sim::run(0, || {
        let listener = TcpListener::bind("main:1").unwrap();
        assert_eq!(listener.local_addr().unwrap().to_string(), "10.0.0.1:1");
    });
}
