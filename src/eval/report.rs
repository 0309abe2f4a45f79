//! The evaluation report: one self-contained HTML page with the accuracy per country, a
//! confusion table of characters, and every miss with its crop, the truth and what was read, so
//! a person can see *why* a plate was missed.

use super::score::{Confusion, CountryScore, EvalSummary, NO_FORMAT};
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

/// How a country of [`CountryScore`] is shown to a person.
pub fn country_label(country: &str) -> &str {
    if country == NO_FORMAT {
        "(no listed format)"
    } else {
        country
    }
}

fn countries_html(countries: &[CountryScore]) -> String {
    let mut html = String::from(
        "<h2>Per country (of the true plate's format)</h2><table>\
         <tr><th>country</th><th>plates</th><th>exact</th></tr>",
    );
    for c in countries {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
            escape(country_label(&c.country)),
            c.plates,
            c.exact * 100.0
        );
    }
    html.push_str("</table>");
    html
}

/// Truth characters down, what was read across: each cell counts one confusion, darker the
/// more often; only characters that were confused have a row or a column.
fn confusion_table(confusions: &[Confusion]) -> String {
    if confusions.is_empty() {
        return "<h2>Confusions</h2><p>none</p>".into();
    }
    let mut truths: Vec<char> = confusions.iter().map(|c| c.truth).collect();
    let mut reads: Vec<char> = confusions.iter().map(|c| c.read).collect();
    for chars in [&mut truths, &mut reads] {
        chars.sort_unstable();
        chars.dedup();
    }
    let most = confusions.iter().map(|c| c.count).max().unwrap_or(1);
    let mut html = String::from(
        "<h2>Confusions (truth ↓, read →, same-length reads)</h2><table><tr><th></th>",
    );
    for r in &reads {
        let _ = write!(html, "<th>{}</th>", escape(&r.to_string()));
    }
    html.push_str("</tr>");
    for t in &truths {
        let _ = write!(html, "<tr><th>{}</th>", escape(&t.to_string()));
        for r in &reads {
            match confusions.iter().find(|c| c.truth == *t && c.read == *r) {
                Some(c) => {
                    let shade = 90 - (50 * c.count / most) as u32;
                    let _ = write!(
                        html,
                        "<td style=\"background:hsl(0,80%,{shade}%)\">{}</td>",
                        c.count
                    );
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
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
         <tr><th>ms per image, median / p95</th><td>{:.1} / {:.1}</td></tr>\
         <tr><th>of which OCR, median / p95</th><td>{:.1} / {:.1}</td></tr></table>",
        escape(&folder.display().to_string()),
        summary.images,
        summary.plates,
        summary.exact * 100.0,
        summary.char_accuracy * 100.0,
        summary.det_recall * 100.0,
        summary.extra_reads,
        summary.ms_median,
        summary.ms_p95,
        summary.ocr_ms_median,
        summary.ocr_ms_p95
    );
    html.push_str(&countries_html(&summary.countries));
    html.push_str(&confusion_table(&summary.confusions));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confusion_table_has_a_row_per_true_and_a_column_per_read_character() {
        let html = confusion_table(&[
            Confusion { truth: '8', read: 'B', count: 3 },
            Confusion { truth: '0', read: 'D', count: 1 },
        ]);
        assert_eq!(html.matches("<tr>").count(), 3, "header and two truth rows: {html}");
        assert!(html.contains("<th>B</th>") && html.contains("<th>D</th>"));
        assert!(html.contains(">3</td>") && html.contains(">1</td>"));
        assert!(confusion_table(&[]).contains("none"));
    }

    #[test]
    fn plates_of_no_listed_format_are_labelled_for_a_person() {
        let html =
            countries_html(&[CountryScore { country: NO_FORMAT.into(), plates: 4, exact: 0.5 }]);
        assert!(html.contains("(no listed format)") && html.contains("50.0%"), "{html}");
    }
}
