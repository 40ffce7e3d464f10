#!/usr/bin/env bash
# Vendor access tokens shared across the nodes (doc/scale-out.md, "Vendor tokens"), on a
# coordinator and two workers with the mock vendor: the node that fetches an FCM token writes
# it to pushplan.vendor_tokens (a reference table), and the other node's senders take it from
# there instead of fetching their own. A push to a device of the first worker node only, then a
# broadcast to both: one fetch from the token endpoint for the whole cluster (each node fetched
# its own before); the second node's cache holds the first one's token before the broadcast;
# the shared row is keyed by a hash, never the credential.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
send_env 56740 56735

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
mock_vendor_setup shop coord >/dev/null || exit 1
csql "SELECT push_distribute()" >/dev/null || exit 1
for node in coord worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
wait_for 30 "SELECT (SELECT count(*) FROM run_command_on_workers(\$q\$SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'\$q\$) WHERE result = '2') = 2" \
  && ok "two senders run on each worker node" || fail "senders did not start"
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'r' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'tk-' || g)) FROM generate_series(1, 200) g))" >/dev/null

# a device whose shard is on the first worker node (the devices' keys read first, then placed)
w1=$(csql "WITH d AS MATERIALIZED (SELECT device_id, registration_id FROM devices)
  SELECT d.registration_id FROM d
  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('pushplan.devices', d.device_id)
  JOIN pg_dist_node n ON n.groupid = p.groupid
  WHERE n.nodeport = $((coord_port + 1)) ORDER BY 1 LIMIT 1")
check "a device on the first worker node" "$w1" "r"

mock_curl /_mock/reset -X POST >/dev/null
one=$(csql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"$w1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"one\"}}}')")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$one'" \
  && ok "a push to one device of the first worker node sent" || fail "the one push: $(csql "SELECT state FROM tasks WHERE task_id = '$one'")"
check_eq "its node fetched a token" "$(mock_curl /_mock/stats | jq .endpoints.fcm_token)" "1"
wait_for 20 "SELECT count(*) = 1 FROM vendor_tokens" \
  && ok "the first worker node shared it" || fail "vendor_tokens: $(csql "SELECT count(*) FROM vendor_tokens")"
check "the shared row is keyed by the credential's hash, never the credential" \
  "$(csql "SELECT key FROM vendor_tokens")" "fcm:"
check_eq "... and not by its private key or client email" \
  "$(csql "SELECT count(*) FROM vendor_tokens v, vendor_configs c WHERE strpos(v.key, c.config->>'client_email') > 0 OR strpos(v.key, 'PRIVATE') > 0")" "0"
check_eq "every node has the row (a reference table)" \
  "$(coord -c "SELECT string_agg(result, ',') FROM run_command_on_workers('SELECT count(*) FROM pushplan.vendor_tokens')")" "1,1"

# the second worker node's senders take it within a second or so (before a claim, idle or not):
# its cache, read there (pushplan_test's _auth_token_peek), holds the shared token
coord -c "CREATE EXTENSION IF NOT EXISTS pushplan_test" >/dev/null 2>&1
shared=$(csql "SELECT token FROM vendor_tokens")
for ((i = 0; i < 50; i++)); do
  [ "$(worker2 -c "SELECT pushplan._auth_token_peek('fcm', (SELECT config FROM pushplan.vendor_configs WHERE vendor = 'fcm'))->>'token'")" = "$shared" ] && break
  sleep 0.2
done
check_eq "the second worker node took it into its cache" \
  "$(worker2 -c "SELECT pushplan._auth_token_peek('fcm', (SELECT config FROM pushplan.vendor_configs WHERE vendor = 'fcm'))->>'token' = '$shared'")" "t"

all=$(csql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"all\"}}}')")
wait_for 120 "SELECT state = 'done' FROM tasks WHERE task_id = '$all'" \
  && ok "a broadcast on both worker nodes finished" || fail "broadcast: $(csql "SELECT state FROM tasks WHERE task_id = '$all'")"
check_eq "every delivery sent" "$(csql "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM deliveries WHERE task_id = '$all'")" "200/200"
check_eq "both worker nodes sent" "$(sent_per_node "$all" | wc -w)" "2"
check_eq "the cluster fetched one token in all: the second node took the first one's" \
  "$(mock_curl /_mock/stats | jq .endpoints.fcm_token)" "1"
check_eq "the vendor got every send" \
  "$(mock_curl /_mock/stats | jq '.endpoints.fcm')" "201"
finish
