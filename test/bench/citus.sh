#!/usr/bin/env bash
# The distributed registry against one node (doc/scale-out.md, doc/benchmarks.md "Citus"): the
# Citus harness (a coordinator and two workers, test/citus/lib.sh) and, on the coordinator's
# server, a database without Citus as the single node. Registers N devices on each (batches of
# 10000, then again with the same tokens, then single registrations), registers the singles again with their tokens (an app
# start) and sets an attribute of each, one call at a time in one PL/pgSQL loop and then from
# pgbench clients (one call a transaction, BENCH_CLIENTS, BENCH_SECONDS), then times
# push_audience_count for a few audiences.
# On one machine the three nodes share its cores: this shows what the layout costs, not how it
# scales. Env: PUSHPLAN_TOP, PUSHPLAN_WORK, BENCH_DEVICES (default 200000), BENCH_SINGLES (2000),
# BENCH_PORT (default 56310: the coordinator, the workers on the next two), BENCH_CLIENTS (4),
# BENCH_SECONDS (10).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
n=${BENCH_DEVICES:-200000}
singles=${BENCH_SINGLES:-2000}
citus_start "${BENCH_PORT:-56310}" "citus.shard_count = 32"
coord -c "CREATE DATABASE single" >/dev/null 2>&1
single() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d single -At "$@"; }
single -c "CREATE EXTENSION pushplan"
csql "SELECT push_distribute()" >/dev/null 2>&1 || { echo "push_distribute failed"; exit 1; }

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null || echo "FAILED: $*" >&2; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
setup="SET search_path = pushplan, public; SELECT push_app_create('bench');"
batches="SET search_path = pushplan, public;
DO \$\$ BEGIN
  FOR b IN 0 .. ($n - 1) / 10000 LOOP
    PERFORM push_device_register_batch('bench', (SELECT jsonb_agg(jsonb_build_object(
      'registration_id', 'dev' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-' || i,
      'tags', CASE WHEN i % 2 = 0 THEN '[\"even\"]'::jsonb ELSE '[\"odd\", \"news\"]' END,
      'attrs', jsonb_build_object('city', CASE WHEN i % 10 = 0 THEN 'sz' ELSE 'gz' END)))
      FROM generate_series(b * 10000 + 1, least((b + 1) * 10000, $n)) i));
  END LOOP;
END \$\$;"
one_by_one="SET search_path = pushplan, public;
DO \$\$ BEGIN
  FOR i IN 1 .. $singles LOOP
    PERFORM push_device_register('bench', 'single' || i, 'ios', 'apns', lpad(to_hex(i), 8, '0'));
  END LOOP;
END \$\$;"
attrs="SET search_path = pushplan, public;
DO \$\$ BEGIN
  FOR i IN 1 .. $singles LOOP
    PERFORM push_attr_set('bench', 'single' || i, jsonb_build_object('level', i));
  END LOOP;
END \$\$;"
# pgbench: a random single each call, one call a transaction
cat > "$work/again.sql" <<Q
\\set i random(1, $singles)
SELECT pushplan.push_device_register('bench', 'single' || :i, 'ios', 'apns', lpad(to_hex(:i), 8, '0'));
Q
cat > "$work/attrs.sql" <<Q
\\set i random(1, $singles)
SELECT pushplan.push_attr_set('bench', 'single' || :i, jsonb_build_object('level', :i));
Q
clients=${BENCH_CLIENTS:-4}
seconds=${BENCH_SECONDS:-10}
pgb() {   # pgb DB SCRIPT: calls per second
  "$(pg_config --bindir)/pgbench" -n -h "$coord_dir" -p "$coord_port" -U postgres -c "$clients" -j "$clients" \
    -T "$seconds" -f "$2" "$1" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1
}
echo "devices: $n in batches of 10000, then $singles one by one; $(nproc) cores shared by every node"
for side in single dist; do
  if [ $side = single ]; then run() { single -c "$1"; }; else run() { coord -c "$1"; }; fi
  run "$setup" >/dev/null
  echo "$side: register $n (batches): $(ms run "$batches") ms"
  echo "$side: register the $n again with their tokens (batches): $(ms run "$batches") ms"
  echo "$side: register $singles one by one: $(ms run "$one_by_one") ms"
  echo "$side: register the $singles again with their tokens, one by one: $(ms run "$one_by_one") ms"
  echo "$side: push_attr_set on each of the $singles, one by one: $(ms run "$attrs") ms"
  db=postgres; [ $side = single ] && db=single
  echo "$side: pgbench, $clients clients, ${seconds} s, registering again: $(pgb $db "$work/again.sql") calls/s"
  echo "$side: pgbench, $clients clients, ${seconds} s, push_attr_set: $(pgb $db "$work/attrs.sql") calls/s"
  run "VACUUM ANALYZE" >/dev/null 2>&1
  for aud in '"all"' '{"tag": ["even"]}' '{"tag_and": ["odd", "news"]}' '{"attr_and": {"city": "sz"}}' '{"tag": ["odd"], "attr_and": {"city": "sz"}}'; do
    count=$(run "SELECT pushplan.push_audience_count('bench', '$aud')")
    best=999999
    for i in 1 2 3 4 5; do
      t=$(ms run "SELECT pushplan.push_audience_count('bench', '$aud')")
      [ "$t" -lt "$best" ] && best=$t
    done
    echo "$side: push_audience_count $aud = $count: best of 5 $best ms (with a psql connection)"
  done
done
