//! [`check`], [`check_with`] and their [`Config`]: a test under many
//! seeds, the first failure re-run once and reported with its seed.
//!
//! # Invariants
//!
//! * The seeds of a check are `first_seed, first_seed + 1, ...` (wrapping),
//!   one per case, or only `FIBRIO_SIM_SEED` when that is set; a seed's run
//!   does not depend on its position, so `run(seed, ..)` replays any case.
//! * The number of cases is, in order of precedence: `FIBRIO_SIM_SEED` set
//!   (one), [`Config::cases`], `FIBRIO_SIM_CASES`, 256.
//! * The first failing seed is run a second time before the report, and
//!   the report says whether the second run failed the same way (same
//!   kind, trace hash and step count) or diverged.

use std::fmt::Write as _;

use fibrio_core::scheduler::DetStats;

use super::case;
use super::error::SimError;

/// The default number of cases of [`check`].
const DEFAULT_CASES: u32 = 256;
/// Runs only this seed.
const SEED_VAR: &str = "FIBRIO_SIM_SEED";
/// The number of cases when [`Config::cases`] is not called.
const CASES_VAR: &str = "FIBRIO_SIM_CASES";

/// How many seeds [`check_with`] tries, and from which.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// thread_local! { static RUNS: Cell<u32> = const { Cell::new(0) }; }
/// let config = fibrio::sim::Config::new().cases(10).first_seed(1_000);
/// fibrio::sim::check_with(config, || RUNS.with(|r| r.set(r.get() + 1)));
/// # if std::env::var_os("FIBRIO_SIM_SEED").is_none() {
/// assert_eq!(RUNS.with(Cell::get), 10); // seeds 1000..=1009
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    cases: Option<u32>,
    first_seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// The defaults: 256 cases (or the number in the `FIBRIO_SIM_CASES`
    /// environment variable, read when the check runs), seeds from 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = fibrio::sim::Config::new();
    /// assert_eq!(config, fibrio::sim::Config::default());
    /// ```
    pub fn new() -> Config {
        Config {
            cases: None,
            first_seed: 0,
        }
    }

    /// Runs `cases` seeds; this wins over `FIBRIO_SIM_CASES` (but
    /// `FIBRIO_SIM_SEED` still runs only its seed).
    ///
    /// # Panics
    ///
    /// If `cases` is 0: a check that runs nothing would always pass.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = fibrio::sim::Config::new().cases(1_000);
    /// fibrio::sim::check_with(config, || fibrio::yield_now());
    /// ```
    #[track_caller]
    pub fn cases(mut self, cases: u32) -> Config {
        assert!(
            cases > 0,
            "fibrio::sim::Config::cases(0): a check needs at least one case"
        );
        self.cases = Some(cases);
        self
    }

    /// The first seed (default 0): case `i` runs seed `first_seed + i`.
    /// The default keeps CI reproducible; change it to explore other
    /// schedules.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = fibrio::sim::Config::new().cases(4).first_seed(1 << 32);
    /// fibrio::sim::check_with(config, || assert!(fibrio::sim::elapsed().is_zero()));
    /// ```
    pub fn first_seed(mut self, seed: u64) -> Config {
        self.first_seed = seed;
        self
    }
}

/// [`check_with`] with [`Config::new`]: runs `test` under 256 seeds (or
/// `FIBRIO_SIM_CASES`), or only under `FIBRIO_SIM_SEED` when it is set.
///
/// # Panics
///
/// On the first seed whose run fails (see [`run`](super::run) for what
/// fails a run), after running that seed once more to confirm the failure
/// is deterministic. The message contains `seed <N>`,
/// `FIBRIO_SIM_SEED=<N>`, the failure's own message (the original panic
/// message, or the deadlock report), and whether the re-run failed the
/// same way. Also panics if `FIBRIO_SIM_SEED` or `FIBRIO_SIM_CASES` is
/// not a number, or when called inside a simulation or a running
/// `fibrio::run`.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // Holds under every schedule: both increments happen with no
/// // scheduling point between the read and the write.
/// fibrio::sim::check(|| {
///     let x = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let x = x.clone();
///             fibrio::spawn(move || x.set(x.get() + 1))
///         })
///         .collect();
///     tasks.into_iter().for_each(|t| t.join().unwrap());
///     assert_eq!(x.get(), 3);
/// });
/// ```
///
/// A race the schedule can expose fails with the seed:
///
/// ```should_panic
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// fibrio::sim::check(|| {
///     let x = Rc::new(Cell::new(0));
///     let other = fibrio::spawn({
///         let x = x.clone();
///         move || x.set(x.get() + 1)
///     });
///     let v = x.get();
///     fibrio::yield_now(); // the other task may write here
///     x.set(v + 1);
///     other.join().unwrap();
///     assert_eq!(x.get(), 2, "lost update"); // panics: "... seed N ... FIBRIO_SIM_SEED=N"
/// });
/// ```
#[track_caller]
pub fn check(test: impl Fn()) {
    check_with(Config::new(), test)
}

/// Runs `test` once per seed of `config`, each time as the main task of
/// a fresh simulation ([`run`](super::run)), until one fails or all pass.
/// `FIBRIO_SIM_SEED=<N>` runs only seed `N`: the replay of a reported
/// failure.
///
/// # Panics
///
/// As [`check`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let config = fibrio::sim::Config::new().cases(32);
/// fibrio::sim::check_with(config, || {
///     // A timeout fires at its exact virtual instant under every schedule.
///     let (tx, rx) = fibrio::channel::bounded::<u8>(1);
///     let started = fibrio::time::Instant::now();
///     assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());
///     assert_eq!(started.elapsed(), Duration::from_secs(5));
///     drop(tx);
/// });
/// ```
#[track_caller]
pub fn check_with(config: Config, test: impl Fn()) {
    case::refuse_nested("fibrio::sim::check");
    let plan = Plan::new(&config);
    for index in 0..plan.cases {
        let seed = plan.seed(index);
        let (result, stats) = case::run_case(seed, &test);
        if let Err(err) = result {
            let rerun = case::run_case(seed, &test);
            panic!("{}", report(&plan, index, &err, stats, rerun));
        }
    }
}

/// The seeds a check runs.
struct Plan {
    first_seed: u64,
    cases: u32,
    /// `FIBRIO_SIM_SEED` chose the (only) seed.
    from_env: bool,
}

impl Plan {
    fn new(config: &Config) -> Plan {
        if let Some(seed) = env_number::<u64>(SEED_VAR, "the seed a failure printed") {
            return Plan {
                first_seed: seed,
                cases: 1,
                from_env: true,
            };
        }
        let cases = config.cases.unwrap_or_else(|| {
            match env_number::<u32>(CASES_VAR, "a number of cases") {
                Some(0) => panic!(
                    "{CASES_VAR}=0: a check needs at least one case; unset it for the default \
                     of {DEFAULT_CASES}"
                ),
                Some(cases) => cases,
                None => DEFAULT_CASES,
            }
        });
        Plan {
            first_seed: config.first_seed,
            cases,
            from_env: false,
        }
    }

    fn seed(&self, index: u32) -> u64 {
        self.first_seed.wrapping_add(u64::from(index))
    }
}

/// The environment variable `name` as a number; `None` if it is unset or
/// empty.
fn env_number<N: std::str::FromStr>(name: &str, what: &str) -> Option<N> {
    let value = std::env::var_os(name)?;
    let text = value.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(number) => Some(number),
        Err(_) => panic!(
            "{name}={text:?} is not a number: set it to {what} (for example {name}=17), \
             or unset it"
        ),
    }
}

/// The panic message of a failed check.
fn report(
    plan: &Plan,
    index: u32,
    err: &SimError,
    stats: DetStats,
    (rerun, rerun_stats): (Result<(), SimError>, DetStats),
) -> String {
    let seed = plan.seed(index);
    let mut text = String::new();
    if plan.from_env {
        let _ = writeln!(
            text,
            "fibrio::sim::check: seed {seed} (from {SEED_VAR}) failed"
        );
    } else {
        let _ = writeln!(
            text,
            "fibrio::sim::check: case {} of {} failed: seed {seed} ({index} passed before it)",
            index + 1,
            plan.cases
        );
    }
    for line in err.to_string().lines() {
        let _ = writeln!(text, "  {line}");
    }
    let first = describe_run(err.kind(), stats);
    match &rerun {
        Err(again) if again.kind() == err.kind() && rerun_stats == stats => {
            let _ = writeln!(
                text,
                "the re-run of seed {seed} failed the same way ({first}): the failure is \
                 deterministic."
            );
        }
        Err(again) => {
            let second = describe_run(again.kind(), rerun_stats);
            let _ = writeln!(
                text,
                "the re-run of seed {seed} diverged ({second}, against {first} the first \
                 time): {UNCONTROLLED}"
            );
        }
        Ok(()) => {
            let second = describe_run("success", rerun_stats);
            let _ = writeln!(
                text,
                "the re-run of seed {seed} passed ({second}, against {first} the first time): \
                 {UNCONTROLLED}"
            );
        }
    }
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map_or_else(|| "<test name>".to_owned(), str::to_owned);
    let _ = write!(
        text,
        "replay: {SEED_VAR}={seed} cargo test {test}, or fibrio::sim::run({seed}, ..)"
    );
    text
}

/// Said when a seed's re-run differs from its first run.
const UNCONTROLLED: &str = "the same seed did not give the same run, so the test depends on \
    something outside the simulation's control (std::time::Instant, HashMap iteration order, \
    other threads, real files or sockets, or state a previous case left in a static or \
    thread-local); see docs/testing.md";

/// `a panic, trace 0x..., 41 steps`.
fn describe_run(kind: &str, stats: DetStats) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!(
        "{article} {kind}, trace {:#018x}, {} steps",
        stats.trace_hash, stats.steps
    )
}

/// The seed in `FIBRIO_SIM_SEED`, if it is set.
///
/// # Panics
///
/// If it is set to something that is not a number.
pub(crate) fn seed_from_env() -> Option<u64> {
    env_number::<u64>(SEED_VAR, "the seed a failure printed")
}
