//! `eval` on video, the pure half: the clips of a folder with their labelled vehicles, and how
//! the vehicles a clip's run reported score against them.
//!
//! A clip `NAME.mp4` (any video FFmpeg opens) is labelled by `NAME.txt` in the
//! openalpr-benchmarks line format, one line per vehicle whose plate a person can read (the box
//! is the whole frame: nothing says where or when); an empty file says no plate is legible, so
//! every report there is a phantom. A report names a vehicle when its text equals the label
//! (O and 0 equal); a report one or two edits from a labelled vehicle is that vehicle misread.
//!
//! | outcome | when |
//! |---|---|
//! | read once | exactly one report names the vehicle, and none misreads it |
//! | duplicate | the vehicle was reported more than once (named or misread) |
//! | missed | no report names the vehicle (a misread of it is a phantom too) |
//! | phantom | a report that names no labelled vehicle |

use super::ground_truth::{load_labelled, GroundTruthError};
use crate::plate::{edit_distance, fold};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A report this many edits from a labelled vehicle is that vehicle misread.
const MISREAD_EDITS: usize = 2;

/// One clip and the plates of its legible vehicles (normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipTruth {
    pub clip: PathBuf,
    pub vehicles: Vec<String>,
}

/// The clips of `folder` that have a label file, sorted by name: files that are neither
/// stills nor text, with `NAME.txt` beside them.
pub fn load_clips(folder: &Path) -> Result<Vec<ClipTruth>, GroundTruthError> {
    let clip = |file: &Path| {
        let text = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
        file.is_file() && !text && !crate::source::is_still(file)
    };
    Ok(load_labelled(folder, clip)?
        .into_iter()
        .map(|(clip, plates)| ClipTruth {
            clip,
            vehicles: plates.into_iter().map(|p| p.text).collect(),
        })
        .collect())
}

/// How one clip's reports score.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClipScore {
    pub vehicles: usize,
    /// Labelled vehicles reported exactly once, correctly.
    pub read_once: Vec<String>,
    pub missed: Vec<String>,
    /// Labelled vehicles reported more than once.
    pub duplicates: Vec<String>,
    /// Indexes (into the reports) of the reports that name no labelled vehicle.
    pub phantoms: Vec<usize>,
    /// Indexes of the phantoms that are a missed vehicle misread.
    pub misreads: Vec<usize>,
    /// Indexes of the reports of duplicated vehicles after their first.
    pub repeats: Vec<usize>,
}

/// Scores `reports` (the texts a clip's run reported, in order) against `vehicles`.
pub fn score_clip(vehicles: &[String], reports: &[String]) -> ClipScore {
    let labels: Vec<String> = vehicles.iter().map(|v| fold(v)).collect();
    // Whose each report is: the vehicle it names (true), or the nearest one within reach that
    // it misreads (false), or nobody's.
    let owner: Vec<Option<(usize, bool)>> = reports
        .iter()
        .map(|r| {
            let r = fold(r);
            if let Some(v) = labels.iter().position(|l| *l == r) {
                return Some((v, true));
            }
            labels
                .iter()
                .enumerate()
                .map(|(v, l)| (v, edit_distance(l, &r)))
                .filter(|(_, d)| *d <= MISREAD_EDITS)
                .min_by_key(|(_, d)| *d)
                .map(|(v, _)| (v, false))
        })
        .collect();
    let named = |v: usize| owner.contains(&Some((v, true)));
    let mut score = ClipScore { vehicles: vehicles.len(), ..ClipScore::default() };
    for (v, vehicle) in vehicles.iter().enumerate() {
        let of_it: Vec<usize> =
            (0..reports.len()).filter(|&r| owner[r].map(|o| o.0) == Some(v)).collect();
        if !named(v) {
            score.missed.push(vehicle.clone());
        } else if of_it.len() == 1 {
            score.read_once.push(vehicle.clone());
        } else {
            score.duplicates.push(vehicle.clone());
            let first = of_it.iter().copied().find(|&r| owner[r] == Some((v, true)));
            score.repeats.extend(of_it.into_iter().filter(|&r| Some(r) != first));
        }
    }
    for (r, owner) in owner.iter().enumerate() {
        match owner {
            None => score.phantoms.push(r),
            Some((v, false)) if !named(*v) => {
                score.phantoms.push(r);
                score.misreads.push(r);
            }
            Some(_) => {}
        }
    }
    score.repeats.sort_unstable();
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_vehicle_is_read_once_missed_or_duplicated_and_the_rest_are_phantoms() {
        let vehicles = texts(&["GL19TNJ", "173D441", "XSNB23", "LS15EBC"]);
        let reports = texts(&["GL19TNJ", "173D44I", "XSNB23", "XSNB23", "1111", "LS15EBO"]);
        let score = score_clip(&vehicles, &reports);
        assert_eq!(score.read_once, ["GL19TNJ"]);
        assert_eq!(score.missed, ["173D441", "LS15EBC"]);
        assert_eq!(score.duplicates, ["XSNB23"]);
        assert_eq!(score.phantoms, [1, 4, 5], "the misreads of missed cars and the blob");
        assert_eq!(score.misreads, [1, 5]);
        assert_eq!(score.repeats, [3]);
    }

    #[test]
    fn a_misread_beside_a_correct_report_is_a_duplicate_and_o_is_zero() {
        let score = score_clip(&texts(&["AB0123"]), &texts(&["ABO123", "AB0128"]));
        assert_eq!(score.duplicates, ["AB0123"]);
        assert!(score.phantoms.is_empty() && score.read_once.is_empty());
        assert_eq!(score.repeats, [1]);
        let empty = score_clip(&[], &texts(&["T1JX"]));
        assert_eq!((empty.vehicles, empty.phantoms.as_slice()), (0, &[0][..]), "no plate legible");
    }

    #[test]
    fn clips_are_found_beside_their_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        write("a.mp4", "");
        write("a.txt", "a.mp4\t0\t0\t640\t480\tab-12-cd\n");
        write("b.avi", "");
        write("b.txt", "");
        write("unlabelled.mp4", "");
        write("still.jpg", "");
        write("still.txt", "still.jpg\t1\t2\t3\t4\tX\n");
        write("README.txt", "hello");
        let clips = load_clips(dir.path()).expect("clips");
        let names: Vec<_> = clips.iter().map(|c| c.clip.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.mp4", "b.avi"]);
        assert_eq!(clips[0].vehicles, ["AB12CD"]);
        assert!(clips[1].vehicles.is_empty());
        write("c.mp4", "");
        write("c.txt", "other.mp4\t0\t0\t1\t1\tX\n");
        let error = load_clips(dir.path()).expect_err("a label naming another clip").to_string();
        assert!(error.contains("c.txt:1") && error.contains("other.mp4"), "{error}");
    }
}
