#!/usr/bin/env bash
# The pg_regress suites (test/sql) against the coordinator of the distributed layout, compared
# with the single node's expected outputs (test/expected). The harness's three nodes get the
# suites' database, contrib_regression, with Citus, pushplan and push_distribute() before the
# first suite; pg_regress --use-existing then runs them there in order, as make test does on
# one node. A suite passes when its output is the expected one once Citus' own notices about
# objects it does not propagate (regress_filter.awk) are dropped, and once the suite's
# reviewed differences (test/citus/regress_diffs/SUITE.diff, a patch of the expected output:
# what the layout does otherwise, by design) are applied.
# The suites of the list below do not run here, each for the reason given (doc/scale-out.md,
# "The pg_regress suites on the layout"); a suite that starts passing leaves the list.
# Suites named as arguments run alone (skipped or not): test/citus/regress.sh fallback
# (REGRESS_PORT moves the harness off its port, 56720, to run beside make test)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
here=$top/test/citus

declare -A skip=(
  [distribute]="push_distribute itself on one node without Citus (93100) and turning one into the layout: test/citus/registry.sh runs it on the layout"
  [engagement]="calls the senders' gate (_engagement_gate) itself, through the coordinator: on the layout the gate runs in the worker nodes' senders, a copy per shard group (test/citus/sending.sh tests it there)"
)

# the regression instance's settings (test/pushplan.conf) on every node
citus_start "${REGRESS_PORT:-56720}" "max_worker_processes = 32" "timezone = 'UTC'"
db=contrib_regression
for node in coord worker1 worker2; do
  $node -c "CREATE DATABASE $db" >/dev/null 2>&1 || { echo "CREATE DATABASE on $node failed"; exit 1; }
done
# (each statement its own transaction: the extension is created on the workers once they are nodes)
on_db() { local dir=$1 port=$2; shift 2; command psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d $db -At "$@"; }
for i in 1 2; do
  on_db "$work/node$i" $((coord_port + i)) -c "CREATE EXTENSION citus" || exit 1
done
out=$(on_db "$coord_dir" "$coord_port" -c "CREATE EXTENSION citus" \
  -c "SELECT citus_set_coordinator_host('127.0.0.1', $coord_port)" \
  -c "SELECT citus_add_node('127.0.0.1', $((coord_port + 1)))" \
  -c "SELECT citus_add_node('127.0.0.1', $((coord_port + 2)))" \
  -c "CREATE EXTENSION pushplan" -c "SELECT pushplan.push_distribute()" 2>&1) \
  || { echo "the distributed database: $out"; exit 1; }

in=$work/regress-in
mkdir -p "$in" "$work/regress"
cp -r "$top/test/sql" "$top/test/expected" "$in/"
tests=()
for f in "$top"/test/sql/*.sql; do
  t=$(basename "$f" .sql)
  if [ $# -gt 0 ]; then
    [[ " $* " == *" $t "* ]] && tests+=("$t")
  elif [ -n "${skip[$t]:-}" ]; then
    echo "skipped $t: ${skip[$t]}"
  else
    tests+=("$t")
  fi
done
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
pg_regress="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
# as the clusters' owner (root only; pg_regress writes its results into $work); its verdict is
# not ours: the comparison is below
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
as_pg "$pg_regress" --bindir="$(pg_config --bindir)" --use-existing \
  --host="$coord_dir" --port="$coord_port" --user=postgres --dbname=$db \
  --inputdir="$in" --outputdir="$work/regress" "${tests[@]}" > "$work/regress.out" 2>&1
grep -E '^(test|ok|not ok)? *[0-9]* *-? *[a-z_0-9]+ +\.\.\.' "$work/regress.out" | sed 's/^/pg_regress: /'

for t in "${tests[@]}"; do
  want=$in/expected/$t.out
  if [ -f "$here/regress_diffs/$t.diff" ]; then
    cp "$want" "$work/$t.expected"
    want=$work/$t.expected
    patch -s "$want" "$here/regress_diffs/$t.diff" \
      || { fail "$t: its reviewed differences no longer apply (regress_diffs/$t.diff)"; continue; }
  fi
  got=$work/regress/results/$t.out
  if [ ! -f "$got" ]; then
    fail "$t: no output"
  elif diff -u "$want" <(awk -f "$here/regress_filter.awk" "$got") > "$work/$t.diff"; then
    ok "$t as on one node"
  else
    fail "$t differs from one node: $(grep -c '^[-+][^-+]' "$work/$t.diff") lines (first ones below)"
    head -n 60 "$work/$t.diff"
  fi
done
finish
