#!/usr/bin/env python3
"""The peer pipeline: fast-alpr's own Python components (open-image-models YOLOv9 detector +
fast-plate-ocr recogniser) on ONNX Runtime with the same model files anpr-edge uses, scored
exactly as `anpr-edge eval` scores (see src/eval/score.rs):

- a truth plate is read exactly when any read of its image equals it, letter O = digit 0;
- it is detected when a detection has IoU >= 0.5 with its box;
- character accuracy = sum(n - edit distance) / sum(n), n = longer of truth and the read of the
  best-overlapping detection (0 of the truth's length when undetected);
- ms per image: cv2.imread + detect + crop + OCR of every plate, after one warm-up image.

  peer_eval.py FOLDER --models DIR [--ocr v1|v2] [--threads N] [--json]
"""
import argparse
import json
import pathlib
import re
import statistics
import time

import numpy as np
import onnxruntime as ort
from fast_alpr import ALPR
from fast_alpr.base import BaseDetector
from open_image_models.detection.core.yolo_v9.inference import YoloV9Detector

DETECTOR = "yolo-v9-t-416-license-plates-end2end1.onnx"


class LocalDetector(BaseDetector):
    """fast-alpr's DefaultDetector downloads its model from a hub; this is the same
    open-image-models detector given the local file."""

    def __init__(self, path, options):
        self.detector = YoloV9Detector(
            path, class_labels=["License Plate"], conf_thresh=0.4, providers=["CPUExecutionProvider"], sess_options=options
        )

    def predict(self, frame):
        return self.detector.predict(frame)


def fold(text):
    return re.sub(r"[^0-9A-Z]", "", text.upper()).replace("O", "0")


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        cur = [i + 1]
        for j, cb in enumerate(b):
            cur.append(min(prev[j] + (ca != cb), prev[j + 1] + 1, cur[j] + 1))
        prev = cur
    return prev[len(b)]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def quantile(values, q):
    s = sorted(values)
    rank = min(max(int(np.ceil(q * len(s))), 1), len(s))
    return s[rank - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--models", type=pathlib.Path, required=True)
    ap.add_argument("--ocr", choices=["v1", "v2"], default="v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    alpr = ALPR(
        detector=LocalDetector(str(args.models / DETECTOR), options),
        ocr_model=None,
        ocr_device="cpu",
        ocr_providers=["CPUExecutionProvider"],
        ocr_sess_options=options,
        ocr_model_path=str(args.models / f"cct_xs_{args.ocr}_global.onnx"),
        ocr_config_path=str(args.models / f"cct_xs_{args.ocr}_global_plate_config.yaml"),
    )

    images = []
    for img in sorted(args.folder.glob("*.jpg")):
        txt = img.with_suffix(".txt")
        if txt.exists():
            truths = []
            for line in txt.read_text().splitlines():
                f = line.split("\t")
                if len(f) == 6:
                    x, y, w, h = map(float, f[1:5])
                    truths.append(((x, y, x + w, y + h), fold(f[5])))
            images.append((img, truths))

    alpr.predict(str(images[0][0]))  # warm-up
    times, plates, exact, detected, right, total, misses = [], 0, 0, 0, 0, 0, []
    for img, truths in images:
        started = time.perf_counter()
        results = alpr.predict(str(img))
        times.append((time.perf_counter() - started) * 1000)
        reads = []
        for r in results:
            b = r.detection.bounding_box
            text = r.ocr.text if r.ocr else ""
            if isinstance(text, list):
                text = text[0]
            reads.append(((b.x1, b.y1, b.x2, b.y2), fold(text or "")))
        for box, truth in truths:
            plates += 1
            ok = any(t == truth for _, t in reads)
            exact += ok
            overlaps = sorted(((iou(box, rb), t) for rb, t in reads), reverse=True)
            if overlaps and overlaps[0][0] >= 0.5:
                detected += 1
                read = overlaps[0][1]
                n = max(len(truth), len(read))
                right += max(n - edit_distance(truth, read), 0)
                total += n
            else:
                total += len(truth)
            if not ok:
                misses.append({"image": img.name, "truth": truth, "reads": [t for _, t in reads]})
    summary = {
        "pipeline": f"fast-alpr peer (open-image-models + fast-plate-ocr {args.ocr}), {args.threads} threads",
        "images": len(images),
        "plates": plates,
        "exact": exact / plates,
        "char_accuracy": right / total,
        "det_recall": detected / plates,
        "ms_median": statistics.median(times),
        "ms_p95": quantile(times, 0.95),
        "misses": misses,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:15} {v}")


if __name__ == "__main__":
    main()
