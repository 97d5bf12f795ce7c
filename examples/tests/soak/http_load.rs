//! The load on `http_server`: checking connections kept alive for random
//! `POST /echo` requests whose answers are verified byte for byte
//! ([`http_check`]), and chaos connections reset or dropped in the middle
//! of a request or of its response ([`http_chaos`]).
//!
//! Invariant (from the soak's docs): a checking client verifies every
//! byte that comes back; a lost or mangled byte fails the run.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::client::{client_stream, reset, Rng, Tally};

/// Reads one response (head and `Content-Length` body) from a kept-alive
/// connection: its status and body.
fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buffer) {
            Ok(httparse::Status::Complete(head)) => {
                let status = response.code.unwrap_or(0);
                let length: usize = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .ok_or("a response without Content-Length")?;
                while buffer.len() < head + length {
                    read_more(stream, buffer)?;
                }
                let body = buffer[head..head + length].to_vec();
                buffer.drain(..head + length);
                return Ok((status, body));
            }
            Ok(httparse::Status::Partial) => read_more(stream, buffer)?,
            Err(err) => return Err(format!("a malformed response head: {err}")),
        }
    }
}

fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk) {
        Ok(0) => Err("the server closed in the middle of a response".into()),
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(err) => Err(format!("response lost: {err}")),
    }
}

fn post_echo(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// One checking HTTP connection: kept alive for a random number of
/// `POST /echo` requests with random bodies, each answer verified.
pub(super) fn http_check(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), String> {
    let mut stream = client_stream(addr).map_err(|e| format!("connect: {e}"))?;
    let mut buffer = Vec::new();
    for _ in 0..1 + rng.below(30) {
        // Empty bodies too: after a full one on the same connection, one was
        // answered with the previous body (a bug this soak found, fixed in
        // http1.rs; `an_empty_body_after_a_full_one_echoes_nothing`).
        let body = rng.payload(0, 16 * 1024);
        stream
            .write_all(&post_echo(&body))
            .map_err(|e| format!("write: {e}"))?;
        let (status, echoed) = read_response(&mut stream, &mut buffer)?;
        if status != 200 {
            return Err(format!("POST /echo answered {status}"));
        }
        if echoed != body {
            return Err(format!(
                "POST /echo of {} bytes came back as {} different bytes",
                body.len(),
                echoed.len()
            ));
        }
        tally
            .verified_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        tally.exchanges.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One chaos HTTP connection: reset or dropped in the middle of a request
/// or of its response.
pub(super) fn http_chaos(addr: SocketAddr, rng: &mut Rng) {
    let Ok(mut stream) = client_stream(addr) else {
        return;
    };
    let request = post_echo(&rng.payload(1, 32 * 1024));
    match rng.below(5) {
        // Reset in the middle of the head or the body.
        0 => {
            let cut = 1 + rng.below(request.len() as u64 - 1) as usize;
            let _ = stream.write_all(&request[..cut]);
            reset(stream);
        }
        // The whole request, reset before the answer is read.
        1 => {
            let _ = stream.write_all(&request);
            reset(stream);
        }
        // Pipelined requests, half of the answers read, then dropped.
        2 => {
            let _ = stream.write_all(&[&request[..], &request[..], &request[..]].concat());
            let mut some = vec![0u8; request.len()];
            let _ = stream.read_exact(&mut some);
            drop(stream);
        }
        // Half a head, then idle, then gone.
        3 => {
            let _ = stream.write_all(&request[..request.len().min(20)]);
            std::thread::sleep(Duration::from_millis(rng.below(300)));
            drop(stream);
        }
        // Half-closed after the request: the answer, then the close.
        _ => {
            let _ = stream.write_all(&request);
            let _ = stream.shutdown(Shutdown::Write);
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
    }
}
