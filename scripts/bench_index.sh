#!/usr/bin/env bash
# Benchmark (not a test): `artlens index` throughput against `artlens embed`
# on the same images with both backbones, side by side. `index` decodes each
# image once for both models on its own thread pool while the model computes
# the previous batch; the aim is to stay within 10% of `embed`.
#
# Usage: scripts/bench_index.sh [WEIGHTS_DIR] [N_IMAGES] [BATCH]
#   WEIGHTS_DIR holds dino/ and dinov2/ checkpoint folders (default
#   target/bench-weights, made by `tests/fixtures/make_fixtures.py --full`);
#   N_IMAGES are taken from data/collection (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${1:-target/bench-weights}
n=${2:-16}
batch=${3:-8}
bin=target/release/artlens
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images"
find data/collection -type f \( -name '*.png' -o -name '*.jpg' \) | sort | head -n "$n" | while read -r f; do
  cp "$f" "$work/images/$(echo "$f" | tr '/' '_')"
done
files=("$work"/images/*)

now() { date +%s.%N; }
t0=$(now)
"$bin" -q embed --model dino --weights "$weights/dino" --batch-size "$batch" "${files[@]}" >/dev/null
"$bin" -q embed --model dinov2 --weights "$weights/dinov2" --batch-size "$batch" "${files[@]}" >/dev/null
t1=$(now)
"$bin" -q index "$work/images" --store "$work/store" --batch-size "$batch" \
  --dino-weights "$weights/dino" --dinov2-weights "$weights/dinov2" >/dev/null
t2=$(now)
python3 - "$n" "$t0" "$t1" "$t2" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
embed, index = n / (t1 - t0), n / (t2 - t1)
print(f"images: {n} (both backbones)")
print(f"embed (dino then dinov2): {embed:.3f} images/s ({t1 - t0:.1f} s)")
print(f"index (both, one decode): {index:.3f} images/s ({t2 - t1:.1f} s)")
print(f"ratio index/embed: {index / embed:.3f}")
PY
