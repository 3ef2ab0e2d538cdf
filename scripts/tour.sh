#!/usr/bin/env bash
# The chapter tour: runs each chapter's VMM with its default guest, or only chapter $2.
set -euo pipefail
build=${1:?usage: tour.sh BUILD_DIR [CHAPTER_NUMBER]}
only=${2:-}

# Chapter 03 serves a scratch disk image; chapters wait for a typed line only on a terminal.
disk="$build/tour-disk.img"
truncate -s 16M "$disk"
echo_seconds=5
[ -t 0 ] || echo_seconds=0

# One line per run: "<chapter number> <arguments>". Sizes fit a laptop; chapter 02 shows RAM
# on both sides of the device hole; chapter 04 shows the same device three ways; chapter 05
# boots the Linux guest (make linux-guest); chapter 06 serves the same disk over both transports.
runs=(
    "01"
    "02 --mem 1G --hole-start 512M --backing thp"
    "03 --disk $disk --echo-seconds $echo_seconds"
    "04 --mode exit --echo-seconds $echo_seconds"
    "04 --mode ioeventfd"
    "04 --mode batched"
    "05 --kernel $build/guest/linux/vmlinux --initrd $build/guest/linux/initramfs.cpio.gz"
    "06 --disk $disk --transport pci"
    "06 --disk $disk --transport mmio"
)

ran=0
for run in "${runs[@]}"; do
    read -r number arguments <<<"$run"
    if [ -n "$only" ] && [ "$((10#$number))" != "$((10#$only))" ]; then
        continue
    fi
    directory=$(ls -d chapters/"$number"-*/ 2>/dev/null | head -n 1)
    [ -n "$directory" ] || continue
    name=$(basename "$directory")
    binary="$build/chapters/ch$(echo "$name" | tr - _)"
    echo
    echo "================ chapter $name ================"
    echo "\$ $binary $arguments"
    # shellcheck disable=SC2086  # the arguments are meant to split into words
    status=0
    "$binary" $arguments || status=$?
    # Chapter 05 ends with status 4 where KVM emulates guest kernel mode (kvm_pvm): the kernel
    # reached an instruction the emulator lacks after printing its early log. That is the
    # expected end there, not a failure of the tour.
    if [ "$status" -ne 0 ] && ! { [ "$number" = 05 ] && [ "$status" -eq 4 ]; }; then
        exit "$status"
    fi
    ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
    echo "no chapter ${only} here; chapters are: $(ls chapters | grep -E '^[0-9]' | tr '\n' ' ')" >&2
    exit 1
fi
