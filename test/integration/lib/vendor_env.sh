# Shared set-up of integration tests that send: the mock vendor on loopback with fresh keys and a
# self-signed certificate, and a throwaway cluster that trusts it. Source it, then call
#   vendor_env_start MOCK_PORT PG_PORT [extra postgresql.conf lines...]
# and use: $base (mock URL), $cluster, psql/sql helpers, mock_get PATH, mock_reset,
# configure_vendors APP, the check helpers, and finish (prints the summary and exits).
# Requires PUSHPLAN_TOP and PUSHPLAN_WORK.
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
mock_dir=$top/test/mock_vendor
mkdir -p "$work"
chmod 755 "$work"
mock_pid=
cluster=$work/cluster

vendor_env_cleanup() {
  cp "$cluster/server.log" "$work/server.log" 2>/dev/null
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1
  [ -n "$mock_pid" ] && { kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null; }
}

vendor_env_start() {
  local mock_port=$1 pg_port=$2
  shift 2
  base=https://127.0.0.1:$mock_port
  pgport=$pg_port
  make -s -C "$mock_dir" >/dev/null || { echo "mock build failed"; exit 1; }
  "$mock_dir/make-cert.sh" "$work" >/dev/null
  chmod 644 "$work"/*.pem
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -out "$work/apns.p8"
  openssl pkey -in "$work/apns.p8" -pubout -out "$work/apns.pub.pem"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/fcm.key" 2>/dev/null
  openssl pkey -in "$work/fcm.key" -pubout -out "$work/fcm.pub.pem"
  cat > "$work/mock.conf" <<CONF
apns_team_id = TEAM123456
apns_key = KEY1234567 apns.pub.pem
apns_bundle_id = com.example.app
fcm_project_id = mock-project
fcm_client_email = sa@mock-project.iam.gserviceaccount.com
fcm_public_key = fcm.pub.pem
fcm_token_uri = $base/token
hms_app_id = 100200300
hms_client_secret = hms-secret
webhook_secret = wh-secret
CONF
  (cd "$work" && exec "$mock_dir/mock_vendor" --listen 127.0.0.1:$mock_port --cert cert.pem \
     --key key.pem --config mock.conf --pid-file mock.pid > mock.out 2> mock.err) &
  mock_pid=$!
  trap vendor_env_cleanup EXIT
  for _ in $(seq 300); do
    grep -q '^ready$' "$work/mock.out" 2>/dev/null && break
    kill -0 $mock_pid 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^ready$' "$work/mock.out" || { echo "mock did not start"; cat "$work/mock.err"; exit 1; }
  "$top/dev/cluster" start "$cluster" $pgport "pushplan.ca_file = '$work/cert.pem'" "$@" \
    || { echo "cluster did not start"; cat "$cluster/server.log"; exit 1; }
}

psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pgport -U postgres -d "${PGDATABASE_TEST:-postgres}" -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "$1"; }
mock_get() { curl -s --max-time 10 --cacert "$work/cert.pem" "$base$1"; }
mock_reset() { curl -s --max-time 10 --cacert "$work/cert.pem" -X POST "$base/_mock/reset" >/dev/null; }

# configure_vendors APP: apns, fcm, hms and webhook (/webhook/APP) of APP pointed at the mock
configure_vendors() {
  psql -v app="$1" -v key="$(cat "$work/apns.p8")" -v fcmkey="$(cat "$work/fcm.key")" -v base="$base" <<'SQL' >/dev/null
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'apns', jsonb_build_object('team_id', 'TEAM123456', 'key_id', 'KEY1234567',
    'bundle_id', 'com.example.app', 'private_key', :'key', 'endpoint', :'base'));
SELECT push_vendor_set(:'app', 'fcm', jsonb_build_object('service_account', jsonb_build_object(
    'type', 'service_account', 'project_id', 'mock-project',
    'client_email', 'sa@mock-project.iam.gserviceaccount.com', 'private_key', :'fcmkey',
    'token_uri', :'base' || '/token'), 'endpoint', :'base'));
SELECT push_vendor_set(:'app', 'hms', jsonb_build_object('app_id', '100200300', 'client_secret', 'hms-secret',
    'endpoint', :'base', 'token_endpoint', :'base' || '/oauth2/v3/token'));
SELECT push_vendor_set(:'app', 'webhook', jsonb_build_object('url', :'base' || '/webhook/' || :'app', 'secret', 'wh-secret'));
SQL
}

failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: wanted '$3', got '$2'"; fi; }
check() { if [[ "$2" == *"$3"* ]]; then ok "$1"; else fail "$1: wanted '$3' in: $2"; fi; }

# wait_for SECONDS SQL: polls (every 0.1 s, bounded) until SQL returns t
wait_for() {
  local limit=$(( $1 * 10 )) i
  for ((i = 0; i < limit; i++)); do
    [ "$(sql "$2")" = "t" ] && return 0
    sleep 0.1
  done
  return 1
}

finish() {
  echo "$checks checks, $failures failed"
  [ "$failures" -eq 0 ]
  exit $?
}
