//! The metrics endpoint: a tiny HTTP responder on a loopback port that answers `GET /metrics`
//! with [`render`] of a fresh snapshot.
//!
//! Bounded on purpose: one connection at a time on one thread, a request head of at most
//! 8 KiB, read and write timeouts of 2 s, the connection closed after each answer. A scraper
//! that misbehaves delays the next scrape, never the pipeline (the snapshot is a handful of
//! atomic loads). It listens on 127.0.0.1 only: nothing leaves the box unless an operator
//! forwards it.

use super::render;
use crate::shutdown::Shutdown;
use crate::worker::Worker;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub type Snapshot = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

const MAX_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const ACCEPT_POLL: Duration = Duration::from_millis(200);

/// The endpoint's socket, bound before the unit starts (a port in use stops the start), served
/// once the unit runs.
pub struct MetricsServer {
    listener: TcpListener,
    address: SocketAddr,
}

impl MetricsServer {
    /// Listens on 127.0.0.1:`port` (0: a free port, for tests).
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        Ok(Self { listener, address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Answers scrapes with `snapshot` until the shutdown.
    pub fn serve(self, snapshot: Snapshot, shutdown: &Shutdown) -> std::io::Result<Worker> {
        let Self { listener, address } = self;
        let shutdown = shutdown.clone();
        let worker = Worker::spawn("metrics", move || serve(&listener, &snapshot, &shutdown))?;
        tracing::info!(%address, "metrics on http://{address}/metrics");
        Ok(worker)
    }
}

fn serve(listener: &TcpListener, snapshot: &Snapshot, shutdown: &Shutdown) {
    while !shutdown.is_triggered() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(error) = answer(stream, snapshot) {
                    tracing::debug!(%peer, %error, "metrics request failed");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shutdown.wait(ACCEPT_POLL);
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: accept failed");
                shutdown.wait(ACCEPT_POLL);
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
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request head over 8 KiB",
            ));
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before the end of the request head",
            ));
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let (status, metrics) = route(&String::from_utf8_lossy(&head));
    let body = if metrics { render(&snapshot()) } else { format!("{status}\n") };
    let content_type = if metrics {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: SocketAddr, request: &[u8]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(request)?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    #[test]
    fn a_silent_or_oversized_client_costs_at_most_its_timeout() {
        let server = MetricsServer::bind(0).expect("listen");
        let address = server.address();
        let shutdown = Shutdown::new();
        let worker = server
            .serve(Arc::new(|| serde_json::json!({ "fps": 2.5 })), &shutdown)
            .expect("thread");
        // A client that connects and says nothing holds the only slot until its read timeout.
        let _silent = TcpStream::connect(address).expect("connect");
        let response = get(address, b"GET /metrics HTTP/1.1\r\n\r\n")
            .expect("answered after the silent one timed out");
        assert!(
            response.starts_with("HTTP/1.1 200 OK") && response.ends_with("anpr_edge_fps 2.5\n"),
            "{response}"
        );
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let refused = get(address, huge.as_bytes()).unwrap_or_default();
        assert!(!refused.contains("200 OK"), "a head over 8 KiB is not answered: {refused}");
        assert!(get(address, b"GET /metrics HTTP/1.1\r\n\r\n")
            .expect("still serving")
            .starts_with("HTTP/1.1 200"));
        shutdown.trigger("test");
        worker.join().expect("the server stops at the shutdown");
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), ("200 OK", true));
        assert_eq!(route("GET / HTTP/1.1\r\n\r\n"), ("404 Not Found", false));
        assert_eq!(route("POST /metrics HTTP/1.1\r\n\r\n"), ("405 Method Not Allowed", false));
        assert_eq!(route(""), ("405 Method Not Allowed", false));
    }
}
