//! The state every `Sender` and `Receiver` of one channel shares, and the
//! send/receive algorithm.
//!
//! Invariants (all under the one state mutex):
//! * `recv_waiters` non-empty implies `queue` empty and, unless the
//!   channel is closed, `send_waiters` empty: a sender hands its message
//!   straight to the front waiting receiver (into the receiver's node)
//!   instead of queueing it.
//! * `send_waiters` non-empty implies, unless the channel is closed, that
//!   the queue is full (`capacity` reached; always true for `bounded(0)`).
//!   (Once closed, the senders still queued are woken ones on their way
//!   out, whose messages are never taken.) A blocked sender keeps its
//!   message in its node until a receiver takes it, either directly
//!   (rendezvous) or by moving it into the queue when room frees up. So a
//!   message is in exactly one place: the queue, a node, or a caller.
//! * A node is in `send_waiters` only while it holds its message: a sender
//!   that takes its message back (timed out, disconnected, unwinding)
//!   leaves the queue under the same lock, so a receiver never pops an
//!   empty sender node.
//! * Order: messages leave the queue in FIFO order, and blocked senders and
//!   receivers are served FIFO.
//! * A waiter that leaves early (cancelled, timed out) removes its node in
//!   a `Drop` guard. A receiver that had been handed a message meanwhile
//!   passes it to the next waiting receiver, or back to the *front* of the
//!   queue (it was the oldest); this may put the queue one over capacity
//!   until the next receive, but never loses the message. A sender whose message was
//!   taken has sent it; otherwise its message is dropped with the caller's
//!   stack, and it never counted as sent.
//! * `handed` counts messages put into receivers' nodes and not yet taken
//!   out by their receivers. A receiver sees `Disconnected` only when no
//!   sender is left, the queue is empty *and* `handed` is zero: a message
//!   handed to a receiver that is then cancelled comes back (to a waiting
//!   receiver or the queue), so the others must not have given up on it.
//! * Disconnection: when the last sender goes, every waiting receiver is
//!   woken, and receivers drain what is queued before seeing
//!   `Disconnected`. When the last receiver goes, every waiting sender is
//!   woken and gets its message back, and queued messages are dropped.
//! * Closing (`Receiver::close`): `closed` is set once and never cleared.
//!   From then on no send is accepted (`try_send` and `send` fail with
//!   `Disconnected` at once), no blocked sender's message is taken (each
//!   is woken, sees `closed`, and leaves with its message back), and
//!   receivers drain the queue, then see `Disconnected` as if every sender
//!   were gone. So once closed, the only messages still to be received
//!   are the ones queued (or handed to a receiver) at the close.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::ChannelStatistics;
use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

#[derive(Debug)]
pub(crate) struct State<T> {
    queue: VecDeque<T>,
    /// `None`: unbounded.
    capacity: Option<usize>,
    pub(crate) senders: usize,
    pub(crate) receivers: usize,
    recv_waiters: WaitQueue<T, Receiving>,
    send_waiters: WaitQueue<T, Sending>,
    sent: u64,
    received: u64,
    handed: usize,
    /// Set by `Receiver::close`: no more sends.
    closed: bool,
}

pub(crate) type Shared<T> = Arc<Mutex<State<T>>>;

/// Tags the queue of blocked senders (each node holds its message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sending;

/// Tags the queue of waiting receivers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receiving;

pub(crate) fn new<T>(capacity: Option<usize>) -> Shared<T> {
    Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity,
        senders: 1,
        receivers: 1,
        recv_waiters: WaitQueue::default(),
        send_waiters: WaitQueue::default(),
        sent: 0,
        received: 0,
        handed: 0,
        closed: false,
    }))
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|c| self.queue.len() < c)
    }

    /// Whether sends fail: every receiver is gone, or one closed the
    /// channel.
    pub(crate) fn send_disconnected(&self) -> bool {
        self.receivers == 0 || self.closed
    }

    /// Whether no more messages will arrive: every sender is gone or the
    /// channel was closed, and none is handed to a receiver (which could
    /// still pass it on).
    fn no_more_messages(&self) -> bool {
        (self.senders == 0 || self.closed) && self.handed == 0
    }

    /// Whether a receive fails with `Disconnected` now.
    pub(crate) fn recv_disconnected(&self) -> bool {
        self.queue.is_empty() && self.no_more_messages()
    }

    /// Delivers `msg` without waiting, if possible.
    fn try_send(&mut self, msg: T) -> Result<(), TrySendError<T>> {
        if self.send_disconnected() {
            return Err(TrySendError::Disconnected(msg));
        }
        match self.recv_waiters.serve_front(msg) {
            Ok(()) => self.handed += 1,
            Err(msg) if self.has_room() => self.queue.push_back(msg),
            Err(msg) => return Err(TrySendError::Full(msg)),
        }
        self.sent += 1;
        Ok(())
    }

    /// Takes the front blocked sender's message (completing its send),
    /// unless the channel is closed: then blocked senders are on their way
    /// out with their messages.
    fn take_blocked_message(&mut self) -> Option<T> {
        if self.closed {
            None
        } else {
            self.send_waiters.take_front()
        }
    }

    /// Takes the next message without waiting, if there is one.
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let msg = if let Some(msg) = self.queue.pop_front() {
            // Room freed: the front blocked sender's message moves in.
            if self.has_room() {
                if let Some(m) = self.take_blocked_message() {
                    self.queue.push_back(m);
                    self.sent += 1;
                }
            }
            msg
        } else if let Some(msg) = self.take_blocked_message() {
            // Rendezvous: take the message straight from the sender.
            self.sent += 1;
            msg
        } else if self.no_more_messages() {
            return Err(TryRecvError::Disconnected);
        } else {
            return Err(TryRecvError::Empty);
        };
        self.received += 1;
        Ok(msg)
    }

    /// Gives a message that a leaving receiver had been handed to the next
    /// receiver, or back to the front of the queue.
    fn redeliver(&mut self, msg: T) {
        match self.recv_waiters.serve_front(msg) {
            Ok(()) => self.handed += 1,
            Err(msg) => self.queue.push_front(msg),
        }
    }

    /// A receiver took the message handed into its node.
    fn took_handed(&mut self) {
        self.handed -= 1;
        if self.no_more_messages() {
            // Waiting receivers may now see `Disconnected`.
            self.recv_waiters.wake_all();
        }
    }

    pub(crate) fn close_senders_side(&mut self) {
        self.recv_waiters.wake_all();
    }

    /// `Receiver::close`: no more sends. Wakes blocked senders (they take
    /// their messages back) and waiting receivers (they see
    /// `Disconnected`, unless a message is still handed to one of them).
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.send_waiters.wake_all();
        self.recv_waiters.wake_all();
    }

    /// The last receiver is gone: wakes blocked senders (they take their
    /// messages back) and returns the queued messages, to be dropped
    /// outside the lock.
    pub(crate) fn close_receivers_side(&mut self) -> VecDeque<T> {
        self.send_waiters.wake_all();
        std::mem::take(&mut self.queue)
    }

    pub(crate) fn statistics(&self) -> ChannelStatistics {
        ChannelStatistics {
            queued: self.queue.len(),
            capacity: self.capacity,
            senders: self.senders,
            receivers: self.receivers,
            sent: self.sent,
            received: self.received,
            waiting_senders: self.send_waiters.len(),
            waiting_receivers: self.recv_waiters.len(),
            closed: self.closed,
        }
    }
}

impl<T> WaitState<T, Sending> for State<T> {
    fn waiters(&mut self) -> &mut WaitQueue<T, Sending> {
        &mut self.send_waiters
    }

    fn wait_kind(_: Sending) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Send
    }

    fn closed(&self) -> bool {
        self.send_disconnected()
    }

    /// A sender that leaves still queued was not sent: its message stays
    /// in its node (and drops with it, outside the lock, unless the caller
    /// takes it back). One whose message was taken has sent it.
    fn abandon(&mut self, _: Sending, _: Left<T>) {}
}

impl<T> WaitState<T, Receiving> for State<T> {
    fn waiters(&mut self) -> &mut WaitQueue<T, Receiving> {
        &mut self.recv_waiters
    }

    fn wait_kind(_: Receiving) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Recv
    }

    /// Nothing queued either: a waiting receiver is handed messages
    /// directly, and the queue is empty while receivers wait.
    fn closed(&self) -> bool {
        self.no_more_messages()
    }

    /// A message handed to a receiver that leaves goes to the next one, or
    /// back to the front of the queue.
    fn abandon(&mut self, _: Receiving, left: Left<T>) {
        if let Left::Handed(msg) = left {
            self.took_handed();
            self.redeliver(msg);
        }
    }
}

pub(crate) fn try_send<T>(shared: &Shared<T>, msg: T) -> Result<(), TrySendError<T>> {
    lock(shared).try_send(msg)
}

pub(crate) fn try_recv<T>(shared: &Shared<T>) -> Result<T, TryRecvError> {
    lock(shared).try_recv()
}

/// Sends, waiting for room (or, for `bounded(0)`, for a receiver) until
/// `deadline`; `None` waits as long as it takes.
pub(crate) fn send<T>(
    shared: &Shared<T>,
    msg: T,
    deadline: Option<Instant>,
) -> Result<(), SendTimeoutError<T>> {
    crate::wait::begin();
    let mut waiter = {
        let mut st = lock(shared);
        match st.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(m)) => return Err(SendTimeoutError::Disconnected(m)),
            Err(TrySendError::Full(m)) => {
                if expired(deadline) {
                    return Err(SendTimeoutError::Timeout(m));
                }
                Waiter::enqueue(&**shared, &mut *st, Sending, Some(m))
            }
        }
    };
    let fail: fn(T) -> SendTimeoutError<T> = match waiter.wait(deadline) {
        Ok(_) => {
            // A receiver took the message (and counted it as sent).
            waiter.take();
            return Ok(());
        }
        Err(Stop::Closed) => SendTimeoutError::Disconnected,
        Err(Stop::Unwinding) => SendTimeoutError::Unwinding,
        Err(Stop::Timeout) => SendTimeoutError::Timeout,
    };
    // Not taken, and out of the queue: the message is still in the node.
    let msg = waiter
        .take()
        .expect("a sender that gave up holds its message");
    Err(fail(msg))
}

/// Receives, waiting until a message arrives, every sender is gone, or
/// `deadline` passes.
pub(crate) fn recv<T>(
    shared: &Shared<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    crate::wait::begin();
    let mut waiter = {
        let mut st = lock(shared);
        match st.try_recv() {
            Ok(msg) => return Ok(msg),
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        if expired(deadline) {
            return Err(RecvTimeoutError::Timeout);
        }
        Waiter::enqueue(&**shared, &mut *st, Receiving, None)
    };
    match waiter.wait(deadline) {
        Ok(mut st) => {
            st.took_handed();
            st.received += 1;
            Ok(waiter
                .take()
                .expect("a served receiver was handed a message"))
        }
        Err(Stop::Closed) => Err(RecvTimeoutError::Disconnected),
        Err(Stop::Unwinding) => Err(RecvTimeoutError::Unwinding),
        Err(Stop::Timeout) => Err(RecvTimeoutError::Timeout),
    }
}
