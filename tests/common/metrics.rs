//! Scraping a running daemon's Prometheus endpoint (`[health] metrics_port`), for tests that
//! must see what the unit holds at a given moment rather than guess it from timing.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The whole HTTP response to `GET path`.
pub fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The value of the sample `name` (without labels) in a scrape.
pub fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

/// Scrapes until `name` satisfies `done` or `within` passes; the last value seen.
pub fn wait_for(
    port: u16,
    name: &str,
    within: Duration,
    done: impl Fn(f64) -> bool,
) -> Option<f64> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(value) = get(port, "/metrics").ok().and_then(|body| metric(&body, name)) {
            last = Some(value);
            if done(value) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    last
}
