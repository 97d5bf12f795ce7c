//! PHP-style generators on fibrio fibers.
//!
//! Shows the lowest layer of fibrio: a `Fiber` that suspends from deep inside
//! its own call stack, a consumer that feeds values back in with `resume`,
//! `throw` to raise an error at the suspend point, and dropping a suspended
//! fiber, which unwinds its stack so its cleanup runs.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example generators
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use fibrio::fiber::{suspend, Builder, Fiber};

/// Walks a directory-like tree depth first, suspending at every leaf. The
/// suspend happens several calls deep: no `yield` keyword, no state machine.
fn walk(node: &Node, path: &mut Vec<&'static str>) {
    path.push(node.name);
    if node.children.is_empty() {
        suspend::<(), String>(path.join("/")).expect("walk runs inside a fiber");
    }
    for child in &node.children {
        walk(child, path);
    }
    path.pop();
}

struct Node {
    name: &'static str,
    children: Vec<Node>,
}

fn leaf(name: &'static str) -> Node {
    Node {
        name,
        children: Vec::new(),
    }
}

struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  cleanup: {}", self.0);
    }
}

fn main() {
    println!("1. a generator that suspends from deep recursion");
    let tree = Node {
        name: "src",
        children: vec![
            Node {
                name: "fiber",
                children: vec![leaf("mod.rs"), leaf("error.rs")],
            },
            leaf("lib.rs"),
        ],
    };
    let walker: Fiber<(), String, ()> = Builder::new()
        .name("walker")
        .build(move |()| walk(&tree, &mut Vec::new()))
        .expect("a stack can be mapped");
    let mut next = walker.start(()).expect("first start");
    while let Some(path) = next {
        println!("  visited {path}");
        next = walker.resume(()).expect("walker is suspended");
    }

    println!("2. a running total: values flow in through resume");
    let adder: Fiber<i64, i64, i64> = Fiber::new(|mut total| {
        while let Ok(n) = suspend::<i64, i64>(total) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    adder.start(10).unwrap();
    for n in [5, -3, 8] {
        println!("  +{n:>2} -> {}", adder.resume(n).unwrap().unwrap());
    }
    adder.resume(0).unwrap();
    println!("  final total: {}", adder.get_return().unwrap());

    println!("3. throw raises at the suspend point; the fiber may catch it");
    let resilient: Fiber<(), &str, ()> = Fiber::new(|()| loop {
        match catch_unwind(AssertUnwindSafe(|| suspend::<(), &str>("waiting"))) {
            Ok(_) => return,
            Err(payload) => {
                let reason = payload.downcast_ref::<&str>().copied().unwrap_or("?");
                println!("  fiber caught: {reason}");
            }
        }
    });
    resilient.start(()).unwrap();
    println!("  throw -> {:?}", resilient.throw("timeout").unwrap());
    resilient.resume(()).unwrap();

    println!("4. dropping a suspended fiber unwinds it, so cleanup runs");
    let holder: Fiber<(), (), ()> = Fiber::new(|()| {
        let _db = Cleanup("database connection closed");
        let _file = Cleanup("temporary file removed");
        suspend::<(), ()>(()).unwrap();
        unreachable!("never resumed");
    });
    holder.start(()).unwrap();
    drop(holder);

    let stats = fibrio::stack::statistics();
    println!(
        "stacks: {} in use, {} pooled for reuse, {} mapped",
        stats.in_use, stats.pooled, stats.mapped
    );
}
