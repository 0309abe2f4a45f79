#!/usr/bin/env bash
# The frame budget (issue 29 §1, docs/frame-cost.md): the time of every stage of anpr-edge's
# per-frame path (benches/frame_cost.rs) and the peer's (benches/peer/frame_cost.py: fast-alpr's
# Python components, same model files, OpenCV decode) on the same frames, alternating in one run
# so that both see the same load.
#
#   RES=1080 SOURCE=file benches/frame_cost.sh
#
#   RES     720 or 1080 (default 1080): the height of the frames. A clip of another height is
#           scaled to it once with ffmpeg (libx264, kept under target/frame-cost/), and the
#           script says so.
#   SOURCE  file (default): the video file is read from disk; rtsp: it is served on loopback by
#           the GStreamer RTSP server of the tests (tests/support/rtsp_server.py), with its
#           timestamps compressed 8× so that the server sends faster than either side reads
#           and each side's own cost is measured rather than the stream's frame rate.
#   CLIP    the real recording (default ../shared/data/real-video/uk-roundabout.mp4, 1280×720).
#   ROUNDS  runs of each side, alternating (default 3); the run with the median time per frame
#           of each side is reported.
#   THREADS ONNX Runtime intra-op threads of both sides (default 2).
#   PEER_SPIN  1 (default): the peer's runtime threads spin when idle, as ONNX Runtime's Python
#           sessions do unless told otherwise; 0: they sleep, as anpr-edge's do. On a busy box
#           spinning costs the peer several times its time (docs/frame-cost.md).
#
# Prints each run's JSON as it comes (on stderr), then a table of both sides' stages, then as its
# LAST line one JSON object: resolution, frames, ms_per_frame, peer_ms_per_frame, ratio (ours ÷
# the peer's), stages (anpr-edge's ms per frame: decode, colour, letterbox, detector, crops, ocr,
# fusion, other) and cpu_s (anpr-edge's process CPU seconds over those frames).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RES=${RES:-1080}
SOURCE=${SOURCE:-file}
CLIP=${CLIP:-$ROOT/../shared/data/real-video/uk-roundabout.mp4}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PEER_SPIN=${PEER_SPIN:-1}
MODELS_SRC=${ANPR_MODELS_DIR_SRC:-$ROOT/../shared/models}
case "$RES" in 720|1080) ;; *) echo "frame_cost.sh: RES=$RES; give RES=720 or RES=1080" >&2; exit 2 ;; esac
case "$PEER_SPIN" in 0) PEER_ARGS=(--no-spin) ;; 1) PEER_ARGS=() ;; *) echo "frame_cost.sh: PEER_SPIN=$PEER_SPIN; give 0 or 1" >&2; exit 2 ;; esac
case "$SOURCE" in file|rtsp) ;; *) echo "frame_cost.sh: SOURCE=$SOURCE; give SOURCE=file or SOURCE=rtsp" >&2; exit 2 ;; esac
[ -f "$CLIP" ] || { echo "frame_cost.sh: $CLIP is absent; give CLIP=A_VIDEO (../shared holds the real clips)" >&2; exit 2; }

CACHE=$ROOT/target/frame-cost
mkdir -p "$CACHE"
OUT=$(mktemp -d)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
  rm -rf "$OUT"
}
trap cleanup EXIT

height=$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 "$CLIP")
VIDEO=$CLIP
if [ "$height" != "$RES" ]; then
  VIDEO=$CACHE/$(basename "${CLIP%.*}")-${RES}p.mp4
  if [ ! -f "$VIDEO" ] || [ "$CLIP" -nt "$VIDEO" ]; then
    ffmpeg -v error -y -i "$CLIP" -an -vf "scale=-2:$RES:flags=bicubic" -c:v libx264 -preset medium \
      -crf 18 -g 30 -pix_fmt yuv420p "$VIDEO.partial.mp4"
    mv "$VIDEO.partial.mp4" "$VIDEO"
  fi
  echo "frame_cost.sh: $(basename "$CLIP") is ${height}p; scaled to ${RES}p with ffmpeg: $VIDEO" >&2
fi

URL=$VIDEO
if [ "$SOURCE" = rtsp ]; then
  SERVED=$CACHE/$(basename "${VIDEO%.*}")-8x.mp4
  if [ ! -f "$SERVED" ] || [ "$VIDEO" -nt "$SERVED" ]; then
    ffmpeg -v error -y -itsscale 0.125 -i "$VIDEO" -an -c:v copy "$SERVED.partial.mp4"
    mv "$SERVED.partial.mp4" "$SERVED"
  fi
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  /usr/bin/python3 "$ROOT/tests/support/rtsp_server.py" "$SERVED" "$PORT" > "$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do grep -q READY "$OUT/server.log" && break; sleep 0.1; done
  grep -q READY "$OUT/server.log" || { cat "$OUT/server.log" >&2; echo "frame_cost.sh: the RTSP server did not start" >&2; exit 1; }
  URL=rtsp://127.0.0.1:$PORT/cam
fi

BENCH=$(cd "$ROOT" && cargo bench --locked --bench frame_cost --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "frame_cost" and m.get("executable"):
        print(m["executable"])')
[ -x "$BENCH" ] || { echo "frame_cost.sh: cannot build benches/frame_cost.rs (cargo bench --bench frame_cost --no-run)" >&2; exit 1; }
PY=$("$ROOT/benches/peer/setup.sh")

for round in $(seq "$ROUNDS"); do
  FRAME_COST_SOURCE=$URL ANPR_BENCH_THREADS=$THREADS "$BENCH" | tail -n 1 > "$OUT/ours.$round.json"
  "$PY" "$ROOT/benches/peer/frame_cost.py" "$URL" --models "$MODELS_SRC" --threads "$THREADS" "${PEER_ARGS[@]}" | tail -n 1 > "$OUT/peer.$round.json"
  cat "$OUT/ours.$round.json" "$OUT/peer.$round.json" >&2
done

python3 - "$OUT" "$ROUNDS" "$SOURCE" <<'PY'
import json, sys
out, rounds, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def median_run(side):
    runs = sorted((json.load(open(f"{out}/{side}.{r}.json")) for r in range(1, rounds + 1)),
                  key=lambda run: run["ms_per_frame"])
    return runs[len(runs) // 2]
ours, peer = median_run("ours"), median_run("peer")
if ours["frames"] != peer["frames"]:
    print(f"frame_cost.sh: anpr-edge counted {ours['frames']} frames, the peer {peer['frames']}", file=sys.stderr)
print(f"{ours['resolution']} from {source}, {ours['frames']} frames, median of {rounds} alternating runs each (ms per frame)")
print(f"{'':10} {'anpr-edge':>10} {'peer':>10}")
# The peer's detect holds its letterbox, its ocr its crops; it has no fusion.
peer_stage = {"letterbox": "(in detect)", "detector": "detect", "crops": "(in ocr)", "fusion": "-"}
for stage, ms in ours["stages"].items():
    theirs = peer_stage.get(stage, stage)
    theirs = f"{peer['stages'][theirs]:.2f}" if theirs in peer["stages"] else theirs
    print(f"{stage:10} {ms:10.2f} {theirs:>11}")
print(f"{'total':10} {ours['ms_per_frame']:10.2f} {peer['ms_per_frame']:10.2f}")
print(f"{'cpu_s':10} {ours['cpu_s']:10.2f} {peer['cpu_s']:10.2f}")
print(f"vehicles (anpr-edge, fused): {ours['vehicles']}; the peer's distinct frame reads: {len(peer['reads'])}")
print(json.dumps({
    "resolution": ours["resolution"],
    "frames": ours["frames"],
    "ms_per_frame": round(ours["ms_per_frame"], 2),
    "peer_ms_per_frame": round(peer["ms_per_frame"], 2),
    "ratio": round(ours["ms_per_frame"] / peer["ms_per_frame"], 3),
    "stages": {k: round(v, 3) for k, v in ours["stages"].items()},
    "cpu_s": round(ours["cpu_s"], 2),
}))
PY
