# Helpers the end-to-end benchmark scripts share; sourced, not run.
#   build_tools WORK   publishes the CLI as the README builds it (ReadyToRun) to WORK/bin and the
#                      model generator to WORK/gen; sets $ternion and $gen
#   time_cmd OUT CMD…  runs CMD once, output discarded, and appends "seconds maxrss_kb" to OUT
#                      (on failure prints CMD's stderr and exits)
#   median             median of the numbers on stdin
#   secs|rss|peak OUT  median seconds, median RSS, largest RSS of the runs in OUT
#   machine_line       one line naming the machine, the time and the load average

build_tools() {
  local work=$1
  dotnet publish "$repo/Compiler/Ternion.Compiler.csproj" -c Release -o "$work/bin" -v q >/dev/null
  dotnet build "$repo/bench/Ternion.ModelGen/Ternion.ModelGen.csproj" -c Release -o "$work/gen" -v q >/dev/null
  ternion="$work/bin/ternion"
  gen="$work/gen/ternion-modelgen"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

time_cmd() {
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$out.t" "$@" >/dev/null 2>"$out.err" || { cat "$out.err"; exit 1; }
  tail -1 "$out.t" >> "$out"
}

secs() { cut -d' ' -f1 "$1" | median; }
rss() { cut -d' ' -f2 "$1" | median; }
peak() { cut -d' ' -f2 "$1" | sort -g | tail -1; }

machine_line() {
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(date -u '+%F %H:%M') UTC; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
