//! Synchronous std code works unchanged over `fibrio::net`: a line protocol
//! with `BufReader::lines` and `writeln!`, on a reader task and a writer
//! task sharing one stream through `&TcpStream`.

use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;

use fibrio::net::{TcpListener, TcpStream};

#[test]
fn a_bufreader_line_protocol_runs_over_fibrio_streams() {
    let replies = fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Server: uppercase each line until QUIT, using plain std APIs.
        let server = fibrio::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = &stream;
            for line in BufReader::new(&stream).lines() {
                let line = line.unwrap();
                if line == "QUIT" {
                    writeln!(out, "BYE").unwrap();
                    break;
                }
                writeln!(out, "{}", line.to_uppercase()).unwrap();
            }
        });
        // Client: one task writes, another reads, over the same stream.
        let stream = Rc::new(TcpStream::connect(addr).unwrap());
        let writer = {
            let stream = stream.clone();
            fibrio::spawn(move || {
                let mut out = &*stream;
                for word in ["alpha", "beta", "gamma"] {
                    writeln!(out, "{word}").unwrap();
                    fibrio::yield_now();
                }
                writeln!(out, "QUIT").unwrap();
            })
        };
        let replies: Vec<String> = BufReader::new(&*stream)
            .lines()
            .map(Result::unwrap)
            .take_while(|line| line != "BYE")
            .collect();
        writer.join().unwrap();
        server.join().unwrap();
        replies
    });
    assert_eq!(replies, ["ALPHA", "BETA", "GAMMA"]);
}
