//! Name lookups of `fibrio::net`: inside a task a host name is resolved on
//! the blocking pool, so the runtime thread never waits in `getaddrinfo`;
//! literal addresses never leave the thread; the results and errors are
//! std's.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::ToSocketAddrs as _;
use std::rc::Rc;

use fibrio_reactor::net::{TcpListener, TcpStream};
use fibrio_reactor::BackendKind;

mod common;

/// Runs `f` as the main task of a runtime on the default backend.
fn block_on<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    common::block_on(BackendKind::Auto, f)
}

#[test]
fn host_names_connect_inside_a_task_as_with_std() {
    block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = fibrio_core::task::spawn(move || {
            for _ in 0..3 {
                listener.accept().unwrap();
            }
        });
        // `localhost` may resolve to ::1 first; std's order is kept, so the
        // connect tries each address in turn.
        TcpStream::connect(("localhost", port)).unwrap();
        TcpStream::connect(format!("localhost:{port}")).unwrap();
        TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        accepted.join().unwrap();
    });
}

#[test]
fn a_lookup_parks_only_its_task() {
    // While one task resolves names, a ticking task keeps running: the
    // lookups happen on the blocking pool, so the ticker gets a turn
    // during each of them.
    let ticks = block_on(|| {
        let ticks = Rc::new(Cell::new(0u32));
        let done = Rc::new(Cell::new(false));
        let ticker = fibrio_core::task::spawn({
            let (ticks, done) = (ticks.clone(), done.clone());
            move || {
                while !done.get() {
                    ticks.set(ticks.get() + 1);
                    fibrio_core::task::yield_now();
                }
            }
        });
        for _ in 0..20 {
            let err = TcpStream::connect("localhost:0").unwrap_err(); // port 0: refused
            assert_ne!(err.kind(), ErrorKind::NotFound);
        }
        done.set(true);
        ticker.join().unwrap();
        ticks.get()
    });
    assert!(
        ticks >= 20,
        "the ticker ran {ticks} times during 20 lookups"
    );
}

#[test]
fn an_unknown_name_fails_with_stds_error() {
    let name = "no-such-host.invalid:80";
    let std_err = name.to_socket_addrs().unwrap_err();
    let ours = block_on(move || TcpStream::connect(name).unwrap_err());
    assert_eq!(ours.kind(), std_err.kind());
    // A missing or bad port is std's InvalidInput, with no lookup at all.
    let (no_port, bad_port) = block_on(|| {
        (
            TcpStream::connect("localhost").unwrap_err(),
            TcpStream::connect("localhost:http").unwrap_err(),
        )
    });
    assert_eq!(no_port.kind(), ErrorKind::InvalidInput);
    assert_eq!(bad_port.kind(), ErrorKind::InvalidInput);
}

#[test]
fn outside_a_task_a_lookup_blocks_the_thread_as_std_does() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // No runtime here: the lookup and the connect block this thread.
    let stream = TcpStream::connect(("localhost", port)).unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), port);
}
