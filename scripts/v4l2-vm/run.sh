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
#   V4L2_VM_ACCEL=tcg   QEMU accelerator: kvm where nested virtualisation works, auto to
#                       probe it (scripts/vm/lib.sh, vm_accel)
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
VM_NAME=v4l2-vm
VM_LIB="$ROOT/scripts/vm/lib.sh"
# shellcheck source=../vm/lib.sh
. "$VM_LIB"
vm_need_tools
vm_kernel

INITRD="$CACHE/initrd-$KVER.cpio.gz"
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ] || [ "$VM_LIB" -nt "$INITRD" ]; then
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$STAGE"/{bin,dev,proc,sys,host}
  cp "$(command -v busybox)" "$STAGE/bin/busybox"
  vm_stage_modules "$STAGE" virtio_pci 9pnet_virtio 9p vivid
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
ACCEL=$(vm_accel "${V4L2_VM_ACCEL:-tcg}")
ARGS=$(IFS=,; echo "$*")
SHARE_OPTS=()
APPEND="console=ttyS0 quiet panic=-1 probe=$PROGRAM args=$ARGS"
if [ -n "${V4L2_VM_SHARE:-}" ]; then
  mkdir -p "$V4L2_VM_SHARE"
  SHARE_OPTS=(-virtfs "local,path=$(realpath "$V4L2_VM_SHARE"),mount_tag=share,security_model=none")
  APPEND="$APPEND share=1"
fi
vm_run V4L2TEST "${V4L2_VM_TIMEOUT:-90}" 1024 "V4L2TEST|panicked|Kernel panic" "${SHARE_OPTS[@]}"
