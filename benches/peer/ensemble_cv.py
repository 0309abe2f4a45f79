#!/usr/bin/env python3
"""Two-fold cross-validation of the OCR ensemble's settings on one development folder.

  benches/peer/ensemble_cv.py FOLDER [--anpr BIN]

Images are split by their index in name order (even / odd). For every setting of the grid below
it runs `anpr-edge eval --json` once over the whole folder and scores each half from the misses.
Each half's setting is chosen on the *other* half (best exact accuracy there, the cheaper
setting on ties: fewer margins, fewer models, a lower acceptance, so fewer plates read again), and the held-out accuracy of
that choice is what gets reported, so the figure is not tuned to the images it is measured on.
"""
import argparse
import json
import pathlib
import subprocess

GRID_ACCEPT = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
GRID_MARGINS = ["0", "0,0.08", "0,0.15", "0,-0.05,0.08", "0,0.05,0.1"]
GRID_MODELS = ["v2,v1", "v2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--anpr", default="anpr-edge")
    args = ap.parse_args()
    images = sorted(p.name for p in args.folder.iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.with_suffix(".txt").exists())
    half = {name: i % 2 for i, name in enumerate(images)}
    plates = [0, 0]
    for name in images:
        lines = (args.folder / name).with_suffix(".txt").read_text().strip().splitlines()
        plates[half[name]] += len([l for l in lines if l.strip()])

    def run(extra):
        out = subprocess.run([args.anpr, "--threads", "2", *extra, "eval", "--json", str(args.folder)],
                             check=True, capture_output=True, text=True).stdout
        summary = json.loads(out)
        missed = [0, 0]
        for miss in summary["misses"]:
            missed[half[miss["image"]]] += 1
        return [(plates[h] - missed[h]) / plates[h] for h in (0, 1)], summary["ms_median"]

    rows = []
    base, ms = run(["--ensemble", "off"])
    print(f"off: even {base[0]:.3f} odd {base[1]:.3f} ms {ms:.1f}", flush=True)
    for models in GRID_MODELS:
        for margins in GRID_MARGINS:
            if models == "v2" and margins == "0":
                continue  # the first read again: nothing to vote on
            for accept in GRID_ACCEPT:
                acc, ms = run(["--ensemble", "cascade", "--ensemble-models", models,
                               "--ensemble-margins", margins, "--ensemble-accept", str(accept)])
                cost = (len(margins.split(",")), len(models.split(",")), accept)
                rows.append(((models, margins, accept), acc, ms, cost))
                print(f"models {models:6} margins {margins:14} accept {accept:4}: "
                      f"even {acc[0]:.3f} odd {acc[1]:.3f} ms {ms:.1f}", flush=True)
    held_out = []
    for tune, test in ((0, 1), (1, 0)):
        best = max(rows, key=lambda r: (r[1][tune], tuple(-c for c in r[3])))
        held_out.append((best[1][test], plates[test]))
        print(f"tuned on {'even odd'.split()[tune]}: {best[0]} -> {best[1][tune]:.3f} there; "
              f"held-out {'even odd'.split()[test]} {best[1][test]:.3f} (off: {base[test]:.3f})")
    total = sum(a * n for a, n in held_out) / sum(n for _, n in held_out)
    off = sum(base[t] * plates[t] for t in (0, 1)) / sum(plates)
    print(f"cross-validated exact accuracy {total:.3f} (ensemble off {off:.3f})")


if __name__ == "__main__":
    main()
