#!/usr/bin/env bash
# The Grafana dashboard (doc/grafana/pushplan.json, doc/grafana.md) against the views it draws:
# every panel query and every template variable query is taken from the JSON, its Grafana macros
# and variables are replaced by concrete values (the rules are below, in grafana_sql), and it is
# run as the data source would run it: as a login bound to the app as reader, on a database
# whose figures were made by the real workers and the statistics functions (pushes sent to the
# mock vendor, with an invalid token and retries; events reported with push_event_batch). Every
# query must run, and return rows where data exists, with no column NULL in every row; over a
# range without pushes, the time-bounded ones must return nothing. The funnel and task panels are
# checked against what the test sent and reported.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
dash=$top/doc/grafana/pushplan.json

# ---- the JSON itself ------------------------------------------------------------------------------
jq -e . "$dash" >/dev/null && ok "the dashboard is JSON" || { fail "the dashboard is not JSON"; finish; }
check_eq "schemaVersion (Grafana 12's)" "$(jq '.schemaVersion' "$dash")" "41"
check_eq "panel ids are unique" "$(jq '[.panels[], (.panels[].panels // [])[]] | map(.id) | (length == (unique | length))' "$dash")" "true"
check_eq "every query panel and target uses the data source variable" \
  "$(jq '[.panels[], (.panels[].panels // [])[] | select(.type != "row") | .datasource.uid, .targets[].datasource.uid] | unique' -c "$dash")" '["${ds}"]'
check_eq "the data source variable is of the PostgreSQL plugin" \
  "$(jq -r '.templating.list[] | select(.name == "ds") | .type + " " + .query' "$dash")" "datasource grafana-postgresql-datasource"
check_eq "template variables" "$(jq -r '[.templating.list[] | .name + ":" + .type] | join(" ")' "$dash")" \
  "ds:datasource app:query plan:query granularity:custom"
check_eq "the plan variable is multi-valued, with All" "$(jq -c '.templating.list[] | select(.name == "plan") | [.multi, .includeAll]' "$dash")" "[true,true]"
# every panel but rows has exactly one raw SQL query (a panel without one draws nothing)
check_eq "every panel has one raw SQL target" \
  "$(jq '[.panels[], (.panels[].panels // [])[] | select(.type != "row") | (.targets | length == 1) and (.targets[0].rawQuery == true) and (.targets[0].rawSql | length > 0)] | all' "$dash")" "true"
check_eq "time series panels return time series, tables tables" \
  "$(jq '[.panels[] | select(.type == "timeseries" or .type == "table") | (.type == "timeseries") == (.targets[0].format == "time_series")] | all' "$dash")" "true"
npanels=$(jq '[.panels[], (.panels[].panels // [])[] | select(.type != "row")] | length' "$dash")

# ---- grafana_sql SQL FROM TO VAR=VALUES...: SQL as Grafana sends it to PostgreSQL ------------------
# VALUES: a variable's values, separated by newlines (several for a multi-valued one).
# Rules, those of Grafana's PostgreSQL data source (the macros: its backend; variables: its frontend,
# which replaces them first):
#   ${var:sqlstring}     each value quoted as an SQL literal (' doubled), joined with ","
#   $__timeFilter(expr)  expr BETWEEN 'FROM' AND 'TO'      (FROM, TO: RFC 3339 in UTC)
#   $__timeFrom()        'FROM'
#   $__timeTo()          'TO'
# Nothing else is replaced: a variable in another form ($var, ${var}, [[var]], another format) or
# another macro is left in the SQL, and the caller fails on it (check_substituted), so the
# dashboard uses only what is tested here.
grafana_sql() {
  local sql=$1 from=$2 to=$3 v name values quoted
  shift 3
  for v in "$@"; do
    name=${v%%=*}
    values=${v#*=}
    quoted=$(printf '%s\n' "$values" | sed "s/'/''/g; s/.*/'&'/" | paste -sd, -)
    sql=${sql//"\${$name:sqlstring}"/$quoted}
  done
  FROM=$from TO=$to perl -0pe '
    s/\$__timeFilter\(([^)]*)\)/"$1 BETWEEN \x27$ENV{FROM}\x27 AND \x27$ENV{TO}\x27"/ge;
    s/\$__timeFrom\(\)/\x27$ENV{FROM}\x27/g;
    s/\$__timeTo\(\)/\x27$ENV{TO}\x27/g;' <<<"$sql"
}
check_substituted() {   # check_substituted NAME SQL: no Grafana variable or macro is left
  if grep -Eq '\$[_a-zA-Z{]|\[\[' <<<"$2"; then
    fail "$1: a variable or macro the test does not replace: $(grep -Eo '\$[_a-zA-Z{][^ ,)]*|\[\[[^]]*\]\]' <<<"$2" | head -n 3 | paste -sd' ' -)"
    return 1
  fi
}
# a self-check of the rules, on a query of known text
check_eq "the substitution rules" \
  "$(grafana_sql "SELECT 1 FROM t WHERE a IN (\${plan:sqlstring}) AND \$__timeFilter(t.x) AND y > \$__timeFrom() AND y < \$__timeTo() AND b = \${app:sqlstring}" \
       2025-06-01T00:00:00Z 2025-06-02T00:00:00Z $'plan=p1\np\'2' 'app=shop')" \
  "SELECT 1 FROM t WHERE a IN ('p1','p''2') AND t.x BETWEEN '2025-06-01T00:00:00Z' AND '2025-06-02T00:00:00Z' AND y > '2025-06-01T00:00:00Z' AND y < '2025-06-02T00:00:00Z' AND b = 'shop'"

# ---- figures made by the workers: two apps, the reader bound to one ----------------------------------
vendor_env_start 55740 55741 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.poll_interval = 500" \
  "pushplan.http_timeout = 3000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
for a in shop other; do
  sql "SELECT push_app_create('$a')" >/dev/null
  configure_vendors "$a"
done
sql "SELECT push_app_set('shop', '{\"timezone\": \"Asia/Shanghai\"}')" >/dev/null
sql "SELECT push_plan_create('shop', 'p618', '618'), push_plan_create('shop', 'p11', '11.11'),
            push_plan_create('other', 'secret_plan', 'not the reader''s')" >/dev/null
# the data source's login: bound to shop as reader, nothing else (doc/grafana.md)
psql -c "CREATE ROLE grafana_reader LOGIN" -c "SELECT pushplan.push_app_grant('shop', 'grafana_reader', 'reader')" >/dev/null
as_reader() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p "$pgport" -U grafana_reader -d postgres -At "$@"; }

reg() { sql "SELECT push_device_register('$1', '$2', '$3', '$4', '$5')" >/dev/null; }
reg shop ios-1 ios apns test-ios-1
reg shop ios-2 ios apns test-ios-2
reg shop ios-gone ios apns test-unregistered-1      # 410: invalid token
reg shop ios-busy ios apns test-throttle1-a         # 429 once, then sent
reg shop and-1 android fcm fcm-ok-1
reg shop and-2 android fcm fcm-ok-2
reg shop web-1 web webhook web-ok-1
reg other o-1 ios apns test-other-1
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers not running"

send() { sql "SELECT push_send('$1', '{\"to\": $2, \"body\": {\"platform\": \"all\", $3, \"options\": {\"plan_id\": \"$4\"}}}')"; }
a=$(send shop '"all"' '"notification": {"alert": "618"}' p618)
b=$(send shop '{"registration_id": ["and-1", "web-1"]}' '"message": {"msg_content": "11.11"}' p11)
o=$(send other '"all"' '"notification": {"alert": "theirs"}' secret_plan)
wait_for 40 "SELECT bool_and(state = 'done') FROM tasks WHERE task_id IN ('$a', '$b', '$o')" && ok "the pushes are done" \
  || fail "pushes: $(sql "SELECT task_id, status, count(*) FROM deliveries GROUP BY 1, 2")"

# an SDK collector's batch, with a repeat (counted once)
sql "SELECT push_event_batch('shop', '[
  {\"registration_id\": \"ios-1\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"ios-1\", \"task_id\": \"$a\", \"kind\": \"open\"},
  {\"registration_id\": \"ios-1\", \"task_id\": \"$a\", \"kind\": \"click\"},
  {\"registration_id\": \"ios-1\", \"task_id\": \"$a\", \"kind\": \"convert\", \"value\": 199.5},
  {\"registration_id\": \"ios-2\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"open\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"open\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"received\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"click\"}]')" >/dev/null
sql "SELECT push_event('other', 'o-1', '$o', 'open')" >/dev/null

# ---- the template variables, as the reader ------------------------------------------------------------
now=$(date -u +%s)
from=$(date -u -d "@$((now - 2 * 86400))" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$((now + 86400))" +%Y-%m-%dT%H:%M:%SZ)
# the same width a year and more before: no push was due then
old_from=$(date -u -d "@$((now - 400 * 86400))" +%Y-%m-%dT%H:%M:%SZ)
old_to=$(date -u -d "@$((now - 397 * 86400))" +%Y-%m-%dT%H:%M:%SZ)

var_sql() { jq -r --arg n "$1" '.templating.list[] | select(.name == $n) | .query' "$dash"; }
q=$(grafana_sql "$(var_sql app)" "$from" "$to")
check_substituted "variable app" "$q" &&
  check_eq "variable app: the apps the reader is bound to" "$(as_reader -c "$q" 2>&1)" "shop"
apps=$(as_reader -c "$q")
q=$(grafana_sql "$(var_sql plan)" "$from" "$to" "app=$apps")
check_substituted "variable plan" "$q" &&
  check_eq "variable plan: shop's plans" "$(as_reader -c "$q" 2>&1 | paste -sd' ' -)" "default p11 p618"
all_plans=$(as_reader -c "$q")
granularities=$(jq -r '.templating.list[] | select(.name == "granularity") | .options[].value' "$dash")
check_eq "variable granularity: its options" "$(echo $granularities)" "day hour"

# ---- every panel query, as the reader ---------------------------------------------------------------
# For each panel, each granularity and two selections of plans (All: what the variable query gave;
# one plan): the query as Grafana sends it must run; over the test's range it must return rows,
# none of its columns NULL in every row; over the old range nothing (or only NULLs: an aggregate
# without GROUP BY still returns its one row): every panel is bounded by the dashboard's range but
# the plan overview, which shows each plan's whole life.
summary() {   # summary SQL: "ROWS NULL-COLUMNS" of SQL's result (NULL-COLUMNS: those NULL in every row)
  as_reader -c "WITH q AS ($1), j AS (SELECT to_jsonb(q) AS r FROM q)
    SELECT (SELECT count(*) FROM j) || ' ' || coalesce((SELECT string_agg(k, ',' ORDER BY k)
      FROM (SELECT DISTINCT jsonb_object_keys(r) AS k FROM j) c
      WHERE NOT EXISTS (SELECT 1 FROM j WHERE j.r -> c.k <> 'null'::jsonb)), '')"
}
jq -c '[.panels[], (.panels[].panels // [])[]] | .[] | select(.type != "row") | {title, sql: .targets[0].rawSql}' "$dash" \
  > "$work/panels.jsonl"
ran=0
while read -r panel; do
  title=$(jq -r .title <<<"$panel")
  raw=$(jq -r .sql <<<"$panel")
  for g in $granularities; do
    for plans in "$all_plans" "p618"; do
      label="$title [granularity $g, plans $(echo $plans)]"
      q=$(grafana_sql "$raw" "$from" "$to" "app=$apps" "plan=$plans" "granularity=$g")
      check_substituted "$label" "$q" || continue
      if ! err=$(as_reader -c "$q" 2>&1 >/dev/null) || [ -n "$err" ]; then
        fail "$label: $err"; continue
      fi
      ran=$((ran + 1))
      s=$(summary "$q")
      if [ "${s%% *}" -gt 0 ] && [ "${s#* }" = "" ]; then
        ok "$label: ${s%% *} rows"
      else
        fail "$label: rows and columns NULL in every row: $s"
      fi
      if [ "$title" != "Plan overview" ]; then
        s=$(summary "$(grafana_sql "$raw" "$old_from" "$old_to" "app=$apps" "plan=$plans" "granularity=$g")")
        # nothing, or one row all NULL (NULL-COLUMNS then names every column)
        cols=$(as_reader -c "SELECT count(*) FROM jsonb_object_keys((SELECT to_jsonb(q) FROM ($(grafana_sql "$raw" "$old_from" "$old_to" "app=$apps" "plan=$plans" "granularity=$g")) q LIMIT 1))")
        if [ "$s" = "0 " ] || { [ "${s%% *}" = 1 ] && [ "$(tr ',' '\n' <<<"${s#* }" | wc -l)" = "$cols" ]; }; then
          ok "$label: nothing a year ago"
        else
          fail "$label: a year ago, where no push was due: $s"
        fi
      fi
    done
  done
done < "$work/panels.jsonl"
check_eq "every panel ran for every granularity and selection" "$ran" "$((npanels * 4))"

# ---- the figures the panels show -------------------------------------------------------------------------
panel_sql() { grafana_sql "$(jq -r --arg t "$1" '[.panels[], (.panels[].panels // [])[]] | .[] | select(.title == $t) | .targets[0].rawSql' "$dash")" "$from" "$to" "app=$apps" "plan=$2" "granularity=${3:-day}"; }
# p618 (the broadcast, to the 7 devices of shop): 6 sent, ios-gone failed; received ios-1, ios-2,
# and-1; opened ios-1, and-1 (twice, once counted); clicked and converted ios-1. p11: and-1 and
# web-1, web-1 received and clicked.
check_eq "Funnel in the range, every plan: targeted sent received opened clicked converted" \
  "$(as_reader -F ' ' -c "$(panel_sql "Funnel in the range" "$all_plans")")" "9 8 4 2 2 1"
check_eq "Funnel in the range, p618" "$(as_reader -F ' ' -c "$(panel_sql "Funnel in the range" p618)")" "7 6 3 2 1 1"
check_eq "Funnel over time, per hour: the sums are the range's" \
  "$(as_reader -F ' ' -c "SELECT sum(targeted), sum(sent), sum(clicked) FROM ($(panel_sql "Funnel over time" "$all_plans" hour)) f")" "9 8 2"
check_eq "Tasks: the two of shop, newest first" \
  "$(as_reader -F ' ' -c "SELECT task_id, targeted, sent, failed, received, clicked FROM ($(panel_sql "Tasks" "$all_plans")) t" | paste -sd' ' -)" \
  "$b 2 2 0 1 1 $a 7 6 1 3 1"
check_eq "Plan overview: rates" \
  "$(as_reader -F ' ' -c "SELECT plan_id, sent_rate, open_rate, click_rate, conversion_rate, converted_value FROM ($(panel_sql "Plan overview" "$all_plans")) o WHERE tasks > 0 ORDER BY plan_id" | paste -sd' ' -)" \
  "p11 1.0000 0.0000 0.5000 0.0000 0 p618 0.8571 0.3333 0.1667 0.1667 199.5"
check_eq "Failed per vendor, by reason: apns's invalid token" \
  "$(as_reader -F ' ' -c "SELECT vendor, invalid_token, rejected, gave_up, other FROM ($(panel_sql "Failed per vendor, by reason" "$all_plans")) f WHERE invalid_token + rejected + gave_up + other > 0")" "apns 1 0 0 0"
check_eq "Vendors per day: retries (ios-busy once) and timed answers" \
  "$(as_reader -F ' ' -c "SELECT vendor, sent, retries, answers, latency_p50_ms > 0, latency_p95_ms >= latency_p50_ms FROM ($(panel_sql "Vendors per day" "$all_plans")) v WHERE vendor = 'apns'")" "apns 3 1 5 t t"

# ---- what the reader may not see -----------------------------------------------------------------------
check_eq "the other app's plan is not the reader's" \
  "$(as_reader -c "$(grafana_sql "$(jq -r '.panels[] | select(.title == "Plan overview") | .targets[0].rawSql' "$dash")" "$from" "$to" "app=other" "plan=secret_plan" "granularity=day")" 2>&1 | wc -l)" "0"

finish
