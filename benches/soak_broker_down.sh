#!/usr/bin/env bash
# Memory while the broker is down: an RTSP camera of real plates (a 6 s video, which the daemon
# reconnects to each time it ends, as to a camera that restarts) feeds `anpr-edge run` whose
# broker never answers, for SECONDS (default 150); prints the daemon's resident memory
# every 10 s and what the outbox dropped. The outbox is bounded to 4 MiB here so that the drop
# policy (images first, reads kept) is exercised within minutes. With `spool` every message is
# also written to a durable spool (in the scratch folder), whose size is printed at the end.
#
#   benches/soak_broker_down.sh [SECONDS] [spool]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_TOTAL=${1:-150}
WITH_SPOOL=${2:-}
DATA=$ROOT/../shared/data/openalpr-eu-dev
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
# Three real cars, each in view 0.8 s, then 1.2 s of empty road, at 10 frames/s.
inputs=(); filters=""; labels=""
for i in 0 1 2; do
  img=$DATA/$(echo eu3.jpg eu7.jpg test_004.jpg | cut -d' ' -f$((i + 1)))
  inputs+=(-loop 1 -t 0.8 -i "$img" -f lavfi -t 1.2 -i color=black:s=1280x960:r=10)
  filters+="[$((2 * i))]scale=1280:960,fps=10,setsar=1[c$i];[$((2 * i + 1))]setsar=1[e$i];"
  labels+="[c$i][e$i]"
done
ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex "${filters}${labels}concat=n=6:v=1:a=0,format=yuv420p[v]" \
  -map "[v]" -c:v libx264 -r 10 road.mp4
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 "$ROOT/tests/support/rtsp_server.py" road.mp4 "$PORT" > server.log 2>&1 &
sleep 2
cat > soak.toml <<CFG
[device]
id = "soak"
[device.site]
name = "soak"
[privacy]
purpose = "soak test"
[source]
kind = "rtsp"
url = "rtsp://127.0.0.1:$PORT/cam"
[output]
kind = "mqtt"
[mqtt]
host = "127.0.0.1"
port = 9
insecure_dev = true
outbox_bytes = 4194304
backoff_min_ms = 1000
backoff_max_ms = 5000
CFG
if [ "$WITH_SPOOL" = spool ]; then
  printf '[spool]\ndir = "%s/spool"\nmax_bytes = 33554432\nsegment_bytes = 1048576\n' "$WORK" >> soak.toml
fi
ANPR_LOG=warn "$ANPR" run --config soak.toml > /dev/null 2> daemon.err &
DAEMON=$!
for t in $(seq 10 10 "$SECONDS_TOTAL"); do
  sleep 10
  echo "$t s  rss $(awk '/VmRSS/{print int($2/1024)}' /proc/$DAEMON/status) MiB  peak $(awk '/VmHWM/{print int($2/1024)}' /proc/$DAEMON/status) MiB"
done
kill -TERM "$DAEMON"; wait "$DAEMON" || true
if [ "$WITH_SPOOL" = spool ]; then
  echo "spool at the stop: $(du -sk "$WORK/spool" | cut -f1) KiB in $(ls "$WORK/spool" | wc -l) segment files"
fi
echo "dropped by the outbox: $(grep -o 'class=[A-Za-z]*' daemon.err | sort | uniq -c | tr '\n' ' ')"
grep -o 'unacknowledged=[0-9]*' daemon.err | tail -1 | sed 's/^/held at the stop (kept with the spool, lost without): /'
