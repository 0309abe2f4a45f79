#!/usr/bin/env bash
# Records testdata/v4l2/ from the vivid driver in the VM (see run.sh) and makes the references
# the unit tests compare against with FFmpeg, an independent implementation:
#
#   vivid-caps.txt                  vivid's formats, sizes and frame intervals (negotiate.rs)
#   vivid-yuyv-160x120.raw          a YUYV frame, cut from a 320x180 one, rows packed
#   vivid-yuyv-160x120.ffmpeg.png   FFmpeg's conversion of it to RGB24 (yuyv422 -> rgb24)
#   vivid-160x120.mjpeg             FFmpeg's 4:2:2 JPEG of that frame with its Huffman tables
#                                   removed, as USB cameras send MJPEG
#   vivid-160x120.mjpeg.ffmpeg.png  FFmpeg's decoding of that JPEG to RGB24 (chroma interpolated)
#
#   scripts/v4l2-vm/record-testdata.sh [PROBE]   (default: builds examples/v4l2_probe.rs)
#
# Needs ffmpeg and python3. The frame differs from run to run (vivid's overlay shows the time).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/testdata/v4l2"
PROBE=${1:-}
if [ -z "$PROBE" ]; then
  (cd "$ROOT" && cargo build --release --example v4l2_probe)
  PROBE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/v4l2_probe"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

V4L2_VM_SHARE="$WORK" "$ROOT/scripts/v4l2-vm/run.sh" "$PROBE" --record /run/share
mkdir -p "$OUT"; rm -f "$OUT"/vivid-*
cp "$WORK/vivid-caps.txt" "$OUT/"

# The 320x180 frame comes with 1280-byte rows (vivid keeps the row stride of the format set
# before); cut 160x120 from x=80, y=60: part of the text overlay and five colour bars.
python3 - "$WORK/vivid-yuyv-320x180.raw" "$OUT/vivid-yuyv-160x120.raw" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
stride = len(data) // 180
rows = [data[y * stride + 80 * 2:y * stride + 240 * 2] for y in range(60, 180)]
open(sys.argv[2], "wb").write(b"".join(rows))
PY
ffmpeg -loglevel error -y -f rawvideo -pix_fmt yuyv422 -s 160x120 -i "$OUT/vivid-yuyv-160x120.raw" \
  -pix_fmt rgb24 -frames:v 1 "$OUT/vivid-yuyv-160x120.ffmpeg.png"

ffmpeg -loglevel error -y -f rawvideo -pix_fmt yuyv422 -s 160x120 -i "$OUT/vivid-yuyv-160x120.raw" \
  -c:v mjpeg -pix_fmt yuvj422p -huffman default -q:v 3 -frames:v 1 -f mjpeg "$WORK/with-tables.jpg"
python3 - "$WORK/with-tables.jpg" "$OUT/vivid-160x120.mjpeg" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
out, i = bytearray(data[:2]), 2
while data[i + 1] != 0xDA:  # segments up to the start of scan; drop DHT (FFC4)
    length = int.from_bytes(data[i + 2:i + 4], "big")
    if data[i + 1] != 0xC4:
        out += data[i:i + 2 + length]
    i += 2 + length
out += data[i:]
open(sys.argv[2], "wb").write(out)
PY
# JPEG decoders upsample the chroma of 4:2:2 by interpolating (libjpeg's "fancy upsampling",
# and the decoder of the image crate); FFmpeg repeats it unless told to interpolate.
ffmpeg -loglevel error -y -f mjpeg -i "$OUT/vivid-160x120.mjpeg" -sws_flags bilinear+full_chroma_int+accurate_rnd \
  -pix_fmt rgb24 -frames:v 1 "$OUT/vivid-160x120.mjpeg.ffmpeg.png"
ls -l "$OUT"
