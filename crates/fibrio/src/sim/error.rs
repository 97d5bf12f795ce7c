//! [`SimError`]: why a simulation failed, with its seed and the replay hint.

use std::time::Duration;

use fibrio_core::scheduler::{DeadlockReport, DetFailure, WaitKind};

/// Why a simulation failed. Every message ends with the seed and the hint
/// that replays it: `seed N; replay with FIBRIO_SIM_SEED=N`.
///
/// [`run`](super::run) and [`check`](super::check) panic with this
/// message; [`try_run`](super::try_run) returns it, for code that wants to
/// look at the cause.
///
/// # Examples
///
/// ```
/// use fibrio::sim::{self, SimError};
///
/// let err = sim::try_run(7, || -> () { panic!("assertion failed") }).unwrap_err();
/// assert!(matches!(&err, SimError::Panic { task: 1, message, .. } if message == "assertion failed"));
/// let text = err.to_string();
/// assert!(text.contains("task 1 \"main\" panicked: assertion failed"));
/// assert!(text.ends_with("seed 7; replay with FIBRIO_SIM_SEED=7"));
/// assert_eq!(err.seed(), 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A task panicked: the main task, or a task whose outcome nobody took
    /// (a detached task's failed assertion fails the simulation).
    #[error(
        "fibrio::sim: {}: {message}\n{}",
        describe_panic(*task, name.as_deref(), host.as_deref()),
        replay_hint(*seed)
    )]
    #[non_exhaustive]
    Panic {
        /// The simulation's seed.
        seed: u64,
        /// The host the task ran on, in a [`Sim`](super::Sim); `None` in a
        /// plain [`run`](super::run) or [`check`](super::check).
        host: Option<String>,
        /// The task's id in this simulation (1 is the main task; ids are
        /// given in spawn order, so they are the same in a replay).
        task: u64,
        /// The task's name, if it has one (the main task's is `"main"`).
        name: Option<String>,
        /// The panic's message.
        message: String,
    },
    /// Every task was parked, no timer was pending and nothing could wake
    /// any of them. The report lists every task and what it waits for.
    #[error("fibrio::sim: {report}\n{}", replay_hint(*seed))]
    #[non_exhaustive]
    Deadlock {
        /// The simulation's seed.
        seed: u64,
        /// Every task alive at the deadlock.
        report: DeadlockReport,
    },
    /// The simulation hit its limit of virtual time (24 hours) or of steps
    /// (50,000,000 task runs): usually a task that loops on `yield_now`
    /// without ever sleeping or waiting, which keeps virtual time from
    /// moving.
    #[error(
        "fibrio::sim: the simulation hit its limit after {virtual_elapsed:?} of virtual time \
         and {steps} steps (the limits are 24 hours of virtual time and 50,000,000 steps): \
         either the program waits past 24 hours (a wake-up that never comes, under a long \
         timeout?), or a task loops without ever sleeping or waiting, which keeps virtual time \
         from moving (a busy loop around yield_now or try_recv?)\n{}",
        replay_hint(*seed)
    )]
    #[non_exhaustive]
    TimeLimit {
        /// The simulation's seed.
        seed: u64,
        /// Virtual time when the limit was hit.
        virtual_elapsed: Duration,
        /// Task runs when the limit was hit.
        steps: u64,
    },
    /// The simulation's runtime could not run the main task to its end:
    /// main was cancelled, or its stack could not be mapped.
    #[error("fibrio::sim: the simulation's runtime failed: {message}\n{}", replay_hint(*seed))]
    #[non_exhaustive]
    Runtime {
        /// The simulation's seed.
        seed: u64,
        /// What went wrong.
        message: String,
    },
}

impl SimError {
    /// The seed of the failed simulation: `fibrio::sim::run(seed, ..)` or
    /// `FIBRIO_SIM_SEED=<seed>` replays it.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = fibrio::sim::try_run(3, || fibrio::task::park()).unwrap_err();
    /// assert_eq!(err.seed(), 3); // a deadlock: nothing wakes main
    /// ```
    pub fn seed(&self) -> u64 {
        match self {
            SimError::Panic { seed, .. }
            | SimError::Deadlock { seed, .. }
            | SimError::TimeLimit { seed, .. }
            | SimError::Runtime { seed, .. } => *seed,
        }
    }

    /// The failure of a deterministic run of `seed`, as a `SimError`.
    pub(crate) fn from_failure(seed: u64, failure: DetFailure) -> SimError {
        match failure {
            DetFailure::MainPanicked(payload) => SimError::Panic {
                seed,
                host: None,
                task: 1,
                name: Some("main".to_owned()),
                message: fibrio_core::fiber::payload_message(&payload).to_owned(),
            },
            DetFailure::UnjoinedPanic {
                task,
                name,
                group,
                message,
                ..
            } => SimError::Panic {
                seed,
                host: group.map(|group| group.to_string()),
                task,
                name: name.map(|name| name.to_string()),
                message,
            },
            DetFailure::Deadlock(mut report) => {
                // A Sim's own supervisor and keepers wait for the hosts;
                // they are not part of the program under test.
                report.tasks.retain(|task| {
                    task.wait
                        .is_none_or(|wait| wait.kind != WaitKind::SimKeeper)
                });
                SimError::Deadlock { seed, report }
            }
            DetFailure::TimeLimit { elapsed, steps, .. } => SimError::TimeLimit {
                seed,
                virtual_elapsed: elapsed,
                steps,
            },
            other => SimError::Runtime {
                seed,
                message: other.to_string(),
            },
        }
    }

    /// A short name of the failure's kind, compared between a run and its
    /// re-run (messages are not: they may hold addresses).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SimError::Panic { .. } => "panic",
            SimError::Deadlock { .. } => "deadlock",
            SimError::TimeLimit { .. } => "time limit",
            SimError::Runtime { .. } => "runtime failure",
        }
    }
}

/// `task 1 "main" panicked`, `task 3 "main" on server panicked` (a
/// host's main), or `task 4 panicked and nobody joined it` for any other
/// task.
fn describe_panic(task: u64, name: Option<&str>, host: Option<&str>) -> String {
    let mut text = format!("task {task}");
    if let Some(name) = name {
        text.push_str(&format!(" {name:?}"));
    }
    if let Some(host) = host {
        text.push_str(&format!(" on {host}"));
    }
    let main = match host {
        Some(_) => name == Some("main"),
        None => task == 1,
    };
    text.push_str(if main {
        " panicked"
    } else {
        " panicked and nobody joined it"
    });
    text
}

/// The last line of every simulation failure.
pub(crate) fn replay_hint(seed: u64) -> String {
    format!("seed {seed}; replay with FIBRIO_SIM_SEED={seed}")
}
