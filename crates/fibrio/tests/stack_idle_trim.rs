//! An idle server gives its stacks back: after a burst of connections'
//! tasks ends, a runtime that then only waits (here in `accept`, with no
//! timer pending) unmaps the stacks beyond the pool's floor once they have
//! stayed unused for the quiet period. Before the reactor ran the pool's
//! check before blocking, nothing did: the pool checks itself only as
//! stacks are taken and returned, and an idle runtime takes none.
//!
//! This binary holds this one test, so nothing else moves the pool. The
//! quiet period is set to 100 ms (the default is 10 s).

use std::time::Duration;

use fibrio::net::TcpListener;
use fibrio::stack;

const TASKS: usize = 5_000;
const QUIET: Duration = Duration::from_millis(100);

#[test]
fn an_idle_runtime_unmaps_the_stacks_beyond_the_floor() {
    stack::set_trim_quiet_period(QUIET);
    fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A burst: every task alive at once, so the pool ends up holding
        // all their stacks.
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| fibrio::spawn(|| fibrio::sleep(Duration::from_millis(50))))
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        let after_burst = stack::statistics();
        assert!(
            after_burst.pooled >= TASKS - 64,
            "the burst's stacks are pooled: {after_burst:?}"
        );
        // Now only an accept, with no timer: the connection comes from a
        // plain thread after 30 quiet periods (a generous margin).
        let client = std::thread::spawn(move || {
            std::thread::sleep(QUIET * 30);
            std::net::TcpStream::connect(addr).unwrap()
        });
        let (_conn, _) = listener.accept().unwrap();
        let idle = stack::statistics();
        client.join().unwrap();
        assert!(
            idle.mapped <= after_burst.mapped / 2,
            "an idle runtime kept its stacks: after the burst {after_burst:?}, after idling {idle:?}"
        );
        println!("after the burst {after_burst:?}\nafter idling {idle:?}");
    });
}
