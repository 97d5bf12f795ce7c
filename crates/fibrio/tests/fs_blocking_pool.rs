//! `fibrio::fs`: the `std::fs` API on the blocking pool. 1,000 tasks
//! reading files do not stall a ping task, and `File` reads, writes and
//! seeks like `std::fs::File`.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fibrio-fs-{name}-{}", std::process::id()))
}

#[test]
fn a_thousand_tasks_reading_files_do_not_stall_a_ping_task() {
    let dir = temp_dir("many");
    fibrio::run({
        let dir = dir.clone();
        move || {
            fibrio::fs::create_dir_all(&dir).unwrap();
            for i in 0..50 {
                fibrio::fs::write(
                    dir.join(format!("{i}.txt")),
                    vec![b'a' + (i % 26) as u8; 64 * 1024],
                )
                .unwrap();
            }
            let longest_gap = Rc::new(Cell::new(Duration::ZERO));
            let stop = Rc::new(Cell::new(false));
            let ping = fibrio::spawn({
                let (longest_gap, stop) = (longest_gap.clone(), stop.clone());
                move || {
                    let mut last = Instant::now();
                    while !stop.get() {
                        fibrio::sleep(Duration::from_millis(1));
                        let now = Instant::now();
                        longest_gap.set(longest_gap.get().max(now - last));
                        last = now;
                    }
                }
            });
            let readers: Vec<_> = (0..1000)
                .map(|i| {
                    let path = dir.join(format!("{}.txt", i % 50));
                    fibrio::spawn(move || {
                        let data = fibrio::fs::read(&path).unwrap();
                        assert_eq!(data.len(), 64 * 1024);
                        // (A check of every byte would be CPU work on the
                        // runtime's thread, which is not what this measures.)
                        let expected = b'a' + ((i % 50) % 26) as u8;
                        assert_eq!((data[0], data[data.len() - 1]), (expected, expected));
                    })
                })
                .collect();
            for reader in readers {
                reader.join().unwrap();
            }
            stop.set(true);
            ping.join().unwrap();
            println!("longest gap between pings: {:?}", longest_gap.get());
            assert!(
                longest_gap.get() < Duration::from_millis(250),
                "the ping task was stalled for {:?}",
                longest_gap.get()
            );
            fibrio::fs::remove_dir_all(&dir).unwrap();
        }
    });
}

#[test]
fn files_read_write_and_seek_like_std() {
    let dir = temp_dir("file");
    fibrio::run(move || -> std::io::Result<()> {
        fibrio::fs::create_dir_all(&dir)?;
        let path = dir.join("lines.txt");
        let mut file = fibrio::fs::File::create(&path)?;
        for i in 0..100 {
            writeln!(file, "line {i}")?;
        }
        file.sync_all()?;
        drop(file);
        assert_eq!(
            fibrio::fs::metadata(&path)?.len(),
            fibrio::fs::read(&path)?.len() as u64
        );
        let lines: Vec<String> = BufReader::new(fibrio::fs::File::open(&path)?)
            .lines()
            .collect::<Result<_, _>>()?;
        assert_eq!(lines.len(), 100);
        assert_eq!(lines[42], "line 42");
        let mut file = fibrio::fs::File::open(&path)?;
        file.seek(SeekFrom::Start(5))?;
        let mut two = [0; 2];
        file.read_exact(&mut two)?;
        assert_eq!(&two, b"0\n");
        assert!(fibrio::fs::read_dir(&dir)?.contains(&path));
        let renamed = dir.join("renamed.txt");
        fibrio::fs::rename(&path, &renamed)?;
        fibrio::fs::remove_file(&renamed)?;
        assert_eq!(
            fibrio::fs::read(&renamed).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        fibrio::fs::remove_dir_all(&dir)
    })
    .unwrap();
}
