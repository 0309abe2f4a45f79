#!/usr/bin/env bash
# One read per vehicle on real footage: `anpr-edge eval` over the real recorded clips of
# ../shared/data/real-video (or FOLDER), each run through the live pipeline exactly as `run`
# takes a file, with the defaults `run` has (or the sections of CONFIG, a unit configuration).
# Prints the per-clip lines, then, as its last line, one JSON object: clips, vehicles,
# read_once, missed, duplicates, phantoms, fps (frames per second over all clips, decoding
# included), and the fusion settings it ran with. REPORT=page.html also writes the HTML page
# with every miss, duplicate and phantom.
#
#   ANPR=target/release/anpr-edge benches/real_video.sh
#   FOLDER=my-site-clips CONFIG=/etc/anpr-edge/anpr-edge.toml benches/real_video.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FOLDER=${FOLDER:-$ROOT/../shared/data/real-video}
ANPR=${ANPR:-anpr-edge}
args=()
[ -z "${CONFIG:-}" ] || args+=(--config "$CONFIG")
[ -z "${REPORT:-}" ] || args+=(--report "$REPORT")
"$ANPR" eval "$FOLDER" --json "${args[@]}" | tail -n 1 | python3 -c '
import json, sys
s = json.load(sys.stdin)
for c in s["per_clip"]:
    print("%-28s %d of %d read once; missed %s; duplicated %s; phantoms %s" % (c["clip"],
          c["read_once"], c["vehicles"], c["missed"], c["duplicates"], c["phantoms"]))
keys = ("clips", "vehicles", "read_once", "missed", "duplicates", "phantoms", "fps")
print(json.dumps({**{k: s[k] for k in keys}, "misreads": s["misreads"], "fusion": s["fusion"]}))'
