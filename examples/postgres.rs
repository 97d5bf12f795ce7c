//! A fiber-per-request HTTP endpoint backed by PostgreSQL: plain
//! blocking-style handlers that read and write rows with `tokio-postgres`
//! (no tokio runtime: its runtime feature is off), through the futures
//! bridge `fibrio::compat`.
//!
//! * Each connection to PostgreSQL is a `fibrio::net::TcpStream` handed to
//!   `tokio_postgres::Config::connect_raw` (fibrio's `tokio-io` feature
//!   gives the stream tokio's I/O traits); its `Connection` future runs
//!   as a fibrio task (`compat::spawn_future`), and a handler waits for a
//!   query with `compat::block_on`, which parks only its own task.
//! * A few connections are shared by all handlers, round robin:
//!   tokio-postgres pipelines the queries of the tasks that share one.
//! * HTTP: one task per connection, requests parsed with `httparse`, one
//!   request per connection (`Connection: close`).
//!
//! Routes:
//!
//! * `POST /notes` with a text body stores a note; answers `201` and
//!   `{"id": N}`.
//! * `GET /notes` answers every note as a JSON array of `{"id", "body"}`.
//! * `GET /notes/N` answers one note, or `404`.
//!
//! Run it against a PostgreSQL server (the table `notes` is created if
//! missing):
//!
//! ```text
//! cargo run --example postgres --features postgres -- \
//!     --addr 127.0.0.1:8080 --pg 127.0.0.1:5432 --user postgres --password secret --dbname postgres
//! curl -d 'buy milk' http://127.0.0.1:8080/notes
//! curl http://127.0.0.1:8080/notes
//! ```
//!
//! It prints `listening on http://ADDR` once it serves (with `--addr
//! 127.0.0.1:0`, ADDR has the port chosen). examples/tests/postgres_example.rs
//! runs it against a private PostgreSQL server.

use std::io::{Read, Write};
use std::rc::Rc;

use fibrio::compat::{block_on, spawn_future};
use fibrio::net::{TcpListener, TcpStream};
use tokio_postgres::{Client, NoTls};

type BoxError = Box<dyn std::error::Error>;

/// The command line.
struct Args {
    addr: String,
    pg: String,
    user: String,
    password: String,
    dbname: String,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
        pg: "127.0.0.1:5432".into(),
        user: "postgres".into(),
        password: String::new(),
        dbname: "postgres".into(),
        connections: 4,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--pg" => args.pg = value,
            "--user" => args.user = value,
            "--password" => args.password = value,
            "--dbname" => args.dbname = value,
            "--connections" => args.connections = value.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Connects to PostgreSQL over a fibrio socket; the connection is driven
/// by a task of its own.
fn connect(args: &Args) -> Result<Client, BoxError> {
    let stream = TcpStream::connect(args.pg.as_str())?;
    stream.set_nodelay(true)?;
    let mut config = tokio_postgres::Config::new();
    config
        .user(&args.user)
        .password(&args.password)
        .dbname(&args.dbname);
    let (client, connection) = block_on(config.connect_raw(stream, NoTls))?;
    spawn_future(async move {
        if let Err(err) = connection.await {
            eprintln!("postgres connection closed: {err}");
        }
    });
    Ok(client)
}

/// The database connections, handed out round robin.
struct Db {
    clients: Vec<Client>,
    next: std::cell::Cell<usize>,
}

impl Db {
    fn client(&self) -> &Client {
        let i = self.next.get();
        self.next.set((i + 1) % self.clients.len());
        &self.clients[i]
    }
}

/// A parsed request: method, path, body.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads one request: the head parsed by `httparse`, then a
/// `Content-Length` body.
fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, BoxError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = request.parse(&buf)? else {
            if buf.len() > 64 * 1024 {
                return Err("request head too large".into());
            }
            continue;
        };
        let length = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| {
                std::str::from_utf8(h.value)?
                    .trim()
                    .parse::<usize>()
                    .map_err(BoxError::from)
            })
            .transpose()?
            .unwrap_or(0);
        if length > 1 << 20 {
            return Err("body too large".into());
        }
        let (method, path) = (
            request.method.unwrap_or("").to_owned(),
            request.path.unwrap_or("").to_owned(),
        );
        let mut body = buf.split_off(head_len);
        while body.len() < length {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err("the client closed mid-body".into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(length);
        return Ok(Some(Request { method, path, body }));
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &serde_json::Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Answers one request: blocking-style code, each query parking only this
/// task.
fn handle(db: &Db, request: &Request) -> Result<(&'static str, serde_json::Value), BoxError> {
    let client = db.client();
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    Ok(match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["notes"]) => {
            let body = String::from_utf8(request.body.clone())?;
            let row = block_on(client.query_one(
                "INSERT INTO notes (body) VALUES ($1) RETURNING id",
                &[&body],
            ))?;
            let id: i32 = row.get(0);
            ("201 Created", serde_json::json!({ "id": id }))
        }
        ("GET", ["notes"]) => {
            let rows = block_on(client.query("SELECT id, body FROM notes ORDER BY id", &[]))?;
            let notes: Vec<_> = rows
                .iter()
                .map(|row| serde_json::json!({ "id": row.get::<_, i32>(0), "body": row.get::<_, String>(1) }))
                .collect();
            ("200 OK", serde_json::Value::from(notes))
        }
        ("GET", ["notes", id]) => {
            let Ok(id) = id.parse::<i32>() else {
                return Ok(("400 Bad Request", serde_json::json!({ "error": "bad id" })));
            };
            match block_on(client.query_opt("SELECT body FROM notes WHERE id = $1", &[&id]))? {
                Some(row) => (
                    "200 OK",
                    serde_json::json!({ "id": id, "body": row.get::<_, String>(0) }),
                ),
                None => (
                    "404 Not Found",
                    serde_json::json!({ "error": "no such note" }),
                ),
            }
        }
        _ => (
            "404 Not Found",
            serde_json::json!({ "error": "no such route" }),
        ),
    })
}

fn serve_connection(db: &Db, mut stream: TcpStream) -> Result<(), BoxError> {
    let Some(request) = read_request(&mut stream)? else {
        return Ok(());
    };
    let (status, body) = match handle(db, &request) {
        Ok(answer) => answer,
        Err(err) => (
            "500 Internal Server Error",
            serde_json::json!({ "error": err.to_string() }),
        ),
    };
    respond(&mut stream, status, &body)?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args =
        parse_args().map_err(|e| format!("{e}\nusage: see the header of examples/postgres.rs"))?;
    fibrio::run(move || -> Result<(), BoxError> {
        let clients = (0..args.connections.max(1))
            .map(|_| connect(&args))
            .collect::<Result<Vec<_>, _>>()?;
        block_on(clients[0].batch_execute(
            "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)",
        ))?;
        let db = Rc::new(Db {
            clients,
            next: std::cell::Cell::new(0),
        });
        let listener = TcpListener::bind(args.addr.as_str())?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept()?;
            let db = db.clone();
            fibrio::spawn(move || {
                if let Err(err) = serve_connection(&db, stream) {
                    eprintln!("request failed: {err}");
                }
            });
        }
    })
}
