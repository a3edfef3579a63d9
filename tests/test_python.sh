#!/usr/bin/env bash
# Runs the Python package's tests (python/tests) with Debian's pytest on /usr/bin/python3
# against $BUILD/libtinv.so.0 and prints pytest's output, then one closing line:
# "python: N passed, N failed, N skipped".
# Under `make asan` (BUILD=build-asan) it skips itself: an ASan-built library cannot be
# dlopen'ed into an uninstrumented python.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
PY=${TINV_PYTHON:-/usr/bin/python3}

summary() { echo "python: $1 passed, $2 failed, $3 skipped"; }

lib="$BUILD/libtinv.so.0"
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac

if [ "$(basename "$BUILD")" = build-asan ] || { [ -f "$lib" ] && readelf -d "$lib" 2>/dev/null | grep -q 'NEEDED.*libasan'; }; then
    echo "python: $lib is built with AddressSanitizer and cannot be loaded into an uninstrumented python; skipping"
    summary 0 0 1
    exit 0
fi
if [ ! -f "$lib" ]; then
    echo "python: $lib is missing (run make)"
    summary 0 1 0
    exit 1
fi
if ! "$PY" -c 'import pytest' 2>/dev/null; then
    if [ "${CI:-}" = "true" ]; then
        echo "python: $PY has no pytest (apt-get install python3-pytest; required under CI)"
        summary 0 1 0
        exit 1
    fi
    echo "python: $PY has no pytest (apt-get install python3-pytest); skipping"
    summary 0 0 1
    exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# No bytecode or .pytest_cache written into the source tree.
PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" TINV_LIBRARY="$lib" PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -q -rfEs -p no:cacheprovider python/tests 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# pytest's closing line, e.g. "1 failed, 25 passed, 2 skipped in 3.10s" or "no tests ran in 0.01s".
line=$(grep -E '(passed|failed|skipped|error|errors|no tests ran).* in [0-9.]+s' "$log" | tail -n 1)
count() { # pattern -> number before it in the summary line (0 if absent)
    local n; n=$(grep -oE "[0-9]+ ($1)( |,|$)" <<<"$line" | head -n 1 | grep -oE '^[0-9]+')
    echo "${n:-0}"
}
p=$(( $(count passed) + $(count xpassed) ))
f=$(( $(count failed) + $(count 'errors?') ))
s=$(( $(count skipped) + $(count xfailed) ))

if [ "$rc" -eq 5 ]; then
    echo "python: pytest collected no tests (exit 5)"
    f=$((f + 1))
elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "python: pytest exited $rc with no failed test"
    f=$((f + 1))
elif [ -z "$line" ]; then
    echo "python: no pytest summary line found"
    f=$((f + 1))
fi
summary "$p" "$f" "$s"
[ "$f" -eq 0 ]
