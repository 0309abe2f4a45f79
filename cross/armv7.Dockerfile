# Build image for `cross build --release --target armv7-unknown-linux-gnueabihf` (see Cross.toml).
# Debian bookworm's armhf OpenCV 4.6. ONNX Runtime has no armv7 wheel on PyPI: build
# libonnxruntime.so 1.24.x for armv7 from source (cross/README.md says how) and put it in
# cross/onnxruntime-armv7/ before building the image; without it the binary still builds
# (ONNX Runtime is loaded at run time) but `cross test` cannot run inference.
FROM debian:bookworm

RUN dpkg --add-architecture armhf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates pkg-config clang libclang-dev \
      gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross \
      libopencv-dev:armhf linux-libc-dev:armhf \
      libavcodec-dev:armhf libavformat-dev:armhf libavutil-dev:armhf libswscale-dev:armhf \
      qemu-user \
 && rm -rf /var/lib/apt/lists/*

COPY cross/onnxruntime-armv7/ /usr/lib/anpr-edge/

ENV CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
    CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc \
    CXX_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-g++ \
    PKG_CONFIG_ALLOW_CROSS=1 \
    PKG_CONFIG_PATH=/usr/lib/arm-linux-gnueabihf/pkgconfig \
    BINDGEN_EXTRA_CLANG_ARGS="--target=arm-linux-gnueabihf -I/usr/include/arm-linux-gnueabihf" \
    OPENCV_PACKAGE_NAME=opencv4 \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf" \
    ORT_DYLIB_PATH=/usr/lib/anpr-edge/libonnxruntime.so
