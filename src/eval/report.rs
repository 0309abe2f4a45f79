//! The evaluation report: one self-contained HTML page showing every miss with its crop, the
//! truth and what was read, so a person can see *why* a plate was missed.

use super::score::EvalSummary;
use crate::geometry::BoundingBox;
use base64::Engine;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A JPEG of the truth box with some context around it, as a data URI; `None` if the image
/// cannot be read again.
fn crop_data_uri(image_path: &Path, bbox: &BoundingBox) -> Option<String> {
    let image = crate::source::decode_still(image_path).ok()?;
    let margin_x = bbox.width() * 0.5;
    let margin_y = bbox.height() * 1.0;
    let wide = BoundingBox {
        x1: bbox.x1 - margin_x,
        y1: bbox.y1 - margin_y,
        x2: bbox.x2 + margin_x,
        y2: bbox.y2 + margin_y,
    };
    let (x, y, w, h) = wide.pixel_rect(image.width(), image.height())?;
    let crop = image::imageops::crop_imm(&image, x, y, w, h).to_image();
    let mut jpeg = Vec::new();
    crop.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

pub fn render_html(summary: &EvalSummary, folder: &Path) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>anpr-edge eval</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px}}img{{max-width:360px}}</style></head><body>\
         <h1>anpr-edge evaluation of {}</h1><table>\
         <tr><th>images</th><td>{}</td></tr><tr><th>plates</th><td>{}</td></tr>\
         <tr><th>exact</th><td>{:.1}%</td></tr><tr><th>character accuracy</th><td>{:.1}%</td></tr>\
         <tr><th>detection recall (IoU ≥ 0.5)</th><td>{:.1}%</td></tr><tr><th>extra reads</th><td>{}</td></tr>\
         <tr><th>ms per image, median / p95</th><td>{:.1} / {:.1}</td></tr></table>",
        escape(&folder.display().to_string()),
        summary.images,
        summary.plates,
        summary.exact * 100.0,
        summary.char_accuracy * 100.0,
        summary.det_recall * 100.0,
        summary.extra_reads,
        summary.ms_median,
        summary.ms_p95
    );
    let _ = write!(html, "<h2>Misses ({})</h2><table><tr><th>image</th><th>crop</th><th>truth</th><th>read</th></tr>", summary.misses.len());
    for miss in &summary.misses {
        let crop = crop_data_uri(&folder.join(&miss.image), &miss.truth_box)
            .map(|uri| format!("<img src=\"{uri}\">"))
            .unwrap_or_else(|| "(image unreadable)".into());
        let reads = if miss.reads.is_empty() {
            if miss.detected {
                "(detected, nothing read)".into()
            } else {
                "(not detected)".into()
            }
        } else {
            miss.reads.iter().map(|r| escape(r)).collect::<Vec<_>>().join(", ")
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{crop}</td><td><b>{}</b></td><td>{reads}</td></tr>",
            escape(&miss.image),
            escape(&miss.truth)
        );
    }
    html.push_str("</table></body></html>\n");
    html
}
