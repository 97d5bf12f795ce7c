//! [`Observer`]: a hook that receives every task event of a scheduler.
//!
//! # Invariants
//!
//! * Events are delivered on the scheduler's thread, synchronously, in the
//!   order they happen: `Created` at spawn, `Started` at a task's first
//!   run, `Parked` when it suspends waiting, `Woken` when a wake-up queues
//!   a parked task, and one of `Completed`, `Failed` or `Cancelled` when it
//!   ends. A task never started (cancelled first) gets no `Started`.
//! * With no observer configured, the task switch and `park` test nothing
//!   for it: `Started` and `Parked` are sent from the scheduler loop's
//!   slow switch path (`Parked` once the task is back on the loop, before
//!   anything else runs, so the order is the same), which a switch takes
//!   only when one flag says an observer, a watchdog or a wake-to-run
//!   sample needs it. `Woken` shares the wake-to-run sample's countdown
//!   (one decrement and sign test per wake-up); `Created` and the end
//!   events cost one branch per spawn and per end.
//! * The observer is called while the scheduler holds borrows of its own
//!   state: it must not call back into the runtime (spawn, park, wake,
//!   dump). It should be quick: it runs inline on every switch.

use super::state::WaitReason;

/// What happened to a task; see [`TaskEvent`].
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::TaskEventKind;
///
/// assert_eq!(TaskEventKind::Parked.to_string(), "parked");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskEventKind {
    /// Spawned (queued, not yet run).
    Created,
    /// Run for the first time.
    Started,
    /// Suspended, waiting for [`TaskEvent::wait`].
    Parked,
    /// Queued again by a wake-up (an unpark, a timer, I/O, a cancellation).
    Woken,
    /// Ended with a value.
    Completed,
    /// Ended with a panic.
    Failed,
    /// Ended by cancellation (or cancelled before it ran).
    Cancelled,
}

impl std::fmt::Display for TaskEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TaskEventKind::Created => "created",
            TaskEventKind::Started => "started",
            TaskEventKind::Parked => "parked",
            TaskEventKind::Woken => "woken",
            TaskEventKind::Completed => "completed",
            TaskEventKind::Failed => "failed",
            TaskEventKind::Cancelled => "cancelled",
        })
    }
}

/// One task event, as an [`Observer`] receives it.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{TaskEvent, TaskEventKind};
///
/// let event = TaskEvent::new(TaskEventKind::Started, 7);
/// assert_eq!((event.kind, event.task, event.parent), (TaskEventKind::Started, 7, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskEvent<'a> {
    /// What happened.
    pub kind: TaskEventKind,
    /// The task's id.
    pub task: u64,
    /// `Created` only: the spawner's id (0: none, e.g. main or a spawn
    /// from another thread).
    pub parent: u64,
    /// `Created` only: the task's name, if it has one.
    pub name: Option<&'a str>,
    /// `Parked` only: what the task waits for.
    pub wait: Option<WaitReason>,
}

impl TaskEvent<'_> {
    /// An event of `kind` for task `task`, with no other detail.
    ///
    /// # Examples
    ///
    /// See [`TaskEvent`].
    pub const fn new(kind: TaskEventKind, task: u64) -> TaskEvent<'static> {
        TaskEvent {
            kind,
            task,
            parent: 0,
            name: None,
            wait: None,
        }
    }
}

/// Receives the task events of a scheduler (see the module invariants for
/// when each is sent). Set it with [`SchedulerConfig::observer`]
/// (`fibrio::Builder::observer` in the facade).
///
/// It must not call back into the runtime (spawn, park, wake, dump) and
/// should return quickly: it runs inline, on the scheduler's thread, on
/// every task switch.
///
/// [`SchedulerConfig::observer`]: super::SchedulerConfig::observer
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use fibrio_core::scheduler::{NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskEvent, TaskEventKind};
///
/// #[derive(Default)]
/// struct Count(Mutex<usize>);
/// impl Observer for Count {
///     fn on_event(&self, event: &TaskEvent<'_>) {
///         if event.kind == TaskEventKind::Completed {
///             *self.0.lock().unwrap() += 1;
///         }
///     }
/// }
///
/// let count = Arc::new(Count::default());
/// let config = SchedulerConfig { observer: Some(count.clone()), ..SchedulerConfig::default() };
/// Scheduler::new(config, Box::new(NotifyDriver::new()))
///     .block_on(|| fibrio_core::task::spawn(|| ()).join().unwrap())
///     .unwrap();
/// assert_eq!(*count.0.lock().unwrap(), 2); // the child and main
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Called for every event, on the scheduler's thread.
    fn on_event(&self, event: &TaskEvent<'_>);
}
