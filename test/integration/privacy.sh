#!/usr/bin/env bash
# Consent per category, erasure and export end to end (doc/privacy.md), through the real workers
# and the mock vendor: a marketing push (opt_in) reaches only the devices that granted it, a
# transactional one every device, an app-defined opt_out category all but the one that withdrew
# it; a consent withdrawn after the expansion suppresses the delivery at the claim (counted as
# consent, explained by push_trace). Then an account and a device are erased: a query over every
# table of the schema, found from the catalog, finds no row about them, and push_plan_stats reads
# exactly as before.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55860 55861 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
# (broadcasts back to back: no minimum interval)
sql "SELECT push_app_set('shop', '{\"consent\": {\"marketing\": \"opt_in\", \"news\": \"opt_out\"}, \"broadcast_min_interval\": \"0\"}')" >/dev/null

# four devices, with every kind of personal row: tags, attributes, an account, visits
for i in 1 2 3 4; do
  sql "SELECT push_device_register('shop', 'gdpr-dev-$i', 'web', 'webhook', 'web-ok-gdpr$i')" >/dev/null
done
sql "SELECT push_tag_add('shop', 'gdpr-dev-1', 'gdpr-vip'), push_attr_set('shop', 'gdpr-dev-1', '{\"city\": \"gdpr-city\"}'),
            push_account_bind('shop', 'gdpr-dev-1', 'gdpr-account-1', 1),
            push_device_activity('shop', 'gdpr-dev-1', now() - interval '2 hours'),
            push_device_activity('shop', 'gdpr-dev-2', now() - interval '3 hours')" >/dev/null
sql "SELECT push_device_consent('shop', 'gdpr-dev-1', 'marketing', true), push_device_consent('shop', 'gdpr-dev-2', 'marketing', true),
            push_device_consent('shop', 'gdpr-dev-3', 'news', false)" >/dev/null

wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers not running"
mock_reset

send() { sql "SELECT push_send('shop', '{\"to\": $1, \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"$2\"}$3}}')"; }
done_within() { wait_for "$1" "SELECT state = 'done' FROM tasks WHERE task_id = '$2'"; }
reached() { sql "SELECT string_agg(v.registration_id || ':' || d.status || coalesce(':' || d.error, ''), ' ' ORDER BY v.registration_id)
                 FROM deliveries d JOIN devices v ON v.device_id = d.device_id WHERE d.task_id = '$1'"; }

# ---- who each category reaches -----------------------------------------------------------------
m=$(send '"all"' "sale" ', "options": {"category": "marketing"}')
done_within 30 "$m" && ok "the marketing broadcast is done" || fail "marketing: $(reached "$m")"
check_eq "marketing (opt_in) reaches only the devices that granted it" "$(reached "$m")" "gdpr-dev-1:sent gdpr-dev-2:sent"
t=$(send '{"registration_id": ["gdpr-dev-1", "gdpr-dev-2", "gdpr-dev-3", "gdpr-dev-4"]}' "receipt" ', "options": {"category": "transactional"}')
done_within 30 "$t" && ok "the transactional push is done" || fail "transactional: $(reached "$t")"
check_eq "transactional reaches every device" "$(reached "$t")" "gdpr-dev-1:sent gdpr-dev-2:sent gdpr-dev-3:sent gdpr-dev-4:sent"
n=$(send '"all"' "news" ', "options": {"category": "news"}')
done_within 30 "$n" && ok "the news broadcast is done" || fail "news: $(reached "$n")"
check_eq "news (opt_out) reaches all but the device that withdrew it" "$(reached "$n")" "gdpr-dev-1:sent gdpr-dev-2:sent gdpr-dev-4:sent"
stats=$(mock_get /_mock/stats)
check_eq "the vendor got exactly those" \
  "$(echo "$stats" | jq -r '[.tokens | to_entries[] | select(.key | startswith("web-ok-gdpr")) | "\(.key)=\(.value.requests)"] | sort | join(" ")')" \
  "web-ok-gdpr1=3 web-ok-gdpr2=3 web-ok-gdpr3=1 web-ok-gdpr4=2"

# ---- consent withdrawn after the expansion: the claim suppresses it -----------------------------
# the list push is expanded by push_send; in the same transaction, before any sender sees it,
# gdpr-dev-2 withdraws marketing
w=$(psql -c "SET search_path = pushplan, public" -c "BEGIN" \
  -c "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"gdpr-dev-1\", \"gdpr-dev-2\"]}, \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"last call\"}, \"options\": {\"category\": \"marketing\"}}}')" \
  -c "SELECT push_device_consent('shop', 'gdpr-dev-2', 'marketing', false)" -c "COMMIT")
w=${w%%$'\n'*}
done_within 30 "$w" && ok "the push withdrawn from is done" || fail "withdrawn: $(reached "$w")"
check_eq "a consent withdrawn after the expansion suppresses the delivery" "$(reached "$w")" \
  "gdpr-dev-1:sent gdpr-dev-2:suppressed:no consent: marketing"
check_eq "... and nothing left for it" "$(mock_get /_mock/stats | jq '.tokens["web-ok-gdpr2"].requests')" "3"
check_eq "push_trace says why" "$(sql "SELECT detail FROM push_trace('shop', 'gdpr-dev-2', '$w') WHERE step = 'suppressed'")" \
  "suppressed: the device's consent to category \"marketing\" was withdrawn before it was sent (attempts 1, error \"no consent: marketing\")"
check_eq "counted as consent in push_plan_stats" \
  "$(sql "SELECT suppressed_by->>'consent' FROM push_plan_stats('shop', NULL, now() - interval '1 day', now() + interval '1 day')")" "1"
check_eq "... in push_plan_stats_daily" "$(sql "SELECT sum(suppressed_consent) FROM push_plan_stats_daily WHERE app = 'shop'")" "1"
# a schedule's push names its category too: checked when it fires, as push_send checks it
at=$(date -u -d '+4 seconds' '+%Y-%m-%d %H:%M:%S')
sql "SELECT push_schedule_create('shop', '{\"name\": \"soon\", \"trigger\": {\"single\": {\"time\": \"$at\"}},
  \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"scheduled sale\"}, \"options\": {\"category\": \"marketing\"}}}}')" >/dev/null \
  && ok "a schedule with a category is created" || fail "schedule with a category not created"
wait_for 30 "SELECT EXISTS (SELECT 1 FROM schedule_runs r JOIN schedules s USING (schedule_id) WHERE s.name = 'soon')" \
  && ok "it fired" || fail "the schedule did not fire"
check_eq "its occurrence" "$(sql "SELECT r.state || coalesce(': ' || r.detail, '') FROM schedule_runs r JOIN schedules s USING (schedule_id) WHERE s.name = 'soon'")" "fired"
s1=$(sql "SELECT r.task_id FROM schedule_runs r JOIN schedules s USING (schedule_id) WHERE s.name = 'soon'")
done_within 30 "$s1" && ok "the scheduled push is done" || fail "scheduled: $(reached "$s1")"
check_eq "the scheduled marketing push reaches only the device that still grants it" "$(reached "$s1")" "gdpr-dev-1:sent"
recount_diff() {
  sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
                             UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) d"
}
check_eq "the aggregates equal a recount from the raw rows" "$(recount_diff)" "0"

# ---- events, a schedule naming the device, then export -----------------------------------------
sql "SELECT push_event('shop', 'gdpr-dev-1', '$m', 'open'), push_event('shop', 'gdpr-dev-1', '$t', 'received'),
            push_event('shop', 'gdpr-dev-2', '$t', 'received')" >/dev/null
sql "SELECT push_schedule_create('shop', '{\"name\": \"weekly\",
  \"trigger\": {\"single\": {\"time\": \"$(date -u -d '+30 days' '+%Y-%m-%d 09:00:00')\"}},
  \"push\": {\"to\": {\"registration_id\": [\"gdpr-dev-1\", \"gdpr-dev-4\"]}, \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"weekly\"}}}}')" >/dev/null \
  && ok "a schedule names gdpr-dev-1" || fail "schedule not created"
wait_for 20 "SELECT EXISTS (SELECT 1 FROM device_send_profiles p JOIN devices v USING (device_id) WHERE v.registration_id = 'gdpr-dev-1')" \
  && ok "the upkeep made gdpr-dev-1's send profile" || fail "no send profile for gdpr-dev-1"
check_eq "the account's export holds its device, deliveries and events" \
  "$(sql "SELECT x->'devices'->0->>'registration_id' || ' ' || jsonb_array_length(x->'devices'->0->'deliveries') || ' ' || (SELECT count(*) FROM jsonb_array_elements(x->'devices'->0->'deliveries') d, jsonb_array_elements(d->'events') e)
         FROM push_account_export('shop', 'gdpr-account-1', 1) x")" "gdpr-dev-1 5 2"

# ---- erasure: nothing left about them anywhere, the figures unchanged ---------------------------
wait_for 10 "SELECT NOT EXISTS (SELECT 1 FROM stats_pending)" && ok "the upkeep folded the figures" || fail "stats_pending not folded"
figures() {
  sql "SELECT string_agg(format('%s/%s/%s:%s', plan_id, vendor, message_type, to_jsonb(s) - 'plan_id' - 'vendor' - 'message_type' - 'period'), ' ' ORDER BY plan_id, vendor, message_type)
       FROM push_plan_stats('shop', NULL, now() - interval '1 day', now() + interval '1 day') s"
}
before=$(figures)
tasks_before=$(sql "SELECT string_agg(format('%s:%s', task_id, to_jsonb(s) - 'task_id'), ' ' ORDER BY task_id) FROM task_stats s")
ids=$(sql "SELECT array_agg(device_id ORDER BY device_id) FROM devices WHERE registration_id IN ('gdpr-dev-1', 'gdpr-dev-2')")
check_eq "push_account_erase" "$(sql "SELECT r->'counts'->>'devices' || ' ' || (r->'counts'->>'deliveries') || ' ' || (r->'counts'->>'events') FROM push_account_erase('shop', 'gdpr-account-1', 1) r")" "1 5 2"
check_eq "push_device_erase" "$(sql "SELECT r->'counts'->>'devices' || ' ' || (r->'counts'->>'deliveries') || ' ' || (r->'counts'->>'events') FROM push_device_erase('shop', 'gdpr-dev-2') r")" "1 4 1"
# every table of the schema (partitions through their parents), from the catalog: rows whose text
# holds a registration id, token, account, tag-free attribute value of theirs, or whose device_id is theirs
left=$(sql "DO \$\$
DECLARE
    r record;
    n bigint;
    found text := '';
BEGIN
    FOR r IN SELECT c.oid::regclass AS t,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'device_id'
                            AND NOT a.attisdropped) AS has_device
             FROM pg_class c WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relkind IN ('r', 'p')
               AND NOT c.relispartition LOOP
        EXECUTE format('SELECT count(*) FROM %s x WHERE x::text LIKE ANY (%L)%s', r.t,
                       ARRAY['%gdpr-dev-1%', '%gdpr-dev-2%', '%web-ok-gdpr1%', '%web-ok-gdpr2%', '%gdpr-account-1%', '%gdpr-city%'],
                       CASE WHEN r.has_device THEN ' OR x.device_id = ANY (''$ids''::bigint[])' ELSE '' END) INTO n;
        IF n > 0 THEN
            found := found || format(' %s:%s', r.t, n);
        END IF;
    END LOOP;
    RAISE NOTICE 'left:%', found;
END \$\$" 2>&1)
check_eq "no row of any table of the schema is about them" "$left" "NOTICE:  left:"
check_eq "the tables read: every one of the schema" \
  "$(sql "SELECT count(*) > 25 FROM pg_class c WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition")" "t"
wait_for 10 "SELECT NOT EXISTS (SELECT 1 FROM stats_pending)" && ok "nothing new to fold" || fail "stats_pending after the erasure"
check_eq "push_plan_stats reads exactly as before" "$(figures)" "$before"
check_eq "task_stats are unchanged" "$(sql "SELECT string_agg(format('%s:%s', task_id, to_jsonb(s) - 'task_id'), ' ' ORDER BY task_id) FROM task_stats s")" "$tasks_before"
check_eq "the others are untouched" "$(sql "SELECT string_agg(registration_id, ' ' ORDER BY registration_id) FROM devices")" "gdpr-dev-3 gdpr-dev-4"
check_eq "the schedule's audience keeps the others" "$(sql "SELECT push->'to' FROM schedules WHERE name = 'weekly'")" '{"registration_id": ["gdpr-dev-4"]}'
check_eq "the audit rows: hashes, the caller, the counts" \
  "$(sql "SELECT string_agg(subject || ':' || length(subject_hash) || ':' || erased_by, ' ' ORDER BY erasure_id) FROM erasures")" \
  "account:64:postgres device:64:postgres"
check_eq "an erased device is unknown" "$(sql "SELECT push_device_export('shop', 'gdpr-dev-2')" 2>&1 | head -1)" \
  'ERROR:  92039: device "gdpr-dev-2" is not registered'

finish
