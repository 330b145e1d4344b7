#!/usr/bin/env bash
# Inline weights vs external data (issue 13), and convert vs Python's onnx, in one script run:
#
#   bench/e2e/inline.sh [WORKDIR] [RUNS]
#
# 1. Twins of a 1.27 GB BitNet-2B-shaped model (4 layers, vocabulary 8,000), the same tensors once
#    in OUT.onnx.data and once as raw_data inside the .onnx: `inspect`, `compile --target native`
#    and `convert`, runs of the two interleaved, medians of RUNS (default 5) and the peak RSS.
# 2. `ternion convert` of a ~94 MB inline model (6 layers, hidden 384, FFN 1536, vocabulary
#    12,000: the size of a MiniLM-L6 encoder) vs Debian's python3-onnx (C++ protobuf):
#    `python3 -c "import onnx; onnx.save(onnx.load(A), B)"`, whole processes, interleaved. ternion is
#    published as the README builds it (ReadyToRun: compiled ahead of time); the same convert from a
#    plain `dotnet build` (compiled just in time) and `ternion --help` show what start-up costs.
#
# WORKDIR (default /tmp/ternion-inline) needs about 6 GB free. Needs /usr/bin/time and, for part 2,
# Debian's python3-onnx (apt-get install python3-onnx; the script calls /usr/bin/python3). The page
# cache is warm for every contender (each input is read once before its runs). Prints Markdown.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/ternion-inline}
runs=${2:-5}
python=/usr/bin/python3
mkdir -p "$work"
. "$repo/bench/e2e/lib.sh"
build_tools "$work"
# The same code built without ReadyToRun (compiled just in time), for part 2: what start-up costs.
dotnet build "$repo/Compiler/Ternion.Compiler.csproj" -c Release -o "$work/jit" -v q >/dev/null
ternion_jit="$work/jit/ternion"
load() { cut -d' ' -f1-3 /proc/loadavg; }

machine_line
echo

# --- 1. external vs inline twins -------------------------------------------------------------
shape=(--layers 4 --vocab 8000)
rm -rf "$work/ext" "$work/inl" "$work/out"; mkdir -p "$work/ext" "$work/inl" "$work/out"
"$gen" "$work/ext/model.onnx" "${shape[@]}" >/dev/null
"$gen" "$work/inl/model.onnx" "${shape[@]}" --inline >/dev/null
ext_bytes=$(du -cb "$work/ext/model.onnx" "$work/ext/model.onnx.data" | tail -1 | cut -f1)
inl_bytes=$(stat -c %s "$work/inl/model.onnx")
# The twins must hold the same tensors: the inline one moved to external data gives the same data file.
"$ternion" convert "$work/inl/model.onnx" -o "$work/out/check.onnx" --external-data always >/dev/null 2>&1
cmp -s "$work/out/check.onnx.data" "$work/ext/model.onnx.data" || { echo "the twins differ"; exit 1; }
rm -f "$work/out/check.onnx" "$work/out/check.onnx.data"
cat "$work/ext/model.onnx" "$work/ext/model.onnx.data" "$work/inl/model.onnx" > /dev/null

echo "Twins: external $(awk -v b="$ext_bytes" 'BEGIN{printf "%.2f GB", b/1e9}') (model + data), inline $(awk -v b="$inl_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'); $runs runs each, interleaved, medians; RSS median (peak)"
echo
echo "| command | external: time | external: RSS | inline: time | inline: RSS | inline / external time | inline / external RSS |"
echo "|---|---|---|---|---|---|---|"
twin() {
  local name=$1; shift
  rm -f "$work/e.txt" "$work/i.txt"
  for _ in $(seq "$runs"); do
    for form in ext inl; do
      rm -rf "$work/out"; mkdir -p "$work/out"
      local args=()
      for a in "$@"; do args+=("${a//MODEL/$work/$form/model.onnx}"); done
      if [ $form = ext ]; then time_cmd "$work/e.txt" "$ternion" "${args[@]}"; else time_cmd "$work/i.txt" "$ternion" "${args[@]}"; fi
    done
  done
  awk -v n="$name" -v et="$(secs "$work/e.txt")" -v er="$(rss "$work/e.txt")" -v ep="$(peak "$work/e.txt")" \
      -v it="$(secs "$work/i.txt")" -v ir="$(rss "$work/i.txt")" -v ip="$(peak "$work/i.txt")" \
    'BEGIN { printf "| %s | %.2f s | %d (%d) MB | %.2f s | %d (%d) MB | %.2fx | %.2fx |\n", n, et, er/1024, ep/1024, it, ir/1024, ip/1024, it/et, ir/er }'
}
twin "inspect" inspect MODEL
twin "compile --target native" compile MODEL -o "$work/out/native.onnx" --target native
twin "convert" convert MODEL -o "$work/out/converted.onnx"
rm -rf "$work/out"
echo
echo "Load average after part 1: $(load)"
echo

# --- 2. convert of a ~90 MB inline model vs Python's onnx -----------------------------------
if ! "$python" -c "import onnx" 2>/dev/null; then
  echo "Part 2 skipped: Debian's python3-onnx is not installed (apt-get install python3-onnx)."
  exit 0
fi
small=(--layers 6 --hidden 384 --ffn 1536 --heads 12 --kv-heads 12 --vocab 12000 --dense --inline)
rm -rf "$work/small"; mkdir -p "$work/small"
"$gen" "$work/small/model.onnx" "${small[@]}" >/dev/null
small_bytes=$(stat -c %s "$work/small/model.onnx")
cat "$work/small/model.onnx" > /dev/null
rm -f "$work/t.txt" "$work/r.txt" "$work/h.txt" "$work/p.txt"
for _ in $(seq "$runs"); do
  rm -f "$work/small/t.onnx" "$work/small/r.onnx" "$work/small/p.onnx"
  time_cmd "$work/t.txt" "$ternion" convert "$work/small/model.onnx" -o "$work/small/t.onnx"
  time_cmd "$work/p.txt" "$python" -c "import onnx, sys; onnx.save(onnx.load(sys.argv[1]), sys.argv[2])" "$work/small/model.onnx" "$work/small/p.onnx"
  time_cmd "$work/r.txt" "$ternion_jit" convert "$work/small/model.onnx" -o "$work/small/r.onnx"
  time_cmd "$work/h.txt" "$ternion" --help
done
# Both wrote the same model (Ternion's output is byte-identical to its input; check Python's too).
cmp -s "$work/small/model.onnx" "$work/small/t.onnx" && t_same=identical || t_same=different
cmp -s "$work/small/model.onnx" "$work/small/p.onnx" && p_same=identical || p_same=different
echo "Inline model of $(awk -v b="$small_bytes" 'BEGIN{printf "%.1f MB", b/1e6}'), whole processes, $runs runs each, interleaved, medians; RSS median (peak)"
echo
echo "| command | time | RSS | output vs input |"
echo "|---|---|---|---|"
awk -v t="$(secs "$work/t.txt")" -v r="$(rss "$work/t.txt")" -v p="$(peak "$work/t.txt")" -v s="$t_same" \
  'BEGIN { printf "| `ternion convert` | %.2f s | %d (%d) MB | %s |\n", t, r/1024, p/1024, s }'
awk -v t="$(secs "$work/p.txt")" -v r="$(rss "$work/p.txt")" -v p="$(peak "$work/p.txt")" -v s="$p_same" \
  'BEGIN { printf "| `python3 -c \"import onnx; onnx.save(onnx.load(A), B)\"` | %.2f s | %d (%d) MB | %s |\n", t, r/1024, p/1024, s }'
cmp -s "$work/small/model.onnx" "$work/small/r.onnx" && r_same=identical || r_same=different
awk -v t="$(secs "$work/r.txt")" -v r="$(rss "$work/r.txt")" -v p="$(peak "$work/r.txt")" -v s="$r_same" \
  'BEGIN { printf "| `ternion convert`, built without ReadyToRun (JIT) | %.2f s | %d (%d) MB | %s |\n", t, r/1024, p/1024, s }'
awk -v t="$(secs "$work/h.txt")" -v r="$(rss "$work/h.txt")" -v p="$(peak "$work/h.txt")" \
  'BEGIN { printf "| `ternion --help` (start-up alone) | %.2f s | %d (%d) MB | - |\n", t, r/1024, p/1024 }'
awk -v t="$(secs "$work/t.txt")" -v r="$(secs "$work/r.txt")" -v p="$(secs "$work/p.txt")" -v tr="$(rss "$work/t.txt")" -v pr="$(rss "$work/p.txt")" \
  'BEGIN { printf "\nternion / python: time %.2fx (JIT build %.2fx), RSS %.2fx\n", t/p, r/p, tr/pr }'
rm -rf "$work/small"
echo
echo "Load average at the end: $(load)"
