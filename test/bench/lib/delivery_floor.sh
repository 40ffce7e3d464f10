# The floor under a sending benchmark's rate: the one write every delivery needs, its row in
# deliveries (the table, indexes and foreign key as they are), written bare by pgbench, 1000
# rows a statement as a sender writes one answer's outcomes, 10 s (doc/benchmarks.md, "Batched
# vendors: the floor of a delivery's row"). Source it, then
#   delivery_floor HOST PORT TASK DEVICES CLIENTS WORKDIR
# prints the rows written a second, from CLIENTS clients, into TASK's deliveries (its app,
# vendor and platform) for device ids 1..DEVICES.
delivery_floor() {
  local host=$1 port=$2 task=$3 devices=$4 clients=$5 dir=$6
  cat > "$dir/floor.sql" <<SQL
\set b random(0, $(( devices > 1999 ? devices / 1000 - 1 : 0 )))
INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, platform, send_at, status,
  attempts, claimed_by, claimed_at, sent_at, http_status)
SELECT t.task_id, t.app_id, d, x.vendor, x.platform, now(), 'sent', 1, 1, now(), clock_timestamp(), 200
FROM pushplan.tasks t
CROSS JOIN LATERAL (SELECT vendor, platform FROM pushplan.deliveries WHERE task_id = t.task_id LIMIT 1) x,
  generate_series(:b * 1000 + 1, :b * 1000 + 1000) d
WHERE t.task_id = '$task';
SQL
  "$(pg_config --bindir)/pgbench" -n -h "$host" -p "$port" -U postgres -T 10 -c "$clients" \
    -j "$clients" -f "$dir/floor.sql" postgres 2>&1 | awk '/^tps/ { printf "%.0f\n", $3 * 1000 }'
}
