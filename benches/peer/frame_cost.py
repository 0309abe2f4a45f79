#!/usr/bin/env python3
"""The peer's side of the frame budget (benches/frame_cost.sh, docs/frame-cost.md): every frame of
one video, a file or an RTSP URL, decoded by OpenCV and read by fast-alpr's ALPR.predict, the
same pipeline and sessions as peer_eval.py builds (int8 detector, cct_xs_v2_global OCR).

  benches/peer/frame_cost.py SOURCE [--models DIR] [--threads N] [--no-spin]

Stages, timed around the peer's own calls (nothing of fast-alpr is patched or re-written):
decode = VideoCapture.grab (demux and decode), colour = VideoCapture.retrieve (the conversion to
BGR), detect = the detector's predict (its letterbox, inference and box decoding), ocr = the OCR's
predict over every plate (its colour conversion, resize and inference), other = the rest of
ALPR.predict and of the loop. The first frame warms the sessions up and is not counted, as in
benches/frame_cost.rs.

Prints one JSON object: frames, ms_per_frame, cpu_s (process CPU over the counted frames),
stages (ms per frame), reads (the distinct texts read, to show the path read what it should).
"""
import argparse
import json
import logging
import pathlib
import sys
import time
import warnings

import cv2

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from peer_eval import OCR, ROOT, build  # noqa: E402


class Timed:
    """A fast-alpr component whose predict calls are timed into `spent` (seconds)."""

    def __init__(self, inner):
        self.inner = inner
        self.spent = 0.0

    def predict(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.inner.predict(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a video file or an rtsp:// URL")
    ap.add_argument("--models", type=pathlib.Path, default=ROOT.parent / "shared" / "models")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of each session (default 2)")
    ap.add_argument("--no-spin", action="store_true",
                    help="idle runtime threads sleep instead of spinning (ONNX Runtime's default, and the peer's)")
    args = ap.parse_args()

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore", DeprecationWarning)
    alpr = build(args.models, OCR["v2"], args.threads, spin=not args.no_spin)
    alpr.detector = detector = Timed(alpr.detector)
    alpr.ocr = reader = Timed(alpr.ocr)

    capture = cv2.VideoCapture(args.source, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        sys.exit(f"{args.source}: OpenCV cannot open it")
    decode = colour = 0.0
    frames = -1  # the first frame is the warm-up
    reads = set()
    while True:
        started = time.perf_counter()
        if not capture.grab():
            break
        grabbed = time.perf_counter()
        ok, frame = capture.retrieve()
        if not ok:
            break
        decode += grabbed - started
        colour += time.perf_counter() - grabbed
        for result in alpr.predict(frame):
            if result.ocr is not None and result.ocr.text:
                reads.add(result.ocr.text)
        frames += 1
        if frames == 0:
            decode = colour = detector.spent = reader.spent = 0.0
            wall_started, cpu_started = time.perf_counter(), time.process_time()
    if frames < 1:
        sys.exit(f"{args.source}: no frame after the first")
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    per_frame = lambda s: s * 1000 / frames  # noqa: E731
    stages = {"decode": decode, "colour": colour, "detect": detector.spent, "ocr": reader.spent}
    stages = {k: per_frame(v) for k, v in stages.items()}
    stages["other"] = per_frame(wall) - sum(stages.values())
    print(json.dumps({
        "source": args.source,
        "frames": frames,
        "ms_per_frame": per_frame(wall),
        "cpu_s": cpu,
        "stages": stages,
        "reads": sorted(reads),
    }))


if __name__ == "__main__":
    main()
