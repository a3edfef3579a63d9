#!/usr/bin/env bash
# Compares a built libtinv.so.0 with the committed ABI baseline using abidiff.
# abidiff's exit status is a bit field: 4 = ABI changed (compatible, e.g. a new function),
# 8 = incompatible change. Only the latter fails; the former asks for a baseline refresh.
set -u
lib=$1 baseline=$2
out=$(abidiff --no-corpus-path --headers-dir2 include "$baseline" "$lib" 2>&1)
rc=$?
echo "$out"
if [ $((rc & 8)) -ne 0 ]; then
    echo "check-abi: INCOMPATIBLE ABI change against $baseline (see docs/abi.md)"; exit 1
fi
if [ $((rc & 3)) -ne 0 ]; then
    echo "check-abi: abidiff failed to run (exit $rc)"; exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "check-abi: compatible additions; refresh the baseline with 'make abi-baseline' when releasing"
else
    echo "check-abi: ABI identical to $baseline"
fi
exit 0
