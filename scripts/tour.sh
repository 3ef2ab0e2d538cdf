#!/usr/bin/env bash
# The chapter tour: runs each chapter's VMM with its default guest, or only chapter $2.
set -euo pipefail
build=${1:?usage: tour.sh BUILD_DIR [CHAPTER_NUMBER]}
only=${2:-}

# Chapter 03 serves a scratch disk image; it waits for a typed line only on a terminal.
disk="$build/tour-disk.img"
truncate -s 1M "$disk"
echo_seconds=5
[ -t 0 ] || echo_seconds=0

# Small enough for a laptop, large enough to show RAM on both sides of the device hole.
declare -A arguments=(
    [01]=""
    [02]="--mem 1G --hole-start 512M --backing thp"
    [03]="--disk $disk --echo-seconds $echo_seconds"
)

ran=0
for directory in chapters/[0-9][0-9]-*/; do
    name=$(basename "$directory")
    number=${name%%-*}
    if [ -n "$only" ] && [ "$((10#$number))" != "$((10#$only))" ]; then
        continue
    fi
    binary="$build/chapters/ch$(echo "$name" | tr - _)"
    echo
    echo "================ chapter $name ================"
    echo "\$ $binary ${arguments[$number]:-}"
    # shellcheck disable=SC2086  # the arguments are meant to split into words
    "$binary" ${arguments[$number]:-}
    ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
    echo "no chapter ${only} here; chapters are: $(ls chapters | grep -E '^[0-9]' | tr '\n' ' ')" >&2
    exit 1
fi
