//! `max_tasks` under load: a server whose connections each need a task
//! refuses the spawns over the limit with `SpawnError::TooManyTasks` (an
//! error, never a crash), answers those connections `busy` from the accept
//! loop, keeps serving the others, serves normally once the load is gone,
//! and still shuts down on request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::time::Duration;

use fibrio::net::TcpListener;
use fibrio::task::{Builder, SpawnError};
use fibrio::Runtime;

const LIMIT: usize = 8;
const CLIENTS: usize = 64;

fn ask(addr: std::net::SocketAddr) -> String {
    let mut stream = StdStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(b"hello\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn spawns_over_max_tasks_are_errors_and_the_server_keeps_serving() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        Runtime::builder()
            .max_tasks(LIMIT)
            .shutdown_grace(Duration::from_secs(30))
            .build()
            .unwrap()
            .run(move || {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send((
                    listener.local_addr().unwrap(),
                    fibrio::shutdown::current().unwrap(),
                ))
                .unwrap();
                let (mut served, mut refused) = (0usize, 0usize);
                for stream in listener.incoming() {
                    let stream = stream.unwrap();
                    let handler = stream.try_clone().unwrap();
                    let spawned = Builder::new().spawn(move || {
                        let mut line = String::new();
                        BufReader::new(&handler).read_line(&mut line).unwrap();
                        fibrio::sleep(Duration::from_millis(20)); // hold the task
                        let _ = (&handler).write_all(b"ok\n");
                    });
                    match spawned {
                        Ok(_) => served += 1,
                        Err(err) => {
                            assert!(
                                matches!(err, SpawnError::TooManyTasks { limit: LIMIT }),
                                "{err}"
                            );
                            assert!(err.to_string().contains("max_tasks"), "{err}");
                            refused += 1;
                            // Read the request first, so closing sends no reset.
                            let mut line = String::new();
                            let _ = BufReader::new(&stream).read_line(&mut line);
                            let _ = (&stream).write_all(b"busy\n");
                        }
                    }
                }
                (served, refused)
            })
    });
    let (addr, shutdown) = rx.recv().unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::thread::spawn(move || ask(addr)))
        .collect();
    let answers: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        answers.iter().all(|a| a == "ok\n" || a == "busy\n"),
        "{answers:?}"
    );
    let ok = answers.iter().filter(|a| *a == "ok\n").count();
    assert!(ok > 0, "some connections were served under load");
    // The load is gone: the next connections are served again.
    for _ in 0..3 {
        assert_eq!(ask(addr), "ok\n");
    }
    shutdown.request();
    let (served, refused) = server.join().unwrap();
    assert_eq!(served, ok + 3);
    assert_eq!(refused, CLIENTS - ok);
    println!("{CLIENTS} clients at once, max_tasks {LIMIT}: {ok} served, {refused} refused");
}
