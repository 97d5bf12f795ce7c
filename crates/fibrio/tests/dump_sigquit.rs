//! `Builder::dump_on_sigquit`: SIGQUIT prints the task dump, with stacks,
//! to stderr, and the runtime goes on. (A test binary of its own: signal
//! handlers and fd 2 are process-wide.)

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

#[inline(never)]
fn parked_for_the_dump() {
    let _ = fibrio::task::park();
}

#[test]
fn sigquit_prints_the_dump_to_stderr() {
    // Send stderr into a pipe for the length of the test.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe` writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: plain descriptor calls on descriptors this test owns.
    let saved = unsafe { libc::dup(2) };
    // SAFETY: as above; fd 2 now writes into the pipe.
    assert!(unsafe { libc::dup2(fds[1], 2) } >= 0);
    // SAFETY: the read end is ours alone; `File` closes it.
    let mut reader = unsafe { File::from_raw_fd(fds[0]) };
    // SAFETY: makes the read end non-blocking, so the loop below polls it.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };

    let text = fibrio::Runtime::builder()
        .dump_on_sigquit(true)
        .build()
        .unwrap()
        .run(move || {
            let waiter = fibrio::task::Builder::new()
                .name("sigquit-waiter")
                .spawn(parked_for_the_dump)
                .unwrap();
            fibrio::yield_now();
            // SAFETY: raising a signal has no memory-safety preconditions.
            unsafe { libc::raise(libc::SIGQUIT) };
            let mut text = String::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !text.contains("parked_for_the_dump") && Instant::now() < deadline {
                fibrio::sleep(Duration::from_millis(5));
                let mut chunk = [0u8; 65536];
                if let Ok(n) = reader.read(&mut chunk) {
                    text.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
            waiter.cancel();
            text
        });
    // SAFETY: puts the original stderr back and closes the pipe's write end.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
        libc::close(fds[1]);
    }
    assert!(text.contains("fibrio task dump:"), "{text}");
    assert!(text.contains("\"sigquit-waiter\" [parked"), "{text}");
    assert!(
        text.contains("parked_for_the_dump"),
        "the stack is in it: {text}"
    );
}
