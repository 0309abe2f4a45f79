#!/usr/bin/env bash
# Peak resident memory (VmHWM) of `anpr-edge run` on a busy 720p scene: eight cars in view at
# once, each a real photograph of `openalpr-eu-dev` in its own 320x360 tile of a 1280x720
# frame (4 x 2 tiles), cropped at its own resolution around its plate (110-150 px wide, the
# width of a plate on a 720p overhead camera) and slowly zoomed in, as an approaching car grows.
# Each tile shows three cars one after the other, 4 s each; the tiles change car at staggered
# times, so there is no frame on which the whole picture changes. 12 s at 10 frames/s. Not
# footage of a real road: real plates and cars, arranged so that eight are in view at once,
# which none of the real clips in ../shared/data/real-video has.
#
#   ANPR=target/release/anpr-edge benches/memory_busy.sh [ROUNDS]
# Prints the peak of each round (KiB and MiB), then the reads of the last round, one per line.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=$ROOT/../shared/data/openalpr-eu-dev
ANPR=${ANPR:-anpr-edge}
ROUNDS=${1:-2}
WORK=${WORK:-$(mktemp -d)}
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
photos=(test_002 test_004 test_006 test_008 test_012 test_014 test_016 test_020
        test_022 test_026 test_028 test_030 test_032 test_038 test_046 test_048
        test_050 test_064 test_066 test_068 test_078 test_080 test_088 test_090)
FPS=10
inputs=(); filters=""; tiles=""; n=0
for tile in 0 1 2 3 4 5 6 7; do
  labels=""
  for clip in 0 1 2; do
    name=${photos[$((clip * 8 + tile))]}
    read -r _ x _ w _ _ < "$DATA/$name.txt"
    height=$(ffprobe -v error -select_streams v -show_entries stream=height -of csv=p=0 "$DATA/$name.jpg")
    width=$(ffprobe -v error -select_streams v -show_entries stream=width -of csv=p=0 "$DATA/$name.jpg")
    # The photograph scaled to 360 px high, cropped 320 wide around its plate.
    scaled_w=$(( (width * 360 / height + 1) / 2 * 2 ))
    left=$(( (x + w / 2) * 360 / height - 160 ))
    left=$(( left < 0 ? 0 : (left > scaled_w - 320 ? scaled_w - 320 : left) ))
    # Staggered changes: the first car of tile i is in view 1.2 + 0.35 i s, the next ones 4 s.
    frames=$(( clip == 0 ? 12 + 35 * tile / 10 : 4 * FPS ))
    inputs+=(-i "$DATA/$name.jpg")
    filters+="[$n]scale=$scaled_w:360,crop=320:360:$left:0,zoompan=z='1+0.004*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=$frames:s=320x360:fps=$FPS,setsar=1[t${tile}c$clip];"
    labels+="[t${tile}c$clip]"
    n=$((n + 1))
  done
  filters+="${labels}concat=n=3:v=1:a=0[t$tile];"
  tiles+="[t$tile]"
done
layout="0_0|320_0|640_0|960_0|0_360|320_360|640_360|960_360"
ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex \
  "${filters}${tiles}xstack=inputs=8:layout=$layout,format=yuv420p[v]" -map "[v]" \
  -c:v libx264 -r $FPS -t 12 "$WORK/busy.mp4"
cat > "$WORK/run.toml" <<CFG
[device]
id = "mem"
[device.site]
name = "mem"
[privacy]
purpose = "memory measurement"
[source]
kind = "file"
path = "$WORK/busy.mp4"
[output]
kind = "stdout"
CFG
for round in $(seq "$ROUNDS"); do
  /usr/bin/time -v "$ANPR" run --config "$WORK/run.toml" > "$WORK/reads.jsonl" 2> "$WORK/time.txt" || { cat "$WORK/time.txt" >&2; exit 1; }
  awk '/Maximum resident/ {m = $NF} /User time/ {u = $NF} /System time/ {s = $NF} END {printf "run busy 720p: %d KiB (%d MiB), cpu %.2f s\n", m, m / 1024, u + s}' "$WORK/time.txt"
done
