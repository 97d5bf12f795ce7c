//! Context variables: PHP AsyncIO's context example.
//!
//! The main task sets `request_id` and `user_id`, then starts ten child
//! tasks; each child inherits a snapshot of that context and prints both
//! values. Then it shows what PHP AsyncIO got wrong:
//!
//! * a child's write stays in the child (the parent and the other children
//!   never see it), and the parent's write after spawning does not reach
//!   children that already exist (no live parent chain);
//! * `all_context(true)` merges every inherited level, not just one;
//! * a `spawn_blocking` closure sees the values set through the `Send + Sync`
//!   API (`set_sendable_context`, `ContextVar::new_sendable`).
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example context
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fibrio::context::{all_context, get_context, set_context, set_sendable_context, ContextVar};

/// A typed variable: the primary API. `new_sendable` also carries it into
/// `spawn_blocking` closures.
static TRACE_ID: ContextVar<u64> = ContextVar::new_sendable("trace_id");

/// Like PHP's `uniqid('req_')`: a prefix and the current time in hex.
fn unique_id(prefix: &str) -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{prefix}{micros:x}")
}

fn main() {
    fibrio::run(|| {
        // Set the request context.
        set_sendable_context("request_id", unique_id("req_"));
        set_context("user_id", 12345u32);
        TRACE_ID.set(7);

        let tasks: Vec<_> = (0..10)
            .map(|i| {
                fibrio::spawn(move || {
                    // Inherited from the parent, as of the spawn.
                    let request_id = get_context::<String>("request_id").unwrap_or_default();
                    let user_id = get_context::<u32>("user_id").unwrap_or_default();
                    println!("Task {i}: Request {request_id}, User {user_id}");
                    if i == 0 {
                        // Stays in this task.
                        set_context("user_id", 0u32);
                    }
                    fibrio::sleep(Duration::from_millis(10));
                    // The parent changed user_id after spawning us: we keep ours.
                    get_context::<u32>("user_id")
                })
            })
            .collect();
        set_context("user_id", 99999u32);
        let seen: Vec<_> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
        println!("user_id seen by the tasks at the end: {seen:?}");
        println!(
            "user_id in the parent: {:?} (no child's write reached it)",
            get_context::<u32>("user_id")
        );

        // Three levels: every one shows up in all_context(true).
        fibrio::spawn(|| {
            set_context("level", "child");
            fibrio::spawn(|| {
                set_context("grandchild_only", true);
                let own: Vec<_> = all_context(false).into_keys().collect();
                let all: Vec<_> = all_context(true).into_keys().collect();
                println!("grandchild: own keys {own:?}, all keys {all:?}");
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();

        // A blocking-pool thread sees the sendable values only.
        let (request_id, user_id, trace_id) = fibrio::spawn_blocking(|| {
            (
                get_context::<String>("request_id"),
                get_context::<u32>("user_id"),
                TRACE_ID.get(),
            )
        })
        .unwrap();
        println!(
            "spawn_blocking sees request_id {request_id:?} and trace_id {trace_id:?}; \
             user_id (set with set_context, which allows !Send values) reads as {user_id:?}"
        );
    });
}
