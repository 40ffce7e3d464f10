#!/usr/bin/env bash
# What the attr_change trigger costs registration (doc/benchmarks.md, "Flow triggers"):
# push_device_register_batch of 10,000 registered devices changing an attribute, three rounds
# without an attr_change flow in the app, then three with one (free -> pro entering every
# device; pro -> free entering none).
# Needs the extension and the test extension installed (`make bench` does both). Port 56537.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/pushplan-bench-attr.XXXXXX); chmod 755 $work; cluster=$work/cluster
trap '"$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1; rm -rf $work' EXIT
"$top/dev/cluster" start "$cluster" 56537 "pushplan.databases = ''" "shared_buffers = 256MB" >/dev/null
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p 56537 -U postgres -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "$1"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test"
sql "SELECT push_app_create('b')" >/dev/null
batch() { sql "SELECT push_device_register_batch('b', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 't' || i, 'attrs', jsonb_build_object('plan', '$1'))) FROM generate_series(1, 10000) i))" >/dev/null; }
batch free
for round in 1 2 3; do
  start=$(ms); batch pro; a=$(( $(ms) - start )); start=$(ms); batch free; b=$(( $(ms) - start ))
  echo "no flow: 10,000 devices changing plan: $a ms, $b ms"
done
sql "SELECT push_flow_create('b', '{\"name\": \"up\", \"reentry\": \"0\", \"max_concurrent\": 100, \"trigger\": {\"attr_change\": {\"attr\": \"plan\", \"from\": \"free\", \"to\": \"pro\"}}, \"steps\": [{\"wait\": \"1 hour\"}]}')" >/dev/null
for round in 1 2 3; do
  start=$(ms); batch pro; a=$(( $(ms) - start )); start=$(ms); batch free; b=$(( $(ms) - start ))
  echo "attr_change flow: 10,000 devices free->pro (each entering): $a ms; pro->free (none entering): $b ms"
done
echo "instances: $(sql "SELECT count(*) FROM flow_instances")"
