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

# Training pictures and embedding files written by hand (python3's standard library only).
write_pngs() {  # DIR N: N 64x64 RGB gradients
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
for k in range(int(sys.argv[2])):
    raw = b"".join(b"\0" + bytes(v for x in range(64) for v in ((4 * x + 50 * k) % 256, 4 * y, (2 * x + 2 * y + 30 * k) % 256))
                   for y in range(64))
    with open("%s/p%d.png" % (sys.argv[1], k), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
}
write_embedding() {  # FILE WIDTH: a diffusers-layout embedding {"<wide>": [1, WIDTH]}
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, struct, sys
n = int(sys.argv[2])
data = struct.pack("<%df" % n, *([0.01] * n))
header = json.dumps({"<wide>": {"dtype": "F32", "shape": [1, n], "data_offsets": [0, len(data)]}}).encode()
header += b" " * (-len(header) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + data)
EOF
}
is_png() { [ -s "$1" ] && head -c 8 "$1" | od -An -c | grep -q 'P   N   G'; }

if "$TINV" train --help >/dev/null 2>&1; then ok "train --help"; else bad "train --help"; fi
if "$TINV" train --images x --token '<t>' --init cat --out "$tmp/t.safetensors" 2>"$tmp/err"; then
    bad "train without --model"
elif grep -q -- '--model' "$tmp/err"; then ok "train without --model"; else bad "train without --model (message)"; fi
if "$TINV" train --model x --images x --token '<t>' --init cat --lr-schedule steep --out "$tmp/t.safetensors" \
    2>"$tmp/err"; then bad "train --lr-schedule steep"
elif grep -q 'constant, linear or cosine' "$tmp/err"; then ok "train --lr-schedule steep fails with a message"
else bad "train --lr-schedule steep (message)"; fi
if "$TINV" train --model x --images x --token '<t>' --init cat --resume --out "$tmp/none.safetensors" 2>"$tmp/err"; then
    bad "train --resume without a state file"
elif grep -q "no trainer state at '$tmp/none.state.safetensors'" "$tmp/err"; then
    ok "train --resume without a state file fails with a message"
else bad "train --resume without a state file (message): $(cat "$tmp/err")"; fi

# The demo needs no fixtures: it writes its own model and pictures.
start=$(date +%s%N)
if "$TINV" demo --random "$tmp/demo" >"$tmp/demo.out" 2>"$tmp/err"; then
    ms=$((($(date +%s%N) - start) / 1000000))
    if is_png "$tmp/demo/grid-learned.png" && is_png "$tmp/demo/grid-init-word.png" &&
        [ -s "$tmp/demo/ring.safetensors" ] && [ -s "$tmp/demo/ring-a1111.safetensors" ] &&
        grep -q 'random weights' "$tmp/demo.out"; then ok "demo --random runs end to end ($((ms / 1000)).$((ms % 1000 / 100)) s)"
    else bad "demo --random outputs: $(ls "$tmp/demo")"; fi
else bad "demo --random: $(tail -3 "$tmp/err")"; fi

# The toy demo (tinv demo's default; --toy is still accepted): the toy model ships in toy/, the
# pictures come from the toy world. It must run end to end and report what the checker saw in each
# row (how much it learns is measured by make bench-toy, not asserted here: see docs/toy-world.md).
if "$TINV" demo "$tmp/toy" --steps 100 >"$tmp/toy.out" 2>"$tmp/err"; then
    if is_png "$tmp/toy/grid.png" && [ -s "$tmp/toy/ring.safetensors" ] && [ -s "$tmp/toy/images/ring-0.txt" ] &&
        grep -q '{}' "$tmp/toy/images/ring-0.txt" && grep -Eq 'row 1 .* [0-8]/8 rings' "$tmp/toy.out" &&
        grep -Eq 'row 3 .* [0-8]/8 rings' "$tmp/toy.out"; then
        ok "demo (toy model) runs end to end ($(grep -E 'row [13]' "$tmp/toy.out" | tr -s ' ' | tr '\n' ';'))"
    else bad "demo (toy model) outputs: $(ls "$tmp/toy"); $(tail -5 "$tmp/toy.out")"; fi
else bad "demo (toy model): $(tail -3 "$tmp/err")"; fi
TINV_TOY_MODEL="$tmp/no-such-model" "$TINV" demo --toy "$tmp/toy2" >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "no toy model at $tmp/no-such-model" "$tmp/err"; then
    ok "demo --toy without a toy model says where it looked"
else bad "demo --toy without a toy model: $(cat "$tmp/err")"; fi

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

    # Training: sd1-tiny's size step is 64 pixels, so --resolution 64.
    mkdir -p "$tmp/img" && write_pngs "$tmp/img" 3
    train=("$TINV" train --model "$m" --images "$tmp/img" --token '<t>' --init cat --resolution 64 --threads 1 --seed 3)
    if "${train[@]}" --steps 4 --save-every 2 --out "$tmp/t.safetensors" >"$tmp/out" 2>"$tmp/err" &&
        [ -s "$tmp/t.safetensors" ] && [ -s "$tmp/t.state.safetensors" ] && grep -q 'steps 1-4 of 4' "$tmp/out"
    then ok "train 4 steps writes the embedding and the state"
    else bad "train 4 steps: $(cat "$tmp/out" "$tmp/err")"; fi
    if "${train[@]}" --steps 6 --resume --out "$tmp/t.safetensors" >"$tmp/out" 2>"$tmp/err" &&
        grep -q 'steps 5-6 of 6' "$tmp/out" && grep -q 'resuming at step 4' "$tmp/err"
    then ok "train --resume continues to step 6"
    else bad "train --resume: $(cat "$tmp/out" "$tmp/err")"; fi
    # 4 + resume + 2 steps must equal 6 steps in one go, bit for bit.
    if "${train[@]}" --steps 6 --save-every 2 --out "$tmp/t6.safetensors" >/dev/null 2>"$tmp/err" &&
        cmp -s "$tmp/t.safetensors" "$tmp/t6.safetensors"
    then ok "train 4 + resume 2 equals 6 steps"
    else bad "train 4 + resume 2 differs from 6 steps $(cat "$tmp/err")"; fi
    if "${train[@]}" --steps 2 --validate-every 2 --validation-prompt 'a photo of <t>' --validation-steps 2 \
        --out "$tmp/v.safetensors" >/dev/null 2>"$tmp/err" && is_png "$tmp/v-val-000002.png"
    then ok "train --validate-every writes <out>-val-<step>.png"
    else bad "train --validate-every: $(ls "$tmp") $(cat "$tmp/err")"; fi
    # Ctrl-C: with job control the background job gets SIGINT normally (not ignored); send it
    # once the first checkpoint shows that training is under way.
    set -m
    "${train[@]}" --steps 100000 --save-every 1 --out "$tmp/c.safetensors" >/dev/null 2>"$tmp/cerr" &
    pid=$!
    set +m
    for _ in $(seq 300); do [ -s "$tmp/c.safetensors" ] && break; sleep 0.1; done
    kill -INT "$pid"
    # A shell started in the background ignores SIGINT and its children inherit that (the trainer
    # then keeps it ignored, as it should): give up after 60 s rather than train 100000 steps.
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        echo "Ctrl-C was ignored: is SIGINT ignored in this environment (a background shell)?" >>"$tmp/cerr"
    fi
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 130 ] && grep -q 'cancelled at step [0-9]*; saved' "$tmp/cerr"; then ok "train stops cleanly on Ctrl-C"
    else bad "train Ctrl-C: rc $rc, $(cat "$tmp/cerr")"; fi

    # Embeddings in sample: the trained file under another token name, then bad files.
    if "$TINV" sample --model "$m" --embedding "$tmp/t.safetensors:<u>" --prompt 'a photo of <u>' --steps 2 \
        --width 64 --height 64 --out "$tmp/e.png" 2>"$tmp/err" && is_png "$tmp/e.png" &&
        grep -q 'loaded embedding <u> (1 vector)' "$tmp/err"
    then ok "sample --embedding FILE:TOKEN"
    else bad "sample --embedding FILE:TOKEN: $(cat "$tmp/err")"; fi
    write_embedding "$tmp/wide.safetensors" 768
    if "$TINV" sample --model "$m" --embedding "$tmp/wide.safetensors" --prompt 'a <wide>' --steps 2 --width 64 \
        --height 64 --out "$tmp/w.png" 2>"$tmp/err"; then bad "sample with a 768-wide embedding"
    elif grep -q 'Stable Diffusion 1.x' "$tmp/err" && [ ! -e "$tmp/w.png" ]; then
        ok "sample with a 768-wide embedding names SD 1.x"
    else bad "sample with a 768-wide embedding (message): $(cat "$tmp/err")"; fi
    printf '\x80\x02}q\x00.' >"$tmp/emb.pt"
    if "$TINV" sample --model "$m" --embedding "$tmp/emb.pt" --steps 2 --width 64 --height 64 --out "$tmp/p.png" \
        2>"$tmp/err"; then bad "sample with a .pt embedding"
    elif grep -q 'pickle' "$tmp/err"; then ok "sample refuses a .pt embedding (pickle)"
    else bad "sample with a .pt embedding (message): $(cat "$tmp/err")"; fi
    single="$m/single_file/sd1-tiny.safetensors"
    if "$TINV" sample --model "$single" --steps 2 --width 64 --height 64 --out "$tmp/sf.png" 2>"$tmp/err"; then
        bad "sample with a single file and no --tokenizer"
    elif grep -q -- '--tokenizer' "$tmp/err"; then ok "single file without --tokenizer: the error says --tokenizer"
    else bad "single file without --tokenizer (message): $(cat "$tmp/err")"; fi
    if "$TINV" sample --model "$single" --tokenizer "$m" --prompt 'a cat' --long-prompts --steps 2 --width 64 \
        --height 64 --out "$tmp/sf.png" 2>"$tmp/err" && is_png "$tmp/sf.png"; then
        ok "sample with a single-file checkpoint and --tokenizer"
    else bad "sample with a single file and --tokenizer: $(cat "$tmp/err")"; fi
else
    if [ "${CI:-}" = "true" ]; then bad "fixtures missing at $FIX (required under CI)"
    else echo "skip sample on fixtures: not found at $FIX"; s=$((s + 1)); fi
fi
echo "cli: $p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
