//! Warnings a user must see even without a logger: a task that blocked its
//! thread (the watchdog), an accept loop out of file descriptors, a
//! blocking-pool thread that could not start.
//!
//! # The rule
//!
//! A warning goes through [`log`] when a logger is installed, and to
//! stderr, as one line, when none is:
//!
//! * "installed" means [`log::max_level`] is above
//!   [`LevelFilter::Off`](log::LevelFilter::Off). That is `log`'s own
//!   default until a program sets up logging (`env_logger::init()` and the
//!   like set it), and `log` offers no other way to ask whether
//!   [`log::set_logger`] was called. A logger that then filters fibrio's
//!   warnings out has been told to: nothing goes to stderr either.
//! * Lines written to stderr are rate-limited per warning site
//!   ([`RateLimitedWarning`]): at most one per interval (a second for the
//!   sites above), the next one saying how many were held back, so a storm
//!   (every task blocking, every accept failing) cannot flood stderr.
//!   Warnings sent to a logger are not rate-limited here: the sites
//!   already warn at most once per event that matters, and filtering is
//!   the logger's business.
//! * Errors ([`error`], the deadlock report) follow the same rule at
//!   [`log::Level::Error`], unpaced (each is one event), as
//!   `error: <target>: <message>` on stderr.
//! * The stderr line is `warning: <message>` (fibrio's own messages
//!   start with `fibrio`), written in one `write` of the locked stderr; a
//!   write error is ignored (a warning must never take the program down).
//!
//! # Invariants
//!
//! * A [`RateLimitedWarning`] writes to stderr at most once per `every`
//!   (measured on the real clock, [`std::time::Instant`], even inside a
//!   deterministic simulation: it only paces output), and counts every
//!   warning it holds back; the count is reported with, and reset by, the
//!   next line written.
//! * Nothing here allocates or locks on the logger path beyond what the
//!   logger itself does.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where [`RateLimitedWarning::emit`] sent a warning.
///
/// # Examples
///
/// ```
/// use fibrio_core::diagnostics::{RateLimitedWarning, Sink};
///
/// static SLOW: RateLimitedWarning = RateLimitedWarning::new("my_app", 1);
/// // No logger in a doctest: the first warning goes to stderr.
/// assert_eq!(SLOW.emit(format_args!("slow disk")), Sink::Stderr);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// To the installed logger, at [`log::Level::Warn`].
    Log,
    /// One line on stderr (no logger is installed).
    Stderr,
    /// Held back: a line went to stderr less than the interval ago. It is
    /// counted in the next line.
    Suppressed,
}

#[derive(Debug)]
struct Pace {
    last: Option<Instant>,
    suppressed: u64,
}

/// One warning site: sends its warnings to the logger, or, without one,
/// to stderr at most once per interval. Declare one `static` per site.
///
/// # Examples
///
/// ```
/// use fibrio_core::diagnostics::{RateLimitedWarning, Sink};
///
/// static FULL: RateLimitedWarning = RateLimitedWarning::new("my_app::queue", 60);
/// assert_eq!(FULL.emit(format_args!("queue full ({} jobs)", 1000)), Sink::Stderr);
/// // Within the minute: held back, and counted in the next line.
/// assert_eq!(FULL.emit(format_args!("queue full ({} jobs)", 1001)), Sink::Suppressed);
/// ```
#[derive(Debug)]
pub struct RateLimitedWarning {
    target: &'static str,
    every: Duration,
    pace: Mutex<Pace>,
}

impl RateLimitedWarning {
    /// A site whose log records carry `target` (`module_path!()` keeps the
    /// target `log::warn!` would give) and whose stderr lines are
    /// at least `every_secs` seconds apart.
    ///
    /// # Examples
    ///
    /// See [`RateLimitedWarning`].
    pub const fn new(target: &'static str, every_secs: u64) -> RateLimitedWarning {
        RateLimitedWarning {
            target,
            every: Duration::from_secs(every_secs),
            pace: Mutex::new(Pace {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Sends one warning: to the logger if one is installed, else to
    /// stderr unless a line went there less than the interval ago.
    ///
    /// # Examples
    ///
    /// See [`RateLimitedWarning`].
    pub fn emit(&self, message: fmt::Arguments<'_>) -> Sink {
        if logger_installed() {
            log::logger().log(
                &log::Record::builder()
                    .level(log::Level::Warn)
                    .target(self.target)
                    .module_path_static(Some(self.target))
                    .args(message)
                    .build(),
            );
            return Sink::Log;
        }
        let Some(suppressed) = self.take_turn(Instant::now()) else {
            return Sink::Suppressed;
        };
        let line = if suppressed == 0 {
            format!("warning: {message}\n")
        } else {
            format!("warning: {message} ({suppressed} more such warnings were not shown)\n")
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        Sink::Stderr
    }

    /// Whether a line may be written at `now`: `Some(count held back
    /// since the last one)`, or `None` (and one more held back).
    fn take_turn(&self, now: Instant) -> Option<u64> {
        let mut pace = self.pace.lock().unwrap_or_else(|e| e.into_inner());
        if pace
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            pace.suppressed += 1;
            return None;
        }
        pace.last = Some(now);
        Some(std::mem::take(&mut pace.suppressed))
    }
}

/// Reports an error that happens once per event a user must see (a
/// deadlock): to the logger at [`log::Level::Error`] when one is installed,
/// else one line on stderr, `error: <target>: <message>`. Not rate-limited:
/// its callers report each event once.
///
/// # Examples
///
/// ```
/// use fibrio_core::diagnostics::{self, Sink};
///
/// // No logger in a doctest: the error goes to stderr.
/// assert_eq!(diagnostics::error("my_app", format_args!("stuck")), Sink::Stderr);
/// ```
pub fn error(target: &'static str, message: fmt::Arguments<'_>) -> Sink {
    if logger_installed() {
        log::logger().log(
            &log::Record::builder()
                .level(log::Level::Error)
                .target(target)
                .module_path_static(Some(target))
                .args(message)
                .build(),
        );
        return Sink::Log;
    }
    let line = format!("error: {target}: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    Sink::Stderr
}

/// True when a `log` logger takes records: [`log::max_level`] is above
/// `Off` (see the module docs for why that is the test).
///
/// # Examples
///
/// ```
/// // Nothing set up logging in this doctest.
/// assert!(!fibrio_core::diagnostics::logger_installed());
/// ```
pub fn logger_installed() -> bool {
    log::max_level() != log::LevelFilter::Off
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn stderr_lines_are_paced_and_count_what_was_held_back() {
        let site = RateLimitedWarning::new("test", 1);
        let start = Instant::now();
        assert_eq!(site.take_turn(start), Some(0));
        for ms in [1, 10, 500, 999] {
            assert_eq!(site.take_turn(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(site.take_turn(start + Duration::from_secs(1)), Some(4));
        assert_eq!(site.take_turn(start + Duration::from_millis(1500)), None);
        assert_eq!(site.take_turn(start + Duration::from_secs(3)), Some(1));
    }

    /// Runs this test binary's test `name` alone in a child process with
    /// `FIBRIO_DIAGNOSTICS_CHILD` set; its stdout and stderr.
    fn child(name: &str) -> (String, String) {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("FIBRIO_DIAGNOSTICS_CHILD", "1")
            .output()
            .expect("run the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        (stdout, stderr)
    }

    fn in_child() -> bool {
        std::env::var_os("FIBRIO_DIAGNOSTICS_CHILD").is_some()
    }

    const CHILD_NO_LOGGER: &str =
        "diagnostics::tests::without_a_logger_a_storm_gives_one_stderr_line";

    #[test]
    fn without_a_logger_a_storm_gives_one_stderr_line() {
        if in_child() {
            static SITE: RateLimitedWarning = RateLimitedWarning::new("storm", 3600);
            let sinks: Vec<Sink> = (0..1000)
                .map(|i| SITE.emit(format_args!("storm warning {i}")))
                .collect();
            assert_eq!(sinks[0], Sink::Stderr);
            assert!(sinks[1..].iter().all(|&s| s == Sink::Suppressed));
            return;
        }
        let (_, stderr) = child(CHILD_NO_LOGGER);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("storm")).collect();
        assert_eq!(lines, ["warning: storm warning 0"], "{stderr}");
    }

    /// A logger that writes what it gets to stdout, marked.
    struct ToStdout;

    impl log::Log for ToStdout {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            println!(
                "LOGGED {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
        fn flush(&self) {}
    }

    const CHILD_LOGGER: &str =
        "diagnostics::tests::with_a_logger_the_watchdog_warning_goes_to_it_not_to_stderr";

    #[test]
    fn with_a_logger_the_watchdog_warning_goes_to_it_not_to_stderr() {
        if in_child() {
            use crate::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
            log::set_logger(&ToStdout).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            assert!(logger_installed());
            let config = SchedulerConfig {
                watchdog: Some(Duration::from_millis(20)),
                ..SchedulerConfig::default()
            };
            Scheduler::new(config, Box::new(NotifyDriver::new()))
                .block_on(|| {
                    crate::task::Builder::new()
                        .name("blocker")
                        .spawn(|| std::thread::sleep(Duration::from_millis(300)))
                        .unwrap()
                        .join()
                        .unwrap();
                })
                .unwrap();
            return;
        }
        let (stdout, stderr) = child(CHILD_LOGGER);
        assert!(
            stdout.contains("LOGGED WARN") && stdout.contains("'blocker'"),
            "the logger got no watchdog warning:\n{stdout}"
        );
        assert!(
            !stderr.contains("without parking"),
            "the warning also went to stderr:\n{stderr}"
        );
    }
}
