#!/usr/bin/env bash
# Builds stepvmm's Linux guest from Debian packages, without installing them:
#   OUTDIR/vmlinuz            the kernel of linux-image-cloud-amd64 (a bzImage)
#   OUTDIR/vmlinux            the same kernel decompressed (an ELF): it starts printing at once,
#                             where the bzImage first spends minutes decompressing itself on kvm_pvm
#   OUTDIR/initramfs.cpio.gz  busybox-static, the virtio modules, and guest/linux/init as /init
# Usage: scripts/build-linux-guest.sh OUTDIR       (does nothing if OUTDIR is up to date)
set -euo pipefail
out=${1:?usage: build-linux-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "build-linux-guest: $*" >&2; exit 1; }
for tool in apt-get apt-cache dpkg-deb cpio gzip lz4 od objcopy; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

kernel_package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kernel_package" ] || fail "apt does not know linux-image-cloud-amd64 (run apt-get update?)"
busybox_version=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')
kernel_version=$(apt-cache policy "$kernel_package" | awk '/Candidate:/ { print $2 }')
stamp="$kernel_package $kernel_version busybox-static $busybox_version $(sha256sum "$here/guest/linux/init" "$0" | sha256sum | cut -c1-16)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio.gz" ]; then
    echo "build-linux-guest: $out is up to date ($kernel_package)"
    exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$kernel_package" busybox-static >download.log 2>&1) \
    || fail "apt-get download $kernel_package busybox-static failed: $(tail -n 1 "$work/download.log")"
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
release=$(ls "$work/kernel/lib/modules")

# The kernel, and its payload decompressed: boot.rst "Details of header fields" — the
# protected-mode code starts after (setup_sects + 1) * 512 bytes, and payload_offset (0x248)
# and payload_length (0x24c) locate the compressed vmlinux inside it.
cp "$work/kernel/boot/vmlinuz-$release" "$out/vmlinuz"
read_u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
setup_sects=$(od -An -t u1 -j $((0x1f1)) -N 1 "$out/vmlinuz" | tr -d ' ')
payload_offset=$(read_u32 "$out/vmlinuz" $((0x248)))
payload_length=$(read_u32 "$out/vmlinuz" $((0x24c)))
grep -q '^CONFIG_KERNEL_LZ4=y' "$work/kernel/boot/config-$release" || fail "the kernel payload is not LZ4; this script only unpacks LZ4"
dd if="$out/vmlinuz" of="$work/payload.lz4" bs=1M iflag=skip_bytes,count_bytes status=none \
    skip=$(( (setup_sects + 1) * 512 + payload_offset )) count="$payload_length"
# The payload is the kernel's own "lz4 -l" (legacy) stream with its size appended; lz4 -d
# stops at the end of the frames and complains about the trailer, which is harmless.
lz4 -d -c "$work/payload.lz4" >"$out/vmlinux" 2>/dev/null || true
[ "$(head -c 4 "$out/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ] || fail "decompressing the kernel payload did not give an ELF"

# The initramfs: busybox, /init, the virtio modules with their dependencies in load order.
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
cp "$here/guest/linux/init" "$root/init"
modules_dir="$work/kernel/lib/modules/$release"
wanted="virtio_pci virtio_mmio virtio_blk virtio_net"
order=()
add_module() { # depth-first: dependencies first, each module once
    local name=$1 path dependency
    for done in "${order[@]:-}"; do [ "$done" = "$name" ] && return; done
    path=$(find "$modules_dir/kernel" -name "$name.ko" | head -n 1)
    [ -n "$path" ] || return 0 # built into the kernel
    # The package has no modules.dep (depmod writes it at install time); each module names its
    # dependencies itself, in the "depends=" entry of its .modinfo section.
    for dependency in $(objcopy -O binary --only-section=.modinfo "$path" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "${dependency//-/_}"
    done
    cp "$path" "$root/lib/modules/$name.ko"
    order+=("$name")
}
for module in $wanted; do add_module "$module"; done
printf '%s\n' "${order[@]}" >"$root/lib/modules/load-order"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 >"$out/initramfs.cpio.gz"

echo "$stamp" >"$out/stamp"
echo "build-linux-guest: $kernel_package: vmlinuz $(stat -c %s "$out/vmlinuz") bytes, vmlinux $(stat -c %s "$out/vmlinux") bytes," \
    "initramfs $(stat -c %s "$out/initramfs.cpio.gz") bytes (modules: ${order[*]})"
