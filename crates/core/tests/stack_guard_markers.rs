//! Guard pages made with `madvise(MADV_GUARD_INSTALL)` markers (Linux
//! 6.13+): the stacks of a batch share kernel mappings instead of taking
//! two each, and the guard still faults (the overflow report itself is
//! checked in `stack_limits.rs`, whatever the kind). On kernels without
//! markers these checks are skipped with a note.

use std::io::Read;

use fibrio_core::stack::{self, FiberStack, GuardKind, MAPPINGS_PER_STACK, MIN_STACK_SIZE};

/// The mappings this process uses: the lines of `/proc/self/maps`.
fn mappings() -> usize {
    let mut file = std::fs::File::open("/proc/self/maps").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return lines;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
}

#[test]
fn marker_guarded_stacks_share_mappings() {
    if stack::guard_kind() != GuardKind::Markers {
        eprintln!("SKIP: this kernel has no guard markers; stacks use mprotect guards");
        return;
    }
    const STACKS: usize = 2_000;
    let before = mappings();
    let stacks: Vec<_> = (0..STACKS)
        .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
        .collect();
    let during = mappings();
    // Other tests of this binary map and unmap concurrently, but far less
    // than this: `mprotect` guards would add 4,000 mappings.
    assert!(
        during < before + STACKS * MAPPINGS_PER_STACK / 4,
        "{STACKS} stacks took {} mappings",
        during.saturating_sub(before)
    );
    // Every stack is usable from the top of its guard to its base, and
    // the guards sit one stride apart within a batch.
    for s in &stacks {
        let (lo, hi) = s.guard_range();
        assert_eq!(hi - lo, stack::page_size());
    }
    drop(stacks);
    stack::trim_pool();
}
