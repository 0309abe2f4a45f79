#!/usr/bin/env bash
# Runs the aarch64 build (cross/build-aarch64.sh) under qemu-user on the sample photographs and
# checks that it reads what the x86_64 build reads: `eval --json` must agree on every figure but
# the timings, and `replay --json` on every read (plate text, format, frame; box within 1 px).
#
#   cross/test-aarch64.sh [FOLDER]      default ../shared/data/openalpr-eu-dev
#
# qemu gets the sysroot the binary was linked against (-L, and its library folders), so the
# loader and libc match the OpenCV libraries (mixing libc6:arm64 2.36-9 with the cross
# toolchain's 2.36-8 hangs threaded programs). ONNX Runtime is the pinned aarch64 1.24.4
# (1.28+ dies in CPU detection under bookworm's qemu 7.2).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRIPLE=aarch64-unknown-linux-gnu
SYSROOT="$ROOT/target/aarch64-sysroot"
ARM="$ROOT/target/aarch64-build/$TRIPLE/release/anpr-edge"
X86="$ROOT/target/release/anpr-edge"
ORT="$ROOT/target/onnxruntime-aarch64/libonnxruntime.so"
DATA=${1:-$ROOT/../shared/data/openalpr-eu-dev}
for f in "$ARM" "$X86" "$ORT"; do
  [ -e "$f" ] || { echo "test-aarch64: $f is missing: run cross/build-aarch64.sh (and cargo build --release)" >&2; exit 1; }
done
[ -d "$DATA" ] || { echo "test-aarch64: no sample folder $DATA" >&2; exit 1; }
MODELS=${ANPR_MODELS_DIR:-/usr/local/share/anpr-edge/models}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

arm() {
  qemu-aarch64 -L "$SYSROOT" \
    -E LD_LIBRARY_PATH="$SYSROOT/usr/lib/aarch64-linux-gnu:$SYSROOT/lib/aarch64-linux-gnu" \
    "$ARM" --models "$MODELS" --ort-lib "$ORT" --threads 2 "$@"
}
x86() { "$X86" --models "$MODELS" --threads 2 "$@"; }

started=$(date +%s)
arm --version
arm eval "$DATA" --json > "$OUT/arm-eval.json"
arm replay "$DATA" --json > "$OUT/arm-replay.jsonl"
echo "test-aarch64: aarch64 under qemu took $(( $(date +%s) - started )) s" >&2
x86 eval "$DATA" --json > "$OUT/x86-eval.json"
x86 replay "$DATA" --json > "$OUT/x86-replay.jsonl"

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
arm, x86 = (json.loads((out / f"{k}-eval.json").read_text()) for k in ("arm", "x86"))
# Every timing figure (ms_median, ocr_ms_p95, …) differs under qemu; the rest must not.
timing = {k for k in set(arm) | set(x86) if k.endswith(("ms_median", "ms_p95"))}
differ = [k for k in sorted(set(arm) | set(x86)) if k not in timing and arm.get(k) != x86.get(k)]
print(f"eval aarch64: {arm['exact']:.3f} exact, {arm['char_accuracy']:.3f} chars, {arm['det_recall']:.3f} recall, "
      f"{arm['ms_median']:.0f} ms median under qemu; x86_64: {x86['exact']:.3f} / {x86['char_accuracy']:.3f} / "
      f"{x86['det_recall']:.3f}, {x86['ms_median']:.0f} ms")
if differ:
    sys.exit("eval differs on " + ", ".join(f"{k}: aarch64 {arm.get(k)!r} x86_64 {x86.get(k)!r}" for k in differ))

def reads(kind):
    rows = [json.loads(l) for l in (out / f"{kind}-replay.jsonl").read_text().splitlines() if l.strip()]
    return [r for r in rows if "summary" not in r]
arm_reads, x86_reads = reads("arm"), reads("x86")
key = lambda r: (r["origin"], r["frame"], r["text"], r["format"])
if sorted(map(key, arm_reads)) != sorted(map(key, x86_reads)):
    only_arm = set(map(key, arm_reads)) - set(map(key, x86_reads))
    only_x86 = set(map(key, x86_reads)) - set(map(key, arm_reads))
    sys.exit(f"reads differ: only on aarch64 {sorted(only_arm)}, only on x86_64 {sorted(only_x86)}")
by_key = {key(r): r for r in x86_reads}
worst = 0.0
for r in arm_reads:
    other = by_key[key(r)]
    worst = max(worst, max(abs(a - b) for a, b in zip(r["bbox"].values(), other["bbox"].values())))
if worst > 1.0:
    sys.exit(f"a plate box differs by {worst:.2f} px between the builds")
print(f"replay: {len(arm_reads)} reads, identical texts, formats and frames on both; boxes within {worst:.3f} px")
PY
