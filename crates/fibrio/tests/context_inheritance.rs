//! Context variables with real tasks: a child starts with a snapshot of its
//! parent's context taken at spawn time; no write ever reaches a parent or
//! a sibling; `delete_context` reveals inherited values; `all_context(true)`
//! merges every level (PHP AsyncIO merged one); `spawn_blocking`
//! closures see the caller's sendable snapshot; outside tasks the context
//! is per thread. A proptest runs random trees of spawns and writes and
//! checks every observation against a simple model.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use fibrio::context::{
    all_context, clear_context, delete_context, get_context, has_context, set_context,
    set_sendable_context, ContextVar,
};
use fibrio::fiber::{suspend, Fiber};
use proptest::prelude::*;

fn own_keys() -> Vec<String> {
    all_context(false)
        .into_keys()
        .map(|k| k.to_string())
        .collect()
}

fn all_keys() -> Vec<String> {
    all_context(true)
        .into_keys()
        .map(|k| k.to_string())
        .collect()
}

#[test]
fn a_child_starts_with_the_snapshot_taken_at_spawn() {
    fibrio::run(|| {
        set_context("request_id", "req-1");
        let child = fibrio::spawn(|| {
            // The parent changed the value after spawning us, before we ran.
            get_context::<&str>("request_id")
        });
        set_context("request_id", "req-2");
        set_context("later", true);
        let seen = child.join().unwrap();
        assert_eq!(seen, Some("req-1"));
    });
}

#[test]
fn a_parents_later_writes_do_not_reach_running_children() {
    fibrio::run(|| {
        static STEP: ContextVar<u32> = ContextVar::new("step");
        STEP.set(0);
        let child = fibrio::spawn(|| {
            let mut seen = Vec::new();
            for _ in 0..5 {
                seen.push(STEP.get());
                fibrio::yield_now();
            }
            seen
        });
        for step in 1..=5 {
            STEP.set(step);
            fibrio::yield_now();
        }
        assert_eq!(child.join().unwrap(), vec![Some(0); 5]);
        assert_eq!(STEP.get(), Some(5));
    });
}

#[test]
fn child_writes_never_reach_the_parent_or_siblings() {
    fibrio::run(|| {
        set_context("shared", 0);
        let writer = fibrio::spawn(|| {
            set_context("shared", 1);
            set_context("writer_only", true);
            fibrio::sleep(Duration::from_millis(5));
            (get_context::<i32>("shared"), has_context("writer_only"))
        });
        let sibling = fibrio::spawn(|| {
            let mut seen = Vec::new();
            for _ in 0..3 {
                seen.push((get_context::<i32>("shared"), has_context("writer_only")));
                fibrio::sleep(Duration::from_millis(2));
            }
            seen
        });
        assert_eq!(writer.join().unwrap(), (Some(1), true));
        assert_eq!(sibling.join().unwrap(), vec![(Some(0), false); 3]);
        assert_eq!(get_context::<i32>("shared"), Some(0));
        assert!(!has_context("writer_only"));
    });
}

#[test]
fn grandchildren_inherit_through_every_level() {
    fibrio::run(|| {
        set_context("level0", 0);
        set_context("shadowed", 0);
        fibrio::spawn(|| {
            set_context("level1", 1);
            set_context("shadowed", 1);
            fibrio::spawn(|| {
                set_context("level2", 2);
                fibrio::spawn(|| {
                    set_context("level3", 3);
                    assert_eq!(own_keys(), ["level3"]);
                    assert_eq!(
                        all_keys(),
                        ["level0", "level1", "level2", "level3", "shadowed"]
                    );
                    assert_eq!(all_context(true)["shadowed"].get::<i32>(), Some(1));
                })
                .join()
                .unwrap();
                assert_eq!(own_keys(), ["level2"]);
            })
            .join()
            .unwrap();
            assert_eq!(own_keys(), ["level1", "shadowed"]);
        })
        .join()
        .unwrap();
        assert_eq!(all_keys(), ["level0", "shadowed"]);
    });
}

#[test]
fn delete_in_a_task_reveals_the_inherited_value() {
    fibrio::run(|| {
        set_context("user_id", 1);
        fibrio::spawn(|| {
            set_context("user_id", 2);
            fibrio::yield_now();
            assert!(delete_context("user_id"));
            assert_eq!(get_context::<i32>("user_id"), Some(1));
            assert!(
                !delete_context("user_id"),
                "an inherited key is not the task's own"
            );
            assert!(has_context("user_id"));
            set_context("x", 1);
            clear_context();
            assert_eq!(own_keys(), Vec::<String>::new());
            assert_eq!(all_keys(), ["user_id"]);
        })
        .join()
        .unwrap();
        assert_eq!(get_context::<i32>("user_id"), Some(1));
    });
}

#[test]
fn each_task_keeps_its_own_context_across_switches() {
    static ID: ContextVar<usize> = ContextVar::new("id");
    fibrio::run(|| {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                fibrio::spawn(move || {
                    ID.set(i);
                    set_context("name", format!("task-{i}"));
                    for round in 0..10 {
                        if round % 3 == 0 {
                            fibrio::sleep(Duration::from_micros(200));
                        } else {
                            fibrio::yield_now();
                        }
                        assert_eq!(ID.get(), Some(i));
                        assert_eq!(get_context::<String>("name"), Some(format!("task-{i}")));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        assert_eq!(ID.get(), None);
        assert!(!has_context("name"));
    });
}

#[test]
fn scoped_values_survive_suspension_and_are_undone() {
    static MODE: ContextVar<&'static str> = ContextVar::new("mode");
    fibrio::run(|| {
        MODE.set("normal");
        let other = fibrio::spawn(|| {
            MODE.set("other");
            fibrio::sleep(Duration::from_millis(2));
            MODE.get()
        });
        let inside = MODE.scoped("maintenance", || {
            fibrio::sleep(Duration::from_millis(5));
            MODE.get()
        });
        assert_eq!(inside, Some("maintenance"));
        assert_eq!(MODE.get(), Some("normal"));
        assert_eq!(other.join().unwrap(), Some("other"));
    });
}

#[test]
fn the_main_task_inherits_the_threads_context_and_never_writes_it_back() {
    set_context("config", "from-thread");
    let seen = fibrio::run(|| {
        let seen = get_context::<&str>("config");
        set_context("config", "from-main");
        set_context("main_only", 1);
        seen
    });
    assert_eq!(seen, Some("from-thread"));
    assert_eq!(get_context::<&str>("config"), Some("from-thread"));
    assert!(!has_context("main_only"));
}

#[test]
fn outside_tasks_the_context_is_per_thread() {
    set_context("thread", "test-thread");
    let other = std::thread::spawn(|| {
        let inherited = has_context("thread");
        set_context("thread", "other-thread");
        let in_runtime = fibrio::run(|| get_context::<&str>("thread"));
        (inherited, in_runtime)
    });
    assert_eq!(other.join().unwrap(), (false, Some("other-thread")));
    assert_eq!(get_context::<&str>("thread"), Some("test-thread"));
}

#[test]
fn spawn_blocking_sees_the_callers_sendable_snapshot() {
    static TENANT: ContextVar<String> = ContextVar::new_sendable("tenant");
    static LOCAL: ContextVar<Rc<u8>> = ContextVar::new("local");
    fibrio::run(|| {
        TENANT.set("acme".into());
        LOCAL.set(Rc::new(1));
        set_sendable_context("request_id", "req-7".to_string());
        set_context("not_sendable", Rc::new(2));
        let caller_thread = std::thread::current().id();
        let seen = fibrio::spawn_blocking(move || {
            let seen = (
                std::thread::current().id() != caller_thread,
                TENANT.get(),
                get_context::<String>("request_id"),
                has_context("not_sendable"),
                LOCAL.get().is_some(),
                own_keys(),
            );
            // Writes stay in the closure.
            TENANT.set("changed".into());
            set_sendable_context("written_in_pool", 1);
            seen
        })
        .unwrap();
        assert_eq!(
            seen,
            (
                true,
                Some("acme".to_string()),
                Some("req-7".to_string()),
                false,
                false,
                vec![]
            )
        );
        assert_eq!(TENANT.get().as_deref(), Some("acme"));
        assert!(!has_context("written_in_pool"));
        // The pool thread's context was put back: a later job sees only
        // its own caller's snapshot.
        let later = fibrio::spawn(|| {
            set_sendable_context("request_id", "req-8".to_string());
            fibrio::spawn_blocking(|| {
                (
                    all_keys(),
                    get_context::<String>("request_id"),
                    TENANT.get(),
                )
            })
            .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(
            later,
            (
                vec!["request_id".to_string()],
                Some("req-8".to_string()),
                Some("acme".to_string())
            )
        );
    });
}

#[test]
fn spawn_blocking_outside_a_task_behaves_the_same() {
    set_sendable_context("shared", 1);
    set_context("local", 2);
    let seen = fibrio::spawn_blocking(|| {
        let seen = (get_context::<i32>("shared"), has_context("local"));
        set_sendable_context("shared", 3);
        seen
    })
    .unwrap();
    assert_eq!(seen, (Some(1), false));
    assert_eq!(get_context::<i32>("shared"), Some(1));
}

#[test]
fn fibers_inside_a_task_share_the_tasks_context() {
    fibrio::run(|| {
        set_context("task", "main");
        let fiber: Fiber<(), (), Option<&str>> = Fiber::new(|()| {
            set_context("from_fiber", true);
            suspend::<(), ()>(()).unwrap();
            get_context::<&str>("task")
        });
        fiber.start(()).unwrap();
        assert!(has_context("from_fiber"));
        set_context("task", "changed");
        fiber.resume(()).unwrap();
        assert_eq!(fiber.get_return().unwrap(), Some("changed"));
    });
}

#[test]
fn a_finished_tasks_context_is_dropped_at_once() {
    fibrio::run(|| {
        let value = Rc::new(());
        let in_task = value.clone();
        let handle = fibrio::spawn(move || set_context("held", in_task));
        fibrio::yield_now();
        assert!(handle.state().is_terminal());
        // The handle is still alive, but the task's context is gone.
        assert_eq!(Rc::strong_count(&value), 1);
        handle.join().unwrap();

        let value2 = Rc::new(());
        set_context("inherited", value2.clone());
        let cancelled = fibrio::spawn(|| {});
        cancelled.cancel();
        fibrio::yield_now();
        assert!(cancelled.state().is_terminal());
        assert_eq!(
            Rc::strong_count(&value2),
            2,
            "only the parent's context holds it"
        );
    });
}

// ---------------------------------------------------------------------------
// A random tree of spawns and writes against a model.

const KEYS: [&str; 3] = ["a", "b", "c"];
static VAR: ContextVar<i32> = ContextVar::new_sendable("var");

#[derive(Clone, Debug)]
enum Step {
    Set {
        key: usize,
        value: i32,
        sendable: bool,
    },
    Delete(usize),
    Clear,
    SetVar(i32),
    Yield,
    Sleep,
    Observe,
    Blocking,
    Spawn(Program),
    JoinAll,
}

#[derive(Clone, Debug, Default)]
struct Program(Vec<Step>);

/// What a task (or its blocking closure) saw at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Observation {
    Task {
        visible: BTreeMap<usize, (i32, bool)>,
        own: BTreeMap<usize, (i32, bool)>,
        var: Option<i32>,
    },
    Blocking {
        visible: BTreeMap<usize, i32>,
        var: Option<i32>,
    },
}

type Log = BTreeMap<Vec<usize>, Vec<Observation>>;

fn leaf_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..KEYS.len(), -50..50i32, any::<bool>())
            .prop_map(|(key, value, sendable)| Step::Set { key, value, sendable }),
        2 => (0..KEYS.len()).prop_map(Step::Delete),
        1 => Just(Step::Clear),
        2 => (-50..50i32).prop_map(Step::SetVar),
        2 => Just(Step::Yield),
        1 => Just(Step::Sleep),
        3 => Just(Step::Observe),
        1 => Just(Step::Blocking),
        1 => Just(Step::JoinAll),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    let leaf = proptest::collection::vec(leaf_step(), 0..6).prop_map(Program);
    leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::vec(
            prop_oneof![3 => leaf_step(), 1 => inner.prop_map(Step::Spawn)],
            0..8,
        )
        .prop_map(Program)
    })
}

fn observe_task() -> Observation {
    let convert = |include_inherited| {
        all_context(include_inherited)
            .into_iter()
            .map(|(key, value)| {
                let index = KEYS.iter().position(|k| **k == *key).unwrap();
                (index, (value.get::<i32>().unwrap(), value.is_sendable()))
            })
            .collect()
    };
    Observation::Task {
        visible: convert(true),
        own: convert(false),
        var: VAR.get(),
    }
}

fn observe_blocking() -> Observation {
    Observation::Blocking {
        visible: all_context(true)
            .into_iter()
            .map(|(key, value)| {
                let index = KEYS.iter().position(|k| **k == *key).unwrap();
                (index, value.get::<i32>().unwrap())
            })
            .collect(),
        var: VAR.get(),
    }
}

/// Runs `program` as the current task, recording what it sees under `path`.
fn run_program(program: Program, path: Vec<usize>, log: Rc<RefCell<Log>>) {
    let mut children = Vec::new();
    let record = |observation| {
        log.borrow_mut()
            .entry(path.clone())
            .or_default()
            .push(observation)
    };
    for (index, step) in program.0.into_iter().enumerate() {
        match step {
            Step::Set {
                key,
                value,
                sendable: true,
            } => set_sendable_context(KEYS[key], value),
            Step::Set { key, value, .. } => set_context(KEYS[key], value),
            Step::Delete(key) => {
                delete_context(KEYS[key]);
            }
            Step::Clear => clear_context(),
            Step::SetVar(value) => {
                VAR.set(value);
            }
            Step::Yield => fibrio::yield_now(),
            Step::Sleep => fibrio::sleep(Duration::from_micros(100)),
            Step::Observe => record(observe_task()),
            Step::Blocking => record(fibrio::spawn_blocking(observe_blocking).unwrap()),
            Step::Spawn(child) => {
                let mut child_path = path.clone();
                child_path.push(index);
                let log = log.clone();
                children.push(fibrio::spawn(move || run_program(child, child_path, log)));
            }
            Step::JoinAll => {
                for child in children.drain(..) {
                    child.join().unwrap();
                }
            }
        }
    }
    for child in children {
        child.join().unwrap();
    }
    record(observe_task());
}

/// The model: a context is the list of every level it can see, oldest
/// first, each copied when the task was spawned; the last one is its own.
#[derive(Clone, Debug, Default)]
struct ModelContext {
    levels: Vec<BTreeMap<usize, (i32, bool)>>,
    var_levels: Vec<Option<i32>>,
}

impl ModelContext {
    fn child(&self) -> ModelContext {
        let mut child = self.clone();
        child.levels.push(BTreeMap::new());
        child.var_levels.push(None);
        child
    }

    fn own(&mut self) -> &mut BTreeMap<usize, (i32, bool)> {
        self.levels.last_mut().unwrap()
    }

    fn visible(&self) -> BTreeMap<usize, (i32, bool)> {
        let mut visible = BTreeMap::new();
        for level in &self.levels {
            visible.extend(level.iter().map(|(k, v)| (*k, *v)));
        }
        visible
    }

    fn var(&self) -> Option<i32> {
        self.var_levels.iter().rev().find_map(|v| *v)
    }

    fn observe(&self) -> Observation {
        Observation::Task {
            visible: self.visible(),
            own: self.levels.last().unwrap().clone(),
            var: self.var(),
        }
    }
}

fn model_program(program: &Program, path: Vec<usize>, mut context: ModelContext, log: &mut Log) {
    let record =
        |log: &mut Log, observation| log.entry(path.clone()).or_default().push(observation);
    for (index, step) in program.0.iter().enumerate() {
        match step {
            Step::Set {
                key,
                value,
                sendable,
            } => {
                context.own().insert(*key, (*value, *sendable));
            }
            Step::Delete(key) => {
                context.own().remove(key);
            }
            Step::Clear => context.own().clear(),
            Step::SetVar(value) => *context.var_levels.last_mut().unwrap() = Some(*value),
            Step::Yield | Step::Sleep | Step::JoinAll => {}
            Step::Observe => record(log, context.observe()),
            Step::Blocking => {
                let visible = context
                    .visible()
                    .into_iter()
                    .filter(|(_, (_, sendable))| *sendable)
                    .map(|(k, (v, _))| (k, v))
                    .collect();
                record(
                    log,
                    Observation::Blocking {
                        visible,
                        var: context.var(),
                    },
                );
            }
            Step::Spawn(child) => {
                let mut child_path = path.clone();
                child_path.push(index);
                model_program(child, child_path, context.child(), log);
            }
        }
    }
    record(log, context.observe());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_spawn_trees_match_the_model(program in program()) {
        let log = Rc::new(RefCell::new(Log::new()));
        {
            let program = program.clone();
            let log = log.clone();
            fibrio::run(move || run_program(program, Vec::new(), log));
        }
        let mut expected = Log::new();
        model_program(&program, Vec::new(), ModelContext::default().child(), &mut expected);
        prop_assert_eq!(&*log.borrow(), &expected);
        // Nothing leaked into the test thread's own context either.
        prop_assert!(all_context(true).is_empty());
        prop_assert_eq!(VAR.get(), None);
    }
}
