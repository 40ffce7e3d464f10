# Flows and schedules crashed while they fire (doc/reliability.md, "Flows and schedules under
# kill -9"): INSTANCES flow instances (5,000 by default; PUSHPLAN_FLOWCRASH_INSTANCES sets
# another number) wait on the test clock, each then sending, waiting a day and sending again,
# while SCHEDULES periodical schedules (1,000) fire their daily occurrence at the same moment of
# the test clock, each to a device of its own. The clock is moved past both, and the scheduler
# is killed (kill -9: the postmaster resets the whole server, the senders with it) in the middle
# of its work: the first time once it has committed its first batch of flow steps, the second
# time (the day after: the second send, the second occurrence) once it has fired more than its
# first burst of schedules. After each restart:
#   - every step of every instance ran once: push_flow_runs, flow_step_runs, and one delivery
#     per user and step in push_deliveries, each sent;
#   - every occurrence fired once: push_schedule_runs, one delivery per schedule and day;
#   - at the mock, every device was reached; devices reached twice are the senders' requests in
#     flight at the crash (sent again, one delivery each: doc/operations.md, "Crashes"), held to
#     the bound of test/t/003_crash_resends.pl.
# Only public behaviour is read (the views, the mock's counts, flow_step_runs' rows), so the test
# holds however the scheduler batches the steps' sends. Loopback only, bounded waits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PushplanTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $instances = $ENV{PUSHPLAN_FLOWCRASH_INSTANCES} // 5000;
my $schedules = $ENV{PUSHPLAN_FLOWCRASH_SCHEDULES} // 1000;
my $mock = mock_start(56574);
my $node = pushplan_node('flowcrash', "pushplan.ca_file = '$mock->{cert}'",
	"pushplan.databases = 'postgres'", "pushplan.senders = 2", "pushplan.poll_interval = 200",
	"restart_after_crash = on");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pushplan; CREATE EXTENSION pushplan_test');

sub query { return sql($node, 'postgres', $_[0]); }
sub wait_q { my ($secs, $q) = @_; return wait_for($node, 'postgres', $secs, $q); }
sub setting { return query("SELECT current_setting('$_[0]')"); }
# what a crash may send twice: per sender, its requests open and one write of outcomes (003)
my $bound = setting('pushplan.senders') * (setting('pushplan.max_inflight') + setting('pushplan.outcomes_per_write'));

sub wait_server
{
	for (1 .. 600)
	{
		return 1 if $node->psql('postgres', 'SELECT 1', stdout => \my $o, stderr => \my $e) == 0;
		usleep(100_000);
	}
	return 0;
}
sub workers_back
{
	return wait_q(60, "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'");
}
# the test clock lives in shared memory: a crash-restart sets it back to the real time
sub clock { query("SELECT _clock_set('$_[0]'::timestamptz)"); return; }
# requests the mock saw per token with PREFIX: (tokens reached, reached more than once, most)
sub token_counts
{
	my ($prefix) = @_;
	my $tokens = mock_stats($mock)->{tokens} // {};
	my @requests = map { $tokens->{$_}{requests} } grep { index($_, $prefix) == 0 } keys %$tokens;
	my $max = 0;
	$max = $_ > $max ? $_ : $max for @requests;
	return (scalar(@requests), scalar(grep { $_ > 1 } @requests), $max);
}

query("SELECT push_app_create('fc')");
configure_vendors($mock, $node, 'postgres', 'fc');
query(q{SELECT push_app_set('fc', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 100000, "timezone": "UTC"}')});
query("SELECT push_plan_create('fc', 'flowcrash', 'the flow''s sends')");
query("SELECT push_plan_create('fc', 'schedcrash', 'the schedules'' sends')");
# users u<n> (the flow's) and s<k> (one per schedule), each an FCM device of its own
query("INSERT INTO devices (app_id, registration_id, platform, vendor, token)
   SELECT _app_id('fc', 'reader'), 'u' || g, 'android', 'fcm', 'fcu-' || g FROM generate_series(1, $instances) g
   UNION ALL
   SELECT _app_id('fc', 'reader'), 's' || g, 'android', 'fcm', 'fcs-' || g FROM generate_series(1, $schedules) g");
ok(workers_back(), 'the launcher, the scheduler and three senders run');

clock('2090-01-01 00:00:00+00');
my $flow = query(q{SELECT push_flow_create('fc', '{"name": "twice", "plan_id": "flowcrash",
  "trigger": {"event": "visit"},
  "steps": [{"wait": "1 hour"},
            {"id": "first", "send": {"body": {"platform": "all", "notification": {"alert": "first"}, "options": {"time_to_live": 259200}}}},
            {"wait": "1 day"},
            {"id": "second", "send": {"body": {"platform": "all", "notification": {"alert": "second"}, "options": {"time_to_live": 259200}}}}]}')});
like($flow, qr/^flw_/, 'the flow is created');
# daily at 10:00 (UTC) on Jan 1 and Jan 2 of 2090
is( query(qq{SELECT count(push_schedule_create('fc', jsonb_build_object('name', 'daily ' || g,
        'trigger', '{"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-01-02 23:00:00", "time": "10:00:00", "time_unit": "day"}}'::jsonb,
        'push', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('s' || g)),
            'body', '{"platform": "all", "notification": {"alert": "daily"}, "options": {"time_to_live": 259200, "plan_id": "schedcrash"}}'::jsonb))))
      FROM generate_series(1, $schedules) g}),
	$schedules, "$schedules schedules are created");
query(qq{SELECT push_track_batch('fc', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || g, 'event', 'visit'))
      FROM generate_series(1, $instances) g))});
ok(wait_q(120, "SELECT count(*) = $instances FROM push_flow_runs WHERE flow_id = '$flow' AND state = 'waiting' AND next_at BETWEEN '2090-01-01 01:00:00+00' AND '2090-01-01 01:30:00+00'"),
	"$instances instances wait an hour for their first send")
  or diag(query("SELECT state || ' ' || coalesce(step, '-') || ' ' || count(*) FROM push_flow_runs GROUP BY state, step"));

sub steps_run { return query("SELECT count(*) FROM flow_step_runs r JOIN push_flow_runs f USING (instance_id) WHERE f.flow_id = '$flow' AND r.step_id = '$_[0]'"); }
sub occurrences { return query("SELECT count(*) FROM push_schedule_runs WHERE app = 'fc' AND fired_at >= '$_[0]'"); }

# crash_round(WHAT, CLOCK, STEP, DAY, NTH, WHEN): moves the clock to CLOCK, where STEP of every
# instance and the occurrence of DAY (its 10:00) of every schedule are due, the NTH send of each
# device; kills the scheduler WHEN it is advancing flows ('steps': once its first batch of steps
# is committed) or firing schedules ('occurrences': once more than its first burst of them is
# committed); checks that each fired once
sub crash_round
{
	my ($what, $at, $step, $day, $nth, $when) = @_;
	my $t0 = time;
	clock($at);
	# each round of the scheduler fires up to 100 due schedules, one transaction each, then
	# advances the due flow instances, 1,000 a transaction, then fires the next schedules
	my ($steps_at, $runs_at) = (0, 0);
	for (1 .. 2400)
	{
		if ($when eq 'steps') { $steps_at = steps_run($step); last if $steps_at > 0; }
		else { $runs_at = occurrences("$day 10:00:00+00"); last if $runs_at > 100; }
		usleep(25_000);
	}
	$steps_at = steps_run($step);
	$runs_at = occurrences("$day 10:00:00+00");
	my $sent_at = query("SELECT count(*) FROM push_deliveries WHERE app = 'fc' AND status = 'sent'");
	kill 'KILL', query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'");
	my $crash_s = time - $t0;
	note(sprintf('%s: killed after %.1f s: %d of %d "%s" steps and %d of %d occurrences committed, %d deliveries sent in all',
			$what, $crash_s, $steps_at, $instances, $step, $runs_at, $schedules, $sent_at));
	ok(($steps_at > 0 || $runs_at > 0) && ($steps_at < $instances || $runs_at < $schedules),
		"$what: the scheduler was killed in the middle of its work ($steps_at steps, $runs_at occurrences)");
	ok(wait_server() && workers_back(), "$what: the server and its workers are back");
	clock($at);
	my $sends = $nth * $instances;
	ok( wait_q(240,
			"SELECT count(*) FILTER (WHERE plan_id = 'flowcrash') = $sends AND count(*) FILTER (WHERE plan_id = 'schedcrash') = $nth * $schedules
               AND count(*) FILTER (WHERE status IN ('queued', 'sending')) = 0
             FROM push_deliveries WHERE app = 'fc'"),
		"$what: every step's and occurrence's delivery is made and final")
	  or diag(query("SELECT string_agg(plan_id || ' ' || status || ' ' || n, ', ') FROM (SELECT plan_id, status, count(*) n FROM push_deliveries WHERE app = 'fc' GROUP BY 1, 2) s"));
	note(sprintf('%s: %.1f s from the clock move to the last delivery', $what, time - $t0));
	is(steps_run($step), $instances, "$what: \"$step\" ran once per instance (flow_step_runs)");
	is(occurrences("$day 10:00:00+00"), $schedules, "$what: the $day occurrence fired once per schedule");
	is( query("SELECT count(*) || ' ' || count(DISTINCT registration_id) || ' ' || string_agg(DISTINCT status, ',')
               FROM push_deliveries WHERE app = 'fc' AND plan_id = 'flowcrash' AND task_id IN (
                 SELECT task_id FROM flow_step_runs WHERE step_id = '$step' AND task_id IS NOT NULL)"),
		"$instances $instances sent", "$what: one delivery per user for \"$step\", sent");
	is( query("SELECT count(*) || ' ' || count(DISTINCT d.registration_id) || ' ' || string_agg(DISTINCT d.status, ',')
               FROM push_deliveries d JOIN push_schedule_runs r USING (task_id)
               WHERE r.app = 'fc' AND r.fired_at >= '$day 10:00:00+00'"),
		"$schedules $schedules sent", "$what: one delivery per schedule for the $day occurrence, sent");
	# at the mock: each device reached; more than once only for the senders' requests in flight
	my ($u_reached, $u_more, $u_max) = token_counts('fcu-');
	my ($s_reached, $s_more, $s_max) = token_counts('fcs-');
	is("$u_reached $s_reached", "$instances $schedules", "$what: every user and schedule device reached at the mock");
	my ($u_again, $s_again) = (0, 0);
	my $tokens = mock_stats($mock)->{tokens} // {};
	for my $t (grep { /^fcu-/ } keys %$tokens) { $u_again++ if $tokens->{$t}{requests} > $nth; }
	for my $t (grep { /^fcs-/ } keys %$tokens) { $s_again++ if $tokens->{$t}{requests} > $nth; }
	my $resent = $u_again + $s_again;
	note(sprintf('%s: at the mock, %d users reached more than %d times (most %d), %d schedule devices (most %d)',
			$what, $u_again, $nth, $u_max, $s_again, $s_max));
	cmp_ok($resent, '<=', $bound, "$what: devices sent again by the crash ($resent) within the bound ($bound)");
	return $resent;
}

my $r1 = crash_round('round 1 (first send, Jan 1 occurrence; killed advancing flows)', '2090-01-01 10:00:01+00', 'first', '2090-01-01', 1, 'steps');
is(query("SELECT count(*) FROM push_flow_runs WHERE flow_id = '$flow' AND state = 'waiting' AND step = '3'"),
	$instances, 'round 1: every instance waits a day for its second send');
my $r2 = crash_round('round 2 (second send, Jan 2 occurrence; killed firing schedules)', '2090-01-02 12:00:00+00', 'second', '2090-01-02', 2, 'occurrences');

is( query("SELECT state || ' ' || coalesce(exit_reason, '-') || ' ' || count(*) FROM push_flow_runs WHERE flow_id = '$flow' GROUP BY state, exit_reason"),
	"done completed $instances", 'every instance completed');
is( query("SELECT count(*) FROM flow_step_runs r JOIN push_flow_runs f USING (instance_id) WHERE f.flow_id = '$flow'"),
	4 * $instances, 'four steps each, each run once');
is(query("SELECT count(*) FILTER (WHERE runs = 2 AND next_run_at IS NULL) FROM push_schedules WHERE app = 'fc'"),
	$schedules, 'every schedule fired its two occurrences and ended');
sleep 2;
my ($u_reached, undef, $u_max) = token_counts('fcu-');
my ($s_reached, undef, $s_max) = token_counts('fcs-');
note("after both crashes: $u_reached users reached (at most $u_max requests each), $s_reached schedule devices (at most $s_max); sent again by the crashes: $r1 and $r2 devices");

$node->stop;
mock_stop($mock);
done_testing();
