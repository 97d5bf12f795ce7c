//! Hello, fibrio: PHP AsyncIO's first quick start.
//!
//! `fibrio::run` starts a runtime on this thread, runs `main` as a task,
//! and returns its value. `fibrio::sleep` parks the task instead of the
//! thread. Unlike PHP AsyncIO's `run()`, this returns normally:
//! the program goes on and prints the last line.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example hello
//! ```

use std::time::Duration;

fn main() {
    let greeting = fibrio::run(|| {
        println!(
            "Hello from task '{}'",
            fibrio::task::current_name().unwrap_or_default()
        );
        fibrio::sleep(Duration::from_millis(100));
        println!("... and hello again, 100 ms later");
        "run() returned this value"
    });
    println!("{greeting}; the program keeps going");
}
