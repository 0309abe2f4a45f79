//! Criterion benchmark of blurring a non-hit overview: 1280×720 and 1920×1080 frames with 1 and
//! 4 plates, the whole `privacy::blur::blurred` call (frame copy, pixelation, Gaussian blur) as
//! the pipeline runs it. Synthetic frames: the cost depends on the sizes, not on the content.
//! Run: `cargo bench --bench privacy`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::geometry::BoundingBox;
use anpr_edge::privacy::blur::{blurred, BlurConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbImage;

fn frame(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 251) as u8, (y * 13 % 241) as u8, ((x + y) % 239) as u8])
    })
}

/// `n` plates of a size typical for the frame (a plate ~ 1/10 of the width), side by side.
fn plates(width: u32, height: u32, n: u32) -> Vec<BoundingBox> {
    let (w, h) = (width as f32 / 10.0, width as f32 / 45.0);
    (0..n)
        .map(|i| {
            BoundingBox::from_xywh(width as f32 * (0.1 + 0.2 * i as f32), height as f32 * 0.7, w, h)
        })
        .collect()
}

fn blur(c: &mut Criterion) {
    let mut group = c.benchmark_group("blur");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let image = frame(width, height);
        for n in [1, 4] {
            let boxes = plates(width, height, n);
            for windscreen in [false, true] {
                let name = format!(
                    "{width}x{height}_{n}_plates{}",
                    if windscreen { "_windscreen" } else { "" }
                );
                group.bench_function(name, |b| {
                    b.iter(|| {
                        blurred(&image, &boxes, &BlurConfig::default(), windscreen).expect("blur")
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, blur);
criterion_main!(benches);
