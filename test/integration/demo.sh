#!/usr/bin/env bash
# Runs dev/demo (on its own port) and checks that it succeeds, ends with its final line, and
# prints the counts its deterministic data set must give. The expected audience counts were
# confirmed by hand-written SQL over the tables, independently of the audience compiler.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
mkdir -p "$work"
out=$work/demo.out
fail=0

mkdir -p "$work/tmp"
PUSHPLAN_DEMO_PORT=55801 TMPDIR=$work/tmp timeout 300 "$top/dev/demo" >"$out" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "dev/demo exited with $rc"
	tail -n 40 "$out"
	exit 1
fi

expect() {          # expect DESCRIPTION EXTENDED-REGEX: some line of the output matches
	if grep -Eq -- "$2" "$out"; then
		echo "ok: $1"
	else
		echo "MISSING: $1 (/$2/)"
		fail=1
	fi
}

expect "final line" '^pushplan demo: all [0-9]+ steps passed in [0-9]+ s$'
[ "$(tail -n 1 "$out")" = "$(grep -E '^pushplan demo: all' "$out")" ] ||
	{ echo "the final line is not last"; fail=1; }
expect "two batches of 5000" '^ +2 \| +5000$'
expect "devices, reachable" '^ all +\| +\| +10000 \| +9723$'
expect "bindings" '^ +3333 \| +3666 \| +666$'
expect "package: 1114 distinct accounts" '^ +1 \| winners_618\.zip \| +1 \| +1114 \| '
expect "bad batch refused with 90020" \
	'ERROR:  90020: tag "六一八年中大促限时秒杀爆款专享会场" is longer than 50 bytes \(device 3 of the batch\)'
expect "nothing of the bad batch written" '^ +10000 \| +0$'

# Audience counts, by the audience's label in the expanded output.
awk '/^audience \| / { a = substr($0, 12) } /^devices  \| / { print a " = " $3 }' "$out" \
	>"$work/counts"
cat >"$work/expected" <<'EOF'
everyone = 9723
named devices (seed 000's registration_id list) = 3
tag OR: the US or India = 6299
tag_and + tag_not: US VIPs who have not churned = 247
win-back (seed 000, scenario 2): churned users in US, IN or PH = 1170
attr_and: 深圳 platinum members = 41
condition tree: VIPs in 深圳 or not churned = 619
accounts, account_push_type 0: each account's latest device = 4
accounts, account_push_type 1: all their devices = 7
account package winners_618.zip, all devices = 1189
Tencent Push: package_account_push, latest device = 1081
Tencent Push: token_list (the third token opted out) = 2
Tencent IM push body: Condition TagsAnd PH and vip = 122
EOF
if diff -u "$work/expected" "$work/counts"; then
	echo "ok: 13 audience counts"
else
	fail=1
fi

# The cluster is stopped and its files removed.
port_open() { (exec 3<>/dev/tcp/127.0.0.1/55801) 2>/dev/null; }
gone() {            # gone WHAT: nothing listens on the port and TMPDIR holds nothing
	if port_open || [ -n "$(ls -A "$work/tmp")" ]; then
		echo "LEFT BEHIND after $1: $(ls -A "$work/tmp")"
		fail=1
	else
		echo "ok: cluster and files removed after $1"
	fi
}
gone "success"

# A failing step: a copy of dev/ whose audience step has an SQL error. The demo must stop
# there, exit non-zero, say so, and clean up.
mkdir -p "$work/broken"
cp -r "$top/dev" "$work/broken/dev"
echo "SELECT push_audience_count(:'app', '{\"tag\": [\"\"]}');" >>"$work/broken/dev/demo.d/05_audiences.sql"
PUSHPLAN_DEMO_PORT=55801 TMPDIR=$work/tmp timeout 300 "$work/broken/dev/demo" >"$work/broken.out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && grep -q '^pushplan demo FAILED (exit [1-9][0-9]*)$' "$work/broken.out" &&
	grep -q 'ERROR:  90040: ' "$work/broken.out" && ! grep -q '^== Bad input' "$work/broken.out"; then
	echo "ok: a failing step stops the demo with exit $rc"
else
	echo "a failing step: exit $rc"; tail -n 20 "$work/broken.out"; fail=1
fi
gone "a failing step"

# Interrupted (SIGTERM) once its cluster is up: exits non-zero and cleans up.
PUSHPLAN_DEMO_PORT=55801 TMPDIR=$work/tmp "$top/dev/demo" >"$work/term.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	port_open && break
	sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ] && grep -q '^pushplan demo FAILED' "$work/term.out"; then
	echo "ok: SIGTERM stops the demo with exit $rc"
else
	echo "SIGTERM: exit $rc"; tail -n 20 "$work/term.out"; fail=1
fi
gone "SIGTERM"

exit "$fail"
