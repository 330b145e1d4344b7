#!/usr/bin/env bash
# End-to-end benchmarks for `ternion convert` and `ternion compile` on large synthetic models,
# each timed against `cp` of the same files in the same script (warm page cache for both).
#
#   bench/e2e/run.sh [WORKDIR] [--quick]
#
# WORKDIR (default /tmp/ternion-e2e) needs about 40 GB free. --quick runs only the small cases.
# Prints Markdown tables; results of a run are kept in bench/README.md by hand.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/ternion-e2e}
quick=${2:-}
runs=3
mkdir -p "$work"
. "$repo/bench/e2e/lib.sh"
build_tools "$work"

# bench NAME MODEL KIND [ARGS...]: cp of the model folder vs ternion KIND, medians over $runs runs
bench() {
  local name=$1 model=$2 kind=$3; shift 3
  local dir; dir=$(dirname "$model")
  local bytes; bytes=$(du -cb "$model" "$model.data" | tail -1 | cut -f1)
  cat "$model" "$model.data" > /dev/null   # warm the page cache for both contenders
  rm -f "$work/cp.txt" "$work/t.txt"
  for _ in $(seq $runs); do
    rm -rf "$work/copy"; mkdir "$work/copy"; sync
    # ternion fsyncs what it writes before renaming it into place; cp's copies are fsynced too, to compare like with like.
    time_cmd "$work/cp.txt" sh -c 'cp "$1" "$2" "$3/" && sync "$3"/*' cp "$model" "$model.data" "$work/copy"
    rm -rf "$work/copy"; mkdir "$work/copy"; sync
    time_cmd "$work/t.txt" "$ternion" "$kind" "$model" -o "$work/copy/out.onnx" "$@"
  done
  rm -rf "$work/copy"
  local cp_s t_s t_rss
  cp_s=$(secs "$work/cp.txt")
  t_s=$(secs "$work/t.txt")
  t_rss=$(peak "$work/t.txt")
  awk -v n="$name" -v b="$bytes" -v c="$cp_s" -v t="$t_s" -v r="$t_rss" \
    'BEGIN { printf "| %s | %.2f GB | %.2f s | %.2f s | %.2fx | %d MB |\n", n, b / 1e9, c, t, t / c, r / 1024 }'
}

machine_line
echo
echo "| case | model bytes | cp (median) | ternion (median) | ratio to cp | peak RSS |"
echo "|---|---|---|---|---|---|"

# Issue 2: convert of ~2 GB of external weights (7 dense layers of the 2B shape, no embedding).
"$gen" "$work/dense7.onnx" --layers 7 --no-embedding --dense >/dev/null
bench "convert, 2B shape, 7 layers dense (~2 GB)" "$work/dense7.onnx" convert --external-data always
rm -f "$work"/dense7.onnx*

if [ "$quick" = "--quick" ]; then exit 0; fi

# Issue 6: compile --target native, scaling from 1/8 to full size, then 1 vs 2 threads at full size.
for layers in 4 8 15 30; do
  "$gen" "$work/bitnet$layers.onnx" --layers $layers >/dev/null
  bench "compile native, $layers layers + embedding" "$work/bitnet$layers.onnx" compile --target native
  if [ $layers = 30 ]; then
    bench "compile native, full, 1 thread" "$work/bitnet$layers.onnx" compile --target native --threads 1
    bench "compile native, full, 2 threads" "$work/bitnet$layers.onnx" compile --target native --threads 2
  fi
  rm -f "$work/bitnet$layers.onnx" "$work/bitnet$layers.onnx.data"
done
