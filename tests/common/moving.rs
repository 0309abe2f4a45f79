//! Moving-camera material made from the real photographs: what a patrol car's forward camera
//! sees, scene by scene (a car ahead coming from far away, a car that leaves view at the
//! frame's edge and comes back, parked cars passed at speed and passed again, two cars side by
//! side), with the camera's own shake and drift; and the fixed-camera road of every photograph
//! approaching, to measure phantoms where the camera stands. Each photograph is one vehicle.
//! Deterministic (a fixed seed), so a run is repeatable.

use super::{truth_of, write_video_stream, Random};
use image::{imageops, Rgb, RgbImage};
use std::path::{Path, PathBuf};

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;
pub const FPS: f64 = 10.0;

/// A rendered clip and the plates of the vehicles in it (folded, once each).
pub struct Material {
    pub video: PathBuf,
    pub vehicles: Vec<String>,
    pub frames: usize,
}

/// Where one photograph is on one frame: its centre (fractions of the frame) and its scale
/// (1.0: the photograph fitted to the frame).
#[derive(Clone, Copy)]
struct Place {
    x: f32,
    y: f32,
    scale: f32,
}

/// One stretch of the drive: the photographs in view and, for each, its place at the start and
/// the end of the stretch (moved linearly between), over `frames` frames.
struct Shot {
    cars: Vec<(usize, Place, Place)>,
    frames: usize,
}

const EMPTY: usize = 12; // 1.2 s of road between scenes: longer than fusion.leave_after_ms

fn empty() -> Shot {
    Shot { cars: Vec::new(), frames: EMPTY }
}

fn at(x: f32, y: f32, scale: f32) -> Place {
    Place { x, y, scale }
}

/// The photographs of the moving drive: each read alone and correctly as a still.
const DRIVE: [&str; 8] = [
    "eu5.jpg",
    "test_002.jpg",
    "test_016.jpg",
    "eu1.jpg",
    "test_028.jpg",
    "eu11.jpg",
    "eu9.jpg",
    "test_066.jpg",
];

/// The patrol car's drive, 8 vehicles in about 30 s.
fn drive_shots() -> Vec<Shot> {
    let one = |car, from, to, frames| Shot { cars: vec![(car, from, to)], frames };
    vec![
        // A car ahead, far at first (its plate a few pixels: noise), closing in over 3 s.
        one(0, at(0.55, 0.45, 0.12), at(0.5, 0.5, 1.0), 30),
        empty(),
        // A car beside, that drifts out of view at the left edge (half a plate there), is gone
        // for 2 s, and comes back in from the left.
        one(1, at(0.5, 0.5, 0.7), at(0.45, 0.5, 0.7), 10),
        one(1, at(0.45, 0.5, 0.7), at(-0.3, 0.5, 0.7), 6),
        Shot { cars: Vec::new(), frames: 20 },
        one(1, at(-0.3, 0.5, 0.75), at(0.4, 0.5, 0.75), 6),
        one(1, at(0.4, 0.5, 0.75), at(0.45, 0.5, 0.8), 10),
        empty(),
        // A parked car passed at speed: across the frame from right to left in 1 s.
        one(2, at(1.1, 0.55, 0.8), at(-0.1, 0.55, 0.9), 10),
        empty(),
        // A car ahead, zoomed in on (the lens hunting), with a hard shake.
        one(3, at(0.5, 0.5, 0.5), at(0.5, 0.5, 1.1), 20),
        empty(),
        // Another parked car passed.
        one(4, at(1.1, 0.5, 0.85), at(-0.1, 0.5, 0.85), 12),
        empty(),
        // A car ahead closing in from middle distance.
        one(5, at(0.6, 0.4, 0.3), at(0.5, 0.5, 0.9), 20),
        empty(),
        // Two cars side by side, both pulling away.
        Shot {
            cars: vec![
                (6, at(0.27, 0.5, 0.55), at(0.3, 0.5, 0.45)),
                (7, at(0.73, 0.5, 0.55), at(0.7, 0.5, 0.45)),
            ],
            frames: 20,
        },
        empty(),
        // Back along the street: the first parked car passed a second time, 15 s later.
        one(2, at(1.1, 0.55, 0.8), at(-0.1, 0.55, 0.9), 10),
        empty(),
    ]
}

/// Renders `shots` of `photos` with the camera's shake (`shake` pixels at most) into `video`.
fn render(folder: &Path, photos: &[&str], shots: &[Shot], shake: f32, video: &Path) -> Material {
    let stills: Vec<RgbImage> = photos
        .iter()
        .map(|n| anpr_edge::source::decode_still(&folder.join(n)).expect("decode"))
        .collect();
    let mut random = Random(0x005e_ed0f_d21e);
    let mut frames = Vec::new();
    for shot in shots {
        for i in 0..shot.frames {
            let t = if shot.frames > 1 { i as f32 / (shot.frames - 1) as f32 } else { 0.0 };
            let jitter = |r: &mut Random| (r.below(2001) as f32 / 1000.0 - 1.0) * shake;
            let (dx, dy) = (jitter(&mut random), jitter(&mut random));
            let cars: Vec<(usize, Place)> = shot
                .cars
                .iter()
                .map(|&(car, a, b)| {
                    let lerp = |a: f32, b: f32| a + (b - a) * t;
                    (car, at(lerp(a.x, b.x), lerp(a.y, b.y), lerp(a.scale, b.scale)))
                })
                .collect();
            frames.push((cars, dx, dy));
        }
    }
    let count = frames.len();
    let drawn = frames.into_iter().map(|(cars, dx, dy)| {
        let mut canvas = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([80, 84, 88]));
        for (car, place) in cars {
            let still = &stills[car];
            let fit =
                (WIDTH as f32 / still.width() as f32).min(HEIGHT as f32 / still.height() as f32);
            let (w, h) = (
                (still.width() as f32 * fit * place.scale).max(1.0) as u32,
                (still.height() as f32 * fit * place.scale).max(1.0) as u32,
            );
            let scaled = imageops::resize(still, w, h, imageops::FilterType::Triangle);
            let x = place.x * WIDTH as f32 - w as f32 / 2.0 + dx;
            let y = place.y * HEIGHT as f32 - h as f32 / 2.0 + dy;
            imageops::overlay(&mut canvas, &scaled, x as i64, y as i64);
        }
        canvas
    });
    write_video_stream(video, drawn, WIDTH, HEIGHT, FPS);
    let mut vehicles: Vec<String> = Vec::new();
    for name in photos {
        let plate = truth_of(folder, name);
        if !vehicles.contains(&plate) {
            vehicles.push(plate);
        }
    }
    Material { video: video.to_path_buf(), vehicles, frames: count }
}

/// The patrol car's drive (see [`drive_shots`]) as a video in `dir`.
pub fn drive_video(folder: &Path, dir: &Path) -> Material {
    render(folder, &DRIVE, &drive_shots(), 8.0, &dir.join("drive.mp4"))
}

/// A fixed camera over a road where every photograph of the folder approaches: its car from
/// 40 % to full size over 1.2 s, then 1.2 s of empty road. No shake: the camera stands.
pub fn approaching_road_video(folder: &Path, dir: &Path) -> Material {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    names.sort();
    let photos: Vec<&str> = names.iter().map(String::as_str).collect();
    let shots: Vec<Shot> = (0..photos.len())
        .flat_map(|car| {
            [Shot { cars: vec![(car, at(0.5, 0.5, 0.4), at(0.5, 0.5, 1.0))], frames: 12 }, empty()]
        })
        .collect();
    render(folder, &photos, &shots, 0.0, &dir.join("road.mp4"))
}

/// How the reads of a clip compare with its vehicles.
#[derive(Debug, Default, serde::Serialize)]
pub struct Score {
    pub vehicles_expected: usize,
    /// Vehicles whose plate was read exactly once, as annotated.
    pub vehicles_read_once: usize,
    /// Vehicles read more than once (each extra read counts): a read within two edits of a
    /// vehicle's plate is of that vehicle.
    pub duplicates: usize,
    /// Reads of no vehicle in the clip.
    pub phantoms: usize,
    /// Vehicles with no read of their plate.
    pub missed: usize,
    pub reads: usize,
}

/// Scores read texts (as the records give them) against `vehicles` (folded plates).
pub fn score(texts: &[String], vehicles: &[String]) -> Score {
    use anpr_edge::plate::{edit_distance, fold};
    let mut per_vehicle = vec![(0usize, 0usize); vehicles.len()]; // (reads, exact reads)
    let mut phantoms = 0;
    for text in texts {
        let text = fold(text);
        let nearest = vehicles.iter().enumerate().map(|(i, v)| (edit_distance(v, &text), i)).min();
        match nearest {
            Some((distance, i)) if distance <= 2 => {
                per_vehicle[i].0 += 1;
                per_vehicle[i].1 += usize::from(distance == 0);
            }
            _ => phantoms += 1,
        }
    }
    Score {
        vehicles_expected: vehicles.len(),
        vehicles_read_once: per_vehicle
            .iter()
            .filter(|(all, exact)| *all == 1 && *exact == 1)
            .count(),
        duplicates: per_vehicle.iter().map(|(all, _)| all.saturating_sub(1)).sum(),
        phantoms,
        missed: per_vehicle.iter().filter(|(all, _)| *all == 0).count(),
        reads: texts.len(),
    }
}
