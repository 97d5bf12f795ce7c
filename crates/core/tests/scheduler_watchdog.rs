//! The watchdog warns, through `log`, about a task that runs too long
//! without parking, naming it; it stays quiet about well-behaved tasks.

use std::sync::Mutex;
use std::time::Duration;

use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task;

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn watchdog_names_a_task_that_blocks_the_thread() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let config = SchedulerConfig {
        watchdog: Some(Duration::from_millis(20)),
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
        .block_on(|| {
            for _ in 0..5 {
                task::Builder::new()
                    .name("polite")
                    .spawn(task::yield_now)
                    .unwrap()
                    .join()
                    .unwrap();
            }
            task::Builder::new()
                .name("blocker")
                .spawn(|| std::thread::sleep(Duration::from_millis(200)))
                .unwrap()
                .join()
                .unwrap();
        })
        .unwrap();
    let warnings = WARNINGS.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("'blocker'"), "{warnings:?}");
    assert!(warnings[0].contains("without parking"), "{warnings:?}");
}
