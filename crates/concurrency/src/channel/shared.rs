//! The state every `Sender` and `Receiver` of one channel shares, and the
//! send/receive algorithm.
//!
//! Invariants (all under the one state mutex):
//! * `recv_waiters` non-empty implies `queue` empty and `send_waiters`
//!   empty: a sender hands its message straight to the front waiting
//!   receiver (into the receiver's node) instead of queueing it.
//! * `send_waiters` non-empty implies the queue is full (`capacity`
//!   reached; always true for `bounded(0)`): a blocked sender keeps its
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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::ChannelStatistics;
use crate::wait::{block, expired, lock, remove_node, Node};

#[derive(Debug)]
pub(crate) struct State<T> {
    queue: VecDeque<T>,
    /// `None`: unbounded.
    capacity: Option<usize>,
    pub(crate) senders: usize,
    pub(crate) receivers: usize,
    recv_waiters: VecDeque<Arc<Node<T>>>,
    send_waiters: VecDeque<Arc<Node<T>>>,
    sent: u64,
    received: u64,
    handed: usize,
}

pub(crate) type Shared<T> = Arc<Mutex<State<T>>>;

pub(crate) fn new<T>(capacity: Option<usize>) -> Shared<T> {
    Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity,
        senders: 1,
        receivers: 1,
        recv_waiters: VecDeque::new(),
        send_waiters: VecDeque::new(),
        sent: 0,
        received: 0,
        handed: 0,
    }))
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|c| self.queue.len() < c)
    }

    /// Delivers `msg` without waiting, if possible.
    fn try_send(&mut self, msg: T) -> Result<(), TrySendError<T>> {
        if self.receivers == 0 {
            return Err(TrySendError::Disconnected(msg));
        }
        if let Some(rx) = self.recv_waiters.pop_front() {
            rx.put(msg);
            self.handed += 1;
            rx.waker.wake();
        } else if self.has_room() {
            self.queue.push_back(msg);
        } else {
            return Err(TrySendError::Full(msg));
        }
        self.sent += 1;
        Ok(())
    }

    /// Takes the next message without waiting, if there is one.
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let msg = if let Some(msg) = self.queue.pop_front() {
            // Room freed: the front blocked sender's message moves in.
            if self.has_room() {
                if let Some(tx) = self.send_waiters.pop_front() {
                    if let Some(m) = tx.take() {
                        self.queue.push_back(m);
                        self.sent += 1;
                    }
                    tx.waker.wake();
                }
            }
            msg
        } else if let Some(tx) = self.send_waiters.pop_front() {
            // Rendezvous: take the message straight from the sender.
            let msg = tx.take().expect("a queued sender holds its message");
            tx.waker.wake();
            self.sent += 1;
            msg
        } else if self.senders == 0 && self.handed == 0 {
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
        if let Some(rx) = self.recv_waiters.pop_front() {
            rx.put(msg);
            self.handed += 1;
            rx.waker.wake();
        } else {
            self.queue.push_front(msg);
        }
    }

    /// A receiver took the message handed into its node.
    fn took_handed(&mut self) {
        self.handed -= 1;
        if self.handed == 0 && self.senders == 0 {
            // Waiting receivers may now see `Disconnected`.
            for rx in &self.recv_waiters {
                rx.waker.wake();
            }
        }
    }

    pub(crate) fn close_senders_side(&mut self) {
        for rx in &self.recv_waiters {
            rx.waker.wake();
        }
    }

    /// The last receiver is gone: wakes blocked senders (they take their
    /// messages back) and returns the queued messages, to be dropped
    /// outside the lock.
    pub(crate) fn close_receivers_side(&mut self) -> VecDeque<T> {
        for tx in &self.send_waiters {
            tx.waker.wake();
        }
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
    fibrio_core::task::checkpoint();
    let node = {
        let mut st = lock(shared);
        match st.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(m)) => return Err(SendTimeoutError::Disconnected(m)),
            Err(TrySendError::Full(m)) => {
                if expired(deadline) {
                    return Err(SendTimeoutError::Timeout(m));
                }
                let node = Node::new(Some(m));
                st.send_waiters.push_back(node.clone());
                node
            }
        }
    };
    // Leaves the queue on an exit that did not already (cancellation). The
    // message, if still in the node, was not sent, and drops with the node.
    struct Leave<'a, T> {
        shared: &'a Shared<T>,
        node: Arc<Node<T>>,
        done: bool,
    }
    impl<T> Drop for Leave<'_, T> {
        fn drop(&mut self) {
            if !self.done {
                let mut st = lock(self.shared);
                remove_node(&mut st.send_waiters, &self.node);
            }
        }
    }
    let mut guard = Leave {
        shared,
        node,
        done: false,
    };
    loop {
        let parked = block(deadline);
        let mut st = lock(shared);
        if !guard.node.is_full() {
            // A receiver popped the node and took the message (and counted
            // it as sent already).
            guard.done = true;
            return Ok(());
        }
        let fail: fn(T) -> SendTimeoutError<T> = if st.receivers == 0 {
            SendTimeoutError::Disconnected
        } else if parked.is_err() {
            SendTimeoutError::Unwinding
        } else if expired(deadline) {
            SendTimeoutError::Timeout
        } else {
            continue;
        };
        // Leave the queue under this same lock, before taking the message
        // back: a node in `send_waiters` always holds its message (a
        // receiver on another thread relies on that).
        remove_node(&mut st.send_waiters, &guard.node);
        guard.done = true;
        let msg = guard.node.take().expect("checked above");
        return Err(fail(msg));
    }
}

/// Receives, waiting until a message arrives, every sender is gone, or
/// `deadline` passes.
pub(crate) fn recv<T>(
    shared: &Shared<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    fibrio_core::task::checkpoint();
    let node = {
        let mut st = lock(shared);
        match st.try_recv() {
            Ok(msg) => return Ok(msg),
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        if expired(deadline) {
            return Err(RecvTimeoutError::Timeout);
        }
        let node = Node::new(None);
        st.recv_waiters.push_back(node.clone());
        node
    };
    // On every exit: leave the queue, and pass on a message handed over
    // meanwhile that this call is not returning.
    struct Leave<'a, T> {
        shared: &'a Shared<T>,
        node: Arc<Node<T>>,
    }
    impl<T> Drop for Leave<'_, T> {
        fn drop(&mut self) {
            let mut st = lock(self.shared);
            if !remove_node(&mut st.recv_waiters, &self.node) {
                if let Some(msg) = self.node.take() {
                    st.took_handed();
                    st.redeliver(msg);
                }
            }
        }
    }
    let guard = Leave { shared, node };
    loop {
        let parked = block(deadline);
        let mut st = lock(shared);
        if let Some(msg) = guard.node.take() {
            st.took_handed();
            st.received += 1;
            return Ok(msg);
        }
        if st.senders == 0 && st.handed == 0 {
            // Nothing queued either: a waiting receiver is handed messages
            // directly, and the queue is empty while receivers wait.
            return Err(RecvTimeoutError::Disconnected);
        }
        if parked.is_err() {
            return Err(RecvTimeoutError::Unwinding);
        }
        if expired(deadline) {
            return Err(RecvTimeoutError::Timeout);
        }
    }
}
