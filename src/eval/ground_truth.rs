//! Ground truth in the openalpr-benchmarks format: `IMG.jpg` beside `IMG.txt`, whose lines read
//! `IMG.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`, one per plate.

use crate::geometry::BoundingBox;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct TruthPlate {
    pub bbox: BoundingBox,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TruthImage {
    pub image: PathBuf,
    pub plates: Vec<TruthPlate>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    #[error("{path}: no such folder")]
    NoFolder { path: PathBuf },
    #[error("{path}: cannot list the folder: {source}")]
    List { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {problem}; expected `IMG.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`")]
    Line { path: PathBuf, line: usize, problem: String },
    #[error("{path}: no IMG.jpg with an IMG.txt ground truth file in this folder")]
    Empty { path: PathBuf },
}

/// Parses one annotation file. Lines naming another image than `image_name` are an error:
/// they would silently score the wrong picture.
pub fn parse_annotations(
    text: &str,
    image_name: &str,
    path: &Path,
) -> Result<Vec<TruthPlate>, GroundTruthError> {
    let mut plates = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let problem = |problem: String| GroundTruthError::Line {
            path: path.to_path_buf(),
            line: n + 1,
            problem,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 6 {
            return Err(problem(format!("{} tab-separated fields", fields.len())));
        }
        if fields[0] != image_name {
            return Err(problem(format!("names image `{}`, not `{image_name}`", fields[0])));
        }
        let mut numbers = [0f32; 4];
        for (slot, field) in numbers.iter_mut().zip(&fields[1..5]) {
            *slot =
                field.trim().parse().map_err(|_| problem(format!("`{field}` is not a number")))?;
        }
        let text = crate::plate_format::normalise(fields[5]);
        if text.is_empty() {
            return Err(problem("empty plate text".into()));
        }
        let [x, y, w, h] = numbers;
        plates.push(TruthPlate { bbox: BoundingBox::from_xywh(x, y, w, h), text });
    }
    Ok(plates)
}

/// Every file of `folder` that `wanted` takes and that has `NAME.txt` beside it, with the
/// plates that file lists, sorted by name. Text files without a file of the same stem (a README,
/// a licence) are ignored.
pub(super) fn load_labelled(
    folder: &Path,
    wanted: impl Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, Vec<TruthPlate>)>, GroundTruthError> {
    if !folder.is_dir() {
        return Err(GroundTruthError::NoFolder { path: folder.to_path_buf() });
    }
    let list_error = |source| GroundTruthError::List { path: folder.to_path_buf(), source };
    let mut labelled = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(list_error)? {
        let file = entry.map_err(list_error)?.path();
        let annotations = file.with_extension("txt");
        if !wanted(&file) || annotations == file || !annotations.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&annotations)
            .map_err(|source| GroundTruthError::Read { path: annotations.clone(), source })?;
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let plates = parse_annotations(&text, &name, &annotations)?;
        labelled.push((file, plates));
    }
    labelled.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(labelled)
}

/// Every image in `folder` that has a ground-truth file, sorted by name.
pub fn load_folder(folder: &Path) -> Result<Vec<TruthImage>, GroundTruthError> {
    let images: Vec<TruthImage> = load_labelled(folder, crate::source::is_still)?
        .into_iter()
        .map(|(image, plates)| TruthImage { image, plates })
        .collect();
    if images.is_empty() {
        return Err(GroundTruthError::Empty { path: folder.to_path_buf() });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_line_per_plate() {
        let text = "a.jpg\t10\t20\t100\t30\tba-123 ab\na.jpg\t1\t2\t3\t4\tXY1\n";
        let plates = parse_annotations(text, "a.jpg", Path::new("a.txt")).expect("parse");
        assert_eq!(plates.len(), 2);
        assert_eq!(plates[0].text, "BA123AB");
        assert_eq!(plates[0].bbox, BoundingBox { x1: 10.0, y1: 20.0, x2: 110.0, y2: 50.0 });
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let e = parse_annotations("a.jpg\t1\t2\tx\t4\tP\n", "a.jpg", Path::new("a.txt"))
            .expect_err("bad number")
            .to_string();
        assert!(e.contains("a.txt:1") && e.contains("`x`"), "{e}");
        let e = parse_annotations("b.jpg\t1\t2\t3\t4\tP\n", "a.jpg", Path::new("a.txt"))
            .expect_err("other image")
            .to_string();
        assert!(e.contains("b.jpg"), "{e}");
        assert!(parse_annotations("a.jpg 1 2 3 4 P\n", "a.jpg", Path::new("a.txt")).is_err());
    }

    #[test]
    fn a_folder_without_annotated_images_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("README.txt"), "hello").expect("write");
        assert!(matches!(load_folder(dir.path()), Err(GroundTruthError::Empty { .. })));
    }
}
