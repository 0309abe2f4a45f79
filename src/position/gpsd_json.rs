//! The gpsd JSON protocol, as far as a read's position needs it: one line in, a typed report
//! out. Pure (no I/O), so every message gpsd may send is a unit test.
//!
//! Design: gpsd sends many classes (VERSION, DEVICES, WATCH, TPV, SKY, ATT, PPS, …); only TPV
//! (time-position-velocity) and SKY (satellites) matter here, everything else is
//! [`Report::Other`] rather than an error, so a newer gpsd with new classes keeps working.
//! A line that is not JSON, or a TPV/SKY whose fields have the wrong type, is an error that
//! names the class and the problem; the client logs it and goes on with the next line.

use serde::Deserialize;

/// gpsd's fix modes (TPV `mode`): 0 unknown, 1 no fix, 2 two-dimensional, 3 three-dimensional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixMode {
    NoFix,
    TwoD,
    ThreeD,
}

/// One TPV report: where the receiver is, how fast and which way it goes, and how sure it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Tpv {
    pub mode: FixMode,
    /// The fix's UTC time as gpsd states it (ISO 8601), if any.
    pub time: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Altitude above mean sea level, metres (gpsd's `altMSL`, or `alt` from older versions).
    pub altitude_m: Option<f64>,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees from true north.
    pub track_deg: Option<f64>,
    /// Estimated horizontal position error, metres (95 %).
    pub eph_m: Option<f64>,
}

/// The satellites' part of a fix's quality (SKY report).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sky {
    pub satellites_used: Option<u32>,
    pub hdop: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Tpv(Tpv),
    Sky(Sky),
    /// A class this unit does not use (VERSION, DEVICES, WATCH, ATT, …).
    Other(String),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GpsdJsonError {
    #[error("not a gpsd JSON object: {0}")]
    NotJson(String),
    #[error("gpsd {class} report: {problem}")]
    BadReport { class: &'static str, problem: String },
}

#[derive(Deserialize)]
struct Class {
    class: String,
}

#[derive(Deserialize)]
struct RawTpv {
    #[serde(default)]
    mode: u8,
    time: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(rename = "altMSL")]
    alt_msl: Option<f64>,
    alt: Option<f64>,
    speed: Option<f64>,
    track: Option<f64>,
    eph: Option<f64>,
    epx: Option<f64>,
    epy: Option<f64>,
}

#[derive(Deserialize)]
struct RawSatellite {
    #[serde(default)]
    used: bool,
}

#[derive(Deserialize)]
struct RawSky {
    #[serde(rename = "uSat")]
    used: Option<u32>,
    hdop: Option<f64>,
    satellites: Option<Vec<RawSatellite>>,
}

/// Parses one line gpsd sent (without its newline).
pub fn parse_line(line: &str) -> Result<Report, GpsdJsonError> {
    let clip = |s: &str| s.chars().take(80).collect::<String>();
    let value: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| GpsdJsonError::NotJson(format!("{e}: `{}`", clip(line))))?;
    let class: Class = serde_json::from_value(value.clone())
        .map_err(|_| GpsdJsonError::NotJson(format!("no \"class\" in `{}`", clip(line))))?;
    match class.class.as_str() {
        "TPV" => {
            let raw: RawTpv = serde_json::from_value(value)
                .map_err(|e| GpsdJsonError::BadReport { class: "TPV", problem: e.to_string() })?;
            Ok(Report::Tpv(tpv(raw)?))
        }
        "SKY" => {
            let raw: RawSky = serde_json::from_value(value)
                .map_err(|e| GpsdJsonError::BadReport { class: "SKY", problem: e.to_string() })?;
            // gpsd 3.22 gives uSat; older ones only the satellite list.
            let satellites_used = raw
                .used
                .or_else(|| raw.satellites.map(|s| s.iter().filter(|s| s.used).count() as u32));
            Ok(Report::Sky(Sky { satellites_used, hdop: raw.hdop }))
        }
        other => Ok(Report::Other(other.to_string())),
    }
}

fn tpv(raw: RawTpv) -> Result<Tpv, GpsdJsonError> {
    let bad = |problem: String| GpsdJsonError::BadReport { class: "TPV", problem };
    let mode = match raw.mode {
        0 | 1 => FixMode::NoFix,
        2 => FixMode::TwoD,
        3 => FixMode::ThreeD,
        m => return Err(bad(format!("mode {m} is not 0..3"))),
    };
    if let Some(lat) = raw.lat.filter(|l| !(-90.0..=90.0).contains(l)) {
        return Err(bad(format!("lat {lat} is outside -90..90")));
    }
    if let Some(lon) = raw.lon.filter(|l| !(-180.0..=180.0).contains(l)) {
        return Err(bad(format!("lon {lon} is outside -180..180")));
    }
    // Without eph, the larger of the longitude and latitude errors is the horizontal one.
    let eph_m = raw.eph.or(match (raw.epx, raw.epy) {
        (Some(x), Some(y)) => Some(x.max(y)),
        _ => None,
    });
    Ok(Tpv {
        mode,
        time: raw.time,
        latitude: raw.lat,
        longitude: raw.lon,
        altitude_m: raw.alt_msl.or(raw.alt),
        speed_mps: raw.speed,
        track_deg: raw.track,
        eph_m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_3d_fix_from_gpsd_3_22() {
        let line = r#"{"class":"TPV","device":"/dev/pts/3","mode":3,"time":"2026-06-01T10:00:05.000Z","ept":0.005,"lat":50.846600000,"lon":4.353600000,"altHAE":103.200,"altMSL":56.000,"alt":56.000,"epx":4.2,"epy":5.1,"track":90.0000,"magtrack":91.2,"speed":15.433,"climb":0.000,"eps":10.2,"eph":6.3}"#;
        let Report::Tpv(tpv) = parse_line(line).expect("valid") else { panic!("not TPV") };
        assert_eq!(tpv.mode, FixMode::ThreeD);
        assert_eq!(tpv.latitude, Some(50.8466));
        assert_eq!(tpv.longitude, Some(4.3536));
        assert_eq!(tpv.altitude_m, Some(56.0));
        assert_eq!(tpv.speed_mps, Some(15.433));
        assert_eq!(tpv.track_deg, Some(90.0));
        assert_eq!(tpv.eph_m, Some(6.3));
        assert_eq!(tpv.time.as_deref(), Some("2026-06-01T10:00:05.000Z"));
    }

    #[test]
    fn no_fix_and_missing_eph() {
        let Report::Tpv(tpv) = parse_line(r#"{"class":"TPV","mode":1}"#).expect("valid") else {
            panic!()
        };
        assert_eq!(tpv.mode, FixMode::NoFix);
        assert_eq!(tpv.latitude, None);
        let Report::Tpv(tpv) =
            parse_line(r#"{"class":"TPV","mode":2,"lat":1.0,"lon":2.0,"epx":3.0,"epy":7.5}"#)
                .expect("valid")
        else {
            panic!()
        };
        assert_eq!((tpv.mode, tpv.eph_m, tpv.altitude_m), (FixMode::TwoD, Some(7.5), None));
    }

    #[test]
    fn sky_with_and_without_usat() {
        let sky = parse_line(r#"{"class":"SKY","hdop":0.9,"nSat":9,"uSat":7,"satellites":[]}"#)
            .expect("valid");
        assert_eq!(sky, Report::Sky(Sky { satellites_used: Some(7), hdop: Some(0.9) }));
        let sky = parse_line(r#"{"class":"SKY","satellites":[{"PRN":1,"used":true},{"PRN":2,"used":false},{"PRN":3,"used":true}]}"#).expect("valid");
        assert_eq!(sky, Report::Sky(Sky { satellites_used: Some(2), hdop: None }));
    }

    #[test]
    fn other_classes_are_not_errors() {
        let line =
            r#"{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}"#;
        assert_eq!(parse_line(line), Ok(Report::Other("VERSION".into())));
        assert_eq!(
            parse_line(r#"{"class":"WATCH","enable":true,"json":true}"#),
            Ok(Report::Other("WATCH".into()))
        );
    }

    #[test]
    fn bad_lines_are_named_errors() {
        assert!(matches!(parse_line("$GPRMC,not,json"), Err(GpsdJsonError::NotJson(_))));
        assert!(matches!(parse_line(r#"{"mode":3}"#), Err(GpsdJsonError::NotJson(_))));
        let e = parse_line(r#"{"class":"TPV","mode":3,"lat":"north"}"#).expect_err("wrong type");
        assert!(matches!(e, GpsdJsonError::BadReport { class: "TPV", .. }), "{e}");
        let e = parse_line(r#"{"class":"TPV","mode":7}"#).expect_err("bad mode").to_string();
        assert!(e.contains("mode 7"), "{e}");
        let e = parse_line(r#"{"class":"TPV","mode":3,"lat":91.0,"lon":0.0}"#)
            .expect_err("bad lat")
            .to_string();
        assert!(e.contains("lat 91"), "{e}");
    }
}
