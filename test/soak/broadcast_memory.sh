#!/usr/bin/env bash
# The memory of every worker through a broadcast of DEVICES devices (1,000,000 by default: half
# Android through FCM, half iOS through APNs) to the mock vendor at the default settings
# (2 senders and the express sender): each worker's RssAnon and memory-context total
# (test/soak/lib.sh) before the push, every SAMPLE seconds while it is expanded and sent, when
# it is done, and after an idle minute. Fails if any worker's private memory reaches
# LIMIT_MB (100) at any sample, if the broadcast does not complete, or if a delivery is left
# without a final state. Results: $PUSHPLAN_WORK/memory.tsv and memory.md (doc/reliability.md,
# "Worker memory"). Ports 56572 (mock) and 56573 (cluster).
# Usage, from a built checkout, on a private installation of this build (test/soak/lib.sh says why):
#   PATH=$(test/soak/private_pg.sh /tmp/bm/pg):$PATH PUSHPLAN_TOP=$PWD PUSHPLAN_WORK=/tmp/bm \
#     test/soak/broadcast_memory.sh [DEVICES]
set -uo pipefail
devices=${1:-1000000}
sample=${SAMPLE:-5}
limit_mb=${LIMIT_MB:-100}
. "$(dirname "$0")/../integration/lib/vendor_env.sh"
. "$(dirname "$0")/lib.sh"
soak_start 56572 56573 "pushplan.databases = 'postgres'" \
  "pushplan.senders = 2" "shared_buffers = '256MB'" "max_wal_size = '4GB'"
sql "SELECT push_app_create('big')" >/dev/null
configure_vendors big
sql "SELECT push_app_set('big', '{\"broadcast_min_interval\": \"0 seconds\", \"timezone\": \"UTC\"}')" >/dev/null
t=$(date +%s)
half=$((devices / 2))
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT _app_id('big', 'reader'), 'r' || g, CASE WHEN g <= $half THEN 'android' ELSE 'ios' END,
            CASE WHEN g <= $half THEN 'fcm' ELSE 'apns' END, 'test' || g
     FROM generate_series(1, $devices) g" >/dev/null || exit 1
psql -c "VACUUM ANALYZE pushplan.devices" >/dev/null
echo "devices: $devices inserted in $(( $(date +%s) - t )) s"
wait_for 30 "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" \
  && ok "the launcher, the scheduler and three senders run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

mem_sample before
t0=$(date +%s.%N)
task=$(sql "SELECT push_send('big', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"one million\"}}}')")
i=0
while :; do
  sleep "$sample"
  i=$((i + 1))
  state=$(sql "SELECT state FROM tasks WHERE task_id = '$task'")
  sent=$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status <> 'queued'")
  mem_sample "during-$((i * sample))s-$sent"
  [ "$state" = done ] && break
  [ $((i * sample)) -ge 1200 ] && break
done
t1=$(date +%s.%N)
check_eq "the broadcast completes" "$(sql "SELECT state FROM tasks WHERE task_id = '$task'")" "done"
check_eq "every delivery in one final state" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT device_id) || ' ' || string_agg(DISTINCT status, ',') FROM deliveries WHERE task_id = '$task'")" \
  "$devices $devices sent"
check_eq "no queue row left" "$(sql "SELECT count(*) FROM delivery_queue WHERE task_id = '$task'")" "0"
mem_sample done
sleep 60
mem_sample idle-60s
echo "broadcast: $devices devices in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s (sampled every $sample s)"
mem_table | tee "$work/memory.md"
# the highest private memory of each worker type, at any sample
while IFS=$'\t' read -r type anon ctx; do
  echo "most of $type: RssAnon $((anon / 1024)) MB, contexts $((ctx / 1048576)) MB"
  [ "$anon" -lt $((limit_mb * 1024)) ] && ok "$type: RssAnon below $limit_mb MB" \
    || fail "$type: RssAnon $((anon / 1024)) MB reached $limit_mb MB"
done < <(awk -F'\t' '$6 != "-" { if ($6 > a[$3]) a[$3] = $6; if ($7 != "-" && $7 > c[$3]) c[$3] = $7 }
                      END { for (t in a) printf "%s\t%d\t%d\n", t, a[t], c[t] }' "$(mem_file)" | sort)
finish
