//! The UDP part of [`NetState`]: sockets, datagrams in flight, delivery.
//!
//! Datagrams are independent: each gets its own latency (so they may
//! arrive out of order), may be dropped at send with the configured drop
//! rate (drawn from the `Net` stream in the sender's task), is lost on a
//! partition, waits on a hold, and is dropped at arrival when no socket
//! is bound to its port, when the socket is connected to another peer, or
//! when the receiver's queue is full (the receive window in bytes).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use fibrio_core::scheduler::TaskKey;
use fibrio_core::task::det::{self, Stream};

use super::{err, is_local_alias, next_free_port, Event, HostId, NetState, Wake};

/// A UDP socket's id.
pub(crate) type UdpId = u64;

/// The largest UDP payload over IPv4, as Linux's.
const MAX_DATAGRAM: usize = 65_507;

pub(crate) struct UdpSock {
    host: HostId,
    addr: SocketAddr,
    /// Set by `connect`: only this peer's datagrams are received, and
    /// `send` goes to it.
    peer: Option<SocketAddr>,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    queued_bytes: usize,
    readers: Vec<TaskKey>,
    /// Its host crashed: its calls fail with `ConnectionAborted`.
    aborted: bool,
}

pub(crate) struct Datagram {
    pub(super) from_host: HostId,
    pub(super) to_host: HostId,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

fn aborted() -> io::Error {
    err(
        io::ErrorKind::ConnectionAborted,
        "fibrio::sim: the socket's host crashed",
    )
}

impl NetState {
    /// Binds a UDP socket of the calling task's host to `addr`.
    pub(crate) fn udp_bind(&mut self, addr: SocketAddr) -> io::Result<(UdpId, SocketAddr)> {
        let host = self.current_host()?;
        if self.host_of(addr.ip(), host) != Some(host) {
            return Err(err(
                io::ErrorKind::AddrNotAvailable,
                "fibrio::sim: cannot bind to an address of another host",
            ));
        }
        let h = &mut self.hosts[host];
        let port = match addr.port() {
            0 => {
                let taken = &h.udp_ports;
                next_free_port(&mut h.next_udp_ephemeral, |p| taken.contains_key(&p))?
            }
            port if h.udp_ports.contains_key(&port) => {
                return Err(err(
                    io::ErrorKind::AddrInUse,
                    "fibrio::sim: address already in use",
                ))
            }
            port => port,
        };
        let id = self.fresh_id();
        let local = SocketAddr::new(addr.ip(), port);
        self.hosts[host].udp_ports.insert(port, id);
        self.udp.insert(
            id,
            UdpSock {
                host,
                addr: local,
                peer: None,
                queue: VecDeque::new(),
                queued_bytes: 0,
                readers: Vec::new(),
                aborted: false,
            },
        );
        Ok((id, local))
    }

    pub(crate) fn udp_close(&mut self, id: UdpId) {
        if let Some(sock) = self.udp.remove(&id) {
            if !sock.aborted {
                let ports = &mut self.hosts[sock.host].udp_ports;
                if ports.get(&sock.addr.port()) == Some(&id) {
                    ports.remove(&sock.addr.port());
                }
            }
        }
    }

    fn udp_sock(&self, id: UdpId) -> io::Result<&UdpSock> {
        match self.udp.get(&id) {
            Some(sock) if !sock.aborted => Ok(sock),
            _ => Err(aborted()),
        }
    }

    pub(crate) fn udp_local_addr(&self, id: UdpId) -> io::Result<SocketAddr> {
        self.udp_sock(id).map(|s| s.addr)
    }

    pub(crate) fn udp_peer_addr(&self, id: UdpId) -> io::Result<SocketAddr> {
        self.udp_sock(id)?.peer.ok_or_else(|| {
            err(
                io::ErrorKind::NotConnected,
                "fibrio::sim: the UDP socket is not connected",
            )
        })
    }

    /// Connects the socket to `peer`: later `send`s go there, and only its
    /// datagrams are received.
    pub(crate) fn udp_connect(&mut self, id: UdpId, peer: SocketAddr) -> io::Result<()> {
        let host = self.udp_sock(id)?.host;
        if self.host_of(peer.ip(), host).is_none() {
            return Err(err(
                io::ErrorKind::HostUnreachable,
                "fibrio::sim: no simulated host has this address",
            ));
        }
        if let Some(sock) = self.udp.get_mut(&id) {
            sock.peer = Some(peer);
        }
        Ok(())
    }

    /// Sends `data` to `to` (or to the connected peer): never waits.
    pub(crate) fn udp_send(
        &mut self,
        id: UdpId,
        data: &[u8],
        to: Option<SocketAddr>,
        now: Instant,
    ) -> io::Result<usize> {
        let sock = self.udp_sock(id)?;
        let to = match (to, sock.peer) {
            (Some(to), _) | (None, Some(to)) => to,
            (None, None) => {
                return Err(err(
                    io::ErrorKind::NotConnected,
                    "fibrio::sim: send on a UDP socket that is not connected; use send_to",
                ))
            }
        };
        if data.len() > MAX_DATAGRAM {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "fibrio::sim: a UDP datagram carries at most 65,507 bytes",
            ));
        }
        let (from_host, local) = (sock.host, sock.addr);
        let Some(to_host) = self.host_of(to.ip(), from_host) else {
            return Err(err(
                io::ErrorKind::HostUnreachable,
                "fibrio::sim: no simulated host has this address",
            ));
        };
        let from_ip = if is_local_alias(to.ip()) {
            match to.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            }
        } else {
            IpAddr::V4(self.hosts[from_host].ip)
        };
        // Both draws happen for every datagram, so the Net stream moves the
        // same way whether or not it is dropped.
        let roll = det::random_u64(Stream::Net).unwrap_or(u64::MAX);
        let latency = self.latency();
        let rate = self.config.udp_drop_rate;
        if rate > 0.0 && (roll as f64) < rate * (u64::MAX as f64) {
            return Ok(data.len());
        }
        let datagram = self.fresh_id();
        self.datagrams.insert(
            datagram,
            Datagram {
                from_host,
                to_host,
                from: SocketAddr::new(from_ip, local.port()),
                to,
                data: data.to_vec(),
            },
        );
        self.push_event(now + latency, Event::Datagram(datagram));
        Ok(data.len())
    }

    /// Receives (or peeks) the next datagram: `None` while there is none
    /// (wait). A datagram longer than `buf` is cut to fit, as a real
    /// socket's.
    pub(crate) fn udp_recv(
        &mut self,
        id: UdpId,
        buf: &mut [u8],
        consume: bool,
    ) -> Option<io::Result<(usize, SocketAddr)>> {
        let sock = match self.udp.get_mut(&id) {
            Some(sock) if !sock.aborted => sock,
            _ => return Some(Err(aborted())),
        };
        let (data, from) = sock.queue.front()?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        let from = *from;
        if consume {
            let (data, _) = sock.queue.pop_front().expect("looked at above");
            sock.queued_bytes -= data.len();
        }
        Some(Ok((n, from)))
    }

    pub(super) fn udp_waiters(&mut self, id: UdpId) -> Option<&mut Vec<TaskKey>> {
        self.udp.get_mut(&id).map(|s| &mut s.readers)
    }

    /// A datagram arrives: queued on the socket bound to its port, or lost.
    pub(super) fn deliver_datagram(&mut self, id: u64, woken: &mut Wake) {
        let Some(datagram) = self.datagrams.remove(&id) else {
            return;
        };
        let host = &self.hosts[datagram.to_host];
        if !host.up {
            return;
        }
        let Some(&sock_id) = host.udp_ports.get(&datagram.to.port()) else {
            return;
        };
        let window = self.config.window;
        let Some(sock) = self.udp.get_mut(&sock_id) else {
            return;
        };
        let bound = sock.addr.ip();
        let accepts_ip = bound.is_unspecified()
            || bound == datagram.to.ip()
            || (is_local_alias(bound) && is_local_alias(datagram.to.ip()));
        let accepts_peer = sock.peer.is_none_or(|peer| peer == datagram.from);
        if !accepts_ip || !accepts_peer || sock.queued_bytes + datagram.data.len() > window {
            return;
        }
        sock.queued_bytes += datagram.data.len();
        sock.queue.push_back((datagram.data, datagram.from));
        woken.append(&mut sock.readers);
    }

    /// The host's UDP sockets die with it.
    pub(super) fn crash_udp(&mut self, host: HostId, wake: &mut Wake) {
        self.hosts[host].udp_ports.clear();
        for sock in self.udp.values_mut().filter(|s| s.host == host) {
            sock.aborted = true;
            sock.queue.clear();
            sock.queued_bytes = 0;
            wake.append(&mut sock.readers);
        }
    }
}
