#!/usr/bin/env bash
# The worker paths under valgrind (memcheck): the server runs under valgrind with pushplan
# preloaded; a broadcast with every fault of every vendor (APNs, FCM, HMS, Honor, Xiaomi, Meizu,
# vivo, OPPO, HarmonyOS, Web Push, webhook), SIGHUP, SIGTERM of a busy sender, a failing
# task, a transactional push during a busy broadcast, an outcome that cannot be written,
# schedules fired, missed and skipped, a flow and an inactivity trigger, A/B variants, a fallback, the outcome webhook's posts (a 500 retried), templates,
# a frequency cap, quiet hours that drop, a consent category, and DROP / CREATE EXTENSION drive
# the launcher,
# scheduler and senders. Prints the errors
# valgrind reported per server process; exits 1 if there are any.
#   flock -o /tmp/pushplan-install.lock sh -c 'make install && test/valgrind/workers.sh [WORKDIR]'
# Slow (several minutes); not part of make test. See doc/operations.md.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PUSHPLAN_TOP=$top PUSHPLAN_WORK=${1:-/tmp/pushplan-valgrind}
rm -rf "$PUSHPLAN_WORK"
. "$top/test/integration/lib/vendor_env.sh"
vendor_env_start 56110 56111 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 200" "pushplan.http_timeout = 30000" "pushplan.max_attempts = 3" \
  "pushplan.retry_max_backoff = 1" "pushplan.batch_size = 50" "pushplan.max_inflight = 200"
"$top/dev/cluster" stop "$cluster"

# the same cluster again, its postgres under valgrind
vg=$work/valgrind
mkdir -p "$vg"
chown postgres: "$vg"
cat > "$work/postgres-valgrind" <<SH
#!/bin/sh
exec valgrind --tool=memcheck --fair-sched=yes --leak-check=no --read-var-info=no --num-callers=40 \\
  --error-limit=no --gen-suppressions=all --suppressions=$top/test/valgrind/postgresql.supp \\
  --log-file=$vg/%p.log $(pg_config --bindir)/postgres "\$@"
SH
chmod 755 "$work/postgres-valgrind"
runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$cluster" -l "$cluster/server.log" \
  -p "$work/postgres-valgrind" -t 600 -w start >/dev/null || { echo "server did not start"; exit 1; }
pids=$work/pids.txt
record_pids() { sql "SELECT pid || ' ' || backend_type FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%'" >> "$pids"; }

psql -c "CREATE EXTENSION pushplan" || exit 1
wait_for 120 "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" \
  && ok "workers run under valgrind" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"
record_pids
sql "SELECT push_app_create('vg')" >/dev/null
sql "SELECT push_app_set('vg', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
configure_vendors vg
# the outcome webhook: every final outcome posted by the scheduler, the first post refused (500)
sql "SELECT push_outcome_webhook_set('vg', jsonb_build_object('url', '$base/outcomes/vg?fail500=1', 'secret', 'outcomes-secret-0123456789'))" >/dev/null
mock_hxm_setup vg psql >/dev/null
mock_vivo_setup vg psql >/dev/null
mock_harmony_setup vg psql >/dev/null
mock_oppo_setup vg psql >/dev/null
# Web Push: the app's VAPID keys, and subscriptions whose keys the mock derives from their seed
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/vapid.pem" 2>/dev/null
vapid_pub=$(openssl pkey -in "$work/vapid.pem" -pubout -outform DER | tail -c 65 | base64 -w0 | tr '+/' '-_' | tr -d '=')
psql -v pem="$(cat "$work/vapid.pem")" -v pub="$vapid_pub" >/dev/null <<'SQL'
SELECT pushplan.push_vendor_set('vg', 'webpush', jsonb_build_object(
    'vapid_public_key', :'pub', 'vapid_private_key', :'pem', 'subject', 'mailto:ops@example.com'));
SQL
faults="ok unregistered baddevice throttle1 fail5xx1 error500 slow300 drop1 goaway throttle5"
subs="[]"
for f in $faults; do
  subs=$(jq -c --arg r "webpush-$f" --argjson t "$(curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/webpush_subscription?seed=web-$f-x")" \
    '. + [{registration_id: $r, token: ($t | tostring)}]' <<<"$subs")
done
# every fault of the mock on every vendor, and 300 plain devices
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT _app_id('vg', 'reader'), v || '-' || f, CASE v WHEN 'apns' THEN 'ios' WHEN 'webhook' THEN 'web' ELSE 'android' END,
            v, CASE v WHEN 'apns' THEN 'test-' ELSE v || '-' END || f || '-x'
     FROM unnest(ARRAY['apns', 'fcm', 'hms', 'webhook', 'honor', 'xiaomi', 'meizu', 'vivo', 'oppo']) v,
          unnest(string_to_array('$faults', ' ')) f
     UNION ALL
     SELECT _app_id('vg', 'reader'), s->>'registration_id', 'web', 'webpush', s->>'token'
     FROM jsonb_array_elements('$subs') s
     UNION ALL
     SELECT _app_id('vg', 'reader'), 'harmony-' || f, 'harmony', 'harmony', 'harmony-' || f || '-x'
     FROM unnest(string_to_array('$faults', ' ')) f
     UNION ALL
     SELECT _app_id('vg', 'reader'), 'plain-' || g, 'android', 'fcm', 'fcm-plain-' || g FROM generate_series(1, 300) g" >/dev/null

task=$(sql "SELECT push_send('vg', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"valgrind\", \"android\": {\"title\": \"t\", \"extras\": {\"k\": \"v\"}}, \"ios\": {\"badge\": \"+1\", \"sound\": \"default\"}, \"harmony\": {\"title\": \"t\"}}, \"options\": {\"multi_language\": {\"en\": {\"alert\": \"hi\"}}}}}')")
wait_for 300 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the broadcast with faults completes" \
  || fail "broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
echo "     outcomes: $(sql "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1 ORDER BY 1) s")"

# templates: rendered per device from the attributes read in the claim; devices without the
# attribute skipped (options.missing_attribute skip)
sql "UPDATE devices SET attrs = jsonb_build_object('first_name', 'user ' || registration_id) WHERE registration_id LIKE 'plain-1%'" >/dev/null
task=$(sql "SELECT push_send('vg', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"Hi {{attrs.first_name | upcase | truncate: 9}}\", \"android\": {\"title\": \"{{attrs.first_name | default: \\\"x\\\" | downcase}}\", \"extras\": {\"who\": \"{{account | default: \\\"none\\\"}}\"}}}, \"options\": {\"missing_attribute\": \"skip\", \"multi_language\": {\"en\": {\"alert\": \"{{attrs.first_name}}\"}}}}}')")
wait_for 300 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "a broadcast with templates completes" \
  || fail "templates: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "... devices with the attribute rendered, the others skipped" \
  "$(sql "SELECT count(*) FILTER (WHERE status <> 'suppressed') > 0 AND count(*) FILTER (WHERE error = 'missing attribute \"first_name\"') > 0 FROM deliveries WHERE task_id = '$task'")" "t"

# engagement controls (sql/api/72_engagement.sql: the senders' gate) and consent per category
# (sql/api/88_privacy.sql: the expansion and the claim): a plan capped at one push a day, sent
# twice; a plan whose quiet hours (now, UTC) drop; a category that needs an opt-in, granted by 20
sql "SELECT push_plan_create('vg', 'vgcap', 'capped'), push_plan_create('vg', 'vgquiet', 'quiet')" >/dev/null
h=$(date -u +%-H)
sql "SELECT push_plan_set('vg', 'vgcap', '{\"frequency_cap\": {\"per_day\": 1}}'),
            push_plan_set('vg', 'vgquiet', '{\"quiet_hours\": {\"from\": \"$(printf %02d $(( (h + 23) % 24 ))):00\", \"to\": \"$(printf %02d $(( (h + 2) % 24 ))):00\", \"on_quiet\": \"drop\"}}'),
            push_app_set('vg', '{\"consent\": {\"news\": \"opt_in\"}}')" >/dev/null
sql "SELECT count(push_device_consent('vg', 'plain-' || g, 'news', true)) FROM generate_series(1, 20) g" >/dev/null
for opts in '"plan_id": "vgcap"' '"plan_id": "vgcap"' '"plan_id": "vgquiet"' '"category": "news"'; do
  task=$(sql "SELECT push_send('vg', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"controls\"}, \"options\": {$opts}}}')")
  wait_for 300 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" || fail "controls ($opts): $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
done
check_eq "... capped, dropped in quiet hours, and only the consenting devices reached" \
  "$(sql "SELECT (SELECT count(*) > 0 FROM deliveries WHERE error = 'capped') AND (SELECT count(*) > 0 FROM deliveries WHERE error = 'quiet hours')
              AND (SELECT count(*) = 20 FROM deliveries d JOIN tasks t USING (task_id) WHERE t.category = 'news')")" "t"

# SIGHUP: a third sender, then one
psql -c "ALTER SYSTEM SET pushplan.senders = 3" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 120 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" && ok "senders = 3" || fail "senders = 3"
record_pids
psql -c "ALTER SYSTEM SET pushplan.senders = 1" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 120 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" && ok "senders = 1" || fail "senders = 1"
psql -c "ALTER SYSTEM RESET pushplan.senders" -c "SELECT pg_reload_conf()" >/dev/null

# a task whose audience fails (the scheduler's subtransaction path)
upload=$(sql "SELECT push_account_package_upload('vg', 'a.txt', convert_to(E'acc-1\n', 'UTF8'))")
task=$(psql -c "SET search_path = pushplan, public" -c "BEGIN" \
  -c "SELECT push_send('vg', '{\"to\": {\"upload_id\": $upload, \"account_push_type\": 1}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}')" \
  -c "DELETE FROM account_packages WHERE upload_id = $upload" -c "COMMIT")
wait_for 120 "SELECT state = 'failed' FROM tasks WHERE task_id = '$task'" && ok "a failing task is marked failed" || fail "failing task"

# SIGTERM to a busy sender
wait_for 120 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" || true
record_pids
sql "UPDATE devices SET token = replace(token, 'plain', 'slow2000') WHERE registration_id LIKE 'plain-%'" >/dev/null
task=$(sql "SELECT push_send('vg', '{\"to\": {\"tag\": [\"none\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"nobody\"}}}')" 2>/dev/null)
task=$(sql "SELECT push_send('vg', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"term\"}}}')")
victim=
for _ in $(seq 600); do
  # busy: waiting for answers, or writing outcomes (every 5 ms or 25 answers: most of a sender's
  # time under valgrind)
  victim=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND (query LIKE '% in flight' OR query LIKE 'pushplan: recording %') LIMIT 1")
  [ -n "$victim" ] && break
  sleep 0.1
done
[ -n "$victim" ] && kill -TERM "$victim"
# a transactional push while the senders are busy (the express claim of the high lane)
tx=$(sql "SELECT push_send('vg', '{\"to\": {\"registration_id\": [\"webhook-ok\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"tx\"}}}')")
wait_for 120 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$tx'" && ok "a transactional push during a busy broadcast is sent" \
  || fail "transactional: $(sql "SELECT status, error FROM deliveries WHERE task_id = '$tx'")"
wait_for 300 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the broadcast completes across a SIGTERM" || fail "sigterm broadcast"
record_pids

# an outcome that cannot be written (the sender's caught ERROR and one-by-one writes)
sql "UPDATE devices SET token = replace(token, 'slow2000', 'plain') WHERE registration_id LIKE 'plain-%'" >/dev/null
bad=$(sql "SELECT device_id FROM devices WHERE registration_id = 'plain-7'")
psql -c "CREATE FUNCTION public.poison_outcome() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN IF NEW.device_id = $bad THEN RAISE EXCEPTION 'poisoned outcome'; END IF; RETURN NEW; END \$\$" \
  -c "CREATE TRIGGER poison BEFORE UPDATE ON pushplan.deliveries FOR EACH ROW EXECUTE FUNCTION public.poison_outcome()" >/dev/null
task=$(sql "SELECT push_send('vg', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"poison\"}}}')")
wait_for 300 "SELECT count(*) = 1 FROM push_deliveries WHERE task_id = '$task' AND status = 'sending' AND NOT EXISTS
    (SELECT 1 FROM deliveries d WHERE d.task_id = '$task' AND d.status = 'queued' AND d.device_id <> $bad)" \
  && ok "a poisoned outcome costs only its delivery" || fail "poison: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
psql -c "DROP TRIGGER poison ON pushplan.deliveries" -c "DROP FUNCTION public.poison_outcome()" >/dev/null
record_pids

# schedules (src/schedule_fire.c): a single one, a zone_type 2 one, an intelligent one, and one
# whose plan is gone (skipped), fired through the test clock
psql -c "CREATE EXTENSION pushplan_test" >/dev/null
sql "SELECT _clock_set('2090-01-01 00:00:00+00')" >/dev/null
sql "SELECT push_plan_create('vg', 'gone', 'deleted before its schedule fires')" >/dev/null
sp() {   # ALERT [PLAN]: the schedules' push to two devices
  local options=''
  [ -n "${2:-}" ] && options=", \"options\": {\"plan_id\": \"$2\"}"
  echo "{\"to\": {\"registration_id\": [\"fcm-ok\", \"apns-ok\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$1\"}$options}}"
}
s1=$(sql "SELECT push_schedule_create('vg', '{\"name\": \"once\", \"trigger\": {\"single\": {\"time\": \"2090-01-01 08:00:00\"}}, \"push\": $(sp once)}')")
s2=$(sql "SELECT push_schedule_create('vg', '{\"name\": \"local\", \"trigger\": {\"single\": {\"time\": \"2090-01-02 09:00:00\", \"zone_type\": 2}}, \"push\": $(sp local)}')")
s3=$(sql "SELECT push_schedule_create('vg', '{\"name\": \"gone\", \"trigger\": {\"periodical\": {\"start\": \"2090-01-01 00:00:00\", \"end\": \"2090-01-05 00:00:00\", \"time\": \"10:00:00\", \"time_unit\": \"day\"}}, \"push\": $(sp gone gone)}')")
# intelligent (src/smart_send.c): fcm-ok has visits, apns-ok none; fired 15 hours late
sql "SELECT count(push_device_activity('vg', 'fcm-ok', now() - n * interval '1 day' - interval '3 hours')) FROM generate_series(1, 5) n" >/dev/null
s4=$(sql "SELECT push_schedule_create('vg', '{\"name\": \"smart\", \"trigger\": {\"intelligent\": {\"backup_time\": \"now\", \"start\": \"2090-01-01 09:00:00\"}}, \"push\": $(sp smart)}')")
sql "SELECT push_plan_delete('vg', 'gone')" >/dev/null
# a flow (src/flow_advance.c, src/flow_send.c): a cart added, no purchase within the hour, a
# reminder; A/B variants with a control group (src/push_variants.c); a fallback through the
# webhook channel for a device that does not open its push (sql/api/74_fallback.sql). No
# time_to_live: the clock jumps ahead of the pushes' own time.
sql "SELECT push_flow_create('vg', '{\"name\": \"cart\", \"trigger\": {\"event\": \"cart_add\"},
       \"steps\": [{\"wait_until\": {\"event\": \"purchase\", \"timeout\": \"1 hour\"}, \"on_event\": [{\"exit\": true}],
       \"on_timeout\": [{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"your cart\"}}}}]}]}')" >/dev/null
sql "SELECT push_track('vg', 'fcm-ok', 'cart_add', '{\"sku\": \"x\"}', '2090-01-01 00:00:00+00')" >/dev/null
# an inactivity trigger the scheduler evaluates over every device (src/flow_triggers.c)
sql "SELECT push_flow_create('vg', '{\"name\": \"idle\", \"trigger\": {\"inactive\": {\"event\": \"app_open\", \"for\": \"1 hour\"}},
       \"steps\": [{\"exit\": true}]}')" >/dev/null
ab=$(sql "SELECT push_send('vg', '{\"to\": {\"registration_id\": [\"fcm-ok\", \"apns-ok\", \"hms-ok\", \"honor-ok\"]},
       \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"ab\"}, \"options\": {\"time_to_live\": 0}},
       \"variants\": [{\"name\": \"A\", \"weight\": 45, \"notification\": {\"alert\": \"A\"}},
                      {\"name\": \"B\", \"weight\": 45}, {\"name\": \"C\", \"weight\": 10, \"control\": true}]}')")
sql "SELECT push_attr_set('vg', 'fcm-ok', '{\"email\": \"fcm@example.com\"}')" >/dev/null
fb=$(sql "SELECT push_send('vg', '{\"to\": {\"registration_id\": [\"fcm-ok\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"fb\"}, \"options\": {\"time_to_live\": 0}},
       \"fallback\": {\"after\": \"1 hour\", \"unless\": \"opened\", \"via\": \"webhook\", \"to\": {\"attr\": \"email\"}}}')")
sql "SELECT _clock_set('2090-01-02 00:00:00+00')" >/dev/null
wait_for 120 "SELECT count(*) = 4 FROM schedule_runs" && ok "schedules fired and skipped" \
  || fail "schedules: $(sql "SELECT string_agg(state, ',') FROM schedule_runs")"
sql "SELECT _clock_set('2090-01-03 00:00:00+00')" >/dev/null
wait_for 120 "SELECT count(*) = 6 FROM deliveries d JOIN schedule_runs r USING (task_id) WHERE d.status = 'sent'" \
  && ok "the schedules' pushes are sent" || fail "schedule sends: $(sql "SELECT d.status, count(*) FROM deliveries d JOIN schedule_runs r USING (task_id) GROUP BY 1")"
wait_for 120 "SELECT bool_and(f.state = 'done' AND d.status = 'sent') FROM push_flow_runs f
    JOIN flow_step_runs r ON r.instance_id = f.instance_id AND r.task_id IS NOT NULL
    JOIN deliveries d ON d.task_id = r.task_id WHERE f.app = 'vg' AND f.flow = 'cart'" \
  && ok "the flow's reminder is sent" || fail "flow: $(sql "SELECT state, step FROM push_flow_runs")"
wait_for 120 "SELECT count(*) > 0 AND bool_and(error IS NULL) FROM flow_trigger_evals" \
  && ok "the scheduler evaluated the inactivity trigger" || fail "trigger: $(sql "SELECT * FROM flow_trigger_evals")"
wait_for 120 "SELECT count(*) FILTER (WHERE d.status = 'sent') > 0 AND count(*) FILTER (WHERE d.status IN ('queued')) = 0
    FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab'" \
  && ok "the variants are sent" || fail "variants: $(sql "SELECT d.status, count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab' GROUP BY 1")"
# the fallback is due an hour after its push was sent, on pushplan's clock (which the steps
# above moved): once it was sent, the clock goes past it
wait_for 120 "SELECT EXISTS (SELECT FROM deliveries WHERE task_id = '$fb' AND status = 'sent')" >/dev/null
sql "SELECT _clock_set((SELECT fallback_at + interval '1 second' FROM tasks WHERE task_id = '$fb'))" >/dev/null
wait_for 120 "SELECT EXISTS (SELECT FROM fallbacks WHERE task_id = '$fb' AND outcome = 'queued')
    AND NOT EXISTS (SELECT FROM deliveries d WHERE d.fallback->>'task_id' = '$fb' AND d.status = 'queued')" \
  && ok "the fallback is made and sent through the webhook" || fail "fallback: $(sql "SELECT * FROM fallbacks")"
sql "SELECT _clock_set(NULL)" >/dev/null
record_pids
wait_for 120 "SELECT NOT EXISTS (SELECT FROM outcome_outbox) AND NOT EXISTS (SELECT FROM outcome_batches)" \
  && ok "the outcome webhook posted every outcome" || fail "outcome webhook: $(sql "SELECT * FROM push_outcome_webhooks")"
# every final outcome posted once: the ones of the deliveries no longer queued, less the control
# group's (no outcome: never sent); a difference is printed by delivery
curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/outcomes?name=vg" > "$work/outcomes.json"
jq -r '.requests[] | select(.status == 200) | .outcomes[].delivery_id' "$work/outcomes.json" | sort -n > "$work/posted.txt"
sql "SELECT delivery_id FROM deliveries WHERE status NOT IN ('queued', 'control') ORDER BY 1" | sort -n > "$work/final.txt"
check_eq "... after a 500, every batch taken, none twice" \
  "$(jq -r '[.requests[0].status, ([.requests[] | select(.status == 200) | .batch_id] | length == (unique | length))] | map(tostring) | join(" ")' "$work/outcomes.json")" \
  "500 true"
check_eq "... every final outcome posted, once" "$(diff "$work/final.txt" "$work/posted.txt" | grep '^[<>]' | head -5 | tr '\n' ' ')" ""

# DROP EXTENSION: the workers idle; CREATE EXTENSION: they work again
psql -c "DROP EXTENSION pushplan CASCADE" >/dev/null
sleep 10
psql -c "CREATE EXTENSION pushplan" >/dev/null
sleep 5
record_pids

runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$cluster" -m fast -t 600 -w stop >/dev/null

# ---- what valgrind found -----------------------------------------------------------------------
total=0
for f in "$vg"/*.log; do
  n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -1)
  [ -z "$n" ] && continue
  pid=$(basename "$f" .log)
  if [ "$n" -gt 0 ]; then
    echo "---- $n errors in pid $pid ($(grep "^$pid " "$pids" | head -1 | cut -d' ' -f2- || true)): $f"
    grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Source and|Mismatched|Argument)' "$f" | sort | uniq -c
  fi
  total=$((total + n))
done
echo "processes checked: $(ls "$vg" | wc -l); valgrind errors: $total"
[ "$total" -eq 0 ] && ok "no valgrind errors" || fail "$total valgrind errors (logs in $vg)"
trap - EXIT
[ -n "$mock_pid" ] && { kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null; }
echo "work dir kept: $work (remove with: rm -rf $work)"
finish
