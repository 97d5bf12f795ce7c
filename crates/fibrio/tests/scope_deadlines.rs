//! Cancel-scope deadlines on the real runtime: a deadline wakes a task
//! parked in any kind of wait, deadlines nest, moving a deadline re-arms
//! it, and no timer is left behind.

use std::time::{Duration, Instant};

use fibrio::task;
use fibrio::{fail_after, move_on_after, CancelScope};

const SHORT: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_secs(30);

#[test]
fn move_on_after_wakes_a_sleeping_task_at_the_deadline() {
    fibrio::run(|| {
        let start = Instant::now();
        let got = move_on_after(SHORT, || fibrio::sleep(LONG));
        let took = start.elapsed();
        assert_eq!(got, None);
        assert!(took >= SHORT, "never early: {took:?}");
        assert!(
            took < Duration::from_secs(5),
            "woke at the deadline: {took:?}"
        );
        assert_eq!(fibrio_reactor::pending_timers(), Some(0));
    });
}

#[test]
fn a_deadline_wakes_a_task_parked_without_a_timer() {
    fibrio::run(|| {
        let got = move_on_after(SHORT, || loop {
            task::park().unwrap(); // nobody unparks us
        });
        assert_eq!(got, None::<()>);
        assert_eq!(fibrio_reactor::pending_timers(), Some(0));
    });
}

#[test]
fn a_deadline_wakes_a_task_joining_a_slow_task() {
    fibrio::run(|| {
        let slow = fibrio::spawn(|| fibrio::sleep(LONG));
        let watcher = slow.task_ref();
        let err = fail_after(SHORT, move || slow.join()).unwrap_err();
        assert_eq!(err.timeout(), SHORT);
        // The joined task was not in the scope: it keeps running.
        assert!(!watcher.is_finished());
        watcher.cancel();
        watcher.wait().unwrap();
    });
}

#[test]
fn a_deadline_wakes_a_task_blocked_on_a_channel_and_a_semaphore() {
    fibrio::run(|| {
        let (_tx, rx) = fibrio::channel::bounded::<u8>(1);
        assert_eq!(move_on_after(SHORT, || rx.recv()), None);
        let sem = fibrio::Semaphore::new(0);
        assert!(move_on_after(SHORT, || sem.acquire().map(drop)).is_none());
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn a_deadline_wakes_a_task_reading_a_socket() {
    fibrio::run(|| {
        let listener = fibrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = fibrio::net::TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let got = move_on_after(SHORT, || {
            let mut buf = [0u8; 8];
            std::io::Read::read(&mut server, &mut buf)
        });
        assert!(got.is_none());
    });
}

#[test]
fn a_deadline_inside_a_deadline() {
    fibrio::run(|| {
        // The inner, earlier deadline fires first; the outer one goes on.
        // The outer deadline starts far off, so which one fires first is
        // decided by order, not by how loaded the machine is; once the
        // inner one has fired, the outer one is pulled in to end the test.
        let outer = CancelScope::with_timeout(LONG);
        let mut pulled_in = None;
        let got = outer.run(|| {
            let inner = move_on_after(SHORT, || fibrio::sleep(LONG));
            // Reaching this line means the inner scope caught the
            // cancellation (a cancelled outer scope would have caught it).
            assert!(inner.is_none());
            assert!(!outer.is_cancelled(), "the outer deadline fired too");
            assert!(outer.deadline().is_some(), "the outer deadline is gone");
            // Now the outer deadline cuts this sleep short.
            let deadline = Instant::now() + SHORT;
            pulled_in = Some(deadline);
            outer.set_deadline(Some(deadline));
            fibrio::sleep(LONG);
        });
        assert_eq!(got, None);
        assert!(outer.cancelled_caught());
        assert!(Instant::now() >= pulled_in.expect("the inner scope returned"));
        // An outer deadline earlier than the inner one wins.
        let start = Instant::now();
        let outer = CancelScope::with_timeout(SHORT);
        let got = outer.run(|| move_on_after(LONG, || fibrio::sleep(LONG)));
        assert_eq!(got, None);
        assert!(outer.cancelled_caught());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn moving_the_deadline_earlier_wakes_a_parked_task() {
    fibrio::run(|| {
        let scope = CancelScope::with_timeout(LONG);
        let remote = scope.clone();
        fibrio::spawn(move || {
            fibrio::sleep(SHORT);
            remote.set_deadline(Some(Instant::now()));
        });
        let start = Instant::now();
        assert_eq!(scope.run(|| fibrio::sleep(LONG)), None);
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn a_shield_holds_off_a_deadline_until_it_ends() {
    fibrio::run(|| {
        let start = Instant::now();
        let got = move_on_after(SHORT, || {
            CancelScope::shield(|| fibrio::sleep(Duration::from_millis(60)));
            "after the shield"
        });
        // The shielded sleep ran in full; the deadline had passed, but no
        // checkpoint came after the shield, so the body's value is returned.
        assert_eq!(got, Some("after the shield"));
        assert!(start.elapsed() >= Duration::from_millis(60));
    });
}

#[test]
fn tasks_spawned_inside_a_deadline_scope_end_with_it() {
    fibrio::run(|| {
        let child = move_on_after(SHORT, || fibrio::spawn(|| fibrio::sleep(LONG))).unwrap();
        let start = Instant::now();
        assert!(child.join().unwrap_err().is_cancelled());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn many_finished_scopes_leave_no_timers() {
    fibrio::run(|| {
        for i in 0..1000u32 {
            let got = move_on_after(LONG, || {
                fibrio::yield_now();
                i
            });
            assert_eq!(got, Some(i));
        }
        assert_eq!(fibrio_reactor::pending_timers(), Some(0));
    });
}
