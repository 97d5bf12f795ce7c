//! [`NetState`]: the tables of a simulated network (hosts, ports,
//! listeners, connections) and its event heap. Pure bookkeeping: nothing
//! here parks or wakes; operations that would wake a task return its key
//! to the caller, which wakes it once the state is no longer borrowed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use fibrio_core::scheduler::TaskKey;
use fibrio_core::task::det::{self, Stream};

use super::SimNetConfig;

mod udp;

pub(crate) use udp::UdpId;

/// A host's index in [`NetState::hosts`].
pub(crate) type HostId = usize;
pub(crate) type ConnId = u64;
pub(crate) type ListenerId = u64;

/// The first ephemeral port, as Linux's default range.
const EPHEMERAL_FIRST: u16 = 49152;

struct Host {
    name: String,
    ip: Ipv4Addr,
    /// The deterministic run's task group whose tasks run on this host.
    group: u32,
    /// False between a crash and the restart.
    up: bool,
    /// Ports in use: a listener's, or a connecting socket's (`None`).
    ports: BTreeMap<u16, Option<ListenerId>>,
    next_ephemeral: u16,
    /// UDP ports in use, and the socket on each.
    udp_ports: BTreeMap<u16, UdpId>,
    next_udp_ephemeral: u16,
}

struct Listener {
    host: HostId,
    addr: SocketAddr,
    backlog: VecDeque<ConnId>,
    waiters: Vec<TaskKey>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ConnState {
    Connecting,
    Established,
    Refused,
}

/// What travels down one direction of a connection, in order.
#[derive(Clone, Copy)]
enum Mark {
    Data(usize),
    /// `shutdown(Write)`: end of stream.
    Fin,
    /// The sender closed its socket: end of stream, and later writes to it
    /// fail with `BrokenPipe`.
    Close,
    /// The sender closed its socket with unread data: `ConnectionReset`.
    Rst,
}

/// One direction of a connection: pipe `s` carries what side `s` writes
/// to side `s ^ 1`.
#[derive(Default)]
struct Pipe {
    /// Sent and not yet read; the front `delivered` bytes have arrived.
    buf: VecDeque<u8>,
    delivered: usize,
    marks: VecDeque<(Instant, Mark)>,
    /// The time of the last mark sent: later ones never arrive earlier.
    last_at: Option<Instant>,
    /// An event for this pipe is in the heap.
    scheduled: bool,
    // The receiver's view, set by deliveries.
    eof: bool,
    peer_gone: bool,
    reset: bool,
    /// The receiver closed its socket: what arrives is dropped.
    reader_gone: bool,
    readers: Vec<TaskKey>,
    writers: Vec<TaskKey>,
}

struct Conn {
    state: ConnState,
    /// The socket of a side died with its host: its calls fail with
    /// `ConnectionAborted`.
    aborted: [bool; 2],
    /// Local address of side 0 (the connecting side) and side 1.
    addrs: [SocketAddr; 2],
    hosts: [HostId; 2],
    /// The socket of each side is alive; side 1's belongs to the network
    /// (the listener's backlog) until it is accepted.
    open: [bool; 2],
    wr_shut: [bool; 2],
    rd_shut: [bool; 2],
    pipes: [Pipe; 2],
    connect_waiters: Vec<TaskKey>,
    /// The SYN reached the server's host (side 1 exists there).
    syn_arrived: bool,
    /// The answer's latency, drawn when connecting.
    reply_latency: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Event {
    Pipe(ConnId, usize),
    Syn(ConnId),
    SynAck(ConnId),
    Refused(ConnId),
    /// A UDP datagram in flight (`NetState::datagrams`).
    Datagram(u64),
}

/// The state of the link between two hosts.
#[derive(Default)]
struct Link {
    /// `partition`: TCP packets wait, UDP datagrams are lost.
    partitioned: bool,
    /// `hold`: every packet waits.
    held: bool,
    /// Packets that arrived at a cut link, in order, to go out when it
    /// heals.
    waiting: Vec<Event>,
}

/// A fault on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkFault {
    /// TCP waits; UDP is lost.
    Partition,
    /// Everything waits.
    Hold,
}

/// Where a task waits.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitSlot {
    Accept(ListenerId),
    Connect(ConnId),
    Read(ConnId, usize),
    Write(ConnId, usize),
    /// A datagram on a UDP socket.
    Datagram(UdpId),
}

impl WaitSlot {
    /// What a task parked on this slot waits for, for deadlock reports and
    /// dumps: the kind, and the connection's (or listener's) id marked as
    /// simulated.
    pub(crate) fn wait_reason(self) -> fibrio_core::task::WaitReason {
        use fibrio_core::task::{WaitKind, WaitReason};
        let (kind, id) = match self {
            WaitSlot::Accept(id) => (WaitKind::Accept, id),
            WaitSlot::Connect(id) => (WaitKind::Connect, id),
            WaitSlot::Read(id, _) => (WaitKind::Read, id),
            WaitSlot::Write(id, _) => (WaitKind::Write, id),
            WaitSlot::Datagram(id) => (WaitKind::Read, id),
        };
        WaitReason::new(kind, id | WaitReason::SIMULATED_SOCKET)
    }
}

/// Keys to wake once the state is released.
pub(crate) type Wake = Vec<TaskKey>;

pub(crate) struct NetState {
    config: SimNetConfig,
    hosts: Vec<Host>,
    /// Keyed by the two hosts, lower id first.
    links: BTreeMap<(HostId, HostId), Link>,
    udp: BTreeMap<UdpId, udp::UdpSock>,
    /// UDP datagrams in flight.
    datagrams: BTreeMap<u64, udp::Datagram>,
    listeners: BTreeMap<ListenerId, Listener>,
    conns: BTreeMap<ConnId, Conn>,
    next_id: u64,
    events: BinaryHeap<Reverse<(Instant, u64, Event)>>,
    seq: u64,
}

fn err(kind: io::ErrorKind, msg: &'static str) -> io::Error {
    io::Error::new(kind, msg)
}

fn aborted() -> io::Error {
    err(
        io::ErrorKind::ConnectionAborted,
        "fibrio::sim: the socket's host crashed",
    )
}

/// The next ephemeral port from `next` that `taken` does not reject.
fn next_free_port(next: &mut u16, taken: impl Fn(u16) -> bool) -> io::Result<u16> {
    for _ in 0..=(u16::MAX - EPHEMERAL_FIRST) {
        let port = *next;
        *next = if port == u16::MAX {
            EPHEMERAL_FIRST
        } else {
            port + 1
        };
        if !taken(port) {
            return Ok(port);
        }
    }
    Err(err(
        io::ErrorKind::AddrInUse,
        "fibrio::sim: no free ephemeral port on the host",
    ))
}

fn is_local_alias(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

impl NetState {
    /// A network without hosts.
    pub(crate) fn new(config: SimNetConfig) -> NetState {
        NetState {
            config,
            hosts: Vec::new(),
            links: BTreeMap::new(),
            udp: BTreeMap::new(),
            datagrams: BTreeMap::new(),
            listeners: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_id: 1,
            events: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub(crate) fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Adds a host named `name` whose tasks are those of the run's task
    /// group `group`; hosts get `10.0.0.1`, `10.0.0.2`, ... in order.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` for a name or group another host has, `InvalidInput`
    /// for a name that is empty, `localhost`, an IP address or has a `:`,
    /// and `Other` past 65,534 hosts.
    pub(crate) fn add_host(&mut self, name: &str, group: u32) -> io::Result<Ipv4Addr> {
        if name.is_empty()
            || name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok()
            || name.contains(':')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fibrio::sim: '{name}' cannot name a host: use a non-empty name that is \
                     not 'localhost', an IP address, or contains ':'"
                ),
            ));
        }
        if self.hosts.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("fibrio::sim: duplicate host name '{name}': every host needs its own name"),
            ));
        }
        if self.hosts.iter().any(|h| h.group == group) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("fibrio::sim: task group {group} already runs a host"),
            ));
        }
        let n = self.hosts.len() as u32 + 1;
        if n > 0xFFFE {
            return Err(io::Error::other("fibrio::sim: at most 65,534 hosts"));
        }
        let ip = Ipv4Addr::from(0x0A00_0000 | n);
        self.hosts.push(Host {
            name: name.to_owned(),
            ip,
            group,
            up: true,
            ports: BTreeMap::new(),
            next_ephemeral: EPHEMERAL_FIRST,
            udp_ports: BTreeMap::new(),
            next_udp_ephemeral: EPHEMERAL_FIRST,
        });
        Ok(ip)
    }

    /// The id of the host called `name`.
    pub(crate) fn host_named(&self, name: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The host the calling task runs on: the one of its task group.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the task's group runs no host (a simulation's
    /// supervisor, or a task spawned from outside the simulation).
    pub(crate) fn current_host(&self) -> io::Result<HostId> {
        let group = det::current_group().unwrap_or(0);
        match self.hosts.iter().position(|h| h.group == group) {
            Some(host) if self.hosts[host].up => Ok(host),
            Some(_) => Err(aborted()),
            None => Err(err(
                io::ErrorKind::Unsupported,
                "fibrio::sim: this task runs on no simulated host, so it has no network; \
                 open sockets from a task of a host or client",
            )),
        }
    }

    /// The address of the host called `name`; `localhost` is the caller's.
    pub(crate) fn lookup(&self, name: &str) -> Option<IpAddr> {
        if name.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        self.hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| IpAddr::V4(h.ip))
    }

    /// The host an address names, seen from `from`.
    fn host_of(&self, ip: IpAddr, from: HostId) -> Option<HostId> {
        if is_local_alias(ip) {
            return Some(from);
        }
        self.hosts.iter().position(|h| IpAddr::V4(h.ip) == ip)
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn latency(&self) -> Duration {
        let (min, max) = (self.config.latency_min, self.config.latency_max);
        let span = (max - min).as_nanos() as u64;
        match det::random_u64(Stream::Net) {
            Some(r) if span > 0 => min + Duration::from_nanos(r % (span + 1)),
            _ => min,
        }
    }

    fn push_event(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    fn ephemeral_port(&mut self, host: HostId) -> io::Result<u16> {
        let h = &mut self.hosts[host];
        next_free_port(&mut h.next_ephemeral, |port| h.ports.contains_key(&port))
    }

    // ----- listeners -----

    pub(crate) fn bind(&mut self, addr: SocketAddr) -> io::Result<(ListenerId, SocketAddr)> {
        let from = self.current_host()?;
        let host = match self.host_of(addr.ip(), from) {
            Some(host) if host == from => host,
            _ => {
                return Err(err(
                    io::ErrorKind::AddrNotAvailable,
                    "fibrio::sim: cannot bind to an address of another host",
                ))
            }
        };
        let port = match addr.port() {
            0 => self.ephemeral_port(host)?,
            port if self.hosts[host].ports.contains_key(&port) => {
                return Err(err(
                    io::ErrorKind::AddrInUse,
                    "fibrio::sim: address already in use",
                ))
            }
            port => port,
        };
        let id = self.fresh_id();
        let local = SocketAddr::new(addr.ip(), port);
        self.hosts[host].ports.insert(port, Some(id));
        self.listeners.insert(
            id,
            Listener {
                host,
                addr: local,
                backlog: VecDeque::new(),
                waiters: Vec::new(),
            },
        );
        Ok((id, local))
    }

    /// Takes the next pending connection, or `None` (then wait).
    /// Takes the next pending connection: `None` while there is none
    /// (wait); `ConnectionAborted` once the listener's host crashed.
    pub(crate) fn accept(&mut self, id: ListenerId) -> Option<io::Result<(ConnId, SocketAddr)>> {
        let Some(listener) = self.listeners.get_mut(&id) else {
            return Some(Err(aborted()));
        };
        while let Some(conn) = listener.backlog.pop_front() {
            if let Some(c) = self.conns.get(&conn) {
                return Some(Ok((conn, c.addrs[0])));
            }
        }
        None
    }

    pub(crate) fn close_listener(&mut self, id: ListenerId, wake: &mut Wake) {
        let Some(listener) = self.listeners.remove(&id) else {
            return;
        };
        self.hosts[listener.host]
            .ports
            .remove(&listener.addr.port());
        for conn in listener.backlog {
            self.close_side(conn, 1, wake);
        }
    }

    // ----- connections -----

    /// Starts a connection to `addr`: sends the SYN. Then wait on
    /// [`connect_result`](Self::connect_result).
    pub(crate) fn connect(&mut self, addr: SocketAddr, now: Instant) -> io::Result<ConnId> {
        let from = self.current_host()?;
        let Some(to) = self.host_of(addr.ip(), from) else {
            return Err(err(
                io::ErrorKind::HostUnreachable,
                "fibrio::sim: no simulated host has this address",
            ));
        };
        if addr.port() == 0 {
            return Err(err(
                io::ErrorKind::AddrNotAvailable,
                "fibrio::sim: cannot connect to port 0",
            ));
        }
        let port = self.ephemeral_port(from)?;
        self.hosts[from].ports.insert(port, None);
        let local_ip = if is_local_alias(addr.ip()) {
            match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            }
        } else {
            IpAddr::V4(self.hosts[from].ip)
        };
        let server_addr = if addr.ip().is_unspecified() {
            SocketAddr::new(local_ip, addr.port())
        } else {
            addr
        };
        let id = self.fresh_id();
        let syn_at = now + self.latency();
        let reply_latency = self.latency();
        let mut conn = Conn {
            state: ConnState::Connecting,
            aborted: [false; 2],
            addrs: [SocketAddr::new(local_ip, port), server_addr],
            hosts: [from, to],
            open: [true, true],
            wr_shut: [false; 2],
            rd_shut: [false; 2],
            pipes: [Pipe::default(), Pipe::default()],
            connect_waiters: Vec::new(),
            syn_arrived: false,
            reply_latency,
        };
        // Whatever the client sends (a close, if it gives up) follows the SYN.
        conn.pipes[0].last_at = Some(syn_at);
        self.conns.insert(id, conn);
        self.push_event(syn_at, Event::Syn(id));
        Ok(id)
    }

    /// The outcome of a connect: `None` while the handshake is under way.
    pub(crate) fn connect_result(&self, id: ConnId) -> Option<io::Result<()>> {
        if self.conns.get(&id).is_some_and(|c| c.aborted[0]) {
            return Some(Err(aborted()));
        }
        match self.conns.get(&id).map(|c| c.state) {
            Some(ConnState::Connecting) => None,
            Some(ConnState::Established) => Some(Ok(())),
            Some(ConnState::Refused) | None => Some(Err(err(
                io::ErrorKind::ConnectionRefused,
                "fibrio::sim: connection refused (no listener on that port)",
            ))),
        }
    }

    /// The local and peer addresses of `side` of `id`.
    pub(crate) fn addrs(&self, id: ConnId, side: usize) -> Option<(SocketAddr, SocketAddr)> {
        self.conns
            .get(&id)
            .map(|c| (c.addrs[side], c.addrs[side ^ 1]))
    }

    /// Sends `mark` down pipe `dir` of `id`, after everything sent before.
    fn send(&mut self, id: ConnId, dir: usize, mark: Mark, now: Instant) {
        let latency = self.latency();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let pipe = &mut conn.pipes[dir];
        let at = match pipe.last_at {
            Some(last) => last.max(now + latency),
            None => now + latency,
        };
        pipe.last_at = Some(at);
        pipe.marks.push_back((at, mark));
        if !pipe.scheduled {
            pipe.scheduled = true;
            self.push_event(at, Event::Pipe(id, dir));
        }
    }

    /// Writes up to the window; `None` when the window is full (wait).
    pub(crate) fn write(
        &mut self,
        id: ConnId,
        side: usize,
        data: &[u8],
        now: Instant,
    ) -> Option<io::Result<usize>> {
        let window = self.config.window;
        let Some(conn) = self.conns.get_mut(&id) else {
            return Some(Err(aborted()));
        };
        if conn.aborted[side] {
            return Some(Err(aborted()));
        }
        // The accepting side exists only once the SYN has arrived; the
        // connecting side writes once the SYN-ACK has.
        if side == 0 && conn.state != ConnState::Established {
            return Some(Err(err(
                io::ErrorKind::NotConnected,
                "fibrio::sim: the socket is not connected",
            )));
        }
        if conn.wr_shut[side] {
            return Some(Err(err(
                io::ErrorKind::BrokenPipe,
                "fibrio::sim: the socket was shut down for writing",
            )));
        }
        let incoming = &conn.pipes[side ^ 1];
        if incoming.peer_gone || incoming.reset {
            return Some(Err(err(
                io::ErrorKind::BrokenPipe,
                "fibrio::sim: the peer closed the connection",
            )));
        }
        if data.is_empty() {
            return Some(Ok(0));
        }
        let pipe = &mut conn.pipes[side];
        if pipe.reader_gone {
            // The peer's close is still on its way: the bytes are lost.
            return Some(Ok(data.len()));
        }
        let space = window.saturating_sub(pipe.buf.len());
        if space == 0 {
            return None;
        }
        let n = space.min(data.len());
        pipe.buf.extend(&data[..n]);
        self.send(id, side, Mark::Data(n), now);
        Some(Ok(n))
    }

    /// Reads (or peeks) what has arrived; `None` when nothing has (wait).
    pub(crate) fn read(
        &mut self,
        id: ConnId,
        side: usize,
        buf: &mut [u8],
        consume: bool,
        wake: &mut Wake,
    ) -> Option<io::Result<usize>> {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Some(Err(aborted()));
        };
        if conn.aborted[side] {
            return Some(Err(aborted()));
        }
        let rd_shut = conn.rd_shut[side];
        let pipe = &mut conn.pipes[side ^ 1];
        if pipe.reset {
            return Some(Err(err(
                io::ErrorKind::ConnectionReset,
                "fibrio::sim: connection reset by peer",
            )));
        }
        if rd_shut || buf.is_empty() {
            return Some(Ok(0));
        }
        if pipe.delivered > 0 {
            let n = pipe.delivered.min(buf.len());
            let (a, b) = pipe.buf.as_slices();
            let from_a = n.min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            buf[from_a..n].copy_from_slice(&b[..n - from_a]);
            if consume {
                pipe.buf.drain(..n);
                pipe.delivered -= n;
                wake.append(&mut pipe.writers);
            }
            return Some(Ok(n));
        }
        if pipe.eof {
            return Some(Ok(0));
        }
        None
    }

    pub(crate) fn shutdown(
        &mut self,
        id: ConnId,
        side: usize,
        read: bool,
        write: bool,
        now: Instant,
        wake: &mut Wake,
    ) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Err(aborted());
        };
        if conn.aborted[side] {
            return Err(aborted());
        }
        if read && !conn.rd_shut[side] {
            conn.rd_shut[side] = true;
            wake.append(&mut conn.pipes[side ^ 1].readers);
        }
        if write && !conn.wr_shut[side] {
            conn.wr_shut[side] = true;
            wake.append(&mut conn.pipes[side].writers);
            self.send(id, side, Mark::Fin, now);
        }
        Ok(())
    }

    /// The socket of `side` is gone: tell the peer (a close, or a reset if
    /// data it sent was left unread), and forget the connection once both
    /// sockets are gone.
    pub(crate) fn close_side(&mut self, id: ConnId, side: usize, wake: &mut Wake) {
        let now = fibrio_core::time::now_std();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.open[side] {
            return;
        }
        conn.open[side] = false;
        let incoming = &mut conn.pipes[side ^ 1];
        let unread = !incoming.buf.is_empty();
        incoming.reader_gone = true;
        incoming.buf.clear();
        incoming.delivered = 0;
        wake.append(&mut incoming.writers);
        let tell_peer = conn.open[side ^ 1] && conn.state != ConnState::Refused;
        let both_gone = !conn.open[0] && !conn.open[1];
        if side == 0 {
            let (host, port) = (conn.hosts[0], conn.addrs[0].port());
            self.hosts[host].ports.remove(&port);
        }
        if both_gone {
            self.conns.remove(&id);
        } else if tell_peer {
            let mark = if unread { Mark::Rst } else { Mark::Close };
            self.send(id, side, mark, now);
        }
    }

    // ----- waiting -----

    pub(crate) fn add_waiter(&mut self, slot: WaitSlot, key: TaskKey) {
        if let Some(list) = self.waiters(slot) {
            if !list.contains(&key) {
                list.push(key);
            }
        }
    }

    pub(crate) fn remove_waiter(&mut self, slot: WaitSlot, key: TaskKey) {
        if let Some(list) = self.waiters(slot) {
            list.retain(|k| *k != key);
        }
    }

    fn waiters(&mut self, slot: WaitSlot) -> Option<&mut Vec<TaskKey>> {
        match slot {
            WaitSlot::Accept(id) => self.listeners.get_mut(&id).map(|l| &mut l.waiters),
            WaitSlot::Connect(id) => self.conns.get_mut(&id).map(|c| &mut c.connect_waiters),
            WaitSlot::Read(id, dir) => self.conns.get_mut(&id).map(|c| &mut c.pipes[dir].readers),
            WaitSlot::Write(id, dir) => self.conns.get_mut(&id).map(|c| &mut c.pipes[dir].writers),
            WaitSlot::Datagram(id) => self.udp_waiters(id),
        }
    }

    // ----- delivery (the driver) -----

    /// Delivers everything due at or before `now`, pushing the tasks it
    /// wakes onto `woken`; returns the time of the next event.
    pub(crate) fn deliver(&mut self, now: Instant, woken: &mut Wake) -> Option<Instant> {
        while let Some(Reverse((at, _, event))) = self.events.peek().copied() {
            if at > now {
                return Some(at);
            }
            self.events.pop();
            if let Some(link) = self.cut_link(event) {
                if let Event::Datagram(id) = event {
                    // UDP is lost on a partition; it waits only on a hold.
                    if self.links.get(&link).is_some_and(|l| l.partitioned) {
                        self.datagrams.remove(&id);
                        continue;
                    }
                }
                // The link is cut (or the SYN's host is down): the packet
                // waits for it to heal.
                self.links.entry(link).or_default().waiting.push(event);
                continue;
            }
            match event {
                Event::Datagram(id) => self.deliver_datagram(id, woken),
                Event::Pipe(id, dir) => self.deliver_pipe(id, dir, now, woken),
                Event::Syn(id) => self.deliver_syn(id, at, woken),
                Event::SynAck(id) | Event::Refused(id) => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.state = if matches!(event, Event::SynAck(_)) {
                            ConnState::Established
                        } else {
                            ConnState::Refused
                        };
                        woken.append(&mut conn.connect_waiters);
                        if !conn.open[0] && !conn.open[1] {
                            self.conns.remove(&id);
                        }
                    }
                }
            }
        }
        None
    }

    /// The hosts a packet travels from and to.
    fn route(&self, event: Event) -> Option<(HostId, HostId)> {
        if let Event::Datagram(id) = event {
            return self.datagrams.get(&id).map(|d| (d.from_host, d.to_host));
        }
        let (id, from) = match event {
            Event::Pipe(id, dir) => (id, dir),
            Event::Syn(id) => (id, 0),
            Event::SynAck(id) | Event::Refused(id) => (id, 1),
            Event::Datagram(_) => unreachable!("handled above"),
        };
        let conn = self.conns.get(&id)?;
        Some((conn.hosts[from], conn.hosts[from ^ 1]))
    }

    /// The link `event` would wait on now, if it cannot be delivered: its
    /// link is partitioned or held, or it is a SYN to a host that is down.
    fn cut_link(&self, event: Event) -> Option<(HostId, HostId)> {
        let (from, to) = self.route(event)?;
        let key = (from.min(to), from.max(to));
        let cut = self
            .links
            .get(&key)
            .is_some_and(|link| link.partitioned || link.held);
        let down = matches!(event, Event::Syn(_)) && !self.hosts[to].up;
        (cut || down).then_some(key)
    }

    /// Sends on what waited on link `key`, in order, all after one fresh
    /// latency, unless the link is still cut.
    fn heal(&mut self, key: (HostId, HostId), now: Instant) {
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        if link.partitioned || link.held || link.waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut link.waiting);
        let at = now + self.latency();
        for event in waiting {
            // A SYN to a host still down waits again when it comes due.
            self.push_event(at, event);
        }
    }

    // ----- faults -----

    /// Cuts or heals the link between `a` and `b`: `partition` cuts TCP
    /// (packets wait), `hold` cuts everything. Healing sends on what
    /// waited.
    pub(crate) fn set_link(
        &mut self,
        a: HostId,
        b: HostId,
        fault: LinkFault,
        on: bool,
        now: Instant,
    ) {
        let key = (a.min(b), a.max(b));
        let link = self.links.entry(key).or_default();
        match fault {
            LinkFault::Partition => link.partitioned = on,
            LinkFault::Hold => link.held = on,
        }
        if !on {
            self.heal(key, now);
        }
    }

    /// The host crashes: its listeners vanish, its sockets die (their
    /// calls fail with `ConnectionAborted`), every peer gets a reset, and
    /// its ports are free. Packets to it are lost; SYNs to it wait for the
    /// restart.
    pub(crate) fn crash(&mut self, host: HostId, now: Instant, wake: &mut Wake) {
        self.hosts[host].up = false;
        self.hosts[host].ports.clear();
        self.crash_udp(host, wake);
        let listeners: Vec<ListenerId> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.host == host)
            .map(|(&id, _)| id)
            .collect();
        for id in listeners {
            if let Some(listener) = self.listeners.remove(&id) {
                wake.extend(listener.waiters);
            }
        }
        let sides: Vec<(ConnId, usize)> = self
            .conns
            .iter()
            .flat_map(|(&id, c)| {
                (0..2).filter_map(move |side| {
                    let exists = side == 0 || c.syn_arrived;
                    (c.hosts[side] == host && c.open[side] && exists).then_some((id, side))
                })
            })
            .collect();
        for (id, side) in sides {
            self.abort_side(id, side, now, wake);
        }
    }

    /// The socket of `side` dies with its host (see [`crash`](Self::crash)).
    fn abort_side(&mut self, id: ConnId, side: usize, now: Instant, wake: &mut Wake) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.open[side] = false;
        conn.aborted[side] = true;
        let incoming = &mut conn.pipes[side ^ 1];
        incoming.reader_gone = true;
        incoming.buf.clear();
        incoming.delivered = 0;
        wake.append(&mut incoming.readers);
        wake.append(&mut incoming.writers);
        wake.append(&mut conn.pipes[side].writers);
        wake.append(&mut conn.pipes[side].readers);
        if side == 0 {
            wake.append(&mut conn.connect_waiters);
        }
        let tell_peer = conn.open[side ^ 1] && conn.state != ConnState::Refused;
        if !conn.open[0] && !conn.open[1] {
            self.conns.remove(&id);
        } else if tell_peer {
            self.send(id, side, Mark::Rst, now);
        }
    }

    /// The host is up again (after a crash): SYNs that waited for it go
    /// on.
    pub(crate) fn restart(&mut self, host: HostId, now: Instant) {
        self.hosts[host].up = true;
        let keys: Vec<(HostId, HostId)> = self
            .links
            .keys()
            .copied()
            .filter(|&(a, b)| a == host || b == host)
            .collect();
        for key in keys {
            self.heal(key, now);
        }
    }

    /// True if the host is up (not crashed).
    pub(crate) fn is_up(&self, host: HostId) -> bool {
        self.hosts[host].up
    }

    fn deliver_syn(&mut self, id: ConnId, at: Instant, woken: &mut Wake) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let (host, target) = (conn.hosts[1], conn.addrs[1]);
        let reply_at = at + conn.reply_latency;
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.syn_arrived = true;
        }
        let listener = self.hosts[host]
            .ports
            .get(&target.port())
            .copied()
            .flatten()
            .filter(|l| {
                let bound = self.listeners[l].addr.ip();
                bound.is_unspecified() || bound == target.ip()
            });
        let conn = self.conns.get_mut(&id).expect("checked above");
        match listener {
            Some(l) => {
                // The server's data follows its SYN-ACK.
                conn.pipes[1].last_at = Some(reply_at);
                let listener = self.listeners.get_mut(&l).expect("bound port");
                listener.backlog.push_back(id);
                woken.append(&mut listener.waiters);
                self.push_event(reply_at, Event::SynAck(id));
            }
            None => {
                conn.open[1] = false;
                self.push_event(reply_at, Event::Refused(id));
            }
        }
    }

    fn deliver_pipe(&mut self, id: ConnId, dir: usize, now: Instant, woken: &mut Wake) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut closed = false;
        let pipe = &mut conn.pipes[dir];
        while let Some(&(at, mark)) = pipe.marks.front() {
            if at > now {
                break;
            }
            pipe.marks.pop_front();
            if pipe.reader_gone {
                continue;
            }
            match mark {
                Mark::Data(n) => pipe.delivered += n,
                Mark::Fin => pipe.eof = true,
                Mark::Close => {
                    pipe.eof = true;
                    pipe.peer_gone = true;
                    closed = true;
                }
                Mark::Rst => {
                    pipe.reset = true;
                    pipe.peer_gone = true;
                    pipe.buf.clear();
                    pipe.delivered = 0;
                    closed = true;
                }
            }
        }
        woken.append(&mut pipe.readers);
        let next = pipe.marks.front().map(|&(at, _)| at);
        pipe.scheduled = next.is_some();
        if closed {
            woken.append(&mut conn.pipes[dir ^ 1].writers);
        }
        if let Some(at) = next {
            self.push_event(at, Event::Pipe(id, dir));
        }
    }
}
