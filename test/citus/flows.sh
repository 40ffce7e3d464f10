#!/usr/bin/env bash
# Flows and events on the distributed layout (doc/scale-out.md, "Flows"), on a coordinator and
# two workers: push_distribute renumbers the devices in the coordinator's flow tables (instances,
# tracked events) and locations, and refuses an install with enabled flows (93124); push_track,
# push_track_batch and push_location record events and locations by the device's key (a batch
# naming an unregistered device gets the single node's error); a flow, created or enabled
# again, is refused with 93121 and what it is (the scheduler's advance cannot run there yet:
# tried, "cannot push down this subquery").
set -uo pipefail
. "$(dirname "$0")/lib.sh"
citus_start 56764

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'fl-u' || g)) FROM generate_series(1, 20) g))" >/dev/null || exit 1
# before the layout: a flow with an instance waiting, an event, a location
flow=$(csql "SELECT push_flow_create('shop', '{\"name\": \"welcome\", \"trigger\": {\"event\": \"signup\"},
  \"steps\": [{\"wait\": \"1 day\"}, {\"set\": {\"tags_add\": [\"welcomed\"]}}]}')")
check "a flow on the single node" "$flow" "flw_"
csql "SELECT push_track('shop', 'u1', 'signup', '{}')" >/dev/null
csql "SELECT push_location('shop', 'u2', 22.5, 114.0)" >/dev/null
check_eq "... u1 entered it" "$(csql "SELECT count(*) FROM flow_instances WHERE state = 'waiting'")" "1"

check_eq "93124: enabled flows" "$(err coord "SELECT pushplan.push_distribute()")" \
  "93124: enabled flows do not run on the distributed registry yet"
csql "SELECT push_flow_enable('shop', '$flow', false)" >/dev/null
out=$(csql "SELECT push_distribute()" 2>&1) || { echo "$out"; exit 1; }
ok "push_distribute once the flow is disabled"
check_eq "the flow's instance, the tracked event and the location name the devices' keys" \
  "$(csql "SELECT (SELECT device_id FROM flow_instances) = _device_key(1, 'u1')
             AND (SELECT device_id FROM tracked_events) = _device_key(1, 'u1')
             AND (SELECT device_id FROM device_locations) = _device_key(1, 'u2')")" "t"

# moves by logical replication need a replica identity on events' day partitions, made later too
part=$(csql "SELECT _raw_partition_create('events', current_date + 20)")
check_eq "a day partition of events made on the layout has a replica identity, on its shards too" \
  "$(coord -c "SELECT relreplident FROM pg_class WHERE oid = 'pushplan.$part'::regclass")/$(coord -c "SELECT string_agg(DISTINCT result, ',') FROM run_command_on_placements('pushplan.$part', \$q\$SELECT relreplident FROM pg_class WHERE oid = '%s'::regclass\$q\$)")" "f/f"

# ---- events and locations on the layout -------------------------------------------------------
csql "SELECT push_track('shop', 'u3', 'purchase', '{\"total\": 10}')" >/dev/null \
  && ok "push_track records an event" || fail "push_track"
check_eq "... by the device's key" \
  "$(csql "SELECT count(*) FROM tracked_events WHERE event = 'purchase' AND device_id = _device_key(1, 'u3')")" "1"
check_eq "push_track_batch records a batch (the devices looked up on their shards)" \
  "$(csql "SELECT push_track_batch('shop', '[{\"registration_id\": \"u1\", \"event\": \"view\"}, {\"registration_id\": \"u3\", \"event\": \"view\", \"props\": {\"p\": 1}}]')" 2>&1)" "2"
check_eq "... by the devices' keys" \
  "$(csql "SELECT count(*) FROM tracked_events WHERE event = 'view' AND device_id IN (_device_key(1, 'u1'), _device_key(1, 'u3'))")" "2"
check_eq "... and a device not registered is named" \
  "$(err coord "SELECT pushplan.push_track_batch('shop', '[{\"registration_id\": \"u1\", \"event\": \"view\"}, {\"registration_id\": \"nobody\", \"event\": \"view\"}]')")" \
  "events[1]: 92039: device \"nobody\" is not registered"
csql "SELECT push_location('shop', 'u3', 22.6, 114.1)" >/dev/null && ok "push_location" || fail "push_location"
check_eq "... by the device's key" \
  "$(csql "SELECT count(*) FROM device_locations WHERE device_id = _device_key(1, 'u3')")" "1"

# ---- refused with what it is --------------------------------------------------------------------
check_eq "93121: a flow created" \
  "$(err coord "SELECT pushplan.push_flow_create('shop', '{\"name\": \"w2\", \"trigger\": {\"event\": \"signup\"}, \"steps\": [{\"exit\": true}]}')")" \
  "93121: a flow is not supported on the distributed registry yet"
check_eq "93121: a flow enabled again" \
  "$(err coord "SELECT pushplan.push_flow_enable('shop', '$flow', true)")" \
  "93121: a flow is not supported on the distributed registry yet"
check "... with why, in the hint" \
  "$(coord -c "SET client_min_messages = warning" -c "SELECT pushplan.push_flow_enable('shop', '$flow', true)" 2>&1)" \
  "cannot push down this subquery"
check_eq "93121: an attr_change trigger" \
  "$(err coord "SELECT pushplan.push_flow_create('shop', '{\"name\": \"a\", \"trigger\": {\"attr_change\": {\"attr\": \"city\"}}, \"steps\": [{\"exit\": true}]}')")" \
  "93121: an attr_change trigger is not supported on the distributed registry yet"
check_eq "nothing of the refused calls was stored" \
  "$(csql "SELECT count(*) || ' ' || bool_or(enabled) FROM flows")" "1 false"

finish
