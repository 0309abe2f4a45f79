//! The mobile unit against a real gpsd (Debian's, fed by gpsfake from a recorded NMEA drive):
//! the positions and speeds the reads get are the ones the log states, the direction of travel
//! follows the drive, and a lost fix ages out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::position::{PositionConfig, PositionKind, PositionProvider};
use common::gpsd::{drive_log, logged_fixes, FakeGps};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Two gpsfake sessions at once were seen to starve one another (one in six runs, the late
/// gpsd then delivered nothing within 20 s): these tests take turns.
static ONE_GPSFAKE: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_GPSFAKE.lock().unwrap_or_else(|p| p.into_inner())
}

fn gpsd_config(port: u16, max_fix_age_s: u64) -> PositionConfig {
    PositionConfig {
        source: PositionKind::Gpsd,
        gpsd_port: port,
        max_fix_age_s,
        reconnect_min_ms: 100,
        reconnect_max_ms: 400,
        ..PositionConfig::default()
    }
}

#[test]
fn positions_and_speeds_are_the_ones_the_drive_log_states() {
    let _turn = one_at_a_time();
    let (logged, lost_at) = logged_fixes(&drive_log());
    assert_eq!((logged.len(), lost_at.len()), (25, 5), "the drive: 25 fixes, then 5 s without");
    let gps = FakeGps::start(&drive_log(), Duration::from_millis(40), true);
    let provider =
        PositionProvider::start(&gpsd_config(gps.port, 2), None, None).expect("client thread");

    // Poll as reads would, much faster than the log's one fix per 0.24 s, until the fix is lost.
    let mut seen = BTreeMap::new();
    let mut lost = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(p) = provider.current() {
            if p.lost {
                lost = Some(p);
                break;
            }
            // gpsd gives a fix no time until it has seen the date (in the first RMC).
            let key = p
                .fix_time
                .clone()
                .unwrap_or_else(|| format!("{:.9},{:.9}", p.latitude, p.longitude));
            seen.insert(key, p);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.len() >= 10, "gpsd delivered {} fixes of the log's 25", seen.len());
    assert!(
        seen.values().filter(|p| p.altitude_m == Some(56.0)).count() >= 10,
        "the log's fixes are 3D, at 56 m"
    );
    for (time, p) in &seen {
        let by_place = || {
            logged.values().find(|f| {
                (p.latitude - f.latitude).abs() < 1e-7 && (p.longitude - f.longitude).abs() < 1e-7
            })
        };
        let want = logged
            .get(time)
            .or_else(by_place)
            .unwrap_or_else(|| panic!("a fix at {time}, which the log does not have: {p:?}"));
        assert!(
            (p.latitude - want.latitude).abs() < 1e-7
                && (p.longitude - want.longitude).abs() < 1e-7,
            "{time}: {p:?} against {want:?}"
        );
        // Only a fix from GGA alone (before gpsd has seen an RMC) may come without speed.
        match p.speed_mps {
            Some(speed) => assert!(
                (speed - want.speed_mps).abs() < 0.01,
                "{time}: speed {speed} against the log's {}",
                want.speed_mps
            ),
            None => assert!(p.fix_time.is_none(), "{time}: no speed: {p:?}"),
        }
        let fix = p.fix.as_ref().expect("quality");
        assert_eq!((fix.satellites_used, fix.hdop), (Some(8), Some(0.9)), "{time}");
        // gpsd's first fixes may lack the altitude (2D, or 3D before it has read a GGA).
        assert!(
            p.altitude_m.is_none() || p.altitude_m == Some(56.0),
            "{time}: altitude {:?}",
            p.altitude_m
        );
        assert!(fix.mode == "3d" || p.altitude_m.is_none(), "{time}: a 2D fix has no altitude");
        // The log's course while moving; standing still keeps the last one, with no direction.
        if p.speed_mps.is_none() {
            continue;
        }
        match (want.speed_mps > 1.0, want.course_deg as u32) {
            (true, 90) => assert_eq!(
                (p.heading_deg, p.direction_of_travel.as_deref()),
                (Some(90.0), Some("E")),
                "{time}"
            ),
            (true, 0) => assert_eq!(
                (p.heading_deg, p.direction_of_travel.as_deref()),
                (Some(0.0), Some("N")),
                "{time}"
            ),
            (false, _) => assert_eq!(
                (p.heading_deg, p.direction_of_travel.as_deref()),
                (Some(90.0), None),
                "{time}"
            ),
            other => panic!("the log has no such phase: {other:?}"),
        }
    }
    for phase in [(15.0, "E"), (0.0, "standing"), (10.0, "N")] {
        assert!(
            seen.values().any(|p| p.speed_mps.is_some_and(|s| (s - phase.0).abs() < 0.01)),
            "no fix seen in the {} phase",
            phase.1
        );
    }

    // In the tunnel: the last fix of the log, aged, then nothing once older than 2 s.
    let lost = lost.expect("the log's end (status V) marks the fix lost");
    let (last_time, last) = logged.iter().next_back().expect("fixes");
    assert_eq!(lost.fix_time.as_deref(), Some(last_time.as_str()));
    assert!(
        (lost.latitude - last.latitude).abs() < 1e-7
            && lost.speed_mps.is_none()
            && lost.direction_of_travel.is_none(),
        "{lost:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut oldest = 0;
    while let Some(p) = provider.current() {
        oldest = oldest.max(p.age_ms.expect("age"));
        assert!(Instant::now() < deadline, "the lost fix never aged out");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        (1500..=2100).contains(&oldest),
        "given with its age up to max_fix_age_s = 2, then none (oldest seen {oldest} ms)"
    );
}

#[test]
fn no_gpsd_means_no_position_and_the_client_keeps_trying() {
    let _turn = one_at_a_time();
    let gps_port = common::broker::free_port();
    let provider =
        PositionProvider::start(&gpsd_config(gps_port, 2), None, None).expect("client thread");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(provider.current(), None);
    // gpsd appears later on that port: the client finds it by itself.
    let _gps = FakeGps::start_on(gps_port, &drive_log(), Duration::from_millis(40), false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        if let Some(p) = provider.current().filter(|p| !p.lost) {
            break p;
        }
        assert!(Instant::now() < deadline, "the client never reached the gpsd that came up");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(found.source, PositionKind::Gpsd);
}
