#!/usr/bin/env bash
# Run each fuzzer (tokenizer encode/load, safetensors reader) for a while on a seed corpus generated here (no fixture copies).
# usage: fuzz/run.sh <dir with the fuzz binaries> [seconds per target]
set -eu
BIN=$1
SECS=${2:-20}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/encode" "$WORK/load" "$WORK/safetensors"
i=0
for s in "a photo of a cat" "abc ab! <x> <|endoftext|>" "&amp;&lt;&#x41;&#59; &NTILDE;" \
         $'caf\xc3\x83\xc2\xa9 \xe2\x80\x9cq\xe2\x80\x9d \xef\xac\x81 \xef\xbc\xa6' $'\xff\xfe bad \xc3' \
         $'tabs\tand\nlines\r\n \xce\xa3\xce\x91\xce\xa3' "!!!???...,,," "<CAT-TOY>_1 don't I'LL"; do
    printf '%s' "$s" > "$WORK/encode/seed$i"; i=$((i + 1))
done
printf '{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}\xff#version\na b\n\xff{"model_max_length": 5, "pad_token": "a"}' \
    > "$WORK/load/seed0"
printf '#version: 0.2\na b\nab c</w>\n' | gzip -c > "$WORK/load/seed1"
printf '{"x</w>": 0}\xff#h\nx y z\n' > "$WORK/load/seed2"
# A minimal valid safetensors file: 8-byte LE header length, JSON header, 8 bytes of data.
hdr='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}'
{ printf "$(printf '\\x%02x' ${#hdr} 0 0 0 0 0 0 0)"; printf '%s' "$hdr"; printf '\x00\x00\x80\x3f\x00\x00\x00\x40'; } \
    > "$WORK/safetensors/seed0"
status=0
for t in fuzz_tokenizer_encode:encode fuzz_tokenizer_load:load fuzz_safetensors:safetensors; do
    bin=${t%%:*} corpus=${t##*:}
    echo "== $bin (${SECS}s)"
    if "$BIN/$bin" -max_total_time="$SECS" -max_len=4096 -print_final_stats=1 "$WORK/$corpus" \
        > "$WORK/$bin.log" 2>&1; then
        grep -E 'stat::number_of_executed_units|Done' "$WORK/$bin.log" | tail -2
        echo "$bin: no crash"
    else
        tail -40 "$WORK/$bin.log"
        echo "$bin: FAILED"
        status=1
    fi
done
rm -rf /tmp/tinv_fuzz_load* 2>/dev/null || true
exit $status
