#!/usr/bin/env bash
# Installs the Debian 12 / Ubuntu packages that stepvmm needs to build, test and
# produce its documentation. Does nothing at all when every package is already
# installed, so it is safe to run before every build.
set -euo pipefail

# The one list of packages. Later chapters append what they need here
# (for example liburing-dev when the block backend becomes asynchronous).
PACKAGES=(
    g++
    cmake
    ninja-build
    make
    pkg-config
    binutils
    libfmt-dev
    catch2
    libcli11-dev
    doxygen
    graphviz
    util-linux
    bsdutils
    clang
    cpio
    lz4
    qemu-system-x86
    libclang-rt-14-dev
    python3-sphinx
    python3-breathe
    python3-sphinx-rtd-theme
)

missing=()
for package in "${PACKAGES[@]}"; do
    # dpkg-query fails for a package it has never heard of; that also means "missing".
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages are already installed; nothing to do."
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
