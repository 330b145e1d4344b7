#!/usr/bin/env bash
# `ternion compile --target native` of BitNet-2B-shaped models whose ternary weights are stored the
# ways exporters write them (issue 12), each timed against `cp` + `sync` of the same files in the
# same script (warm page cache for both), with ternion's peak RSS:
#   online  bfloat16 master weights in external data, quantized in the graph (BitNet's weight_quant)
#   packed  HF BitNet uint8 [N/4, K], unpacked in the graph
#   nbits   com.microsoft::MatMulNBits, 4 bits, block 32 (the GenAI builder's default)
#   float   float32 trit * scale, the plain form, for reference
#
#   bench/e2e/forms.sh [WORKDIR] [--layers N] [--forms "online packed nbits float"] [--runs R]
#
# WORKDIR (default /tmp/ternion-forms) needs about 20 GB free. Prints a Markdown table; results are
# kept in bench/README.md by hand.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=/tmp/ternion-forms
layers=30
forms="online packed nbits float"
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers=$2; shift 2 ;;
    --forms) forms=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) work=$1; shift ;;
  esac
done
mkdir -p "$work"
. "$repo/bench/e2e/lib.sh"
build_tools "$work"

machine_line
echo
echo "| form ($layers layers + embedding) | model bytes | packed weights | cp + sync (median) | compile native (median) | ratio to cp | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for form in $forms; do
  model="$work/$form.onnx"
  "$gen" "$model" --layers "$layers" --form "$form" >/dev/null
  bytes=$(du -cb "$model" "$model.data" | tail -1 | cut -f1)
  cat "$model" "$model.data" > /dev/null   # warm the page cache for both contenders
  rm -f "$work/cp.txt" "$work/t.txt"
  for _ in $(seq "$runs"); do
    rm -rf "$work/copy"; mkdir "$work/copy"; sync
    time_cmd "$work/cp.txt" sh -c 'cp "$1" "$2" "$3/" && sync "$3"/*' cp "$model" "$model.data" "$work/copy"
    rm -rf "$work/copy"; mkdir "$work/copy"; sync
    time_cmd "$work/t.txt" "$ternion" compile "$model" -o "$work/copy/out.onnx" --target native --report "$work/report.json"
  done
  packed=$(grep -c '"sourceOps"' "$work/report.json" || true)   # one per packed weight
  rm -rf "$work/copy"
  cp_s=$(cut -d' ' -f1 "$work/cp.txt" | median)
  t_s=$(cut -d' ' -f1 "$work/t.txt" | median)
  t_rss=$(cut -d' ' -f2 "$work/t.txt" | sort -g | tail -1)
  awk -v f="$form" -v b="$bytes" -v p="$packed" -v c="$cp_s" -v t="$t_s" -v r="$t_rss" \
    'BEGIN { printf "| %s | %.2f GB | %d | %.2f s | %.2f s | %.2fx | %d MB |\n", f, b / 1e9, p, c, t, t / c, r / 1024 }'
  rm -f "$model" "$model.data"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
