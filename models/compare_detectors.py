#!/usr/bin/env python3
"""Compares the int8 plate detector with its float32 copy (models/dequantize_detector.py) on ONNX
Runtime: detection recall against ground truth, number of detections, box agreement, and the
latency of session.run alone, for intra-op threads x graph optimisation level.

  models/compare_detectors.py [--int8 PATH] [--float PATH] [--folder DIR]
                              [--threads 1,2] [--levels all,extended] [--spinning on[,off]]
                              [--rounds N] [--conf C]

Defaults: the int8 model and the images from ../shared (beside the repository root); the float
model is made in a temporary folder with dequantize_detector.py when --float is not given.
Needs models/requirements.txt + models/requirements-compare.txt.

Preprocessing is open-image-models 0.6.0's (open_image_models/detection/core/yolo_v9/
preprocess.py), reimplemented here and checked against it on the first image when that package
is importable:
- cv2.imread (BGR, 8-bit); r = min(416/h, 416/w) (scale-up allowed);
- new size (int(round(w*r)), int(round(h*r))), cv2.resize INTER_LINEAR, skipped when unchanged;
- centred padding with value 114: dw = (416-new_w)/2, dh = (416-new_h)/2 (floats);
  top = round(dh-0.1), bottom = round(dh+0.1), left = round(dw-0.1), right = round(dw+0.1)
  (so an odd remainder puts the extra pixel at the bottom/right); cv2.copyMakeBorder CONSTANT;
- HWC->CHW, BGR->RGB, /255.0 in float64 then float32, batch of 1.
Detections ([N,7] = batch, x1, y1, x2, y2, class, score; the graph's NMS keeps scores >= 0.001,
IoU 0.45, at most 100) are kept when score >= --conf (0.4, fast-alpr's default; open-image-models
drops `score < threshold`), and mapped back as (x - dw)/r, (y - dh)/r with the float dw, dh, as
open-image-models does (it then truncates to int; here they stay float).

Scoring: a truth box (IMG.txt: `IMG.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE` per line) is found when a
kept detection has IoU >= 0.5 with it. Box agreement: per image, float and int8 detections are
matched greedily by descending IoU (pairs with IoU > 0); reported are the mean IoU of matched
pairs and the detections left unmatched on either side. "mean IoU with truth" is, over truth
boxes, the IoU of the best-overlapping kept detection (0 when none).

Timing: every configuration gets its own session (execution mode sequential, inter-op 1 thread,
intra-op --threads; intra-op spinning on, ORT's default, or off with --spinning off, which sets
session.intra_op.allow_spinning=0). Each is warmed up on 5 images; then, --rounds
times over the folder, every image is run by every configuration in turn (the order rotated from
one image to the next, 60 ms of sleep before each run: after a run, ORT 1.24's spinning pool
threads were measured here to burn about 35 ms of CPU before they park, and that must not fall on
the next configuration's run), so that a load change on the machine (another build, say) falls on all
configurations alike; median and p95 (nearest rank) are over all rounds' per-image
session.run times.
"""
import argparse
import hashlib
import importlib.util
import pathlib
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import onnxruntime as ort
from box_metrics import iou, quantile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
INT8 = SHARED / "models" / "yolo-v9-t-416-license-plates-end2end1.onnx"
FOLDER = SHARED / "data" / "openalpr-eu-dev"
SETTLE_S = 0.06
LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
}


def letterbox(img, size, pad=114):
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad, pad, pad))
    x = (img.transpose((2, 0, 1))[::-1] / 255.0).astype(np.float32)[None]
    return x, r, dw, dh


def check_against_open_image_models(img, size):
    if importlib.util.find_spec("open_image_models") is None:
        return "open-image-models not installed, not checked"
    from open_image_models.detection.core.yolo_v9.preprocess import preprocess

    theirs, (r, _), (dw, dh) = preprocess(img, size)
    ours, r2, dw2, dh2 = letterbox(img, size)
    if theirs.shape != ours.shape or not np.array_equal(theirs, ours) or (r, dw, dh) != (r2, dw2, dh2):
        sys.exit("preprocessing differs from open_image_models.detection.core.yolo_v9.preprocess")
    return "identical to open-image-models' preprocess()"


def load_images(folder):
    images = []
    for jpg in sorted(folder.glob("*.jpg")):
        truths = []
        txt = jpg.with_suffix(".txt")
        if txt.exists():
            for line in txt.read_text().splitlines():
                f = line.split("\t")
                if len(f) >= 5:
                    x, y, w, h = map(float, f[1:5])
                    truths.append((x, y, x + w, y + h))
        img = cv2.imread(str(jpg))
        if img is None:
            sys.exit(f"cannot read {jpg}")
        images.append((jpg.name, img, truths))
    return images


def session(path, threads, level, spinning):
    so = ort.SessionOptions()
    if spinning == "off":
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = LEVELS[level]
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def boxes(out, r, dw, dh, conf):
    kept = out[out[:, 6] >= conf]
    return [((b[1] - dw) / r, (b[2] - dh) / r, (b[3] - dw) / r, (b[4] - dh) / r, float(b[6])) for b in kept]


def greedy_match(a, b):
    pairs = sorted(((iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), reverse=True)
    used_a, used_b, ious = set(), set(), []
    for v, i, j in pairs:
        if v > 0 and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            ious.append(v)
    return ious, len(a) - len(used_a), len(b) - len(used_b)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--int8", type=pathlib.Path, default=INT8)
    ap.add_argument("--float", type=pathlib.Path, default=None, help="float model (default: made now)")
    ap.add_argument("--folder", type=pathlib.Path, default=FOLDER)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--levels", default="all,extended")
    ap.add_argument("--spinning", default="on", help="on, off or on,off (intra-op thread spinning)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conf", type=float, default=0.4)
    args = ap.parse_args()

    tmp = None
    float_path = args.float
    if float_path is None:
        tmp = tempfile.TemporaryDirectory()
        float_path = pathlib.Path(tmp.name) / "detector-f32.onnx"
        spec = importlib.util.spec_from_file_location("dequantize_detector", HERE / "dequantize_detector.py")
        dq = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dq)
        import onnx

        model = dq.dequantize(onnx.load(str(args.int8)))
        onnx.checker.check_model(model)
        float_path.write_bytes(model.SerializeToString(deterministic=True))

    images = load_images(args.folder)
    size = 416
    print(f"int8:  {args.int8} sha256 {sha256(args.int8)}")
    print(f"float: {float_path if args.float else 'made by dequantize_detector.py'} sha256 {sha256(float_path)}")
    print(f"images: {len(images)} in {args.folder}, truth boxes: {sum(len(t) for _, _, t in images)}")
    print(f"onnxruntime {ort.__version__}, opencv {cv2.__version__}, numpy {np.__version__}")
    print(f"preprocessing: {check_against_open_image_models(images[0][1], size)}")
    inputs = [(name, *letterbox(img, size), truths) for name, img, truths in images]

    configs = []
    for model, path in (("int8", args.int8), ("float", float_path)):
        for level in args.levels.split(","):
            for threads in map(int, args.threads.split(",")):
                for spin in args.spinning.split(","):
                    if spin == "off" and threads == 1:
                        continue  # no pool threads to spin
                    configs.append({"model": model, "level": level, "threads": threads, "spin": spin,
                                    "sess": session(path, threads, level, spin)})
    for c in configs:
        c["name"] = c["sess"].get_inputs()[0].name
        for _, x, *_ in inputs[:5]:
            c["sess"].run(None, {c["name"]: x})
        c["times"], c["out"] = [], {}

    step = 0
    for _ in range(args.rounds):
        for name, x, r, dw, dh, _ in inputs:
            step += 1
            k = step % len(configs)
            for c in configs[k:] + configs[:k]:
                time.sleep(SETTLE_S)  # let the previous session's pool threads stop spinning
                t0 = time.perf_counter()
                out = c["sess"].run(None, {c["name"]: x})[0]
                c["times"].append((time.perf_counter() - t0) * 1000)
                c["out"].setdefault(name, (out, r, dw, dh))

    n_truth = sum(len(t) for *_, t in inputs)
    print()
    print("| model | threads | spinning | graph opt | recall (IoU>=0.5) | mean IoU with truth | detections "
          "| run ms median | run ms p95 |")
    print("|---|---|---|---|---|---|---|---|---|")
    dets = {}
    for c in configs:
        found, ndet, truth_ious = 0, 0, []
        per_image = {}
        for name, *_, truths in inputs:
            out, r, dw, dh = c["out"][name]
            b = boxes(out, r, dw, dh, args.conf)
            per_image[name] = b
            ndet += len(b)
            found += sum(any(iou(t, d) >= 0.5 for d in b) for t in truths)
            truth_ious += [max((iou(t, d) for d in b), default=0.0) for t in truths]
        dets.setdefault((c["model"], c["level"], c["threads"]), per_image)
        dets[(c["model"], c["level"], c["threads"], c["spin"])] = per_image
        spin = c["spin"] if c["threads"] > 1 else "-"
        print(f"| {c['model']} | {c['threads']} | {spin} | {c['level'].upper()} | {found}/{n_truth} ({found / n_truth:.1%}) "
              f"| {np.mean(truth_ious):.4f} | {ndet} | {statistics.median(c['times']):.1f} | {quantile(c['times'], 0.95):.1f} |")

    # Box agreement between float and int8, each at the first --levels and the last --threads
    # (by default ALL and 2 threads, the peer's configuration); how much each model's own output
    # moves with threads, spinning and level is printed after.
    print()
    ref_level, ref_threads = args.levels.split(",")[0], int(args.threads.split(",")[-1])
    a, b = dets[("float", ref_level, ref_threads)], dets[("int8", ref_level, ref_threads)]
    ious, only_f, only_i, score_diff = [], 0, 0, []
    for name in a:
        m, uf, ui = greedy_match(a[name], b[name])
        ious += m
        only_f += uf
        only_i += ui
    for name in a:
        for fa in a[name]:
            best = max(b[name], key=lambda d: iou(fa, d), default=None)
            if best is not None and iou(fa, best) > 0:
                score_diff.append(abs(fa[4] - best[4]))
    print(f"float vs int8 boxes (score >= {args.conf}): {len(ious)} matched, mean IoU {np.mean(ious):.4f}, "
          f"min IoU {min(ious):.4f}; only float: {only_f}, only int8: {only_i}; "
          f"mean |score diff| {np.mean(score_diff):.4f}, max {max(score_diff):.4f}")
    for model in ("float", "int8"):
        variants = [k for k in dets if k[0] == model and len(k) == 4]
        worst = 1.0
        for k in variants[1:]:
            for name in dets[variants[0]]:
                m, u1, u2 = greedy_match(dets[variants[0]][name], dets[k][name])
                worst = min([worst] + m + ([0.0] if u1 or u2 else []))
        print(f"{model}: boxes across its {len(variants)} thread/spinning/level variants agree to min IoU {worst:.6f}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
