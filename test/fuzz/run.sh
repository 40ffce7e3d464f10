#!/usr/bin/env bash
# Builds and runs every fuzz target for a bounded time, one after another (doc/reliability.md,
# "Fuzzing and sanitizers"):
#
#   make fuzz                              FUZZ_SECONDS (default 60) per target
#   FUZZ_RUNS=10000000 test/fuzz/run.sh    a number of executions per target instead
#   test/fuzz/run.sh push audience         some targets only
#
# Each target starts from its seeds (test/fuzz/corpus/<target>, from the regression tests'
# inputs: seeds.py) and what earlier runs found (test/fuzz/build/corpus/<target>, not kept in
# git). A crash, a sanitizer report, an internal error (elog) raised for bad input, or a call
# into a backend function the shim does not provide stops the target with its input in
# test/fuzz/build/crash-<target>-*; the script then fails. One line per target:
#   <target>: <executions> runs in <seconds> s, <status>
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_BUILD_DIR:-$here/build}
"$here/build.sh" "$@" >/dev/null || exit 1
if [ $# -gt 0 ]; then targets=("$@"); else
  targets=(); for f in "$here"/fuzz_*.c; do b=$(basename "$f" .c); [ "$b" = fuzz_common ] || targets+=("${b#fuzz_}"); done
fi
seconds=${FUZZ_SECONDS:-60}
limit=(-max_total_time="$seconds")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS" -max_total_time="${FUZZ_MAX_SECONDS:-86400}")
# AddressSanitizer: leaks matter here (every input's memory context is reset), stop at the first report
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t"
  log=$out/fuzz_$t.log
  start=$(date +%s)
  "$out/fuzz_$t" "${limit[@]}" -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/crash-$t-" "$out/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  status=clean
  if [ $rc -ne 0 ]; then
    status="FAILED (exit $rc; $log)"
    failed=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz:)|runtime error' "$log" | head -5 >&2
  fi
  echo "$t: ${runs:-?} runs in $(( $(date +%s) - start )) s, $status"
done
exit $failed
