//! An idle runtime gives pooled stacks back: the scheduler asks the stack
//! pool before each blocking wait (`stack::trim_pool_if_due`) and wakes in
//! time for its next check, so a server that goes quiet after a burst
//! unmaps the stacks beyond the pool's floor without any task running.

use std::time::Duration;

use fibrio_core::stack::{self, POOL_TRIM_FLOOR};
use fibrio_core::task;

#[test]
fn a_quiet_runtime_unmaps_the_pool_beyond_its_floor() {
    stack::set_trim_quiet_period(Duration::from_millis(100));
    let (after_burst, after_quiet) = task::test_support::block_on(|| {
        let tasks: Vec<_> = (0..4_000).map(|_| task::spawn(task::yield_now)).collect();
        tasks.into_iter().for_each(|t| t.join().unwrap());
        let after_burst = stack::statistics();
        // The runtime idles: only this sleep's timer is pending. Two quiet
        // periods and some: generous for a loaded machine.
        task::sleep(Duration::from_millis(1_000));
        (after_burst, stack::statistics())
    });
    assert!(
        after_burst.pooled > POOL_TRIM_FLOOR,
        "the burst left {} stacks pooled",
        after_burst.pooled
    );
    assert!(
        after_quiet.pooled <= POOL_TRIM_FLOOR,
        "still {} stacks pooled after a quiet second (floor {POOL_TRIM_FLOOR})",
        after_quiet.pooled
    );
    assert!(after_quiet.mapped < after_burst.mapped);
}
