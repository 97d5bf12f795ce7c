//! Without a logger (like every example), fibrio's warnings reach stderr
//! (`fibrio_core::diagnostics`): the watchdog's "task blocked the thread"
//! and the accept loop's "out of file descriptors". Each case runs in a
//! child process (this test binary again, one test, no logger installed)
//! whose stderr is checked. That a logger, once installed, gets them
//! instead of stderr is tested in `fibrio_core::diagnostics` (its unit
//! tests): this crate has no `log` dependency to install one with.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use fibrio::net::TcpListener;

/// Set in the child: which case to run.
const CHILD: &str = "FIBRIO_WARNINGS_CHILD";

/// Runs `test` of this binary alone in a child with `CHILD` set; its stderr.
fn child_stderr(test: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the test binary again");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "the child failed ({}):\n{stderr}",
        out.status
    );
    stderr
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn a_task_that_blocks_the_thread_is_reported_on_stderr_without_a_logger() {
    if in_child() {
        fibrio::Runtime::builder()
            .watchdog(Duration::from_millis(20))
            .build()
            .unwrap()
            .run(|| {
                fibrio::task::Builder::new()
                    .name("sleeper")
                    .spawn(|| std::thread::sleep(Duration::from_millis(300)))
                    .unwrap()
                    .join()
                    .unwrap();
            });
        return;
    }
    let stderr =
        child_stderr("a_task_that_blocks_the_thread_is_reported_on_stderr_without_a_logger");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: fibrio watchdog:"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for one blocked run:\n{stderr}"
    );
    assert!(warnings[0].contains("'sleeper'"), "{stderr}");
    assert!(warnings[0].contains("without parking"), "{stderr}");
}

#[test]
fn a_storm_of_blocked_tasks_gives_at_most_a_line_a_second() {
    if in_child() {
        fibrio::Runtime::builder()
            .watchdog(Duration::from_millis(5))
            .build()
            .unwrap()
            .run(|| {
                // 40 runs of 50 ms: 40 warnings over about 2 s.
                for _ in 0..40 {
                    fibrio::spawn(|| std::thread::sleep(Duration::from_millis(50)))
                        .join()
                        .unwrap();
                }
            });
        return;
    }
    let stderr = child_stderr("a_storm_of_blocked_tasks_gives_at_most_a_line_a_second");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: fibrio watchdog:"))
        .collect();
    // About 2 s of warnings: 2 or 3 lines (a line a second), never 40;
    // 10 leaves room for a slow machine stretching the run.
    assert!(
        !warnings.is_empty() && warnings.len() <= 10,
        "{} lines:\n{stderr}",
        warnings.len()
    );
    if warnings.len() > 1 {
        assert!(
            warnings[1].contains("more such warnings were not shown"),
            "the second line counts the held-back ones:\n{stderr}"
        );
    }
}

/// Lowers this process's soft fd limit to `limit`.
fn set_fd_limit(limit: u64) {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the live struct it is given.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit) };
    assert_eq!(got, 0, "getrlimit");
    rlimit.rlim_cur = limit;
    // SAFETY: setrlimit reads the live struct it is given.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) };
    assert_eq!(set, 0, "setrlimit");
}

#[test]
fn an_accept_loop_out_of_fds_is_reported_on_stderr_without_a_logger() {
    if in_child() {
        fibrio::run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // The client connects before the descriptors run out: the
            // kernel completes it in the listen backlog.
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            // Take every descriptor left, under a limit of 64.
            set_fd_limit(64);
            let mut hogs = Vec::new();
            while let Ok(file) = std::fs::File::open("/dev/null") {
                hogs.push(file);
            }
            // Give them back after 300 ms: the accept loop backs off until
            // then, and accepts the client after.
            let release = fibrio::spawn(move || {
                fibrio::sleep(Duration::from_millis(300));
                drop(hogs);
            });
            let mut stream = listener.incoming().next().unwrap().unwrap();
            release.join().unwrap();
            client.write_all(b"x").unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).unwrap(), 1);
        });
        return;
    }
    let stderr = child_stderr("an_accept_loop_out_of_fds_is_reported_on_stderr_without_a_logger");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: fibrio: accept failed"))
        .collect();
    assert!(
        !warnings.is_empty(),
        "no accept warning on stderr:\n{stderr}"
    );
    assert!(
        warnings.len() <= 2,
        "300 ms of back-off gives one line (a line a second):\n{stderr}"
    );
    assert!(warnings[0].contains("out of file descriptors"), "{stderr}");
    assert!(warnings[0].contains("ulimit -n"), "{stderr}");
}
