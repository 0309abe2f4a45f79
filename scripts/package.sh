#!/usr/bin/env bash
# Builds the Debian package of anpr-edge with cargo-deb (metadata in Cargo.toml,
# [package.metadata.deb]): the binary, the systemd unit, the commented default configuration
# (/etc/anpr-edge/anpr-edge.toml, a conffile), the models and the ONNX Runtime library.
#
#   scripts/package.sh [--target TRIPLE] [--no-build] [--fast]
#   scripts/package.sh --install-tool      only install the pinned cargo-deb
#
#   --target    e.g. aarch64-unknown-linux-gnu (the binary from target/TRIPLE/release)
#   --no-build  package the binary already built (cross/build-aarch64.sh, the tests)
#   --fast      quicker, larger compression (the tests)
#   ANPR_MODELS_DIR  the models to ship (default: the installed ones), verified by sha256
#   ORT_LIB          libonnxruntime.so for the target (default: the installed one on x86_64;
#                    for aarch64: scripts/install-onnxruntime.sh aarch64 DIR, then DIR/...)
# Prints the path of the .deb it made (under target/debian/ or target/TRIPLE/debian/).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_DEB_VERSION=3.6.0

install_tool() {
  if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    echo "package: installing cargo-deb $CARGO_DEB_VERSION from crates.io" >&2
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" >&2
  fi
}

# Stripped: the release profile's line tables are for backtraces on the development machine; a
# box gets a binary a quarter of the size.
TARGET="" ; DEB_ARGS=(--strip)
while [ $# -gt 0 ]; do
  case "$1" in
    --install-tool) install_tool; exit 0 ;;
    --target) TARGET=$2; DEB_ARGS+=(--target "$2"); shift ;;
    --no-build) DEB_ARGS+=(--no-build) ;;
    --fast) DEB_ARGS+=(--fast) ;;
    *) echo "package: unknown option $1 (see the head of $0)" >&2; exit 2 ;;
  esac
  shift
done
install_tool

STAGE="$ROOT/target/deb-stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/models" "$STAGE/lib"

# The models, checked against models/manifest.toml by the x86 binary (hashes do not depend on
# the architecture that will run them).
MODELS=${ANPR_MODELS_DIR:-/usr/local/share/anpr-edge/models}
CHECKER="$ROOT/target/release/anpr-edge"
[ -x "$CHECKER" ] || CHECKER=$(command -v anpr-edge) \
  || { echo "package: no anpr-edge binary to verify the models with: cargo build --release first" >&2; exit 1; }
"$CHECKER" --models "$MODELS" models verify >&2 \
  || { echo "package: the models in $MODELS do not match models/manifest.toml (scripts/setup.sh installs them)" >&2; exit 1; }
cp "$MODELS"/*.onnx "$STAGE/models/"

case "${TARGET%%-*}" in
  ""|x86_64) WANT_MACHINE="X86-64"; DEFAULT_ORT=/usr/local/lib/anpr-edge/libonnxruntime.so ;;
  aarch64) WANT_MACHINE="AArch64"; DEFAULT_ORT="$ROOT/target/onnxruntime-aarch64/libonnxruntime.so" ;;
  *) echo "package: no ONNX Runtime build for $TARGET is known (armv7: build it from source, set ORT_LIB)" >&2
     WANT_MACHINE=""; DEFAULT_ORT="" ;;
esac
ORT=${ORT_LIB:-$DEFAULT_ORT}
[ -f "$ORT" ] || { echo "package: ONNX Runtime library $ORT is missing (scripts/install-onnxruntime.sh ARCH DIR makes it; or set ORT_LIB)" >&2; exit 1; }
if [ -n "$WANT_MACHINE" ] && ! readelf -h "$ORT" | grep -q "Machine:.*$WANT_MACHINE"; then
  echo "package: $ORT is not a $WANT_MACHINE library" >&2; exit 1
fi
# The runtime looks for <prefix>/lib/anpr-edge/libonnxruntime.so: one real file under that name.
cp -L "$ORT" "$STAGE/lib/libonnxruntime.so"

cd "$ROOT"
OUT="$ROOT/target/${TARGET:+$TARGET/}debian"
mkdir -p "$OUT"
# cargo-deb prints the path of the package it wrote.
DEB=$(cargo deb "${DEB_ARGS[@]}" --output "$OUT/" | tail -1)

HOST=$(rustc -vV | sed -n 's/^host: //p')
if [ -n "$TARGET" ] && [ "$TARGET" != "$HOST" ]; then
  # dpkg-shlibdeps maps a library to its package through this machine's dpkg database, which
  # holds no arm64 OpenCV (it lives in a sysroot), so cargo-deb's $auto finds nothing for a
  # cross binary. It links the very same Debian libraries as the native build (checked here:
  # same sonames), so the native binary's computed Depends are the cross package's.
  NATIVE="$ROOT/target/release/anpr-edge"
  CROSS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$TARGET/release/anpr-edge"
  needed() { readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | grep -v '^ld-linux' | sort; }
  if ! diff <(needed "$NATIVE") <(needed "$CROSS_BIN") >&2; then
    echo "package: $CROSS_BIN and $NATIVE need different libraries; cannot take Depends from the native build" >&2; exit 1
  fi
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
  mkdir -p "$WORK/shlibs/debian" && touch "$WORK/shlibs/debian/control"
  DEPENDS=$(cd "$WORK/shlibs" && dpkg-shlibdeps -xlibgcc -O "$NATIVE" | sed -n 's/^shlibs:Depends=//p')
  [ -n "$DEPENDS" ] || { echo "package: dpkg-shlibdeps gave no Depends for $NATIVE" >&2; exit 1; }
  dpkg-deb -R "$DEB" "$WORK/pkg"
  sed -i '/^Depends:/d; /^Priority:/a Depends: '"$DEPENDS" "$WORK/pkg/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -b "$WORK/pkg" "$DEB" >&2
fi
echo "$DEB"
