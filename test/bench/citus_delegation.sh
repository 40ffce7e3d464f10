#!/usr/bin/env bash
# Citus function delegation on the distributed layout (doc/scale-out.md, "Registration and
# function delegation"; doc/benchmarks.md "Citus"): on the harness (a coordinator, two workers,
# 32 shards), whether a call is delegated to the node holding its key's shard (Citus' DEBUG1
# "pushing down the function call"), and the time per call, from one pgbench connection, of
# registration's upsert alone as a delegated PL/pgSQL function (register_at: the key as its
# argument, one shard, no token move) against push_device_register (the API: the upsert through
# the coordinator, then the token move's UPDATE over every shard), in alternating rounds.
# Env: PUSHPLAN_TOP, PUSHPLAN_WORK, N (calls per round, default 500), ROUNDS (2), BENCH_PORT (56755).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
citus_start "${BENCH_PORT:-56755}" "citus.shard_count = 32"
csql "SELECT push_app_create('shop')" >/dev/null
csql "SELECT push_distribute()" >/dev/null 2>&1 || { echo "distribute failed"; exit 1; }
coord <<'SQL'
-- a SQL function is inlined by the planner before Citus sees the call: not delegated
CREATE FUNCTION public.where_am_i(k bigint) RETURNS text LANGUAGE sql AS $$ SELECT current_setting('port') $$;
SELECT create_distributed_function('public.where_am_i(bigint)', '$1', colocate_with := 'pushplan.devices');
-- the registration's upsert alone, on the key's shard (no token move)
CREATE FUNCTION public.register_at(k bigint, p_app int, rid text, tok text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_now timestamptz := now(); v_id bigint;
BEGIN
  INSERT INTO pushplan.devices AS d (device_id, app_id, registration_id, platform, vendor, token)
    VALUES (k, p_app, rid, 'android', 'fcm', tok)
    ON CONFLICT (device_id) DO UPDATE SET token = excluded.token, updated_at = v_now
    WHERE d.app_id = excluded.app_id AND d.registration_id = excluded.registration_id
    RETURNING device_id INTO v_id;
  RETURN v_id;
END $$;
SELECT create_distributed_function('public.register_at(bigint,int,text,text)', '$1', colocate_with := 'pushplan.devices');
SQL
for q in "SELECT where_am_i(12345)" "SELECT where_am_i(pushplan._device_key(1, 'd1'))" "SELECT register_at(pushplan._device_key(1, 'x1'), 1, 'x1', 't1')"; do
  echo "== $q"
  coord -c "SET client_min_messages = debug1" -c "$q" 2>&1 | grep -v "^$" | head -6
done
# timing: N calls from pgbench (one connection), delegated upsert vs push_device_register
n=${N:-500}
bin=$(pg_config --bindir)
cat > "$work/deleg.sql" <<'Q'
\set i random(1, 100000000)
SELECT register_at(pushplan._device_key(1, 'p' || :i), 1, 'p' || :i, 'tok' || :i);
Q
cat > "$work/api.sql" <<'Q'
\set i random(1, 100000000)
SELECT pushplan.push_device_register('shop', 'q' || :i, 'android', 'fcm', 'tok-q' || :i);
Q
for ((round = 1; round <= ${ROUNDS:-2}; round++)); do
  for f in deleg api; do
    echo "== round $round $f: $("$bin/pgbench" -n -h "$coord_dir" -p "$coord_port" -U postgres -t "$n" -c 1 -f "$work/$f.sql" postgres 2>&1 | grep -E "latency average|tps" | tr '\n' ' ')"
  done
done
coord -c "SELECT count(*) FROM pushplan.devices"
