#!/usr/bin/env bash
# Motion gating on a recorded road: CARS real photographs of ../shared/data/openalpr-eu-dev
# (default 8, every seventh photograph, so no choice by hand), each sliding in from the right over
# a static background (the top 30 % of another photograph, where no plate is, blurred, with a little temporal noise as a
# sensor gives) within 0.3 s, in view IN_VIEW_S (1.2 s), then GAP_S (4 s) of empty road, as a
# 25 fps 1920×1080 H.264 video. `anpr-edge run` reads it twice, gating off and on; each run's
# frames, detector runs, vehicles read (annotated plates found among the vehicle reports) and
# CPU seconds (user + system, from /usr/bin/time) are printed; the last line is one JSON object
# with both runs and, at its top level, the "on" run's figures.
#
# REALTIME=true plays the video at its own 25 frames/s, as a camera would (the throughput figure:
# frames dropped by the queue are ones recognition could not keep up with).
#
#   ANPR=target/release/anpr-edge benches/gating.sh
#   GAP_S=1 REALTIME=true ANPR=target/release/anpr-edge benches/gating.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARS=${CARS:-8}
IN_VIEW_S=${IN_VIEW_S:-1.2}
GAP_S=${GAP_S:-4}
REALTIME=${REALTIME:-false}
DATA=$ROOT/../shared/data/openalpr-eu-dev
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
cd "$WORK"

photos=("$DATA"/*.jpg)
ffmpeg -loglevel error -y -i "${photos[0]}" \
  -vf "crop=iw:ih*0.3:0:0,scale=1920:1080,setsar=1,gblur=sigma=20" -frames:v 1 background.png
: > plates.txt
: > segments.txt
duration=$(python3 -c "print($GAP_S + 0.3 + $IN_VIEW_S)")
for ((k = 0; k < CARS; k++)); do
  photo=${photos[$(((7 * k + 3) % ${#photos[@]}))]}
  cut -f6 "${photo%.jpg}.txt" | head -n 1 >> plates.txt
  # Empty road for GAP_S, then the car slides from the right edge to the middle in 0.3 s.
  ffmpeg -loglevel error -y -loop 1 -t "$duration" -r 25 -i background.png \
    -loop 1 -t "$duration" -r 25 -i "$photo" -filter_complex \
    "[1]scale=960:720:force_original_aspect_ratio=decrease,setsar=1[car];[0]setsar=1[bg];[bg][car]overlay=x='if(lt(t,$GAP_S),W,max((W-w)/2,W-(t-$GAP_S)*(W-(W-w)/2)/0.3))':y=(H-h)/2,noise=alls=3:allf=t,format=yuv420p[v]" \
    -map "[v]" -c:v libx264 -preset veryfast -g 25 -r 25 "seg$k.mp4"
  echo "file 'seg$k.mp4'" >> segments.txt
done
# A last gap, so the last car leaves the road in the recording too.
ffmpeg -loglevel error -y -loop 1 -t "$GAP_S" -r 25 -i background.png \
  -vf "setsar=1,noise=alls=3:allf=t,format=yuv420p" -c:v libx264 -preset veryfast -g 25 -r 25 tail.mp4
echo "file 'tail.mp4'" >> segments.txt
ffmpeg -loglevel error -y -f concat -safe 0 -i segments.txt -c copy road.mp4

run_one() { # name, enabled
  { printf '[device]\nid = "gate"\n[device.site]\nname = "gate"\n[privacy]\npurpose = "gating bench"\n'
    printf 'non_hit_plate = "clear"\n'
    printf '[source]\nkind = "file"\npath = "%s/road.mp4"\n[output]\nkind = "stdout"\n' "$WORK"
    printf '[images]\noverview = false\nplate_crop = false\n'
    printf '[pipeline]\nrealtime = %s\n[pipeline.gating]\nenabled = %s\n' "$REALTIME" "$2"; } > "$1.toml"
  ANPR_LOG=info /usr/bin/time -f '%U %S' -o "$1.time" "$ANPR" run --config "$1.toml" \
    > "$1.jsonl" 2> "$1.err" || { echo "run $1 failed:" >&2; tail -5 "$1.err" >&2; exit 1; }
}
run_one off false
run_one on true

python3 - <<'PY'
import json, re
# The annotations mix up O and 0; the formats decide which, so compare with both folded.
fold = lambda p: p.replace("O", "0")
truth = [fold(l.strip()) for l in open("plates.txt") if l.strip()]
out = {}
for name in ("off", "on"):
    records = [json.loads(l) for l in open(f"{name}.jsonl") if l.startswith("{")]
    vehicles = [r for r in records if r.get("report") == "vehicle"]
    texts = [fold((r.get("plate") or {}).get("text") or "") for r in vehicles]
    stats = None
    for line in open(f"{name}.err"):
        m = re.search(r"stats=(\{.*?\}) stopped_by", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            stats = json.loads(m.group(1))
    if stats is None:
        raise SystemExit(f"{name}: no stats in the daemon's log")
    user, system = map(float, open(f"{name}.time").read().split()[-2:])
    out[name] = {
        "frames": stats["frames_captured"],
        "detector_runs": stats["frames_recognised"],
        "frames_gated": stats.get("frames_gated", 0),
        "vehicles_expected": len(truth),
        "vehicles_read": sum(1 for p in set(truth) if p in texts),
        "vehicle_reports": len(vehicles),
        "cpu_s": round(user + system, 2),
        "frames_dropped": stats["frames_dropped"],
    }
    print(name, out[name])
on, off = out["on"], out["off"]
result = dict(on)
result["off"], result["on"] = off, on
result["detector_runs_saved"] = round(1 - on["detector_runs"] / max(off["detector_runs"], 1), 3)
result["cpu_ratio_on_off"] = round(on["cpu_s"] / max(off["cpu_s"], 1e-9), 3)
print(json.dumps(result))
PY
