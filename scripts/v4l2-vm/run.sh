#!/usr/bin/env bash
# Runs a program against a REAL V4L2 device: boots Debian's kernel under QEMU, loads the
# `vivid` virtual camera driver, and runs PROGRAM (a binary of this machine, reached through a
# read-only 9p mount of the host's root) inside the VM. Prints the VM console; exits with the
# program's status. No camera and no kernel-module loading exist in the container itself.
#
#   scripts/v4l2-vm/run.sh PROGRAM [ARGS...]
#
# Cached under target/v4l2-vm/: the kernel package, the modules it needs, the initramfs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROGRAM=$(realpath "$1"); shift
CACHE="$ROOT/target/v4l2-vm"
mkdir -p "$CACHE"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo

need=()
for p in qemu-system-x86 busybox-static kmod cpio; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The kernel: the image package linux-image-amd64 points at, unpacked (not installed).
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || { echo "v4l2-vm: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
KDIR="$CACHE/$KPKG"
if [ ! -d "$KDIR/boot" ]; then
  (cd "$CACHE" && apt-get download "$KPKG" >&2 2>/dev/null && dpkg -x "$CACHE/$KPKG"_*.deb "$KDIR" && rm -f "$CACHE/$KPKG"_*.deb)
fi
KVER=${KPKG#linux-image-}
MODS="$KDIR/lib/modules/$KVER"

INITRD="$CACHE/initrd-$KVER.cpio.gz"
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$STAGE"/{bin,dev,proc,sys,host,modules}
  cp /bin/busybox "$STAGE/bin/busybox"
  # Modules in dependency order (the package ships no modules.dep; modinfo reads each one).
  n=0
  declare -A seen=()
  add() {
    local f; f=$(find "$MODS" -name "$1.ko" | head -1)
    [ -n "$f" ] || { echo "v4l2-vm: module $1 not in $KPKG" >&2; exit 1; }
    for d in $(modinfo -F depends "$f" | tr ',' ' '); do add "$d"; done
    if [ -z "${seen[$1]:-}" ]; then
      seen[$1]=1; n=$((n + 1)); cp "$f" "$STAGE/modules/$(printf %02d $n)-$1.ko"
    fi
  }
  for m in virtio_pci 9pnet_virtio 9p vivid; do add "$m"; done
  cat > "$STAGE/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /modules/*.ko; do
  case "$m" in
    *-vivid.ko) insmod "$m" n_devs=1 node_types=0x1 input_types=0x0 || echo "V4L2TEST fail insmod $m" ;;
    *) insmod "$m" || echo "V4L2TEST fail insmod $m" ;;
  esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host || echo "V4L2TEST fail mount-host"
mount -t devtmpfs dev /host/dev; mount -t proc proc /host/proc; mount -t sysfs sys /host/sys
mount -t tmpfs tmp /host/tmp
set -- $(cat /proc/cmdline)
for a; do case "$a" in probe=*) PROBE="${a#probe=}";; args=*) ARGS=$(echo "${a#args=}" | tr ',' ' ');; esac; done
chroot /host "$PROBE" $ARGS
echo "V4L2TEST exit $?"
poweroff -f
INIT
  chmod +x "$STAGE/init"
  (cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.partial"
  mv "$INITRD.partial" "$INITRD"
fi

# Software emulation: /dev/kvm may exist in a sandbox without working nested virtualisation
# (seen: the guest never leaves the BIOS), and TCG boots this small system in seconds.
ACCEL=${V4L2_VM_ACCEL:-tcg}
ARGS=$(IFS=,; echo "$*")
LOG="$CACHE/console.log"
timeout 150 qemu-system-x86_64 -accel "$ACCEL" -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" \
  -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
  -append "console=ttyS0 quiet panic=-1 probe=$PROGRAM args=$ARGS" > "$LOG" 2>&1 || true
tr -d '\r' < "$LOG" | grep -E "V4L2TEST|panic|Kernel" || true
status=$(tr -d '\r' < "$LOG" | awk '/^V4L2TEST exit/{print $3}' | tail -1)
[ -n "$status" ] || { echo "v4l2-vm: the VM did not report (see $LOG)" >&2; exit 1; }
exit "$status"
