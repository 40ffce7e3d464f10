#!/usr/bin/env bash
# What the day partitions of deliveries cost a transactional push's outcome (doc/benchmarks.md,
# "A transactional push's outcome and the day partitions"): the shape of the senders' outcome
# statement for queued deliveries (src/sender_outcomes.c, write_queued_outcome_rows), an UPDATE
# of deliveries joined to the batch's ids and bounded by "= ANY" of them, run with a kept
# generic plan as a sender runs it, for one delivery a statement (a transactional push), with
# and without the "BETWEEN lo AND hi" bound on the partition key that lets the executor prune
# the other days' partitions when it starts; with today's partitions only (4) and after a
# month at the default retention (34); and the claim's probe of a queued delivery by its id
# (src/worker_sender.c, claim_and_submit_group), which nothing bounds yet. The array is made from text, as a parameter the
# planner cannot look into. pgbench, one client, 8 s a case, two rounds.
#   test/bench/bench_outcome_partitions.sh [PORT=55384]
# Needs the extension installed (make bench does it).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-55384}
work=$(mktemp -d /tmp/pushplan-bench-partitions.XXXXXX)
chmod 755 "$work"
trap '"$top/dev/cluster" destroy "$work/data"; rm -rf "$work"' EXIT
"$top/dev/cluster" start "$work/data" "$port" >/dev/null
p() { psql -X -q -At -h "$work/data" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
p -c "CREATE EXTENSION pushplan" >/dev/null
p -c "SELECT pushplan.push_app_create('bench')" >/dev/null
p -c "INSERT INTO pushplan.tasks (task_id, app_id, plan_id, push)
      SELECT 'tsk_bench', pushplan._app_id('bench', 'reader'), 'default', '{}'" >/dev/null
p -c "INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, platform, send_at)
      SELECT 'tsk_bench', pushplan._app_id('bench', 'reader'), g, 'fcm', 'android', now()
      FROM generate_series(1, 1000) g" >/dev/null
lo=$(p -c "SELECT min(delivery_id) FROM pushplan.deliveries")
ids="string_to_array((:i)::text, ',')::bigint[]"
cat > "$work/any.sql" <<SQL
\set i random($lo, $lo + 999)
UPDATE pushplan.deliveries d SET attempts = d.attempts + 1 FROM unnest($ids) o(id)
WHERE d.delivery_id = o.id AND d.delivery_id = ANY ($ids);
SQL
cat > "$work/between.sql" <<SQL
\set i random($lo, $lo + 999)
UPDATE pushplan.deliveries d SET attempts = d.attempts + 1 FROM unnest($ids) o(id)
WHERE d.delivery_id = o.id AND d.delivery_id = ANY ($ids) AND d.delivery_id BETWEEN :i AND :i;
SQL
cat > "$work/probe.sql" <<SQL
\set i random($lo, $lo + 999)
SELECT count(d.status) FROM unnest($ids) c(delivery_id)
LEFT JOIN LATERAL (SELECT * FROM pushplan.deliveries d WHERE d.delivery_id = c.delivery_id OFFSET 0) d ON true;
SQL
label() {
  case $1 in
    any) echo "outcome UPDATE of one delivery by = ANY alone" ;;
    between) echo "outcome UPDATE of one delivery by = ANY and BETWEEN" ;;
    probe) echo "the claim's probe of one delivery by its id (not bounded)" ;;
  esac
}
for month in no yes; do
  [ $month = yes ] && p -c "SELECT count(pushplan._raw_partition_create('deliveries', (now() AT TIME ZONE 'UTC')::date - g))
                            FROM generate_series(1, 30) g" >/dev/null
  parts=$(p -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pushplan.deliveries'::regclass")
  for round in 1 2; do
    for f in any between probe; do
      ms=$(PGOPTIONS='-c plan_cache_mode=force_generic_plan -c synchronous_commit=off' \
           "$(pg_config --bindir)/pgbench" -n -M prepared -h "$work/data" -p "$port" -U postgres -T 8 \
           -f "$work/$f.sql" postgres 2>&1 | awk '/latency average/ {print $4}')
      echo "$(label $f), $parts partitions, round $round: $ms ms a statement"
    done
  done
done
