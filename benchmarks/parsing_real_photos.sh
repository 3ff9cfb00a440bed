#!/usr/bin/env bash
# Parsing before vs after real photos entered training: synthetic test mIoU (200 renders) and agreement
# with the pseudo-labels on a pool's validation photos (a proxy: people never trained on, but labels made
# by Face Mesh + selfie segmentation + the renders teacher), per class; plus the contact sheet.
#   [LABELS=pseudo] bash benchmarks/parsing_real_photos.sh POOL OUT CHECKPOINT...
# LABELS names the pool's label set the validation photos are scored against (default pseudo).
set -euo pipefail
pool=$1; out=$2; shift 2
labels=${LABELS:-pseudo}
mkdir -p "$out"
bin=${BIN:-.venv/bin}
for ckpt in "$@"; do
  name=$(basename "$(dirname "$ckpt")")_$(basename "$ckpt" .safetensors)
  "$bin/portrait-edge" eval --checkpoint "$ckpt" --n 200 --per-class --json "$out/$name.synthetic-test.json" > "$out/$name.synthetic-test.txt" 2>/dev/null
  "$bin/portrait-edge" eval --checkpoint "$ckpt" --reader pool --root "$pool" --reader-option split=val \
      --reader-option labels="$labels" --reader-option task=parsing --per-class \
      --json "$out/$name.pool-val.json" > "$out/$name.pool-val.txt" 2>/dev/null
  echo "$name: synthetic-test $(grep -m1 miou "$out/$name.synthetic-test.txt") | pool-val $(grep -m1 miou "$out/$name.pool-val.txt")"
done
args=(); for ckpt in "$@"; do args+=(--checkpoint "$ckpt"); done
"$bin/python" -m portrait_edge.train.visualize --pool "$pool" --n 8 "${args[@]}" --out "$out" 2>/dev/null
