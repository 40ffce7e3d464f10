#!/usr/bin/env bash
# Device registration (doc/benchmarks.md, "Device registration"): push_device_register_batch in
# batches of 10,000 through the SQL API, 1,000,000 devices a case, each batch its own statement
# and transaction, sent as JSON text the server parses (as a client's parameter would be):
#   (a) new devices with time zone, language, 0-10 skewed tags and 5 attributes
#   (b) new devices without tags or attributes
#   (c) re-registration of the devices of (a) (the upsert path), attributes changed
# each case beside its bare baseline, run just before it: the same batches' rows written by one
# plain INSERT ... SELECT a batch from the same JSON into tables of the same shape and indexes
# (devices and device_tags LIKE ... INCLUDING ALL, the tags known), no API, no validation, no
# upsert: (a0) for (a), (b0) for (b) (rows new to those tables too);
# then single-device push_device_register calls from one client with pgbench, for reference,
# and push_tag_add on the devices of (a), a one-device function that looks its device up.
# Target: >= 50,000 devices/s in batches. Reports; never asserts.
#   test/bench/bench_devices.sh [DEVICES=1000000] [BATCH=10000] [PGBENCH_SECONDS=20]
# Needs the extension installed (make bench does it); port 55700.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000000}
batch=${2:-10000}
secs=${3:-20}
port=55700
nb=$(( (n + batch - 1) / batch ))
dir=$(mktemp -d /tmp/pushplan-bench-devices.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "max_wal_size = 8GB" \
    "checkpoint_timeout = 30min" "work_mem = 64MB"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION pushplan"

# The batches, as JSON text, generated before any timing. Registration ids and tokens are
# hashes (random order into the indexes, as real ones are); tags are drawn from a power law
# over 1,000 names (t0 on about half of the devices, a long tail), 0-10 a device.
start=$(date +%s)
"${psql[@]}" <<SQL
SET search_path = pushplan, public;
SELECT setseed(0.42) \g /dev/null
SELECT push_app_create('bench') \g /dev/null
CREATE TABLE bench_batches (kind text, b int, body text, PRIMARY KEY (kind, b));
CREATE TEMP TABLE zones AS SELECT ARRAY['Asia/Shanghai', 'America/New_York', 'Europe/Berlin',
    'Asia/Tokyo', 'UTC', 'Asia/Kolkata', 'America/Sao_Paulo', 'Europe/London', 'Australia/Sydney',
    'asia/shanghai'] AS z, ARRAY['zh-Hans', 'en', 'de', 'ja', 'pt_BR', 'hi', 'en-GB', 'fr'] AS l;
CREATE TEMP TABLE devs AS
SELECT g, (g - 1) / $batch AS b,
       jsonb_build_object(
           'registration_id', substr(md5('r' || g), 1, 19),
           'platform', CASE WHEN g % 3 = 0 THEN 'ios' ELSE 'android' END,
           'vendor', CASE WHEN g % 3 = 0 THEN 'apns' WHEN g % 7 = 0 THEN 'hms' ELSE 'fcm' END,
           'token', md5('t' || g) || md5('u' || g),
           'timezone', z[1 + floor(power(random(), 2) * 10)::int],
           'language', l[1 + floor(random() * 8)::int]) AS base,
       ARRAY(SELECT DISTINCT 't' || floor(power(random(), 4) * 1000)::int
             FROM generate_series(1, floor(random() * 11)::int + (g * 0)::int)) AS tags,
       jsonb_build_object(
           'city', 'c' || floor(power(random(), 2) * 20)::int,
           'level', floor(random() * 5)::int,
           'gender', CASE WHEN random() < 0.5 THEN 'f' ELSE 'm' END,
           'age', 18 + floor(random() * 50)::int,
           'vip', random() < 0.1) AS attrs
FROM generate_series(1, $n) g, zones;
INSERT INTO bench_batches
SELECT 'full', b, jsonb_agg(base || jsonb_build_object('tags', tags, 'attrs', attrs) ORDER BY g)::text
FROM devs GROUP BY b;
-- (b): other registration ids and tokens, no tags, no attributes
INSERT INTO bench_batches
SELECT 'plain', b, jsonb_agg(base || jsonb_build_object(
           'registration_id', substr(md5('p' || g), 1, 19), 'token', md5('q' || g) || md5('v' || g))
       ORDER BY g)::text
FROM devs GROUP BY b;
-- (c): the devices of (a) again, a new level and city for each
INSERT INTO bench_batches
SELECT 'again', b, jsonb_agg(base || jsonb_build_object('tags', tags, 'attrs',
           attrs || jsonb_build_object('level', 9, 'city', 'moved')) ORDER BY g)::text
FROM devs GROUP BY b;
-- the bare baseline's tables (its tags made beforehand, as an app's tags mostly exist)
CREATE TABLE bare_devices (LIKE pushplan.devices INCLUDING ALL);
CREATE TABLE bare_tags (LIKE pushplan.tags INCLUDING ALL);
CREATE TABLE bare_device_tags (LIKE pushplan.device_tags INCLUDING ALL);
INSERT INTO bare_tags (app_id, tag) SELECT DISTINCT 0, t FROM devs, unnest(tags) t;
CHECKPOINT;
SQL
echo "batches generated in $(( $(date +%s) - start )) s: $nb batches of $batch devices a case"

# The bare baseline of a case, the same way: one statement a batch, timed around the whole run.
run_bare() {
  local kind=$1 label=$2 f=$dir/bare_$1.sql
  {
    echo "SET search_path = pushplan, public;"
    echo "SELECT clock_timestamp() AS t0 \\gset"
    for b in $(seq 0 $((nb - 1))); do
      echo "WITH j AS (SELECT e FROM jsonb_array_elements((SELECT body FROM bench_batches WHERE kind = '$kind' AND b = $b)::jsonb) e),
        d AS (INSERT INTO bare_devices (app_id, registration_id, platform, vendor, token, timezone, language, attrs)
              SELECT 0, e->>'registration_id', e->>'platform', e->>'vendor', e->>'token', e->>'timezone', e->>'language',
                     coalesce(e->'attrs', '{}') FROM j RETURNING device_id, registration_id)
        INSERT INTO bare_device_tags (tag_id, device_id)
        SELECT g.tag_id, d.device_id FROM j JOIN d ON d.registration_id = j.e->>'registration_id'
        CROSS JOIN jsonb_array_elements_text(coalesce(j.e->'tags', '[]')) x JOIN bare_tags g ON g.app_id = 0 AND g.tag = x \\g /dev/null"
    done
    echo "SELECT '$label: ' || $n || ' devices in ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2)
      || ' s: ' || round($n / extract(epoch FROM clock_timestamp() - :'t0')) || ' devices/s' AS result;"
  } > "$f"
  "${psql[@]}" -At -f "$f"
}

# One statement (and transaction) a batch, timed by the server around the whole run.
run_case() {
  local kind=$1 label=$2 f=$dir/$1.sql
  {
    echo "SET search_path = pushplan, public;"
    echo "SELECT clock_timestamp() AS t0 \\gset"
    for b in $(seq 0 $((nb - 1))); do
      echo "SELECT push_device_register_batch('bench', (SELECT body FROM bench_batches WHERE kind = '$kind' AND b = $b)::jsonb) \\g /dev/null"
    done
    echo "SELECT '$label: ' || $n || ' devices in ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2)
      || ' s: ' || round($n / extract(epoch FROM clock_timestamp() - :'t0')) || ' devices/s' AS result;"
  } > "$f"
  "${psql[@]}" -At -f "$f"
}
run_bare full "(a0) bare baseline of (a): the same rows by plain INSERT"
run_case full "(a) new, tags + attrs"
run_bare plain "(b0) bare baseline of (b): the same rows by plain INSERT"
run_case plain "(b) new, no tags/attrs"
"${psql[@]}" -c "CHECKPOINT"
run_case again "(c) re-registration (upsert) of (a)"
"${psql[@]}" -At -c "SELECT 'rows: ' || count(*) || ' devices, ' || (SELECT count(*) FROM pushplan.device_tags)
    || ' device tags, ' || (SELECT count(*) FROM pushplan.tags) || ' tags' FROM pushplan.devices"

# Single-device registration from one client, for reference (prepared statements).
cat > "$dir/single.pgbench" <<'EOF2'
\set id random(1, 1000000000)
SELECT pushplan.push_device_register('bench', 's' || :id, 'android', 'fcm', 'st' || :id, 'Asia/Shanghai', 'zh-Hans');
EOF2
"$(pg_config --bindir)/pgbench" -h "$dir/data" -p "$port" -U postgres -n -M prepared -c 1 -T "$secs" \
    -f "$dir/single.pgbench" postgres 2>&1 | grep -E '^(tps|latency average|number of transactions actually)' \
    | sed 's/^/(d) single push_device_register, 1 client: /'

# A one-device function on the registered devices of (a) (each looks its device up by
# registration id, as push_tag_add, push_attr_set, push_event and the others do).
cat > "$dir/tag.pgbench" <<EOF2
\set g random(1, $n)
SELECT pushplan.push_tag_add('bench', substr(md5('r' || :g), 1, 19), 'single');
EOF2
"$(pg_config --bindir)/pgbench" -h "$dir/data" -p "$port" -U postgres -n -M prepared -c 1 -T "$secs" \
    -f "$dir/tag.pgbench" postgres 2>&1 | grep -E '^(tps|latency average|number of transactions actually)' \
    | sed 's/^/(e) single push_tag_add, 1 client: /'
