//! A real gpsd replaying a recorded NMEA log (Debian's gpsfake from gpsd-clients) on a free
//! loopback port, and what the log says (its RMC sentences), for the tests to compare with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The recorded drive (made by testdata/gps/make_drive.py).
pub fn drive_log() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/gps/drive.nmea")
}

pub struct FakeGps {
    child: Child,
    pub port: u16,
    /// What gpsfake and its gpsd said, for the message of a test that got no fix.
    said: tempfile::NamedTempFile,
}

impl FakeGps {
    /// gpsfake feeding `log` to a gpsd on a free port, one sentence every `cycle`; `once`:
    /// the log is played once, else in a loop. gpsfake starts feeding when a client connects.
    pub fn start(log: &Path, cycle: Duration, once: bool) -> Self {
        Self::start_on(super::broker::free_port(), log, cycle, once)
    }

    pub fn start_on(port: u16, log: &Path, cycle: Duration, once: bool) -> Self {
        let mut command = Command::new("gpsfake");
        command.args(["-q", "-c", &format!("{}", cycle.as_secs_f64()), "-P", &port.to_string()]);
        if once {
            command.arg("-1");
        }
        let said = tempfile::NamedTempFile::new().expect("a file for gpsfake's output");
        let child = command
            .arg(log)
            .stdout(said.reopen().expect("gpsfake's stdout"))
            .stderr(said.reopen().expect("gpsfake's stderr"))
            .spawn()
            .expect("gpsfake (Debian package gpsd-clients, with gpsd): run scripts/setup.sh");
        Self { child, port, said }
    }

    /// Whether gpsfake still runs, and what it and its gpsd said so far.
    pub fn report(&mut self) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "running".to_string(),
            Ok(Some(status)) => format!("exited: {status}"),
            Err(error) => format!("unknown: {error}"),
        };
        let said = std::fs::read_to_string(self.said.path()).unwrap_or_default();
        format!("gpsfake on port {} {state}; its output:\n{said}", self.port)
    }
}

impl Drop for FakeGps {
    fn drop(&mut self) {
        // SIGTERM, so that gpsfake stops the gpsd it started.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One fix the log states: degrees, m/s, degrees from north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedFix {
    pub latitude: f64,
    pub longitude: f64,
    pub speed_mps: f64,
    pub course_deg: f64,
}

/// The valid RMC sentences of an NMEA log, by the ISO time gpsd will give them
/// ("2026-06-01T10:00:05.000Z"), and the times the log says the fix was lost (status V).
pub fn logged_fixes(log: &Path) -> (BTreeMap<String, LoggedFix>, Vec<String>) {
    let text = std::fs::read_to_string(log).expect("NMEA log");
    let mut fixes = BTreeMap::new();
    let mut lost = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("$GPRMC")) {
        let body = line.trim_start_matches('$').split('*').next().expect("body");
        let f: Vec<&str> = body.split(',').collect();
        let (hh, mm, ss) = (&f[1][0..2], &f[1][2..4], &f[1][4..6]);
        let date = f[9];
        let time = format!("20{}-{}-{}T{hh}:{mm}:{ss}.000Z", &date[4..6], &date[2..4], &date[0..2]);
        if f[2] != "A" {
            lost.push(time);
            continue;
        }
        let degrees = |field: &str, width: usize, hemisphere: &str, negative: &str| {
            let value = field[..width].parse::<f64>().expect("deg")
                + field[width..].parse::<f64>().expect("min") / 60.0;
            if hemisphere == negative {
                -value
            } else {
                value
            }
        };
        fixes.insert(
            time,
            LoggedFix {
                latitude: degrees(f[3], 2, f[4], "S"),
                longitude: degrees(f[5], 3, f[6], "W"),
                speed_mps: f[7].parse::<f64>().expect("knots") * 0.514444,
                course_deg: f[8].parse().expect("course"),
            },
        );
    }
    (fixes, lost)
}
