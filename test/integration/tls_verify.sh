#!/usr/bin/env bash
# TLS verification of every outbound handle (doc/security.md, "TLS"): the engine's requests
# (push_vendor_test; the senders use the same handles), its blocking token fetches (hms: OAuth)
# and the scheduler's outcome webhook posts all check the server's certificate and name. With
# the mock's CA in pushplan.ca_file they go; with another CA, or the system CAs (which do not
# know the mock's self-signed certificate), each fails with libcurl's certificate error and
# nothing reaches the mock. There is no setting that
# turns verification off: tests trust their mock's CA with pushplan.ca_file.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55991 55992 "pushplan.databases = 'postgres'" "pushplan.poll_interval = 200" \
  "pushplan.http_timeout = 3000" "pushplan.outcome_batch_wait = 200" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
push='{"body": {"platform": "all", "notification": {"alert": "x"}}}'
vt() { sql "SELECT r->>'outcome' || ':' || coalesce(r->>'error', '') FROM push_vendor_test('shop', '$1', '$2', '$push') r"; }
set_ca() {
  psql -c "ALTER SYSTEM SET pushplan.ca_file = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1   # the workers read the new value at their next wake-up
}
vendor_requests() { mock_get /_mock/stats | jq '.requests'; }

# ---- trusted: the mock's own CA -------------------------------------------------------------
check "webhook vendor, the mock's CA" "$(vt webhook wh-ok-1)" "sent:"
check "hms (an OAuth token fetched, then the send), the mock's CA" "$(vt hms hms-ok-1)" "sent:"

# ---- another CA: a self-signed certificate the mock does not have ----------------------------
"$top/test/mock_vendor/make-cert.sh" "$work/other" >/dev/null && chmod 644 "$work/other/cert.pem"
set_ca "$work/other/cert.pem"
mock_reset
before=$(vendor_requests)
check "webhook vendor, another CA" "$(vt webhook wh-ok-2)" "certificate"
check_eq "... not sent" "$(vt webhook wh-ok-2 | cut -d: -f1)" "retry"
# credentials with no token cached yet: the send needs a token fetch first, which fails
sql "SELECT push_vendor_set('shop', 'hms', jsonb_build_object('app_id', '100200301', 'client_secret', 'hms-secret',
    'endpoint', '$base', 'token_endpoint', '$base/oauth2/v3/token'))" >/dev/null
check "hms token fetch, another CA" "$(vt hms hms-ok-2)" "token endpoint"
check "... for the certificate" "$(vt hms hms-ok-2)" "certificate"
check_eq "the mock answered no vendor request" "$(vendor_requests)" "$before"

# ---- the system CAs (ca_file empty) do not know the mock's certificate -------------------------
set_ca ''
check "webhook vendor, the system CAs" "$(vt webhook wh-ok-3)" "certificate"

set_ca "$work/cert.pem"
check "the mock's CA again: sent" "$(vt webhook wh-ok-4)" "sent:"

# ---- the outcome webhook's handle (the scheduler) ---------------------------------------------
# a device without credentials (xiaomi) fails as its delivery is made: a final outcome with no
# vendor request, posted to the receiver by the scheduler
sql "SELECT push_device_register('shop', 'mi-1', 'android', 'xiaomi', 'mi-1')" >/dev/null
sql "SELECT push_outcome_webhook_set('shop', jsonb_build_object('url', '$base/outcomes/tls', 'secret', 'outcomes-secret-0123456789'))" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'" \
  && ok "the scheduler runs" || fail "no scheduler"
set_ca "$work/other/cert.pem"
mock_reset
sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"mi-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}')" >/dev/null
wait_for 30 "SELECT batch_last_error LIKE '%certificate%' FROM push_outcome_webhooks WHERE app = 'shop'" \
  && ok "outcome batch, another CA: refused for its certificate" \
  || fail "outcome batch: $(sql "SELECT batch_attempts, batch_last_error FROM push_outcome_webhooks")"
check_eq "... and the receiver got nothing" "$(mock_get "/_mock/outcomes?name=tls" | jq '.requests | length')" "0"
set_ca "$work/cert.pem"
wait_for 30 "SELECT batch_id IS NULL AND waiting = 0 FROM push_outcome_webhooks WHERE app = 'shop'" \
  && ok "the mock's CA again: the same batch is posted" \
  || fail "outcome batch: $(sql "SELECT batch_attempts, batch_last_error FROM push_outcome_webhooks")"
check_eq "... once, with its one outcome" "$(mock_get "/_mock/outcomes?name=tls" | jq '[.requests[] | select(.status == 200)] | length')" "1"
# what was logged on the way names no credential and no receiver URL
check_eq "no secret or receiver URL in the server log" \
  "$(grep -cE 'outcomes-secret|hms-secret|wh-secret|/outcomes/tls' "$cluster/server.log")" "0"
finish
