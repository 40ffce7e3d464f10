#!/usr/bin/env bash
# Audiences benchmark (doc/benchmarks.md, "Audiences"): 1,000,000 devices in one app, ~1,000
# skewed tags, 5 attributes. Each audience is counted through push_audience_count and by the
# best hand-written SQL variants we know (tag ids given as constants), interleaved, several
# repetitions, medians; then expanded into a temporary table of device ids both ways.
# Usage: test/bench/bench_audience.sh [reps]   (needs the extension installed; port 55100)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
reps=${1:-7}
port=55100
dir=$(mktemp -d /tmp/pushplan-bench-audience.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "work_mem = 64MB" \
    "temp_buffers = 256MB" "max_wal_size = 4GB"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION pushplan"
start=$(date +%s)
"${psql[@]}" -f "$top/test/bench/audience_data.sql" > /dev/null
echo "data loaded in $(( $(date +%s) - start )) s: $("${psql[@]}" -Atc "SELECT count(*) || ' devices, ' ||
    (SELECT count(*) FROM pushplan.device_tags) || ' device tags' FROM pushplan.devices")"

tag() { "${psql[@]}" -Atc "SELECT tag_id FROM pushplan.tags WHERE app_id = pushplan._app_id('bench', 'reader') AND tag = '$1'"; }
app=$("${psql[@]}" -Atc "SELECT pushplan._app_id('bench', 'reader')")
t0=$(tag t0); t1=$(tag t1); t2=$(tag t2); t500=$(tag t500)
unreach="NOT EXISTS (SELECT 1 FROM devices u WHERE u.app_id = $app AND NOT u.reachable AND u.device_id = @@.device_id)"
nu() { echo "${unreach//@@/$1}"; }

# Each case: the audience, then hand-written SQL variants computing the same set of device ids.
declare -a names auds
declare -A hands
names+=(tag_and_2); auds+=('{"tag_and": ["t0", "t1"]}')
hands[tag_and_2]="SELECT a.device_id FROM device_tags a JOIN device_tags b ON b.device_id = a.device_id WHERE a.tag_id = $t0 AND b.tag_id = $t1 AND $(nu a)
SELECT device_id FROM device_tags WHERE tag_id = $t0 INTERSECT SELECT device_id FROM device_tags WHERE tag_id = $t1 EXCEPT SELECT device_id FROM devices WHERE app_id = $app AND NOT reachable
SELECT a.device_id FROM device_tags a WHERE a.tag_id = $t1 AND EXISTS (SELECT 1 FROM device_tags b WHERE b.tag_id = $t0 AND b.device_id = a.device_id) AND $(nu a)"
names+=(tag_or_3); auds+=('{"tag": ["t0", "t1", "t500"]}')
hands[tag_or_3]="SELECT s.device_id FROM (SELECT DISTINCT device_id FROM device_tags WHERE tag_id = ANY ('{$t0,$t1,$t500}')) s WHERE $(nu s)
SELECT s.device_id FROM (SELECT DISTINCT device_id FROM (SELECT device_id FROM (SELECT device_id FROM device_tags WHERE tag_id = $t0 UNION ALL SELECT device_id FROM device_tags WHERE tag_id = $t1 UNION ALL SELECT device_id FROM device_tags WHERE tag_id = $t500) u ORDER BY device_id OFFSET 0) o) s WHERE $(nu s)
SELECT s.device_id FROM (SELECT device_id FROM device_tags WHERE tag_id = $t500 UNION ALL SELECT b.device_id FROM device_tags b WHERE b.tag_id = $t1 AND NOT EXISTS (SELECT 1 FROM device_tags x WHERE x.tag_id = $t500 AND x.device_id = b.device_id) UNION ALL SELECT c.device_id FROM device_tags c WHERE c.tag_id = $t0 AND NOT EXISTS (SELECT 1 FROM device_tags x WHERE x.tag_id = $t500 AND x.device_id = c.device_id) AND NOT EXISTS (SELECT 1 FROM device_tags x WHERE x.tag_id = $t1 AND x.device_id = c.device_id)) s WHERE $(nu s)
SELECT s.device_id FROM (SELECT device_id FROM device_tags WHERE tag_id = $t0 UNION SELECT device_id FROM device_tags WHERE tag_id = $t1 UNION SELECT device_id FROM device_tags WHERE tag_id = $t500) s WHERE $(nu s)
SELECT d.device_id FROM devices d WHERE d.app_id = $app AND d.reachable AND EXISTS (SELECT 1 FROM device_tags t WHERE t.tag_id = ANY ('{$t0,$t1,$t500}') AND t.device_id = d.device_id)"
names+=(attr_and_2); auds+=('{"attr_and": {"city": "c1", "level": "l2"}}')
hands[attr_and_2]="SELECT device_id FROM devices WHERE app_id = $app AND reachable AND attrs @> '{\"city\": \"c1\", \"level\": \"l2\"}'
SELECT device_id FROM devices WHERE app_id = $app AND reachable AND attrs @> '{\"city\": \"c1\"}' AND attrs @> '{\"level\": \"l2\"}'
SELECT device_id FROM devices WHERE app_id = $app AND reachable AND attrs->>'city' = 'c1' AND attrs->>'level' = 'l2'"
# 5 nodes: and, tag, not, tag, attr
names+=(condition_5); auds+=('{"condition": {"and": [{"tag": "t2"}, {"not": {"tag": "t0"}}, {"attr": {"city": "c0"}}]}}')
hands[condition_5]="SELECT d.device_id FROM devices d WHERE d.app_id = $app AND d.reachable AND d.attrs @> '{\"city\": \"c0\"}' AND EXISTS (SELECT 1 FROM device_tags t WHERE t.tag_id = $t2 AND t.device_id = d.device_id) AND NOT EXISTS (SELECT 1 FROM device_tags t WHERE t.tag_id = $t0 AND t.device_id = d.device_id)
SELECT t.device_id FROM device_tags t JOIN devices d ON d.device_id = t.device_id WHERE t.tag_id = $t2 AND d.app_id = $app AND d.reachable AND d.attrs @> '{\"city\": \"c0\"}' AND NOT EXISTS (SELECT 1 FROM device_tags n WHERE n.tag_id = $t0 AND n.device_id = t.device_id)
(SELECT device_id FROM device_tags WHERE tag_id = $t2 EXCEPT SELECT device_id FROM device_tags WHERE tag_id = $t0) INTERSECT SELECT device_id FROM devices WHERE app_id = $app AND reachable AND attrs @> '{\"city\": \"c0\"}'"

q() { printf '%s' "$1" | sed "s/'/''/g"; }   # a SQL string literal's body
{
  cat "$top/test/bench/audience_timing.sql"
  echo "SET search_path = pushplan;"
  echo "CREATE TEMP TABLE ids (device_id bigint);"
  cat <<'SQL'
CREATE FUNCTION pg_temp.expand_hand(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    TRUNCATE pg_temp.ids;
    EXECUTE 'INSERT INTO pg_temp.ids (device_id) ' || q;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
CREATE FUNCTION pg_temp.expand(a jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE pg_temp.ids;
    RETURN pushplan._audience_expand('bench', a, 'pg_temp.ids');
END $$;
CREATE TEMP TABLE results (test text, variant int, median_ms numeric, min_ms numeric, answer bigint);
SQL
  for i in "${!names[@]}"; do
    n=${names[$i]}; a=${auds[$i]}
    arr="'SELECT push_audience_count(''bench'', ''$(q "$(q "$a")")'')'"
    earr="'SELECT pg_temp.expand(''$(q "$(q "$a")")'')'"
    while IFS= read -r h; do
      arr+=", '$(q "SELECT count(*) FROM ($h) x")'"
      earr+=", '$(q "SELECT pg_temp.expand_hand('$(q "$h")')")'"
    done <<< "${hands[$n]}"
    echo "INSERT INTO results SELECT * FROM pg_temp.bench('count $n', ARRAY[$arr], $reps);"
    echo "INSERT INTO results SELECT * FROM pg_temp.bench('expand $n', ARRAY[$earr], $reps);"
  done
  cat <<'SQL'
\echo 'variant 1 = push_audience_count / _audience_expand (compiled); 2.. = hand-written SQL'
SELECT r.test, r.variant, r.median_ms, r.min_ms, r.answer,
       CASE WHEN r.variant = 1 THEN round(r.median_ms / (SELECT min(h.median_ms) FROM results h
            WHERE h.test = r.test AND h.variant > 1), 2) END AS vs_best_hand,
       CASE WHEN r.test LIKE 'expand%' THEN round(r.answer / r.median_ms * 1000) END AS ids_per_s,
       CASE WHEN r.answer <> (SELECT answer FROM results f WHERE f.test = r.test AND f.variant = 1)
            THEN 'DIFFERENT ANSWER' ELSE '' END AS check
FROM results r ORDER BY r.test LIKE 'expand%', r.test, r.variant;
SQL
} > "$dir/bench.sql"
"${psql[@]}" -P pager=off -f "$dir/bench.sql"
