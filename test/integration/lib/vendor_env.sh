# Shared set-up of integration tests that send: the mock vendor on loopback with fresh keys and a
# self-signed certificate, and a throwaway cluster that trusts it. Source it, then call
#   vendor_env_start MOCK_PORT PG_PORT [extra postgresql.conf lines...]
# and use: $base (mock URL), $cluster, psql/sql helpers, mock_get PATH, mock_reset,
# configure_vendors APP, engine_outcomes / engine_counts, the check helpers, and finish (prints
# the summary and exits).
# Requires PUSHPLAN_TOP and PUSHPLAN_WORK.
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
. "$top/test/mock_vendor/env.sh"
mkdir -p "$work"
chmod 755 "$work"
cluster=$work/cluster

vendor_env_cleanup() {
  cp "$cluster/server.log" "$work/server.log" 2>/dev/null
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1
  mock_stop
}

vendor_env_start() {
  local mock_port=$1 pg_port=$2
  shift 2
  pgport=$pg_port
  trap vendor_env_cleanup EXIT
  mock_start "$work" "$mock_port" || { echo "mock did not start"; exit 1; }
  base=$mock_base
  "$top/dev/cluster" start "$cluster" $pgport "pushplan.ca_file = '$work/cert.pem'" "$@" \
    || { echo "cluster did not start"; cat "$cluster/server.log"; exit 1; }
}

psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pgport -U postgres -d "${PGDATABASE_TEST:-postgres}" -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "$1"; }
mock_get() { mock_curl "$1"; }
mock_reset() { mock_curl /_mock/reset -X POST >/dev/null; }

# configure_vendors APP: apns, fcm, hms and webhook of APP pointed at the mock
configure_vendors() { mock_vendor_setup "$1" psql >/dev/null; }

# engine_outcomes APP VENDOR TOKENS PUSH: "outcome:error" of each token (TOKENS: a text[]
# expression), in order, through one engine; engine_counts: "outcome:error=count" of each kind
engine_outcomes() {
  sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('$1', '$2', $3, '$4'::jsonb) r"
}
engine_counts() {
  sql "SELECT string_agg(o || '=' || n, ',' ORDER BY o) FROM (SELECT r->>'outcome' || ':' || coalesce(r->>'error', '') o, count(*) n FROM _engine_send_many('$1', '$2', $3, '$4'::jsonb) r GROUP BY 1) x"
}

failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: wanted '$3', got '$2'"; fi; }
check() { if [[ "$2" == *"$3"* ]]; then ok "$1"; else fail "$1: wanted '$3' in: $2"; fi; }

# hold_task_key_share TASK UNTIL_SQL: another session, in the background, holds a key-share lock
# on TASK's row (as a sender's foreign-key check does while it writes the task's deliveries)
# until UNTIL_SQL reads true or 30 s pass (not a fixed time: wait_for counts its looks, each a
# psql, not seconds, so a fixed lock could end first); $holder is its pid, to wait for
hold_task_key_share() {
  psql -c "BEGIN" -c "SELECT 1 FROM pushplan.tasks WHERE task_id = '$1' FOR KEY SHARE" \
    -c "DO \$\$ BEGIN FOR i IN 1..300 LOOP EXIT WHEN ($2); PERFORM pg_sleep(0.1); END LOOP; END \$\$" \
    -c "COMMIT" >/dev/null &
  holder=$!
}

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
