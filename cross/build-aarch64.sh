#!/usr/bin/env bash
# Builds a real aarch64 release binary of anpr-edge, and its .deb, on this x86_64 Debian 12
# machine without Docker:
#   - Rust: Debian's rustc-web 1.96 with libstd-rust-web-dev:arm64 (bookworm-security), so no
#     `rustup target add` (which may not reach its server); RUSTC must name /usr/bin/rustc,
#     because the rustup rustc earlier in PATH has no aarch64 standard library.
#   - C/C++: gcc/g++-aarch64-linux-gnu (ring, the OpenCV wrappers), libc6-dev-arm64-cross.
#   - OpenCV and FFmpeg: libopencv-dev:arm64 conflicts with the amd64 one, so the arm64 .debs of
#     the two OpenCV modules used (core, imgproc), of FFmpeg's libraries (video and RTSP) and their
#     whole run-time closure are unpacked into a sysroot (target/aarch64-sysroot) that
#     pkg-config-free OPENCV_* variables, pkg-config (FFmpeg, for ffmpeg-sys-next), the linker
#     (-rpath-link) and qemu (-L, cross/test-aarch64.sh) are pointed at.
#   - ONNX Runtime is loaded at run time: the package ships the aarch64 library from the pinned
#     PyPI wheel (scripts/install-onnxruntime.sh aarch64).
#
#   cross/build-aarch64.sh            binary + .deb (prints both paths at the end)
#   ANPR_NICE=0 cross/build-aarch64.sh   without nice -n 19 (default 19: the machine is shared)
# Outputs: target/aarch64-build/aarch64-unknown-linux-gnu/release/anpr-edge,
#          target/aarch64-unknown-linux-gnu/debian/anpr-edge_*_arm64.deb
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRIPLE=aarch64-unknown-linux-gnu
SYSROOT="$ROOT/target/aarch64-sysroot"
export CARGO_TARGET_DIR="$ROOT/target/aarch64-build"
NICE=${ANPR_NICE:-19}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
step() { printf '\n== %s\n' "$*" >&2; }

step "toolchain packages (arm64 as a foreign architecture)"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
TOOLS=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
       binutils-aarch64-linux-gnu qemu-user file)
missing=()
for p in "${TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
/usr/bin/rustc --print target-libdir --target "$TRIPLE" >/dev/null \
  || { echo "build-aarch64: /usr/bin/rustc has no $TRIPLE standard library (libstd-rust-web-dev:arm64)" >&2; exit 1; }

OPENCV_MODULES=(core imgproc)
FFMPEG_LIBS=(avcodec59 avformat59 avutil57 swscale6 swresample4)
# The sysroot's contents; a sysroot made for another list is made again.
SYSROOT_FOR="opencv ${OPENCV_MODULES[*]}; ffmpeg ${FFMPEG_LIBS[*]}"
if [ ! -f "$SYSROOT/.complete" ] || [ "$(cat "$SYSROOT/.complete")" != "$SYSROOT_FOR" ]; then
  step "OpenCV and FFmpeg sysroot from arm64 .debs: $SYSROOT"
  rm -rf "$SYSROOT"; mkdir -p "$SYSROOT/debs"
  runtime=(); dev=()
  for m in "${OPENCV_MODULES[@]}"; do runtime+=("libopencv-$m""406:arm64"); dev+=("libopencv-$m-dev:arm64"); done
  for l in "${FFMPEG_LIBS[@]}"; do runtime+=("lib$l:arm64"); dev+=("lib${l%%[0-9]*}-dev:arm64"); done
  # The whole run-time closure, resolved and fetched by apt as for an empty arm64 system (this
  # machine's own packages do not count), plus the -dev packages alone (headers, .so links,
  # FFmpeg's pkg-config files).
  mkdir -p "$SYSROOT/debs/partial"
  apt-get -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::status=/dev/null \
      -o Dir::Cache::archives="$SYSROOT/debs" -o Debug::NoLocking=1 \
      --download-only -y -qq --no-install-recommends install "${runtime[@]}" >&2
  (cd "$SYSROOT/debs" && apt-get download -qq "${dev[@]}")
  [ "$(ls "$SYSROOT"/debs/*.deb | wc -l)" -gt 10 ] || { echo "build-aarch64: apt fetched no arm64 closure for ${runtime[*]}" >&2; exit 1; }
  for deb in "$SYSROOT"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
  echo "$SYSROOT_FOR" > "$SYSROOT/.complete"
fi
LIBDIRS="$SYSROOT/usr/lib/aarch64-linux-gnu:$SYSROOT/lib/aarch64-linux-gnu"
# On a box, some libraries of the closure are found where dpkg -x does not put them on the
# linker's path: BLAS and LAPACK through update-alternatives (their postinst links
# libblas.so.3 and liblapack.so.3 into the multiarch folder), the HDF4, OGDI and armadillo
# libraries in /usr/lib. Link them into the multiarch folder, as the alternatives would, so that
# the linker (-rpath-link) and qemu find every library the OpenCV modules need.
for lib in "$SYSROOT"/usr/lib/aarch64-linux-gnu/blas/lib*.so.* "$SYSROOT"/usr/lib/aarch64-linux-gnu/lapack/lib*.so.* "$SYSROOT"/usr/lib/lib*.so.*; do
  target="$SYSROOT/usr/lib/aarch64-linux-gnu/$(basename "$lib")"
  [ -e "$target" ] || ln -s "$(realpath --relative-to="$SYSROOT/usr/lib/aarch64-linux-gnu" "$lib")" "$target"
done
for m in "${OPENCV_MODULES[@]}"; do
  [ -e "$SYSROOT/usr/lib/aarch64-linux-gnu/libopencv_$m.so" ] || { echo "build-aarch64: libopencv_$m.so missing from the sysroot (rm -rf $SYSROOT and retry)" >&2; exit 1; }
done

step "cargo build --release --target $TRIPLE (nice -n $NICE)"
started=$(date +%s)
RUSTFLAGS_LINK=""
for d in ${LIBDIRS//:/ }; do RUSTFLAGS_LINK+=" -C link-arg=-Wl,-rpath-link,$d"; done
(cd "$ROOT" && env \
  RUSTC=/usr/bin/rustc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++ \
  AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${RUSTFLAGS_LINK# }" \
  OPENCV_LINK_LIBS="$(printf 'opencv_%s,' "${OPENCV_MODULES[@]}" | sed 's/,$//')" \
  OPENCV_LINK_PATHS="$SYSROOT/usr/lib/aarch64-linux-gnu" \
  OPENCV_INCLUDE_PATHS="$SYSROOT/usr/include/opencv4,$SYSROOT/usr/include/aarch64-linux-gnu/opencv4" \
  PKG_CONFIG_ALLOW_CROSS=1 \
  PKG_CONFIG_LIBDIR="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig" \
  PKG_CONFIG_SYSROOT_DIR="$SYSROOT" \
  BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=aarch64-linux-gnu -I/usr/aarch64-linux-gnu/include" \
  nice -n "$NICE" cargo build --release --locked --target "$TRIPLE")
echo "build-aarch64: cargo build took $(( $(date +%s) - started )) s" >&2
BIN="$CARGO_TARGET_DIR/$TRIPLE/release/anpr-edge"

step "checking the binary"
file "$BIN"
file "$BIN" | grep -q "ARM aarch64" || { echo "build-aarch64: $BIN is not an aarch64 executable" >&2; exit 1; }
readelf -d "$BIN" | grep NEEDED
glibc=$(readelf -V "$BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "newest glibc symbol version needed: $glibc (bookworm has 2.36)"

step "ONNX Runtime for aarch64 and the .deb"
bash "$ROOT/scripts/install-onnxruntime.sh" aarch64 "$ROOT/target/onnxruntime-aarch64" >&2
ln -sf "libonnxruntime.so.1.24.4" "$ROOT/target/onnxruntime-aarch64/libonnxruntime.so"
DEB=$(ORT_LIB="$ROOT/target/onnxruntime-aarch64/libonnxruntime.so" bash "$ROOT/scripts/package.sh" --target "$TRIPLE" --no-build)
dpkg-deb --info "$DEB" | grep -E "Architecture|Depends"
echo "$BIN"
echo "$DEB"
