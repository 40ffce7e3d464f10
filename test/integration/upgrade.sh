#!/usr/bin/env bash
# Upgrades: install the released 0.1 (sql/pushplan--0.1.sql, kept as it was released), add data,
# ALTER EXTENSION pushplan UPDATE, and compare the catalog (functions, views, tables, columns,
# constraints, indexes, grants, comments, roles: test/upgrade/catalog.sql) with a fresh install
# of the current version. Any difference fails; so does data lost on the way.
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
port=55420
mkdir -p "$work"
chmod 755 "$work"
db="$work/pg"
trap 'cp "$db/server.log" "$work/server.log" 2>/dev/null; "$top/dev/cluster" destroy "$db"' EXIT
"$top/dev/cluster" start "$db" "$port" || exit 1

sql() { psql -h "$db" -p "$port" -U postgres -X -At -q -v ON_ERROR_STOP=1 "$@"; }
checks=0
failures=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/pushplan.control")
sql -c 'CREATE DATABASE upgraded' -c 'CREATE DATABASE fresh' || exit 1

# 0.1, with what a user of 0.1 had: an app, devices, tags, a plan, a task and its deliveries.
# Written as rows: the library installed is the new one, and 0.1's SQL functions need 0.1's
# library (upgrade the extension right after the library: doc/upgrading.md).
if sql -d upgraded -c "CREATE EXTENSION pushplan VERSION '0.1'" \
     -c "SET search_path = pushplan" \
     -c "INSERT INTO apps (app) VALUES ('shop')" \
     -c "INSERT INTO plans (app_id, plan_id, is_default) SELECT app_id, p, p = 'default' FROM apps, unnest(ARRAY['default', 'p1']) p" \
     -c "INSERT INTO devices (app_id, registration_id, platform, vendor, token) SELECT app_id, 'r' || g, 'ios', 'apns', 'tok-' || g FROM apps, generate_series(1, 2) g" \
     -c "INSERT INTO tags (app_id, tag) SELECT app_id, 'vip' FROM apps" \
     -c "INSERT INTO device_tags SELECT tag_id, device_id FROM tags, devices WHERE registration_id = 'r1'" \
     -c "INSERT INTO tasks (task_id, app_id, plan_id, push, state) SELECT 'tsk_1', app_id, 'p1', '{\"to\": \"all\"}', 'done' FROM apps" \
     -c "INSERT INTO deliveries (task_id, app_id, device_id, vendor, status, send_at) SELECT 'tsk_1', app_id, device_id, vendor, 'sent', now() FROM devices" \
     -c "INSERT INTO device_activity (device_id, at) SELECT device_id, now() - interval '1 day' FROM devices WHERE registration_id = 'r1'" \
     -c "INSERT INTO apps (app, settings) VALUES ('capped', '{\"frequency_cap\": {\"per_day\": 2}, \"quiet_hours\": {\"from\": \"22:00\", \"to\": \"22:00\"}}'), ('unlimited', '{\"frequency_cap\": {\"per_day\": 0}}')" >/dev/null
then ok "0.1 installs and takes data"; else fail "0.1 did not install"; exit 1; fi
# until the update, 0.1's SQL meets the new library: what reads the new columns fails
err=$(sql -d upgraded -c "SELECT pushplan.push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"hi\"}}}')" 2>&1)
want='ERROR:  function pushplan.clock_now() does not exist'
[[ "$err" == *"$want"* ]] && ok "before the update: push_send of 0.1 under the new library fails as doc/upgrading.md says" \
  || fail "before the update: wanted '$want', got: $err"
before=$(sql -d upgraded -c "SELECT (SELECT count(*) FROM pushplan.devices) || ' ' || (SELECT count(*) FROM pushplan.device_tags) || ' ' || (SELECT count(*) FROM pushplan.tasks) || ' ' || (SELECT count(*) FROM pushplan.plans) || ' ' || (SELECT count(*) FROM pushplan.deliveries)")

if sql -d upgraded -c "ALTER EXTENSION pushplan UPDATE" 2>"$work/update.err"; then
  ok "ALTER EXTENSION pushplan UPDATE (0.1 -> $current)"
else
  fail "ALTER EXTENSION pushplan UPDATE: $(head -3 "$work/update.err")"
fi
# 0.1 stored engagement controls and applied none: 0.2 applies those it accepts and removes the
# others, each named in a WARNING (doc/engagement.md, "Upgrading from 0.1")
settings=$(sql -d upgraded -c "SELECT string_agg(app || ' ' || settings::text, '; ' ORDER BY app) FROM pushplan.apps WHERE app <> 'shop'")
want='capped {"frequency_cap": {"per_day": 2}}; unlimited {}'
[ "$settings" = "$want" ] && ok "0.1's engagement controls: kept when 0.2 accepts them, removed otherwise" \
  || fail "settings after the update: wanted '$want', got '$settings'"
notices=$(grep -c 'WARNING:  pushplan: \(frequency_cap\|quiet_hours\) \(of app\|removed\)' "$work/update.err")
[ "$notices" = 3 ] && ok "... each named in a WARNING (an extension script's NOTICEs are not shown)" || fail "notices: $notices in: $(cat "$work/update.err")"
version=$(sql -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pushplan'")
[ "$version" = "$current" ] && ok "upgraded to $current" || fail "upgraded to '$version', not $current"
sql -d fresh -c 'CREATE EXTENSION pushplan' || exit 1

# the partition an upgrade makes of 0.1's deliveries (deliveries_before_<today>) is the one
# difference a fresh install cannot have; it is checked on its own below
sql -d upgraded -f "$top/test/upgrade/catalog.sql" | grep -v ' pushplan\.deliveries_before_' > "$work/catalog.upgraded"
sql -d fresh -f "$top/test/upgrade/catalog.sql" > "$work/catalog.fresh"
n=$(wc -l < "$work/catalog.fresh")
if [ "$n" -gt 100 ] && diff "$work/catalog.fresh" "$work/catalog.upgraded" > "$work/catalog.diff"; then
  ok "the upgraded catalog is the fresh one ($n facts)"
else
  fail "the upgraded catalog differs from a fresh install ($n facts; < fresh, > upgraded):"
  head -n 60 "$work/catalog.diff"
fi

after=$(sql -d upgraded -c "SELECT (SELECT count(*) FROM pushplan.devices) || ' ' || (SELECT count(*) FROM pushplan.device_tags) || ' ' || (SELECT count(*) FROM pushplan.tasks) || ' ' || (SELECT count(*) FROM pushplan.plans) || ' ' || (SELECT count(*) FROM pushplan.deliveries)")
[ "$before" = "$after" ] && ok "data kept (devices, tags, tasks, plans, deliveries: $after)" || fail "data before '$before', after '$after'"
# the upgraded install works, old data and new functions together
if sql -d upgraded -c "SET search_path = pushplan" \
     -c "SELECT push_tag_add('shop', 'r2', 'vip')" \
     -c "SELECT push_device_register('shop', 'r3', 'android', 'fcm', 'tok-3', 'UTC', 'en')" \
     -c "CREATE ROLE upgrade_reader LOGIN" \
     -c "SELECT push_app_grant('shop', 'upgrade_reader', 'reader')" >/dev/null 2>"$work/use.err" &&
   [ "$(sql -d upgraded -c "SET ROLE upgrade_reader" -c "SELECT count(*) FROM pushplan.push_plans WHERE app = 'shop'")" = 2 ]
then ok "after the upgrade: old data with new functions (tags, bindings, views)"
else fail "after the upgrade: $(head -3 "$work/use.err")"; fi
# 0.1's visits are in no send profile: the update marked their device, and the refresh takes it
marks=$(sql -d upgraded -c "SELECT string_agg(d.registration_id, ',') FROM pushplan.smart_profile_pending m JOIN pushplan.devices d USING (device_id)")
refreshed=$(sql -d upgraded -c "SELECT pushplan._smart_profiles_refresh(10)" -c "SELECT visits FROM pushplan.device_send_profiles")
[ "$marks" = r1 ] && [ "$refreshed" = $'1\n1' ] && ok "0.1's activity marked for the send profiles, and refreshed" \
  || fail "0.1's activity: marked '$marks', refreshed '$refreshed'"
# 0.1's deliveries became the partition of every day before the upgrade (doc/statistics.md,
# "Retention"), and were counted into the statistics
legacy=$(sql -d upgraded -c "SELECT count(*) FROM pushplan.deliveries_before_$(date -u +%Y%m%d)" \
  -c "SELECT count(*) FROM pushplan.deliveries_default")
[ "$legacy" = $'2\n0' ] && ok "0.1's deliveries are the partition before today" || fail "0.1's deliveries: '$legacy'"
counted=$(sql -d upgraded -c "SELECT platform || ' ' || vendor || ' ' || targeted || ' ' || sent FROM pushplan.task_stats WHERE task_id = 'tsk_1'")
[ "$counted" = "ios apns 2 2" ] && ok "0.1's deliveries are counted in the statistics" || fail "0.1's statistics: '$counted'"
new=$(sql -d upgraded -c "SELECT pushplan.push_send('shop', '{\"to\": {\"registration_id\": [\"r1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"after\"}}}')" \
  -c "SELECT tableoid::regclass FROM pushplan.deliveries WHERE task_id <> 'tsk_1'")
[ "${new##*$'\n'}" = "pushplan.deliveries_$(date -u +%Y%m%d)" ] && ok "a new delivery goes to today's partition" || fail "new delivery: '$new'"
sql -c "DROP DATABASE upgraded" -c "DROP ROLE IF EXISTS upgrade_reader" >/dev/null 2>&1

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
