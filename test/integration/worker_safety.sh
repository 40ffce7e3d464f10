#!/usr/bin/env bash
# The background workers never call a function or operator planted in public. They connect as
# the bootstrap superuser, so one such call would make its planter superuser. Two attackers:
#  - mallory owns the database (PostgreSQL 15 lets a database's owner create in public) and
#    plants operators that are exact matches where pg_catalog has only inexact ones:
#    *(integer, interval) and *(bigint, interval) (big_push_duration's spread in the expansion),
#    /(interval, bigint);
#  - eve holds no pushplan role at all; public is open to everyone (the pre-15 default,
#    GRANT CREATE ON SCHEMA public TO PUBLIC) and she plants format(text, text) (the "vendor not
#    configured" message of the expansion) and exact-typed unnest overloads (the senders' outcome
#    statements).
# Every plant records its call in a side table and tries ALTER ROLE ... SUPERUSER. The database's
# and the superuser's own search_path are set to put public first. Then every worker statement
# path runs: expansion (spread, tag audience, a vendor not configured), sends, an invalid token, a
# retry, a sender killed and restarted, the scheduler's upkeep. Nothing planted may run.
#
# Behind the pinned path, the workers do their work as the NOLOGIN role pushplan_worker, not as
# the superuser they connect as. Statement triggers (a fixture of this test, on the tables only
# the workers write here) record current_user and session_user for every worker statement: the
# check fails if any of them ran as the superuser (as it would without the switch in
# pp_work_begin). Then the role's grants are shown to be in force (one revoked, the expansion
# that needs it fails with a permission error; a superuser would not notice), and with the role
# dropped the workers warn once each and send nothing, until push_worker_grants() re-creates it.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55350 55351 "pushplan.databases = 'victim'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 200" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1"
export PGDATABASE_TEST=victim
as() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pgport -U "$1" -d victim -At -c "$2"; }

PGDATABASE_TEST=postgres psql -c "CREATE ROLE mallory LOGIN" -c "CREATE ROLE eve LOGIN" \
  -c "CREATE DATABASE victim OWNER mallory" || exit 1
psql -c "CREATE EXTENSION pushplan" -c "GRANT CREATE ON SCHEMA public TO PUBLIC" || exit 1
as mallory "CREATE TABLE public.hits (who text, fn text, at timestamptz DEFAULT now());
            GRANT INSERT, SELECT ON public.hits TO PUBLIC" || exit 1

# plant NAME ARGS RETURNS BODY-EXPR: a function that records its call, tries to escalate, and
# returns what the real one would
plant() {
  local who=$1 name=$2 args=$3 ret=$4 body=$5
  as "$who" "CREATE FUNCTION public.$name($args) RETURNS $ret LANGUAGE plpgsql AS \$f\$
    BEGIN
      INSERT INTO public.hits (who, fn) VALUES (current_user, '$name($args)');
      BEGIN EXECUTE 'ALTER ROLE $who SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
      $body
    END \$f\$" || { echo "planting $name failed"; exit 1; }
}
plant mallory evil_mul_i4 "a integer, b interval" interval "RETURN b * a::float8;"
plant mallory evil_mul_i8 "a bigint, b interval" interval "RETURN b * a::float8;"
plant mallory evil_div_i8 "a interval, b bigint" interval "RETURN a / b::float8;"
as mallory "CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = public.evil_mul_i4);
            CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = public.evil_mul_i8);
            CREATE OPERATOR public./ (LEFTARG = interval, RIGHTARG = bigint, FUNCTION = public.evil_div_i8)" || exit 1
plant eve format "f text, a text" text "RETURN pg_catalog.format(f, a);"
plant eve unnest "a bigint[], b text[]" "TABLE(x bigint, y text)" "RETURN QUERY SELECT * FROM pg_catalog.unnest(a, b);"
plant eve unnest "a bigint[], b text[], c integer[], d text[], e text[], f timestamptz[], g text[]" \
  "TABLE(a1 bigint, b1 text, c1 integer, d1 text, e1 text, f1 timestamptz, g1 text)" \
  "RETURN QUERY SELECT * FROM pg_catalog.unnest(a, b, c, d, e, f, g);"
check_eq "the plants are in place" "$(as eve "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace")" "6"
# the control: a plain session with public first does call them (so this test can fail)
check_eq "a session with public first resolves to the plants" \
  "$(as eve "SET search_path = public, pg_catalog; SELECT (2 * interval '1 minute')::text, format('%s', 'x')")" "00:02:00|x"
psql -c "DELETE FROM public.hits" >/dev/null

# public first for the database and for the superuser the workers connect as; restart the workers
as mallory "ALTER DATABASE victim SET search_path = public, pg_catalog" || exit 1
psql -c "ALTER ROLE postgres IN DATABASE victim SET search_path = public, pg_catalog" >/dev/null
psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'victim' AND backend_type LIKE 'pushplan%'" >/dev/null
sleep 1
wait_for 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = 'victim' AND backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "workers restarted with the new settings" || fail "workers did not come back"

sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_device_register_batch('shop', jsonb_build_array(
  jsonb_build_object('registration_id', 'ios-1', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-ios-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'ios-gone', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-unregistered-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'ios-busy', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-throttle1-a', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'and-1', 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'oppo-1', 'platform', 'android', 'vendor', 'oppo', 'token', 'oppo-1', 'tags', jsonb_build_array('vip'))))" >/dev/null

# the probe: who runs each statement on the tables that only the workers write during this test
psql -c "CREATE SCHEMA probe" \
  -c "CREATE TABLE probe.seen (tbl text, op text, cu name, su name)" \
  -c "GRANT USAGE ON SCHEMA probe TO pushplan_worker" -c "GRANT INSERT ON probe.seen TO pushplan_worker" \
  -c "CREATE FUNCTION probe.saw() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN INSERT INTO probe.seen VALUES (TG_TABLE_NAME, TG_OP, current_user, session_user); RETURN NULL; END \$\$" \
  -c "CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON pushplan.deliveries FOR EACH STATEMENT EXECUTE FUNCTION probe.saw()" \
  -c "CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON pushplan.delivery_queue FOR EACH STATEMENT EXECUTE FUNCTION probe.saw()" \
  -c "CREATE TRIGGER probe AFTER UPDATE ON pushplan.tasks FOR EACH STATEMENT EXECUTE FUNCTION probe.saw()" \
  -c "CREATE TRIGGER probe AFTER UPDATE ON pushplan.devices FOR EACH STATEMENT EXECUTE FUNCTION probe.saw()" \
  >/dev/null || exit 1

# a transactional push: sends, an invalid token, a retry; and a broadcast spread over a minute
mock_reset
t1=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\", \"ios-gone\", \"ios-busy\", \"and-1\", \"oppo-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"hello\"}}}')")
t2=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"vip\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"spread\"}, \"options\": {\"big_push_duration\": 1}}}')")
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$t1'" && ok "the transactional push is done" \
  || fail "transactional push: $(sql "SELECT string_agg(status || ':' || coalesce(error, ''), ' ') FROM deliveries WHERE task_id = '$t1'")"
check_eq "its outcomes" "$(sql "SELECT string_agg(v.registration_id || '=' || d.status || '/' || d.attempts, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$t1'")" \
  "and-1=sent/1 ios-1=sent/1 ios-busy=sent/2 ios-gone=invalid_token/1 oppo-1=failed/0"
check_eq "the vendor saw the retried one twice" "$(mock_get /_mock/stats | jq '.tokens["test-throttle1-a"].requests')" "2"
wait_for 20 "SELECT expanded FROM tasks WHERE task_id = '$t2'" && ok "the broadcast is expanded" || fail "broadcast not expanded"
check_eq "... its sends spread over the minute" "$(sql "SELECT max(send_at) - min(send_at) > interval '20 seconds' FROM deliveries WHERE task_id = '$t2'")" "t"

# a sender killed mid-task comes back and requeues its claims; the scheduler's upkeep runs
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'victim' AND backend_type = 'pushplan sender'" >/dev/null
sleep 1
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'victim' AND backend_type = 'pushplan sender'" \
  && ok "the sender is back" || fail "the sender did not come back"
wait_for 90 "SELECT state = 'done' FROM tasks WHERE task_id = '$t2'" && ok "the broadcast is done" \
  || fail "broadcast: $(sql "SELECT string_agg(status, ' ') FROM deliveries WHERE task_id = '$t2'")"

# every worker statement ran as pushplan_worker, in a session that is still the superuser's
check_eq "the workers' statements all ran as pushplan_worker" \
  "$(psql -c "SELECT string_agg(DISTINCT cu || ' in a session of ' || su, ', ') FROM probe.seen")" \
  "pushplan_worker in a session of postgres"
check_eq "... the scheduler's and the senders' (expansion, claims, outcomes, invalid tokens, upkeep)" \
  "$(psql -c "SELECT string_agg(DISTINCT tbl || ':' || op, ' ') FROM probe.seen")" \
  "deliveries:INSERT deliveries:UPDATE delivery_queue:DELETE delivery_queue:INSERT delivery_queue:UPDATE devices:UPDATE tasks:UPDATE"
psql -c "DROP SCHEMA probe CASCADE" >/dev/null 2>&1

# the grants are in force: without SELECT on device_tags a tag audience cannot be expanded
sql "SELECT push_app_set('shop', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
psql -c "REVOKE SELECT ON pushplan.device_tags FROM pushplan_worker" >/dev/null
t3=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"vip\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"denied\"}}}')")
wait_for 20 "SELECT state = 'failed' FROM tasks WHERE task_id = '$t3'" && ok "a revoked grant fails the expansion" \
  || fail "revoked grant: $(sql "SELECT state || ' ' || coalesce(error, '') FROM tasks WHERE task_id = '$t3'")"
check "... with a permission error" "$(sql "SELECT error FROM tasks WHERE task_id = '$t3'")" "permission denied for table device_tags"
psql -c "SELECT pushplan.push_worker_grants()" >/dev/null

# the role dropped: each worker warns once and does nothing; re-created, the work resumes
warning='role "pushplan_worker" does not exist: this worker does no work until it does'
sent_before=$(mock_get /_mock/stats | jq '.tokens["test-ios-1"].requests')
psql -c "DROP OWNED BY pushplan_worker" -c "DROP ROLE pushplan_worker" >/dev/null || fail "could not drop the role"
t4=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"no role\"}}}')")
for i in $(seq 100); do [ "$(grep -c "$warning" "$cluster/server.log")" -ge 2 ] && break; sleep 0.1; done
sleep 3                                    # fifteen poll intervals
check_eq "without the role the scheduler and the sender each warned once" "$(grep -c "$warning" "$cluster/server.log")" "2"
check_eq "... and the push waits, not expanded" "$(sql "SELECT state || '/' || count(d.*) FROM tasks t LEFT JOIN deliveries d USING (task_id) WHERE t.task_id = '$t4' GROUP BY state")" "queued/0"
check_eq "... and nothing was sent" "$(mock_get /_mock/stats | jq '.tokens["test-ios-1"].requests')" "$sent_before"
psql -c "SELECT pushplan.push_worker_grants()" >/dev/null
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$t4'" && ok "re-created, the push is sent" \
  || fail "after re-creating the role: $(sql "SELECT state FROM tasks WHERE task_id = '$t4'")"
check_eq "... once" "$(mock_get /_mock/stats | jq '.tokens["test-ios-1"].requests')" "$((sent_before + 1))"
check_eq "... and both workers said they resume" "$(grep -c 'role "pushplan_worker" exists again: resuming work' "$cluster/server.log")" "2"

# the verdict
check_eq "no planted function or operator ever ran" "$(psql -c "SELECT count(*) FROM public.hits")" "0"
check_eq "nobody became superuser" "$(psql -c "SELECT string_agg(rolname || '=' || rolsuper, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('mallory', 'eve')")" "eve=false mallory=false"
psql -c "ALTER ROLE postgres IN DATABASE victim RESET search_path" >/dev/null
finish
