#!/usr/bin/env bash
# Templates (doc/templates.md): renders per second of a push as a sender renders it for each
# device (src/template_push.c: every templated text, then the push's serialization), over
# DEVICES made-up devices whose values are built before the clock starts.  Target: >= 200,000
# renders/s.  One backend, so one core; per CPU second and per wall second, three rounds of
# each push: a typical one (an alert, a title, two extras, an "en" text, reading attributes and the
# account) and a small one (one expression in the alert).  The end-to-end cost on a broadcast is
# TEMPLATE=0 / TEMPLATE=1 of test/bench/bench_sending.sh (doc/benchmarks.md, "Templates").
#   test/bench/bench_templates.sh [PORT] [DEVICES]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-55843}
n=${2:-200000}
work=$(mktemp -d /tmp/pushplan-bench-templates.XXXXXX)
chmod 755 "$work"
trap '"$top/dev/cluster" destroy "$work/data"; rm -rf "$work"' EXIT

"$top/dev/cluster" start "$work/data" "$port" >/dev/null
psql_() { psql -X -q -At -h "$work/data" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" >/dev/null
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
typical='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hello {{attrs.first_name | default: \"there\"}}, your points: {{attrs.points}}", "android": {"title": "{{attrs.city | upcase}} deals", "extras": {"who": "{{account}}", "level": "{{attrs.level}}", "campaign": "618"}}}, "options": {"multi_language": {"en": {"alert": "Hi {{attrs.first_name | truncate: 12}}"}}}}}'
small='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hello {{attrs.first_name}}, flash sale: 50% off until midnight"}}}'
for name in typical small; do
  push=${!name}
  for round in 1 2 3; do
    r=$(psql_ -c "SELECT pushplan._template_bench('$push', $n)")
    echo "templates, $name push, round $round: $(jq -r '"\(.renders) renders (\(.texts) texts, \(.average_bytes) bytes a push): \(.per_cpu_second)/s per CPU second (\(.cpu_s) s), \(.per_second)/s wall (\(.wall_s) s)"' <<<"$r") (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
