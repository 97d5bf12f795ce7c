//! The API of `fibrio-context` on plain threads: typed variables and their
//! tokens, the string-keyed helpers, snapshots and their isolation, the
//! thread-crossing form, per-thread contexts, and re-entrancy from values'
//! `Clone` and `Drop`.

use std::cell::Cell;
use std::rc::Rc;

use fibrio_context::{
    all_context, clear_context, delete_context, get_context, has_context, set_context,
    set_sendable_context, swap_current, Context, ContextVar, ResetError, SendableContext,
};

fn keys(include_inherited: bool) -> Vec<String> {
    all_context(include_inherited)
        .into_keys()
        .map(|k| k.to_string())
        .collect()
}

#[test]
fn var_get_set_reset_restores_previous_values_in_order() {
    let var = ContextVar::<String>::new("v");
    assert_eq!(var.get(), None);
    let t1 = var.set("one".into());
    let t2 = var.set("two".into());
    let t3 = var.set("three".into());
    assert_eq!(var.get().as_deref(), Some("three"));
    var.reset(t3).unwrap();
    assert_eq!(var.get().as_deref(), Some("two"));
    var.reset(t2).unwrap();
    assert_eq!(var.get().as_deref(), Some("one"));
    var.reset(t1).unwrap();
    assert_eq!(var.get(), None);
}

#[test]
fn var_reset_reveals_the_inherited_value() {
    let var = ContextVar::<i32>::new("v");
    var.set(1);
    Context::current_snapshot().run(|| {
        let token = var.set(2);
        assert_eq!(var.get(), Some(2));
        var.reset(token).unwrap();
        assert_eq!(var.get(), Some(1));
    });
}

#[test]
fn var_reset_refuses_other_variables_and_contexts() {
    let a = ContextVar::<i32>::new("same");
    let b = ContextVar::<i32>::new("same");
    let token = a.set(1);
    assert_eq!(b.reset(token), Err(ResetError::OtherVariable));
    assert_eq!(a.get(), Some(1));

    let mut other = Context::new();
    let token = other.run(|| a.set(2));
    assert_eq!(a.reset(token), Err(ResetError::OtherContext));
    assert_eq!(a.get(), Some(1));

    // A token made here and reset inside a child context is refused too.
    let token = a.set(3);
    let mut child = Context::current_snapshot();
    child.run(|| a.set(5));
    assert_eq!(
        child.run(|| a.reset(token)),
        Err(ResetError::OtherContext),
        "a token is tied to the context it was made in"
    );
    assert_eq!(a.get(), Some(3));
}

#[test]
fn vars_with_the_same_name_are_distinct() {
    let a = ContextVar::<i32>::new("x");
    let b = ContextVar::<i32>::new("x");
    a.set(1);
    assert_eq!(b.get(), None);
    b.set(2);
    assert_eq!(a.get(), Some(1));
    assert_eq!(b.get(), Some(2));
}

#[test]
fn typed_and_string_keys_do_not_collide() {
    let var = ContextVar::<i32>::new("shared_name");
    var.set(1);
    assert!(!has_context("shared_name"));
    set_context("shared_name", 2);
    assert_eq!(var.get(), Some(1));
    assert_eq!(get_context::<i32>("shared_name"), Some(2));
    clear_context();
    assert_eq!(
        var.get(),
        Some(1),
        "clear_context leaves typed variables alone"
    );
    assert!(all_context(true).is_empty());
}

#[test]
fn static_vars_work_and_get_ids_lazily() {
    static A: ContextVar<u8> = ContextVar::new("a");
    static B: ContextVar<u8> = ContextVar::new_sendable("b");
    A.set(1);
    B.set(2);
    assert_eq!((A.get(), B.get()), (Some(1), Some(2)));
    assert_eq!(format!("{A:?}"), r#"ContextVar { name: "a", type: "u8" }"#);
}

#[test]
fn scoped_undoes_its_write_even_on_panic() {
    let var = ContextVar::<i32>::new("v");
    var.set(1);
    assert_eq!(var.scoped(2, || var.get()), Some(2));
    assert_eq!(var.get(), Some(1));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        var.scoped(3, || panic!("inside scoped"))
    }));
    assert!(caught.is_err());
    assert_eq!(var.get(), Some(1));
}

#[test]
fn get_context_of_another_type_is_none() {
    set_context("k", 5u32);
    assert_eq!(get_context::<u32>("k"), Some(5));
    assert_eq!(get_context::<i32>("k"), None);
    assert_eq!(get_context::<String>("k"), None);
    assert!(has_context("k"));
}

#[test]
fn delete_reveals_inherited_and_leaves_inherited_only_keys() {
    set_context("a", "parent-a");
    set_context("b", "parent-b");
    Context::current_snapshot().run(|| {
        set_context("a", "child-a");
        set_context("c", "child-c");
        assert!(delete_context("a"));
        assert_eq!(get_context::<&str>("a"), Some("parent-a"));
        assert!(delete_context("c"));
        assert!(!has_context("c"));
        assert!(!delete_context("b"), "not the child's own");
        assert_eq!(get_context::<&str>("b"), Some("parent-b"));
        assert!(!delete_context("missing"));
    });
}

#[test]
fn all_context_own_and_merged_over_three_levels() {
    set_context("root", 0);
    set_context("shadowed", 0);
    let mut level1 = Context::current_snapshot();
    level1.run(|| {
        set_context("one", 1);
        set_context("shadowed", 1);
    });
    let mut level2 = level1.snapshot();
    level2.run(|| {
        set_context("two", 2);
        assert_eq!(keys(false), ["two"]);
        assert_eq!(keys(true), ["one", "root", "shadowed", "two"]);
        let all = all_context(true);
        assert_eq!(all["shadowed"].get::<i32>(), Some(1));
        assert_eq!(all["root"].get::<i32>(), Some(0));
    });
    level1.run(|| assert_eq!(keys(true), ["one", "root", "shadowed"]));
}

#[test]
fn clear_context_reveals_inherited_values() {
    set_context("a", 1);
    Context::current_snapshot().run(|| {
        set_context("a", 2);
        set_context("b", 3);
        clear_context();
        assert_eq!(keys(false), Vec::<String>::new());
        assert_eq!(keys(true), ["a"]);
        assert_eq!(get_context::<i32>("a"), Some(1));
        clear_context(); // nothing left to clear
        set_context("c", 4);
        assert_eq!(keys(false), ["c"]);
    });
}

#[test]
fn snapshot_is_taken_once_and_isolated_both_ways() {
    set_context("k", 1);
    let mut child = Context::current_snapshot();
    let mut sibling = Context::current_snapshot();
    set_context("k", 2); // parent's later write
    child.run(|| {
        assert_eq!(get_context::<i32>("k"), Some(1));
        set_context("k", 10);
        set_context("child_only", true);
    });
    sibling.run(|| {
        assert_eq!(get_context::<i32>("k"), Some(1));
        assert!(!has_context("child_only"));
    });
    assert_eq!(get_context::<i32>("k"), Some(2));
    assert!(!has_context("child_only"));
    child.run(|| assert_eq!(get_context::<i32>("k"), Some(10)));
}

#[test]
fn many_variables_snapshot_shares_maps() {
    for i in 0..1000 {
        set_context(format!("k{i}"), i);
    }
    let snapshots: Vec<Context> = (0..1000).map(|_| Context::current_snapshot()).collect();
    let mut last = snapshots.into_iter().last().unwrap();
    last.run(|| {
        assert_eq!(get_context::<i32>("k999"), Some(999));
        assert_eq!(all_context(true).len(), 1000);
    });
}

#[test]
fn swap_current_exchanges_whole_contexts() {
    set_context("who", "thread");
    let mut task = Context::new();
    task.run(|| set_context("who", "task"));
    let thread = swap_current(task);
    assert_eq!(get_context::<&str>("who"), Some("task"));
    let task = swap_current(thread);
    assert_eq!(get_context::<&str>("who"), Some("thread"));
    assert!(!task.is_empty());
    assert!(format!("{task:?}").contains("\"who\""));
}

#[test]
fn outside_tasks_the_context_is_per_thread() {
    set_context("main_thread", 1);
    let var = std::sync::Arc::new(ContextVar::<i32>::new_sendable("v"));
    var.set(1);
    let other = {
        let var = var.clone();
        std::thread::spawn(move || {
            let before = (has_context("main_thread"), var.get());
            set_context("other_thread", 2);
            var.set(2);
            (before, var.get())
        })
    };
    let ((had_main, saw_var), own_var) = other.join().unwrap();
    assert!(!had_main);
    assert_eq!(saw_var, None);
    assert_eq!(own_var, Some(2));
    assert!(!has_context("other_thread"));
    assert_eq!(var.get(), Some(1));
}

#[test]
fn sendable_context_carries_only_sendable_values() {
    static LOCAL: ContextVar<Rc<i32>> = ContextVar::new("local");
    static SHARED: ContextVar<String> = ContextVar::new_sendable("shared");
    LOCAL.set(Rc::new(1));
    SHARED.set("s".into());
    set_context("local_key", Rc::new(2));
    set_sendable_context("shared_key", 3u64);
    let carried = SendableContext::capture();
    assert_eq!(carried.len(), 2);
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    assert_send_sync(&carried);
    let seen = std::thread::spawn(move || {
        let mut context = carried.into_context();
        context.run(|| {
            let seen = (
                LOCAL.get().is_some(),
                SHARED.get(),
                has_context("local_key"),
                get_context::<u64>("shared_key"),
                keys(false).len(),
            );
            set_sendable_context("written_there", 1);
            seen
        })
    })
    .join()
    .unwrap();
    assert_eq!(seen, (false, Some("s".to_string()), false, Some(3), 0));
    assert!(!has_context("written_there"));
}

#[test]
fn sendable_values_are_shared_not_cloned() {
    #[derive(Debug)]
    struct NoisyClone(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Clone for NoisyClone {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            NoisyClone(self.0.clone())
        }
    }
    let clones = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    set_sendable_context("noisy", NoisyClone(clones.clone()));
    let carried = SendableContext::capture();
    std::thread::spawn(move || drop(carried.into_context()))
        .join()
        .unwrap();
    assert_eq!(clones.load(std::sync::atomic::Ordering::SeqCst), 0);
}

thread_local! {
    static DROPS: Cell<u32> = const { Cell::new(0) };
}

/// A value whose `Drop` and `Clone` use the context themselves.
struct Reentrant;

impl Clone for Reentrant {
    fn clone(&self) -> Self {
        set_context("cloned", true);
        let _ = get_context::<i32>("anything");
        Reentrant
    }
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
        set_context("dropped", DROPS.with(Cell::get));
        let _ = all_context(true);
    }
}

#[test]
fn values_may_use_the_context_from_clone_and_drop() {
    set_context("r", Reentrant);
    assert!(get_context::<Reentrant>("r").is_some()); // clone + drop of the copy
    set_context("r", 1); // drops the stored Reentrant
    set_context("r", Reentrant);
    assert!(delete_context("r"));
    set_context("r", Reentrant);
    clear_context();
    let var = ContextVar::<Reentrant>::new("var");
    let token = var.set(Reentrant);
    let _ = var.get();
    var.reset(token).unwrap();
    let mut context = Context::new();
    context.run(|| set_context("r", Reentrant));
    drop(context);
    assert!(DROPS.with(Cell::get) >= 6);
}
