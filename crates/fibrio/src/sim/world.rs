//! [`Sim`]: several hosts on one simulated network, each with its own
//! main, all on one deterministic runtime on the calling thread.
//!
//! A `Sim` is one deterministic run. Its main task is the *supervisor*:
//! it gives each host (server or client) a task group of the run
//! (`task::det::add_group`) and an address on the run's [`SimNet`], starts
//! every host's main in its group, then waits until every client's main
//! has returned. A *keeper* task per server watches its main: when the
//! main returns, the keeper cancels the host's other tasks (as
//! `fibrio::run` does when main returns); when the host is bounced, it
//! waits for the host's tasks to end, restarts the host's network and
//! runs main again.
//!
//! # Invariants
//!
//! * Every task of a host belongs to the host's group: its main was
//!   spawned in it, and tasks inherit the group of their spawner. The
//!   network finds a task's host from its group, so a host's sockets are
//!   exactly those its tasks made.
//! * Hosts and clients are registered in the order `Sim::host` and
//!   `Sim::client` were called, so their groups, addresses and task ids
//!   are the same in every run of a seed.
//! * The supervisor, the keepers and the mains' end guards share one
//!   `World`, borrowed only between parks; every wake-up between them is a
//!   `task::unpark_local` on this thread, never a remote one, so the run
//!   stays replayable.
//! * A host's main is detached: its panic is the run's failure (an
//!   unjoined panic), reported with the host's name.
//! * `WORLD` is set exactly while a supervisor runs on this thread; the
//!   guard clears it on every way out.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use fibrio_core::scheduler::{
    DetConfig, DetStats, PolicySpec, Scheduler, SchedulerConfig, TaskKey, WaitKind, WaitReason,
};
use fibrio_core::task::{self, det};
use fibrio_reactor::sim::{SimNet, SimNetConfig};

use super::case;
use super::error::SimError;

/// Builds a [`Sim`]: its seed, network and limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::sim::Sim;
///
/// let sim = Sim::builder()
///     .seed(7)
///     .latency(Duration::from_millis(1), Duration::from_millis(20))
///     .max_virtual_time(Duration::from_secs(600))
///     .build();
/// assert_eq!(sim.seed(), 7);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build`"]
pub struct SimBuilder {
    seed: Option<u64>,
    net: SimNetConfig,
    max_virtual_time: Duration,
    policy: Option<PolicySpec>,
}

impl Default for SimBuilder {
    fn default() -> SimBuilder {
        SimBuilder {
            seed: None,
            net: SimNetConfig::default(),
            max_virtual_time: Duration::from_secs(24 * 3600),
            policy: None,
        }
    }
}

impl SimBuilder {
    /// The seed of the run: it chooses the schedule, the latencies and the
    /// random numbers. Default 0. `FIBRIO_SIM_SEED`, when set, wins over
    /// it, so the replay hint of any failure works unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # if std::env::var_os("FIBRIO_SIM_SEED").is_none() {
    /// assert_eq!(fibrio::sim::Sim::builder().seed(3).build().seed(), 3);
    /// # }
    /// ```
    pub fn seed(mut self, seed: u64) -> SimBuilder {
        self.seed = Some(seed);
        self
    }

    /// Each packet's latency, drawn uniformly from `min..=max` (a `max`
    /// below `min` counts as `min`). Default 0 to 1 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ten_ms = Duration::from_millis(10);
    /// let mut sim = fibrio::sim::Sim::builder().latency(ten_ms, ten_ms).build();
    /// sim.host("server", || {
    ///     let listener = fibrio::net::TcpListener::bind("0.0.0.0:80").unwrap();
    ///     let _ = listener.accept().unwrap();
    /// });
    /// sim.client("client", move || {
    ///     fibrio::net::TcpStream::connect("server:80").unwrap(); // SYN, then SYN-ACK
    ///     assert_eq!(fibrio::sim::elapsed(), 2 * ten_ms);
    /// });
    /// sim.run().unwrap();
    /// ```
    pub fn latency(mut self, min: Duration, max: Duration) -> SimBuilder {
        self.net = self.net.latency(min, max);
        self
    }

    /// Each connection's receive window in bytes (default 256 KiB): a
    /// writer waits while this many bytes it sent are unread.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = fibrio::sim::Sim::builder().window(4096).build();
    /// # drop(sim);
    /// ```
    pub fn window(mut self, bytes: usize) -> SimBuilder {
        self.net = self.net.window(bytes);
        self
    }

    /// Each UDP datagram is lost with probability `rate` (clamped to
    /// `0.0..=1.0`; default 0), drawn from the seed: a replay loses the
    /// same datagrams. TCP is never lossy.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::net::UdpSocket;
    ///
    /// let mut sim = fibrio::sim::Sim::builder().seed(5).udp_drop_rate(1.0).build();
    /// sim.client("peer", || {
    ///     let receiver = UdpSocket::bind("0.0.0.0:9").unwrap();
    ///     receiver.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    ///     let sender = UdpSocket::bind("0.0.0.0:0").unwrap();
    ///     for _ in 0..10 {
    ///         assert_eq!(sender.send_to(b"lost", "peer:9").unwrap(), 4); // sent, then dropped
    ///     }
    ///     let err = receiver.recv_from(&mut [0; 4]).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// });
    /// sim.run().unwrap();
    /// ```
    pub fn udp_drop_rate(mut self, rate: f64) -> SimBuilder {
        self.net = self.net.udp_drop_rate(rate);
        self
    }

    /// The run fails with [`SimError::TimeLimit`] when virtual time would
    /// pass `limit` (default 24 hours).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio::sim::{Sim, SimError};
    ///
    /// let mut sim = Sim::builder().max_virtual_time(Duration::from_secs(10)).build();
    /// sim.client("sleeper", || fibrio::sleep(Duration::from_secs(60)));
    /// assert!(matches!(sim.run(), Err(SimError::TimeLimit { .. })));
    /// ```
    pub fn max_virtual_time(mut self, limit: Duration) -> SimBuilder {
        self.max_virtual_time = limit;
        self
    }

    /// Runs `schedule` instead of the schedule policy the seed chooses: FIFO
    /// except at its deviations (see [`Schedule`](super::Schedule)). The
    /// seed still chooses latencies and random numbers.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::sim::{Schedule, Sim};
    ///
    /// let mut sim = Sim::builder().schedule(Schedule::fifo()).build();
    /// sim.client("c", || ());
    /// sim.run().unwrap();
    /// ```
    pub fn schedule(mut self, schedule: super::Schedule) -> SimBuilder {
        self.policy = Some(schedule.config().policy);
        self
    }

    /// The simulation, with no hosts yet.
    ///
    /// # Panics
    ///
    /// If `FIBRIO_SIM_SEED` is set to something that is not a number.
    ///
    /// # Examples
    ///
    /// See [`Sim`].
    #[track_caller]
    pub fn build(self) -> Sim {
        let seed = super::check::seed_from_env().unwrap_or(self.seed.unwrap_or(0));
        Sim {
            seed,
            net: self.net,
            max_virtual_time: self.max_virtual_time,
            policy: self.policy,
            hosts: Vec::new(),
        }
    }
}

/// What a host runs.
enum HostMain {
    /// A server: run at start and again after each bounce.
    Server(Rc<dyn Fn()>),
    /// A client: run once; the simulation ends when every client returned.
    Client(Box<dyn FnOnce()>),
}

struct HostSpec {
    name: String,
    main: HostMain,
}

/// Several hosts on one simulated network, each with its own main, all on
/// one deterministic runtime on the calling thread: virtual time, a
/// schedule chosen by the seed, and network faults
/// ([`sim::net`](super::net)).
///
/// Hosts reach each other by name (`TcpStream::connect("server:80")`) or
/// address (`10.0.0.1`, `10.0.0.2`, ... in the order they were added).
/// Each host has its own main, its own tasks (every task a host's task
/// spawns stays on that host), its own ports and its own lifetime: a
/// crash cancels its tasks, a bounce runs its main again. They share the
/// thread (and its thread-locals), the clock and the schedule.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use fibrio::net::{TcpListener, TcpStream};
/// use fibrio::sim::Sim;
///
/// let mut sim = Sim::builder().seed(1).build();
/// sim.host("server", || {
///     let listener = TcpListener::bind("0.0.0.0:7").unwrap();
///     loop {
///         let (mut stream, _) = listener.accept().unwrap();
///         fibrio::spawn(move || {
///             let mut buf = [0; 5];
///             stream.read_exact(&mut buf).unwrap();
///             stream.write_all(&buf).unwrap();
///         });
///     }
/// });
/// sim.client("client", || {
///     let mut stream = TcpStream::connect("server:7").unwrap();
///     stream.write_all(b"hello").unwrap();
///     let mut reply = [0; 5];
///     stream.read_exact(&mut reply).unwrap();
///     assert_eq!(&reply, b"hello");
/// });
/// let report = sim.run().unwrap();
/// assert_eq!(report.seed, 1);
/// assert!(report.steps > 0);
/// ```
pub struct Sim {
    seed: u64,
    net: SimNetConfig,
    max_virtual_time: Duration,
    policy: Option<PolicySpec>,
    hosts: Vec<HostSpec>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("hosts", &names)
            .finish_non_exhaustive()
    }
}

/// What a successful [`Sim::run`] did. The same seed and program give the
/// same report.
///
/// # Examples
///
/// ```
/// let run = || {
///     let mut sim = fibrio::sim::Sim::builder().seed(4).build();
///     sim.client("c", || fibrio::sleep(std::time::Duration::from_secs(2)));
///     sim.run().unwrap()
/// };
/// let (a, b) = (run(), run());
/// assert_eq!(a, b);
/// assert_eq!(a.virtual_elapsed, std::time::Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SimReport {
    /// The run's seed.
    pub seed: u64,
    /// Task runs.
    pub steps: u64,
    /// Virtual time from the start to the end.
    pub virtual_elapsed: Duration,
    /// A hash of the run's events: equal hashes, same schedule.
    pub trace_hash: u64,
}

impl SimReport {
    fn new(seed: u64, stats: DetStats) -> SimReport {
        SimReport {
            seed,
            steps: stats.steps,
            virtual_elapsed: stats.virtual_elapsed,
            trace_hash: stats.trace_hash,
        }
    }
}

impl Sim {
    /// A builder with the defaults: seed 0 (or `FIBRIO_SIM_SEED`),
    /// latency 0 to 1 ms, a 256 KiB window, 24 hours of virtual time.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sim = fibrio::sim::Sim::builder().build();
    /// sim.client("only", || assert_eq!(fibrio::sim::elapsed(), std::time::Duration::ZERO));
    /// sim.run().unwrap();
    /// ```
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// The seed this simulation runs.
    ///
    /// # Examples
    ///
    /// See [`SimBuilder::seed`].
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds a server host called `name`: `main` runs when the simulation
    /// starts, and again after each [`bounce`](super::net::bounce). When
    /// it returns, the host's other tasks are cancelled. The simulation
    /// does not wait for servers: it ends when every client has returned.
    ///
    /// # Panics
    ///
    /// If another host or client already has the name
    /// (case-insensitively), or the name is empty, `localhost`, an IP
    /// address, or contains `:`.
    ///
    /// # Examples
    ///
    /// See [`Sim`].
    #[track_caller]
    pub fn host(&mut self, name: &str, main: impl Fn() + 'static) {
        self.add(name, HostMain::Server(Rc::new(main)));
    }

    /// Adds a client host called `name`: `main` runs once; the simulation
    /// ends when every client's main has returned (or was cancelled by a
    /// crash of its host). With no client at all, it ends when every
    /// server's main has returned.
    ///
    /// # Panics
    ///
    /// As [`host`](Self::host).
    ///
    /// # Examples
    ///
    /// See [`Sim`].
    #[track_caller]
    pub fn client(&mut self, name: &str, main: impl FnOnce() + 'static) {
        self.add(name, HostMain::Client(Box::new(main)));
    }

    #[track_caller]
    fn add(&mut self, name: &str, main: HostMain) {
        // The network checks names again; this gives the error at the
        // call that caused it.
        let probe = SimNet::without_hosts(SimNetConfig::default());
        let taken = self
            .hosts
            .iter()
            .enumerate()
            .try_for_each(|(i, h)| probe.add_host(&h.name, i as u32 + 1).map(drop))
            .and_then(|()| probe.add_host(name, 0).map(drop));
        if let Err(err) = taken {
            panic!("{err}");
        }
        self.hosts.push(HostSpec {
            name: name.to_owned(),
            main,
        });
    }

    /// Runs the simulation on this thread until every client has returned.
    ///
    /// Inside a running simulation ([`run`](super::run),
    /// [`check`](super::check), `#[fibrio::sim_test]`) it joins that one
    /// instead of starting its own: its hosts become hosts of the running
    /// simulation (which already has a host called `main`), on its seed,
    /// network and clock, and the builder's seed, latency and limits are
    /// not used. It returns when its clients have returned, after its
    /// hosts' tasks have been cancelled and have ended; a failure fails
    /// the running simulation.
    ///
    /// # Errors
    ///
    /// The first failure, as a [`SimError`] with the seed and the replay
    /// hint: a panic in a host's or client's main, or in any task nobody
    /// joined (with the host's name); a deadlock (every task of every host
    /// parked, no timer pending, no packet in flight); the time limit.
    ///
    /// # Panics
    ///
    /// Inside a running `fibrio::run`; if a stack cannot be mapped for a
    /// host's main.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::sim::{Sim, SimError};
    ///
    /// let mut sim = Sim::builder().seed(9).build();
    /// sim.client("client", || {
    ///     let err = fibrio::net::TcpStream::connect("server:80").unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound); // no such host
    ///     panic!("planned");
    /// });
    /// let err = sim.run().unwrap_err();
    /// assert!(matches!(&err, SimError::Panic { host: Some(h), .. } if h == "client"));
    /// assert!(err.to_string().contains("FIBRIO_SIM_SEED=9"));
    /// ```
    #[track_caller]
    pub fn run(self) -> Result<SimReport, SimError> {
        if det::active() {
            return self.run_adopted();
        }
        case::refuse_nested("fibrio::sim::Sim::run");
        let Sim {
            seed,
            net,
            max_virtual_time,
            policy,
            hosts,
        } = self;
        let net = SimNet::without_hosts(net);
        let _enter = net.enter();
        let mut config = DetConfig::new(seed).max_virtual_time(max_virtual_time);
        if let Some(policy) = policy {
            config = config.policy(policy);
        }
        let scheduler =
            Scheduler::deterministic(SchedulerConfig::default(), Box::new(net.driver()), config);
        let world = World::new(net.clone());
        let (result, stats) = scheduler.block_on_deterministic(|| supervise(&world, hosts));
        match result {
            Ok(()) => Ok(SimReport::new(seed, stats)),
            Err(failure) => Err(SimError::from_failure(seed, failure)),
        }
    }

    /// [`run`](Self::run) inside a running simulation: the hosts join it.
    fn run_adopted(self) -> Result<SimReport, SimError> {
        let seed = det::seed().unwrap_or(self.seed);
        let Some(net) = SimNet::current() else {
            panic!(
                "fibrio::sim::Sim::run inside a deterministic runtime without a simulated \
                 network: run it from fibrio::sim::run, fibrio::sim::check or on its own"
            );
        };
        if task::current_key().is_none() {
            panic!("fibrio::sim::Sim::run inside a simulation must be called from a task");
        }
        let world = World::new(net);
        supervise(&world, self.hosts);
        let stats = det::stats().expect("inside a deterministic run");
        Ok(SimReport::new(seed, stats))
    }
}

/// A host while the simulation runs.
struct HostRecord {
    name: String,
    group: u32,
    /// A server's main; `None` for a client.
    server: Option<Rc<dyn Fn()>>,
    /// Its main is running (spawned and not ended).
    main_running: bool,
    /// Its main's last run returned normally.
    main_returned: bool,
    /// Its keeper has dealt with its main's end.
    end_seen: bool,
    /// A bounce asked for a restart.
    restart: bool,
    keeper: Option<TaskKey>,
}

/// The state a simulation's supervisor, keepers and faults share.
pub(crate) struct World {
    pub(crate) net: SimNet,
    hosts: RefCell<Vec<HostRecord>>,
    clients_left: Cell<usize>,
    supervisor: Cell<Option<TaskKey>>,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

/// Calls `f` with the simulation running on this thread, if any.
pub(crate) fn with_world<R>(f: impl FnOnce(&Rc<World>) -> R) -> Option<R> {
    let world = WORLD.try_with(|w| w.borrow().clone()).ok().flatten()?;
    Some(f(&world))
}

/// Sets `WORLD` until dropped, restoring the previous one.
struct Enter(Option<Rc<World>>);

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = WORLD.try_with(|w| w.replace(previous));
    }
}

impl World {
    fn new(net: SimNet) -> Rc<World> {
        Rc::new(World {
            net,
            hosts: RefCell::new(Vec::new()),
            clients_left: Cell::new(0),
            supervisor: Cell::new(None),
        })
    }

    /// The index and group of the host called `name`.
    pub(crate) fn host(&self, name: &str) -> Option<(usize, u32, bool)> {
        self.hosts
            .borrow()
            .iter()
            .enumerate()
            .find(|(_, h)| h.name.eq_ignore_ascii_case(name))
            .map(|(i, h)| (i, h.group, h.server.is_some()))
    }

    /// Asks the keeper of host `index` to restart it.
    pub(crate) fn request_restart(&self, index: usize) {
        let keeper = {
            let mut hosts = self.hosts.borrow_mut();
            hosts[index].restart = true;
            hosts[index].keeper
        };
        if let Some(keeper) = keeper {
            task::unpark_local(keeper);
        }
    }

    fn wake_supervisor(&self) {
        if let Some(key) = self.supervisor.get() {
            task::unpark_local(key);
        }
    }

    /// True once the supervisor may end the simulation.
    fn finished(&self) -> bool {
        let hosts = self.hosts.borrow();
        if hosts.iter().any(|h| h.server.is_none()) {
            self.clients_left.get() == 0
        } else {
            hosts.iter().all(|h| !h.main_running)
        }
    }
}

/// What the supervisor and keepers park with: never part of the program
/// under test, so deadlock reports leave them out.
const KEEPER_WAIT: WaitReason = WaitReason::new(WaitKind::SimKeeper, 0);

/// The supervisor: registers the hosts, starts them, waits for the
/// clients, then ends the hosts.
fn supervise(world: &Rc<World>, specs: Vec<HostSpec>) {
    let previous = WORLD.with(|w| w.replace(Some(world.clone())));
    let _enter = Enter(previous);
    let mut clients = Vec::new();
    for spec in specs {
        let group = det::add_group(&spec.name).expect("inside a deterministic run");
        if let Err(err) = world.net.add_host(&spec.name, group) {
            panic!("fibrio::sim::Sim::run: {err}");
        }
        let index = world.hosts.borrow().len();
        let server = match spec.main {
            HostMain::Server(main) => Some(main),
            HostMain::Client(main) => {
                clients.push((index, main));
                None
            }
        };
        world.hosts.borrow_mut().push(HostRecord {
            name: spec.name,
            group,
            server,
            main_running: false,
            main_returned: false,
            end_seen: true,
            restart: false,
            keeper: None,
        });
    }
    world.supervisor.set(task::current_key());
    let count = world.hosts.borrow().len();
    let mut keepers = Vec::new();
    for index in 0..count {
        if world.hosts.borrow()[index].server.is_some() {
            start_server(world, index);
            let name = format!("sim keeper of {}", world.hosts.borrow()[index].name);
            let w = world.clone();
            let keeper = task::Builder::new()
                .name(name)
                .spawn(move || keep(&w, index))
                .unwrap_or_else(|err| panic!("fibrio::sim: cannot start a host's keeper: {err}"));
            keepers.push(keeper);
        }
    }
    world.clients_left.set(clients.len());
    for (index, main) in clients {
        let group = world.hosts.borrow()[index].group;
        let end = ClientEnd {
            world: world.clone(),
        };
        let spawned = det::with_group(group, || {
            task::Builder::new().name("main").spawn(move || {
                let _end = end;
                main();
            })
        });
        // Detached: a panic in it fails the simulation, with the host.
        drop(spawned.unwrap_or_else(|err| panic!("fibrio::sim: cannot start a client: {err}")));
    }
    while !world.finished() {
        if task::park_for(KEEPER_WAIT, None).is_err() {
            break;
        }
    }
    // End every host: its tasks are cancelled and have ended when `run`
    // returns (inside another simulation too).
    for keeper in &keepers {
        keeper.cancel();
    }
    let groups: Vec<u32> = world.hosts.borrow().iter().map(|h| h.group).collect();
    for &group in &groups {
        det::cancel_group(group);
    }
    for &group in &groups {
        let _ = det::wait_group_empty(group);
    }
    for keeper in keepers {
        let _ = keeper.join();
    }
    world.supervisor.set(None);
}

/// Spawns the main of server `index` in its group.
fn start_server(world: &Rc<World>, index: usize) {
    let (group, main) = {
        let mut hosts = world.hosts.borrow_mut();
        let host = &mut hosts[index];
        host.main_running = true;
        host.main_returned = false;
        host.end_seen = false;
        (host.group, host.server.clone().expect("a server"))
    };
    let end = ServerEnd {
        world: world.clone(),
        index,
        returned: false,
    };
    let spawned = det::with_group(group, || {
        task::Builder::new().name("main").spawn(move || {
            let mut end = end;
            main();
            end.returned = true;
        })
    });
    // Detached: a panic in it fails the simulation, with the host.
    drop(spawned.unwrap_or_else(|err| panic!("fibrio::sim: cannot start a host's main: {err}")));
}

/// The keeper of server `index`: ends the host's tasks when its main
/// returns, and restarts it when it is bounced. Cancelled when the
/// simulation ends.
fn keep(world: &Rc<World>, index: usize) {
    // Its state is checked before every park, so a wake-up sent before
    // this is not lost.
    world.hosts.borrow_mut()[index].keeper = task::current_key();
    loop {
        let (restart, ended, returned, group) = {
            let hosts = world.hosts.borrow();
            let h = &hosts[index];
            (
                h.restart,
                !h.main_running && !h.end_seen,
                h.main_returned,
                h.group,
            )
        };
        if restart {
            world.hosts.borrow_mut()[index].restart = false;
            det::cancel_group(group);
            if det::wait_group_empty(group).is_err() {
                return;
            }
            let name = world.hosts.borrow()[index].name.clone();
            world
                .net
                .restart(&name)
                .expect("the host is registered on the network");
            start_server(world, index);
            continue;
        }
        if ended {
            world.hosts.borrow_mut()[index].end_seen = true;
            if returned {
                // As `fibrio::run` when main returns.
                det::cancel_group(group);
            }
            continue;
        }
        if task::park_for(KEEPER_WAIT, None).is_err() {
            return;
        }
    }
}

/// Records the end of a server's main, however it ends.
struct ServerEnd {
    world: Rc<World>,
    index: usize,
    returned: bool,
}

impl Drop for ServerEnd {
    fn drop(&mut self) {
        let keeper = {
            let mut hosts = self.world.hosts.borrow_mut();
            let host = &mut hosts[self.index];
            host.main_running = false;
            host.main_returned = self.returned;
            host.keeper
        };
        if let Some(keeper) = keeper {
            task::unpark_local(keeper);
        }
        self.world.wake_supervisor();
    }
}

/// Counts a client's main as ended, however it ends.
struct ClientEnd {
    world: Rc<World>,
}

impl Drop for ClientEnd {
    fn drop(&mut self) {
        let left = self.world.clients_left.get().saturating_sub(1);
        self.world.clients_left.set(left);
        if left == 0 {
            self.world.wake_supervisor();
        }
    }
}
