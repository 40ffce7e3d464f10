#!/usr/bin/env bash
# One-device registration (doc/benchmarks.md, "One-device registration"), beside the bare
# statement it is measured against: an INSERT ... ON CONFLICT (app_id, registration_id) DO
# UPDATE ... RETURNING into a table of the same shape and indexes (CREATE TABLE ... LIKE
# pushplan.devices INCLUDING ALL), with the same values.
#   (1) one statement per registration from one client, pgbench, new devices; the two alternate
#       ROUNDS times, in both query modes (simple: as psql sends; prepared)
#   (2) many registrations in one statement, so one transaction: 12,000 / 80,000 / 200,000
#       (the rate must not fall with the count: no subtransaction per call)
#   (3) other connections meanwhile: another app's one-device registrations from pgbench,
#       alone and while (2)'s 200,000 run
# Reports; never asserts.
#   test/bench/bench_registration.sh [SECONDS=10] [ROUNDS=3] [BIG=200000]
# Needs the extension installed (make bench does it); port 55710.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
rounds=${2:-3}
big=${3:-200000}
port=55710
dir=$(mktemp -d /tmp/pushplan-bench-registration.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "max_wal_size = 8GB" \
    "checkpoint_timeout = 30min"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
pgbench=("$(pg_config --bindir)/pgbench" -h "$dir/data" -p "$port" -U postgres -n)
"${psql[@]}" <<'SQL'
CREATE EXTENSION pushplan;
SELECT pushplan.push_app_create('bench') \g /dev/null
SELECT pushplan.push_app_create('other') \g /dev/null
CREATE TABLE bare_devices (LIKE pushplan.devices INCLUDING ALL);
SQL

# (1) pushplan's call and the bare upsert, the same values (random ids: new devices)
cat > "$dir/pushplan.pgbench" <<'EOF'
\set id random(1, 2000000000)
SELECT pushplan.push_device_register('bench', 's' || :id, 'android', 'fcm', 'st' || :id, 'Asia/Shanghai', 'zh-Hans');
EOF
cat > "$dir/bare.pgbench" <<'EOF'
\set id random(1, 2000000000)
INSERT INTO bare_devices AS d (app_id, registration_id, platform, vendor, token, timezone, language)
VALUES (1, 's' || :id, 'android', 'fcm', 'st' || :id, 'Asia/Shanghai', 'zh-Hans')
ON CONFLICT (app_id, registration_id) DO UPDATE SET platform = excluded.platform,
    vendor = excluded.vendor, token = excluded.token, timezone = excluded.timezone,
    language = excluded.language, registered = true, updated_at = now()
RETURNING d.device_id;
EOF
tps() {  # tps MODE FILE: transactions per second of SECONDS of one client
  "${pgbench[@]}" -M "$1" -c 1 -T "$secs" -f "$2" postgres 2>&1 \
    | awk '/^tps/ {printf "%d", $3}'
}
echo "(1) one statement per registration, 1 client, ${secs} s each, alternating:"
for mode in simple prepared; do
  for r in $(seq "$rounds"); do
    p=$(tps "$mode" "$dir/pushplan.pgbench")
    b=$(tps "$mode" "$dir/bare.pgbench")
    echo "    $mode round $r: push_device_register $p/s, bare upsert $b/s, ratio $(awk -v p="$p" -v b="$b" 'BEGIN {printf "%.2f", p / b}')"
  done
done

# (2) one statement, one transaction; (3) another app's registrations meanwhile
cat > "$dir/other.pgbench" <<'EOF'
\set id random(1, 2000000000)
SELECT pushplan.push_device_register('other', 'o' || :id, 'ios', 'apns', 'ot' || :id);
EOF
many() {  # many N TAG: N registrations in one statement; prints seconds and rate
  "${psql[@]}" -At <<SQL
SELECT clock_timestamp() AS t0 \gset
SELECT count(pushplan.push_device_register('bench', '$2' || g, 'android', 'fcm', '$2t' || g)) FROM generate_series(1, $1) g \g /dev/null
SELECT '$1 in one statement: ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2) || ' s, '
       || round($1 / extract(epoch FROM clock_timestamp() - :'t0')) || ' registrations/s';
SQL
}
echo "(2) registrations in one statement (one transaction):"
many 12000 m12k- | sed 's/^/    /'
many 80000 m80k- | sed 's/^/    /'
echo "(3) another app's one-device registrations (prepared, 1 client):"
echo "    alone: $(tps prepared "$dir/other.pgbench")/s"
many "$big" big- > "$dir/big.out" &
bigpid=$!
sleep 1
meanwhile=$("${pgbench[@]}" -M prepared -c 1 -T "$secs" -f "$dir/other.pgbench" postgres 2>&1 | awk '/^tps/ {printf "%d", $3}')
wait "$bigpid"
echo "    while $big register in one statement: $meanwhile/s"
sed 's/^/    /' "$dir/big.out"
"${psql[@]}" -At -c "SELECT 'devices: ' || count(*) FROM pushplan.devices"
