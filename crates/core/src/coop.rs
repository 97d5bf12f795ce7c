//! The cooperative budget: a task whose operations keep completing without
//! waiting still lets the others run, once every [`BUDGET`] operations.
//!
//! fibrio is cooperative: a task runs until it parks or yields. A task
//! whose sockets always have data, whose channel is never empty or whose
//! locks are never contended never parks, and starves every other task on
//! its thread (the accepting task, a timer, a heartbeat). tokio's answer,
//! taken here, is a budget: each operation that may complete at once (a
//! socket read, write, accept, connect, send or receive; a channel send or
//! receive; a lock, a semaphore acquire and the other waits of
//! `fibrio::sync`) calls [`proceed`] before it starts. That spends one unit
//! of the running task's budget; when the budget is empty, `proceed`
//! yields first ([`yield_now`](crate::task::yield_now)), and the task
//! continues with a fresh budget once the other runnable tasks have had a
//! turn.
//!
//! # Invariants
//!
//! * Spent before, never after: [`proceed`] runs before the operation
//!   touches anything, so the yield (a cancellation checkpoint) can only
//!   cancel an operation that has not happened yet. A cancelled task never
//!   loses the bytes of a read that succeeded, nor a message it received.
//! * A task gets a fresh budget whenever it has been switched out and back
//!   in (it parked, yielded, or was preempted by nothing: fibrio never
//!   preempts). The budget lives in a thread-local together with its
//!   owner: the runtime's id, the task's id and how many times the
//!   scheduler had switched into the task when the budget was filled
//!   ([`TaskStats::switches`](crate::task::TaskStats::switches)). A
//!   different owner reads as a full budget. So the task switch itself
//!   does no work for the budget, and a budget never carries over from one
//!   runtime (or one deterministic run, whose task ids restart at 1) to the
//!   next.
//! * Outside a task (a plain thread, code outside any runtime) [`proceed`]
//!   does nothing, and [`remaining`] is `None`.
//! * Deterministic: the budget depends only on the operations a task made
//!   since it was last switched in, so inside a simulation
//!   (`fibrio::sim`) the same seed gives the same budget yields, at the
//!   same points, and the same trace.
//! * While the thread unwinds, [`proceed`] never yields (a checkpoint
//!   reached while unwinding never suspends).
//!
//! # Examples
//!
//! ```
//! # fibrio_core::task::test_support::block_on(|| {
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use fibrio_core::{coop, task};
//!
//! let ran = Rc::new(Cell::new(false));
//! let other = task::spawn({
//!     let ran = ran.clone();
//!     move || ran.set(true)
//! });
//! // A busy loop of operations that never wait: each starts with
//! // `proceed`, and the budget makes one of them yield.
//! let mut operations = 0;
//! while !ran.get() {
//!     coop::proceed();
//!     operations += 1;
//! }
//! assert_eq!(operations, coop::BUDGET + 1);
//! other.join().unwrap();
//! # });
//! ```

use std::cell::Cell;

use crate::scheduler::{with_running, yield_running, TaskHeader};

/// How many operations a task may complete without waiting before
/// [`proceed`] makes it yield: 128, as tokio's budget.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// assert_eq!(fibrio_core::coop::remaining(), Some(fibrio_core::coop::BUDGET));
/// # });
/// ```
pub const BUDGET: u32 = 128;

/// The budget of the task that last spent on this thread.
#[derive(Clone, Copy)]
struct Budget {
    /// The id of the runtime whose task spent it.
    runtime: u64,
    /// The id of that task.
    task: u64,
    /// How many times the scheduler had switched into the task when the
    /// budget was filled: another count means it ran again since, so it
    /// has a fresh budget.
    switches: u64,
    /// Units left.
    left: u32,
}

impl Budget {
    /// Nobody's: ids start at 1.
    const NONE: Budget = Budget {
        runtime: 0,
        task: 0,
        switches: 0,
        left: 0,
    };

    fn full(task: &TaskHeader) -> Budget {
        Budget {
            runtime: task.runtime(),
            task: task.id(),
            switches: task.stats_switches(),
            left: BUDGET,
        }
    }

    /// True if this is `task`'s budget of its current run.
    #[inline]
    fn owned_by(&self, task: &TaskHeader) -> bool {
        self.task == task.id()
            && self.switches == task.stats_switches()
            && self.runtime == task.runtime()
    }
}

thread_local! {
    static SPENT: Cell<Budget> = const { Cell::new(Budget::NONE) };
}

/// The budget `task` has left in its current run.
#[inline]
fn current(task: &TaskHeader) -> Budget {
    let budget = SPENT.with(Cell::get);
    if budget.owned_by(task) {
        budget
    } else {
        Budget::full(task)
    }
}

/// Starts an operation that may complete without waiting: a cancellation
/// checkpoint (as [`checkpoint_if_cancelled`](crate::task::checkpoint_if_cancelled)),
/// and one unit of the running task's budget. If the budget is empty, it
/// yields first: the other runnable tasks run, and the task comes back
/// with a fresh budget. Call it *before* the operation does anything, so
/// that a cancellation at the yield cancels nothing that happened.
///
/// Outside a task it does nothing. While the thread unwinds it never
/// yields.
///
/// # Cancellation
///
/// A checkpoint, always; once every [`BUDGET`] calls in one run of a task
/// it also yields, which is a checkpoint before and after the yield.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::coop;
///
/// coop::proceed();
/// assert_eq!(coop::remaining(), Some(coop::BUDGET - 1));
/// fibrio_core::task::yield_now(); // switched out and back: a fresh budget
/// assert_eq!(coop::remaining(), Some(coop::BUDGET));
/// # });
/// coop_outside_a_task();
/// fn coop_outside_a_task() {
///     fibrio_core::coop::proceed(); // does nothing
///     assert_eq!(fibrio_core::coop::remaining(), None);
/// }
/// ```
#[inline]
pub fn proceed() {
    let exhausted = with_running(|_, task| {
        task.checkpoint();
        let mut budget = current(task);
        if budget.left == 0 {
            return true;
        }
        budget.left -= 1;
        SPENT.with(|spent| spent.set(budget));
        false
    });
    if exhausted == Some(true) {
        yield_for_budget();
    }
}

/// The slow path of [`proceed`]: yields, then spends one unit of the fresh
/// budget the task comes back with.
#[cold]
#[inline(never)]
fn yield_for_budget() {
    // A checkpoint before and after the switch; while unwinding it returns
    // at once, and the task goes on with a fresh budget all the same.
    yield_running();
    with_running(|_, task| {
        let mut budget = Budget::full(task);
        budget.left -= 1;
        SPENT.with(|spent| spent.set(budget));
    });
}

/// How many operations the running task may still start in its current
/// run before [`proceed`] makes it yield; `None` outside a task.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::coop;
///
/// assert_eq!(coop::remaining(), Some(coop::BUDGET));
/// for _ in 0..3 {
///     coop::proceed();
/// }
/// assert_eq!(coop::remaining(), Some(coop::BUDGET - 3));
/// # });
/// assert_eq!(fibrio_core::coop::remaining(), None); // not in a task
/// ```
pub fn remaining() -> Option<u32> {
    with_running(|_, task| current(task).left)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::task::{self, test_support::block_on};

    #[test]
    fn outside_a_task_nothing_is_spent() {
        for _ in 0..(2 * BUDGET) {
            proceed();
        }
        assert_eq!(remaining(), None);
    }

    #[test]
    fn the_call_after_the_budget_yields_and_comes_back_with_a_fresh_one() {
        block_on(|| {
            let ran = Rc::new(Cell::new(0u32));
            let other = task::spawn({
                let ran = ran.clone();
                move || ran.set(ran.get() + 1)
            });
            for i in 0..BUDGET {
                proceed();
                assert_eq!(remaining(), Some(BUDGET - 1 - i));
            }
            assert_eq!(ran.get(), 0, "no yield within the budget");
            proceed(); // empty: yields first
            assert_eq!(ran.get(), 1, "the other task ran at the yield");
            assert_eq!(remaining(), Some(BUDGET - 1));
            other.join().unwrap();
        });
    }

    #[test]
    fn parking_and_yielding_refill_the_budget() {
        block_on(|| {
            for _ in 0..10 {
                proceed();
            }
            assert_eq!(remaining(), Some(BUDGET - 10));
            task::yield_now();
            assert_eq!(remaining(), Some(BUDGET));
            for _ in 0..5 {
                proceed();
            }
            let me = task::Unparker::current().unwrap();
            let waker = task::spawn(move || me.unpark());
            task::park().unwrap();
            assert_eq!(remaining(), Some(BUDGET));
            waker.join().unwrap();
        });
    }

    #[test]
    fn each_task_has_its_own_budget() {
        block_on(|| {
            for _ in 0..100 {
                proceed();
            }
            let other = task::spawn(|| {
                let before = remaining();
                proceed();
                (before, remaining())
            });
            let seen = other.join().unwrap();
            assert_eq!(seen, (Some(BUDGET), Some(BUDGET - 1)));
            // Joining parked us: a fresh budget here too.
            assert_eq!(remaining(), Some(BUDGET));
        });
    }

    #[test]
    fn a_new_runtime_starts_with_a_full_budget() {
        // Task ids of a later runtime never match a budget spent in an
        // earlier one (the runtime id differs).
        block_on(|| {
            for _ in 0..50 {
                proceed();
            }
        });
        block_on(|| assert_eq!(remaining(), Some(BUDGET)));
    }

    #[test]
    fn a_cancelled_task_unwinds_at_proceed_even_with_budget_left() {
        block_on(|| {
            let reached = Rc::new(Cell::new(false));
            let victim = task::spawn({
                let reached = reached.clone();
                move || {
                    task::current().cancel();
                    proceed();
                    reached.set(true);
                }
            });
            assert!(victim.join().unwrap_err().is_cancelled());
            assert!(!reached.get());
        });
    }
}
