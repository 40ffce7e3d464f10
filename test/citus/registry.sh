#!/usr/bin/env bash
# The distributed registry (doc/scale-out.md, stage 1) on a coordinator and two workers: the
# same registrations, tags, attributes, accounts and audiences on the distributed registry and
# on a single-node database give the same results (test/citus/registry_before.sql before
# push_distribute(), registry_after.sql after it, compared line by line); the layout Citus
# reports; registration routed to one shard; and every refusal of push_distribute() and of the
# layout (93100-93125), with its exact message.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
citus_start 56300
here=$top/test/citus

# The single node: a database of the coordinator without the citus extension (Citus' hooks do
# nothing there), so that both run the same build on the same server.
coord -c "CREATE DATABASE single" >/dev/null || exit 1
single() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d single -At "$@"; }
single -c "CREATE EXTENSION pushplan" || exit 1
run_both() {   # run_both FILE: outputs in $work/dist-NAME.out and $work/single-NAME.out
  local name
  name=$(basename "$1" .sql)
  coord -v ON_ERROR_STOP=0 -f "$1" > "$work/dist-$name.out" 2>&1
  single -v ON_ERROR_STOP=0 -f "$1" > "$work/single-$name.out" 2>&1
  if diff "$work/single-$name.out" "$work/dist-$name.out" > "$work/$name.diff"; then
    ok "$name: the distributed registry answers as the single node ($(wc -l < "$work/dist-$name.out") lines)"
  else
    fail "$name: the distributed registry differs from the single node:"; head -n 40 "$work/$name.diff"
  fi
}

run_both "$here/registry_before.sql"
check "before: the single node has its 5 + 1 devices" \
  "$(single -c "SELECT count(*) FROM pushplan.devices")" "6"

# ---- refusals before the layout ---------------------------------------------------------------
check_eq "93100: no citus extension" "$(err single "SELECT pushplan.push_distribute()")" \
  "93100: push_distribute needs the citus extension in this database"
check_eq "93101: not on a worker" "$(err worker1 "SELECT pushplan.push_distribute()")" \
  "93101: push_distribute runs on the coordinator"
# a schedule still to fire (tomorrow), then disabled
tomorrow=$(coord -c "SELECT to_char(now() + interval '1 day', 'YYYY-MM-DD HH24:MI:SS')")
schedule="{\"name\": \"s\", \"trigger\": {\"single\": {\"time\": \"$tomorrow\"}}, \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"hi\"}}}}"
sid=$(csql "SELECT push_schedule_create('shop', '$schedule')")
check_eq "93105: a schedule still to fire" "$(err coord "SELECT pushplan.push_distribute()")" \
  "93105: tasks or schedules are still to be sent: the distributed registry does not take them over"
csql "SELECT push_schedule_enable('shop', '$sid', false)" >/dev/null
# a worker without pushplan (Citus creates it on nodes added later; here it was dropped by hand)
worker1 -c "SET citus.enable_ddl_propagation = off" -c "DROP EXTENSION pushplan CASCADE" >/dev/null 2>&1
check_eq "93104: pushplan missing on a worker" "$(err coord "SELECT pushplan.push_distribute()")" \
  "93104: pushplan 0.2 is not installed on worker 127.0.0.1:$((coord_port + 1)) (none)"
worker1 -c "SET citus.enable_ddl_propagation = off" -c "CREATE EXTENSION pushplan" || fail "pushplan back on worker 1"
# a database whose scheduler and senders run
coord -c "CREATE DATABASE served" -c "ALTER SYSTEM SET pushplan.databases = 'served'" \
      -c "SELECT pg_reload_conf()" >/dev/null
served() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d served -At "$@"; }
served -c "CREATE EXTENSION pushplan" >/dev/null
check_eq "93103: a served database" "$(err served "SELECT pushplan.push_distribute()")" \
  "93103: database \"served\" is in pushplan.databases: its scheduler and senders must be stopped while it is distributed"
coord -c "ALTER SYSTEM RESET pushplan.databases" -c "SELECT pg_reload_conf()" \
      -c "DROP DATABASE served WITH (FORCE)" >/dev/null
# two devices whose keys are the same (a key made weak on purpose: the first character)
real_key=$(coord -c "SELECT pg_get_functiondef('pushplan._device_key(int, text)'::regprocedure)")
weak_key="CREATE OR REPLACE FUNCTION pushplan._device_key(app_id int, registration_id text) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS \$\$ SELECT hashtextextended(left(registration_id, 1), app_id) & 9223372036854775807 \$\$"
set_key() { local n; for n in coord worker1 worker2; do "$n" -c "SET citus.enable_ddl_propagation = off" -c "$1" || fail "key on $n"; done; }
set_key "$weak_key"
check_eq "93106: existing devices with one key" "$(err coord "SELECT pushplan.push_distribute()")" \
  "93106: devices 1/b1, 1/b2, 1/b3 have the same device key"
set_key "$real_key"

# ---- the layout -------------------------------------------------------------------------------
check "push_distribute" "$(csql "SELECT push_distribute()")" "distributed: 6 devices renumbered, 8 shards per distributed table"
check_eq "93102: twice" "$(err coord "SELECT pushplan.push_distribute()")" "93102: the registry is distributed already"
check_eq "reference tables" \
  "$(coord -c "SELECT string_agg(logicalrelid::regclass::text, ',' ORDER BY logicalrelid::regclass::text) FROM pg_dist_partition WHERE partmethod = 'n'")" \
  "pushplan.app_grants,pushplan.apps,pushplan.cluster_layout,pushplan.flow_controls,pushplan.outcome_webhooks,pushplan.plans,pushplan.tags,pushplan.tasks,pushplan.vendor_configs,pushplan.vendor_tokens"
check_eq "distributed tables: by device_id, one colocation group" \
  "$(coord -c "SELECT string_agg(logicalrelid::regclass::text, ',' ORDER BY logicalrelid::regclass::text) || ' ' || count(DISTINCT colocationid) || ' ' || bool_and(column_to_column_name(logicalrelid, partkey) = 'device_id') FROM pg_dist_partition WHERE partmethod = 'h' AND NOT (SELECT relispartition FROM pg_class WHERE oid = logicalrelid)")" \
  "pushplan.deliveries,pushplan.delivery_queue,pushplan.device_accounts,pushplan.device_activity,pushplan.device_consents,pushplan.device_reactions,pushplan.device_send_profiles,pushplan.device_tags,pushplan.devices,pushplan.engagement_counts,pushplan.events,pushplan.smart_profile_pending,pushplan.task_shard_expansions 1 true"
check_eq "the devices' shards are on both workers" \
  "$(coord -c "SELECT string_agg(nodeport || ':' || n, ',' ORDER BY nodeport) FROM (SELECT n.nodeport, count(*) n FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'pushplan.devices'::regclass GROUP BY 1) s")" \
  "$((coord_port + 1)):4,$((coord_port + 2)):4"
check_eq "the coordinator keeps no device rows (its table is the shell)" \
  "$(coord -c "SELECT pg_relation_size('pushplan.devices')")" "0"
check_eq "devices renumbered to their keys" \
  "$(csql "SELECT bool_and(device_id = _device_key(app_id, registration_id)) FROM devices")" "t"
check_eq "device locations renumbered with their devices" \
  "$(csql "SELECT count(*) FILTER (WHERE device_id = _device_key(1, 'a1')) || '/' || count(*) FROM device_locations")" "1/1"

run_both "$here/registry_after.sql"
check_eq "after: 207 devices of shop on the distributed registry (one erased)" \
  "$(csql "SELECT count(*) FROM devices WHERE app_id = 1")" "207"
check_eq "after: each worker holds some of them" \
  "$(coord -c "SELECT count(DISTINCT nodeport) FROM run_command_on_placements('pushplan.devices', 'SELECT count(*) FROM %s') r JOIN pg_dist_node n USING (nodename, nodeport) WHERE r.result::int > 0")" "2"

# ---- one shard per registration -----------------------------------------------------------------
plan=$(csql "EXPLAIN SELECT device_id FROM devices WHERE device_id = _device_key(1, 'a1') AND app_id = 1 AND registration_id = 'a1'")
check "a device found by its key is one shard" "$plan" "Task Count: 1"
plan=$(csql "EXPLAIN INSERT INTO devices AS d (device_id, app_id, registration_id, platform, vendor, token) VALUES (_device_key(1, 'zz'), 1, 'zz', 'android', 'fcm', 't') ON CONFLICT (device_id) DO UPDATE SET token = excluded.token WHERE d.app_id = excluded.app_id AND d.registration_id = excluded.registration_id")
check "push_device_register's upsert is one shard" "$plan" "Task Count: 1"

# ---- registration delegated to the node of its shard (doc/scale-out.md, "Registration and -----
# function delegation"): what the coordinator sends the nodes (citus.log_remote_commands)
remote() {   # remote SQL: the coordinator's commands to the nodes, "verb verb ..."; servers in $work/servers
  coord -c "SET citus.log_remote_commands = on" -c "$1" > "$work/remote.out" 2>&1
  grep -o 'on server [^ ]*' "$work/remote.out" | sort -u > "$work/servers"
  grep -o 'issuing [A-Z]*' "$work/remote.out" | awk '{print $2}' | paste -sd ' '
}
csql "SELECT push_device_register('shop', 'dg1', 'android', 'fcm', 'fcm-dg1')" >/dev/null
check_eq "a registration that keeps its token: one call to one node, then its commit" \
  "$(remote "SELECT pushplan.push_device_register('shop', 'dg1', 'android', 'fcm', 'fcm-dg1')")" "BEGIN SELECT COMMIT"
check "... the call is _device_register_at's, by the key" "$(grep 'issuing SELECT' "$work/remote.out")" \
  "FROM pushplan._device_register_at('$(csql "SELECT _device_key(1, 'dg1')")'::bigint, 1, 'dg1'::text"
check_eq "... on the one node of the key's shard" "$(wc -l < "$work/servers")" "1"
check_eq "... whose shard holds the device" "$(sed 's/.*@//' "$work/servers")" \
  "$(coord -c "SELECT nodename || ':' || nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('pushplan.devices', pushplan._device_key(1, 'dg1'))")"
check "a registration whose token changed: the call, then the token's old holder looked for on every shard" \
  "$(remote "SELECT pushplan.push_device_register('shop', 'dg1', 'android', 'fcm', 'fcm-dg1b')")" "BEGIN SELECT UPDATE"
# (on both worker nodes; how many connections to each, Citus decides by how long the shards take)
check_eq "... committed in two phases on both worker nodes (every shard was asked)" \
  "$(grep -A1 'issuing PREPARE TRANSACTION' "$work/remote.out" | grep -o 'on server [^ ]*' | sort -u | wc -l)" "2"
csql "SELECT push_device_register('shop', 'dg2', 'android', 'fcm', 'fcm-dg2')" >/dev/null
csql "SELECT push_device_register('shop', 'dg3', 'android', 'fcm', 'fcm-dg2')" >/dev/null
check_eq "the token moved: its old registration lost it, the new one holds it" \
  "$(csql "SELECT string_agg(registration_id || '=' || coalesce(token, '-'), ' ' ORDER BY registration_id) FROM devices WHERE registration_id IN ('dg1', 'dg2', 'dg3')")" \
  "dg1=fcm-dg1b dg2=- dg3=fcm-dg2"
batch='[{"registration_id": "dg8", "platform": "android", "vendor": "fcm", "token": "fcm-dg8"},
        {"registration_id": "dg9", "platform": "android", "vendor": "fcm", "token": "fcm-dg9"}]'
csql "SELECT push_device_register_batch('shop', '$batch')" >/dev/null
remote "SELECT pushplan.push_device_register_batch('shop', '$batch')" >/dev/null
check_eq "a batch that keeps its tokens looks for no token's old holder" "$(grep -c 'SET token = NULL' "$work/remote.out")" "0"
remote "SELECT pushplan.push_device_register_batch('shop', '${batch/fcm-dg9/fcm-dg9b}')" >/dev/null
check "... one whose token changed does, on every shard" "$(grep -c 'SET token = NULL' "$work/remote.out")" "8"
check_eq "... and stored both" \
  "$(csql "SELECT string_agg(token, ' ' ORDER BY registration_id) FROM devices WHERE registration_id IN ('dg8', 'dg9')")" "fcm-dg8 fcm-dg9b"
coord -c "BEGIN" -c "SELECT pushplan.push_device_register('shop', 'dg4', 'android', 'fcm', 'fcm-dg4')" \
      -c "SELECT pushplan.push_tag_add('shop', 'dg4', 'rolled')" -c "ROLLBACK" >/dev/null
check_eq "a registration in a transaction block is delegated inside it: rolled back with it" \
  "$(csql "SELECT count(*) FROM devices WHERE registration_id = 'dg4'")" "0"
coord -c "CREATE ROLE regress_reg_app" -c "SELECT pushplan.push_app_grant('shop', 'regress_reg_app', 'app')" >/dev/null
check_eq "a role bound to the app registers through the coordinator (bindings checked there)" \
  "$(coord -c "SET ROLE regress_reg_app" -c "SELECT pushplan.push_device_register('shop', 'dg5', 'android', 'fcm', 'fcm-dg5')")" \
  "$(csql "SELECT _device_key(1, 'dg5')")"
check_eq "93125: a bound role calling pushplan on a worker node" \
  "$(err worker1 "SET ROLE regress_reg_app; SELECT pushplan.push_device_register('shop', 'dg6', 'android', 'fcm', 'fcm-dg6')")" \
  "93125: app bindings are checked on the coordinator: role \"regress_reg_app\" calls pushplan on a worker node"
check_eq "... and the views' tenancy check there" \
  "$(err worker1 "SET ROLE regress_reg_app; SELECT pushplan._visible_apps('app')")" \
  "93125: app bindings are checked on the coordinator: role \"regress_reg_app\" calls pushplan on a worker node"
# one session: the node's group is kept per session, and read again when Citus invalidates it
# (its trigger on pg_dist_local_group; here a change rolled back, which invalidates it again)
check_eq "... the session's group is read again when Citus changes it (a worker node; 0 in a transaction; again after the rollback)" \
  "$(worker1 -v ON_ERROR_STOP=0 -v VERBOSITY=terse \
       -c "SET ROLE regress_reg_app" -c "SELECT pushplan._visible_apps('app')" -c "RESET ROLE" \
       -c "BEGIN" -c "UPDATE pg_catalog.pg_dist_local_group SET groupid = 0" -c "SET LOCAL ROLE regress_reg_app" \
       -c "SELECT 'read' FROM (SELECT count(*) FROM pushplan._visible_apps('app')) x" -c "ROLLBACK" \
       -c "SET ROLE regress_reg_app" -c "SELECT pushplan._visible_apps('app')" 2>&1 | sed -E 's/^.*(9312[0-9]).*$/\1/' | tr '\n' ' ')" \
  "93125 read 93125 "
check_eq "a superuser may call it on a worker node: the call is delegated from there" \
  "$(worker1 -c "SELECT pushplan.push_device_register('shop', 'dg7', 'android', 'fcm', 'fcm-dg7') = pushplan._device_key(1, 'dg7')")" "t"
check_eq "... and stored" "$(csql "SELECT count(*) FROM devices WHERE registration_id IN ('dg5', 'dg7')")" "2"

# ---- what the layout refuses --------------------------------------------------------------------
set_key "$weak_key"
check_eq "a registration under the weak key" \
  "$(csql "SELECT push_device_register('shop', 'c1', 'android', 'fcm', 'fcm-c1') = _device_key(1, 'c')")" "t"
check_eq "93120: a key another registration holds (one device)" \
  "$(err coord "SELECT pushplan.push_device_register('shop', 'c2', 'android', 'fcm', 'fcm-c2')")" \
  "93120: registration id \"c2\" has the same device key as another device of the distributed registry"
check_eq "93120: ... and in a batch" \
  "$(err coord "SELECT pushplan.push_device_register_batch('shop', '[{\"registration_id\": \"c3\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-c3\"}]')")" \
  "93120: registration id \"c3\" has the same device key as another device of the distributed registry"
check_eq "a colliding registration changed nothing" \
  "$(csql "SELECT count(*) FROM devices WHERE registration_id IN ('c2', 'c3') OR token IN ('fcm-c2', 'fcm-c3')")" "0"
set_key "$real_key"
finish
