#!/usr/bin/env bash
# Credentials never reach the server log: a failing push_vendor_set (every vendor), push_vendor_test
# or push_outcome_webhook_set (its url may hold a token, its secret signs) writes
# its ERROR line, but not the STATEMENT line that would carry the private key or secret. A
# control statement shows that this server does log failing statements, so the check can fail.
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
port=55410
mkdir -p "$work"
chmod 755 "$work"
db="$work/pg"
trap 'cp "$db/server.log" "$work/server.log" 2>/dev/null; "$top/dev/cluster" destroy "$db"' EXIT
"$top/dev/cluster" start "$db" "$port" "log_min_error_statement = error" || exit 1

sql() { psql -h "$db" -p "$port" -U postgres -X -At -q "$@"; }
checks=0
failures=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }

sql -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pushplan' -c "SELECT pushplan.push_app_create('shop')" >/dev/null || exit 1

# Failing calls, each carrying a marker where a credential goes.
n=0
while IFS= read -r call; do
  n=$((n + 1))
  sql -c "SET search_path = pushplan; $call" >/dev/null 2>"$work/err.$n"
  if grep -q '^ERROR: ' "$work/err.$n"; then ok "call $n fails: $(head -c 90 "$work/err.$n" | head -1)"; else fail "call $n did not fail: $call"; fi
done <<'CALLS'
SELECT push_vendor_set('shop', 'apns', '{"team_id": "T", "key_id": "K", "bundle_id": "b", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET-MARKER-APNS\n-----END PRIVATE KEY-----"}')
SELECT push_vendor_set('shop', 'hms', '{"app_id": "1", "client_secret": "SECRET-MARKER-HMS", "typo": "x"}')
SELECT push_vendor_set('shop', 'webhook', '{"url": "ftp://127.0.0.1/", "secret": "SECRET-MARKER-HOOK"}')
SELECT push_vendor_set('shop', 'fcm', '{"service_account": {"project_id": "p", "client_email": "e", "token_uri": "https://127.0.0.1/t", "private_key": "SECRET-MARKER-FCM"}}')
SELECT push_vendor_set('shop', 'nosuchvendor', '{"secret": "SECRET-MARKER-VENDOR"}')
SELECT push_vendor_set('no_such_app', 'hms', '{"app_id": "1", "client_secret": "SECRET-MARKER-APP"}')
SELECT push_vendor_test('shop', 'hms', 'SECRET-MARKER-TOKEN', '{"body": {"platform": "all", "notification": {"alert": "x"}}}')
SELECT push_vendor_set('shop', 'honor', '{"app_id": "1", "client_id": "c", "client_secret": "SECRET-MARKER-HONOR", "typo": "x"}')
SELECT push_vendor_set('shop', 'oppo', '{"app_key": "k", "master_secret": "SECRET-MARKER-OPPO", "typo": "x"}')
SELECT push_vendor_set('shop', 'vivo', '{"app_id": "1", "app_key": "k", "app_secret": "SECRET-MARKER-VIVO", "typo": "x"}')
SELECT push_vendor_set('shop', 'xiaomi', '{"app_secret": "SECRET-MARKER-XIAOMI", "package_name": "p", "typo": "x"}')
SELECT push_vendor_set('shop', 'meizu', '{"app_id": "1", "app_secret": "SECRET-MARKER-MEIZU", "typo": "x"}')
SELECT push_vendor_set('shop', 'webpush', '{"vapid_public_key": "BAD", "vapid_private_key": "SECRET-MARKER-VAPID", "subject": "mailto:ops@example.com"}')
SELECT push_vendor_set('shop', 'harmony', '{"project_id": "1", "key_id": "k", "sub_account": "2", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET-MARKER-HARMONY\n-----END PRIVATE KEY-----"}')
SELECT push_outcome_webhook_set('shop', '{"url": "ftp://127.0.0.1/SECRET-MARKER-OUTCOME-URL", "secret": "SECRET-MARKER-OUTCOME-0123456789"}')
SELECT push_outcome_webhook_set('shop', '{"url": "https://127.0.0.1/SECRET-MARKER-OUTCOME-URL2", "secret": "SECRET-MARKER-OUTCOME-0123456789", "typo": 1}')
CALLS
sql -c "SELECT 'CONTROL-MARKER'::int" >/dev/null 2>&1

log=$(cat "$db/server.log")
errors=$(grep -c 'ERROR: ' <<<"$log")
[ "$errors" -ge $((n + 1)) ] && ok "the log has the $errors ERROR lines" || fail "the log has $errors ERROR lines, wanted $((n + 1)) or more"
grep -q 'STATEMENT:  SELECT .CONTROL-MARKER.::int' <<<"$log" \
  && ok "a failing statement elsewhere is logged with its STATEMENT line (the check can fail)" \
  || fail "the control statement is not in the log"
leaks=$(grep -c 'SECRET-MARKER' <<<"$log")
[ "$leaks" -eq 0 ] && ok "no credential in the server log" || { fail "credentials in the server log ($leaks lines)"; grep 'SECRET-MARKER' <<<"$log" | head -5; }

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
