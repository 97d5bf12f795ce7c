//! The load on `echo_server`: checking connections that verify every
//! echoed byte ([`echo_check`]), chaos connections reset or dropped at a
//! random point ([`echo_chaos`]), and `echo_client` processes SIGKILLed at
//! random ([`kill_clients`]).
//!
//! Invariant (from the soak's docs): a checking client verifies every
//! byte that comes back; a lost or mangled byte fails the run.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::client::{client_stream, reset, Rng, Tally};
use super::common::example_binary;

/// One checking echo connection: messages of random sizes in chunks of at
/// most 16 KiB, each chunk's echo read back and compared before the next.
pub(super) fn echo_check(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), String> {
    let mut stream = client_stream(addr).map_err(|e| format!("connect: {e}"))?;
    let mut reply = vec![0u8; 16 * 1024];
    for _ in 0..1 + rng.below(20) {
        let message = rng.payload(1, 64 * 1024);
        for chunk in message.chunks(16 * 1024) {
            stream.write_all(chunk).map_err(|e| format!("write: {e}"))?;
            let reply = &mut reply[..chunk.len()];
            stream
                .read_exact(reply)
                .map_err(|e| format!("echo of {} bytes lost: {e}", chunk.len()))?;
            if reply != chunk {
                let at = reply.iter().zip(chunk).position(|(a, b)| a != b).unwrap();
                return Err(format!(
                    "echo mangled at byte {at} of a {}-byte chunk",
                    chunk.len()
                ));
            }
            tally
                .verified_bytes
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        tally.exchanges.fetch_add(1, Ordering::Relaxed);
    }
    if rng.below(2) == 0 {
        stream
            .shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))?;
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .map_err(|e| format!("read to the close: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} stray bytes after the last echo", rest.len()));
        }
    }
    Ok(())
}

/// One chaos echo connection: reset or dropped at a random point.
pub(super) fn echo_chaos(addr: SocketAddr, rng: &mut Rng) {
    let Ok(mut stream) = client_stream(addr) else {
        return;
    };
    let message = rng.payload(1, 32 * 1024);
    match rng.below(5) {
        // Reset in the middle of a message.
        0 => {
            let _ = stream.write_all(&message[..message.len() / 2]);
            reset(stream);
        }
        // Dropped with its echo unread (the kernel resets it, as when a
        // client process dies).
        1 => {
            let _ = stream.write_all(&message);
            std::thread::sleep(Duration::from_millis(rng.below(5)));
            drop(stream);
        }
        // Half the echo read, then reset.
        2 => {
            let _ = stream.write_all(&message);
            let mut half = vec![0u8; message.len() / 2];
            let _ = stream.read_exact(&mut half);
            reset(stream);
        }
        // Connected and reset at once.
        3 => reset(stream),
        // Idle a while, then gone.
        _ => {
            std::thread::sleep(Duration::from_millis(rng.below(300)));
            drop(stream);
        }
    }
}

/// Starts `echo_client` processes against `addr` and SIGKILLs each after a
/// random 50-1000 ms, one after another, until `stop`.
pub(super) fn kill_clients(addr: SocketAddr, seed: u64, stop: &AtomicBool, tally: &Tally) {
    let binary = example_binary("echo_client");
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        let child = Command::new(&binary)
            .args(["--addr", &addr.to_string(), "--connections", "16"])
            .args(["--messages", "1000000", "--size"])
            .arg((1 + rng.below(4096)).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            tally.fail("cannot start echo_client".into());
            return;
        };
        std::thread::sleep(Duration::from_millis(50 + rng.below(950)));
        let _ = child.kill();
        let _ = child.wait();
        tally.killed_clients.fetch_add(1, Ordering::Relaxed);
    }
}
