#!/usr/bin/env bash
# Builds examples/*.c against $BUILD/libtinv.so (`make examples`) and runs them, so they cannot rot:
# on the demo model (written by tinv_demo_model_write, always available) and on the sd1-tiny fixture
# (TINV_FIXTURES; skipped when missing, a failure under CI=true), with training pictures made by
# python3's standard library. Also runs examples/evaluate.py on $TINV_PYTHON (default
# /usr/bin/python3) against $BUILD/libtinv.so.0. Prints "examples: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
FIX=${TINV_FIXTURES:-../shared/fixtures}
EX="$BUILD/examples"
p=0 f=0 s=0
ok() { echo "ok   $1"; p=$((p + 1)); }
bad() { echo "FAIL $1"; f=$((f + 1)); }
skip() { echo "skip $1"; s=$((s + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
summary() { echo "examples: $p passed, $f failed, $s skipped"; [ "$f" -eq 0 ]; exit; }

is_png() { [ -f "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
png_color_type() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; } # IHDR: 2 = RGB, 6 = RGBA

# A sanitized library (make asan) needs sanitized programs: the runtime must come first.
san=() sanflags=()
if [ "$(basename "$BUILD")" = build-asan ] ||
    readelf -d "$BUILD/libtinv.so.0" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    san=(SANITIZE=1) sanflags=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

# ---- build ------------------------------------------------------------------------------------
if ${MAKE:-make} -s BUILD="$BUILD" "${san[@]}" examples >"$tmp/build.log" 2>&1 &&
    [ -x "$EX/train_and_sample" ] && [ -x "$EX/engine_texture" ]; then
    if grep -q 'examples/.*warning' "$tmp/build.log"; then bad "examples build without warnings"; cat "$tmp/build.log"
    else ok "make examples"; fi
else
    cat "$tmp/build.log"; bad "make examples"; summary
fi

# ---- inputs: the demo model and three small pictures ---------------------------------------------
cat >"$tmp/write_demo.c" <<'C'
#include <stdio.h>
#include <tinv.h>
int main(int argc, char **argv)
{
    if (argc != 2 || tinv_demo_model_write(argv[1], 7) != TINV_OK) {
        fprintf(stderr, "write_demo: %s\n", tinv_last_error());
        return 1;
    }
    return 0;
}
C
libdir=$(cd "$BUILD" && pwd)
model="$tmp/demo-model"
if ${CC:-cc} -std=c11 "${sanflags[@]}" -Iinclude -o "$tmp/write_demo" "$tmp/write_demo.c" -L"$libdir" \
        -Wl,-rpath,"$libdir" -ltinv && "$tmp/write_demo" "$model"; then ok "demo model written"
else bad "demo model written"; summary; fi

mkdir -p "$tmp/pictures" "$tmp/no-pictures"
python3 - "$tmp/pictures" <<'PY'
import struct, sys, zlib

def write_png(path, width, height, pixel):
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

# Three pictures of a "toy": a coloured disc on a plain background, in different sizes and places.
for i, (w, h) in enumerate([(80, 72), (64, 64), (96, 80)]):
    cx, cy, r = w // 2 + 6 * i - 6, h // 2, min(w, h) // 3
    write_png(f"{sys.argv[1]}/toy{i}.png", w, h,
              lambda x, y: (220, 60 + 40 * i, 40) if (x - cx) ** 2 + (y - cy) ** 2 < r * r else (30, 90, 200))
PY
echo "not a picture" >"$tmp/pictures/notes.md" # skipped with a warning through the log callback (.txt would be a caption)

# ---- train_and_sample -------------------------------------------------------------------------
if "$EX/train_and_sample" >/dev/null 2>"$tmp/err"; then bad "train_and_sample without arguments"
elif grep -q usage "$tmp/err"; then ok "train_and_sample without arguments prints its usage"
else bad "train_and_sample without arguments (usage)"; fi

out="$tmp/trained"
if "$EX/train_and_sample" "$model" "$tmp/pictures" "$out" 3 64 >"$tmp/log" 2>"$tmp/err"; then
    ok "train_and_sample: demo model, 3 steps at 64x64"
else bad "train_and_sample: demo model ($(cat "$tmp/err"))"; fi
if grep -q '^step 3/3  loss [0-9]' "$tmp/log"; then ok "train_and_sample prints step and loss"
else bad "train_and_sample prints step and loss"; cat "$tmp/log"; fi
if grep -q "warning: .*notes.md" "$tmp/err"; then ok "train_and_sample shows the library's warnings"
else bad "train_and_sample shows the library's warnings"; fi
if [ -s "$out/learned_embeds.safetensors" ]; then ok "embedding saved"; else bad "embedding saved"; fi
if is_png "$out/sample.png" && [ "$(png_color_type "$out/sample.png")" = 2 ]; then ok "sample written as an RGB PNG"
else bad "sample written as an RGB PNG"; fi

if "$EX/train_and_sample" "$model" "$tmp/no-pictures" "$tmp/failed" 3 64 >/dev/null 2>"$tmp/err"; then
    bad "train_and_sample without pictures"
elif grep -q 'failed (invalid argument): .*no-pictures' "$tmp/err" &&
    [ ! -e "$tmp/failed/learned_embeds.safetensors" ]; then ok "train_and_sample without pictures fails with the message"
else bad "train_and_sample without pictures (message: $(cat "$tmp/err"))"; fi

# ---- engine_texture ---------------------------------------------------------------------------
tex="$tmp/texture.png"
if "$EX/engine_texture" "$model" --embedding "$out/learned_embeds.safetensors" --size 64 --steps 3 \
        --out "$tex" >"$tmp/log" 2>"$tmp/err"; then ok "engine_texture with the trained embedding"
else bad "engine_texture with the trained embedding ($(cat "$tmp/err"))"; fi
if grep -q 'loading the model' "$tmp/log" && grep -q 'texture ready, 64x64 RGBA, checksum [0-9a-f]\{16\}' "$tmp/log"
then ok "engine_texture keeps its frame loop running and reports the texture"
else bad "engine_texture output"; cat "$tmp/log"; fi
if is_png "$tex" && [ "$(png_color_type "$tex")" = 6 ]; then ok "texture uploaded as an RGBA PNG"
else bad "texture uploaded as an RGBA PNG"; fi

# Same request, same texture: the checksum is a function of model, prompt, seed and size.
sum1=$(grep -o 'checksum [0-9a-f]*' "$tmp/log")
"$EX/engine_texture" "$model" --embedding "$out/learned_embeds.safetensors" --size 64 --steps 3 \
    --out "$tmp/texture2.png" >"$tmp/log2" 2>&1
sum2=$(grep -o 'checksum [0-9a-f]*' "$tmp/log2")
if [ -n "$sum1" ] && [ "$sum1" = "$sum2" ]; then ok "engine_texture is reproducible"
else bad "engine_texture is reproducible ($sum1 vs $sum2)"; fi

# Cancelled from the frame loop: many steps, cancel at frame 3 (long before the run could end).
if "$EX/engine_texture" "$model" --size 64 --steps 200 --cancel-after-frames 3 --out "$tmp/cancelled.png" \
        >"$tmp/log" 2>"$tmp/err" && grep -q 'frame 3: cancel requested' "$tmp/log" &&
    grep -q 'TINV_ERR_CANCELLED' "$tmp/log" && grep -q 'texture memory freed' "$tmp/log" &&
    [ ! -e "$tmp/cancelled.png" ]; then ok "engine_texture --cancel-after-frames 3 reports TINV_ERR_CANCELLED"
else bad "engine_texture --cancel-after-frames"; cat "$tmp/log" "$tmp/err"; fi

if "$EX/engine_texture" "$tmp/no-such-model" --size 64 --steps 3 --out "$tmp/x.png" >/dev/null 2>"$tmp/err"; then
    bad "engine_texture with a missing model"
elif grep -q 'texture job failed' "$tmp/err" && grep -q 'no-such-model' "$tmp/err"; then
    ok "engine_texture with a missing model fails with the worker's message"
else bad "engine_texture with a missing model (message: $(cat "$tmp/err"))"; fi

# ---- evaluate.py (Python, through the tinv package) ----------------------------------------------
# Runs on $PY (Debian's /usr/bin/python3 by default) with PYTHONPATH=python and TINV_LIBRARY set to
# $BUILD/libtinv.so.0, as tests/test_python.sh does; skipped for a sanitized library (it cannot be
# loaded into an uninstrumented python).
PY=${TINV_PYTHON:-/usr/bin/python3}
pylib="$libdir/libtinv.so.0"
png_size() { # IHDR width and height, read with python's standard library -> "WxH"
    "$PY" -c 'import struct, sys
d = open(sys.argv[1], "rb").read(24)
print("%dx%d" % struct.unpack(">II", d[16:24]) if d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR" else "not-a-png")' "$1"
}
if [ "${#san[@]}" -gt 0 ]; then skip "evaluate.py: $pylib is sanitized (cannot be loaded into python)"
elif [ ! -x "$PY" ]; then skip "evaluate.py: no $PY"
else
    pyrun() { PYTHONPATH="$PWD/python" TINV_LIBRARY="$pylib" PYTHONDONTWRITEBYTECODE=1 "$PY" "$@"; }
    ev="$tmp/evaluate"
    # The demo model written through the package, and a second learned token made through the API
    # (added from the word "art" and saved), for the two-concept grid.
    if pyrun -c 'import sys, tinv
tinv.write_demo_model(sys.argv[1])
with tinv.Model(sys.argv[1]) as m:
    m.add_token("<style>", init_word="art")
    m.save_embedding("<style>", sys.argv[2])' "$tmp/py-demo" "$tmp/style.safetensors" 2>"$tmp/err"; then
        ok "evaluate.py inputs: demo model and a second embedding written through the tinv package"
    else bad "evaluate.py inputs ($(cat "$tmp/err"))"; fi

    # Train <toy> for 5 steps at 64x64, load <style>, sample 64x64 pictures (2 steps, seeds 0 and 1).
    if pyrun examples/evaluate.py --model "$tmp/py-demo" --train "$tmp/pictures" --token '<toy>' --init toy \
            --train-steps 5 --resolution 64 --embedding "$tmp/style.safetensors:<style>" \
            --size 64 --steps 2 --seeds 2 --out "$ev" >"$tmp/log" 2>"$tmp/err"; then
        ok "evaluate.py: trains <toy> (5 steps at 64x64), adds <style>, samples both grids"
    else bad "evaluate.py run ($(tail -n 5 "$tmp/err"))"; fi
    # Grid width: 2 columns of 64 px + 3 gaps of 4 px = 140. Height: a 4 px margin, the title
    # (10 px lines), 4 px, the "seed N" header (10 px) and 2 px, then per prompt its label lines,
    # 64 px of pictures and 4 px. Wrapped at 22 characters, the concept grid has a 2-line title and
    # labels of 2+2+1+2 lines: 4+20+4+10+2 + 70 + 4*68 = 382; the composition grid a 4-line title
    # and labels of 2+2 lines: 4+40+4+10+2 + 40 + 2*68 = 236.
    size1=$(png_size "$ev/concept_grid.png" 2>/dev/null) size2=$(png_size "$ev/composition_grid.png" 2>/dev/null)
    if [ "$size1" = 140x382 ] && [ "$size2" = 140x236 ]; then ok "evaluate.py grids are 140x382 and 140x236 PNGs"
    else bad "evaluate.py grid sizes (concept ${size1:-missing}, composition ${size2:-missing})"; fi
    if grep -q "^wrote .*/learned_embeds.safetensors (<toy>)" "$tmp/log" &&
        grep -q "^wrote .*/concept_grid.png (140x382: 4 prompts x 2 seeds)" "$tmp/log" &&
        grep -q "^wrote .*/composition_grid.png (140x236: 2 prompts x 2 seeds)" "$tmp/log" &&
        [ -s "$ev/learned_embeds.safetensors" ]; then ok "evaluate.py prints what it wrote"
    else bad "evaluate.py prints what it wrote"; cat "$tmp/log"; fi

    if pyrun examples/evaluate.py --model "$tmp/no-such-model" --embedding "$tmp/style.safetensors" \
            --out "$tmp/ev-failed" >/dev/null 2>"$tmp/err"; then bad "evaluate.py with a missing model"
    elif grep -q '^evaluate.py: error: .*no-such-model' "$tmp/err"; then
        ok "evaluate.py with a missing model exits non-zero with the library's message"
    else bad "evaluate.py with a missing model (message: $(cat "$tmp/err"))"; fi

    # Ctrl-C: SIGINT after 5 s of a run that would sample for minutes (999 steps per picture).
    timeout --preserve-status -s INT 5 env PYTHONPATH="$PWD/python" TINV_LIBRARY="$pylib" \
        PYTHONDONTWRITEBYTECODE=1 "$PY" examples/evaluate.py --model "$tmp/py-demo" \
        --embedding "$tmp/style.safetensors" --size 64 --steps 999 --seeds 1 --out "$tmp/ev-int" \
        >/dev/null 2>"$tmp/err"
    rc=$?
    if [ "$rc" = 130 ] && grep -q '^evaluate.py: interrupted' "$tmp/err" && [ ! -e "$tmp/ev-int/concept_grid.png" ]
    then ok "evaluate.py stops on Ctrl-C (exit 130, no grid)"
    else bad "evaluate.py on Ctrl-C (exit $rc: $(tail -n 3 "$tmp/err"))"; fi
fi

# ---- the sd1-tiny fixture (a diffusers-made model) ---------------------------------------------
if [ -d "$FIX/sd1-tiny" ]; then
    if "$EX/train_and_sample" "$FIX/sd1-tiny" "$tmp/pictures" "$tmp/fixture" 3 64 >"$tmp/log" 2>"$tmp/err" &&
        [ -s "$tmp/fixture/learned_embeds.safetensors" ] && is_png "$tmp/fixture/sample.png"; then
        ok "train_and_sample: sd1-tiny, 3 steps at 64x64"
    else bad "train_and_sample: sd1-tiny ($(cat "$tmp/err"))"; fi
elif [ "${CI:-}" = "true" ]; then bad "fixtures missing at $FIX (required under CI)"
else skip "train_and_sample on sd1-tiny: fixtures not found at $FIX"; fi

summary
