//! A private PostgreSQL server for a test: `initdb` into a temporary
//! directory, `pg_ctl start` on a free port, and stop and clean up when
//! dropped. As root it runs the server as the `postgres` user (the server
//! refuses to run as root), through `runuser`.
//!
//! When it cannot (no PostgreSQL installed, no `postgres` user), `start`
//! returns the reason, and the test prints `SKIP: <reason>` and returns.
//! `.ci/run` installs PostgreSQL, so CI really runs the tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The password of the `postgres` superuser of the test server.
pub const PASSWORD: &str = "fibrio-test";

/// A running private PostgreSQL server.
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// The TCP port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// The directory of `initdb` and `pg_ctl`: `$PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or the `PATH`.
fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl PgServer {
    /// Starts a server, or says why it cannot.
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin().ok_or("PostgreSQL is not installed (no initdb/pg_ctl found; `apt-get install postgresql`, or set PG_BIN)")?;
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("id")
                .arg("postgres")
                .output()
                .map(|o| o.status.success());
            if !ok.is_ok_and(|ok| ok) {
                return Err(
                    "running as root and there is no `postgres` user to run the server as".into(),
                );
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("fibrio-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let server = PgServer {
            dir,
            bin,
            as_postgres,
            port,
        };
        let pwfile = server.dir.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&server.dir)
                .status();
            if !chown.is_ok_and(|s| s.success()) {
                return Err(format!("cannot chown {} to postgres", server.dir.display()));
            }
        }
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--no-sync".as_ref(),
            ],
        )?;
        server.pg_ctl_start()?;
        Ok(server)
    }

    /// Runs `tool` of the server's bin directory (as `postgres` if root).
    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&self.dir);
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{tool} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=300 -c fsync=off \
             -c shared_buffers=16MB",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )
    }

    /// `pg_ctl stop -m immediate`: every connection is cut at once.
    pub fn pg_ctl_stop(&self) -> Result<(), String> {
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The data directory's parent, removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl_stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a server for a test, or prints `SKIP: <reason>` and returns
/// `None`.
pub fn server_or_skip(test: &str) -> Option<PgServer> {
    match PgServer::start() {
        Ok(server) => Some(server),
        Err(reason) => {
            println!("SKIP: {test}: {reason}");
            eprintln!("SKIP: {test}: {reason}");
            None
        }
    }
}
