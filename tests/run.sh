#!/usr/bin/env bash
# Runs every test suite of the project and prints one closing line: "total: N passed, N failed".
# Each suite prints its own "<name>: N passed, N failed[, N skipped]" as its last such line.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
export TINV_FIXTURES=${TINV_FIXTURES:-../shared/fixtures}

total_pass=0 total_fail=0 total_skip=0 broken=()

run_suite() { # name, command...
    local name=$1; shift
    local log; log=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "$name: no summary line (exit $rc) — counted as one failure"
        total_fail=$((total_fail + 1)); broken+=("$name"); return
    fi
    local p f s
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$name: exited $rc with no failed test — counted as one failure"
        total_fail=$((total_fail + 1))
    fi
    [ "$rc" -ne 0 ] && broken+=("$name")
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_suite "$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#broken[@]} -gt 0 ] && echo "failing suites: ${broken[*]}"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
