#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (fuzz/) and runs the virtio-blk one for a while.
#   scripts/run-fuzz.sh [SECONDS]     default 30; exits non-zero if the fuzzer finds a crash
set -euo pipefail
seconds=${1:-30}
build=build/fuzz
if ! command -v clang++ >/dev/null; then
    echo "run-fuzz: clang++ is missing (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
    exit 1
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DSTEPVMM_FUZZ=ON >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" --target virtio_blk_fuzz virtio_blk_fuzz_seeds
corpus="$build/corpus/virtio_blk"
rm -rf "$corpus" && mkdir -p "$corpus"
"$build/fuzz/virtio_blk_fuzz_seeds" "$corpus"
# The guest's hostile inputs produce log lines by design; keep the fuzzer's own output readable.
set +e
"$build/fuzz/virtio_blk_fuzz" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/" \
    -max_len=70000 "$corpus" 2>&1 | grep -v '^\[warning\]' | tail -n 25
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "run-fuzz: the fuzzer found a problem (status $status); the input is in $build/crash-*" >&2
    exit "$status"
fi
echo "run-fuzz: virtio_blk_fuzz ran ${seconds}s without a finding"
