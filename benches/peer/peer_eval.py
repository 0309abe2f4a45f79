#!/usr/bin/env python3
"""The peer pipeline: fast-alpr's own Python components, the open-image-models YOLOv9 detector and
the fast-plate-ocr recogniser, on ONNX Runtime (CPU) with the same model files anpr-edge uses.

  benches/peer/peer_eval.py FOLDER [--ocr v1|v2] [--json] [--models DIR] [--threads N]

FOLDER holds IMG.jpg + IMG.txt pairs (IMG.txt: one line per plate, tab-separated
`IMG.jpg x y w h PLATE`, box in pixels); images without a .txt are skipped. --models defaults to
../shared/models beside the repository root; --threads (intra-op, default 2) applies to both
sessions (execution mode sequential, graph optimisation ALL, CPU provider only).

Pipeline (nothing of fast-alpr is patched; no download is attempted):
- detector: open_image_models.create_detector(<local .onnx>, backend="yolo_v9",
  class_labels=("License Plate",), conf_thresh=0.4), open-image-models' documented constructor
  for a local file, wrapped as a fast_alpr BaseDetector; 0.4 is fast_alpr.ALPR's default
  detector_conf_thresh;
- OCR: fast_alpr.ALPR(ocr_model=None, ocr_model_path=..., ocr_config_path=...), fast-alpr's
  documented local-model arguments (-> fast_plate_ocr.LicensePlateRecognizer(onnx_model_path,
  plate_config_path)); cct_xs_v2_global (default) or cct_xs_v1_global with its plate config;
- per image, timed: ALPR.predict(path) = cv2.imread + detect + crop of every detection +
  OCR of every crop, one after another (that is what fast-alpr does). Timing starts after 3
  warm-up images (the first three of the folder, which are then timed again with the others).

Scoring (all fractions 0..1):
- text normalisation: uppercase, drop every character that is not A-Z or 0-9, then letter O ->
  digit 0 (the annotations write O where plates print 0), on truths and reads alike;
- exact: a truth plate counts as read when ANY read of its image, normalised, equals it
  normalised; exact = read truth plates / truth plates;
- det_recall: a truth plate counts as detected when any detection of its image (read or not) has
  IoU >= 0.5 with its box; det_recall = detected / truth plates. Boxes are [x1, y1, x2, y2)
  with the truth's x2 = x + w, y2 = y + h; detections are open-image-models' integer boxes in
  original-image pixels;
- char_accuracy: over the truth plates that were detected only; for each, the read is the text
  of the detection with the highest IoU with it (>= 0.5); matches = number of positions i with
  truth[i] == read[i] (left-aligned, no shifting), n = max(len(truth), len(read));
  char_accuracy = sum(matches) / sum(n) over those plates (0 when none was detected);
- char_accuracy_edit (extra key): what anpr-edge's src/eval/score.rs computes instead, over ALL
  truth plates: sum(n - Levenshtein(truth, read)) / sum(n), an undetected plate scoring 0 of its
  length. Both are 1.0 when every plate is read exactly;
- ms_median, ms_p95: median and 95th percentile (nearest rank) of the per-image times, in ms;
- misses: {image, truth, reads} for every truth plate not read exactly (raw texts as annotated
  and as read).

With --json, ONE JSON object is printed on stdout with the keys images, plates, exact,
char_accuracy, det_recall, ms_median, ms_p95, misses (and the extras pipeline,
char_accuracy_edit, detections, threads, ocr).
"""
import argparse
import json
import logging
import pathlib
import re
import statistics
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort
from fast_alpr import ALPR
from fast_alpr.base import BaseDetector
from open_image_models import create_detector

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models"))
from box_metrics import iou, quantile  # noqa: E402  (shared with models/compare_detectors.py)
DETECTOR = "yolo-v9-t-416-license-plates-end2end1.onnx"
OCR = {"v1": "cct_xs_v1_global", "v2": "cct_xs_v2_global"}
WARMUP = 3
MIN_IOU = 0.5


class LocalDetector(BaseDetector):
    """fast-alpr's DefaultDetector only takes hub model names (it downloads); this is the same
    open-image-models YOLOv9 detector built from the local file with create_detector."""

    def __init__(self, path, threshold, options):
        self.detector = create_detector(
            path,
            backend="yolo_v9",
            class_labels=("License Plate",),
            conf_thresh=threshold,
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )

    def predict(self, frame):
        return self.detector.predict(frame)


def build(models, ocr, threads, spin=True):
    """The peer pipeline on the model files in `models`, OCR `ocr` (a file stem of OCR), both
    sessions with `threads` intra-op threads (see the module's docstring); `spin=False` stops
    their idle threads spinning, which ONNX Runtime does by default."""
    options = ort.SessionOptions()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ALPR(
        detector=LocalDetector(models / DETECTOR, 0.4, options),
        ocr_model=None,
        ocr_device="cpu",
        ocr_providers=["CPUExecutionProvider"],
        ocr_sess_options=options,
        ocr_model_path=models / f"{ocr}.onnx",
        ocr_config_path=models / f"{ocr}_plate_config.yaml",
    )


def normalise(text):
    return re.sub(r"[^0-9A-Z]", "", (text or "").upper()).replace("O", "0")


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        cur = [i + 1]
        for j, cb in enumerate(b):
            cur.append(min(prev[j] + (ca != cb), prev[j + 1] + 1, cur[j] + 1))
        prev = cur
    return prev[len(b)]


def load_truth(folder):
    images = []
    for img in sorted(folder.glob("*.jpg")):
        txt = img.with_suffix(".txt")
        if not txt.exists():
            continue
        truths = []
        for line in txt.read_text().splitlines():
            f = line.split("\t")
            if len(f) >= 6:
                x, y, w, h = map(float, f[1:5])
                truths.append(((x, y, x + w, y + h), f[5].strip()))
        images.append((img, truths))
    return images


def score(images, outcomes):
    plates = exact = detected = 0
    pos_right = pos_total = edit_right = edit_total = 0
    misses = []
    for (img, truths), reads in zip(images, outcomes):
        for box, truth_raw in truths:
            truth = normalise(truth_raw)
            plates += 1
            ok = any(normalise(text) == truth for _, text in reads)
            exact += ok
            best = max(((iou(box, b), text) for b, text in reads), default=(0.0, ""), key=lambda p: p[0])
            if best[0] >= MIN_IOU:
                detected += 1
                read = normalise(best[1])
                n = max(len(truth), len(read))
                pos_right += sum(t == r for t, r in zip(truth, read))
                pos_total += n
                edit_right += max(n - edit_distance(truth, read), 0)
                edit_total += n
            else:
                edit_total += len(truth)
            if not ok:
                misses.append({"image": img.name, "truth": truth_raw, "reads": [text for _, text in reads]})
    frac = lambda n, d: n / d if d else 0.0  # noqa: E731
    return {
        "plates": plates,
        "exact": frac(exact, plates),
        "char_accuracy": frac(pos_right, pos_total),
        "char_accuracy_edit": frac(edit_right, edit_total),
        "det_recall": frac(detected, plates),
        "misses": misses,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--ocr", choices=sorted(OCR), default="v2")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--models", type=pathlib.Path, default=ROOT.parent / "shared" / "models")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of each session (default 2)")
    args = ap.parse_args()

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore", DeprecationWarning)
    ocr = OCR[args.ocr]
    alpr = build(args.models, ocr, args.threads)

    images = load_truth(args.folder)
    if not images:
        sys.exit(f"no IMG.jpg with IMG.txt in {args.folder}")
    for img, _ in images[:WARMUP]:
        alpr.predict(str(img))
    times, outcomes = [], []
    for img, _ in images:
        started = time.perf_counter()
        results = alpr.predict(str(img))
        times.append((time.perf_counter() - started) * 1000)
        reads = []
        for r in results:
            b = r.detection.bounding_box
            text = r.ocr.text if r.ocr is not None else ""
            reads.append(((b.x1, b.y1, b.x2, b.y2), text or ""))
        outcomes.append(reads)

    scored = score(images, outcomes)
    summary = {
        "pipeline": f"peer: fast-alpr (open-image-models + fast-plate-ocr {ocr}), int8 detector, "
        f"onnxruntime {ort.__version__}, {args.threads} intra-op threads",
        "images": len(images),
        "plates": scored["plates"],
        "exact": scored["exact"],
        "char_accuracy": scored["char_accuracy"],
        "char_accuracy_edit": scored["char_accuracy_edit"],
        "det_recall": scored["det_recall"],
        "detections": sum(len(r) for r in outcomes),
        "ms_median": statistics.median(times),
        "ms_p95": quantile(times, 0.95),
        "threads": args.threads,
        "ocr": args.ocr,
        "misses": scored["misses"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            if k != "misses":
                print(f"{k:19} {v:.4f}" if isinstance(v, float) else f"{k:19} {v}")
        for m in summary["misses"]:
            print(f"miss  {m['image']}: truth {m['truth']}, reads {m['reads']}")


if __name__ == "__main__":
    main()
