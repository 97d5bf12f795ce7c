//! [`SimUdp`]: the simulated socket behind `net::UdpSocket` inside a
//! simulation. Sends never wait; receives park the task (with the read
//! timeout as the deadline) until a datagram arrives.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use super::state::{UdpId, WaitSlot};
use super::SimNet;
use crate::reactor::Direction;
use crate::timeouts::SocketTimeouts;

struct UdpHandle {
    net: SimNet,
    id: UdpId,
}

impl Drop for UdpHandle {
    fn drop(&mut self) {
        if let Ok(mut state) = self.net.state().try_borrow_mut() {
            state.udp_close(self.id);
        }
    }
}

/// A simulated UDP socket; [`try_clone`](SimUdp::try_clone) shares it,
/// with timeouts of its own.
pub(crate) struct SimUdp {
    handle: Rc<UdpHandle>,
    timeouts: SocketTimeouts,
    /// Recorded only: `(broadcast, ttl)`.
    options: Rc<Cell<(bool, u32)>>,
}

impl SimUdp {
    pub(crate) fn bind(net: &SimNet, addr: SocketAddr) -> io::Result<SimUdp> {
        let (id, _) = net.state().borrow_mut().udp_bind(addr)?;
        Ok(SimUdp {
            handle: Rc::new(UdpHandle {
                net: net.clone(),
                id,
            }),
            timeouts: SocketTimeouts::default(),
            options: Rc::new(Cell::new((false, 64))),
        })
    }

    pub(crate) fn send_to(&self, data: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        fibrio_core::coop::proceed();
        let h = &*self.handle;
        h.net
            .state()
            .borrow_mut()
            .udp_send(h.id, data, to, fibrio_core::time::now_std())
    }

    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        consume: bool,
    ) -> io::Result<(usize, SocketAddr)> {
        let h = &*self.handle;
        let deadline = self.timeouts.deadline(Direction::Read);
        super::tcp::blocking(&h.net, WaitSlot::Datagram(h.id), deadline, |state, _| {
            state.udp_recv(h.id, buf, consume)
        })
    }

    pub(crate) fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        let h = &*self.handle;
        h.net.state().borrow_mut().udp_connect(h.id, peer)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = &*self.handle;
        h.net.state().borrow().udp_local_addr(h.id)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        let h = &*self.handle;
        h.net.state().borrow().udp_peer_addr(h.id)
    }

    pub(crate) fn timeouts(&self) -> &SocketTimeouts {
        &self.timeouts
    }

    pub(crate) fn set_broadcast(&self, on: bool) {
        let (_, ttl) = self.options.get();
        self.options.set((on, ttl));
    }

    pub(crate) fn set_ttl(&self, ttl: u32) {
        let (broadcast, _) = self.options.get();
        self.options.set((broadcast, ttl));
    }

    pub(crate) fn ttl(&self) -> u32 {
        self.options.get().1
    }

    pub(crate) fn try_clone(&self) -> SimUdp {
        SimUdp {
            handle: Rc::clone(&self.handle),
            timeouts: SocketTimeouts::default(),
            options: Rc::clone(&self.options),
        }
    }
}
