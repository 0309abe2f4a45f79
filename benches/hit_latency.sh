#!/usr/bin/env bash
# Hit latency: from a frame's capture to the hit's arrival at a subscriber of the central broker.
#
# A 25 fps 1080p live camera (a GStreamer RTSP server on loopback) shows real cars four at a time:
# every scene is a 2×2 grid of photographs of ../shared/data/openalpr-eu-dev, in view SCENE_S
# seconds, then GAP_S seconds of empty road. `anpr-edge run` reads it against a hotlist of
# HOTLIST_ENTRIES random plausible plates plus the plates of every car shown (so every car is a
# hit), and publishes to a real Mosquitto; `mosquitto_sub` on the hits topic stamps each arrival
# (nanoseconds, the same clock as the daemon's `captured_at`). Latency of a hit = arrival −
# `captured_at` of the frame it was raised on. The unit, the broker and the subscriber share the
# machine's cores, as they would not in the field.
#
#   benches/hit_latency.sh            # SCENES=10 SCENE_S=1.2 GAP_S=0.4 HOTLIST_ENTRIES=100000
#
# Last line: one JSON object: hits (alerts raised before fusion) and their p50_ms, p99_ms,
# max_ms; frames (recognised), fps (recognised per second of video), frames_dropped; late_hits
# (listed vehicles whose hit came only with their fused read, a possible hit or one whose frames
# never confirmed it) and late_p50_ms; vehicles_shown (every one of them is listed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data/openalpr-eu-dev}
SCENES=${SCENES:-10}
SCENE_S=${SCENE_S:-1.2}
GAP_S=${GAP_S:-0.4}
HOTLIST_ENTRIES=${HOTLIST_ENTRIES:-100000}
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The material: scenes of four cars, then empty road, at 25 fps, 1920×1080.
mapfile -t photos < <(ls "$DATA"/*.jpg | sort | head -n $((SCENES * 4)))
video_s=$(SCENE_S=$SCENE_S GAP_S=$GAP_S bash "$ROOT/benches/support/scenes.sh" "${photos[@]}")
vehicles=$(wc -l < plates.txt)

# The hotlist: every plate shown, and random plausible plates (Belgian-like 1-ABC-234 and
# 2–3 letters + 3 digits), CSV.
python3 - "$HOTLIST_ENTRIES" plates.txt > hotlist.csv <<'PY'
import random, sys
n, shown = int(sys.argv[1]), [l.strip() for l in open(sys.argv[2]) if l.strip()]
rng = random.Random(7)
L, D = "ABCDEFGHJKLMNPRSTUVWXYZ", "0123456789"
print("version,bench-1\nplate,list,category,action,expires,note")
for p in shown:
    print(f"{p},bench,stolen,alert,,")
seen = set(shown)
while len(seen) < n + len(shown):
    p = (str(rng.randint(1, 9)) + "".join(rng.choices(L, k=3)) + "".join(rng.choices(D, k=3))
         if rng.random() < 0.5 else "".join(rng.choices(L, k=rng.choice((2, 3)))) + "".join(rng.choices(D, k=3)))
    if p not in seen:
        seen.add(p)
        print(f"{p},bench,stolen,alert,,")
PY

BROKER=$(free_port); RTSP=$(free_port); METRICS=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$BROKER" > mosquitto.conf
mosquitto -c mosquitto.conf > broker.log 2>&1 &
/usr/bin/python3 "$ROOT/tests/support/rtsp_server.py" road.mp4 "$RTSP" > server.log 2>&1 &
for _ in $(seq 100); do grep -q READY server.log && (exec 3<>"/dev/tcp/127.0.0.1/$BROKER") 2>/dev/null && break; sleep 0.1; done
mosquitto_sub -h 127.0.0.1 -p "$BROKER" -q 1 -t 'anpr/bench/hits' -F '%U %p' > hits.txt &
cat > bench.toml <<CFG
[device]
id = "bench"
[device.site]
name = "bench"
[privacy]
purpose = "hit latency bench"
[source]
kind = "rtsp"
url = "rtsp://127.0.0.1:$RTSP/cam"
[source.stream]
# One pass of the video: the server plays it again to a client that reconnects.
reconnect_min_ms = 600000
reconnect_max_ms = 600000
[output]
kind = "mqtt"
[mqtt]
host = "127.0.0.1"
port = $BROKER
insecure_dev = true
[hotlist]
file = "$WORK/hotlist.csv"
[health]
metrics_port = $METRICS
CFG
ANPR_LOG=${ANPR_LOG:-warn} "$ANPR" run --config bench.toml > /dev/null 2> daemon.err &
DAEMON=$!
# The stream ends with the file; the daemon then waits to reconnect: stop it once the video
# has played and fusion has let the last cars go.
sleep "$(python3 -c "print($video_s + 4)")"
metric() { curl -s "http://127.0.0.1:$METRICS/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
frames=$(metric anpr_edge_pipeline_frames_recognised_total)
dropped=$(metric anpr_edge_pipeline_frames_dropped_total)
kill -TERM "$DAEMON"; wait "$DAEMON" || true
sleep 0.5
python3 - hits.txt "$frames" "$dropped" "$video_s" "$vehicles" <<'PY'
import json, sys, datetime
path, frames, dropped, video_s, vehicles = sys.argv[1], float(sys.argv[2] or 0), float(sys.argv[3] or 0), float(sys.argv[4]), int(sys.argv[5])
alerts, late, per_vehicle = [], [], {}
for line in open(path):
    stamp, _, payload = line.partition(" ")
    record = json.loads(payload)
    captured = datetime.datetime.fromisoformat(record["captured_at"].replace("Z", "+00:00")).timestamp()
    latency = (float(stamp) - captured) * 1000
    (alerts if record["report"] == "alert" else late).append(latency)
    per_vehicle[record["vehicle_id"]] = per_vehicle.get(record["vehicle_id"], 0) + 1
alerts.sort(); late.sort()
q = lambda xs, p: round(xs[min(len(xs) - 1, int(p * len(xs)))], 1) if xs else None
print(f"{len(alerts)} alerts raised before fusion and {len(late)} hits only from fusion (p50 {q(late, 0.5)} ms), "
      f"for {vehicles} listed cars shown; {sum(v > 1 for v in per_vehicle.values())} vehicles with more than one hit message")
print(json.dumps({"hits": len(alerts), "p50_ms": q(alerts, 0.5), "p99_ms": q(alerts, 0.99),
                  "max_ms": round(alerts[-1], 1) if alerts else None, "frames": int(frames),
                  "fps": round(frames / video_s, 1), "frames_dropped": int(dropped),
                  "late_hits": len(late), "late_p50_ms": q(late, 0.5), "vehicles_shown": vehicles}))
PY
