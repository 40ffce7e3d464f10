#!/usr/bin/env bash
# Sending benchmark (doc/benchmarks.md, "Sending"):
#  1. the ceiling: a bare libcurl multi client (test/bench/curl_ceiling.c) and h2load POSTing
#     APNs-shaped requests to an nginx HTTP/2-over-TLS sink (test/bench/lib/nginx_sink.sh);
#  2. pushplan: DEVICES iOS devices (VENDOR=fcm: Android, FCM) by direct INSERT, the vendor pointed at the same
#     sink, one broadcast push_send to "all" per configuration: time from COMMIT to every delivery
#     recorded, time to first send, expansion time, sends/s, RSS of the scheduler and senders;
#  3. lanes: the same broadcast at 2:500:500, alone and while LANE_SENDS one-device pushes (to
#     the mock vendor, one every 20 ms) are committed: their COMMIT -> arrival at the mock, and
#     the broadcast's rate with and without them (LANE_RUNS pairs; LANE_SENDS=0 skips it), and
#     each worker's CPU in the pushes' window (where a push's cost goes);
#  4. latency: COMMIT of a one-device push_send -> the request's arrival at the mock vendor
#     (test/bench/commit_latency.c: the server clock at the end of the push_send statement to the
#     mock's received_at_us), sequential sends.
# OUTCOME_WEBHOOK=1: the broadcast's app has an outcome webhook (to the sink), and each run says
# how long after its last send the last outcome was posted.
# TEMPLATE=0|1: every device has attributes (first_name, city); with 1 the broadcast's alert is a
# template reading both (doc/templates.md), with 0 the same alert as plain text: the pair gives
# what rendering per device costs a broadcast.
# ENGAGEMENT='{"frequency_cap": ...}': the broadcast's app has these engagement controls
# (doc/engagement.md), so that every delivery goes through the senders' gate.
# CATEGORY=name: the broadcast names a consent category (opt_out), below.
# GUCS='name = value|...': more settings for the cluster (postgresql.conf lines); KEEP_LOG=FILE
# keeps the cluster's server log there.
# TASK_HISTORY=N: N finished tasks in the tasks table before the runs (below).
# PERF=DIR [PERF_SECONDS=8]: perf call graphs of the senders and the cluster's other processes
# during each broadcast (from 2 s after its COMMIT), into DIR.
# Usage: [VENDOR=apns|fcm] [TASK_HISTORY=N] [OUTCOME_WEBHOOK=1] [TEMPLATE=0|1] [ENGAGEMENT=json] [CATEGORY=name] [RUNS=2] [SKIP_CEILING=1] [PAIR_REQUESTS=N] [LANE_SENDS=500] [LANE_RUNS=2] test/bench/bench_sending.sh [DEVICES=1000000] [LATENCY_SENDS=1000] [CONFIGS]
#   CONFIGS: space-separated senders:batch_size:max_inflight[:max_connections_per_host]
#   (default "1:500:2000 2:500:2000 1:500:200 2:500:200 2:1000:400").
# Needs the extension installed (`make bench` does it). BENCH_INSTALL=1 installs it first under
# /tmp/pushplan-install.lock, held only until the cluster has started and loaded it.
# Ports 56000-56019 (sink 56001, mock 56002, cluster 56010; SINK_PORT, MOCK_PORT, PG_PORT move them).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-1000000}
lat_sends=${2:-1000}
configs=${3-"1:500:2000 2:500:2000 1:500:200 2:500:200 2:1000:400"}
sink_port=${SINK_PORT:-56001}
mock_port=${MOCK_PORT:-56002}
pg_port=${PG_PORT:-56010}
work=$(mktemp -d /tmp/pushplan-bench-sending.XXXXXX)
chmod 755 "$work"
cluster=$work/cluster
mock_pid=
rss_pid=
. "$top/test/bench/lib/nginx_sink.sh"

cleanup() {
  trap '' INT TERM
  set +e
  [ -n "$rss_pid" ] && kill "$rss_pid" 2>/dev/null
  # KEEP_LOG=FILE: the cluster's server log is kept there (auto_explain in GUCS, say)
  [ -n "${KEEP_LOG:-}" ] && cp "$cluster/server.log" "$KEEP_LOG"
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1 || true
  sink_stop
  [ -n "$mock_pid" ] && { kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pg_port -U postgres -At "$@"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

# ---- build the clients ---------------------------------------------------------------------
gcc -O2 -Wall -Wextra -o "$work/curl_ceiling" "$top/test/bench/curl_ceiling.c" -lcurl
gcc -O2 -Wall -Wextra -I"$(pg_config --includedir)" -o "$work/commit_latency" \
  "$top/test/bench/commit_latency.c" -L"$(pg_config --libdir)" -lpq -lcurl
make -s -C "$top/test/mock_vendor" >/dev/null

# ---- the sink and the ceiling --------------------------------------------------------------
sink_start "$work/sink" $sink_port
# what pushplan's APNs payload for this push looks like (checked against the mock below)
printf '{"aps":{"alert":"Flash sale: everything 50%% off until midnight","sound":"default"}}' > "$work/apns.json"
# VENDOR=fcm: the broadcast goes to Android devices through FCM (OAuth token from the sink's
# /token), and the bare client sends FCM-shaped requests: the same path, headers and body size
# as pushplan's (the token is in the body; the client's per-request suffix lands in the query)
vendor=${VENDOR:-apns}
fcm_token=$(printf 'f%.0s' $(seq 152))
printf '{"message":{"token":"%s","android":{"priority":"HIGH","ttl":"86400s"},"notification":{"body":"Flash sale: everything 50%% off until midnight"}}}' "$fcm_token" > "$work/fcm.json"
jwt="eyJhbGciOiJFUzI1NiIsImtpZCI6IktFWTEyMzQ1NjcifQ.eyJpc3MiOiJURUFNMTIzNDU2IiwiaWF0IjoxNzAwMDAwMDAwfQ.$(head -c 64 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"
hdrs=("authorization: bearer $jwt" "apns-topic: com.example.app" "apns-push-type: alert"
      "apns-priority: 10" "apns-expiration: 1790000000")
n_ceiling=$(( devices < 200000 ? devices : 200000 ))
# bare_libcurl IN_FLIGHT CONNECTIONS: n_ceiling requests from the bare client, its one-line report
bare_libcurl() {
  local t0 line
  t0=$(ticks "$sink_pid")
  if [ "$vendor" = fcm ]; then
    line=$("$work/curl_ceiling" "https://127.0.0.1:$sink_port/v1/projects/bench/messages:send?" \
      "$work/sink/cert.pem" "${3:-$n_ceiling}" "$1" "$2" "$work/fcm.json" \
      "authorization: Bearer bench-token" "content-type: application/json")
  else
    line=$("$work/curl_ceiling" "https://127.0.0.1:$sink_port/3/device/" "$work/sink/cert.pem" \
      "${3:-$n_ceiling}" "$1" "$2" "$work/apns.json" "${hdrs[@]}")
  fi
  echo "$line nginx_cpu_us $(awk -v a="$t0" -v b="$(ticks "$sink_pid")" -v n="${3:-$n_ceiling}" -v hz="$hz" \
    'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')"
}
# ticks PID...: the CPU time (user + system, in clock ticks) these processes have used so far
hz=$(getconf CLK_TCK)
ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$(( t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }') ))
  done
  echo "$t"
}
# best_pair: the bare client over the sweep (PAIR_REQUESTS requests each); prints the best rate,
# that configuration, and its client's and nginx's CPU per request
best_pair() {
  local mc line rate best=0 bestline= sweep=
  for mc in "500 1" "500 2" "500 4" "1000 1" "1000 2" "1000 4" "2000 1" "2000 2" "2000 4"; do
    set -- $mc
    line=$(bare_libcurl "$1" "$2" "$pair_requests")
    rate=$(field rate <<< "$line")
    if awk -v a="$rate" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=$rate; bestline="$1 in flight x $2 connections: $line"; fi
    sweep+="$1x$2 $rate/s, "
  done
  echo "$best|$bestline|${sweep%, }"
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) + 0 }'; }
pair_requests=${PAIR_REQUESTS:-$(( devices < 100000 ? devices : 100000 ))}
ceiling() {
echo "== ceiling: $n_ceiling ${vendor^^}-shaped POSTs to the nginx sink (HTTP/2, TLS 1.3), $(wc -c < "$work/apns.json")-byte body"
for run in 1 2; do
  # the sweep issue "Hot paths" names: in flight 500 / 1,000 / 2,000 x connections 1 / 2 / 4
  for mc in "500 1" "500 2" "500 4" "1000 1" "1000 2" "1000 4" "2000 1" "2000 2" "2000 4"; do
    set -- $mc
    echo "libcurl multi, run $run, $1 in flight, $2 connections: $(bare_libcurl "$1" "$2")"
  done
  h2hdrs=(); for h in "${hdrs[@]}"; do h2hdrs+=(-H "$h"); done
  # 25 connections x 20 streams: the sink closes a connection after 10,000 requests and h2load
  # does not open another, so no connection may need more than that
  echo "h2load, run $run, 25 connections x 20 streams: $(h2load -n "$n_ceiling" -c 25 -m 20 -t 1 \
    -d "$work/apns.json" "${h2hdrs[@]}" "https://127.0.0.1:$sink_port/3/device/$(printf '%064x' 1)" |
    awk '/^finished in/ {r=$4} /^requests:/ {s=$8" ok, "$10" failed"} END {print r" req/s, "s}')"
done
}

# ---- the mock vendor (latency: it records each request's arrival time) ----------------------
"$top/test/mock_vendor/make-cert.sh" "$work/mock" >/dev/null
chmod 644 "$work/mock"/*.pem
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/apns.p8"
openssl pkey -in "$work/apns.p8" -pubout -out "$work/mock/apns.pub.pem"
cat > "$work/mock/mock.conf" <<CONF
apns_team_id = TEAM123456
apns_key = KEY1234567 apns.pub.pem
apns_bundle_id = com.example.app
CONF
(cd "$work/mock" && exec "$top/test/mock_vendor/mock_vendor" --listen 127.0.0.1:$mock_port \
   --cert cert.pem --key key.pem --config mock.conf > mock.out 2> mock.err) &
mock_pid=$!
for _ in $(seq 100); do grep -q '^ready$' "$work/mock/mock.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready$' "$work/mock/mock.out" || { echo "mock vendor did not start: $(cat "$work/mock/mock.err")"; exit 1; }
cat "$work/sink/cert.pem" "$work/mock/cert.pem" > "$work/ca.pem"
chmod 644 "$work/ca.pem"

# ---- the cluster ---------------------------------------------------------------------------
start_cluster() {
  local extra=()
  # GUCS='name = value|name = value': more settings of the cluster (e.g. the senders' crash
  # bounds, pushplan.max_unrecorded and pushplan.outcomes_per_write)
  [ -n "${GUCS:-}" ] && IFS='|' read -r -a extra <<< "$GUCS"
  "$top/dev/cluster" start "$cluster" $pg_port "shared_buffers = 512MB" "max_wal_size = 4GB" \
    "synchronous_commit = on" "pushplan.databases = 'postgres'" "pushplan.ca_file = '$work/ca.pem'" \
    "pushplan.poll_interval = 1000" "${extra[@]}"
  psql -c "CREATE EXTENSION pushplan"
}
[ "${SKIP_CEILING:-0}" = 1 ] || ceiling
if [ "${BENCH_INSTALL:-0}" = 1 ]; then
  export -f start_cluster psql
  export top cluster pg_port work
  flock -o /tmp/pushplan-install.lock bash -c 'make -s -C "$top" install >/dev/null && start_cluster'
else
  start_cluster
fi
psql -v key="$(cat "$work/apns.p8")" -v sink="https://127.0.0.1:$sink_port" \
  -v mock="https://127.0.0.1:$mock_port" -v hook="${OUTCOME_WEBHOOK:-0}" -v engagement="${ENGAGEMENT:-}" <<'SQL' >/dev/null
SET search_path = pushplan, public;
SELECT push_app_create('bench');
SELECT push_app_set('bench', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 100000}');
SELECT push_vendor_set('bench', 'apns', jsonb_build_object('team_id', 'TEAM123456', 'key_id', 'KEY1234567',
    'bundle_id', 'com.example.app', 'private_key', :'key', 'endpoint', :'sink'));
SELECT push_app_create('latency');
SELECT push_app_set('bench', nullif(:'engagement', '')::jsonb) WHERE :'engagement' <> '';
-- OUTCOME_WEBHOOK=1: the broadcast's app posts every outcome to the sink (doc/statistics.md)
SELECT push_outcome_webhook_set('bench', jsonb_build_object('url', :'sink' || '/outcomes',
    'secret', 'bench-outcomes-secret-0123456789')) WHERE :'hook' = '1';
SELECT push_vendor_set('latency', 'apns', jsonb_build_object('team_id', 'TEAM123456', 'key_id', 'KEY1234567',
    'bundle_id', 'com.example.app', 'private_key', :'key', 'endpoint', :'mock'));
SELECT push_device_register('latency', 'probe', 'ios', 'apns', 'test-latency-probe');
SELECT count(push_device_register('latency', 'lane-' || g, 'ios', 'apns', 'test-lane-' || g))
FROM generate_series(0, 9999) g;
SQL

echo
if [ "$vendor" = fcm ]; then
  openssl genrsa 2048 2>/dev/null > "$work/fcm.key"
  psql -v key="$(cat "$work/fcm.key")" -v sink="https://127.0.0.1:$sink_port" <<'SQL' >/dev/null
SELECT pushplan.push_vendor_set('bench', 'fcm', jsonb_build_object('endpoint', :'sink',
    'service_account', jsonb_build_object('type', 'service_account', 'project_id', 'bench',
      'private_key', :'key', 'client_email', 'bench@bench.iam.gserviceaccount.com',
      'token_uri', :'sink' || '/token')));
SQL
  echo "the bare client's FCM body: $(wc -c < "$work/fcm.json") bytes (pushplan's for this push: test/expected/vendor_payload.out shows its shape)"
fi
echo "== pushplan: $devices ${vendor^^} devices, direct INSERT into pushplan.devices"
t=$(date +%s.%N)
if [ "$vendor" = fcm ]; then platform=android; else platform=ios; fi
psql <<SQL
SET search_path = pushplan, public;
INSERT INTO devices (app_id, registration_id, platform, vendor, token, language, attrs)
SELECT _app_id('bench', 'reader'), '$platform-' || g, '$platform', '$vendor',
       CASE '$vendor' WHEN 'fcm' THEN lpad(to_hex(g), 152, 'f') ELSE lpad(to_hex(g), 64, '0') END, 'en',
       CASE WHEN '${TEMPLATE:-}' <> '' THEN jsonb_build_object('first_name', 'user' || g,
            'city', (ARRAY['Shenzhen', 'Beijing', 'Shanghai', 'Hangzhou'])[g % 4 + 1]) ELSE '{}' END
FROM generate_series(1, $devices) g;
VACUUM ANALYZE devices;
SQL
echo "loaded in $(ms "$t" "$(date +%s.%N)") ms"

# A payload as pushplan builds it, through the mock (which checks the JWT and the headers)
push='{"to": "all", "body": {"platform": "ios", "notification": {"alert": "Flash sale: everything 50% off until midnight", "ios": {"sound": "default"}}}}'
psql -c "SELECT pushplan.push_send('latency', '$push')" >/dev/null
for _ in $(seq 100); do
  last=$(curl -s --max-time 5 --cacert "$work/mock/cert.pem" "https://127.0.0.1:$mock_port/_mock/last?token=test-latency-probe" || true)
  [[ "$last" == *'"path"'* ]] && break || true
  sleep 0.1
done
echo "pushplan's APNs request (as the mock saw it): $(jq -c '{path, headers: (.headers | with_entries(select(.key | startswith("apns") or . == "content-length"))), body}' <<< "$last")"
echo "mock vendor's status counts: $(curl -s --cacert "$work/mock/cert.pem" "https://127.0.0.1:$mock_port/_mock/stats" | jq -c .status)"

# the broadcast's push
bpush=$push
[ "$vendor" = fcm ] && bpush='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Flash sale: everything 50% off until midnight"}}}'
if [ "${TEMPLATE:-}" = 1 ]; then
  tpl='{{attrs.first_name | default: \"friend\"}}, flash sale in {{attrs.city}}: 50% off'
  bpush=${bpush/Flash sale: everything 50% off until midnight/$tpl}
  echo "TEMPLATE=1: the broadcast's alert is a template: $bpush"
elif [ "${TEMPLATE:-}" = 0 ]; then
  bpush=${bpush/Flash sale: everything 50% off until midnight/user123456, flash sale in Shenzhen: 50% off}
  echo "TEMPLATE=0: devices have attributes, the broadcast's alert is plain text: $bpush"
fi
# CATEGORY=name: the broadcast names that consent category, opt_out for the app (doc/privacy.md):
# every device is reached, each probed for a withdrawal at the expansion and again at the claim
if [ -n "${CATEGORY:-}" ]; then
  psql -c "SELECT pushplan.push_app_set('bench', jsonb_build_object('consent', jsonb_build_object('$CATEGORY', 'opt_out')))" >/dev/null
  bpush=$(jq -c --arg c "$CATEGORY" '.body.options.category = $c' <<< "$bpush")
fi

# rss_sampler OUT: every second, VmRSS / RssAnon / RssShmem (kB) of the scheduler and senders
rss_sampler() {
  while :; do
    psql -F ' ' -c "SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" |
      while read -r pid kind; do
        awk -v k="${kind#pushplan }/$pid" '/^VmRSS:/ {v=$2} /^RssAnon:/ {a=$2} /^RssShmem:/ {s=$2} END {if (v) print k, v, a, s}' "/proc/$pid/status" 2>/dev/null || true
      done >> "$1"
    sleep 1
  done
}

wait_workers() {   # wait_workers SENDERS: the scheduler and that many senders run
  for _ in $(seq 100); do
    [ "$(psql -c "SELECT count(*) FILTER (WHERE backend_type = 'pushplan sender') = $1 AND count(*) FILTER (WHERE backend_type = 'pushplan scheduler') = 1 FROM pg_stat_activity")" = t ] && return 0
    sleep 0.2
  done
  echo "workers did not come: $(psql -c "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"; return 1
}

broadcast() {   # broadcast SENDERS BATCH INFLIGHT CONNS RUN
  local s=$1 b=$2 f=$3 c=$4 run=$5 out task t_commit left wal0 wal pair pairline sweep_rates pm sender_pids cl0 cl1 se0 se1 ng0 ng1
  # the queue first: the order in which an idle sender's claim takes their locks; a sender still
  # recording the previous run's last outcomes takes them the other way round, and the deadlock
  # detector may then pick the TRUNCATE: tried again, at most 5 times
  local try
  for try in 1 2 3 4 5; do
    psql -c "TRUNCATE pushplan.delivery_queue, pushplan.deliveries" 2>/dev/null && break
    [ "$try" = 5 ] && { echo "TRUNCATE failed 5 times"; return 1; }
    sleep 1
  done
  psql -c "VACUUM ANALYZE pushplan.tasks"
  # every broadcast starts from a checkpoint: otherwise the one that runs second pays for the
  # checkpoint of the first one's pages (doc/benchmarks.md, "Lanes")
  psql -c "CHECKPOINT"
  # This machine's speed drifts (shared cores: the same client ran at 16,000-27,000/s within an
  # hour), so every broadcast is paired with the bare client run just before it: the best of
  # its sweep (the issue's "best bare libcurl client"), PAIR_REQUESTS requests a configuration.
  IFS='|' read -r pair pairline sweep_rates <<< "$(best_pair)"
  psql -c "ALTER SYSTEM SET pushplan.senders = $s" -c "ALTER SYSTEM SET pushplan.batch_size = $b" \
    -c "ALTER SYSTEM SET pushplan.max_inflight = $f" -c "ALTER SYSTEM SET pushplan.max_connections_per_host = $c" \
    -c "SELECT pg_reload_conf()" >/dev/null
  wait_workers "$s"
  sleep 1
  : > "$work/rss"
  rss_sampler "$work/rss" &
  rss_pid=$!
  # CPU per delivery: the senders, the cluster's other processes (postmaster's children: the
  # scheduler's expansion, the WAL writer, the checkpointer...), and nginx. Short-lived backends
  # (the bench's own psql polls) are not counted.
  pm=$(head -1 "$cluster/postmaster.pid")
  sender_pids=$(psql -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%sender'")
  cl0=$(ticks "$pm" $(pgrep -P "$pm")); se0=$(ticks $sender_pids); ng0=$(ticks "$sink_pid")
  wal0=$(psql -c "SELECT pg_current_wal_insert_lsn()")
  out=$(psql -F ' ' -c "SELECT pushplan.push_send('bench', '$bpush')" -c "SELECT extract(epoch FROM clock_timestamp())")
  task=$(sed -n 1p <<< "$out"); t_commit=$(sed -n 2p <<< "$out")
  # lanes: what runs during the broadcast, from 2 s after its COMMIT
  [ -n "${during:-}" ] && { ( sleep 2; eval "$during" ) & during_pid=$!; }
  # the lanes' window, alone and with the pushes: each worker's CPU (and the pushes' backend's)
  # in it, as a share of one core, from 2.5 s after the COMMIT to 0.5 s before the pushes end
  local window_pid=
  if [ "${lane_sends:-0}" -gt 0 ]; then
    ( t_start=$(date +%s.%N)
      sleep 2.5
      # the pushes' client connects about now (bounded wait): its backend is sampled only once
      # it is there, and only a live process's ticks are reported (a process that ended reads 0);
      # the window ends at a fixed time (0.5 s before the last push), however long the look-ups
      # took on a busy machine, and the shares are of the time actually between the samples
      [ -n "${during:-}" ] && for i in $(seq 20); do
        [ "$(psql -c "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'lanes'")" = t ] && break
        sleep 0.1
      done
      procs=$(psql -F '|' -c "SELECT pid, CASE WHEN application_name = 'lanes' THEN 'the pushes'' backend'
                                ELSE replace(backend_type, 'pushplan ', '') END
                              FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%sender' OR
                                backend_type = 'pushplan scheduler' OR application_name = 'lanes' ORDER BY 2")
      procs+=$'\n'"$sink_pid|nginx"
      declare -A t0
      while IFS='|' read -r p _; do t0[$p]=$(ticks "$p"); done <<< "$procs"
      ta=$(date +%s.%N)
      sleep "$(awk -v s="$t_start" -v a="$ta" -v n="$lane_sends" 'BEGIN { d = s + 1.5 + n * 0.020 - a; printf "%.2f", (d > 0.1 ? d : 0.1) }')"
      secs=$(awk -v a="$ta" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
      while IFS='|' read -r p name; do
        if [ -r "/proc/$p/stat" ]; then
          echo "$name $(awk -v d=$(( $(ticks "$p") - ${t0[$p]} )) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f %%", d / hz / s * 100 }')"
        else
          echo "$name (ended in the window)"
        fi
      done <<< "$procs" | paste -sd, | sed 's/,/, /g'
    ) > "$work/window_cpu" 2>/dev/null & window_pid=$!
  fi
  # PERF=DIR: perf call graphs of the senders and of the cluster's other processes, from 2 s
  # after the COMMIT for PERF_SECONDS (default 8), one file each (perf report -i DIR/...)
  local perf_pid=
  if [ -n "${PERF:-}" ]; then
    mkdir -p "$PERF"
    ( sleep 2
      perf record -q -g -F 999 -o "$PERF/senders-$run.data" -p "$(tr ' ' , <<< "$sender_pids")" -- sleep "${PERF_SECONDS:-8}" 2>/dev/null &
      perf record -q -g -F 999 -o "$PERF/others-$run.data" \
        -p "$(pgrep -P "$pm" | grep -vxF -f <(tr ' ' '\n' <<< "$sender_pids") | paste -sd,)" -- sleep "${PERF_SECONDS:-8}" 2>/dev/null
      wait ) & perf_pid=$!
  fi
  # the task's state, not a count of its deliveries: counting them every half second would
  # take CPU from the run being measured
  for _ in $(seq 1800); do   # at most 15 minutes
    sleep 0.5
    [ "$(psql -c "SELECT state <> 'sending' AND state <> 'queued' FROM pushplan.tasks WHERE task_id = '$task'")" = t ] && break
  done
  cl1=$(ticks "$pm" $(pgrep -P "$pm")); se1=$(ticks $sender_pids); ng1=$(ticks "$sink_pid")
  wal=$(psql -c "SELECT pg_current_wal_insert_lsn() - '$wal0'::pg_lsn")
  left=$(psql -c "SELECT count(*) FROM pushplan.deliveries WHERE task_id = '$task' AND status IN ('queued', 'sending')")
  [ -n "${during:-}" ] && { wait "$during_pid" || true; }
  [ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
  [ -n "$window_pid" ] && { wait "$window_pid" || true; }
  kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null || true; rss_pid=
  psql -F ' ' -c "
    SELECT t.targeted, count(*) FILTER (WHERE d.status = 'sent'), count(*) FILTER (WHERE d.status <> 'sent'),
           round(extract(epoch FROM t.started_at) * 1000 - $t_commit * 1000),
           round(extract(epoch FROM min(d.claimed_at)) * 1000 - $t_commit * 1000),
           round(extract(epoch FROM min(d.sent_at)) * 1000 - $t_commit * 1000),
           round(extract(epoch FROM max(d.sent_at)) * 1000 - $t_commit * 1000),
           round(extract(epoch FROM max(d.sent_at) - min(d.claimed_at)) * 1000),
           count(DISTINCT d.claimed_by)
    FROM pushplan.tasks t JOIN pushplan.deliveries d USING (task_id) WHERE t.task_id = '$task'
    GROUP BY t.task_id" | {
    read -r targeted sent other started first_claim first_sent all_done sending_ms nsenders
    echo "senders=$s batch_size=$b max_inflight=$f conns/host=$c run $run: $targeted targeted, $sent sent, $other other, $left left;" \
      "COMMIT -> expansion started ${started} ms, -> first claim (expansion done) ${first_claim} ms," \
      "-> first recorded ${first_sent} ms, -> all recorded ${all_done} ms;" \
      "$(awk -v n="$sent" -v a="$all_done" -v s="$sending_ms" 'BEGIN { printf "%.0f sends/s overall, %.0f sends/s from first claim", n / a * 1000, n / s * 1000 }')" \
      "($nsenders senders took part);" \
      "$(awk -v n="$sent" -v a="$all_done" -v p="$pair" 'BEGIN { printf "best bare libcurl just before: %.0f/s, pushplan = %.0f %% of it", p, n / a * 1000 / p * 100 }')"
    echo "    bare client sweep just before ($pair_requests requests each): $sweep_rates; best: $pairline"
    awk -v n="$sent" -v hz="$hz" -v se=$(( se1 - se0 )) -v cl=$(( cl1 - cl0 - (se1 - se0) )) -v ng=$(( ng1 - ng0 )) \
      -v bc="$(field cpu_us <<< "$pairline")" -v bn="$(field nginx_cpu_us <<< "$pairline")" 'BEGIN {
      u = 1e6 / hz / n
      printf "    CPU per delivery: senders %.1f us, other PostgreSQL processes %.1f us, nginx %.1f us, total %.1f us;", se * u, cl * u, ng * u, (se + cl + ng) * u
      printf " the best bare client: client %.1f us + nginx %.1f us = %.1f us a request\n", bc, bn, bc + bn }'
    # (for the floor below: the best bare client's CPU a request, client and nginx)
    awk -v bc="$(field cpu_us <<< "$pairline")" -v bn="$(field nginx_cpu_us <<< "$pairline")" \
      'BEGIN { print bc + bn }' > "$work/bare_cpu_us"
    # what the database wrote, which the machine's drift does not move (full-page images included)
    echo "    WAL per delivery: $(( wal / sent )) bytes ($(( wal / 1048576 )) MB in all, from push_send to the last outcome)"
  }
  if [ "${OUTCOME_WEBHOOK:-0}" = 1 ]; then
    for _ in $(seq 1200); do
      [ "$(psql -c "SELECT NOT EXISTS (SELECT FROM pushplan.outcome_outbox) AND NOT EXISTS (SELECT FROM pushplan.outcome_batches)")" = t ] && break
      sleep 0.1
    done
    echo "    outcome webhook: every outcome posted $(psql -c "SELECT round(extract(epoch FROM clock_timestamp() - max(sent_at)) * 1000) FROM pushplan.deliveries WHERE task_id = '$task'") ms after the last send (polled every 100 ms)"
  fi
  # The lanes' window: the transactional pushes run from 2 s after the COMMIT for LANE_SENDS x
  # 20 ms, a tenth of a 1M broadcast; the broadcast's rate within that window, in every run, is
  # what they can lower (the whole run's rate mostly shows the machine's drift).
  if [ "${lane_sends:-0}" -gt 0 ]; then
    echo "    broadcast sends in the lanes' window (2 s to $(( 2000 + lane_sends * 20 )) ms after COMMIT): $(psql -c "
      SELECT round(count(*) / ($lane_sends * 0.020)) || '/s' FROM pushplan.deliveries
      WHERE task_id = '$task' AND sent_at >= to_timestamp($t_commit) + interval '2 s'
        AND sent_at < to_timestamp($t_commit) + interval '2 s' + $lane_sends * interval '20 ms'")"
    echo "    CPU in that window, share of one core: $(cat "$work/window_cpu")"
  fi
  # where a sender's memory is: its memory contexts, logged by the server
  psql -c "SELECT pg_log_backend_memory_contexts(pid) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" >/dev/null
  sleep 1
  grep -E 'Grand total|level: 1;' "$cluster/server.log" | tail -n 30 | grep -E 'Grand total|pushplan|TopMemory|CacheMemory' |
    sed -E 's/^.*(LOG|logging):  /    memory: /' | tail -n 12
  awk '{ k = $1; n[k]++; if (!(k in vmin) || $2 < vmin[k]) vmin[k] = $2; if ($2 > vmax[k]) vmax[k] = $2;
         if ($3 > amax[k]) amax[k] = $3; if (!(k in amin) || $3 < amin[k]) amin[k] = $3; if ($4 > smax[k]) smax[k] = $4 }
       END { for (k in n) printf "    RSS %s (%d samples): VmRSS %.1f-%.1f MB (private RssAnon %.1f-%.1f MB, shared buffers touched RssShmem up to %.1f MB)\n",
             k, n[k], vmin[k] / 1024, vmax[k] / 1024, amin[k] / 1024, amax[k] / 1024, smax[k] / 1024 }' "$work/rss"
}

# TASK_HISTORY=N: N finished tasks in pushplan.tasks before the runs (then VACUUM ANALYZE), as a
# system that has been sending has: plans made from the statistics of a nearly empty tasks
# table (the foreign key checks on it among them) are not those of such a system.
if [ "${TASK_HISTORY:-0}" -gt 0 ]; then
  psql -c "INSERT INTO pushplan.tasks SELECT (jsonb_populate_record(NULL::pushplan.tasks,
             to_jsonb(t) || jsonb_build_object('task_id', 'tsk_history_' || g, 'state', 'done'))).*
           FROM (SELECT * FROM pushplan.tasks LIMIT 1) t, generate_series(1, ${TASK_HISTORY}) g" \
       -c "VACUUM ANALYZE pushplan.tasks" >/dev/null
  echo "pushplan.tasks: $(psql -c 'SELECT count(*) FROM pushplan.tasks') tasks before the runs (TASK_HISTORY)"
fi
lane_sends=${LANE_SENDS:-500}
for run in $(seq "${RUNS:-2}"); do
  for cfg in $configs; do
    IFS=: read -r s b f c <<< "$cfg"
    broadcast "$s" "$b" "$f" "${c:-4}" "$run"
  done
done

if [ "$lane_sends" -gt 0 ]; then
  echo
  echo "== lanes: $lane_sends one-device pushes (one every 20 ms, to the mock vendor) during a broadcast of $devices devices (2:500:500): COMMIT -> arrival at the vendor"
  # the order alternates (alone first in odd runs, second in even ones): each broadcast starts
  # from a checkpoint, and what order still costs shows as a difference between the runs
  for run in $(seq "${LANE_RUNS:-2}"); do
    if [ $(( run % 2 )) = 1 ]; then broadcast 2 500 500 4 "$run, alone"; fi
    curl -s --cacert "$work/mock/cert.pem" -X POST "https://127.0.0.1:$mock_port/_mock/reset" >/dev/null
    during="\"$work/commit_latency\" 'host=$cluster port=$pg_port user=postgres dbname=postgres application_name=lanes' latency \
      test-lane https://127.0.0.1:$mock_port \"$work/mock/cert.pem\" $lane_sends 20 > /dev/null 2> \"$work/lanes.err\""
    broadcast 2 500 500 4 "$run, with the transactional pushes"
    during=
    echo "    transactional pushes during it: $(tail -1 "$work/lanes.err")"
    { grep -v '^sends ' "$work/lanes.err" || true; } | head -5 | sed 's/^/    /'
    echo "    their deliveries: $(psql -F ' ' -c "SELECT string_agg(status || ' attempts=' || attempts || coalesce(' ' || error, '') || ': ' || n, '; ')
      FROM (SELECT status, attempts, error, count(*) n FROM pushplan.deliveries
            WHERE app_id = (SELECT app_id FROM pushplan.apps WHERE app = 'latency') GROUP BY 1, 2, 3) s")"
    if [ $(( run % 2 )) = 0 ]; then broadcast 2 500 500 4 "$run, alone"; fi
  done
fi

# The floor under the broadcast's share of the bare client (doc/benchmarks.md, "The floor of a
# delivery's row under a broadcast"): the one write every delivery needs, its row in
# deliveries as installed, written bare by two clients (the senders are two), 1000 rows a
# statement, 10 s. With both cores busy, a row costs 2 / that rate of CPU; the bare client and
# nginx fill the same two cores at C us of CPU a request (the last sweep's best), so a broadcast
# that writes a row a delivery reaches at most C / (C + that) of the bare client's rate, before
# any claim, outcome statement or count. FLOOR=0 skips it.
if [ "${FLOOR:-1}" = 1 ] && [ -s "$work/bare_cpu_us" ]; then
  echo
  . "$top/test/bench/lib/delivery_floor.sh"
  task=$(psql -c "SELECT task_id FROM pushplan.tasks WHERE broadcast ORDER BY created_at DESC LIMIT 1")
  rows=$(delivery_floor "$cluster" "$pg_port" "$task" "$devices" 2 "$work")
  awk -v t="$rows" -v c="$(cat "$work/bare_cpu_us")" 'BEGIN { r = 2e6 / t;
    printf "== floor: a bare INSERT of delivery rows, 1000 a statement, 2 clients: %.0f rows/s, %.1f us of CPU a row with both cores busy;", t, r
    printf " the best bare client just before: %.1f us a request (client + nginx); a broadcast writing a row a delivery: at most %.0f %% of the bare client here\n", c, 100 * c / (c + r) }'
fi

echo
echo "== latency: COMMIT of a one-device push_send -> its request's arrival at the mock vendor, $lat_sends sequential sends"
for run in 1 2; do
  psql -c "ALTER SYSTEM SET pushplan.senders = 2" -c "ALTER SYSTEM RESET pushplan.batch_size" \
    -c "ALTER SYSTEM RESET pushplan.max_inflight" -c "SELECT pg_reload_conf()" >/dev/null
  echo -n "run $run: "
  "$work/commit_latency" "host=$cluster port=$pg_port user=postgres dbname=postgres" latency \
    test-latency-probe "https://127.0.0.1:$mock_port" "$work/mock/cert.pem" "$lat_sends" 2>&1 >/dev/null | tail -3
done
