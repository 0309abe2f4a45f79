#!/usr/bin/env bash
# Installs the ONNX Runtime shared library anpr-edge loads at run time, taken from the official
# `onnxruntime` wheel on PyPI (the only place this machine, and many fleets, can reach), pinned by
# SHA-256 for the wheel and for the library inside it.
#
#   scripts/install-onnxruntime.sh [ARCH] [DEST_DIR]
#     ARCH      x86_64 (default: this machine's) or aarch64
#     DEST_DIR  default /usr/local/lib/anpr-edge
#
# A roadside ARM box gets the same file from the aarch64 wheel (or from the anpr-edge .deb).
set -euo pipefail

ORT_VERSION=1.24.4
ARCH=${1:-$(uname -m)}
DEST=${2:-/usr/local/lib/anpr-edge}

case "$ARCH" in
  x86_64)
    PLATFORM=manylinux_2_28_x86_64
    WHEEL_SHA256=e54ad52e61d2d4618dcff8fa1480ac66b24ee2eab73331322db1049f11ccf330
    LIB_SHA256=2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24 ;;
  aarch64|arm64)
    PLATFORM=manylinux_2_28_aarch64
    WHEEL_SHA256=046ff290045a387676941a02a8ae5c3ebec6b4f551ae228711968c4a69d8f6b7
    LIB_SHA256=f373ae5fd4d878ed17ebea26e5480bd3d0a15e3bd6bc94b878e6c1b73998d22a ;;
  *)
    echo "install-onnxruntime: no ONNX Runtime wheel for '$ARCH' on PyPI (armv7 has none);" \
         "build ONNX Runtime $ORT_VERSION from source for it and put libonnxruntime.so in $DEST" >&2
    exit 1 ;;
esac

LIB="$DEST/libonnxruntime.so.$ORT_VERSION"
if [ -f "$LIB" ] && echo "$LIB_SHA256  $LIB" | sha256sum --check --status; then
  echo "ONNX Runtime $ORT_VERSION ($ARCH) already installed at $LIB"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  PYTHON=${PYTHON:-python3}
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --platform "$PLATFORM" \
    --python-version 3.11 "onnxruntime==$ORT_VERSION" -d "$WORK"
  WHEEL=$(ls "$WORK"/onnxruntime-*.whl)
  echo "$WHEEL_SHA256  $WHEEL" | sha256sum --check --quiet \
    || { echo "install-onnxruntime: $WHEEL does not have the pinned sha256 $WHEEL_SHA256" >&2; exit 1; }
  "$PYTHON" - "$WHEEL" "$WORK/lib" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so.")]
    if len(names) != 1:
        sys.exit(f"expected one libonnxruntime.so in {wheel}, found {names}")
    z.extract(names[0], out)
PY
  FOUND=$(ls "$WORK"/lib/onnxruntime/capi/libonnxruntime.so.*)
  echo "$LIB_SHA256  $FOUND" | sha256sum --check --quiet \
    || { echo "install-onnxruntime: the library in the wheel does not have the pinned sha256" >&2; exit 1; }
  install -d "$DEST"
  install -m 0644 "$FOUND" "$LIB.partial"
  mv "$LIB.partial" "$LIB"
  echo "installed ONNX Runtime $ORT_VERSION ($ARCH) at $LIB"
fi
ln -sfn "libonnxruntime.so.$ORT_VERSION" "$DEST/libonnxruntime.so"
