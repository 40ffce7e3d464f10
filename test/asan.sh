#!/usr/bin/env bash
# Runs test/run (every suite of make test) with AddressSanitizer in every server process,
# against the installed extension built with it (make ASAN=1), then reads the reports. Use
# make test-asan, which builds, installs and runs this under the install lock.
# doc/reliability.md, "AddressSanitizer over the server".
#
# Debian's PostgreSQL binaries are not built with ASan, so its runtime is preloaded
# (LD_PRELOAD) into every process the suites start, followed by test/asan/preload.c (without
# it the runtime hangs those binaries at start; the file says why; it also counts the server
# processes). pushplan.so is
# instrumented; the server, libcurl and OpenSSL are not, but their malloc, free, memcpy,
# strlen and the like go through the runtime, which checks them. A report stops the process
# (a backend or worker exits; the test that ran it fails) and is written to a file of its own,
# $reports/asan.<program>.<pid>. A report from a server process (postgres: pushplan.so runs
# nowhere else) fails the run; reports from other programs are listed.
#
# ASAN_OPTIONS: no leak checking (a backend leaves its memory contexts to exit(); the postmaster's
# children would each report them), a smaller quarantine (16 MB a process, not 256: a few
# hundred server processes run at once on a shared machine), and the rest defaults.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
reports=${ASAN_REPORTS:-$(mktemp -d /tmp/pushplan-asan.XXXXXX)}
mkdir -p "$reports"
chmod 1777 "$reports"   # the servers run as postgres
runtime=$(gcc -print-file-name=libasan.so)
if ! ldd "$(pg_config --pkglibdir)/pushplan.so" | grep -q libasan; then
  echo "test/asan.sh: the installed pushplan.so is not built with ASAN=1 (make test-asan)" >&2
  exit 1
fi
if [ ! -e "$runtime" ]; then
  echo "test/asan.sh: gcc's AddressSanitizer runtime is missing (dev/deps)" >&2
  exit 1
fi
runtime=$(readlink -f "$runtime")
shim="$reports/preload.so"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$shim" "$top/test/asan/preload.c" || exit 1
chmod 755 "$shim"
export PUSHPLAN_ASAN_PROCESSES="$reports/server-processes"
: > "$PUSHPLAN_ASAN_PROCESSES"
chmod 666 "$PUSHPLAN_ASAN_PROCESSES"
export LD_PRELOAD="$runtime:$shim"
# the crash tests' 100,000-device broadcasts take longer than make test's 600 s a suite here
export PUSHPLAN_SUITE_TIMEOUT=${PUSHPLAN_SUITE_TIMEOUT:-1500}
export ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=16:log_path=$reports/asan:log_exe_name=1"
start=$(date +%s)
"$top/test/run" "$@"
rc=$?
unset LD_PRELOAD
server=0
other=0
for f in "$reports"/asan.*; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in
    asan.postgres.*)
      server=$((server + 1))
      echo "---- AddressSanitizer report from a server process: $f ----"; head -n 60 "$f" ;;
    *)
      other=$((other + 1))
      echo "AddressSanitizer report from another program: $f: $(grep -m1 'ERROR: AddressSanitizer' "$f")" ;;
  esac
done
echo "AddressSanitizer: $(wc -l < "$PUSHPLAN_ASAN_PROCESSES") server processes ran with it;" \
     "$server report(s) from server processes, $other from other programs" \
     "(in $reports; $(( $(date +%s) - start )) s)"
[ "$server" -eq 0 ] || rc=1
exit $rc
