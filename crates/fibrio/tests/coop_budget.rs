//! The cooperative budget (`fibrio_core::coop`, issue 18): a task whose
//! operations never wait still lets the others run, and a cancellation
//! at a budget yield never loses what an operation returned.
//!
//! Every bound here is a count of operations, never a wall-clock figure;
//! the hang guards are tens of seconds, against runs of well under one.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream, UnixStream};
use fibrio_core::coop::BUDGET;
use fibrio_core::scheduler::SchedulerConfig;

/// Runs `f` in `fibrio::run` on its own thread, failing the test if it has
/// not finished after `limit` (a hang guard, not a speed bound).
fn run_with_guard<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let value = fibrio::run(f);
        let _ = done_tx.send(());
        value
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => worker.join().expect("the runtime's thread panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: not done after {limit:?}"),
    }
}

#[test]
fn a_busy_channel_loop_lets_a_due_timer_fire_within_a_bounded_number_of_operations() {
    // The busy loop (the main task) sends to and receives from its own
    // channel, which never waits. It counts its operations, and notes the
    // count when it first sees the timer's deadline passed; the timer task
    // notes the count when it runs. Between the two there is at most one
    // budget's worth of operations per task run until the scheduler's next
    // look at its timers (every `driver_interval` runs), plus one for the
    // run that queues the timer task behind the busy one.
    let interval = SchedulerConfig::default().driver_interval;
    let bound = u64::from(BUDGET) * u64::from(interval + 2);
    let (seen_due, fired_at) = run_with_guard(Duration::from_secs(60), move || {
        let ops = Rc::new(Cell::new(0u64));
        let fired_at = Rc::new(Cell::new(None::<u64>));
        let deadline = Instant::now() + Duration::from_millis(1);
        let timer = fibrio::spawn({
            let (ops, fired_at) = (ops.clone(), fired_at.clone());
            move || {
                fibrio::sleep_until(deadline);
                fired_at.set(Some(ops.get()));
            }
        });
        fibrio::yield_now(); // the timer task parks in its sleep
        let (tx, rx) = fibrio::channel::unbounded::<u64>();
        let mut seen_due = None;
        // Far more operations than the bound, so that without the budget
        // (the loop never yields, the timer fires only once it ends) the
        // test fails instead of passing by luck.
        while fired_at.get().is_none() && ops.get() < 50 * bound {
            tx.send(ops.get()).unwrap();
            ops.set(ops.get() + 1);
            assert_eq!(rx.recv().unwrap(), ops.get() - 1);
            ops.set(ops.get() + 1);
            if seen_due.is_none() && Instant::now() >= deadline {
                seen_due = Some(ops.get());
            }
        }
        timer.join().unwrap();
        (seen_due, fired_at.get())
    });
    let seen_due = seen_due.expect("the busy loop saw the deadline pass");
    let fired_at = fired_at.expect("the timer task ran while the loop was busy");
    assert!(
        fired_at.saturating_sub(seen_due) <= bound,
        "{} operations between the deadline and the timer task running (bound {bound})",
        fired_at - seen_due
    );
}

#[test]
fn a_read_loop_that_always_has_data_lets_another_task_run_once_the_budget_is_spent() {
    fibrio::run(|| {
        let (mut reader, mut writer) = UnixStream::pair().unwrap();
        // 64 KiB waiting, read 16 bytes at a time: every read succeeds
        // at once, long past the budget.
        let data: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&data).unwrap();
        let reads = Rc::new(Cell::new(0u32));
        let reads_when_other_ran = Rc::new(Cell::new(None::<u32>));
        let other = fibrio::spawn({
            let (reads, seen) = (reads.clone(), reads_when_other_ran.clone());
            move || seen.set(Some(reads.get()))
        });
        // The write spent a unit of this task's budget already.
        let budget_left = fibrio_core::coop::remaining().unwrap();
        assert!(budget_left < BUDGET);
        let mut got = Vec::with_capacity(data.len());
        let mut buf = [0u8; 16];
        while got.len() < data.len() {
            let n = reader.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            reads.set(reads.get() + 1);
        }
        assert_eq!(got, data);
        assert!(reads.get() > 2 * BUDGET, "{} reads", reads.get());
        let seen = reads_when_other_ran
            .get()
            .expect("the other task ran during the read loop");
        // The read after the budget's last unit yields before it reads.
        assert_eq!(seen, budget_left, "reads done before the other task ran");
        other.join().unwrap();
    });
}

#[test]
fn a_connect_loop_of_fifty_tasks_does_not_starve_the_accepting_task() {
    // 50 tasks connect, write a byte and close, 100 times each, while one
    // task accepts and reads. Starved, the accepting task would let the
    // listener's accept queue fill: the kernel then drops SYNs and the
    // connects wait for a retransmission (a second each). We count how
    // many connections were established but not yet accepted, at every
    // connect, and require that backlog never to come near the queue's
    // size.
    const TASKS: usize = 50;
    const CYCLES: usize = 100;
    const BACKLOG: u32 = 1024;
    let (accepted, deepest) = run_with_guard(Duration::from_secs(60), || {
        let listener = TcpListener::bind_with_backlog("127.0.0.1:0", BACKLOG).unwrap();
        let addr = listener.local_addr().unwrap();
        let connected = Rc::new(Cell::new(0usize));
        let accepted = Rc::new(Cell::new(0usize));
        let deepest = Rc::new(Cell::new(0usize));
        // A server's shape: the accepting task hands each connection to a
        // task of its own.
        let acceptor = fibrio::spawn({
            let accepted = accepted.clone();
            move || {
                let mut handlers = Vec::with_capacity(TASKS * CYCLES);
                while accepted.get() < TASKS * CYCLES {
                    let (mut stream, _) = listener.accept().unwrap();
                    accepted.set(accepted.get() + 1);
                    handlers.push(fibrio::spawn(move || {
                        let mut buf = [0u8; 1];
                        stream.read_exact(&mut buf).unwrap();
                        assert_eq!(buf, [7]);
                    }));
                }
                for handler in handlers {
                    handler.join().unwrap();
                }
            }
        });
        let clients: Vec<_> = (0..TASKS)
            .map(|_| {
                let (connected, accepted, deepest) =
                    (connected.clone(), accepted.clone(), deepest.clone());
                fibrio::spawn(move || {
                    for _ in 0..CYCLES {
                        let mut stream = TcpStream::connect(addr).unwrap();
                        connected.set(connected.get() + 1);
                        let waiting = connected.get().saturating_sub(accepted.get());
                        deepest.set(deepest.get().max(waiting));
                        stream.write_all(&[7]).unwrap();
                        drop(stream);
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        acceptor.join().unwrap();
        (accepted.get(), deepest.get())
    });
    assert_eq!(accepted, TASKS * CYCLES);
    assert!(
        deepest < BACKLOG as usize / 2,
        "{deepest} connections waited to be accepted at once (the queue holds {BACKLOG})"
    );
}

#[test]
fn a_task_cancelled_at_a_budget_yield_loses_no_bytes() {
    fibrio::run(|| {
        let (reader, mut writer) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        writer.write_all(&data).unwrap();
        drop(writer);
        let reader = Rc::new(RefCell::new(reader));
        let got = Rc::new(RefCell::new(Vec::new()));
        let reader_task = fibrio::spawn({
            let (got, reader) = (got.clone(), reader.clone());
            move || {
                let mut buf = [0u8; 7];
                loop {
                    // Never waits: there is always data, so the only
                    // checkpoint that can unwind this task is the
                    // budget's yield at the start of a read.
                    let n = reader.borrow_mut().read(&mut buf).unwrap();
                    assert!(n > 0, "the data outlasts the test");
                    got.borrow_mut().extend_from_slice(&buf[..n]);
                }
            }
        });
        // Runs at the reader's first budget yield, and cancels it there.
        let canceller = fibrio::spawn({
            let handle = reader_task.task_ref();
            move || handle.cancel()
        });
        canceller.join().unwrap();
        let err = reader_task.join().unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        let mut all = got.borrow().clone();
        assert_eq!(all.len(), BUDGET as usize * 7, "it read a budget's worth");
        // What the reader read, then what is left in the socket: exactly
        // the data, nothing lost in between.
        reader.borrow_mut().read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
    });
}

#[test]
fn a_receiver_cancelled_at_a_budget_yield_loses_no_message() {
    fibrio::run(|| {
        let (tx, rx) = fibrio::channel::unbounded::<u32>();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        let got = Rc::new(RefCell::new(Vec::new()));
        let receiver = fibrio::spawn({
            let (got, rx) = (got.clone(), rx.clone());
            move || loop {
                let msg = rx.recv().unwrap();
                got.borrow_mut().push(msg);
            }
        });
        let canceller = fibrio::spawn({
            let handle = receiver.task_ref();
            move || handle.cancel()
        });
        canceller.join().unwrap();
        assert!(receiver.join().unwrap_err().is_cancelled());
        // Every message is either in `got` or still in the channel, in
        // order: none was taken and dropped by the cancellation.
        let mut all = got.borrow().clone();
        assert_eq!(all.len(), BUDGET as usize);
        all.extend(std::iter::from_fn(|| rx.try_recv().ok()));
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    });
}

/// Two tasks in a simulation: a busy channel loop, and one that logs the
/// busy loop's count each time it runs. The budget's yields are schedule
/// points the seeded scheduler chooses at, so the log is the schedule.
fn busy_loop_schedule() -> Vec<u32> {
    let count = Rc::new(Cell::new(0u32));
    let log = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(false));
    let watcher = fibrio::spawn({
        let (count, log, done) = (count.clone(), log.clone(), done.clone());
        move || {
            while !done.get() {
                log.borrow_mut().push(count.get());
                fibrio::yield_now();
            }
        }
    });
    let (tx, rx) = fibrio::channel::unbounded::<u32>();
    for i in 0..(20 * BUDGET) {
        tx.send(i).unwrap();
        assert_eq!(rx.recv().unwrap(), i);
        count.set(count.get() + 1);
    }
    done.set(true);
    watcher.join().unwrap();
    log.take()
}

#[test]
fn the_budget_keeps_a_simulation_deterministic() {
    let mut mid_loop = 0;
    for seed in 0..16 {
        let first = fibrio::sim::run(seed, busy_loop_schedule);
        assert_eq!(
            fibrio::sim::run(seed, busy_loop_schedule),
            first,
            "seed {seed}"
        );
        // Each send and receive spends a unit, so the busy loop can only
        // be switched out after a whole number of half budgets.
        assert!(
            first
                .iter()
                .all(|&n| n % (BUDGET / 2) == 0 || n == 20 * BUDGET),
            "seed {seed}: {first:?}"
        );
        if first.iter().any(|&n| n > 0 && n < 20 * BUDGET) {
            mid_loop += 1;
        }
    }
    assert!(mid_loop > 0, "no seed ran the watcher during the busy loop");
}
