//! Concurrent tasks: PHP AsyncIO's second quick start.
//!
//! Three tasks each "download" for one second (a `fibrio::sleep`, which
//! parks the task while the others run). Run sequentially they would take
//! three seconds; as fibrio tasks they take about one. The program then
//! prints each task's state and statistics, and shows cancellation: a task
//! stuck in a long sleep is cancelled and unwinds, running its `Drop`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example concurrent_tasks
//! ```
//!
//! Force the portable poll(2) backend with `FIBRIO_BACKEND=poll`.

use std::time::{Duration, Instant};

fn download(name: &str, seconds: u64) -> String {
    println!("  [{name}] started");
    fibrio::sleep(Duration::from_secs(seconds));
    println!("  [{name}] finished after {seconds} s");
    format!("{name}: {} bytes", 1024 * seconds)
}

struct Connection(&'static str);

impl Drop for Connection {
    fn drop(&mut self) {
        println!("  [{}] connection closed by unwinding", self.0);
    }
}

fn main() {
    let runtime = fibrio::Runtime::new().expect("the runtime starts");
    println!("backend: {}", runtime.backend_name());
    runtime.run(|| {
        println!("Starting three 1-second tasks at once:");
        let start = Instant::now();
        let tasks: Vec<_> = ["task-1", "task-2", "task-3"]
            .into_iter()
            .map(|name| {
                fibrio::task::Builder::new()
                    .name(name)
                    .spawn(move || download(name, 1))
                    .expect("spawn")
            })
            .collect();
        for task in tasks {
            let state_before = task.state();
            let stats = task.stats();
            let result = task.join().expect("the download succeeds");
            println!(
                "  {result}  (when join began: {state_before}, switched in {} times, waited {:?} to start)",
                stats.switches,
                stats.wait_time().unwrap_or_default()
            );
        }
        let elapsed = start.elapsed();
        println!("All three done in {:.2} s (sequentially: 3 s)", elapsed.as_secs_f64());

        println!("Cancelling a task stuck in a long sleep:");
        let stuck = fibrio::task::Builder::new()
            .name("stuck")
            .spawn(|| {
                let _connection = Connection("stuck");
                fibrio::sleep(Duration::from_secs(3600));
            })
            .expect("spawn");
        fibrio::sleep(Duration::from_millis(10));
        stuck.cancel();
        let outcome = stuck.join();
        println!("  join -> {outcome:?}");
    });
}
