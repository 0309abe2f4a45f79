#!/usr/bin/env bash
# Side-by-side speed and accuracy of anpr-edge and the peer pipeline (fast-alpr's Python
# components, same model files), in one run on one machine, alternating so that both see the
# same load. Prints one row per configuration: accuracy, median of the per-run medians, and
# the ratio to the peer's.
#
#   benches/peer/side_by_side.sh [FOLDER] [ROUNDS]      (ANPR=BINARY to measure another build)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FOLDER=${1:-$ROOT/../shared/data/openalpr-eu-dev}
ROUNDS=${2:-3}
MODELS_SRC=${ANPR_MODELS_DIR_SRC:-$ROOT/../shared/models}
PY=$("$ROOT/benches/peer/setup.sh")
ANPR=${ANPR:-anpr-edge}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

CONFIGS=(
  "peer: fast-alpr, int8, 2 threads|$PY $ROOT/benches/peer/peer_eval.py $FOLDER --models $MODELS_SRC --threads 2 --json"
  "default: f32 416, OCR cascade, 2 th|$ANPR --threads 2 eval --json $FOLDER"
  "OCR ensemble off (one read)|$ANPR --threads 2 --ensemble off eval --json $FOLDER"
  "OCR ensemble always|$ANPR --threads 2 --ensemble always eval --json $FOLDER"
  "f32 416, 2 threads, spin|$ANPR --threads 2 --spin eval --json $FOLDER"
  "f32 416, 1 thread|$ANPR --threads 1 eval --json $FOLDER"
  "int8 416, 1 thread|$ANPR --detector int8 --threads 1 eval --json $FOLDER"
  "int8 416, 2 threads|$ANPR --detector int8 --threads 2 eval --json $FOLDER"
  "f32 384, 2 threads|$ANPR --detector f32-384 --threads 2 eval --json $FOLDER"
  "f32 352, 2 threads|$ANPR --detector f32-352 --threads 2 eval --json $FOLDER"
  "f32 320, 2 threads|$ANPR --detector f32-320 --threads 2 eval --json $FOLDER"
  "f32 416, OCR v1, 2 threads|$ANPR --ocr v1 --threads 2 eval --json $FOLDER"
)
for round in $(seq "$ROUNDS"); do
  for i in "${!CONFIGS[@]}"; do
    cmd=${CONFIGS[$i]#*|}
    $cmd > "$OUT/$i.$round.json"
  done
done
python3 - "$OUT" "$ROUNDS" "${CONFIGS[@]}" <<'PY'
import json, statistics, sys
out, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = []
for i, c in enumerate(configs):
    runs = [json.load(open(f"{out}/{i}.{r}.json")) for r in range(1, rounds + 1)]
    rows.append((c.split("|")[0], runs[0], statistics.median(r["ms_median"] for r in runs),
                 statistics.median(r["ms_p95"] for r in runs)))
peer = rows[0][2]
print(f"{'configuration':36} {'exact':>6} {'chars':>6} {'recall':>6} {'ms med':>7} {'ms p95':>7} {'÷ peer':>7}")
for name, r, med, p95 in rows:
    print(f"{name:36} {r['exact']*100:5.1f}% {r['char_accuracy']*100:5.1f}% {r['det_recall']*100:5.1f}% {med:7.1f} {p95:7.1f} {med/peer:7.2f}")
PY
