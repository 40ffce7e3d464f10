#!/usr/bin/env bash
# Runs test/run (every suite of make test) against the installed extension built with
# UndefinedBehaviorSanitizer (make SANITIZE=1), then reads the sanitizer's reports. Use
# make test-sanitize, which builds, installs and runs this under the install lock.
# doc/reliability.md, "Fuzzing and sanitizers".
#
# Every process inherits UBSAN_OPTIONS: a report stops the process (halt_on_error; the test
# that ran it fails) and is written to a file of its own, $reports/ubsan.<program>.<pid>. A
# report from a server process (postgres: pushplan.so runs nowhere else) fails the run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
reports=${SANITIZE_REPORTS:-$(mktemp -d /tmp/pushplan-sanitize.XXXXXX)}
mkdir -p "$reports"
chmod 1777 "$reports"   # the servers run as postgres
if ! ldd "$(pg_config --pkglibdir)/pushplan.so" | grep -q libubsan; then
  echo "test/sanitize.sh: the installed pushplan.so is not built with SANITIZE=1 (make test-sanitize)" >&2
  exit 1
fi
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan:log_exe_name=1"
"$top/test/run" "$@"
rc=$?
server=0
other=0
for f in "$reports"/*; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in
    ubsan.postgres.*)
      server=$((server + 1))
      echo "---- sanitizer report from a server process: $f ----"; head -n 40 "$f" ;;
    *)
      other=$((other + 1))
      echo "sanitizer report from another program: $f: $(grep -m1 'runtime error' "$f")" ;;
  esac
done
echo "sanitizers: $server report(s) from server processes, $other from other programs (in $reports)"
[ "$server" -eq 0 ] || rc=1
exit $rc
