#!/usr/bin/env bash
# One short run on a GPU machine that has a CUDA PyTorch but no package registry (issues 8, 9):
# build libtinv against that PyTorch's libtorch, run the golden runner on cuda:0, and train toy-world
# models on the GPU while it runs (optional), and compare a seed's picture on CPU and GPU. Results go to $OUT (or ./device-out).
#
#   here:  scripts/device-deps.sh download; copy a fixture set into .fx/ (git-excluded)
#   there: bash scripts/device-check.sh [toy-build-model arguments for each variant, ';'-separated]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-device-out}
mkdir -p "$OUT"
TORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch;print('torch', torch.__version__)"

bash scripts/device-deps.sh unpack > /dev/null || exit 1
MK=(make -j"$(nproc)" TORCH_DIR="$TORCH" DEPS_PREFIX="$PWD/.deps/root")
t0=$(date +%s)
if ! "${MK[@]}" build/golden build/tinv build/toy_build_model > "$OUT/build.log" 2>&1; then
    grep -B2 -A8 "error" "$OUT/build.log" | head -80
    exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s"

# Toy models in the background: one process per variant, each with a few CPU threads.
IFS=';' read -ra variants <<< "${1:-}"
pids=()
for i in "${!variants[@]}"; do
    # shellcheck disable=SC2086
    timeout "${TOY_TIMEOUT:-420}" build/toy_build_model --device cuda --threads 3 --out "toy-$i" ${variants[$i]} \
        > "$OUT/toy-$i.log" 2>&1 &
    pids+=($!)
done

for set in .fx/*/; do
    TINV_GOLDEN_DEVICE=cuda:0 build/golden "$set" > "$OUT/golden-$(basename "$set").log" 2>&1
    echo "golden $(basename "$set") on cuda:0: exit $? ($(grep -c PASS "$OUT/golden-$(basename "$set").log") PASS," \
         "$(grep -c FAIL "$OUT/golden-$(basename "$set").log") FAIL)"
done

# The same seed on CPU and GPU (the initial noise comes from the CPU generator either way).
prompt="a large red circle on a striped blue background"
for d in cpu cuda; do
    build/tinv sample --model toy/model --prompt "$prompt" --steps 25 --cfg 4 --scheduler ddim --seed 3 \
        --width 32 --height 32 --device "$d" --out "$OUT/sample-$d.png" > /dev/null || echo "sample on $d failed"
done
python3 - "$OUT/sample-cpu.png" "$OUT/sample-cuda.png" <<'PY'
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p), dtype=np.int16) for p in sys.argv[1:3])
print("toy model, same seed on cpu and cuda: max |pixel difference| %d of 255, mean %.3f" % (abs(a - b).max(), abs(a - b).mean()))
PY

for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; echo "toy-$i: exit $?; $(tail -1 "$OUT/toy-$i.log")"
    [ -f "toy-$i/model_index.json" ] && tar czf "$OUT/toy-$i.tgz" "toy-$i"
done
