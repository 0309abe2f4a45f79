//! Record assembly: a fused read, the hotlist's verdict and the privacy policy for it become
//! the record and the images that leave the device. Pure but for the clock of the read id and
//! the JPEG encoder; unit-tested frame in, record out.

use super::context::ContextFrame;
use super::evidence::{Evidence, Jpeg};
use super::stamp::ReadStamp;
use super::PipelineStats;
use crate::digest::sha256_hex;
use crate::fuse::FusedRead;
use crate::hotlist::{AlertPolicy, LiveHotlist, Verdict};
use crate::imaging::{encode_jpeg, ImageConfig, JpegError};
use crate::outgoing::{ImageKind, ImageNames, Outgoing, OutgoingImage};
use crate::privacy::policy::{publish_match, publish_plate, OverviewRelease};
use crate::privacy::{Disposition, Privacy};
use crate::read_record::{
    new_read_id, ContextImageRef, FrameTimes, Identity, ImageRef, Images, Link, ReadRecord,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What turns a fused read into what leaves the device, in the order applied: the hotlist's
/// verdict, the privacy policy for it (plate, images, blur), who and where the unit is, and the
/// position and clock stamp.
#[derive(Clone, Copy)]
pub struct ReadStages<'a> {
    pub identity: &'a Identity,
    pub hotlist: &'a LiveHotlist,
    pub stamp: &'a ReadStamp,
    pub images: &'a ImageConfig,
    /// Where the destination keeps each image, as the record names it.
    pub image_names: &'a ImageNames,
    pub privacy: &'a Privacy,
    /// How sure a hit is, and when it alerts before fusion (`[hotlist.alert]`).
    pub alerts: &'a AlertPolicy,
}

/// The record and its images, as `privacy::policy` lets them out for the hotlist's verdict. A
/// failed image encoding (or blurring) costs the image, never the read; a non-hit overview that
/// could not be blurred is not sent.
pub fn build_outgoing(
    fused: &FusedRead<Evidence>,
    verdict: &Verdict,
    link: Link,
    context: &[Arc<ContextFrame>],
    stages: &ReadStages,
    stats: &PipelineStats,
) -> Outgoing {
    let ReadStages { identity, stamp, images: config, image_names, privacy, .. } = *stages;
    let read_id = new_read_id();
    let disposition = Disposition::of(verdict);
    let release = crate::privacy::release(&privacy.config, config, disposition);
    let evidence = &fused.best_payload;
    let mut attached = Vec::new();
    let mut refs = Images::default();
    let mut attach = |kind: ImageKind, encoded: Result<Jpeg, JpegError>| -> Option<ImageRef> {
        match encoded {
            Ok(Jpeg { bytes: jpeg, width, height }) => {
                let reference = ImageRef {
                    topic: image_names.name(&read_id, kind),
                    sha256: sha256_hex(&jpeg),
                    bytes: jpeg.len(),
                    width,
                    height,
                };
                attached.push(OutgoingImage { kind, jpeg });
                Some(reference)
            }
            Err(error) => {
                stats.image_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%read_id, %kind, %error, "image not encoded; the read goes without it");
                None
            }
        }
    };
    let whole = |image: &image::RgbImage, max_width: u32| {
        let rect = (0, 0, image.width(), image.height());
        encode_jpeg(image, rect, max_width, config.jpeg_quality)
            .map(|(bytes, width, height)| Jpeg { bytes, width, height })
    };
    match release.overview {
        OverviewRelease::None => {}
        OverviewRelease::Clear => {
            if let Some(overview) = evidence.clear_overview(config) {
                refs.overview = attach(ImageKind::Overview, overview);
            }
        }
        OverviewRelease::Blurred { windscreen } => {
            match evidence.blurred_overview(&privacy.config.blur, windscreen) {
                None => {}
                Some(Ok(blurred)) => {
                    let encoded = whole(&blurred, config.overview_max_width);
                    refs.overview = attach(ImageKind::Overview, encoded);
                }
                Some(Err(error)) => {
                    stats.image_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%read_id, %error, "overview not blurred, so not sent; the read goes without it");
                }
            }
        }
    }
    if release.plate_crop {
        if let Some(crop) = evidence.plate_crop() {
            refs.plate = attach(ImageKind::Plate, whole(crop, u32::MAX));
        }
    }
    if release.context {
        for (i, around) in context.iter().enumerate() {
            let kind = ImageKind::Context(i);
            if let Some(image) = attach(kind, whole(&around.image, u32::MAX)) {
                let offset = |t: std::time::Duration| t.as_millis() as i64;
                let offset_ms = offset(around.monotonic) - offset(evidence.monotonic);
                refs.context.push(ContextImageRef { offset_ms, image });
            }
        }
    }
    let times = FrameTimes { captured_at: evidence.captured_at, monotonic: evidence.monotonic };
    let plate = publish_plate(
        &release,
        &fused.best.plate,
        privacy.pseudonymiser.as_ref(),
        evidence.captured_at,
    );
    let mut record = ReadRecord::new(read_id, link, identity, fused, times, plate, disposition);
    record.images = refs;
    record.hotlist = verdict.matched().map(|listed| publish_match(listed, &record.plate));
    // Where and with which clock the read was made, before anything derives from the record.
    stamp.apply(&mut record, evidence.captured_at);
    Outgoing { record, images: attached }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::fuse::EmitReason;
    use crate::geometry::BoundingBox;
    use crate::hotlist::{Action, HotlistMatch, MatchKind};
    use crate::plate::PlateRead;
    use crate::plate::PlateText;
    use crate::privacy::PrivacyConfig;
    use crate::read_record::Site;
    use std::time::Duration;
    use std::time::SystemTime;

    fn identity() -> Identity {
        Identity {
            device_id: "t".parse().expect("id"),
            camera_id: "c".parse().expect("id"),
            site: Site { name: "s".into(), latitude: None, longitude: None },
            purpose: "test".into(),
        }
    }

    /// A noisy frame (every pixel differs from its neighbours) with two plates on it; the read
    /// is about the first. `packed`: kept as a track keeps it once a newer frame came.
    fn fused(packed: bool) -> FusedRead<Evidence> {
        let mut state = 7u32;
        let image = image::RgbImage::from_fn(320, 240, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 16) as u8;
            image::Rgb([v, v, v])
        });
        let frame = Arc::new(Frame {
            seq: 3,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: Duration::ZERO,
            origin: "test".into(),
            image,
        });
        let plates: Arc<[BoundingBox]> = Arc::from(vec![
            BoundingBox::from_xywh(40.0, 150.0, 80.0, 20.0),
            BoundingBox::from_xywh(200.0, 60.0, 80.0, 20.0),
        ]);
        let plate = PlateText {
            text: "1ABC234".into(),
            ocr_text: "1ABC234".into(),
            confidence: 0.9,
            char_confidences: vec![0.9; 7],
            format: None,
            region: None,
        };
        let images = ImageConfig::default();
        let mut evidence = Evidence::new(&frame, &plates, &plates[0], &images);
        if packed {
            let failed = crate::pipeline::evidence::pack(std::iter::once(&mut evidence), &images);
            assert!(failed.is_empty(), "{failed:?}");
        }
        FusedRead {
            vehicle: 1,
            best: PlateRead { plate, bbox: plates[0], detection_score: 0.9 },
            best_frame: 3,
            best_payload: evidence,
            agreeing_frames: 1,
            frames: 1,
            first_seen: Duration::ZERO,
            last_seen: Duration::ZERO,
            direction: None,
            reason: EmitReason::Flush,
        }
    }

    /// Mean step between horizontal neighbours inside `b` of the JPEG `kind` sent.
    fn detail(out: &Outgoing, kind: ImageKind, b: BoundingBox) -> f64 {
        let jpeg = &out.images.iter().find(|i| i.kind == kind).expect("image sent").jpeg;
        let img = image::load_from_memory(jpeg).expect("jpeg").to_luma8();
        crate::pipeline::evidence::tests::detail(&img, &b)
    }

    fn listed(action: Action) -> HotlistMatch {
        HotlistMatch {
            list: "l".into(),
            category: "lez-exempt".into(),
            action,
            plate: Some("1ABC234".into()),
            match_kind: MatchKind::Exact,
            distance: 0,
            note: Some("permit 17".into()),
            list_version: "v1".into(),
        }
    }

    fn outgoing(disposition: Disposition) -> Outgoing {
        outgoing_of(&fused(false), disposition)
    }

    fn outgoing_of(fused: &FusedRead<Evidence>, disposition: Disposition) -> Outgoing {
        let verdict = match disposition {
            Disposition::Hit => Verdict::Alert(listed(Action::Alert)),
            Disposition::Allowed => Verdict::Allow(listed(Action::Allow)),
            Disposition::NonHit => Verdict::NoMatch,
        };
        let privacy = Privacy::start(&PrivacyConfig::with_purpose("test")).expect("privacy");
        let (identity, hotlist, stamp, images) =
            (identity(), LiveHotlist::new(None, 1), ReadStamp::unplaced(), ImageConfig::default());
        let stages = ReadStages {
            identity: &identity,
            hotlist: &hotlist,
            stamp: &stamp,
            images: &images,
            image_names: &ImageNames::unpublished(),
            privacy: &privacy,
            alerts: &crate::hotlist::AlertPolicy::default(),
        };
        let link = Link {
            report: crate::read_record::Report::Vehicle,
            vehicle_id: "v-1".into(),
            alert_id: None,
            alert_level: None,
        };
        build_outgoing(fused, &verdict, link, &[], &stages, &PipelineStats::default())
    }

    #[test]
    fn a_hit_leaves_whole_and_unblurred() {
        let out = outgoing(Disposition::Hit);
        assert_eq!(out.record.plate.text.as_deref(), Some("1ABC234"));
        assert!(out.record.hit && out.record.images.plate.is_some());
        assert_eq!(
            out.record.hotlist,
            Some(listed(Action::Alert)),
            "the control room sees the listing in full"
        );
        let f = fused(false);
        assert!(
            detail(&out, ImageKind::Overview, f.best_payload.plates[1]) > 30.0,
            "a hit's overview keeps its detail"
        );
    }

    #[test]
    fn a_packed_best_frame_gives_a_hit_the_same_images_and_a_non_hit_its_plates_blurred() {
        let (whole, packed) = (fused(false), fused(true));
        let images = |out: Outgoing| -> Vec<(ImageKind, Vec<u8>)> {
            out.images.into_iter().map(|i| (i.kind, i.jpeg)).collect()
        };
        let sent = images(outgoing_of(&whole, Disposition::Hit));
        assert_eq!(sent.len(), 2, "overview and plate crop");
        assert_eq!(sent, images(outgoing_of(&packed, Disposition::Hit)), "byte for byte");
        let out = outgoing_of(&packed, Disposition::NonHit);
        for (i, plate) in packed.best_payload.plates.iter().enumerate() {
            let d = detail(&out, ImageKind::Overview, *plate);
            assert!(d < 3.0, "plate {i} is blurred on the packed overview too: detail {d}");
        }
    }

    #[test]
    fn a_non_hit_leaves_with_every_plate_blurred_and_no_plate_or_crop() {
        let out = outgoing(Disposition::NonHit);
        assert_eq!(
            (out.record.plate.text.as_ref(), out.record.images.plate.as_ref()),
            (None, None)
        );
        assert_eq!(out.images.len(), 1);
        for (i, plate) in fused(false).best_payload.plates.iter().enumerate() {
            let d = detail(&out, ImageKind::Overview, *plate);
            assert!(
                d < 3.0,
                "plate {i} (the read's own and the other car's) is blurred: detail {d}"
            );
        }
        assert_eq!(out.record.purpose, "test");
    }

    #[test]
    fn an_allowed_read_leaves_without_any_image() {
        let out = outgoing(Disposition::Allowed);
        assert!(
            out.images.is_empty()
                && out.record.images.overview.is_none()
                && out.record.images.plate.is_none()
        );
        assert_eq!(out.record.disposition, Disposition::Allowed);
        let published = out.record.hotlist.expect("the exemption that applied is named");
        assert_eq!(
            (published.plate, published.note),
            (None, None),
            "a withheld plate is not given away by its listing"
        );
        assert_eq!(published.category, "lez-exempt");
    }
}
