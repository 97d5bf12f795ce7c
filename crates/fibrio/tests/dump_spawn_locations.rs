//! Where a task was spawned, as a dump shows it: the user's own file and
//! line for every way of spawning (`fibrio::spawn`, `Builder::spawn`,
//! `TaskGroup::spawn`/`spawn_with`, `TaskGroupHandle::spawn`/`spawn_with`,
//! `JoinSet::spawn`/`spawn_with`), never a line inside fibrio, and in the
//! text dump too.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use fibrio::task::Builder;
use fibrio::{JoinSet, SpawnLocation, TaskDump, TaskGroup};

/// The spawn location of each task of `dump`, by id.
fn locations(dump: &TaskDump) -> HashMap<u64, SpawnLocation> {
    dump.tasks
        .iter()
        .filter_map(|task| Some((task.id, task.spawned_at?)))
        .collect()
}

/// Asserts that task `id` was spawned at `line` of this file.
fn assert_spawned_here(dump: &TaskDump, id: u64, line: u32, how: &str) {
    let at = locations(dump)
        .get(&id)
        .copied()
        .unwrap_or_else(|| panic!("{how}: task {id} has no spawn location in\n{dump}"));
    assert!(
        at.file.ends_with("dump_spawn_locations.rs"),
        "{how}: spawned at {at}, inside fibrio instead of this test"
    );
    assert_eq!(at.line, line, "{how}: spawned at {at}");
}

/// A task that stays parked until the dump is taken.
fn park() {
    fibrio::sleep(std::time::Duration::from_secs(3600));
}

/// A child that stays parked (sleeping) until `done` is set.
fn park_until(done: &Rc<Cell<bool>>) -> impl FnOnce() + 'static {
    let done = done.clone();
    move || {
        while !done.get() {
            fibrio::sleep(std::time::Duration::from_millis(1));
        }
    }
}

#[test]
fn task_group_children_show_the_callers_line() {
    fibrio::run(|| {
        let done = Rc::new(Cell::new(false));
        // The checks run after `scope`, which would turn a failed assert in
        // its body into an error value.
        let (dump, spawned) = TaskGroup::scope(|group| {
            let handle = group.handle();
            #[rustfmt::skip]
            let spawned = [
                (group.spawn(park_until(&done)).id(), line!(), "TaskGroup::spawn"),
                (group.spawn_with(Builder::new().name("with"), park_until(&done)).unwrap().id(), line!(), "TaskGroup::spawn_with"),
                (handle.spawn(park_until(&done)).unwrap().id(), line!(), "TaskGroupHandle::spawn"),
                (handle.spawn_with(Builder::new(), park_until(&done)).unwrap().id(), line!(), "TaskGroupHandle::spawn_with"),
            ];
            fibrio::yield_now();
            let dump = fibrio::dump();
            done.set(true);
            (dump, spawned)
        })
        .unwrap();
        for (id, line, how) in spawned {
            assert_spawned_here(&dump, id, line, how);
        }
        // The text dump names the same place.
        let text = dump.to_string();
        let (_, first_line, _) = spawned[0];
        assert!(
            text.contains(&format!("dump_spawn_locations.rs:{first_line}:")),
            "{text}"
        );
    });
}

#[test]
fn join_set_tasks_show_the_callers_line() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        let plain = fibrio::spawn(park);
        let plain_line = line!() - 1;
        let built = Builder::new().spawn(park).unwrap();
        let built_line = line!() - 1;
        #[rustfmt::skip]
        let spawned = [
            (set.spawn(park).id(), line!(), "JoinSet::spawn"),
            (set.spawn_with(Builder::new().name("with"), park).unwrap().id(), line!(), "JoinSet::spawn_with"),
            (plain.id(), plain_line, "fibrio::spawn"),
            (built.id(), built_line, "Builder::spawn"),
        ];
        fibrio::yield_now();
        let dump = fibrio::dump();
        for (id, line, how) in spawned {
            assert_spawned_here(&dump, id, line, how);
        }
        set.shutdown();
        plain.cancel();
        built.cancel();
    });
}
