#!/usr/bin/env bash
# The non-libtorch libraries libtinv links (JSON, Unicode, regex, PNG, JPEG, zlib) for a machine
# without a package registry, such as a GPU box that only has a CUDA PyTorch.
#
#   scripts/device-deps.sh download        # here (Debian 12 with apt): .deb files into .deps/debs
#   scripts/device-deps.sh unpack          # there: unpack them into .deps/root (no root needed)
#   make DEPS_PREFIX=$PWD/.deps/root TORCH_DIR=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')
#
# .deps/ is ignored by git; carry it to the other machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
DEBS=.deps/debs
ROOT=.deps/root
# Runtime libraries and their -dev packages (headers, .so links, pkg-config files).
packages=(
  libjansson4 libjansson-dev
  libutf8proc2 libutf8proc-dev
  libpcre2-8-0 libpcre2-dev libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  libpng16-16 libpng-dev
  libjpeg62-turbo libjpeg62-turbo-dev
  zlib1g zlib1g-dev
)

case "${1:-}" in
download)
    mkdir -p "$DEBS"
    (cd "$DEBS" && apt-get download "${packages[@]}")
    echo "device-deps: $(ls "$DEBS" | wc -l) packages in $DEBS"
    ;;
unpack)
    [ -d "$DEBS" ] || { echo "device-deps: $DEBS is missing; run '$0 download' where apt works" >&2; exit 1; }
    mkdir -p "$ROOT"
    for deb in "$DEBS"/*.deb; do
        dpkg-deb -x "$deb" "$ROOT" 2>/dev/null || dpkg -x "$deb" "$ROOT"
    done
    # -dev packages link libfoo.so to an absolute /lib path on some releases: point them inside.
    root_abs=$(cd "$ROOT" && pwd)
    for link in "$ROOT"/usr/lib/x86_64-linux-gnu/*.so; do
        target=$(readlink "$link" || true)
        case "$target" in
        /*) ln -sf "$(realpath -m --relative-to="$(dirname "$link")" "$root_abs$target")" "$link" ;;
        esac
    done
    echo "device-deps: unpacked into $ROOT (use make DEPS_PREFIX=$PWD/$ROOT)"
    ;;
*)
    echo "usage: $0 download|unpack" >&2
    exit 2
    ;;
esac
