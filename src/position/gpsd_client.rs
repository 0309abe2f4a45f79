//! The gpsd edge: a thread that holds a TCP connection to gpsd, asks it to stream JSON reports
//! (`?WATCH={"enable":true,"json":true}`) and feeds them into the shared [`FixTracker`].
//!
//! The pipeline never waits for it: a read only locks the tracker long enough to copy the
//! latest position. A refused connection, a gpsd that stops talking or a broken line costs
//! nothing but log lines; the thread reconnects with backoff ([`Backoff`]) and the tracker ages
//! the last fix meanwhile. Lines are bounded, so a misbehaving peer cannot grow memory.

use super::fix::FixTracker;
use super::gpsd_json::parse_line;
use crate::backoff::Backoff;
use crate::shutdown::Shutdown;
use crate::worker::Worker;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// gpsd's reports are a few hundred bytes; a longer line is not one of them.
const MAX_LINE: u64 = 16 * 1024;
/// How often a silent connection looks at the shutdown; also the connect timeout.
const POLL: Duration = Duration::from_millis(500);
/// gpsd reports at least once a second while a receiver is attached; this much silence means
/// it is gone (or has no receiver), and the fix counts as lost.
const SILENCE: Duration = Duration::from_secs(5);

/// The feed from gpsd into a tracker, before its thread starts.
pub struct GpsdClient {
    endpoint: GpsdEndpoint,
    tracker: Arc<Mutex<FixTracker>>,
    origin: Instant,
}

/// Where gpsd is and how to get it back.
#[derive(Debug, Clone)]
pub struct GpsdEndpoint {
    pub host: String,
    pub port: u16,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
}

impl GpsdClient {
    /// `origin` is the instant the tracker's times count from.
    pub fn new(endpoint: GpsdEndpoint, tracker: Arc<Mutex<FixTracker>>, origin: Instant) -> Self {
        Self { endpoint, tracker, origin }
    }

    /// Starts the client thread; it runs until the shutdown.
    pub fn start(self, shutdown: &Shutdown) -> std::io::Result<Worker> {
        let Self { endpoint, tracker, origin } = self;
        let shutdown = shutdown.clone();
        Worker::spawn("gpsd", move || run(&endpoint, &tracker, origin, &shutdown))
    }
}

fn with_tracker(tracker: &Mutex<FixTracker>, f: impl FnOnce(&mut FixTracker)) {
    // A panic elsewhere while holding the lock leaves a tracker that is still consistent
    // (every update is a single assignment), so a poisoned lock is used as it is.
    let mut guard = tracker.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard);
}

fn run(endpoint: &GpsdEndpoint, tracker: &Mutex<FixTracker>, origin: Instant, stop: &Shutdown) {
    let mut backoff = Backoff::new(endpoint.reconnect_min_ms, endpoint.reconnect_max_ms);
    let mut reported_down = false;
    while !stop.is_triggered() {
        match session(endpoint, tracker, origin, stop, &mut backoff, &mut reported_down) {
            Ok(()) => {}
            Err(error) if !reported_down => {
                tracing::warn!(host = %endpoint.host, port = endpoint.port, %error, "gpsd unreachable; reads keep the last fix until it is too old");
                reported_down = true;
            }
            Err(error) => tracing::debug!(%error, "gpsd still unreachable"),
        }
        with_tracker(tracker, FixTracker::connection_lost);
        stop.wait(backoff.next_wait());
    }
}

/// One connection, until it fails or the shutdown comes.
fn session(
    endpoint: &GpsdEndpoint,
    tracker: &Mutex<FixTracker>,
    origin: Instant,
    stop: &Shutdown,
    backoff: &mut Backoff,
    reported_down: &mut bool,
) -> std::io::Result<()> {
    let address =
        (endpoint.host.as_str(), endpoint.port).to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolves to no address", endpoint.host),
            )
        })?;
    let mut stream = TcpStream::connect_timeout(&address, POLL)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(POLL))?;
    stream.write_all(b"?WATCH={\"enable\":true,\"json\":true}\n")?;
    tracing::info!(%address, "connected to gpsd");
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut last_report = Instant::now();
    let mut got_report = false;
    while !stop.is_triggered() {
        let room = MAX_LINE.saturating_sub(line.len() as u64);
        if room == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE} bytes: not gpsd"),
            ));
        }
        // A timeout can end a read mid-line: what was read stays in `line` for the next call.
        match (&mut reader).take(room).read_until(b'\n', &mut line) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "gpsd closed the connection",
                ))
            }
            Ok(_) if line.last() != Some(&b'\n') => continue,
            Ok(_) => {
                match std::str::from_utf8(&line)
                    .map_err(|e| e.to_string())
                    .and_then(|l| parse_line(l).map_err(|e| e.to_string()))
                {
                    Ok(report) => {
                        let now = origin.elapsed();
                        with_tracker(tracker, |t| t.observe(report, now));
                        last_report = Instant::now();
                        if !got_report {
                            // Only a connection that delivers counts as recovered (and the next
                            // outage is worth a warning again).
                            got_report = true;
                            backoff.reset();
                            *reported_down = false;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "gpsd line skipped"),
                }
                line.clear();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if last_report.elapsed() >= SILENCE {
                    with_tracker(tracker, FixTracker::connection_lost);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
