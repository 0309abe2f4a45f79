#!/usr/bin/env bash
# Runs a program against a REAL V4L2 device: boots Debian's kernel under QEMU, loads the
# `vivid` virtual camera driver (one capture node /dev/video0, one output node /dev/video1),
# and runs PROGRAM (a binary of this machine, reached through a read-only 9p mount of the
# host's root, so it finds its shared libraries where they are) as root inside the VM. No
# camera and no kernel-module loading exist in the container itself.
#
#   scripts/v4l2-vm/run.sh PROGRAM [ARGS...]
#
# Prints the program's output (lines starting with V4L2TEST, and any panic) and exits with
# its status; 1 when the VM did not report; 77 when QEMU cannot run here at all (not
# installed and not installable). Environment:
#   V4L2_VM_SHARE=DIR   a host folder the program may write to, seen in the VM as /run/share
#   V4L2_VM_ACCEL=tcg   QEMU accelerator (kvm where nested virtualisation works)
#   V4L2_VM_TIMEOUT=90  seconds before the VM is killed
#   V4L2_VM_CACHE=DIR   the cache (default target/v4l2-vm/): the kernel package (unpacked,
#                       not installed), the initramfs with the modules it needs, and
#                       console.log, the console of the last run
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
PROGRAM=$(realpath "$1"); shift
[ -x "$PROGRAM" ] || { echo "v4l2-vm: $PROGRAM is not an executable" >&2; exit 2; }
CACHE=${V4L2_VM_CACHE:-$ROOT/target/v4l2-vm}
mkdir -p "$CACHE"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo

need=()
for p in qemu-system-x86 busybox-static kmod cpio; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "v4l2-vm: installing ${need[*]}" >&2
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2 ||
    echo "v4l2-vm: could not install ${need[*]}" >&2
fi
if ! qemu-system-x86_64 --version > /dev/null 2>&1; then
  echo "v4l2-vm: qemu-system-x86_64 cannot run here (package qemu-system-x86)" >&2
  exit 77
fi
for tool in busybox modinfo cpio; do
  command -v "$tool" > /dev/null || { echo "v4l2-vm: $tool is missing (packages busybox-static, kmod, cpio)" >&2; exit 1; }
done

# The kernel: the image package linux-image-amd64 points at, unpacked. Without a package list
# (offline, no apt-get update) the newest one already unpacked here is used.
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}') || true
if [ -z "$KPKG" ] || { [ ! -d "$CACHE/$KPKG/boot" ] && ! (cd "$CACHE" && apt-get download "$KPKG" >&2); }; then
  KPKG=$(cd "$CACHE" && ls -d linux-image-*-amd64 2>/dev/null | sort -V | tail -1) || true
  [ -n "$KPKG" ] && [ -d "$CACHE/$KPKG/boot" ] ||
    { echo "v4l2-vm: cannot get Debian's kernel package (linux-image-amd64); run apt-get update" >&2; exit 1; }
fi
KDIR="$CACHE/$KPKG"
if [ ! -d "$KDIR/boot" ]; then
  rm -rf "$KDIR.partial"
  dpkg -x "$CACHE/$KPKG"_*.deb "$KDIR.partial"
  mv "$KDIR.partial" "$KDIR"
  rm -f "$CACHE/$KPKG"_*.deb
fi
KVER=${KPKG#linux-image-}
MODS="$KDIR/lib/modules/$KVER"

INITRD="$CACHE/initrd-$KVER.cpio.gz"
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$STAGE"/{bin,dev,proc,sys,host,modules}
  cp "$(command -v busybox)" "$STAGE/bin/busybox"
  # Modules in dependency order, read from each module (the unpacked package has no
  # modules.dep); Debian 12 ships them uncompressed, later releases as .ko.xz.
  n=0
  declare -A seen=()
  add() {
    local f; f=$(find "$MODS" -name "$1.ko" -o -name "$1.ko.xz" | head -1)
    [ -n "$f" ] || { echo "v4l2-vm: module $1 not in $KPKG" >&2; exit 1; }
    for d in $(modinfo -F depends "$f" | tr ',' ' '); do add "$d"; done
    if [ -z "${seen[$1]:-}" ]; then
      seen[$1]=1; n=$((n + 1))
      case "$f" in
        *.xz) xz -dc "$f" > "$STAGE/modules/$(printf %02d $n)-$1.ko" ;;
        *) cp "$f" "$STAGE/modules/$(printf %02d $n)-$1.ko" ;;
      esac
    fi
  }
  for m in virtio_pci 9pnet_virtio 9p vivid; do add "$m"; done
  cat > "$STAGE/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /modules/*.ko; do
  case "$m" in
    # One instance: a video capture node (bit 0) and a video output node (bit 8), webcam input.
    *-vivid.ko) insmod "$m" n_devs=1 node_types=0x101 input_types=0x0 || echo "V4L2TEST fail insmod $m" ;;
    *) insmod "$m" || echo "V4L2TEST fail insmod $m" ;;
  esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host || echo "V4L2TEST fail mount-host"
mount -t devtmpfs dev /host/dev; mount -t proc proc /host/proc; mount -t sysfs sys /host/sys
# Writable scratch on /run, not /tmp: a tmpfs over /tmp would hide a program built under /tmp
# (a clone there, as CI may make) and the VM would not find it.
mount -t tmpfs run /host/run
set -- $(cat /proc/cmdline)
for a; do case "$a" in probe=*) PROBE="${a#probe=}";; args=*) ARGS=$(echo "${a#args=}" | tr ',' ' ');; share=1) SHARE=1;; esac; done
if [ -n "${SHARE:-}" ]; then
  mkdir -p /host/run/share
  mount -t 9p -o trans=virtio,version=9p2000.L share /host/run/share || echo "V4L2TEST fail mount-share"
fi
chroot /host "$PROBE" $ARGS
echo "V4L2TEST exit $?"
sync
poweroff -f
INIT
  chmod +x "$STAGE/init"
  (cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.partial"
  mv "$INITRD.partial" "$INITRD"
fi

# Software emulation by default: /dev/kvm may exist in a sandbox without working nested
# virtualisation (seen: the guest never leaves the BIOS), and TCG boots this small system in
# seconds.
ACCEL=${V4L2_VM_ACCEL:-tcg}
ARGS=$(IFS=,; echo "$*")
SHARE_OPTS=()
APPEND="console=ttyS0 quiet panic=-1 probe=$PROGRAM args=$ARGS"
if [ -n "${V4L2_VM_SHARE:-}" ]; then
  mkdir -p "$V4L2_VM_SHARE"
  SHARE_OPTS=(-virtfs "local,path=$(realpath "$V4L2_VM_SHARE"),mount_tag=share,security_model=none")
  APPEND="$APPEND share=1"
fi
LOG="$CACHE/console.log"
started=$SECONDS
timeout "${V4L2_VM_TIMEOUT:-90}" qemu-system-x86_64 -accel "$ACCEL" -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" \
  -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
  "${SHARE_OPTS[@]}" -append "$APPEND" > "$LOG" 2>&1 || echo "v4l2-vm: QEMU ended with status $? after $((SECONDS - started)) s" >&2
tr -d '\r' < "$LOG" | grep -aE "V4L2TEST|panicked|Kernel panic" | sed 's/^.*V4L2TEST/V4L2TEST/' || true
status=$(tr -d '\r' < "$LOG" | grep -a "V4L2TEST exit" | awk '{print $NF}' | tail -1)
if [ -z "$status" ]; then
  echo "v4l2-vm: the VM did not report; the end of its console ($LOG):" >&2
  tr -d '\r' < "$LOG" | tail -30 >&2
  exit 1
fi
echo "v4l2-vm: $KPKG, $((SECONDS - started)) s in the VM" >&2
exit "$status"
