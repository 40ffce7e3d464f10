#!/usr/bin/env bash
# The background workers under stress: what pg_stat_activity shows, SIGHUP (senders and
# databases added and removed at runtime), SIGTERM in the middle of a broadcast, kill -9 of a
# sender and of the scheduler (crash-restart of the server), a launcher restarted alone,
# a task whose audience fails, DROP EXTENSION and DROP DATABASE of a served database, flat
# memory over a 20,000-device broadcast, and postmaster death. Loopback only, bounded waits.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
batch=250
inflight=500
vendor_env_start 56100 56101 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 200" "pushplan.http_timeout = 5000" "pushplan.batch_size = $batch" \
  "pushplan.max_inflight = $inflight" "restart_after_crash = on"
psql -c "CREATE EXTENSION pushplan" || exit 1

count_workers() {  # count_workers TYPE DB
  sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan $1' AND datname = '$2'"
}
worker_pids() {    # worker_pids TYPE DB: sorted pids
  sql "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'pushplan $1' AND datname IS NOT DISTINCT FROM ${2:-NULL}"
}
set_guc() {        # set_guc NAME VALUE: ALTER SYSTEM + reload (SIGHUP)
  psql -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
}
section_start=$(date +%s)
section() { echo "---- $1 (previous section: $(( $(date +%s) - section_start )) s)"; section_start=$(date +%s); }
log_lines() { wc -l < "$cluster/server.log"; }
log_since() { tail -n +"$(( $1 + 1 ))" "$cluster/server.log"; }
# new_app APP N TOKEN_PREFIX: an app with N android/fcm devices whose tokens are PREFIX<n>
new_app() {
  sql "SELECT push_app_create('$1')" >/dev/null
  [ "$1" = big ] || configure_vendors "$1"
  sql "SELECT push_app_set('$1', '{\"broadcast_min_interval\": \"0 seconds\", \"broadcast_daily_limit\": 1000}')" >/dev/null
  sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
       SELECT _app_id('$1', 'reader'), 'r' || g, 'android', '${4:-fcm}', '$3' || g FROM generate_series(1, $2) g" >/dev/null
}
broadcast() { sql "SELECT push_send('$1', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$2\"}}}')"; }
# token_counts PREFIX: "devices_reached once more_than_once" at the mock for tokens starting with PREFIX
token_counts() {
  mock_get /_mock/stats | jq -r --arg p "$1" '[.tokens | to_entries[] | select(.key | startswith($p)) | .value.requests]
    | "\(length) \(map(select(. == 1)) | length) \(map(select(. > 1)) | length)"'
}
wait_server() {    # after a crash-restart: accepts connections again
  for _ in $(seq 300); do sql "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# ---- pg_stat_activity ------------------------------------------------------------------------------
section "pg_stat_activity"
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" \
  && ok "launcher, scheduler and 2 senders run" || fail "workers: $(sql "SELECT string_agg(backend_type || '/' || coalesce(datname, '-'), ', ') FROM pg_stat_activity")"
check_eq "the launcher is in pg_stat_activity, connected to no database" \
  "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan launcher' AND datname IS NULL AND query LIKE 'pushplan launcher: % workers'")" "1"
wait_for 5 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND datname = 'postgres' AND state = 'idle' AND query = 'pushplan scheduler: waiting for due tasks'" \
  && ok "the idle scheduler says what it waits for" || fail "scheduler activity: $(sql "SELECT state || ': ' || query FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")"
wait_for 5 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND state = 'idle' AND query = 'pushplan sender: waiting for deliveries'" \
  && ok "idle senders say what they wait for" || fail "sender activity: $(sql "SELECT string_agg(state || ': ' || query, '; ') FROM pg_stat_activity WHERE backend_type = 'pushplan sender'")"

# ---- SIGHUP: pushplan.senders 2 -> 3 -> 1 -> 2 ------------------------------------------------------
section "SIGHUP: pushplan.senders"
set_guc pushplan.senders 3
wait_for 15 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" \
  && ok "senders = 3 on reload starts a third sender" || fail "senders after 3: $(count_workers sender postgres)"
set_guc pushplan.senders 1
wait_for 15 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" \
  && ok "senders = 1 on reload stops two" || fail "senders after 1: $(count_workers sender postgres)"
set_guc pushplan.senders 2
wait_for 15 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" \
  && ok "senders = 2 again" || fail "senders after 2: $(count_workers sender postgres)"

# ---- a task whose audience fails: marked failed, the scheduler goes on -------------------------
section "a task whose audience fails"
new_app shop 3 "shop-ok-"
sched=$(worker_pids scheduler "'postgres'")
upload=$(sql "SELECT push_account_package_upload('shop', 'vip.txt', convert_to(E'acc-1\nacc-2\n', 'UTF8'))")
task=$(psql -c "SET search_path = pushplan, public" -c "BEGIN" \
  -c "SELECT push_send('shop', '{\"to\": {\"upload_id\": $upload, \"account_push_type\": 1}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}')" \
  -c "DELETE FROM account_packages WHERE upload_id = $upload" -c "COMMIT")
wait_for 10 "SELECT state = 'failed' FROM tasks WHERE task_id = '$task'" && ok "a task whose account package is gone fails" \
  || fail "failing task: $(sql "SELECT state, error FROM tasks WHERE task_id = '$task'")"
check "... with the audience's error" "$(sql "SELECT error FROM tasks WHERE task_id = '$task'")" "92111: account package $upload does not exist"
check_eq "... and no deliveries" "$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task'")" "0"
task=$(broadcast shop "after the failure")
wait_for 10 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the next task is sent" || fail "after failure: $(sql "SELECT state FROM tasks WHERE task_id = '$task'")"
check_eq "... by the same scheduler process" "$(worker_pids scheduler "'postgres'")" "$sched"

# ---- SIGTERM to a sender in the middle of a broadcast ------------------------------------------
section "SIGTERM to a sender"
new_app term 5000 "term-slow1000-"
mock_reset
task=$(broadcast term "sigterm")
victim=
for _ in $(seq 100); do
  victim=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND state = 'active' AND query LIKE 'pushplan: % deliveries in flight' LIMIT 1")
  [ -n "$victim" ] && break
  sleep 0.1
done
[ -n "$victim" ] && ok "a busy sender shows 'N deliveries in flight' (state active)" || fail "no busy sender seen"
sent_before=$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'")
lines=$(log_lines)
kill -TERM "$victim"
gone=no
for _ in $(seq 150); do kill -0 "$victim" 2>/dev/null || { gone=yes; break; }; sleep 0.1; done
check_eq "the sender exits on SIGTERM once its batch in flight is done" "$gone" "yes"
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres' AND pid <> $victim" \
  && ok "... and is started again" || fail "sender not restarted: $(worker_pids sender "'postgres'")"
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the broadcast completes" \
  || fail "sigterm broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
echo "     sent when SIGTERM arrived: $sent_before of 5000"
check_eq "every device sent exactly once (reached once more)" "$(token_counts term-)" "5000 5000 0"
check_eq "no error or FATAL logged by the stop" "$(log_since "$lines" | grep -cE 'ERROR|FATAL')" "0"

# ---- the launcher stopped alone: its successor adopts the running workers ---------------------
section "the launcher stopped alone"
senders=$(worker_pids sender "'postgres'")
launcher=$(worker_pids launcher)
psql -c "SELECT pg_terminate_backend($launcher)" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan launcher' AND pid <> $launcher" \
  && ok "a terminated launcher is restarted" || fail "launcher not restarted"
sleep 3
check_eq "... and adopts the senders (no duplicates, no restarts)" "$(worker_pids sender "'postgres'")" "$senders"
set_guc pushplan.senders 1
wait_for 15 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" \
  && ok "... and can stop an adopted sender on reload" || fail "adopted senders: $(count_workers sender postgres)"
set_guc pushplan.senders 2
wait_for 15 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" || true

# ---- kill -9 of a sender mid-broadcast: crash-restart, nothing lost ---------------------------
section "kill -9 of a sender"
new_app crash 5000 "crash-slow1000-"
mock_reset
task=$(broadcast crash "kill -9")
wait_for 30 "SELECT count(*) >= 1000 FROM deliveries WHERE task_id = '$task' AND status = 'sent'" || true
victim=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' LIMIT 1")
inflight_at_kill=$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sending'")
kill -9 "$victim"
sleep 1
wait_server && ok "the server recovers from a killed sender" || fail "server did not come back"
wait_for 90 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the broadcast completes after the crash" \
  || fail "crash broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "every delivery is sent" "$(sql "SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$task'")" "5000"
read -r reached once twice <<< "$(token_counts crash-)"
check_eq "no device is lost (all 5000 reached)" "$reached" "5000"
bound=$(( 2 * (inflight + batch) ))
echo "     claimed and not recorded at the kill: $inflight_at_kill; sent twice: $twice (bound: 2 senders x (max_inflight + batch_size) = $bound)"
[ "$twice" -le "$bound" ] && ok "at most the batches in flight are sent again" || fail "$twice devices sent more than once"
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" || true
sleep 3
check_eq "after the crash: one launcher, one scheduler, two senders (no duplicates)" \
  "$(sql "SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'")" \
  "pushplan launcher,pushplan scheduler,pushplan sender,pushplan sender"
set_guc pushplan.senders 1
wait_for 15 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" \
  && ok "after the crash, reload still stops senders" || fail "post-crash senders: $(count_workers sender postgres)"
set_guc pushplan.senders 2
wait_for 15 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'" || true

# ---- kill -9 of the scheduler while it expands a large task ----------------------------------
section "kill -9 of the scheduler"
# 'big' has no vendor configured: its deliveries are written as failed, nothing is sent
new_app big 100000 "big-" hms
task=$(broadcast big "expand me")
killed=no
for _ in $(seq 400); do
  pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND query = 'pushplan: expanding task $task'")
  if [ -n "$pid" ]; then kill -9 "$pid"; killed=yes; break; fi
  sleep 0.05
done
check_eq "the scheduler was killed while expanding" "$killed" "yes"
sleep 1
wait_server || fail "server did not come back after the scheduler's crash"
wait_for 60 "SELECT expanded FROM tasks WHERE task_id = '$task'" && ok "the task is expanded after the restart" \
  || fail "big task: $(sql "SELECT state FROM tasks WHERE task_id = '$task'")"
check_eq "... exactly once" "$(sql "SELECT targeted || ' ' || (SELECT count(*) || ' ' || count(DISTINCT device_id) FROM deliveries WHERE task_id = '$task') FROM tasks WHERE task_id = '$task'")" "100000 100000 100000"

# ---- a database added at runtime, DROP EXTENSION, DROP DATABASE ---------------------------------
section "a database added at runtime"
psql -c "CREATE DATABASE third" >/dev/null
PGDATABASE_TEST=third psql -c "CREATE EXTENSION pushplan" >/dev/null
set_guc pushplan.databases "postgres, third"
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan s%' AND datname = 'third'" \
  && ok "a database added to pushplan.databases on reload gets a scheduler and senders" || fail "third: $(count_workers sender third)"
PGDATABASE_TEST=third sql "SELECT push_app_create('t3')" >/dev/null
PGDATABASE_TEST=third configure_vendors t3
PGDATABASE_TEST=third sql "SELECT push_device_register('t3', 'w1', 'web', 'webhook', 'third-db-1')" >/dev/null
task=$(PGDATABASE_TEST=third broadcast t3 "db 3")
PGDATABASE_TEST=third wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "... and is served" || fail "third not served"

third_pids=$(sql "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE datname = 'third' AND backend_type LIKE 'pushplan%'")
lines=$(log_lines)
PGDATABASE_TEST=third psql -c "DROP EXTENSION pushplan CASCADE" >/dev/null
sleep 4
check_eq "DROP EXTENSION: the workers stay, idle" "$(sql "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE datname = 'third' AND backend_type LIKE 'pushplan%'")" "$third_pids"
check_eq "... without errors in the log" "$(log_since "$lines" | grep -cE 'ERROR|FATAL')" "0"
check_eq "... saying what they wait for" "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = 'third' AND query = 'pushplan sender: waiting for CREATE EXTENSION pushplan'")" "2"
PGDATABASE_TEST=third psql -c "CREATE EXTENSION pushplan" >/dev/null
PGDATABASE_TEST=third sql "SELECT push_app_create('t3')" >/dev/null
PGDATABASE_TEST=third configure_vendors t3
PGDATABASE_TEST=third sql "SELECT push_device_register('t3', 'w1', 'web', 'webhook', 'third-db-2')" >/dev/null
task=$(PGDATABASE_TEST=third broadcast t3 "db 3 again")
PGDATABASE_TEST=third wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "CREATE EXTENSION again: served again" || fail "third not served after re-create"

t0=$(date +%s)
out=$(timeout 60 "$(type -P psql)" -X -h "$cluster" -p $pgport -U postgres -d postgres -c "DROP DATABASE third" 2>&1)
check "DROP DATABASE of a served database fails after 5 s instead of hanging" "$out" "is being accessed by other users"
echo "     DROP DATABASE returned after $(( $(date +%s) - t0 )) s"
lines=$(log_lines)
out=$(timeout 60 "$(type -P psql)" -X -h "$cluster" -p $pgport -U postgres -d postgres -c "DROP DATABASE third WITH (FORCE)" 2>&1)
check_eq "DROP DATABASE ... WITH (FORCE) stops its workers and succeeds" "$out" "DROP DATABASE"
sleep 10
check_eq "the launcher reports the missing database once" "$(log_since "$lines" | grep -c 'database "third" of pushplan.databases does not exist')" "1"
check_eq "... and tries no connection to it" "$(log_since "$lines" | grep -c 'FATAL')" "0"
check_eq "the other database keeps its workers" "$(count_workers sender postgres)" "2"
set_guc pushplan.databases "postgres"
sleep 3
check_eq "removed from pushplan.databases: no worker serves it" "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = 'third'")" "0"

# ---- SIGHUP of the sizes mid-broadcast ----------------------------------------------------------
section "sizes reloaded mid-broadcast"
mock_reset
task=$(broadcast term "resize")
wait_for 20 "SELECT count(*) > 0 FROM deliveries WHERE task_id = '$task' AND status = 'sending'" || true
senders=$(worker_pids sender "'postgres'")
# outcome buffers grow with batch_size; the engine is drained and re-created for max_inflight
psql -c "ALTER SYSTEM SET pushplan.batch_size = 400" -c "ALTER SYSTEM SET pushplan.max_inflight = 800" \
  -c "ALTER SYSTEM SET pushplan.http_timeout = '6s'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "a broadcast completes across a reload of batch_size, max_inflight, http_timeout" \
  || fail "resize: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "... every device once" "$(token_counts term-)" "5000 5000 0"
check_eq "... by the same senders" "$(worker_pids sender "'postgres'")" "$senders"
psql -c "ALTER SYSTEM RESET pushplan.batch_size" -c "ALTER SYSTEM RESET pushplan.max_inflight" \
  -c "ALTER SYSTEM RESET pushplan.http_timeout" -c "SELECT pg_reload_conf()" >/dev/null

# ---- flat memory over a 20,000-device broadcast -------------------------------------------------
section "flat memory"
new_app mem 20000 "mem-slow50-"
task=$(broadcast mem "memory")
wait_for 20 "SELECT count(*) > 0 FROM deliveries WHERE task_id = '$task' AND status = 'sent'" || true
pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' ORDER BY pid LIMIT 1")
samples=()
for _ in $(seq 600); do
  [ "$(sql "SELECT state FROM tasks WHERE task_id = '$task'")" = done ] && break
  progress=$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'")
  rss=$(awk '/^RssAnon/ {print $2}' /proc/"$pid"/status 2>/dev/null)
  [ -n "$rss" ] && [ "$progress" -ge 2000 ] && samples+=("$rss")
  sleep 0.1
done
check_eq "the 20,000-device broadcast completes" "$(sql "SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$task'")" "20000"
if [ "${#samples[@]}" -ge 3 ]; then
  lo=$(printf '%s\n' "${samples[@]}" | sort -n | head -1)
  hi=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
  echo "     sender RssAnon over ${#samples[@]} samples from 2,000 to 20,000 sent: $lo..$hi kB"
  [ $(( hi - lo )) -le 4096 ] && ok "sender memory is flat (band under 4 MB)" || fail "sender memory grew: $lo..$hi kB"
else
  fail "too few memory samples (${#samples[@]})"
fi

# ---- the whole log: only the errors provoked on purpose --------------------------------------
check_eq "no unexpected ERROR, FATAL or PANIC in the server log" \
  "$(grep -E 'ERROR|FATAL|PANIC' "$cluster/server.log" | grep -vE 'is being accessed by other users|the database system is (starting up|in recovery mode|not yet accepting)' | head -3)" ""

# ---- postmaster death -------------------------------------------------------------------------
section "postmaster death"
new_app pmd 2000 "pmd-slow1000-"
task=$(broadcast pmd "postmaster death")
wait_for 20 "SELECT count(*) > 0 FROM deliveries WHERE task_id = '$task' AND status = 'sending'" || true
pm=$(head -1 "$cluster/postmaster.pid")
shm=$(sed -n 7p "$cluster/postmaster.pid" | awk '{print $2}')
workers=$(sql "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'")
children=$(pgrep -P "$pm" | tr '\n' ' ')
kill -9 "$pm"
t0=$(date +%s%N)
left=
for _ in $(seq 100); do
  left=$(pgrep -f 'postgres: pushplan' | grep -Fxf <(tr ' ' '\n' <<< "$workers") | tr '\n' ' ')
  [ -z "$left" ] && break
  sleep 0.1
done
check_eq "after kill -9 of the postmaster every pushplan worker exits on its own" "$left" ""
echo "     workers gone $(( ($(date +%s%N) - t0) / 1000000 )) ms after the postmaster died"
for _ in $(seq 100); do
  left=$(for p in $children; do kill -0 "$p" 2>/dev/null && echo -n "$p "; done)
  [ -z "$left" ] && break
  sleep 0.1
done
check_eq "... and no server process is left" "$left" ""
# the orphaned System V segment (postmaster.pid line 7) goes with the data directory
[ -n "$shm" ] && ipcrm -m "$shm" 2>/dev/null
rm -f "$cluster/postmaster.pid"

finish
