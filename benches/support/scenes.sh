#!/usr/bin/env bash
# Road video for the hit benches: real photographs four at a time in a 2×2 grid of a 1920×1080,
# 25 fps H.264 video, each scene in view SCENE_S seconds then GAP_S seconds of empty road.
# Writes road.mp4 and plates.txt (the annotated plate of every photograph shown, in order) into
# the current folder; prints the video's length in seconds.
#
#   scenes.sh PHOTO...        (SCENE_S, GAP_S from the environment; a multiple of 4 photos used)
set -euo pipefail
SCENE_S=${SCENE_S:-1.2}
GAP_S=${GAP_S:-0.4}
photos=("$@")
[ "${#photos[@]}" -ge 4 ] || { echo "scenes.sh: give at least 4 photographs" >&2; exit 1; }
: > plates.txt
: > segments.txt
cell="scale=960:540:force_original_aspect_ratio=decrease,pad=960:540:(ow-iw)/2:(oh-ih)/2,setsar=1"
scenes=0
for ((s = 0; s * 4 + 3 < ${#photos[@]}; s++)); do
  args=(); filter=""
  for k in 0 1 2 3; do
    photo=${photos[$((s * 4 + k))]}
    cut -f6 "${photo%.jpg}.txt" | head -n 1 >> plates.txt
    args+=(-loop 1 -t "$SCENE_S" -r 25 -i "$photo")
    filter+="[$k]$cell[c$k];"
  done
  ffmpeg -loglevel error -y "${args[@]}" -f lavfi -t "$GAP_S" -i color=black:s=1920x1080:r=25 \
    -filter_complex "${filter}[c0][c1][c2][c3]xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0,fps=25,format=yuv420p[scene];[4]format=yuv420p,setsar=1[gap];[scene][gap]concat=n=2:v=1:a=0[v]" \
    -map "[v]" -c:v libx264 -preset veryfast -g 25 -r 25 "scene$s.mp4"
  echo "file 'scene$s.mp4'" >> segments.txt
  scenes=$((scenes + 1))
done
ffmpeg -loglevel error -y -f concat -safe 0 -i segments.txt -c copy road.mp4
rm -f scene*.mp4 segments.txt
python3 -c "print($scenes * ($SCENE_S + $GAP_S))"
