#!/usr/bin/env bash
# Runs dev/demo (on its own ports: cluster 55801, mock vendor 55811) and checks that it succeeds,
# ends with its final line, and prints the counts its deterministic data set must give. The
# expected audience counts were confirmed by hand-written SQL over the tables, independently of
# the audience compiler. Of the sends, it checks what must agree whatever the timing: pushplan's
# deliveries against what the mock vendor received, the rolled-back push absent, the rejected
# tokens cleared.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
mkdir -p "$work"
out=$work/demo.out
fail=0

mkdir -p "$work/tmp"
PUSHPLAN_DEMO_PORT=55801 TMPDIR=$work/tmp timeout 480 "$top/dev/demo" >"$out" 2>&1
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

expect "final line" '^pushplan demo: all 20 steps passed in [0-9]+ s$'
[ "$(tail -n 1 "$out")" = "$(grep -E '^pushplan demo: all' "$out")" ] ||
	{ echo "the final line is not last"; fail=1; }
# the cart abandoned flow: the exit is seen right after the order's commit, each path, the push
expect "flow: bo exited in the order's transaction" '^ bo +\| exited +\| exit event "purchase"$'
expect "flow: ann's path" '^ ann +\| wait_for_order -> reminder \(push sent: sent\) +\| done +\| completed$'
expect "flow: bo's path" '^ bo +\| wait_for_order +\| exited +\| exit event "purchase"$'
expect "flow: cy never entered" '^ cy +\| \(never entered\) +\| +\| *$'
expect "flow: the mock got ann's reminder with her cart's item" \
	"^what the mock vendor got for ann: Still in your cart: Your trail shoes is waiting, [^:]+: free delivery today$"
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
named devices (the push plan guide's registration_id list) = 3
tag OR: the US or India = 6299
tag_and + tag_not: US VIPs who have not churned = 247
win-back (the push plan guide, scenario 2): churned users in US, IN or PH = 1170
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

# ---- the sends -------------------------------------------------------------------------------
expect "the workers run: a scheduler and two senders" '^ pushplan sender +\| postgres +\| +2$'
expect "32 devices re-registered with fault tokens" '^ +32$'
after() {           # after DESCRIPTION LINE-REGEX N EXTENDED-REGEX: a line at most N after LINE matches
	if grep -A "$3" -E -- "$2" "$out" | grep -Eq -- "$4"; then
		echo "ok: $1"
	else
		echo "MISSING: $1 (/$4/ after /$2/)"
		fail=1
	fi
}
after "the guide's push: request_id again, same task" '^ same_task $' 2 '^ t$'
# The outbox: the task is visible inside the transaction, gone after ROLLBACK, never sent.
expect "the rolled-back task existed inside its transaction, its delivery queued in the high lane" '^ tsk_[0-9a-f]{32} \| promo_618_2025 \| sending \| high +\| +1$'
after "... and left no task or delivery" '^after ROLLBACK' 3 '^ +0 \| +0$'
expect "... and the mock got nothing for it a second later" "requests naming that device's token: 0$"
expect "... nor at the end" '^ +0 \| reg00021 +\| +0 \| +0$'
# The broadcast, watched: at least two progress lines, the last one done.
n=$(grep -cE '^ +[0-9]+\.[0-9] s +(queued|sending|done) +targeted' "$out")
if [ "$n" -ge 2 ]; then echo "ok: $n progress lines"; else echo "MISSING: progress lines ($n)"; fail=1; fi
expect "the broadcast's last progress line" \
	'^ +[0-9]+\.[0-9] s +done +targeted +5596 +sent +5584 +failed +12 +left +0 +rate'
expect "multi_language: a Hindi device got the Hindi text" '\(fcm, hi\): \{"title":"धमाकेदार ऑफ़र","body":"618 फ्लैश सेल'
expect "multi_language: an English device got the English text" '\(apns, en\): \{"title":"Hot deals",'
# Per task: the guide's push (2 devices), the US/IN broadcast, the HarmonyOS push, the IM push; all done.
expect "the guide's task" '^ tsk_[0-9a-f]{32} \| engagelab +\| promo_618_2025 \| done +\| +2 \| +2 \| +0 \| reminder_01$'
expect "the broadcast's task" '^ tsk_[0-9a-f]{32} \| engagelab +\| promo_618_2025 \| done +\| +5596 \| +5584 \| +12 \| +$'
expect "the HarmonyOS push's task" '^ tsk_[0-9a-f]{32} \| engagelab +\| promo_618_2025 \| done +\| +196 \| +196 \| +0 \| +$'
expect "the Web Push's task" '^ tsk_[0-9a-f]{32} \| engagelab +\| promo_618_2025 \| done +\| +865 \| +865 \| +0 \| +$'
expect "the IM push's task" '^ tsk_[0-9a-f]{32} \| tencent_im \| default +\| done +\| +556 \| +549 \| +7 \| +$'
expect "all deliveries: 7215, 7196 sent, 19 invalid tokens, nothing failed or left" \
	'^ ∅ +\| ∅ +\| +7215 \| +7196 \| +19 \| +0 \| +0 \| +[0-9]+$'
expect "push_plans: promo_618_2025 has the guide's push, the broadcast, the HarmonyOS push and the Web Push" '^ promo_618_2025 \| 618 大促推送计划 \| +4$'
# Invalid tokens: 19 devices (one per Chinese maker besides APNs and FCM's), each with its token cleared, unreachable, marked invalidated.
n=$(grep -cE '^ reg[0-9]{5} +\| (apns|fcm|hms|honor|xiaomi|meizu|vivo|oppo|harmony) +\| [^|]*unregistered[^|]*\| ∅ +\| f +\| t +\| ' "$out")
if [ "$n" = 19 ]; then echo "ok: 19 rejected tokens cleared"; else echo "MISSING: 19 rejected tokens cleared ($n)"; fail=1; fi
expect "throttled deliveries were retried and sent" '^ tsk_[0-9a-f]{32} \| apns +\| +3 \| sent +\| +[0-9]+ \| +[0-9]+$'
# pushplan and the mock agree token by token: every sent delivery got the mock's 200 (a 200 whose
# answer was lost to a timeout on a loaded machine is sent again, so the mock may count more),
# and every request the mock saw is an attempt pushplan counted (attempts may exceed them by
# requests lost on the way, e.g. to a connection that failed or timed out before the mock read
# them); nothing else reached the mock.
for v in apns fcm hms honor xiaomi meizu vivo oppo harmony webpush; do
	expect "$v: deliveries sent got the mock's 200s, every request counted as an attempt" \
		"^ $v +\\| +[0-9]+ \\| +[0-9]+ \\| +[0-9]+ \\| +[0-9]+ \\| +[0-9]+ \\| +[0-9]+ \\| t$"
done
expect "all vendors: 7196 sent, each received" '^ all +\| +7215 \| +7196 \| +[0-9]+ \| +[0-9]+ \| +[0-9]+ \| +[0-9]+ \| t$'
expect "APNs requests = APNs attempts" '^  apns: ([0-9]+) attempts, \1 requests$'
expect "FCM requests = FCM attempts" '^  fcm: ([0-9]+) attempts, \1 requests$'
# Honor, Xiaomi, Meizu, vivo and OPPO got the IM push's Chinese devices of their maker, batched
# (how many requests depends on how the senders' claims split the task).
for v in honor xiaomi meizu vivo oppo; do
	expect "$v: its devices' attempts, in batched requests" "^  $v: [0-9]{2} attempts, [1-9] requests$"
done
# HarmonyOS NEXT got the CN harmony devices of the HarmonyOS push, up to 1000 tokens a request.
expect "harmony: its 196 devices' attempts, in batched requests" "^  harmony: 196 attempts, [1-9] requests$"
# Web Push: one request per browser (each copy is encrypted to its own subscription), all 865
# decrypted by the mock's push service.
expect "webpush: a request per browser" "^  webpush: 865 attempts, 865 requests$"
# Events: an SDK collector's batches about the 618 plan's 6,647 sent deliveries (in a fixed
# order, so the shares are exact): 4 in 5 received, 1 in 10 opened, 1 in 10 dismissed, 1 in 40
# clicked, 1 in 200 converted; the last batch sent twice counts once.
while read -r kind n; do
	expect "events: $kind" "^ $kind +\\| +$n\$"
done <<'EOF2'
received 5318
open 665
click 167
convert 34
dismiss 665
EOF2
expect "events: four batches of up to 2000" '^ +4 \| +849$'
after "events: the last batch again" 'sends it again' 6 '^ +849$'
expect "events: logged twice, counted once, clicks unchanged" '^ +7698 \| +6849 \| t$'
# Statistics: the 618 plan's funnel and rates (push_plan_overview), per platform and vendor
# (push_plan_stats), and every push of the app per day and vendor (push_vendor_stats_daily; its
# retries, answers and answer times depend on the run: any number).
expect "the 618 funnel: 4 tasks, 6659 targeted, 6647 sent, 12 failed, 5318 received, 665 opened, 167 clicked, 34 converted for 9966" \
	'^ promo_618_2025 \| +4 \| +6659 \| +0 \| +6647 \| +12 \| +5318 \| +665 \| +167 \| +34 \| +9966$'
expect "the 618 rates" '^ promo_618_2025 \| +0\.9982 \| +0\.8001 \| +0\.1000 \| +0\.0251 \| +0\.0314 \| +0\.0051$'
while read -r platform vendor figures; do
	expect "the 618 plan on $vendor (push_plan_stats)" \
		"^ [0-9]{4}-[0-9]{2}-[0-9]{2} \\| $platform +\\| $vendor +\\| +${figures// / \\| +} \\| +0\\.[0-9]{4}\$"
done <<'EOF2'
android fcm 3136 3129 7 2492 295 88 19 5381
harmony harmony 196 196 0 164 21 8 1 499
ios apns 2462 2457 5 1996 272 56 12 3688
web webpush 865 865 0 666 77 15 2 398
EOF2
while read -r vendor figures; do
	expect "$vendor per day (push_vendor_stats_daily): targeted, sent, failed, by reason; retries, answers, p50, p95" \
		"^ [0-9]{4}-[0-9]{2}-[0-9]{2} \\| $vendor +\\| +${figures// / \\| +} \\| +[0-9]+ \\| +[0-9]+ \\| +[0-9]+\\.[0-9] \\| +[0-9]+\\.[0-9]\$"
done <<'EOF2'
apns 2665 2659 6 6 0 0 0
fcm 3136 3129 7 7 0 0 0
harmony 196 196 0 0 0 0 0
hms 63 62 1 1 0 0 0
honor 55 54 1 1 0 0 0
meizu 54 53 1 1 0 0 0
oppo 61 60 1 1 0 0 0
vivo 28 27 1 1 0 0 0
webpush 865 865 0 0 0 0 0
xiaomi 92 91 1 1 0 0 0
EOF2
# Smart push: the seed's intelligent schedule and the VIP reminder fire once each; the VIPs
# with visits are planned from them, those without at 09:00 tomorrow in their own zone.
expect "smart push: the seed's schedule fired once, for its two devices" \
	'^ promo_618_reminder_01 +\| \{"intelligent": \{"backup_time": "2025-06-18 09:00:00"\}\} \| t +\| fired \| +2$'
expect "smart push: the VIP reminder fired once" '^ promo_618_reminder_vip +\| .* \| t +\| fired \| +[0-9]+$'
# (an hour of UTC may hold other zones' times too: which ones depends on the hour the demo runs)
expect "smart push: VIPs without visits at 09:00 where they are" '^ [0-9-]+ [0-9:]+ \| +[0-9]+ \| +0 \| (.*, )?09:00 Asia/Kolkata(,|$)'
expect "smart push: VIPs with visits at their own hours" '^ [0-9-]+ [0-9:]+ \| +([0-9]+) \| +\1 \| [0-9][0-9]:00 '
# The cluster and the mock vendor are stopped and their files removed.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
gone() {            # gone WHAT: nothing listens on the ports and TMPDIR holds nothing
	if port_open 55801 || port_open 55811 || [ -n "$(ls -A "$work/tmp")" ]; then
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
mkdir -p "$work/broken/test"
cp -a "$top/test/mock_vendor" "$work/broken/test/mock_vendor"
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
	port_open 55801 && break
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
