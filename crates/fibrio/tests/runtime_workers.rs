//! Multi-worker mode: n share-nothing runtimes, each running main; every
//! worker's value or panic comes back to the caller; a Handle reaches a
//! chosen worker; SO_REUSEPORT listeners share one port.

mod common;

use common::quiet_planned_panics;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fibrio::net::TcpListener;
use fibrio::{Runtime, WorkerError};

#[test]
fn every_worker_runs_main_on_its_own_thread() {
    let outcomes = Runtime::builder().workers(3).run(|| {
        (
            fibrio::worker_index().unwrap(),
            std::thread::current().name().unwrap().to_string(),
        )
    });
    let mut seen: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, "fibrio-worker-0".to_string()),
            (1, "fibrio-worker-1".to_string()),
            (2, "fibrio-worker-2".to_string())
        ]
    );
}

#[test]
fn workers_zero_means_one_per_cpu() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(Runtime::builder().workers(0).run(|| ()).len(), cpus);
}

#[test]
fn a_worker_panic_comes_back_and_the_others_finish() {
    quiet_planned_panics();
    let outcomes = Runtime::builder().workers(2).run(|| {
        if fibrio::worker_index() == Some(1) {
            panic!("planned: worker one failed");
        }
        "fine"
    });
    assert!(matches!(outcomes[0], Ok("fine")));
    match &outcomes[1] {
        Err(WorkerError::Start { index: 1, source }) => {
            panic!("expected a panic, got a start error: {source}")
        }
        Err(err @ WorkerError::Panicked { index: 1, .. }) => {
            assert!(err.to_string().contains("worker one failed"), "{err}")
        }
        other => panic!("unexpected outcome {other:?}"),
    }
}

#[test]
fn a_handle_spawns_onto_a_chosen_worker() {
    let workers = Runtime::builder()
        .workers(2)
        .start(|| fibrio::sleep(Duration::from_millis(300)));
    for index in 0..2 {
        let remote = workers.handle(index).unwrap().spawn(fibrio::worker_index);
        assert_eq!(remote.join().unwrap(), Some(index));
    }
    assert!(workers.handle(5).is_none());
    assert!(workers.join().into_iter().all(|o| o.is_ok()));
}

#[test]
fn reuseport_listeners_on_every_worker_share_one_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (counter, stop_flag) = (served.clone(), stop.clone());
    let workers = Runtime::builder().workers(2).start(move || {
        let listener = TcpListener::bind_reuseport(("127.0.0.1", port)).unwrap();
        let counter = counter.clone();
        let acceptor = fibrio::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let counter = counter.clone();
                fibrio::spawn(move || {
                    let mut buf = [0u8; 4];
                    stream.read_exact(&mut buf).unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    stream.write_all(b"done").unwrap();
                });
            }
        });
        while !stop_flag.load(Ordering::SeqCst) {
            fibrio::sleep(Duration::from_millis(5));
        }
        // Returning from main cancels the acceptor, which is parked in accept.
        drop(acceptor);
    });
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..40 {
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.write_all(b"work").unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"done");
    }
    assert_eq!(served.load(Ordering::SeqCst), 40);
    stop.store(true, Ordering::SeqCst);
    assert!(workers.join().into_iter().all(|o| o.is_ok()));
}
