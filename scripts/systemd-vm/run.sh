#!/usr/bin/env bash
# Runs the daemon under a REAL systemd: boots Debian's kernel under QEMU with the host's root
# (read-only, over 9p) as the lower layer of an overlay whose upper layer is a tmpfs, installs
# into the overlay what the package installs (systemd/anpr-edge.service exactly as shipped,
# /usr/bin/anpr-edge = this build, the models and ONNX Runtime where the package puts them,
# the package's postinst run), a configuration derived from systemd/anpr-edge.toml that
# replays a short video of real photographs to a Mosquitto broker inside the VM, then
# switch_roots into /lib/systemd/systemd as PID 1 with anpr-test.target. The driver
# (scripts/systemd-vm/driver.sh, a unit inside the VM) starts anpr-edge.service, checks it
# and prints one line per check: "SYSTEMDTEST ok NAME detail" or "SYSTEMDTEST fail NAME
# detail", then the unit's journal ("SYSTEMDJOURNAL ..." lines) and "SYSTEMDTEST exit N"
# (N failed checks).
#
#   scripts/systemd-vm/run.sh
#
# Exits with the driver's status; 1 when the VM did not report; 77 when QEMU cannot run here
# at all (not installed and not installable); 2 when something it needs is missing here.
# For the watchdog checks only, a drop-in sets WatchdogSec=$SYSTEMD_VM_WATCHDOG_S while the
# driver measures how long frames take in this VM, then one derived from that measurement for
# the freeze (the shipped unit keeps 30 s): see driver.sh. Environment:
#   SYSTEMD_VM_BINARY=FILE    the daemon (default target/release/anpr-edge)
#   SYSTEMD_VM_IMAGES=DIR     the photographs (default ../shared/data/openalpr-eu-dev)
#   ANPR_MODELS_DIR=DIR       the models (default /usr/local/share/anpr-edge/models)
#   ORT_DYLIB_PATH=FILE       ONNX Runtime (default /usr/local/lib/anpr-edge/libonnxruntime.so)
#   SYSTEMD_VM_DETECTOR=f32-320  recognition.detector.model in the VM (see below)
#   SYSTEMD_VM_WATCHDOG_S=300 WatchdogSec of the drop-in while the timing is measured
#   SYSTEMD_VM_ACCEL=auto     QEMU accelerator: auto (kvm when it boots a kernel, else tcg),
#                             kvm or tcg (scripts/vm/lib.sh, vm_accel)
#   SYSTEMD_VM_TIMEOUT=600    seconds before the VM is killed
#   SYSTEMD_VM_CACHE=DIR      the cache (default target/systemd-vm/): the kernel package
#                             (unpacked, not installed), the initramfs, the sample video, the
#                             payload of the last run and console.log, its console
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/systemd-vm"
CACHE=${SYSTEMD_VM_CACHE:-$ROOT/target/systemd-vm}
mkdir -p "$CACHE"
CACHE=$(realpath "$CACHE")
VM_NAME=systemd-vm
VM_LIB="$ROOT/scripts/vm/lib.sh"
# shellcheck source=../vm/lib.sh
. "$VM_LIB"

BINARY=$(realpath "${SYSTEMD_VM_BINARY:-$ROOT/target/release/anpr-edge}")
IMAGES=${SYSTEMD_VM_IMAGES:-$ROOT/../shared/data/openalpr-eu-dev}
MODELS=$(realpath "${ANPR_MODELS_DIR:-/usr/local/share/anpr-edge/models}")
ORT=$(realpath "${ORT_DYLIB_PATH:-/usr/local/lib/anpr-edge/libonnxruntime.so}")
# Under TCG (2 emulated CPUs) the default 416-pixel float detector takes about 7 s a frame,
# twice that when the host is busy; the 320-pixel float detector runs the same operators (so
# the same ONNX Runtime code inside the sandbox) in about 60 % of the time. The pipeline feeds
# the watchdog between frames, and drains its queue (1 frame here) at a stop: slow frames
# lengthen both, hence a watchdog of 20 s rather than a few seconds.
DETECTOR=${SYSTEMD_VM_DETECTOR:-f32-320}
WATCHDOG_S=${SYSTEMD_VM_WATCHDOG_S:-300}
# The cars of tests/common's road video: each shown 4 s, then 2 s of empty road.
PHOTOS=(eu3.jpg eu7.jpg test_004.jpg)

[ -x "$BINARY" ] || { echo "$VM_NAME: $BINARY is missing: cargo build --release --locked" >&2; exit 2; }
[ -d "$MODELS" ] || { echo "$VM_NAME: no models in $MODELS (scripts/setup.sh installs them; or set ANPR_MODELS_DIR)" >&2; exit 2; }
[ -f "$ORT" ] || { echo "$VM_NAME: no ONNX Runtime at $ORT (scripts/setup.sh; or set ORT_DYLIB_PATH)" >&2; exit 2; }
for p in "${PHOTOS[@]}"; do
  [ -f "$IMAGES/$p" ] || { echo "$VM_NAME: $IMAGES/$p is missing (the shared photographs; or set SYSTEMD_VM_IMAGES)" >&2; exit 2; }
done

vm_need_tools
for tool in ffmpeg mosquitto mosquitto_sub mosquitto_pub nsenter; do
  command -v "$tool" > /dev/null || { echo "$VM_NAME: $tool is missing here, and the VM runs this machine's programs (packages ffmpeg, mosquitto, mosquitto-clients, util-linux)" >&2; exit 2; }
done
[ -x /lib/systemd/systemd ] || { echo "$VM_NAME: /lib/systemd/systemd is missing (package systemd)" >&2; exit 2; }
vm_kernel

INITRD="$CACHE/initrd-$KVER.cpio.gz"
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ] || [ "$VM_LIB" -nt "$INITRD" ]; then
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$STAGE"/{bin,dev,proc,sys,lower,rw,newroot}
  cp "$(command -v busybox)" "$STAGE/bin/busybox"
  vm_stage_modules "$STAGE" virtio_pci 9pnet_virtio 9p overlay
  cat > "$STAGE/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
die() { echo "SYSTEMDTEST fail initramfs $*"; echo "SYSTEMDTEST exit 1"; poweroff -f; }
for m in /modules/*.ko; do insmod "$m" || die "insmod $m"; done
set -- $(cat /proc/cmdline)
for a; do case "$a" in payload=*) PAYLOAD="${a#payload=}";; esac; done
[ -n "${PAYLOAD:-}" ] || die "no payload= on the kernel command line"
# The host's root, read-only (it does not change during a run: cache=loose spares a round
# trip per lookup, which the dynamic loader makes by the thousand), under a tmpfs.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 host /lower || die "mount 9p"
mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work || die "tmpfs"
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || die "overlay"
. "/newroot$PAYLOAD/paths"
# Where the package puts them; bind mounts, so the binary runs as /usr/bin/anpr-edge (and
# finds its models and runtime beside it, as installed) whatever the host paths are.
mkdir -p /newroot/usr/share/anpr-edge/models /newroot/usr/lib/anpr-edge
touch /newroot/usr/bin/anpr-edge /newroot/usr/lib/anpr-edge/libonnxruntime.so
mount --bind "/newroot$BINARY" /newroot/usr/bin/anpr-edge || die "bind $BINARY"
mount --bind "/newroot$MODELS" /newroot/usr/share/anpr-edge/models || die "bind $MODELS"
mount --bind "/newroot$ORT" /newroot/usr/lib/anpr-edge/libonnxruntime.so || die "bind $ORT"
chroot /newroot /bin/bash "$PAYLOAD/install.sh" || die "install.sh"
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /lib/systemd/systemd
INIT
  chmod +x "$STAGE/init"
  (cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.partial"
  mv "$INITRD.partial" "$INITRD"
fi

# The sample video: 640x480 at 1 frame/s, the cars in turn for 12 minutes (longer than any
# run, so the source never ends: a file source that ends stops the daemon, and Restart=always
# would restart it, which the watchdog check must not confuse with its own restart).
key=$(for p in "${PHOTOS[@]}"; do sha256sum "$IMAGES/$p"; done | sha256sum | cut -c1-16)
VIDEO="$CACHE/sample-$key.mp4"
if [ ! -f "$VIDEO" ] || [ "$0" -nt "$VIDEO" ]; then
  WORK=$(mktemp -d)
  i=0
  ffmpeg -loglevel error -y -f lavfi -i color=c=black:s=640x480 -frames:v 1 "$WORK/empty.png"
  for p in "${PHOTOS[@]}"; do
    ffmpeg -loglevel error -y -i "$IMAGES/$p" -frames:v 1 \
      -vf "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2" "$WORK/car$i.png"
    i=$((i + 1))
  done
  for _ in $(seq 40); do
    for ((c = 0; c < ${#PHOTOS[@]}; c++)); do
      printf "file 'car%d.png'\nduration 4\nfile 'empty.png'\nduration 2\n" "$c"
    done
  done > "$WORK/list.txt"
  echo "file 'empty.png'" >> "$WORK/list.txt"
  codec=(-c:v libx264 -preset veryfast -g 12)
  ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx264 || codec=(-c:v mpeg4 -q:v 3 -g 12)
  ffmpeg -loglevel error -y -f concat -safe 0 -i "$WORK/list.txt" -vf "fps=1,format=yuv420p" "${codec[@]}" "$WORK/sample.mp4"
  mv "$WORK/sample.mp4" "$VIDEO"
  rm -rf "$WORK"
fi

# The payload: what install.sh puts into the overlay before systemd starts.
PAYLOAD="$CACHE/payload"
rm -rf "$PAYLOAD"
mkdir -p "$PAYLOAD"
cp "$VIDEO" "$PAYLOAD/sample.mp4"
cp "$ROOT/systemd/anpr-edge.service" "$PAYLOAD/anpr-edge.service"
cp "$HERE/driver.sh" "$PAYLOAD/driver.sh"
printf "BINARY='%s'\nMODELS='%s'\nORT='%s'\n" "$BINARY" "$MODELS" "$ORT" > "$PAYLOAD/paths"
EXPECTED=$(for p in "${PHOTOS[@]}"; do head -1 "$IMAGES/${p%.jpg}.txt" | cut -f6 | tr O 0; done | tr '\n' ' ')
printf "WATCHDOG_S=%s\nEXPECTED='%s'\n" "$WATCHDOG_S" "$EXPECTED" > "$PAYLOAD/driver.env"

# The shipped configuration with what this run changes, key by key: "SECTION|KEY|VALUE" (a
# key missing from its section is added, a missing section appended).
EDITS="pipeline|realtime|true
pipeline|frame_queue|1
recognition.detector|model|\"$DETECTOR\"
privacy|non_hit_plate|\"clear\"
output|kind|\"mqtt\"
mqtt|host|\"127.0.0.1\"
mqtt|port|1883
mqtt|insecure_dev|true
mqtt|status_interval_s|5"
awk -v edits="$EDITS" '
  BEGIN {
    n = split(edits, lines, "\n")
    for (i = 1; i <= n; i++) {
      split(lines[i], f, "|")
      if (!(f[1] in order)) { order[f[1]] = ++sections; name[sections] = f[1] }
      value[f[1], f[2]] = f[3]; keys[f[1]] = keys[f[1]] " " f[2]
    }
  }
  function pending(s,   k, m, i) {
    m = split(keys[s], k, " ")
    for (i = 1; i <= m; i++) if (!((s, k[i]) in done)) { print k[i] " = " value[s, k[i]]; done[s, k[i]] = 1 }
  }
  /^\[[^]]+\][ \t]*$/ { if (section != "") pending(section); section = substr($1, 2, length($1) - 2); seen[section] = 1; print; next }
  {
    if (match($0, /^[A-Za-z_]+[ \t]*=/)) {
      k = $0; sub(/[ \t]*=.*/, "", k)
      if ((section, k) in value) { print k " = " value[section, k] "   # systemd VM test"; done[section, k] = 1; next }
    }
    print
  }
  END {
    pending(section)
    for (i = 1; i <= sections; i++) if (!(name[i] in seen)) { print ""; print "[" name[i] "]"; pending(name[i]) }
  }
' "$ROOT/systemd/anpr-edge.toml" > "$PAYLOAD/anpr-edge.toml"

cat > "$PAYLOAD/test-watchdog.conf" <<EOF
# The systemd VM test only: a long watchdog while the driver measures this VM's frame cost;
# it then writes one derived from it (driver.sh). The shipped unit keeps WatchdogSec=30s.
[Service]
WatchdogSec=${WATCHDOG_S}s
EOF
cat > "$PAYLOAD/anpr-test.target" <<EOF
[Unit]
Description=anpr-edge under systemd: the VM test
Requires=basic.target
After=basic.target
Wants=anpr-test-broker.service anpr-test-driver.service
AllowIsolate=yes
EOF
cat > "$PAYLOAD/anpr-test-broker.service" <<EOF
[Unit]
Description=Mosquitto broker of the anpr-edge VM test
Before=anpr-edge.service anpr-test-driver.service
[Service]
ExecStart=/usr/sbin/mosquitto -c /etc/anpr-test/mosquitto.conf
EOF
cat > "$PAYLOAD/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
persistence false
log_dest stdout
EOF
cat > "$PAYLOAD/anpr-test-driver.service" <<EOF
[Unit]
Description=anpr-edge VM test driver
After=anpr-test-broker.service
[Service]
ExecStart=/bin/bash $PAYLOAD/driver.sh
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/console
EOF
cat > "$PAYLOAD/install.sh" <<EOF
# Run in the overlay (chroot) by the initramfs, before systemd starts.
set -euo pipefail
P=$PAYLOAD
# As the package installs them (Cargo.toml, package.metadata.deb).
install -D -m 0644 "\$P/anpr-edge.service" /lib/systemd/system/anpr-edge.service
install -D -m 0644 "\$P/anpr-edge.toml" /etc/anpr-edge/anpr-edge.toml
sh "$ROOT/debian/postinst" configure
install -D -m 0644 "\$P/test-watchdog.conf" /etc/systemd/system/anpr-edge.service.d/test-watchdog.conf
# The shipped configuration reads /var/lib/anpr-edge/sample.mp4 (in the StateDirectory).
install -m 0600 "\$P/sample.mp4" /var/lib/private/anpr-edge/sample.mp4
install -D -m 0644 "\$P/mosquitto.conf" /etc/anpr-test/mosquitto.conf
for u in anpr-test.target anpr-test-broker.service anpr-test-driver.service; do
  install -m 0644 "\$P/\$u" /etc/systemd/system/\$u
done
# A container's marker in the host's root would make systemd believe it runs in Docker.
rm -f /.dockerenv /run/.containerenv
# What this host enables and the test does not need (logins, clock sync, timers, gpsd), and
# systemd-tmpfiles-setup, which would empty the host's /tmp into overlay whiteouts (a minute).
for u in getty@tty1.service serial-getty@ttyS0.service console-getty.service getty.target \\
    systemd-timesyncd.service systemd-pstore.service e2scrub_reap.service e2scrub_all.timer \\
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer man-db.timer \\
    gpsd.socket gpsd.service mosquitto.service postgresql.service systemd-firstboot.service \\
    systemd-networkd-wait-online.service systemd-tmpfiles-setup.service systemd-tmpfiles-clean.timer; do
  ln -sf /dev/null /etc/systemd/system/\$u
done
EOF

ACCEL=$(vm_accel "${SYSTEMD_VM_ACCEL:-auto}")
APPEND="console=ttyS0 quiet panic=-1 payload=$PAYLOAD systemd.unit=anpr-test.target"
vm_run "SYSTEMDTEST|SYSTEMDJOURNAL" "${SYSTEMD_VM_TIMEOUT:-600}" 2048 "SYSTEMDTEST|SYSTEMDJOURNAL|Kernel panic"
