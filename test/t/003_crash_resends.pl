# Crashes in the middle of sending, and what they cost (doc/reliability.md): three broadcasts of
# DEVICES devices (100,000 by default; PUSHPLAN_CRASH_DEVICES sets another size) to the mock
# vendor at the default settings (2 senders; PUSHPLAN_CRASH_CONF adds settings, "a = 1;b = 2"),
# each crashed once 30 % of it is recorded sent: kill -9 of a busy sender, kill -9 of the
# scheduler (each makes the postmaster reset the whole server), `pg_ctl stop -m immediate` and a
# start. After each broadcast: every delivery has exactly one final outcome, counted once in the
# statistics, and no queue row is left; at the mock, every device was reached, and the devices
# reached twice are noted and held to the bound of doc/operations.md, "Crashes": per sender,
# pushplan.max_unrecorded (requests on the wire and answers not yet written; 2 x 50 = 100 at
# the defaults, the goal), as long as the vendor is near enough for the window to stay at its
# floor (the mock on loopback).
# Then a schedule crashed at each point of its firing (before its commit, between its commit and
# its task's expansion; by kill -9 and by an immediate stop) fires exactly once. Loopback only,
# bounded waits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PushplanTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $devices = $ENV{PUSHPLAN_CRASH_DEVICES} // 100000;
# every token of both broadcasts counted one by one
$ENV{MOCK_MAX_TOKENS} = 3 * $devices + 21000;
my $mock = mock_start($ENV{PUSHPLAN_CRASH_MOCK_PORT} // 55970);
my $node = pushplan_node('crash', "pushplan.ca_file = '$mock->{cert}'",
	"pushplan.databases = 'postgres'", "pushplan.senders = 2", "pushplan.poll_interval = 200",
	"restart_after_crash = on", split(/;/, $ENV{PUSHPLAN_CRASH_CONF} // ''));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pushplan');

sub query { return sql($node, 'postgres', $_[0]); }
sub wait_q { my ($secs, $q) = @_; return wait_for($node, 'postgres', $secs, $q); }
sub setting { return query("SELECT current_setting('$_[0]')"); }
my $senders = setting('pushplan.senders');
my $max_inflight = setting('pushplan.max_inflight');
my $unrecorded = setting('pushplan.max_unrecorded');
my $bound = $senders * $unrecorded;
note("defaults: $senders senders, max_inflight $max_inflight, max_unrecorded $unrecorded, outcomes_per_write "
	  . setting('pushplan.outcomes_per_write') . ', batch_size ' . setting('pushplan.batch_size')
	  . "; bound per crash: $bound");

# after a crash-restart: accepts connections again (bounded: 60 s)
sub wait_server
{
	for (1 .. 600)
	{
		# psql may exit before IPC::Run has written its input (a server still starting refuses
		# at once): IPC::Run then dies on the broken pipe
		my $rc = eval { $node->psql('postgres', 'SELECT 1', stdout => \my $o, stderr => \my $e) };
		return 1 if defined $rc && $rc == 0;
		usleep(100_000);
	}
	return 0;
}
sub workers_back
{
	return wait_q(60, "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'");
}
# new_app(APP, PREFIX): DEVICES android (FCM) devices whose tokens are PREFIX<n>
sub new_app
{
	my ($app, $prefix) = @_;
	query("SELECT push_app_create('$app')");
	configure_vendors($mock, $node, 'postgres', $app);
	query(qq{SELECT push_app_set('$app', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 1000, "timezone": "UTC"}')});
	query("INSERT INTO devices (app_id, registration_id, platform, vendor, token)
       SELECT _app_id('$app', 'reader'), 'r' || g, 'android', 'fcm', '$prefix' || g FROM generate_series(1, $devices) g");
}
sub broadcast
{
	my ($app, $alert) = @_;
	return query(qq{SELECT push_send('$app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "$alert"}}}')});
}
sub sent_so_far
{
	return query("SELECT count(*) FROM deliveries WHERE task_id = '$_[0]' AND status = 'sent'");
}
# waits until at least FRACTION of the task's deliveries are sent (bounded: 120 s)
sub wait_sent
{
	my ($task, $fraction) = @_;
	return wait_q(120, "SELECT count(*) >= $fraction * $devices FROM deliveries WHERE task_id = '$task' AND status = 'sent'");
}
# "reached more_than_once max" at the mock for the tokens starting with PREFIX
sub token_counts
{
	my ($prefix) = @_;
	my $tokens = mock_stats($mock)->{tokens} // {};
	my @requests = map { $tokens->{$_}{requests} } grep { index($_, $prefix) == 0 } keys %$tokens;
	my $max = 0;
	$max = $_ > $max ? $_ : $max for @requests;
	return (scalar(@requests), scalar(grep { $_ > 1 } @requests), $max);
}
# what the server says was claimed and not yet recorded: in flight, or claimed and not yet on
# the wire (those are sent once, after the restart: not duplicates)
sub claimed_now
{
	return query("SELECT count(*) FROM push_deliveries WHERE task_id = '$_[0]' AND status = 'sending'");
}
# a sender with deliveries in flight (any sender if none says so)
sub busy_sender
{
	my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND query LIKE 'pushplan: % deliveries in flight' LIMIT 1");
	return $pid ne '' ? $pid : query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' LIMIT 1");
}
# the broadcast's end state: one final outcome per device, counted once, nothing queued
sub check_broadcast
{
	my ($task, $what) = @_;
	ok(wait_q(180, "SELECT state = 'done' FROM tasks WHERE task_id = '$task'"), "$what: the broadcast completes")
	  or diag(query("SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s"));
	is( query("SELECT count(*) || ' ' || count(DISTINCT device_id) || ' ' || string_agg(DISTINCT status, ',') FROM deliveries WHERE task_id = '$task'"),
		"$devices $devices sent", "$what: one delivery per device, each in one final state: sent");
	is(query("SELECT count(*) FROM delivery_queue WHERE task_id = '$task'"), '0', "$what: no queue row left");
	is( query("SELECT coalesce(sum(sent), 0) FROM (SELECT sent FROM stats_pending WHERE task_id = '$task' UNION ALL SELECT sent FROM task_stats WHERE task_id = '$task') s"),
		$devices, "$what: each counted once in the statistics");
}

# ---- a far vendor: the window grows to what its answer time needs ---------------------------
# Every answer comes 150 ms after its request (the mock's slow150; before the broadcasts below,
# whose quick answers would be the vendor's quickest for the next 10-20 s): two senders need
# about 2 x 500 requests open to reach max_inflight's rate. The window starts at 16 and doubles while it
# limits the rate: the senders must be seen with more than 16 requests open, never more than
# max_inflight each. (How fast it grows is noted, not asserted: timings vary.)
{
	my $far = 20000;
	query("SELECT push_app_create('far')");
	configure_vendors($mock, $node, 'postgres', 'far');
	query(qq{SELECT push_app_set('far', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 1000}')});
	query("INSERT INTO devices (app_id, registration_id, platform, vendor, token)
       SELECT _app_id('far', 'reader'), 'r' || g, 'android', 'fcm', 'far-slow150-' || g FROM generate_series(1, $far) g");
	my $t0 = time;
	my $task = broadcast('far', 'far away');
	my ($most, @seen) = (0);
	for (1 .. 600)
	{
		last if query("SELECT state FROM tasks WHERE task_id = '$task'") eq 'done';
		my @open = split /\n/, query("SELECT substring(query FROM 'pushplan: (\\d+) requests open') FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND query LIKE 'pushplan: % requests open%'");
		for my $w (@open) { $most = $w if $w > $most; }
		push @seen, sprintf('%.1fs:%s', time - $t0, join('+', @open)) if @open;
		usleep(100_000);
	}
	is(query("SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$task'"), $far, 'far vendor: every delivery sent');
	my (undef, $more) = token_counts('far-');
	is($more, 0, '... each once');
	cmp_ok($most, '>', 16, "far vendor: a sender had more than the window's floor open (most: $most)");
	cmp_ok($most, '<=', $max_inflight, '... and never more than max_inflight');
	note('far vendor: requests open per sender over time: ' . join(' ', @seen[0 .. ($#seen < 14 ? $#seen : 14)]));
	note("far vendor: recorded per second: " . query("SELECT string_agg(n::text, ' ' ORDER BY s) FROM (SELECT date_trunc('second', sent_at) s, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) x"));
}

# crash_broadcast(APP, WHAT, FRACTION, CRASH): a broadcast to APP's devices, crashed by CRASH
# once FRACTION of it is sent; checks its end state and the devices sent twice
sub crash_broadcast
{
	my ($app, $what, $fraction, $crash) = @_;
	new_app($app, "$app-");
	my $t0   = time;
	my $task = broadcast($app, $what);
	ok(wait_sent($task, $fraction), "$what: $fraction of the broadcast is sent");
	my $claimed = claimed_now($task);
	my $at      = sent_so_far($task);
	$crash->();
	ok(wait_server() && workers_back(), "$what: the server and its workers are back");
	check_broadcast($task, $what);
	my $elapsed = time - $t0;
	note("$what: recorded per second: " . query("SELECT string_agg(n::text, ' ' ORDER BY s) FROM (SELECT date_trunc('second', sent_at) s, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) x"));
	my ($reached, $twice, $max) = token_counts("$app-");
	is($reached, $devices, "$what: every device reached ($devices)");
	note(sprintf('%s at %d sent (%d claimed and not recorded): %d devices sent twice, most requests for one device %d; %d devices in %.1f s',
			$what, $at, $claimed, $twice, $max, $devices, $elapsed));
	cmp_ok($twice, '<=', $bound, "$what: sent twice ($twice) within the bound ($bound)");
	return;
}

crash_broadcast('ks', 'kill -9 of a sender', 0.3, sub { kill 'KILL', busy_sender(); sleep 1; });
crash_broadcast('kd', 'kill -9 of the scheduler', 0.3,
	sub { kill 'KILL', query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'"); sleep 1; });
crash_broadcast('im', 'immediate stop', 0.3, sub { $node->stop('immediate'); $node->start; });

# ---- a schedule crashed at each point of its firing fires exactly once ------------------------
# The firing is one transaction (doc/schedules.md, "Firing"): the occurrence's record, the task,
# next_run_at. A session holding the app's broadcast-quota lock holds the scheduler inside it,
# before its commit; one holding a lock on the deliveries holds it after the commit, at the
# expansion of the task it made. The scheduler is crashed there (kill -9, or the whole server
# stopped with -m immediate), the server comes back, the lock is gone with its session.
query("SELECT push_app_create('sc')");
configure_vendors($mock, $node, 'postgres', 'sc');
query(q{SELECT push_app_set('sc', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 1000, "timezone": "UTC"}')});
query("INSERT INTO devices (app_id, registration_id, platform, vendor, token)
   SELECT _app_id('sc', 'reader'), 'r' || g, 'android', 'fcm', 'sc-' || g FROM generate_series(1, 3) g");
my $app_id = query("SELECT app_id FROM apps WHERE app = 'sc'");
my $n = 0;
for my $case (
	[ 'before its commit, kill -9', "SELECT pg_advisory_lock(1886745448, $app_id)", 'kill' ],
	[ 'before its commit, immediate stop', "SELECT pg_advisory_lock(1886745448, $app_id)", 'immediate' ],
	[ 'after its commit, at the expansion, kill -9', 'BEGIN; LOCK pushplan.deliveries IN SHARE MODE', 'kill' ],
	[ 'after its commit, at the expansion, immediate stop', 'BEGIN; LOCK pushplan.deliveries IN SHARE MODE', 'immediate' ])
{
	my ($what, $hold, $how) = @$case;
	$n++;
	mock_reset($mock);
	my $holder = $node->background_psql('postgres', on_error_stop => 0);
	$holder->query_safe($hold);
	# due in two seconds (UTC, the app's zone)
	my $s = query(qq{SELECT push_schedule_create('sc', jsonb_build_object('name', 'crash $n', 'trigger',
        jsonb_build_object('single', jsonb_build_object('time', to_char(now() AT TIME ZONE 'UTC' + interval '2 seconds', 'YYYY-MM-DD HH24:MI:SS'))),
        'push', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "crash $n"}}}'::jsonb))});
	my $held = wait_q(20, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND wait_event_type = 'Lock'");
	ok($held, "schedule $what: the scheduler is held there")
	  or diag(query("SELECT string_agg(backend_type || ' ' || coalesce(wait_event_type, '-') || ' ' || coalesce(query, ''), '; ') FROM pg_stat_activity"));
	my $committed = query("SELECT count(*) FROM schedule_runs WHERE schedule_id = '$s'");
	if ($how eq 'kill')
	{
		kill 'KILL', query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'");
		sleep 1;
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	eval { $holder->quit };
	ok(wait_server() && workers_back(), "schedule $what: the server is back");
	is($committed, $what =~ /after its commit/ ? '1' : '0', "schedule $what: its record was committed, or not, as the case says");
	ok( wait_q(30,
			"SELECT count(*) = 3 FROM push_deliveries d JOIN push_schedule_runs r USING (task_id) WHERE r.schedule_id = '$s' AND d.status = 'sent'"),
		"schedule $what: delivered after the restart")
	  or diag(query("SELECT string_agg(state || ':' || coalesce(detail, ''), ',') FROM push_schedule_runs WHERE schedule_id = '$s'"));
	sleep 1;
	my ($reach, $more) = token_counts('sc-');
	is( query("SELECT count(*) FROM push_schedule_runs WHERE schedule_id = '$s'") . ' '
		  . query("SELECT count(*) FROM tasks t JOIN push_schedule_runs r USING (task_id) WHERE r.schedule_id = '$s'")
		  . " $reach $more",
		'1 1 3 0', "schedule $what: exactly once (one run, one task, each device reached once)");
}

$node->stop;
mock_stop($mock);
done_testing();
