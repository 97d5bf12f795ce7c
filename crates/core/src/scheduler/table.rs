//! [`TaskTable`]: the tasks a scheduler owns, addressed by [`TaskKey`].
//!
//! # Invariants
//!
//! * A slot's `generation` increases every time the slot is freed, so a key
//!   kept after its task ended (by a timer, an unparker on another thread,
//!   a join waiter) never reaches the task that reuses the slot.
//! * `free` lists exactly the slots whose `task` is `None`.
//! * `len` counts the occupied slots.

use std::rc::Rc;

/// Identifies a task within its scheduler: a slot index plus the slot's
/// generation. It is `Copy` and `Send`, so timers, poll registrations and
/// other threads can hold it; a stale key is harmless.
///
/// # Examples
///
/// ```
/// fn assert_send<T: Send + Copy>() {}
/// assert_send::<fibrio_core::scheduler::TaskKey>();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey {
    index: u32,
    generation: u32,
}

impl TaskKey {
    /// Builds a key from its parts. Mostly for drivers' tests and
    /// benchmarks: a key that names no live task is ignored everywhere, so
    /// forging one is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::TaskKey;
    ///
    /// assert_eq!(TaskKey::new(3, 1), TaskKey::new(3, 1));
    /// assert_ne!(TaskKey::new(3, 1), TaskKey::new(3, 2));
    /// ```
    pub fn new(index: u32, generation: u32) -> TaskKey {
        TaskKey { index, generation }
    }

    /// The slot index part of the key.
    pub(crate) fn index(self) -> u32 {
        self.index
    }
}

struct Slot<T: ?Sized> {
    generation: u32,
    task: Option<Rc<T>>,
}

/// The tasks, as `Rc<T>` (the scheduler stores `dyn ErasedTask`; the table
/// needs to know nothing of tasks but that they are shared).
pub(crate) struct TaskTable<T: ?Sized> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T: ?Sized> TaskTable<T> {
    pub(crate) fn new() -> TaskTable<T> {
        TaskTable {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// The key the next `insert` will use.
    pub(crate) fn next_key(&self) -> TaskKey {
        match self.free.last() {
            Some(&index) => TaskKey {
                index,
                generation: self.slots[index as usize].generation,
            },
            None => TaskKey {
                index: self.slots.len() as u32,
                generation: 0,
            },
        }
    }

    /// Stores `task` under `next_key()`.
    pub(crate) fn insert(&mut self, task: Rc<T>) -> TaskKey {
        let key = self.next_key();
        match self.free.pop() {
            Some(index) => self.slots[index as usize].task = Some(task),
            None => self.slots.push(Slot {
                generation: 0,
                task: Some(task),
            }),
        }
        self.len += 1;
        key
    }

    pub(crate) fn get(&self, key: TaskKey) -> Option<&Rc<T>> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.task.as_ref()
    }

    pub(crate) fn remove(&mut self, key: TaskKey) -> Option<Rc<T>> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let task = slot.task.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(task)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every task, in slot order, without allocating (dumps, metrics and
    /// the deadlock check).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rc<T>> + '_ {
        self.slots.iter().filter_map(|slot| slot.task.as_ref())
    }

    /// The keys of every task, for shutdown.
    pub(crate) fn keys(&self) -> Vec<TaskKey> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.task.is_some())
            .map(|(index, slot)| TaskKey {
                index: index as u32,
                generation: slot.generation,
            })
            .collect()
    }
}
