//! `fibrio::pool::Pool`: FIFO checkouts under the size cap, timeouts, RAII
//! return, broken connections dropped, heartbeats, statistics, and a
//! closed pool: a clear error for every checkout, waiting or new, and no
//! connection, socket or task (the heartbeat's, the waiters') left
//! behind.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::net::{TcpListener, TcpStream};
use fibrio::pool::{Pool, PoolError};

#[path = "common/leaks.rs"]
mod leaks;
use leaks::{assert_no_leak, serial, tasks_and_fds};

/// A fake connection: its number, and whether it is "healthy".
struct Conn {
    id: u32,
    healthy: Rc<Cell<bool>>,
}

fn counting_pool(max: usize) -> (Pool<Conn>, Rc<Cell<u32>>) {
    let made = Rc::new(Cell::new(0));
    let pool = Pool::builder({
        let made = made.clone();
        move || -> Result<Conn, std::io::Error> {
            made.set(made.get() + 1);
            Ok(Conn {
                id: made.get(),
                healthy: Rc::new(Cell::new(true)),
            })
        }
    })
    .max_size(max)
    .checkout_timeout(Duration::from_secs(5))
    .is_broken(|conn: &mut Conn| !conn.healthy.get())
    .build()
    .unwrap();
    (pool, made)
}

#[test]
fn checkouts_wait_in_fifo_order_and_connections_are_reused() {
    let _serial = serial();
    fibrio::run(|| {
        let (pool, made) = counting_pool(1);
        let held = pool.get().unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let waiters: Vec<_> = (0..5)
            .map(|i| {
                let (pool, order) = (pool.clone(), order.clone());
                fibrio::spawn(move || {
                    let conn = pool.get().unwrap();
                    order.borrow_mut().push(i);
                    fibrio::sleep(Duration::from_millis(1));
                    conn.id
                })
            })
            .collect();
        fibrio::sleep(Duration::from_millis(5));
        assert_eq!(pool.statistics().waiting, 5);
        drop(held);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), 1, "the one connection is reused");
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        assert_eq!(made.get(), 1);
        let stats = pool.statistics();
        assert_eq!(
            (stats.open, stats.idle, stats.in_use, stats.checkouts),
            (1, 1, 0, 6)
        );
    });
}

#[test]
fn an_exhausted_pool_times_out() {
    let _serial = serial();
    fibrio::run(|| {
        let pool = Pool::builder(|| Ok::<_, std::io::Error>(()))
            .max_size(2)
            .checkout_timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        let (_a, _b) = (pool.get().unwrap(), pool.get().unwrap());
        let started = std::time::Instant::now();
        assert!(matches!(pool.get(), Err(PoolError::Timeout(_))));
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(pool.statistics().timeouts, 1);
    });
}

#[test]
fn broken_connections_are_dropped_instead_of_returned() {
    let _serial = serial();
    fibrio::run(|| {
        let (pool, made) = counting_pool(4);
        // Marked broken by its user.
        let mut conn = pool.get().unwrap();
        conn.mark_broken();
        drop(conn);
        // Found broken by the `is_broken` check when given back.
        let conn = pool.get().unwrap();
        conn.healthy.set(false);
        drop(conn);
        // Given back by a task that panicked while holding it.
        let task = fibrio::spawn({
            let pool = pool.clone();
            move || {
                let _conn = pool.get().unwrap();
                panic!("mid-query");
            }
        });
        assert!(task.join().unwrap_err().is_panic());
        let stats = pool.statistics();
        assert_eq!((stats.broken, stats.open, stats.idle), (3, 0, 0));
        assert_eq!(pool.get().unwrap().id, made.get(), "a fresh connection");
    });
}

#[test]
fn heartbeats_drop_dead_idle_connections_and_keep_the_minimum() {
    let _serial = serial();
    fibrio::run(|| {
        let made = Rc::new(Cell::new(0u32));
        let healthy: Rc<RefCell<Vec<Rc<Cell<bool>>>>> = Rc::default();
        let pool = Pool::builder({
            let (made, healthy) = (made.clone(), healthy.clone());
            move || -> Result<Conn, std::io::Error> {
                made.set(made.get() + 1);
                let flag = Rc::new(Cell::new(true));
                healthy.borrow_mut().push(flag.clone());
                Ok(Conn {
                    id: made.get(),
                    healthy: flag,
                })
            }
        })
        .min_size(3)
        .max_size(5)
        .heartbeat(Duration::from_millis(10), |conn: &mut Conn| {
            conn.healthy.get()
        })
        .build()
        .unwrap();
        assert_eq!(pool.statistics().open, 3);
        // Two of them die while idle.
        healthy.borrow()[0].set(false);
        healthy.borrow()[2].set(false);
        fibrio::sleep(Duration::from_millis(60));
        let stats = pool.statistics();
        assert_eq!(stats.broken, 2, "{stats:?}");
        assert_eq!(stats.open, 3, "topped up to min_size: {stats:?}");
        assert!(stats.heartbeats >= 3);
        assert_eq!(made.get(), 5);
    });
}

#[test]
fn a_closed_pool_fails_checkouts_and_drops_its_connections() {
    let _serial = serial();
    fibrio::run(|| {
        let (pool, _) = counting_pool(1);
        let held = pool.get().unwrap();
        let waiter = fibrio::spawn({
            let pool = pool.clone();
            move || pool.get().map(|_| ())
        });
        fibrio::sleep(Duration::from_millis(2));
        pool.close();
        assert!(matches!(waiter.join().unwrap(), Err(PoolError::Closed)));
        assert!(matches!(pool.get(), Err(PoolError::Closed)));
        drop(held);
        let stats = pool.statistics();
        assert_eq!((stats.open, stats.idle), (0, 0), "{stats:?}");
    });
}

#[test]
fn a_closed_pool_of_sockets_leaks_no_socket_or_task() {
    let _serial = serial();
    fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and keeps every connection until the test ends.
        let server = fibrio::spawn(move || {
            let mut kept = Vec::new();
            loop {
                kept.push(listener.accept().unwrap().0);
            }
        });
        fibrio::yield_now();
        let before = tasks_and_fds();
        let pool = Pool::builder(move || TcpStream::connect(addr))
            .min_size(2)
            .max_size(2)
            .heartbeat(Duration::from_millis(1), |conn: &mut TcpStream| {
                conn.peer_addr().is_ok()
            })
            .build()
            .unwrap();
        // Both connections out: the checkouts below wait.
        let held = [pool.get().unwrap(), pool.get().unwrap()];
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                fibrio::spawn(move || pool.get().map(|_| ()))
            })
            .collect();
        fibrio::sleep(Duration::from_millis(5));
        pool.close();
        for waiter in waiters {
            let err = waiter.join().unwrap().unwrap_err();
            assert!(matches!(err, PoolError::Closed), "{err}");
            assert!(err.to_string().contains("closed"), "{err}");
        }
        assert!(matches!(pool.get(), Err(PoolError::Closed)));
        // The connections still out are dropped, not returned, when they
        // come back; the server keeps its ends, so only this side's are counted.
        drop(held);
        assert_eq!(pool.statistics().open, 0);
        drop(pool);
        let server_side = 2; // one per connection the pool made, kept above
        let (tasks, fds) = before;
        assert_no_leak("a closed pool", (tasks, fds + server_side));
        server.cancel();
    });
}
