//! A connection's tasks: a waiting task, with no buffer, waits for the
//! first bytes of a request, then hands the connection to a request task,
//! which serves [`Batch`]es of requests until the sweeper ends its wait
//! for a request.
//!
//! # Invariants
//!
//! * A connection is served by one task at a time. The two stack sizes
//!   differ so that the stack pool, which is keyed by size, never hands a
//!   request task's stack, its pages touched by parsing and responding, to
//!   a waiting task.
//! * When a task cannot be spawned (the runtime's `max_tasks`), the task
//!   that has the connection keeps it and does the other's work on its own
//!   stack.
//! * The connection's place among [`Config::max_connections`] is given
//!   back when the last of its tasks ends.
//!
//! [`Config::max_connections`]: super::Config::max_connections

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use fibrio::CancelScope;

use super::error_response::{linger, write_error_head, Failure};
use super::input::{Input, FIRST_READ, INITIAL_BUFFER};
use super::requests::{requests, Next};
use super::response::{Output, OUTPUT_BUFFER};
use super::spare;
use super::sweeper::{millis, Sweeper, Watched};

/// The stack of a connection's waiting task, which waits for the first
/// bytes of a request. Only its top page is touched in a release build
/// (the bytes it reads onto its stack and the reactor's wait are shallow),
/// unless it has to serve requests itself (no task could be spawned for
/// them), which it is sized for.
pub(super) const CONNECTION_STACK: usize = 32 * 1024;

/// The stack of a connection's request task, which serves requests. A
/// different size from [`CONNECTION_STACK`], so the pool (keyed by size)
/// never hands one of these, its pages touched by parsing and responding,
/// to a waiting task.
const REQUEST_STACK: usize = 64 * 1024;

/// Serves a connection just accepted, from its first waiting task (on a
/// [`CONNECTION_STACK`]), until the client closes it, asks to, errs, or
/// times out; see [`wait_for_bytes`].
pub(super) fn connection(watched: Rc<Watched>, sweeper: Rc<Sweeper>) -> io::Result<()> {
    // The first head must arrive within the header timeout of the accept;
    // later ones within it of their first byte.
    let head_deadline = sweeper.deadline(millis(sweeper.config.header_timeout));
    wait_for_bytes(watched, sweeper, Some(head_deadline), None)
}

/// Waits for the first bytes of a request, with no buffer, then hands the
/// connection to a new request task; serves the requests here instead if
/// no task can be spawned. `head_deadline` applies when a head is under
/// way already (the first request's, from the accept), else the idle
/// timeout, from `idle_deadline` if given (a demoted request task's).
fn wait_for_bytes(
    watched: Rc<Watched>,
    sweeper: Rc<Sweeper>,
    mut head_deadline: Option<u64>,
    mut idle_deadline: Option<u64>,
) -> io::Result<()> {
    let idle_ms = millis(sweeper.config.idle_timeout);
    loop {
        let deadline = match head_deadline {
            Some(deadline) if sweeper.passed(deadline) => {
                return Err(io::ErrorKind::TimedOut.into());
            }
            Some(deadline) => deadline,
            None => idle_deadline
                .take()
                .unwrap_or_else(|| sweeper.deadline(idle_ms)),
        };
        // Between requests: at shutdown, close instead of waiting.
        if fibrio::shutdown::requested() {
            return Ok(());
        }
        let mut first = [0; FIRST_READ];
        watched.idle.set(true);
        watched.reading.set(true);
        watched.deadline_ms.set(deadline);
        let read = (&watched.stream).read(&mut first);
        // The sweeper takes the flag when it shuts the read side at
        // shutdown: what came may be served, but nothing more is read.
        let read_shut = !watched.idle.replace(false);
        let n = match read {
            Ok(0) if watched.expired.get() => return Err(io::ErrorKind::TimedOut.into()),
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) => return Err(err),
        };
        let mut buf = spare::take(INITIAL_BUFFER);
        buf[..n].copy_from_slice(&first[..n]);
        let batch = Batch {
            watched: Rc::clone(&watched),
            sweeper: Rc::clone(&sweeper),
            buf,
            filled: n,
            head_deadline,
            read_shut,
        };
        let Some(batch) = batch.hand_off() else {
            // The request task has the connection now.
            return Ok(());
        };
        match batch.serve() {
            Next::Wait(deadline) => {
                head_deadline = None;
                idle_deadline = deadline;
            }
            Next::Closed(result) => return result,
        }
    }
}

/// Requests to serve on a connection, starting with the bytes that woke it.
pub(super) struct Batch {
    watched: Rc<Watched>,
    sweeper: Rc<Sweeper>,
    /// The input buffer, `buf[..filled]` read.
    buf: Vec<u8>,
    filled: usize,
    /// The deadline of the head under way, if the header timeout applies
    /// already (the connection's first request).
    head_deadline: Option<u64>,
    /// Whether the sweeper shut the read side while the bytes came.
    read_shut: bool,
}

impl Batch {
    /// Serves the batch, and the connection after it, in a request task of
    /// its own on a [`REQUEST_STACK`] (the caller's task then ends); gives
    /// the batch back if no task can be spawned (the runtime's
    /// `max_tasks`), for the caller to serve: a connection that was
    /// accepted is still served.
    fn hand_off(self) -> Option<Batch> {
        let pending = Rc::new(Cell::new(Some(self)));
        let taken = Rc::clone(&pending);
        let spawned = fibrio::task::Builder::new()
            .stack_size(REQUEST_STACK)
            .spawn(move || {
                if let Some(batch) = taken.take() {
                    batch.serve_then_wait();
                }
            });
        match spawned {
            Ok(_) => None,
            Err(err) => {
                log::debug!("requests served on the connection's task: {err}");
                pending.take()
            }
        }
    }

    /// The request task: serves the batch; when the sweeper ends its wait
    /// for a request, hands the connection to a new task on a
    /// [`CONNECTION_STACK`] that waits with no buffer (or waits here if no
    /// task can be spawned).
    fn serve_then_wait(self) {
        let watched = Rc::clone(&self.watched);
        let sweeper = Rc::clone(&self.sweeper);
        let result = match self.serve() {
            Next::Closed(result) => result,
            Next::Wait(deadline) => {
                let (waiting, waiting_sweeper) = (Rc::clone(&watched), Rc::clone(&sweeper));
                let spawned = fibrio::task::Builder::new()
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || {
                        if let Err(err) = wait_for_bytes(waiting, waiting_sweeper, None, deadline) {
                            log::debug!("connection ended: {err}");
                        }
                    });
                match spawned {
                    Ok(_) => Ok(()),
                    Err(_) => wait_for_bytes(watched, sweeper, None, deadline),
                }
            }
        };
        if let Err(err) = result {
            log::debug!("connection ended: {err}");
        }
    }

    /// Serves requests until the connection should close, or the sweeper
    /// ends the wait for a next request ([`Next::Wait`], every response
    /// written, nothing read).
    fn serve(self) -> Next {
        let Batch {
            watched,
            sweeper,
            buf,
            filled,
            head_deadline,
            read_shut,
        } = self;
        let stream = &watched.stream;
        let mut out = Output {
            stream,
            buf: spare::take(OUTPUT_BUFFER),
        };
        let mut input = Input::new(&watched, &sweeper, buf, filled);
        let mut body = Vec::new();
        let scope = CancelScope::new();
        *watched.demote.borrow_mut() = Some(scope.clone());
        let served =
            scope.run(|| requests(&mut input, &mut out, &mut body, head_deadline, read_shut));
        watched.demote.take();
        let next = match served {
            Some(served) => Batch::finish(served, &watched, &mut input, &mut out),
            // Demoted by the sweeper while waiting for a request, with
            // nothing read and every response written: the connection's
            // task waits on, until the same deadline.
            None => Next::Wait(Some(watched.deadline_ms.get())),
        };
        spare::give(out.buf, OUTPUT_BUFFER);
        spare::give(input.buf, INITIAL_BUFFER);
        next
    }

    /// Writes what `served` leaves to write, and says what comes next.
    fn finish(
        served: Result<Next, Failure>,
        watched: &Watched,
        input: &mut Input<'_>,
        out: &mut Output<'_>,
    ) -> Next {
        let result = match served {
            Ok(Next::Wait(deadline)) => {
                // The client may be waiting for these responses.
                watched.writing_until(input.write_deadline());
                return match out.flush() {
                    Ok(()) => Next::Wait(deadline),
                    Err(err) => Next::Closed(Err(err)),
                };
            }
            Ok(Next::Closed(result)) => result.and_then(|()| out.flush()),
            Err(Failure::Status(status)) => {
                watched.writing_until(input.write_deadline());
                write_error_head(out, status)
                    .and_then(|()| out.flush())
                    .and_then(|()| linger(input))
            }
            Err(Failure::Closing) => out.flush().and_then(|()| linger(input)),
            Err(Failure::Close(err)) => {
                let _ = out.flush();
                Err(err)
            }
        };
        Next::Closed(result)
    }
}
