# Shared by the scripts that boot Debian's kernel under QEMU (scripts/v4l2-vm/run.sh,
# scripts/systemd-vm/run.sh); sourced, not run. The caller sets VM_NAME (the prefix of its
# messages) and CACHE (where the kernel package is unpacked), then calls, in this order:
#
#   vm_need_tools [PACKAGE...]     QEMU, busybox, kmod, cpio (+ PACKAGEs), installed when
#                                  missing; exits 77 when QEMU cannot run here at all
#   vm_kernel                      sets KPKG, KDIR, KVER, MODS and KERNEL (the vmlinuz)
#   vm_stage_modules STAGE MOD...  copies MODs and what they depend on, in dependency order,
#                                  to STAGE/modules/NN-NAME.ko (insmod them in name order)
#   vm_accel REQUESTED             prints the QEMU accelerator to use (see below)

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo

vm_need_tools() {
  local need=() p tool
  for p in qemu-system-x86 busybox-static kmod cpio "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "$VM_NAME: installing ${need[*]}" >&2
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2 ||
      echo "$VM_NAME: could not install ${need[*]}" >&2
  fi
  if ! qemu-system-x86_64 --version > /dev/null 2>&1; then
    echo "$VM_NAME: qemu-system-x86_64 cannot run here (package qemu-system-x86)" >&2
    exit 77
  fi
  for tool in busybox modinfo cpio; do
    command -v "$tool" > /dev/null || { echo "$VM_NAME: $tool is missing (packages busybox-static, kmod, cpio)" >&2; exit 1; }
  done
}

# The kernel: the image package linux-image-amd64 points at, unpacked. Without a package list
# (offline, no apt-get update) the newest one already unpacked here is used.
vm_kernel() {
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}') || true
  if [ -z "$KPKG" ] || { [ ! -d "$CACHE/$KPKG/boot" ] && ! (cd "$CACHE" && apt-get download "$KPKG" >&2); }; then
    KPKG=$(cd "$CACHE" && ls -d linux-image-*-amd64 2>/dev/null | sort -V | tail -1) || true
    [ -n "$KPKG" ] && [ -d "$CACHE/$KPKG/boot" ] ||
      { echo "$VM_NAME: cannot get Debian's kernel package (linux-image-amd64); run apt-get update" >&2; exit 1; }
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
  KERNEL="$KDIR/boot/vmlinuz-$KVER"
}

# Modules in dependency order, read from each module (the unpacked package has no
# modules.dep); Debian 12 ships them uncompressed, later releases as .ko.xz.
vm_stage_modules() {
  local stage=$1; shift
  mkdir -p "$stage/modules"
  VM_MODULE_N=0
  declare -gA VM_MODULE_SEEN=()
  local m
  for m; do _vm_add_module "$stage" "$m"; done
}

_vm_add_module() {
  local stage=$1 f d
  f=$(find "$MODS" -name "$2.ko" -o -name "$2.ko.xz" | head -1)
  [ -n "$f" ] || { echo "$VM_NAME: module $2 not in $KPKG" >&2; exit 1; }
  for d in $(modinfo -F depends "$f" | tr ',' ' '); do _vm_add_module "$stage" "$d"; done
  if [ -z "${VM_MODULE_SEEN[$2]:-}" ]; then
    VM_MODULE_SEEN[$2]=1; VM_MODULE_N=$((VM_MODULE_N + 1))
    case "$f" in
      *.xz) xz -dc "$f" > "$stage/modules/$(printf %02d $VM_MODULE_N)-$2.ko" ;;
      *) cp "$f" "$stage/modules/$(printf %02d $VM_MODULE_N)-$2.ko" ;;
    esac
  fi
}

# "tcg" or "kvm" as asked; "auto": kvm when it really boots a kernel here, else tcg. /dev/kvm
# may exist in a sandbox without working nested virtualisation (seen: the guest never leaves
# the BIOS, or QEMU aborts on an MSR), so "auto" boots the kernel once with kvm and looks for
# its first line on the serial console (8 s at most). The verdict is kept in
# $CACHE/accel-verdict for this host kernel and QEMU version (delete it to probe again).
vm_accel() {
  case "${1:-auto}" in
    kvm|tcg) echo "$1"; return ;;
    auto) ;;
    *) echo "$VM_NAME: unknown accelerator $1 (auto, kvm or tcg)" >&2; exit 2 ;;
  esac
  if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo tcg; return; fi
  local key verdict file="$CACHE/accel-verdict"
  key="$(uname -r) $(qemu-system-x86_64 --version | head -1)"
  if [ -f "$file" ] && [ "$(sed -n 1p "$file")" = "$key" ]; then sed -n 2p "$file"; return; fi
  verdict=tcg
  # No root file system: a kernel that boots panics at once, and QEMU ends (-no-reboot).
  timeout 8 qemu-system-x86_64 -accel kvm -m 256 -nographic -no-reboot -kernel "$KERNEL" \
    -append "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1" > "$file.log" 2>&1 || true
  if grep -a -q "Linux version" "$file.log"; then verdict=kvm; fi
  rm -f "$file.log"
  printf '%s\n%s\n' "$key" "$verdict" > "$file"
  echo "$verdict"
}

# vm_run TAGS TIMEOUT_S MEMORY_MB KEEP [QEMU_ARGS...]: boots $KERNEL and $INITRD with $APPEND
# ($ACCEL, 2 CPUs, this machine's root read-only over 9p as `host`), for TIMEOUT_S at most;
# prints the console lines matching the extended regex KEEP (a line with one of the guest's
# report tags, the extended regex TAGS, cut to start at it: the serial line's noise before it
# goes), and exits with the status the guest reported in its `<tag> exit N` line, or 1 (with
# the end of the console, kept in $CACHE/console.log) when it reported none.
vm_run() {
  local tag=$1 timeout_s=$2 memory=$3 keep=$4 log="$CACHE/console.log" started=$SECONDS status
  shift 4
  timeout "$timeout_s" qemu-system-x86_64 -accel "$ACCEL" -m "$memory" -smp 2 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
    "$@" -append "$APPEND" > "$log" 2>&1 || echo "$VM_NAME: QEMU ended with status $? after $((SECONDS - started)) s" >&2
  tr -d '\r' < "$log" | grep -aE "$keep" | sed -E "s/^.*($tag)/\1/" || true
  status=$(tr -d '\r' < "$log" | grep -aE "($tag) exit" | awk '{print $NF}' | tail -1) || true
  if [ -z "$status" ]; then
    echo "$VM_NAME: the VM did not report; the end of its console ($log):" >&2
    tr -d '\r' < "$log" | tail -40 >&2
    exit 1
  fi
  echo "$VM_NAME: $KPKG, $ACCEL, $((SECONDS - started)) s in the VM" >&2
  exit "$status"
}
