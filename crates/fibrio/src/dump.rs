//! Task dumps: [`dump`] inside a runtime, [`Handle::dump`](crate::Handle::dump)
//! from any thread. See [`TaskDump`] for what a dump holds and
//! `docs/operations.md` ("Task dumps") for a sample.
//!
//! Invariant: a dump changes no task. Without stacks it reads the task
//! records; with stacks each suspended task is resumed into a capture mode
//! that records its backtrace and suspends again, running none of its code.

pub use fibrio_core::scheduler::{
    dump, dump_with_stacks, DeadlockAction, DumpError, DumpOptions, SpawnLocation, TaskDump,
    TaskInfo, TaskStatus,
};

/// Prints the dump (with stacks) of the runtime behind `handle` to stderr
/// on every SIGQUIT, from a thread of its own, until dropped
/// ([`Builder::dump_on_sigquit`](crate::Builder::dump_on_sigquit)).
pub(crate) struct SigquitDumps {
    signals: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SigquitDumps {
    /// Starts watching; `None` (said on stderr) if SIGQUIT cannot be
    /// handled or the thread cannot start: the runtime runs without it.
    pub(crate) fn start(handle: crate::Handle) -> Option<SigquitDumps> {
        let started = signal_hook::iterator::Signals::new([signal_hook::consts::SIGQUIT]).and_then(
            |mut signals| {
                let close = signals.handle();
                let thread = std::thread::Builder::new()
                    .name("fibrio-sigquit".into())
                    .spawn(move || {
                        let options = DumpOptions::new()
                            .stacks(true)
                            .deadline(std::time::Duration::from_secs(2));
                        for _ in signals.forever() {
                            // Straight to fd 2 (not `eprintln!`, which a
                            // test harness may capture).
                            let text = match handle.dump_with(options) {
                                Ok(dump) => format!("{dump}\n"),
                                Err(err) => format!("fibrio: SIGQUIT: no task dump: {err}\n"),
                            };
                            let _ = std::io::Write::write_all(
                                &mut std::io::stderr().lock(),
                                text.as_bytes(),
                            );
                        }
                    })?;
                Ok(SigquitDumps {
                    signals: close,
                    thread: Some(thread),
                })
            },
        );
        started
            .map_err(|err| eprintln!("fibrio: cannot print task dumps on SIGQUIT: {err}"))
            .ok()
    }
}

impl Drop for SigquitDumps {
    fn drop(&mut self) {
        self.signals.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
