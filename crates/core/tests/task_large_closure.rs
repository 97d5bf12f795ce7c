//! A task's or a fiber's closure may capture any amount of data: closures
//! larger than what corosensei moves onto a new stack (1 KiB) are boxed
//! first instead of panicking deep in the runtime.

use fibrio_core::fiber::Fiber;
use fibrio_core::task;

#[test]
fn a_task_closure_capturing_8_kib_runs() {
    let sum = task::test_support::block_on(|| {
        let big = [7u8; 8192];
        let small = 5u32;
        let a = task::spawn(move || big.iter().map(|&b| u64::from(b)).sum::<u64>());
        let b = task::spawn(move || small + 1);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(sum, (7 * 8192, 6));
}

#[test]
fn a_fiber_closure_capturing_4_kib_runs() {
    let big = [3u8; 4096];
    let fiber: Fiber<u64, (), u64> =
        Fiber::new(move |k| k * big.iter().map(|&b| u64::from(b)).sum::<u64>());
    assert_eq!(fiber.start(2).unwrap(), None);
    assert_eq!(fiber.get_return().unwrap(), 2 * 3 * 4096);
}
