//! [`SimListener`] and [`SimStream`]: the simulated sockets behind
//! `net::TcpListener` and `net::TcpStream` inside a simulation. Each
//! blocking call tries its operation on the [`NetState`] and, when it
//! cannot complete, parks the task (with the socket's timeout as the
//! deadline) until a delivery or the peer wakes it.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use fibrio_core::task;

use super::state::{ConnId, ListenerId, NetState, WaitSlot, Wake};
use super::SimNet;
use crate::reactor::Direction;
use crate::timeouts::SocketTimeouts;

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "fibrio: the I/O operation timed out",
    )
}

/// Removes a waiter's key however its park ends (a cancellation unwinds
/// through it).
struct WaiterGuard<'a> {
    net: &'a SimNet,
    slot: WaitSlot,
    key: fibrio_core::scheduler::TaskKey,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.net.state().try_borrow_mut() {
            state.remove_waiter(self.slot, self.key);
        }
    }
}

/// Runs `attempt` until it gives an answer, parking on `slot` in between,
/// until `deadline` (then `TimedOut`). A cancellation checkpoint.
pub(super) fn blocking<T>(
    net: &SimNet,
    slot: WaitSlot,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&mut NetState, &mut Wake) -> Option<io::Result<T>>,
) -> io::Result<T> {
    fibrio_core::coop::proceed();
    let mut wake = Wake::new();
    loop {
        let answer = attempt(&mut net.state().borrow_mut(), &mut wake);
        for key in wake.drain(..) {
            task::unpark_local(key);
        }
        if let Some(answer) = answer {
            return answer;
        }
        if deadline.is_some_and(|d| fibrio_core::time::now_std() >= d) {
            return Err(timed_out());
        }
        let key = match task::current_key() {
            Some(key) if super::current().is_some_and(|current| current.same(net)) => key,
            _ => {
                // Its driver delivers nothing here: waiting would never end.
                return Err(io::Error::other(
                    "fibrio::sim: a simulated socket can only wait inside a task of the \
                     simulation that made it",
                ));
            }
        };
        net.state().borrow_mut().add_waiter(slot, key);
        let _guard = WaiterGuard { net, slot, key };
        if task::park_for(slot.wait_reason(), deadline).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "fibrio::sim: a simulated socket cannot wait while the task unwinds",
            ));
        }
    }
}

pub(super) fn wake_all(wake: Wake) {
    for key in wake {
        task::unpark_local(key);
    }
}

struct ListenerHandle {
    net: SimNet,
    id: ListenerId,
    addr: SocketAddr,
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        let mut wake = Wake::new();
        if let Ok(mut state) = self.net.state().try_borrow_mut() {
            state.close_listener(self.id, &mut wake);
        }
        wake_all(wake);
    }
}

/// A simulated listening socket; clones share it.
#[derive(Clone)]
pub(crate) struct SimListener {
    handle: Rc<ListenerHandle>,
}

impl SimListener {
    pub(crate) fn bind(net: &SimNet, addr: SocketAddr) -> io::Result<SimListener> {
        let (id, addr) = net.state().borrow_mut().bind(addr)?;
        Ok(SimListener {
            handle: Rc::new(ListenerHandle {
                net: net.clone(),
                id,
                addr,
            }),
        })
    }

    pub(crate) fn accept(&self) -> io::Result<(SimStream, SocketAddr)> {
        let h = &self.handle;
        let (conn, peer) = blocking(&h.net, WaitSlot::Accept(h.id), None, |state, _| {
            state.accept(h.id)
        })?;
        Ok((SimStream::new(&h.net, conn, 1)?, peer))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.handle.addr
    }
}

struct Endpoint {
    net: SimNet,
    conn: ConnId,
    side: usize,
    /// Local and peer address, kept for after the connection is gone.
    addrs: (SocketAddr, SocketAddr),
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let mut wake = Wake::new();
        if let Ok(mut state) = self.net.state().try_borrow_mut() {
            state.close_side(self.conn, self.side, &mut wake);
        }
        wake_all(wake);
    }
}

/// A simulated connection; [`try_clone`](SimStream::try_clone) shares it,
/// with timeouts of its own.
pub(crate) struct SimStream {
    endpoint: Rc<Endpoint>,
    timeouts: SocketTimeouts,
    nodelay: Rc<Cell<bool>>,
}

impl SimStream {
    fn new(net: &SimNet, conn: ConnId, side: usize) -> io::Result<SimStream> {
        let addrs = net.state().borrow().addrs(conn, side).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fibrio::sim: the connection was aborted",
            )
        })?;
        Ok(SimStream {
            endpoint: Rc::new(Endpoint {
                net: net.clone(),
                conn,
                side,
                addrs,
            }),
            timeouts: SocketTimeouts::default(),
            nodelay: Rc::new(Cell::new(false)),
        })
    }

    /// Connects to `addr`: a SYN, then a SYN-ACK (or a refusal) back.
    pub(crate) fn connect(
        net: &SimNet,
        addr: SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<SimStream> {
        fibrio_core::coop::proceed();
        let conn = net
            .state()
            .borrow_mut()
            .connect(addr, fibrio_core::time::now_std())?;
        // Made at once, so that giving up (an error, a cancellation) closes it.
        let stream = SimStream::new(net, conn, 0)?;
        blocking(net, WaitSlot::Connect(conn), deadline, |state, _| {
            state.connect_result(conn)
        })?;
        Ok(stream)
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(buf, true)
    }

    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(buf, false)
    }

    fn receive(&self, buf: &mut [u8], consume: bool) -> io::Result<usize> {
        let e = &*self.endpoint;
        let deadline = self.timeouts.deadline(Direction::Read);
        let slot = WaitSlot::Read(e.conn, e.side ^ 1);
        blocking(&e.net, slot, deadline, |state, wake| {
            state.read(e.conn, e.side, buf, consume, wake)
        })
    }

    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        let e = &*self.endpoint;
        let deadline = self.timeouts.deadline(Direction::Write);
        let slot = WaitSlot::Write(e.conn, e.side);
        blocking(&e.net, slot, deadline, |state, _| {
            state.write(e.conn, e.side, data, fibrio_core::time::now_std())
        })
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let e = &*self.endpoint;
        let (read, write) = match how {
            Shutdown::Read => (true, false),
            Shutdown::Write => (false, true),
            Shutdown::Both => (true, true),
        };
        let mut wake = Wake::new();
        let result = e.net.state().borrow_mut().shutdown(
            e.conn,
            e.side,
            read,
            write,
            fibrio_core::time::now_std(),
            &mut wake,
        );
        wake_all(wake);
        result
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.endpoint.addrs.0
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.endpoint.addrs.1
    }

    pub(crate) fn timeouts(&self) -> &SocketTimeouts {
        &self.timeouts
    }

    /// Recorded only: a simulated network has no Nagle delay.
    pub(crate) fn set_nodelay(&self, nodelay: bool) {
        self.nodelay.set(nodelay);
    }

    pub(crate) fn nodelay(&self) -> bool {
        self.nodelay.get()
    }

    pub(crate) fn try_clone(&self) -> SimStream {
        SimStream {
            endpoint: Rc::clone(&self.endpoint),
            timeouts: SocketTimeouts::default(),
            nodelay: Rc::clone(&self.nodelay),
        }
    }
}
