#!/usr/bin/env bash
# Flows and events on the distributed layout (doc/scale-out.md, "Flows"), on a coordinator and
# two workers with the mock vendor: push_distribute renumbers the devices in the coordinator's
# flow tables (instances, tracked events) and locations, an enabled flow included, whose waiting
# instance then goes on on the layout; push_track, push_track_batch and push_location record
# events and locations by the device's key (a batch naming an unregistered device gets the
# single node's error); a flow created on the layout runs there: its set step writes
# attributes and tags on the devices' shards, its branch reads them, its sends are sent by the
# worker nodes' senders, each once, a wait_until's event and its timeout take their paths, an
# exit event ends an instance (its sends' cancellation planned on the shards); push_flows and
# push_flow_runs read it; an attr_change trigger enters the devices whose attribute a batch or
# push_attr_set changes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
send_env 56774 56764

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
mock_vendor_setup shop coord >/dev/null || exit 1
coord -c "CREATE EXTENSION pushplan_test" >/dev/null || exit 1
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'fl-u' || g)) FROM generate_series(1, 20) g))" >/dev/null || exit 1
# before the layout: a flow with an instance waiting, an event, a location
flow=$(csql "SELECT push_flow_create('shop', '{\"name\": \"welcome\", \"trigger\": {\"event\": \"signup\"},
  \"steps\": [{\"wait\": \"1 day\"}, {\"set\": {\"tags_add\": [\"welcomed\"]}}]}')")
check "a flow on the single node" "$flow" "flw_"
csql "SELECT push_track('shop', 'u1', 'signup', '{}')" >/dev/null
csql "SELECT push_location('shop', 'u2', 22.5, 114.0)" >/dev/null
check_eq "... u1 entered it" "$(csql "SELECT count(*) FROM flow_instances WHERE state = 'waiting'")" "1"

out=$(csql "SELECT push_distribute()" 2>&1) || { echo "$out"; exit 1; }
ok "push_distribute with the flow enabled"
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

# ---- flows run on the layout: the coordinator's scheduler advances them ----------------------------
for node in coord worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
wait_for 30 "SELECT (SELECT count(*) FROM run_command_on_workers(\$q\$SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'\$q\$) WHERE result = '2') = 2" \
  && ok "two senders run on each worker node" || fail "senders not running on the worker nodes"
clocks() { for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(${1})" >/dev/null; done; }
tagged() {  # the registration ids of shop's devices with tag $1
  csql "SELECT string_agg(v.registration_id, ' ' ORDER BY v.registration_id) FROM devices v
        JOIN device_tags dt USING (device_id) JOIN tags g USING (tag_id) WHERE g.tag = '$1'"
}

# the flow made on one node: u1's wait of a day ends (every node's clock a day on), its set step
# tags the device on its shard
clocks "now() + interval '1 day 1 minute'"
wait_for 30 "SELECT state = 'done' FROM flow_instances WHERE flow_id = '$flow'" \
  && ok "the instance entered on one node goes on on the layout (its wait ended, its set step taken)" \
  || fail "welcome: $(csql "SELECT step_id, state, next_at FROM flow_instances WHERE flow_id = '$flow'")"
check_eq "... u1 tagged on its shard" "$(tagged welcomed)" "u1"
clocks NULL

# a flow created on the layout
cart=$(csql "SELECT push_flow_create('shop', '{\"name\": \"cart\", \"trigger\": {\"event\": \"cart_add\"},
  \"steps\": [{\"set\": {\"attrs\": {\"stage\": \"cart\"}, \"tags_add\": [\"carted\"]}},
              {\"branch\": [{\"if\": {\"tag\": \"carted\"}, \"then\": [{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"your cart\"}}}}]}],
               \"else\": [{\"exit\": true}]},
              {\"wait_until\": {\"event\": \"purchase\", \"timeout\": \"1 hour\"},
               \"on_event\": [{\"set\": {\"tags_remove\": [\"carted\"]}}],
               \"on_timeout\": [{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"still there?\"}}}}]}],
  \"exit\": {\"event\": \"refund\"}}')" 2>&1)
check "a flow is created on the layout" "$cart" "flw_"
mock_curl /_mock/reset -X POST >/dev/null
check_eq "push_track_batch: six carts (u5..u10) enter it" \
  "$(csql "SELECT push_track_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || g, 'event', 'cart_add')) FROM generate_series(5, 10) g))" 2>&1)" "6"
wait_for 30 "SELECT count(*) = 6 FROM flow_instances WHERE flow_id = '$cart' AND state = 'waiting' AND step_started_at IS NOT NULL" \
  && ok "... each set, branched and waiting for a purchase" \
  || fail "cart: $(csql "SELECT step_id, state, count(*) FROM flow_instances WHERE flow_id = '$cart' GROUP BY 1, 2" 2>&1)"
check_eq "... the set step wrote the attribute on the devices' shards" \
  "$(csql "SELECT count(*) FROM devices WHERE attrs->>'stage' = 'cart'")" "6"
check_eq "... and the tag" "$(tagged carted)" "u10 u5 u6 u7 u8 u9"
wait_for 30 "SELECT count(*) = 6 AND bool_and(d.status = 'sent') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$cart'" \
  && ok "... the branch's send sent by the worker nodes (the tag held)" \
  || fail "cart sends: $(csql "SELECT d.status, count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$cart' GROUP BY 1" 2>&1)"
check_eq "... each of the six once (tokens, requests, max, min)" "$(token_counts fl-u)" "6 6 1 1"
csql "SELECT push_track('shop', 'u5', 'purchase'), push_track('shop', 'u6', 'purchase')" >/dev/null
wait_for 30 "SELECT count(*) = 2 FROM flow_instances WHERE flow_id = '$cart' AND state = 'done'" \
  && ok "a purchase takes the wait's event path: its set step removes the tag, the instance completes" \
  || fail "purchase: $(csql "SELECT step_id, state, count(*) FROM flow_instances WHERE flow_id = '$cart' GROUP BY 1, 2" 2>&1)"
check_eq "... the tag gone from u5 and u6" "$(tagged carted)" "u10 u7 u8 u9"
check_eq "the exit event ends u7's instance (its flow's sends cancelled where still queued)" \
  "$(csql "SELECT push_track('shop', 'u7', 'refund')" >/dev/null 2>&1; csql "SELECT i.state || ' ' || i.exit_reason FROM flow_instances i WHERE i.flow_id = '$cart' AND i.device_id = _device_key(1, 'u7')")" \
  "exited exit event \"refund\""
clocks "now() + interval '1 hour 1 minute'"
wait_for 30 "SELECT count(*) = 3 FROM flow_instances WHERE flow_id = '$cart' AND state = 'done' AND exit_reason = 'completed'
             AND device_id NOT IN (_device_key(1, 'u5'), _device_key(1, 'u6'))" \
  && ok "the others' wait times out (every node's clock an hour on): the timeout path's send" \
  || fail "timeout: $(csql "SELECT step_id, state, exit_reason, count(*) FROM flow_instances WHERE flow_id = '$cart' GROUP BY 1, 2, 3" 2>&1)"
wait_for 30 "SELECT count(*) = 9 AND bool_and(d.status = 'sent') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$cart'" \
  && ok "... sent by the worker nodes" \
  || fail "timeout sends: $(csql "SELECT d.status, count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$cart' GROUP BY 1" 2>&1)"
check_eq "... u8, u9 and u10 twice, the others once (requests per token)" \
  "$(mock_curl /_mock/stats | jq -r '[.tokens | to_entries[] | select(.key | startswith("fl-u")) | "\(.key)=\(.value.requests)"] | sort | join(" ")')" \
  "fl-u10=2 fl-u5=1 fl-u6=1 fl-u7=1 fl-u8=2 fl-u9=2"
clocks NULL
check_eq "push_flows reads the flow on the layout (running, entered)" \
  "$(csql "SELECT running || ' ' || entered FROM push_flows WHERE flow_id = '$cart'" 2>&1)" "0 6"
check_eq "push_flow_runs reads its runs, with the devices' registration ids" \
  "$(csql "SELECT string_agg(registration_id || '=' || state, ' ' ORDER BY registration_id) FROM push_flow_runs WHERE flow_id = '$cart'" 2>&1)" \
  "u10=done u5=done u6=done u7=exited u8=done u9=done"

# a flow's own frequency cap, read by the worker nodes' gates (flow_controls, a reference table)
capf=$(csql "SELECT push_flow_create('shop', '{\"name\": \"capped\", \"trigger\": {\"event\": \"nudge\"}, \"reentry\": \"0\",
  \"frequency_cap\": {\"per_day\": 1},
  \"steps\": [{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"nudge\"}}}}]}')" 2>&1)
check "a flow with its own frequency cap" "$capf" "flw_"
sleep 11   # (the senders cache whether an app's plan has controls for 10 s)
csql "SELECT push_track('shop', 'u11', 'nudge')" >/dev/null
wait_for 30 "SELECT count(*) = 1 AND bool_and(d.status = 'sent') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$capf'" \
  && ok "... its first send to u11 sent" || fail "capped, first: $(csql "SELECT d.status, d.error FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$capf'" 2>&1)"
csql "SELECT push_track('shop', 'u11', 'nudge')" >/dev/null
wait_for 30 "SELECT count(*) = 2 AND count(*) FILTER (WHERE d.status = 'suppressed' AND d.error = 'capped') = 1 FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$capf'" \
  && ok "... its second the same day held back by the cap on the worker node of u11's shard" \
  || fail "capped, second: $(csql "SELECT string_agg(d.status || ':' || coalesce(d.error, '-'), ' ') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$capf'" 2>&1)"
check_eq "push_flow_delete: the flow's versions and steps go with it (the coordinator's tables keep their keys)" \
  "$(csql "SELECT push_flow_delete('shop', '$cart')" >/dev/null 2>&1; csql "SELECT (SELECT count(*) FROM flows WHERE flow_id = '$cart') + (SELECT count(*) FROM flow_versions WHERE flow_id = '$cart')
                 + (SELECT count(*) FROM flow_steps WHERE flow_id = '$cart')")" "0"

# ---- an attr_change trigger: registration compares the attributes with those it replaces -------
# (a batch locks its devices' rows shard by shard; push_attr_set on the device's node)
pro=$(csql "SELECT push_flow_create('shop', '{\"name\": \"pro\", \"trigger\": {\"attr_change\": {\"attr\": \"plan\", \"to\": \"pro\"}},
  \"steps\": [{\"set\": {\"tags_add\": [\"pro_user\"]}}]}')" 2>&1)
check "a flow with an attr_change trigger is created on the layout" "$pro" "flw_"
batch_pro() {  # registration ids u$1..u$2 with plan $3, their own tokens kept
  csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || g,
          'platform', 'android', 'vendor', 'fcm', 'token', 'fl-u' || g, 'attrs', jsonb_build_object('plan', '$3')))
          FROM generate_series($1, $2) g))" >/dev/null
}
batch_pro 12 13 pro
csql "SELECT push_attr_set('shop', 'u14', '{\"plan\": \"pro\"}')" >/dev/null
check_eq "... a batch's devices whose plan became pro, and push_attr_set's, enter it" \
  "$(csql "SELECT string_agg(v.registration_id, ' ' ORDER BY v.registration_id) FROM flow_instances i JOIN devices v USING (device_id) WHERE i.flow_id = '$pro'")" \
  "u12 u13 u14"
wait_for 30 "SELECT count(*) = 3 FROM flow_instances WHERE flow_id = '$pro' AND state = 'done'" \
  && ok "... and run its steps" || fail "pro: $(csql "SELECT state, count(*) FROM flow_instances WHERE flow_id = '$pro' GROUP BY 1")"
check_eq "... tagged on their shards" "$(tagged pro_user)" "u12 u13 u14"
batch_pro 12 15 pro
check_eq "a batch again: only u15, whose plan changed, enters" \
  "$(csql "SELECT string_agg(v.registration_id, ' ' ORDER BY v.registration_id) FROM flow_instances i JOIN devices v USING (device_id) WHERE i.flow_id = '$pro'")" \
  "u12 u13 u14 u15"

finish
