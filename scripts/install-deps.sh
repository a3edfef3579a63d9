#!/usr/bin/env bash
# Installs every Debian 12 package libtinv needs to build, test and run (needs root or sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
packages=(
  build-essential clang libclang-rt-14-dev pkg-config   # compilers; clang + runtime for libFuzzer
  libtorch-dev                         # tensor ops (ATen/autograd), CPU build
  libopenblas0-pthread                 # optimised BLAS for libtorch's matmuls (~30x the reference BLAS)
  libjansson-dev                       # JSON: configs, safetensors headers, golden cases
  libutf8proc-dev libpcre2-dev         # Unicode normalisation/case and the CLIP pre-tokeniser regex
  zlib1g-dev libpng-dev libjpeg62-turbo-dev   # .txt.gz vocabularies, PNG and JPEG images
  abigail-tools                        # make check-abi
  python3 python3-pytest python3-numpy # the ctypes binding's tests
  # doxygen                            # optional: `make docs` (HTML API reference); CI does not build it
)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
