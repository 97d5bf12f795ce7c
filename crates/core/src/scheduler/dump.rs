//! Task dumps: [`TaskDump`] (every live task of a runtime: its state, its
//! parent, where it was spawned, what it waits for and, optionally, its
//! stack), [`DumpOptions`] and [`DumpError`].
//!
//! # Invariants
//!
//! * A dump is taken on the runtime's thread, between task runs or by the
//!   running task itself ([`dump`](super::dump)), from the same records the
//!   deterministic deadlock report reads: the [`WaitReason`] every park
//!   point records, read only while the task is parked.
//! * Taking a dump changes no task: without stacks it only reads records;
//!   with stacks it resumes each suspended task into a capture mode that
//!   records a `std::backtrace::Backtrace` and suspends again at once,
//!   running no user code and touching neither its state, its wake-up
//!   flags nor its cancellation (`record.rs`).
//! * Backtraces are captured unresolved (a stack walk: tens of
//!   microseconds per task); frames are symbolised only when the dump is
//!   printed (milliseconds per task, the first time debug info is read).
//!   A dump without stacks costs a walk of the task table.

use std::backtrace::Backtrace;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::state::{TaskState, WaitKind, WaitReason};

/// Where a task was spawned: the caller of `spawn` (through
/// `#[track_caller]`).
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::SpawnLocation;
///
/// let here = SpawnLocation::from(std::panic::Location::caller());
/// assert!(here.to_string().contains(".rs:"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SpawnLocation {
    /// The source file.
    pub file: &'static str,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl From<&'static Location<'static>> for SpawnLocation {
    fn from(location: &'static Location<'static>) -> SpawnLocation {
        SpawnLocation {
            file: location.file(),
            line: location.line(),
            column: location.column(),
        }
    }
}

impl fmt::Display for SpawnLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What a task in a [`TaskDump`] is doing.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::TaskStatus;
///
/// assert_eq!(TaskStatus::Runnable.to_string(), "runnable");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskStatus {
    /// Spawned, never run yet.
    Pending,
    /// The task that took the dump.
    Running,
    /// In the run queue (woken, or yielded).
    Runnable,
    /// Parked, waiting for [`TaskInfo::wait`].
    Parked,
    /// Suspended otherwise (a wake-up is being delivered).
    Suspended,
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Runnable => "runnable",
            TaskStatus::Parked => "parked",
            TaskStatus::Suspended => "suspended",
        })
    }
}

/// One task of a [`TaskDump`].
///
/// # Examples
///
/// See [`TaskDump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: u64,
    /// Its name, if it has one.
    pub name: Option<Arc<str>>,
    /// Its life-cycle state (`Running` from its first run on, parked time
    /// included).
    pub state: TaskState,
    /// What it is doing now.
    pub status: TaskStatus,
    /// The id of the task that spawned it; `None` for main and for tasks
    /// spawned from another thread.
    pub parent: Option<u64>,
    /// Where it was spawned, when known.
    pub spawned_at: Option<SpawnLocation>,
    /// How long it has been parked (`Some` exactly when `status` is
    /// `Parked`); precise to one scheduler turn.
    pub parked_for: Option<Duration>,
    /// What it waits for (`Some` exactly when `status` is `Parked`).
    pub wait: Option<WaitReason>,
    /// True if its cancellation was requested and has not reached it yet.
    pub cancel_requested: bool,
    /// Its stack at its park point, when the dump was taken with stacks
    /// and the task has a stack (it has run and not ended). Unresolved
    /// until printed.
    ///
    /// Capturing runs the unwinder on the task's own stack, below its park
    /// point: it needs a few KiB of that stack free. A task parked within
    /// a few KiB of its guard page (a small `stack_size` and deep frames)
    /// would overflow it, which aborts the process with fibrio's overflow
    /// report.
    pub backtrace: Option<Arc<Backtrace>>,
}

/// Every live task of a runtime, from [`dump`](super::dump), [`Handle::dump`] or
/// [`Handle::dump_with`], in the order of the runtime's task table.
/// `Display` prints a Go-style text dump; with the `serde` feature it
/// serialises (`backtrace` as its printed text).
///
/// [`Handle::dump`]: super::Handle::dump
/// [`Handle::dump_with`]: super::Handle::dump_with
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::scheduler::{dump, TaskStatus};
/// use fibrio_core::task::{self, WaitKind};
///
/// let child = task::Builder::new().name("sleeper").spawn(task::park).unwrap();
/// task::yield_now(); // lets it run and park
/// let dump = dump();
/// let info = dump.tasks.iter().find(|t| t.id == child.id()).unwrap();
/// assert_eq!(info.status, TaskStatus::Parked);
/// assert_eq!(info.wait.unwrap().kind, WaitKind::Park);
/// assert!(info.spawned_at.unwrap().file.ends_with(".rs"));
/// assert!(dump.to_string().contains("\"sleeper\" [parked"));
/// child.cancel();
/// # });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskDump {
    /// The runtime's id (process-unique).
    pub runtime: u64,
    /// The driver's name (`"epoll"`, `"poll"`, `"notify"`, ...).
    pub driver: &'static str,
    /// Every live task.
    pub tasks: Vec<TaskInfo>,
}

impl TaskDump {
    /// The tasks parked waiting for `kind`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::WaitKind;
    ///
    /// assert_eq!(fibrio_core::scheduler::dump().waiting_for(WaitKind::Sleep).count(), 0);
    /// # });
    /// ```
    pub fn waiting_for(&self, kind: WaitKind) -> impl Iterator<Item = &TaskInfo> + '_ {
        self.tasks
            .iter()
            .filter(move |task| task.wait.is_some_and(|wait| wait.kind == kind))
    }

    /// The task with id `id`, if it is in the dump.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let me = fibrio_core::task::current_id().unwrap();
    /// assert_eq!(fibrio_core::scheduler::dump().task(me).unwrap().name.as_deref(), Some("main"));
    /// # });
    /// ```
    pub fn task(&self, id: u64) -> Option<&TaskInfo> {
        self.tasks.iter().find(|task| task.id == id)
    }
}

/// Numbers primitives per kind in order of first appearance (`mutex#1`),
/// as the deterministic deadlock report does, so the text does not depend
/// on where the allocator put them.
#[derive(Default)]
pub(crate) struct PrimitiveNames {
    seen: Vec<(&'static str, u64)>,
}

impl PrimitiveNames {
    pub(crate) fn name(&mut self, reason: WaitReason) -> Option<String> {
        if !reason.kind.object_is_primitive() {
            return None;
        }
        let label = reason.kind.object_label();
        let same = |seen: &Vec<(&'static str, u64)>| {
            seen.iter()
                .filter(|(l, _)| *l == label)
                .position(|&(_, o)| o == reason.object)
        };
        let number = match same(&self.seen) {
            Some(i) => i + 1,
            None => {
                self.seen.push((label, reason.object));
                self.seen.iter().filter(|(l, _)| *l == label).count()
            }
        };
        Some(format!("{label}#{number}"))
    }
}

impl fmt::Display for TaskDump {
    /// Go-style: a header line, then one block per task:
    ///
    /// ```text
    /// task 7 "worker" [parked 1.5s: a Mutex held by task 9 (mutex#1)]:
    ///     spawned by task 1 at src/main.rs:12:5
    ///     <the backtrace, when taken>
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fibrio task dump: {} task{} on runtime {} ({})",
            self.tasks.len(),
            if self.tasks.len() == 1 { "" } else { "s" },
            self.runtime,
            self.driver
        )?;
        let mut names = PrimitiveNames::default();
        for task in &self.tasks {
            write!(f, "\ntask {}", task.id)?;
            if let Some(name) = &task.name {
                write!(f, " {name:?}")?;
            }
            write!(f, " [{}", task.status)?;
            if let Some(parked) = task.parked_for {
                write!(f, " {parked:.1?}")?;
            }
            if let Some(wait) = task.wait {
                write!(f, ": {wait}")?;
                if let Some(name) = names.name(wait) {
                    write!(f, " ({name})")?;
                }
            }
            if task.cancel_requested {
                write!(f, ", cancellation requested")?;
            }
            writeln!(f, "]:")?;
            match (task.parent, task.spawned_at) {
                (Some(parent), Some(at)) => writeln!(f, "    spawned by task {parent} at {at}")?,
                (None, Some(at)) => writeln!(f, "    spawned at {at}")?,
                (Some(parent), None) => writeln!(f, "    spawned by task {parent}")?,
                (None, None) => {}
            }
            if let Some(backtrace) = &task.backtrace {
                for line in backtrace.to_string().lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    use super::{SpawnLocation, TaskDump, TaskInfo};

    impl Serialize for SpawnLocation {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut s = serializer.serialize_struct("SpawnLocation", 3)?;
            s.serialize_field("file", self.file)?;
            s.serialize_field("line", &self.line)?;
            s.serialize_field("column", &self.column)?;
            s.end()
        }
    }

    struct Wait<'a>(&'a super::WaitReason, Option<String>);

    impl Serialize for Wait<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut s = serializer.serialize_struct("Wait", 5)?;
            s.serialize_field("kind", &self.0.kind.to_string())?;
            s.serialize_field("object", &self.0.object)?;
            s.serialize_field("holder", &(self.0.holder != 0).then_some(self.0.holder))?;
            s.serialize_field("primitive", &self.1)?;
            s.serialize_field("text", &self.0.to_string())?;
            s.end()
        }
    }

    struct Task<'a>(&'a TaskInfo, Option<String>);

    impl Serialize for Task<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let task = self.0;
            let mut s = serializer.serialize_struct("TaskInfo", 10)?;
            s.serialize_field("id", &task.id)?;
            s.serialize_field("name", &task.name.as_deref())?;
            s.serialize_field("state", &task.state.to_string())?;
            s.serialize_field("status", &task.status.to_string())?;
            s.serialize_field("parent", &task.parent)?;
            s.serialize_field("spawned_at", &task.spawned_at)?;
            s.serialize_field("parked_for_secs", &task.parked_for.map(|d| d.as_secs_f64()))?;
            s.serialize_field("wait", &task.wait.as_ref().map(|w| Wait(w, self.1.clone())))?;
            s.serialize_field("cancel_requested", &task.cancel_requested)?;
            s.serialize_field("backtrace", &task.backtrace.as_ref().map(|b| b.to_string()))?;
            s.end()
        }
    }

    impl Serialize for TaskDump {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut names = super::PrimitiveNames::default();
            let tasks: Vec<Task<'_>> = self
                .tasks
                .iter()
                .map(|task| Task(task, task.wait.and_then(|w| names.name(w))))
                .collect();
            let mut s = serializer.serialize_struct("TaskDump", 3)?;
            s.serialize_field("runtime", &self.runtime)?;
            s.serialize_field("driver", self.driver)?;
            s.serialize_field("tasks", &tasks)?;
            s.end()
        }
    }
}

/// How to take a dump through [`Handle::dump_with`](super::Handle::dump_with).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::scheduler::DumpOptions;
///
/// let options = DumpOptions::new().stacks(true).deadline(Duration::from_secs(2));
/// assert!(options.with_stacks());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpOptions {
    stacks: bool,
    deadline: Duration,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            stacks: false,
            deadline: Duration::from_secs(1),
        }
    }
}

impl DumpOptions {
    /// No stacks, a deadline of one second.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!fibrio_core::scheduler::DumpOptions::new().with_stacks());
    /// ```
    pub fn new() -> DumpOptions {
        DumpOptions::default()
    }

    /// Whether to capture each task's backtrace (see [`TaskInfo::backtrace`]).
    ///
    /// # Examples
    ///
    /// See [`DumpOptions`].
    pub fn stacks(mut self, stacks: bool) -> DumpOptions {
        self.stacks = stacks;
        self
    }

    /// How long a caller on another thread waits for the runtime to answer.
    ///
    /// # Examples
    ///
    /// See [`DumpOptions`].
    pub fn deadline(mut self, deadline: Duration) -> DumpOptions {
        self.deadline = deadline;
        self
    }

    /// Whether stacks are captured.
    ///
    /// # Examples
    ///
    /// See [`DumpOptions`].
    pub fn with_stacks(&self) -> bool {
        self.stacks
    }

    /// The deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(fibrio_core::scheduler::DumpOptions::new().wait_limit(), Duration::from_secs(1));
    /// ```
    pub fn wait_limit(&self) -> Duration {
        self.deadline
    }
}

/// Why a runtime could not be asked for a dump, metrics or its health
/// from another thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::scheduler::DumpError;
///
/// let err = DumpError::Unresponsive { task: Some(7), running_for: Duration::from_secs(2), waited: Duration::from_secs(1) };
/// assert!(err.to_string().contains("task 7 has been running for"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The runtime did not answer within the deadline. `task` is the task
    /// it was running all that time (it blocks the thread: a blocking
    /// call inside a task), `None` if its own loop was busy (a slow
    /// observer or `Drop`, say).
    #[error("{}", unresponsive(*.task, *.running_for, *.waited))]
    Unresponsive {
        /// The id of the task running on the runtime's thread.
        task: Option<u64>,
        /// How long that task has been running without switching out (at
        /// least), precise to one scheduler turn.
        running_for: Duration,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The runtime has ended.
    #[error("the runtime has ended")]
    Gone,
}

fn unresponsive(task: Option<u64>, running_for: Duration, waited: Duration) -> String {
    match task {
        Some(task) => format!(
            "the runtime did not answer within {waited:?}: task {task} has been running for \
             {running_for:?} without parking (a blocking call inside a task?)"
        ),
        None => format!("the runtime did not answer within {waited:?}: its own loop is busy"),
    }
}
