//! `Builder::dump_on_sigquit` and the process's SIGQUIT disposition, in a
//! child process (this test binary re-run): while the runtime runs, SIGQUIT
//! prints the task dump and the process goes on; once `run` has returned,
//! SIGQUIT has its default action again and ends the process.
//!
//! Wall-clock bounds are 10x or more away from what is measured.

#[path = "common/child.rs"]
mod child;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use child::ChildTest;
use fibrio::Runtime;

const MODE: &str = "FIBRIO_TEST_SIGQUIT_MODE";
/// How long the child may take to start and print a line.
const LIMIT: Duration = Duration::from_secs(60);

/// The child: a runtime with `dump_on_sigquit(true)` that waits to be
/// told (by shutdown, which the parent's SIGTERM requests) to end, then
/// waits for SIGQUIT outside any runtime.
#[test]
fn sigquit_child() {
    let Ok(mode) = std::env::var(MODE) else {
        return; // run only as the child of the tests below
    };
    assert_eq!(mode, "dump-then-default");
    // No core file from the SIGQUIT that ends this process.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads only the struct passed.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    let value = Runtime::builder()
        .dump_on_sigquit(true)
        .shutdown_on_signals(Duration::from_secs(30))
        .build()
        .unwrap()
        .run(|| {
            println!("sigquit child: runtime up");
            fibrio::shutdown::wait().unwrap();
            7
        });
    assert_eq!(value, 7);
    println!("run returned");
    // SIGQUIT has its default action again: it ends us here.
    std::thread::sleep(Duration::from_secs(120));
    println!("still alive");
}

#[test]
fn sigquit_dumps_while_running_and_ends_the_process_after_run_returns() {
    let mut child = ChildTest::start("sigquit_child", &[(MODE, "dump-then-default".to_string())]);
    child.expect_line("sigquit child: runtime up", LIMIT);
    // Caught while the runtime runs (the dump goes to stderr): the
    // process goes on, and a shutdown still ends `run` normally.
    child.signal(libc::SIGQUIT);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.child.try_wait().unwrap().is_none(),
        "SIGQUIT ended the process while dump_on_sigquit was on"
    );
    child.signal(libc::SIGTERM);
    child.expect_line("run returned", LIMIT);
    child.signal(libc::SIGQUIT);
    let (status, _) = child.wait(LIMIT);
    assert_eq!(status.signal(), Some(libc::SIGQUIT), "{status:?}");
}
