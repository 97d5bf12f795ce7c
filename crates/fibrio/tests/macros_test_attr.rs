//! `#[fibrio::test]` (spelled `#[fibrio::test]` until `fibrio`
//! re-exports it): the body really runs inside a runtime, the return type is
//! kept so `?` works, and the function's other attributes stay in force.

use std::io;
use std::time::{Duration, Instant};

#[fibrio::test]
fn a_unit_body_runs_on_a_runtime() {
    assert!(fibrio::task::try_current().is_some());
    let task = fibrio::spawn(|| {
        fibrio::sleep(Duration::from_millis(5));
        fibrio::task::try_current().is_some()
    });
    let start = Instant::now();
    fibrio::sleep(Duration::from_millis(5));
    assert!(task.join().unwrap());
    assert!(start.elapsed() >= Duration::from_millis(5));
}

fn parse(text: &str) -> io::Result<u32> {
    text.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A doc comment, kept on the expanded function.
#[fibrio::test]
fn a_result_body_can_use_the_question_mark() -> Result<(), std::io::Error> {
    let task = fibrio::spawn(|| parse("41"));
    let n = task.join().unwrap()?;
    assert_eq!(n + 1, 42);
    assert!(parse("not a number").is_err());
    Ok(())
}

#[fibrio::test]
#[should_panic(expected = "planned failure in a fibrio test")]
fn should_panic_is_kept() {
    assert!(fibrio::task::try_current().is_some());
    panic!("planned failure in a fibrio test");
}

#[fibrio::test]
#[ignore = "kept ignored: it would fail if it ran"]
fn ignore_is_kept() {
    panic!("an #[ignore]d fibrio test ran");
}

#[fibrio::test]
pub(crate) fn visibility_is_kept_and_return_works() {
    for i in 0..3 {
        if i == 1 {
            return;
        }
    }
    unreachable!("`return` leaves the body");
}
