#!/usr/bin/env bash
# Peak resident memory (VmHWM, KiB and MiB) of `anpr-edge replay` on the EU photographs and of
# `anpr-edge run` on a video rendered from four of them (1280x960, 10 frames/s: each car in
# view 0.8 s, then 1.2 s of empty road), default configuration, output to stdout; each twice.
#
#   ANPR=target/release/anpr-edge benches/memory_peak.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=$ROOT/../shared/data/openalpr-eu-dev
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
inputs=(); filters=""; labels=""
for i in 0 1 2 3; do
  img=$DATA/$(echo eu3.jpg eu7.jpg test_004.jpg eu1.jpg | cut -d' ' -f$((i + 1)))
  inputs+=(-loop 1 -t 0.8 -i "$img" -f lavfi -t 1.2 -i color=black:s=1280x960:r=10)
  filters+="[$((2 * i))]scale=1280:960,fps=10,setsar=1[c$i];[$((2 * i + 1))]setsar=1[e$i];"
  labels+="[c$i][e$i]"
done
ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex "${filters}${labels}concat=n=8:v=1:a=0,format=yuv420p[v]" \
  -map "[v]" -c:v libx264 -r 10 "$WORK/road.mp4"
cat > "$WORK/run.toml" <<CFG
[device]
id = "mem"
[device.site]
name = "mem"
[privacy]
purpose = "memory measurement"
[source]
kind = "file"
path = "$WORK/road.mp4"
[output]
kind = "stdout"
CFG
peak() {
  /usr/bin/time -v "$@" 2>&1 > /dev/null | awk '/Maximum resident/ {printf "%d KiB (%d MiB)", $NF, $NF / 1024}'
}
for round in 1 2; do
  echo "replay: $(peak "$ANPR" replay "$DATA")   run: $(peak "$ANPR" run --config "$WORK/run.toml")"
done
