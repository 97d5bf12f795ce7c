//! Buffers of finished batches kept for the next ones on this thread, so
//! that waking a connection costs no `malloc` in the steady state; a few
//! only ([`KEPT`] of each size), so that they add little to the
//! memory left after a peak.

use std::cell::RefCell;

/// The most buffers of each size kept per thread.
pub(super) const KEPT: usize = 8;

thread_local! {
    static INPUTS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static OUTPUTS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn list(size: usize) -> &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>> {
    if size == super::input::INITIAL_BUFFER {
        &INPUTS
    } else {
        &OUTPUTS
    }
}

/// A buffer of `size` bytes: `vec![0; size]` for an input (whose
/// length is its room, contents unspecified), an empty one with room
/// for `size` bytes for an output.
pub(super) fn take(size: usize) -> Vec<u8> {
    let kept = list(size)
        .try_with(|list| list.borrow_mut().pop())
        .ok()
        .flatten();
    match kept {
        Some(buf) => buf,
        None if size == super::input::INITIAL_BUFFER => vec![0; size],
        None => Vec::with_capacity(size),
    }
}

/// Keeps `buf` for a later [`take`] of `size` if it is still that size
/// (an input grown for a long head is dropped) and there is room.
pub(super) fn give(mut buf: Vec<u8>, size: usize) {
    let input = size == super::input::INITIAL_BUFFER;
    if (input && buf.len() != size) || buf.capacity() != size {
        return;
    }
    if !input {
        buf.clear();
    }
    let _ = list(size).try_with(|list| {
        let mut list = list.borrow_mut();
        if list.len() < KEPT {
            list.push(buf);
        }
    });
}
