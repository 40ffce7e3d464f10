#!/usr/bin/env bash
# The fuzz targets (test/fuzz/) still build against the sources, and every input of their
# corpora passes: the seeds from the regression tests and the inputs of crashes fixed
# (test/fuzz/corpus/<target>/crash-*), replayed once each under ASan and UBSan. A replay, not
# fuzzing (make fuzz): about a minute, most of it the build. Skipped when clang 14 and its
# runtime are missing (dev/deps --fuzz installs them).
set -u
# make test-asan preloads gcc's ASan runtime into everything (test/asan.sh); the targets carry
# clang's, and the tools below must not run under this script's ASAN_OPTIONS (leak checks)
unset LD_PRELOAD
top=${PUSHPLAN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ] || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "skipped: no clang with libFuzzer (dev/deps --fuzz)"
  exit 0
fi
if ! "$top/test/fuzz/build.sh" > /tmp/fuzz-corpus-build.$$ 2>&1; then
  cat /tmp/fuzz-corpus-build.$$; rm -f /tmp/fuzz-corpus-build.$$
  echo "FAIL: the fuzz targets do not build"; exit 1
fi
rm -f /tmp/fuzz-corpus-build.$$
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
for d in "$top"/test/fuzz/corpus/*/; do
  t=$(basename "$d")
  n=$(ls "$d" | wc -l)
  if out=$("$top/test/fuzz/build/fuzz_$t" -runs=0 "$d" 2>&1); then
    echo "fuzz_$t: $n inputs replayed"
  else
    echo "$out" | grep -E '==ERROR|SUMMARY|fuzz:|runtime error|Running:' | tail -n 20
    echo "FAIL: fuzz_$t: an input of test/fuzz/corpus/$t fails"; rc=1
  fi
done
exit $rc
