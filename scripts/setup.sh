#!/usr/bin/env bash
# Sets up anpr-edge on a Debian 12 machine, from nothing to a working `anpr-edge` on the PATH:
# system packages, a Rust toolchain if there is none, the ONNX Runtime library, the release
# build, and the models (checked against models/manifest.toml). Safe to run again: each step
# is skipped when already done.
#
# Environment:
#   ANPR_MODELS_DIR  folder holding the model files (default: ../shared/models beside the repo)
#   PREFIX           install prefix (default /usr/local)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
MODELS_SRC=${ANPR_MODELS_DIR:-$ROOT/../shared/models}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
step() { printf '\n== %s\n' "$*" >&2; }

# What the build (opencv crate: clang + OpenCV headers; ffmpeg-next: FFmpeg's headers), the tests (mosquitto, ffmpeg for test
# videos, openssl for test certificates, gpsd and its gpsfake for the mobile unit), the chaos
# bench (stress-ng, its CPU burners) and the model
# tools (python3-venv) need.
PACKAGES=(build-essential pkg-config clang libclang-dev libopencv-dev
          libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
          ffmpeg mosquitto mosquitto-clients openssl python3 python3-venv python3-pip ca-certificates systemd
          python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-bad gstreamer1.0-libav qemu-system-x86 busybox-static kmod cpio
          gpsd gpsd-clients stress-ng)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# mosquitto's packaged service is not ours: the tests start their own brokers on free ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null; then
  step "installing a Rust toolchain from Debian (rustc-web, bookworm-security)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rustc-web cargo-web
fi
# The test command's style gates need rustfmt and clippy of the same release (Debian ships them
# apart from the compiler; a rustup toolchain has them already).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  step "rustfmt and clippy from Debian (rustfmt-web, rust-web-clippy)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rustfmt-web rust-web-clippy
fi

step "ONNX Runtime library"
$SUDO "$ROOT/scripts/install-onnxruntime.sh" "$(uname -m)" "$PREFIX/lib/anpr-edge"

# cargo-deb, pinned, for the package test (tests/package.rs) and scripts/package.sh.
step "cargo-deb"
"$ROOT/scripts/package.sh" --install-tool

# cargo-fuzz, pinned, for the fuzz targets the test command runs (scripts/fuzz.sh).
step "cargo-fuzz"
"$ROOT/scripts/fuzz.sh" --install-tool

step "building anpr-edge (release)"
(cd "$ROOT" && cargo build --release --locked)
$SUDO install -D -m 0755 "$ROOT/target/release/anpr-edge" "$PREFIX/bin/anpr-edge"

step "installing models from $MODELS_SRC"
if [ ! -d "$MODELS_SRC" ]; then
  echo "setup: no models folder at $MODELS_SRC. Set ANPR_MODELS_DIR to a folder holding the files listed in" \
       "$ROOT/models/manifest.toml (no machine here can download them)." >&2
  exit 1
fi
MODELS_DEST="$PREFIX/share/anpr-edge/models"
DERIVED=$(mktemp -d)
trap 'rm -rf "$DERIVED"' EXIT
INT8=yolo-v9-t-416-license-plates-end2end1.onnx
if ! "$PREFIX/bin/anpr-edge" --models "$MODELS_DEST" models verify >/dev/null 2>&1; then
  if [ -f "$MODELS_SRC/$INT8" ]; then
    # The float detectors are made here from the int8 one (models/dequantize_detector.py);
    # `models install` checks their hashes like any other model's.
    PY=$("$ROOT/scripts/python-tools.sh" models)
    "$PY" "$ROOT/models/dequantize_detector.py" "$MODELS_SRC/$INT8" "$DERIVED/yolo-v9-t-416-license-plates-end2end1-f32.onnx" >/dev/null
    for size in 384 352 320; do
      "$PY" "$ROOT/models/dequantize_detector.py" "$MODELS_SRC/$INT8" \
        "$DERIVED/yolo-v9-t-license-plates-end2end1-f32-$size.onnx" --input-size "$size" >/dev/null
    done
  fi
  $SUDO "$PREFIX/bin/anpr-edge" models install --from "$MODELS_SRC" --from "$DERIVED" --to "$MODELS_DEST"
fi

step "ready: $("$PREFIX/bin/anpr-edge" --version), models in $PREFIX/share/anpr-edge/models"
