#!/usr/bin/env bash
# Overload: a 60 frames/s 1080p RTSP camera showing six real plates at once (a 3×2 mosaic of
# different photographs, six new cars every 1.8 s) feeds `anpr-edge run` whose Mosquitto broker is
# slow: frozen with SIGSTOP for FREEZE_S (4) seconds, then let run for RUN_S (1) second, over
# and over. For SECONDS (default 120) it prints every 10 s the daemon's resident memory and its
# counters (from its own metrics endpoint, `[health]`), then what the camera sent, what capture
# kept, what the frame queue dropped, what was recognised and read, what reached a real
# subscriber (mosquitto_sub) and what the outbox dropped, by class. The outbox is bounded to
# OUTBOX_BYTES (4 MiB); overviews go at the camera's full width (≈ 250 KiB, one per read).
# "Capture never blocks" is frames captured ≈ frames sent while recognition takes a fraction of
# them and the frame queue drops the oldest. With `spool` every message is also written to a
# durable spool (in the scratch folder), whose size is printed too.
#
#   benches/overload_60fps.sh [SECONDS] [spool]
#   FREEZE_S=4 RUN_S=1 ANPR=target/release/anpr-edge benches/overload_60fps.sh 120 spool
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_TOTAL=${1:-120}
WITH_SPOOL=${2:-}
FREEZE_S=${FREEZE_S:-4}
RUN_S=${RUN_S:-1}
OUTBOX_BYTES=${OUTBOX_BYTES:-4194304}
DATA=$ROOT/../shared/data/openalpr-eu-dev
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
BROKER=""
FREEZER=""
cleanup() {
  # The freezer first, then thaw the broker: a stopped process does not act on SIGTERM.
  [ -n "$FREEZER" ] && kill "$FREEZER" 2>/dev/null && wait "$FREEZER" 2>/dev/null
  [ -n "$BROKER" ] && kill -CONT "$BROKER" 2>/dev/null
  kill $(jobs -p) 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The road: mosaics of six photographs (640×540 tiles, every photograph of the folder used),
# each in view 1.0 s, then 0.8 s of empty road (longer than fusion.leave_after_ms, so the next
# cars in the same places are new vehicles), at 60 frames/s; the cycle is repeated past the run.
photos=("$DATA"/*.jpg)
tile='scale=640:540:force_original_aspect_ratio=decrease,pad=640:540:(ow-iw)/2:(oh-ih)/2:color=0x404040,setsar=1'
mosaics=$(((${#photos[@]} + 5) / 6))
ffmpeg -loglevel error -y -f lavfi -i color=black:s=1920x1080 -frames:v 1 empty.png
: > list.txt
for k in $(seq 0 $((mosaics - 1))); do
  inputs=()
  for i in 0 1 2 3 4 5; do inputs+=(-i "${photos[$(((6 * k + i) % ${#photos[@]}))]}"); done
  ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex \
    "[0]$tile[a];[1]$tile[b];[2]$tile[c];[3]$tile[d];[4]$tile[e];[5]$tile[f];[a][b][c][d][e][f]xstack=inputs=6:layout=0_0|w0_0|w0+w1_0|0_h0|w0_h0|w0+w1_h0" \
    -frames:v 1 "m$k.png"
  printf "file 'm%s.png'\nduration 1.0\nfile 'empty.png'\nduration 0.8\n" "$k" >> list.txt
done
echo "file 'empty.png'" >> list.txt
ffmpeg -loglevel error -y -f concat -safe 0 -i list.txt -vf fps=60,format=yuv420p \
  -c:v libx264 -preset veryfast -g 60 -r 60 cycle.mp4
cycle_s=$(echo "$mosaics * 1.8" | bc)
loops=$(echo "($SECONDS_TOTAL + 90) / $cycle_s + 1" | bc)
# The RTSP server plays the file once (no loop): the file is longer than the run.
ffmpeg -loglevel error -y -stream_loop "$loops" -i cycle.mp4 -c copy road.mp4

RTSP_PORT=$(free_port)
/usr/bin/python3 "$ROOT/tests/support/rtsp_server.py" road.mp4 "$RTSP_PORT" > server.log 2>&1 &
BROKER_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$BROKER_PORT" > mosquitto.conf
mosquitto -c mosquitto.conf > broker.log 2>&1 &
BROKER=$!
sleep 2
# Real subscribers: one line per message (topic, bytes), and the read records themselves.
mosquitto_sub -p "$BROKER_PORT" -q 1 -t 'anpr/#' -F '%t %l' > arrived.txt 2> sub.err &
mosquitto_sub -p "$BROKER_PORT" -q 1 -t 'anpr/+/reads' -F '%p' > reads.jsonl 2> sub_reads.err &
mosquitto_sub -p "$BROKER_PORT" -t 'anpr/+/status' -F '%p' > status.jsonl 2> sub_status.err &
METRICS_PORT=$(free_port)
cat > overload.toml <<CFG
[device]
id = "overload"
[device.site]
name = "overload bench"
[privacy]
purpose = "overload test"
[source]
kind = "rtsp"
url = "rtsp://127.0.0.1:$RTSP_PORT/cam"
[output]
kind = "mqtt"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
insecure_dev = true
outbox_bytes = $OUTBOX_BYTES
backoff_min_ms = 1000
backoff_max_ms = 5000
status_interval_s = 10
[images]
overview_max_width = 1920
[health]
metrics_port = $METRICS_PORT
CFG
if [ "$WITH_SPOOL" = spool ]; then
  printf '[spool]\ndir = "%s/spool"\nmax_bytes = 33554432\nsegment_bytes = 1048576\n' "$WORK" >> overload.toml
fi
ANPR_LOG=info "$ANPR" run --config overload.toml > /dev/null 2> daemon.err &
DAEMON=$!

metrics() { curl -s --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" > metrics.txt || : > metrics.txt; }
m() { awk -v n="anpr_edge_$1" '$1 == n { printf "%d", $2; found = 1 } END { if (!found) printf "?" }' metrics.txt; }
# The clock starts at the first captured frame once the daemon is connected (its first heartbeat
# is in): models load, the stream opens and the publisher connects first.
for _ in $(seq 1 600); do
  kill -0 "$DAEMON" 2>/dev/null || { echo "the daemon exited at start:"; cat daemon.err; exit 1; }
  metrics
  [ "$(m pipeline_frames_captured_total)" != "?" ] && [ "$(m pipeline_frames_captured_total)" -gt 0 ] && [ -s status.jsonl ] && break
  sleep 0.2
done
T0=$(date +%s.%N); CAPTURED0=$(m pipeline_frames_captured_total)
# The slow broker, from then on.
( trap 'kill $nap 2>/dev/null; exit 0' TERM
  while :; do
    kill -STOP "$BROKER"; sleep "$FREEZE_S" & nap=$!; wait $nap
    kill -CONT "$BROKER"; sleep "$RUN_S" & nap=$!; wait $nap
  done ) &
FREEZER=$!
# The outbox between the 10 s lines: what it holds, sampled every 0.25 s.
( while [ ! -e poll.stop ]; do
    curl -s --max-time 1 "http://127.0.0.1:$METRICS_PORT/metrics" |
      awk '$1 == "anpr_edge_outbox_bytes" { b = $2 } $1 == "anpr_edge_outbox_in_flight" { f = $2 } $1 == "anpr_edge_outbox_pending" { p = $2 }
           END { if (b != "") print b, f, p }' >> outbox.txt || true
    sleep 0.25
  done ) &
POLLER=$!
echo "t     rss  peak  captured  q-dropped  recognised  reads  outbox  acked  dropped img/read  spool"
for t in $(seq 10 10 "$SECONDS_TOTAL"); do
  sleep "$(echo "x = $T0 + $t - $(date +%s.%N); if (x < 0) x = 0; x" | bc)"
  kill -0 "$DAEMON" 2>/dev/null || { echo "the daemon died at $t s:"; tail -20 daemon.err; exit 1; }
  metrics
  printf '%-4s  %-4s %-5s %-9s %-10s %-11s %-6s %-7s %-6s %-17s %s\n' "$t" \
    "$(awk '/VmRSS/{print int($2/1024)}' /proc/$DAEMON/status)" "$(awk '/VmHWM/{print int($2/1024)}' /proc/$DAEMON/status)" \
    "$(m pipeline_frames_captured_total)" "$(m pipeline_frames_dropped_total)" "$(m pipeline_frames_recognised_total)" \
    "$(m pipeline_reads_emitted_total)" "$(($(m outbox_bytes) / 1024))K" "$(m outbox_acked_total)" \
    "$(m outbox_dropped_images_total)/$(m outbox_dropped_reads_total)" \
    "$([ "$WITH_SPOOL" = spool ] && echo "$(($(m spool_bytes) / 1024))K" || echo -)"
done
T1=$(date +%s.%N)
touch poll.stop; wait "$POLLER" || true
PEAK=$(awk '/VmHWM/{print int($2/1024)}' /proc/$DAEMON/status)
cp metrics.txt final.txt
# The stop: the broker is let run, the daemon gets SIGTERM (it flushes for up to 10 s).
kill "$FREEZER"; wait "$FREEZER" 2>/dev/null || true; FREEZER=""
kill -CONT "$BROKER"
kill -TERM "$DAEMON"; wait "$DAEMON" && rc=0 || rc=$?
sleep 2
cp final.txt metrics.txt
window=$(echo "$T1 - $T0" | bc)
sent=$(echo "$window * 60 / 1" | bc)
captured=$(($(m pipeline_frames_captured_total) - CAPTURED0))
echo "--- over ${window%???????} s from the first frame (broker frozen ${FREEZE_S} s / running ${RUN_S} s, outbox $((OUTBOX_BYTES / 1024)) KiB)"
echo "frames the camera sent: $sent (60/s)"
echo "frames captured:        $captured ($(echo "scale=1; 100 * $captured / $sent" | bc) %), failed $(m pipeline_frames_failed_total)"
echo "frames dropped by the frame queue: $(m pipeline_frames_dropped_total)"
echo "frames recognised:      $(m pipeline_frames_recognised_total) ($(echo "scale=1; $(m pipeline_frames_recognised_total) / $window" | bc) /s, $(m pipeline_inference_seconds_total) s of inference)"
echo "reads made:             $(m pipeline_reads_emitted_total) at the end of the window"
echo "outbox at the end of the window: $(($(m outbox_bytes) / 1024)) KiB held, $(m outbox_pending) pending, $(m outbox_in_flight) in flight, dropped images $(m outbox_dropped_images_total), reads $(m outbox_dropped_reads_total), hits $(m outbox_dropped_hits_total)"
if [ "$WITH_SPOOL" = spool ]; then
  echo "spool at the end of the window: $(($(m spool_bytes) / 1024)) KiB, $(m spool_records) records, $(m spool_segments) segments, write errors $(m spool_write_errors_total)"
fi
awk '$1 > b { b = $1 } $2 > f { f = $2 } $3 > p { p = $3 } END { printf "outbox at most (every 0.25 s): %d KiB held, %d in flight, %d pending, over %d samples\n", b / 1024, f, p, NR }' outbox.txt
echo "peak RSS (VmHWM):       $PEAK MiB"
# After the stop: the daemon's final counters and the outbox's in its offline status.
grep -o 'stopped stats=.*' daemon.err | sed 's/^/daemon at the stop: /' || echo "daemon at the stop: no final line (exit $rc)"
python3 - "$rc" <<'PY'
import json, sys
reads = [json.loads(l) for l in open("reads.jsonl") if l.strip()]
ids = {r["read_id"] for r in reads}
arrived = [l.split() for l in open("arrived.txt", errors="replace")]
images = sum(1 for l in arrived if len(l) == 2 and "/images/" in l[0])
print(f"reads arrived at the subscriber: {len(ids)} distinct ({len(reads)} messages); images arrived: {images}")
statuses = [json.loads(l) for l in open("status.jsonl") if l.strip()]
if statuses:
    last = statuses[-1]
    print(f"last status ({last.get('state')}, {last.get('reason', 'heartbeat')}): outbox {json.dumps(last.get('outbox'))}")
print(f"heartbeats received: {sum(1 for s in statuses if s.get('state') == 'online')}; daemon exit status: {sys.argv[1]}")
PY
echo "dropped by the outbox (log lines): $(grep -o 'class=[A-Za-z]*' daemon.err | sort | uniq -c | tr '\n' ' ')"
grep -o 'unacknowledged=[0-9]*' daemon.err | tail -1 | sed 's/^/held at the stop (kept with the spool, lost without): /' || true
grep -E 'ERROR|panick|connection to the broker lost|broker unreachable' daemon.err | head -5 || true
