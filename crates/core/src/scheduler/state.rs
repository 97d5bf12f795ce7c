//! [`TaskState`]: where a task is in its life.
//!
//! Legal transitions (checked by [`TaskState::can_become`], and only the
//! scheduler changes a task's state):
//!
//! ```text
//! Pending --> Running --> Completed | Failed | Cancelled
//!    |
//!    +--> Cancelled          (cancelled before it first ran)
//! ```
//!
//! A task that is parked (waiting for a timer, I/O, a join, ...) is
//! `Running`: it has started and has not ended. What a parked task waits
//! for is a [`WaitReason`] (a [`WaitKind`], the object, the holder), plain
//! data recorded by the parking call and formatted only when a report is
//! printed.

use std::fmt;

/// The state of a task.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::TaskState;
///
/// assert!(TaskState::Completed.is_terminal() && TaskState::Completed.is_success());
/// assert!(TaskState::Failed.is_failure());
/// assert!(TaskState::Cancelled.is_cancelled() && !TaskState::Cancelled.is_failure());
/// assert!(!TaskState::Running.is_terminal());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Spawned, not yet run.
    Pending,
    /// Started and not ended; includes being parked.
    Running,
    /// Returned a value.
    Completed,
    /// Panicked. The payload is kept for [`JoinHandle::join`](crate::task::JoinHandle::join).
    Failed,
    /// Cancelled: unwound at a checkpoint, or never started.
    Cancelled,
}

impl TaskState {
    /// True for `Completed`, `Failed` and `Cancelled`: the task will never
    /// run again.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Cancelled.is_terminal());
    /// assert!(!TaskState::Pending.is_terminal());
    /// ```
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// True for `Completed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Completed.is_success());
    /// assert!(!TaskState::Cancelled.is_success());
    /// ```
    pub fn is_success(self) -> bool {
        self == TaskState::Completed
    }

    /// True for `Failed` (a panic). Cancellation is not a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Failed.is_failure());
    /// assert!(!TaskState::Cancelled.is_failure()); // cancellation is not a failure
    /// ```
    pub fn is_failure(self) -> bool {
        self == TaskState::Failed
    }

    /// True for `Cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// handle.cancel();
    /// handle.task_ref().wait().unwrap();
    /// assert!(handle.state().is_cancelled()); // it never ran
    /// # });
    /// ```
    pub fn is_cancelled(self) -> bool {
        self == TaskState::Cancelled
    }

    /// Whether the scheduler may move a task from `self` to `next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState::*;
    ///
    /// assert!(Pending.can_become(Running));
    /// assert!(Pending.can_become(Cancelled));
    /// assert!(!Pending.can_become(Completed));
    /// assert!(!Completed.can_become(Running));
    /// ```
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Pending, Running) | (Pending, Cancelled) | (Running, Completed | Failed | Cancelled)
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    const ALL: [TaskState; 5] = [Pending, Running, Completed, Failed, Cancelled];

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn every_state_is_reachable_from_pending() {
        for to in [Running, Cancelled] {
            assert!(Pending.can_become(to));
        }
        for to in [Completed, Failed, Cancelled] {
            assert!(Running.can_become(to));
        }
    }
}

/// What kind of thing a parked task waits for: the label half of a
/// [`WaitReason`].
///
/// The kinds are labels, not behaviour: the layer that parks names its own
/// wait (core: parks, sleeps, joins and yields; the concurrency crate: its
/// locks, channels and signals; the reactor: I/O and `spawn_blocking`), so
/// core knows nothing of I/O. New kinds may be added.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::WaitKind;
///
/// assert_eq!(WaitKind::Mutex.to_string(), "Mutex");
/// assert!(WaitKind::Read.object_is_fd() && !WaitKind::Mutex.object_is_fd());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitKind {
    /// `task::park`/`park_until`: an unpark from whoever holds the task's
    /// key or `Unparker`. `object` is 0.
    Park,
    /// `sleep`/`sleep_until`: the task's timer. `object` is 0.
    Sleep,
    /// A join of one task (`JoinHandle::join`, `TaskRef::wait`). `object`
    /// is the joined task's id (0 for a `RemoteJoinHandle`, whose task runs
    /// on another runtime).
    Join,
    /// A wait for the first of several tasks to end (`wait_any`, and what
    /// builds on it). `object` is the id of the first one not yet ended.
    JoinAny,
    /// A job on the blocking thread pool (`spawn_blocking`). `object` is 0.
    Blocking,
    /// Readiness to read. `object` is the fd.
    Read,
    /// Readiness to write. `object` is the fd.
    Write,
    /// An incoming connection. `object` is the fd (or a simulated
    /// listener's id).
    Accept,
    /// An outgoing connection being established. `object` is the fd (or a
    /// simulated connection's id).
    Connect,
    /// A task mutex. `object` tells mutexes apart; `holder` is the task
    /// holding it when the waiter parked (0: unknown).
    Mutex,
    /// A read lock of a reader-writer lock. `object` tells locks apart.
    RwLockRead,
    /// A write lock of a reader-writer lock. `object` tells locks apart.
    RwLockWrite,
    /// Permits of a semaphore. `object` tells semaphores apart.
    Semaphore,
    /// Room in a channel (a send). `object` tells channels apart.
    Send,
    /// A message in a channel (a receive). `object` tells channels apart.
    Recv,
    /// A condition variable's notification. `object` tells them apart.
    Condvar,
    /// An event being set. `object` tells events apart.
    Event,
    /// A `Notify`'s notification. `object` tells them apart.
    Notify,
    /// The other parties of a barrier. `object` tells barriers apart.
    Barrier,
    /// A wait group reaching zero. `object` tells wait groups apart.
    WaitGroup,
    /// Its turn after a yield (`yield_now`, `checkpoint`): runnable, never
    /// parked, so a report never shows it; here for dumps.
    Yield,
    /// A simulated host's keeper task (internal to `fibrio::sim`), which
    /// waits for its host's main to end, for a restart, or for the host's
    /// tasks to end (`task::det::wait_group_empty`; `object` is then the
    /// group's id).
    SimKeeper,
}

impl WaitKind {
    /// True for the kinds whose `object` is a file descriptor (`Read`,
    /// `Write`, `Accept`, `Connect`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::WaitKind;
    ///
    /// assert!(WaitKind::Write.object_is_fd());
    /// assert!(!WaitKind::Join.object_is_fd());
    /// ```
    pub fn object_is_fd(self) -> bool {
        matches!(
            self,
            WaitKind::Read | WaitKind::Write | WaitKind::Accept | WaitKind::Connect
        )
    }

    /// True for the kinds whose `object` only tells one primitive from
    /// another (an address-derived id: locks, semaphores, channels,
    /// signals). Reports number such objects in order of appearance
    /// rather than print the id, which depends on the allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::WaitKind;
    ///
    /// assert!(WaitKind::Mutex.object_is_primitive());
    /// assert!(!WaitKind::Read.object_is_primitive());
    /// ```
    pub fn object_is_primitive(self) -> bool {
        matches!(
            self,
            WaitKind::Mutex
                | WaitKind::RwLockRead
                | WaitKind::RwLockWrite
                | WaitKind::Semaphore
                | WaitKind::Send
                | WaitKind::Recv
                | WaitKind::Condvar
                | WaitKind::Event
                | WaitKind::Notify
                | WaitKind::Barrier
                | WaitKind::WaitGroup
        )
    }

    /// A short lower-case label for the kind of object waited on, used to
    /// name objects in reports (`mutex#1`, `channel#2`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::WaitKind;
    ///
    /// assert_eq!(WaitKind::RwLockWrite.object_label(), "rwlock");
    /// assert_eq!(WaitKind::Recv.object_label(), "channel");
    /// ```
    pub fn object_label(self) -> &'static str {
        match self {
            WaitKind::Park => "unparker",
            WaitKind::Sleep => "timer",
            WaitKind::Join | WaitKind::JoinAny => "task",
            WaitKind::Blocking => "job",
            WaitKind::Read | WaitKind::Write | WaitKind::Accept | WaitKind::Connect => "fd",
            WaitKind::Mutex => "mutex",
            WaitKind::RwLockRead | WaitKind::RwLockWrite => "rwlock",
            WaitKind::Semaphore => "semaphore",
            WaitKind::Send | WaitKind::Recv => "channel",
            WaitKind::Condvar => "condvar",
            WaitKind::Event => "event",
            WaitKind::Notify => "notify",
            WaitKind::Barrier => "barrier",
            WaitKind::WaitGroup => "waitgroup",
            WaitKind::Yield => "turn",
            WaitKind::SimKeeper => "simulation",
        }
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What a parked task waits for: a [`WaitKind`], the object waited on
/// (`object`: a task id for joins, a fd for I/O, an address-derived id that
/// tells primitives apart) and, for a mutex or a write lock, the task that
/// held it when the waiter parked (`holder`, 0 when unknown).
///
/// Every parking call records one in the task before it suspends
/// ([`park_for`](crate::task::park_for)); it is read only while the task is
/// parked ([`TaskRef::wait_reason`](crate::task::TaskRef::wait_reason), the
/// deadlock report of a deterministic run). It is plain data, three words,
/// built with `const fn`s so that recording it costs a store and no
/// formatting: text is made only by `Display`, when a report is printed.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::{WaitKind, WaitReason};
///
/// let reason = WaitReason::new(WaitKind::Mutex, 0x1000).with_holder(9);
/// assert_eq!(reason.kind, WaitKind::Mutex);
/// assert_eq!(reason.to_string(), "a Mutex held by task 9");
/// assert_eq!(WaitReason::new(WaitKind::Join, 4).to_string(), "a join of task 4");
/// assert_eq!(WaitReason::new(WaitKind::Read, 7).to_string(), "a read on fd 7");
/// assert_eq!(WaitReason::new(WaitKind::Recv, 0x2000).to_string(), "a channel receive");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WaitReason {
    /// What kind of thing the task waits for.
    pub kind: WaitKind,
    /// Which one: see [`WaitKind`] for what it holds per kind.
    pub object: u64,
    /// The task id holding the lock waited for (`Mutex`, `RwLockWrite`),
    /// as seen when the waiter parked; 0 when unknown or not applicable.
    pub holder: u64,
}

impl WaitReason {
    /// `task::park`'s reason: an unpark, no object.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::{WaitKind, WaitReason};
    ///
    /// assert_eq!(WaitReason::PARK.kind, WaitKind::Park);
    /// ```
    pub const PARK: WaitReason = WaitReason::new(WaitKind::Park, 0);

    /// The bit that marks the `object` of a `Read`, `Write`, `Accept` or
    /// `Connect` reason as a simulated connection's id (`fibrio::sim` has
    /// no file descriptors) rather than an fd.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::{WaitKind, WaitReason};
    ///
    /// let real = WaitReason::new(WaitKind::Read, 7);
    /// let simulated = WaitReason::new(WaitKind::Read, 7 | WaitReason::SIMULATED_SOCKET);
    /// assert_eq!(real.to_string(), "a read on fd 7");
    /// assert_eq!(simulated.to_string(), "a read on simulated connection 7");
    /// ```
    pub const SIMULATED_SOCKET: u64 = 1 << 63;

    /// A reason of kind `kind` on `object`, with no holder.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::{WaitKind, WaitReason};
    ///
    /// let reason = WaitReason::new(WaitKind::Write, 3);
    /// assert_eq!((reason.object, reason.holder), (3, 0));
    /// ```
    #[inline]
    pub const fn new(kind: WaitKind, object: u64) -> WaitReason {
        WaitReason {
            kind,
            object,
            holder: 0,
        }
    }

    /// The same reason, naming `holder` (a task id; 0: unknown) as the task
    /// holding what is waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::{WaitKind, WaitReason};
    ///
    /// let reason = WaitReason::new(WaitKind::RwLockWrite, 1).with_holder(5);
    /// assert_eq!(reason.to_string(), "a RwLock write lock held by task 5");
    /// ```
    #[inline]
    pub const fn with_holder(self, holder: u64) -> WaitReason {
        WaitReason { holder, ..self }
    }

    /// An id for the object at `address`, for primitives that tell
    /// themselves apart by where they live (no `unsafe`: only the address
    /// is taken, never dereferenced).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::{WaitKind, WaitReason};
    ///
    /// let lock = std::sync::Mutex::new(());
    /// let reason = WaitReason::new(WaitKind::Mutex, WaitReason::object_id(&lock));
    /// assert_ne!(reason.object, 0);
    /// ```
    #[inline]
    pub fn object_id<T: ?Sized>(address: &T) -> u64 {
        (address as *const T).cast::<u8>() as usize as u64
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = self.object;
        match self.kind {
            WaitKind::Park => f.write_str("an unpark (task::park)")?,
            WaitKind::Sleep => f.write_str("a sleep")?,
            // 0: a `RemoteJoinHandle`'s task, on another runtime.
            WaitKind::Join if object == 0 => f.write_str("a join of a task on another runtime")?,
            WaitKind::Join => write!(f, "a join of task {object}")?,
            WaitKind::JoinAny => write!(f, "a join of any of several tasks (task {object}, ...)")?,
            WaitKind::Blocking => f.write_str("a spawn_blocking job")?,
            WaitKind::Read | WaitKind::Write | WaitKind::Accept | WaitKind::Connect => {
                let what = match self.kind {
                    WaitKind::Read => "a read",
                    WaitKind::Write => "a write",
                    WaitKind::Accept => "an accept",
                    _ => "a connect",
                };
                if object & WaitReason::SIMULATED_SOCKET != 0 {
                    let id = object & !WaitReason::SIMULATED_SOCKET;
                    write!(f, "{what} on simulated connection {id}")?;
                } else {
                    write!(f, "{what} on fd {object}")?;
                }
            }
            WaitKind::Mutex => f.write_str("a Mutex")?,
            WaitKind::RwLockRead => f.write_str("a RwLock read lock")?,
            WaitKind::RwLockWrite => f.write_str("a RwLock write lock")?,
            WaitKind::Semaphore => f.write_str("a Semaphore")?,
            WaitKind::Send => f.write_str("a channel send")?,
            WaitKind::Recv => f.write_str("a channel receive")?,
            WaitKind::Condvar => f.write_str("a Condvar notification")?,
            WaitKind::Event => f.write_str("an Event")?,
            WaitKind::Notify => f.write_str("a Notify notification")?,
            WaitKind::Barrier => f.write_str("a Barrier")?,
            WaitKind::WaitGroup => f.write_str("a WaitGroup")?,
            WaitKind::Yield => f.write_str("its turn (a yield)")?,
            WaitKind::SimKeeper => f.write_str("the simulation's end")?,
        }
        if self.holder != 0 {
            write!(f, " held by task {}", self.holder)?;
        }
        Ok(())
    }
}
