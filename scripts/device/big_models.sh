#!/usr/bin/env bash
# On the GPU machine (16 cores, 64 GiB disk): make the 1b and 8b test models with the bundled
# `realizar make-model` and read each back with `realizar info`, which checks shapes and types.
#
#   bash scripts/device/big_models.sh      # needs target/device (cargo xtask device-bundle)
#
# Writes $OUT/big-models.log (timings, sizes, the head and totals of each `info`).
set -u -o pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:-$repo/target/device/out}
mkdir -p "$out"
work=$(mktemp -d /tmp/realizar-big.XXXXXX)
tar -xzf "$repo/target/device/realizar-device.tar.gz" -C "$work" --no-same-owner || exit 1
realizar="$work/bin/realizar"
models=${MODELS_DIR:-/tmp/realizar-models}
mkdir -p "$models"
log="$out/big-models.log"
: >"$log"
failed=0

make_and_check() { # arch preset dtype format path
  local start rc
  start=$SECONDS
  (cd "$repo" && "$realizar" make-model --arch "$1" --preset "$2" --dtype "$3" --format "$4" \
      --out "$5" --seed 1 --vocab-dir "$repo/fixtures/vocab") >>"$log" 2>&1
  rc=$?
  printf '== make-model %s %s %s %s: exit %d, %d s, %s\n' "$1" "$2" "$3" "$4" "$rc" \
    "$((SECONDS - start))" "$(du -sh "$5" 2>/dev/null | cut -f1)" | tee -a "$log"
  [ "$rc" -eq 0 ] || { failed=1; return; }
  "$realizar" info "$5" >"$work/info.txt" 2>&1
  rc=$?
  echo "== info $5: exit $rc" | tee -a "$log"
  head -40 "$work/info.txt" >>"$log"
  echo "   …" >>"$log"
  tail -25 "$work/info.txt" >>"$log"
  [ "$rc" -eq 0 ] || failed=1
}

make_and_check llama 8b q4_k_m gguf "$models/llama-8b-q4_k_m.gguf"
make_and_check llama 8b bf16 safetensors "$models/llama-8b-bf16"
rm -rf "$models/llama-8b-bf16"
make_and_check llama 1b f16 safetensors "$models/llama-1b-f16"
make_and_check qwen2 1b q4_k_m gguf "$models/qwen2-1b-q4_k_m.gguf"
rm -rf "$work"
exit "$failed"
