#!/usr/bin/env bash
# Smoke tests of the tinv CLI; prints "cli: N passed, N failed[, N skipped]".
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
FIX=${TINV_FIXTURES:-../shared/fixtures}
TINV="$BUILD/tinv"
p=0 f=0 s=0
ok() { echo "ok   $1"; p=$((p + 1)); }
bad() { echo "FAIL $1"; f=$((f + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if "$TINV" sample --help >/dev/null 2>&1; then ok "sample --help"; else bad "sample --help"; fi
if "$TINV" sample --steps 2 --out "$tmp/n.png" 2>"$tmp/err"; then bad "sample without --model"; \
    elif grep -q -- '--model' "$tmp/err"; then ok "sample without --model"; else bad "sample without --model (message)"; fi

if [ -d "$FIX/sd1-tiny" ]; then
    m="$FIX/sd1-tiny"
    if "$TINV" sample --model "$m" --steps 2 --width 64 --height 64 --out "$tmp/x.png" 2>"$tmp/err" &&
        head -c 8 "$tmp/x.png" | od -An -c | grep -q 'P   N   G'; then ok "sample writes a PNG"
    else bad "sample writes a PNG: $(cat "$tmp/err")"; fi
    if "$TINV" sample --model "$m" --steps 2 --width 60 --height 64 --out "$tmp/y.png" 2>"$tmp/err"; then
        bad "sample --width 60"
    elif [ -s "$tmp/err" ] && [ ! -e "$tmp/y.png" ]; then ok "sample --width 60 fails with a message"
    else bad "sample --width 60 (message)"; fi
    if "$TINV" sample --model "$m" --steps 0 --out "$tmp/z.png" 2>"$tmp/err"; then bad "sample --steps 0"
    elif [ -s "$tmp/err" ]; then ok "sample --steps 0 fails with a message"; else bad "sample --steps 0 (message)"; fi
    if "$TINV" sample --model "$m" --scheduler nope --steps 2 --width 64 --height 64 --out "$tmp/z.png" 2>"$tmp/err"; then
        bad "sample --scheduler nope"
    elif grep -q "unknown scheduler" "$tmp/err"; then ok "sample --scheduler nope fails with a message"
    else bad "sample --scheduler nope (message)"; fi
    if "$TINV" sample --model "$m" --steps 2 --width 64 --height 64 --out "$tmp/x.gif" 2>/dev/null; then
        bad "sample --out x.gif"; else ok "sample --out x.gif fails"; fi
else
    if [ "${CI:-}" = "true" ]; then bad "fixtures missing at $FIX (required under CI)"
    else echo "skip sample on fixtures: not found at $FIX"; s=$((s + 1)); fi
fi
echo "cli: $p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
