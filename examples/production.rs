//! A service set up for production: the reference design's example 10
//! ("production ready") done right. The reference's production tools
//! (health check, graceful shutdown, resource limits, monitor) were
//! promised and delivered broken; here each one is a fibrio feature, and
//! `examples/tests/production.rs` checks them on this very binary.
//!
//! The service speaks a line protocol over TCP, one task per connection;
//! each line is a request, answered by one line:
//!
//! | request | answer |
//! |---|---|
//! | `PING` | `PONG` |
//! | `HASH text` | `OK <hex>`: a hash of `text`, worked over 20,000 rounds |
//! | `SLOW ms` | `OK slept <ms>ms` after `ms` (at most 60,000): a call to a slow backend |
//! | `FANOUT n` | `OK <n> <hex>`: `n` (at most 1,000) tasks hash at once; `ERR busy: ...` if they cannot all be spawned |
//! | `BLOCK ms` | blocks the runtime's thread for `ms` (at most 10,000): the mistake the watchdog reports |
//! | anything else | `ERR ...` saying what is understood |
//!
//! What makes it production-shaped:
//!
//! * **Limits.** `--max-tasks` (`Builder::max_tasks`, default 256): a
//!   connection whose task cannot be spawned is answered `ERR busy: ...`
//!   and closed, and a `FANOUT` over the limit is answered `ERR busy: ...`;
//!   the service goes on serving either way. `--max-connections` (default
//!   128): over it, `ERR busy: ...` and close. A request line over 1 KiB
//!   is refused. `--idle-timeout` (default 30s): a connection that sends
//!   nothing for that long is closed (`ERR idle timeout`).
//! * **Watchdog** (`Builder::watchdog`, `--watchdog`, default 100ms): a task
//!   that runs that long without parking is named in a warning on stderr.
//! * **Metrics, health, dump** on the admin listener (`--admin`, loopback):
//!   `GET /metrics` (Prometheus), `GET /healthz` (JSON), `GET /debug/tasks`
//!   (`?stacks=1` for every task's backtrace).
//! * **Dump on SIGQUIT** (`Builder::dump_on_sigquit`): `kill -QUIT <pid>`
//!   prints every task and its stack to stderr; the service goes on.
//! * **Graceful shutdown** on SIGTERM or SIGINT (`Builder::shutdown_on_signals`,
//!   `--grace`, default 10s): the listener stops accepting, connections
//!   waiting for their next request close at once (`BYE shutting down`),
//!   requests in progress are answered (then the connection closes), and
//!   the process exits 0. What is still running when the grace ends is
//!   cancelled; a second signal ends the grace at once.
//!
//! Run it and try each feature:
//!
//! ```text
//! cargo run --release --example production -- --addr 127.0.0.1:7070 --admin 127.0.0.1:7071
//! printf 'PING\nHASH hello\nFANOUT 100\n' | nc -q1 127.0.0.1 7070
//! printf 'FANOUT 1000\n' | nc -q1 127.0.0.1 7070          # over max_tasks: ERR busy
//! curl -s http://127.0.0.1:7071/metrics | grep fibrio_tasks
//! curl -s http://127.0.0.1:7071/healthz
//! curl -s 'http://127.0.0.1:7071/debug/tasks?stacks=1'
//! printf 'BLOCK 500\n' | nc -q1 127.0.0.1 7070            # the watchdog warns
//! kill -QUIT <pid>                                         # the task dump on stderr
//! (printf 'SLOW 3000\n'; sleep 4) | nc 127.0.0.1 7070 & sleep 1; kill -TERM <pid>
//!                                                          # answered, then exit 0
//! ```
//!
//! Flags: `--addr HOST:PORT` (127.0.0.1:7070), `--admin HOST:PORT`
//! (127.0.0.1:7071; `127.0.0.1:0` picks a port), `--max-tasks N` (256),
//! `--max-connections N` (128), `--idle-timeout D` (30s), `--grace D`
//! (10s), `--watchdog D` (100ms). Durations are `250ms`, `10s` or a
//! number of seconds. Startup prints `serving on ADDR` and `admin on
//! http://ADDR` (stdout). Exit status: 0 after a shutdown, 1 if the
//! service could not start, 2 on a bad flag.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use fibrio_examples::http1::parse_duration;

/// The longest request line, newline included.
const MAX_LINE: usize = 1024;

/// What the flags set.
#[derive(Clone, Debug)]
struct Settings {
    addr: String,
    admin: String,
    max_tasks: usize,
    max_connections: usize,
    idle_timeout: Duration,
    grace: Duration,
    watchdog: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            addr: "127.0.0.1:7070".into(),
            admin: "127.0.0.1:7071".into(),
            max_tasks: 256,
            max_connections: 128,
            idle_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            watchdog: Duration::from_millis(100),
        }
    }
}

fn main() {
    let settings = parse_flags();
    log::set_logger(&StderrLog).expect("the only logger");
    log::set_max_level(log::LevelFilter::Info);
    let runtime = fibrio::Runtime::builder()
        .max_tasks(settings.max_tasks)
        .watchdog(settings.watchdog)
        .dump_on_sigquit(true)
        .shutdown_on_signals(settings.grace)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("production: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    };
    match runtime.try_run(|| serve(&settings)) {
        Ok(Ok(())) => eprintln!("production: shut down"),
        Ok(Err(err)) => {
            eprintln!("production: {err}");
            std::process::exit(1);
        }
        Err(err) => {
            // The grace ran out with main still running: everything left
            // was cancelled. Still a shutdown the operator asked for.
            eprintln!("production: {err}");
        }
    }
}

/// The service's main task: the admin listener, then the accept loop until
/// shutdown. Returns when the listener stops accepting; the connections
/// still open then finish within the grace period.
fn serve(settings: &Settings) -> io::Result<()> {
    let admin = fibrio::admin::serve(&settings.admin)
        .map_err(|err| io::Error::new(err.kind(), format!("admin on {}: {err}", settings.admin)))?;
    let listener = TcpListener::bind(&settings.addr)
        .map_err(|err| io::Error::new(err.kind(), format!("listen on {}: {err}", settings.addr)))?;
    let pid = std::process::id();
    println!(
        "production: serving on {} (pid {pid}; max_tasks {}, max-connections {}, idle-timeout {:?}, \
         watchdog {:?}, grace {:?})",
        listener.local_addr()?,
        settings.max_tasks,
        settings.max_connections,
        settings.idle_timeout,
        settings.watchdog,
        settings.grace
    );
    println!(
        "production: admin on http://{} (/metrics, /healthz, /debug/tasks); \
         kill -QUIT {pid} dumps the tasks, kill -TERM {pid} shuts down",
        admin.local_addr()
    );
    let open = Rc::new(Cell::new(0usize));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if fibrio::shutdown::is_stopped_accepting(&err) => break,
            Err(err) => {
                // Out of fds, say: back off instead of spinning.
                log::warn!("accept failed: {err}");
                fibrio::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if open.get() >= settings.max_connections {
            refuse(
                &stream,
                &format!(
                    "busy: {} connections open (max-connections); try again later",
                    open.get()
                ),
            );
            continue;
        }
        let stream = Rc::new(stream);
        let kept = Rc::clone(&stream);
        let slot = Slot::take(&open);
        let idle_timeout = settings.idle_timeout;
        let spawned = fibrio::task::Builder::new()
            .name(format!("connection {peer}"))
            .spawn(move || {
                let _slot = slot;
                if let Err(err) = connection(&stream, idle_timeout) {
                    log::debug!("{peer}: {err}");
                }
            });
        if let Err(err) = spawned {
            // Over max_tasks: refused cleanly, and the loop goes on.
            log::warn!("refused {peer}: {err}");
            refuse(&kept, &format!("busy: {err}"));
        }
    }
    println!(
        "production: shutting down: stopped accepting, {} connections finishing",
        open.get()
    );
    drop(admin);
    Ok(())
}

/// A place among `--max-connections`, given back on drop.
struct Slot(Rc<Cell<usize>>);

impl Slot {
    fn take(open: &Rc<Cell<usize>>) -> Slot {
        open.set(open.get() + 1);
        Slot(Rc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Answers `ERR <why>` and closes, without reading anything.
fn refuse(stream: &TcpStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = writeln!(&*stream, "ERR {why}");
}

/// Serves one connection: a line in, a line out, until the client closes,
/// the idle timeout, or shutdown (between requests).
fn connection(stream: &TcpStream, idle_timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(idle_timeout))?;
    stream.set_write_timeout(Some(idle_timeout))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        // An idle connection ends here at shutdown; a request already being
        // handled below is not interrupted.
        let limit = MAX_LINE as u64;
        let read = fibrio::shutdown::move_on(|| (&mut reader).take(limit).read_line(&mut line));
        let Some(read) = read else {
            return writeln!(&*stream, "BYE shutting down");
        };
        match read {
            Ok(0) => return Ok(()),
            Ok(_) if !line.ends_with('\n') => {
                return writeln!(
                    &*stream,
                    "ERR a request is one line of at most {MAX_LINE} bytes"
                );
            }
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return writeln!(
                    &*stream,
                    "ERR idle timeout ({idle_timeout:?} without a request)"
                );
            }
            Err(err) => return Err(err),
        }
        let answer = answer(line.trim());
        writeln!(&*stream, "{answer}")?;
        if fibrio::shutdown::requested() {
            // Answered; now close, as HTTP's `Connection: close` would.
            return Ok(());
        }
    }
}

/// The answer to one request line.
fn answer(request: &str) -> String {
    let (command, argument) = request.split_once(' ').unwrap_or((request, ""));
    let number = |max: u64| match argument.trim().parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "ERR {command} takes a number from 0 to {max}, not {argument:?}"
        )),
    };
    match command {
        "PING" => "PONG".into(),
        "HASH" => format!("OK {:016x}", work(argument.as_bytes())),
        "SLOW" => match number(60_000) {
            Ok(ms) => {
                fibrio::sleep(Duration::from_millis(ms));
                format!("OK slept {ms}ms")
            }
            Err(err) => err,
        },
        "FANOUT" => match number(1000) {
            Ok(n) => fan_out(n),
            Err(err) => err,
        },
        "BLOCK" => match number(10_000) {
            Ok(ms) => {
                // Deliberately wrong: this stalls every task of the runtime.
                // The watchdog names this task on stderr.
                std::thread::sleep(Duration::from_millis(ms));
                format!("OK blocked the runtime's thread for {ms}ms")
            }
            Err(err) => err,
        },
        _ => format!(
            "ERR unknown request {request:?}; try PING, HASH text, SLOW ms, FANOUT n or BLOCK ms"
        ),
    }
}

/// `n` tasks hash at once; every one is spawned, or none is kept.
fn fan_out(n: u64) -> String {
    let mut tasks = Vec::new();
    for i in 0..n {
        match fibrio::task::Builder::new().spawn(move || work(&i.to_le_bytes())) {
            Ok(task) => tasks.push(task),
            Err(err) => {
                for task in tasks {
                    task.cancel();
                }
                return format!("ERR busy: task {i} of {n}: {err}");
            }
        }
    }
    let mut combined = 0;
    for task in tasks {
        match task.join() {
            Ok(hash) => combined ^= hash,
            Err(err) => return format!("ERR a task failed: {err}"),
        }
    }
    format!("OK {n} {combined:016x}")
}

/// Some CPU work per request: FNV-1a over `bytes`, 20,000 rounds, yielding
/// to the other tasks every 1,000.
fn work(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for round in 0..20_000u32 {
        for &byte in bytes.iter().chain(&round.to_le_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        if round % 1000 == 999 {
            fibrio::yield_now();
        }
    }
    hash
}

/// Log records on stderr, with the time since start: the watchdog's and
/// the service's warnings.
struct StderrLog;

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let since = START.get_or_init(Instant::now).elapsed();
            eprintln!(
                "[{:>9.3}s {} {}] {}",
                since.as_secs_f64(),
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

fn parse_flags() -> Settings {
    START.get_or_init(Instant::now);
    let mut settings = Settings::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => settings.addr = value,
            "--admin" => settings.admin = value,
            "--max-tasks" => settings.max_tasks = number(&flag, &value),
            "--max-connections" => settings.max_connections = number(&flag, &value),
            "--idle-timeout" => settings.idle_timeout = duration(&flag, &value),
            "--grace" => settings.grace = duration(&flag, &value),
            "--watchdog" => settings.watchdog = duration(&flag, &value),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    settings
}

fn number(flag: &str, value: &str) -> usize {
    match value.parse() {
        Ok(n) if n > 0 => n,
        _ => usage(&format!("{flag} takes a number above zero, not {value:?}")),
    }
}

fn duration(flag: &str, value: &str) -> Duration {
    parse_duration(value).unwrap_or_else(|| {
        usage(&format!(
            "{flag} takes a duration above zero (250ms, 10s), not {value:?}"
        ))
    })
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: production [--addr HOST:PORT] [--admin HOST:PORT] [--max-tasks N] \
         [--max-connections N] [--idle-timeout D] [--grace D] [--watchdog D]"
    );
    std::process::exit(2)
}
