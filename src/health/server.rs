//! The metrics endpoint: a tiny HTTP responder on a loopback port that answers `GET /metrics`
//! with [`render`] of a fresh snapshot.
//!
//! Bounded on purpose: one connection at a time on one thread, a request head of at most
//! 8 KiB, read and write timeouts of 2 s, the connection closed after each answer. A scraper
//! that misbehaves delays the next scrape, never the pipeline (the snapshot is a handful of
//! atomic loads). It listens on 127.0.0.1 only: nothing leaves the box unless an operator
//! forwards it.

use super::render;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub type Snapshot = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

const MAX_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const ACCEPT_POLL: Duration = Duration::from_millis(200);

pub struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on 127.0.0.1:`port` (0: a free port, for tests).
    pub fn start(port: u16, snapshot: Snapshot) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new().name("metrics".into()).spawn(move || serve(&listener, &snapshot, &stop))?
        };
        tracing::info!(%address, "metrics on http://{address}/metrics");
        Ok(Self { address, stop, thread: Some(thread) })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the metrics thread panicked");
            }
        }
    }
}

fn serve(listener: &TcpListener, snapshot: &Snapshot, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(error) = answer(stream, snapshot) {
                    tracing::debug!(%peer, %error, "metrics request failed");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(error) => {
                tracing::warn!(%error, "metrics: accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// What to answer to a request head (pure): status line, and whether to send the metrics.
fn route(head: &str) -> (&'static str, bool) {
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", true),
        (Some("GET"), Some(_)) => ("404 Not Found", false),
        _ => ("405 Method Not Allowed", false),
    }
}

fn answer(mut stream: TcpStream, snapshot: &Snapshot) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request head over 8 KiB"));
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the end of the request head"));
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let (status, metrics) = route(&String::from_utf8_lossy(&head));
    let body = if metrics { render(&snapshot()) } else { format!("{status}\n") };
    let content_type = if metrics { "text/plain; version=0.0.4; charset=utf-8" } else { "text/plain; charset=utf-8" };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), ("200 OK", true));
        assert_eq!(route("GET / HTTP/1.1\r\n\r\n"), ("404 Not Found", false));
        assert_eq!(route("POST /metrics HTTP/1.1\r\n\r\n"), ("405 Method Not Allowed", false));
        assert_eq!(route(""), ("405 Method Not Allowed", false));
    }
}
