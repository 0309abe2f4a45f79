#!/usr/bin/env bash
# The patrol car: `anpr-edge run` over a moving-camera video made from the real photographs
# (tests/common/moving.rs: a car ahead resolving from far away, a car leaving view at the edge
# and coming back, parked cars passed at speed and one passed again 15 s later, two cars side
# by side, the camera shaking; 8 vehicles, 10 frames/s, 960×540), with fusion for a moving
# camera, for a fixed one, and for a fixed one emitting every read (fusion before phantom
# suppression); and a fixed camera over a road where all 54 photographs approach, with and
# without phantom suppression. Prints the runs' figures, then as its LAST line one JSON object:
# vehicles_expected, vehicles_read_once, duplicates, phantoms, missed, frames, fps (of the
# moving drive with fusion.camera = "moving"), and every run under "drive" and "fixed_road".
# Details: docs/moving-camera.md.
#
#   benches/mobile.sh
#   MOBILE_MATERIAL=/tmp/material benches/mobile.sh    # keeps drive.mp4 and road.mp4 there
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cd "$ROOT"
MOBILE_BENCH_OUT=$OUT cargo test --release --test mobile -- --ignored --exact mobile_bench --nocapture >&2
cat "$OUT"
echo
