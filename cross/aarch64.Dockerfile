# Build image for `cross build --release --target aarch64-unknown-linux-gnu` (see Cross.toml).
# Debian bookworm, like the boxes and the development machine: the same OpenCV 4.6 and glibc
# 2.36 the x86 build is tested with. cross mounts the host's Rust toolchain (with the target
# added: rustup target add aarch64-unknown-linux-gnu).
FROM debian:bookworm

RUN dpkg --add-architecture arm64 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates pkg-config clang libclang-dev \
      gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross \
      libopencv-dev:arm64 linux-libc-dev:arm64 \
      libavcodec-dev:arm64 libavformat-dev:arm64 libavutil-dev:arm64 libswscale-dev:arm64 \
      python3 python3-pip qemu-user \
 && rm -rf /var/lib/apt/lists/*

# ONNX Runtime for the target, from the pinned PyPI wheel (the same script as on x86_64).
COPY scripts/install-onnxruntime.sh /tmp/install-onnxruntime.sh
RUN PIP_BREAK_SYSTEM_PACKAGES=1 bash /tmp/install-onnxruntime.sh aarch64 /usr/lib/anpr-edge

ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++ \
    PKG_CONFIG_ALLOW_CROSS=1 \
    PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig \
    BINDGEN_EXTRA_CLANG_ARGS="--target=aarch64-linux-gnu -I/usr/include/aarch64-linux-gnu" \
    OPENCV_PACKAGE_NAME=opencv4 \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    ORT_DYLIB_PATH=/usr/lib/anpr-edge/libonnxruntime.so
