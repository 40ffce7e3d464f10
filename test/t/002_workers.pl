# The background workers under stress: what pg_stat_activity shows, SIGHUP (senders and
# databases added and removed at runtime), SIGTERM in the middle of a broadcast, kill -9 of a
# sender and of the scheduler (crash-restart of the server), a launcher restarted alone,
# a task whose audience fails, DROP EXTENSION and DROP DATABASE of a served database, flat
# memory over a 20,000-device broadcast, and postmaster death. Loopback only, bounded waits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PushplanTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $batch    = 250;
my $inflight = 500;
my $mock     = mock_start();
my $node     = pushplan_node('workers', "pushplan.ca_file = '$mock->{cert}'",
	"pushplan.databases = 'postgres'", "pushplan.senders = 2", "pushplan.poll_interval = 200",
	"pushplan.http_timeout = 5000", "pushplan.batch_size = $batch",
	"pushplan.max_inflight = $inflight", "restart_after_crash = on");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pushplan');

sub query { my ($text, $db) = @_; return sql($node, $db // 'postgres', $text); }
sub wait_q { my ($secs, $query, $db) = @_; return wait_for($node, $db // 'postgres', $secs, $query); }
sub count_workers
{
	my ($type, $db) = @_;
	return query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan $type' AND datname = '$db'");
}
# worker_pids(TYPE [, DB]): their pids, sorted (DB undef: workers connected to no database)
sub worker_pids
{
	my ($type, $db) = @_;
	my $datname = defined $db ? "'$db'" : 'NULL';
	return query("SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'pushplan $type' AND datname IS NOT DISTINCT FROM $datname");
}
# set_guc(NAME, VALUE): ALTER SYSTEM + reload (SIGHUP)
sub set_guc
{
	my ($name, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'; SELECT pg_reload_conf()");
}
my $section_start = time;
sub section
{
	note(sprintf('---- %s (previous section: %d s)', $_[0], time - $section_start));
	$section_start = time;
}
sub log_size { return -s $node->logfile; }
sub log_since { return slurp_file($node->logfile, $_[0]); }
sub count_matches { my ($text, $re) = @_; return scalar(() = $text =~ /$re/mg); }
# new_app(APP, N, TOKEN_PREFIX [, VENDOR]): an app with N android devices whose tokens are PREFIX<n>
sub new_app
{
	my ($app, $n, $prefix, $vendor, $db) = @_;
	$vendor //= 'fcm';
	query("SELECT push_app_create('$app')", $db);
	configure_vendors($mock, $node, $db // 'postgres', $app) unless $app eq 'big';
	query(qq{SELECT push_app_set('$app', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 1000}')}, $db);
	query("INSERT INTO devices (app_id, registration_id, platform, vendor, token)
       SELECT _app_id('$app', 'reader'), 'r' || g, 'android', '$vendor', '$prefix' || g FROM generate_series(1, $n) g", $db);
}
sub broadcast
{
	my ($app, $alert, $db) = @_;
	return query(qq{SELECT push_send('$app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "$alert"}}}')}, $db);
}
# token_counts(PREFIX): "devices_reached once more_than_once" at the mock for tokens starting with PREFIX
sub token_counts
{
	my ($prefix) = @_;
	my $tokens = mock_stats($mock)->{tokens} // {};
	my @requests = map { $tokens->{$_}{requests} } grep { index($_, $prefix) == 0 } keys %$tokens;
	return join(' ', scalar(@requests), scalar(grep { $_ == 1 } @requests),
		scalar(grep { $_ > 1 } @requests));
}
# after a crash-restart: accepts connections again (bounded: 30 s)
sub wait_server
{
	for (1 .. 300)
	{
		return 1 if $node->psql('postgres', 'SELECT 1', stdout => \my $o, stderr => \my $e) == 0;
		usleep(100_000);
	}
	return 0;
}
# a process that has not exited (a zombie has)
sub alive
{
	my ($pid) = @_;
	return 0 unless kill 0, $pid;
	my $stat = eval { slurp_file("/proc/$pid/stat") } // '';
	return $stat !~ /^\d+ \(.*\) Z/s;
}

# ---- pg_stat_activity ------------------------------------------------------------------------------
section('pg_stat_activity');
ok(wait_q(20, "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'"),
	'launcher, scheduler, 2 senders and the express sender run')
  or diag(query("SELECT string_agg(backend_type || '/' || coalesce(datname, '-'), ', ') FROM pg_stat_activity"));
is( query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan launcher' AND datname IS NULL AND query LIKE 'pushplan launcher: % workers'"),
	'1', 'the launcher is in pg_stat_activity, connected to no database');
ok( wait_q(5,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND datname = 'postgres' AND state = 'idle' AND query = 'pushplan scheduler: waiting for due tasks'"),
	'the idle scheduler says what it waits for')
  or diag(query("SELECT state || ': ' || query FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'"));
ok( wait_q(5,
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND state = 'idle' AND query = 'pushplan sender: waiting for deliveries'"),
	'idle senders say what they wait for')
  or diag(query("SELECT string_agg(state || ': ' || query, '; ') FROM pg_stat_activity WHERE backend_type = 'pushplan sender'"));

# An idle scheduler sleeps until its next poll (here every 200 ms): counted as the times it gave
# up the CPU of its own accord. With no flow trigger it once took "the next evaluation" as due
# now and polled every millisecond (some 500 turns a second, six transactions each).
section('an idle scheduler sleeps');
sub voluntary_switches
{
	my $status = eval { slurp_file("/proc/$_[0]/status") } // '';
	return $status =~ /^voluntary_ctxt_switches:\s+(\d+)/m ? $1 : -1;
}
{
	my $sched = worker_pids('scheduler', 'postgres');
	my $before = voluntary_switches($sched);
	sleep 2;
	my $after = voluntary_switches($sched);
	my $woke = $after - $before;
	# (-1: no such process; a count that cannot be read must not pass as "slept")
	ok($before >= 0 && $after >= $before && $woke < 60,
		"an idle scheduler sleeps between its polls (woke $woke times in 2 s, process $sched)");
}

# ---- SIGHUP: pushplan.senders 2 -> 3 -> 1 -> 2 ------------------------------------------------------
section('SIGHUP: pushplan.senders');
my $senders_are = "SELECT count(*) = %d FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'";
set_guc('pushplan.senders', 3);
ok(wait_q(15, sprintf($senders_are, 3)), 'senders = 3 on reload starts a third sender')
  or diag('senders: ' . count_workers('sender', 'postgres'));
set_guc('pushplan.senders', 1);
ok(wait_q(15, sprintf($senders_are, 1)), 'senders = 1 on reload stops two')
  or diag('senders: ' . count_workers('sender', 'postgres'));
set_guc('pushplan.senders', 2);
ok(wait_q(15, sprintf($senders_are, 2)), 'senders = 2 again')
  or diag('senders: ' . count_workers('sender', 'postgres'));

# ---- a task whose audience fails: marked failed, the scheduler goes on -------------------------
section('a task whose audience fails');
new_app('shop', 3, 'shop-ok-');
my $sched  = worker_pids('scheduler', 'postgres');
my $upload = query(q{SELECT push_account_package_upload('shop', 'vip.txt', convert_to(E'acc-1\nacc-2\n', 'UTF8'))});
my $task   = query(qq{BEGIN;
  SELECT push_send('shop', '{"to": {"upload_id": $upload, "account_push_type": 1}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
  DELETE FROM account_packages WHERE upload_id = $upload;
  COMMIT;});
ok(wait_q(10, "SELECT state = 'failed' FROM tasks WHERE task_id = '$task'"),
	'a task whose account package is gone fails')
  or diag(query("SELECT state || ' ' || coalesce(error, '') FROM tasks WHERE task_id = '$task'"));
like(query("SELECT error FROM tasks WHERE task_id = '$task'"),
	qr/\Q92111: account package $upload does not exist\E/, "... with the audience's error");
is(query("SELECT count(*) FROM deliveries WHERE task_id = '$task'"), '0', '... and no deliveries');
$task = broadcast('shop', 'after the failure');
ok(wait_q(10, "SELECT state = 'done' FROM tasks WHERE task_id = '$task'"), 'the next task is sent')
  or diag(query("SELECT state FROM tasks WHERE task_id = '$task'"));
is(worker_pids('scheduler', 'postgres'), $sched, '... by the same scheduler process');

# ---- SIGTERM to a sender in the middle of a broadcast ------------------------------------------
section('SIGTERM to a sender');
new_app('term', 5000, 'term-slow1000-');
mock_reset($mock);
$task = broadcast('term', 'sigterm');
my $victim = '';
for (1 .. 100)
{
	$victim = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND state = 'active' AND query LIKE 'pushplan: % deliveries in flight' LIMIT 1");
	last if $victim ne '';
	usleep(100_000);
}
isnt($victim, '', "a busy sender shows 'N deliveries in flight' (state active)");
my $sent_before = query("SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'");
my $offset = log_size();
SKIP:
{
	skip 'no busy sender to stop', 2 if $victim eq '';
	kill 'TERM', $victim;
	my $gone = 'no';
	for (1 .. 150)
	{
		if (!alive($victim)) { $gone = 'yes'; last; }
		usleep(100_000);
	}
	is($gone, 'yes', 'the sender exits on SIGTERM once its batch in flight is done');
	ok( wait_q(20,
			"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres' AND pid <> $victim"),
		'... and is started again')
	  or diag('senders: ' . worker_pids('sender', 'postgres'));
}
ok(wait_q(60, "SELECT state = 'done' FROM tasks WHERE task_id = '$task'"), 'the broadcast completes')
  or diag(query("SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s"));
note("sent when SIGTERM arrived: $sent_before of 5000");
is(token_counts('term-'), '5000 5000 0', 'every device sent exactly once (reached once more)');
is(count_matches(log_since($offset), qr/ERROR|FATAL/), 0, 'no error or FATAL logged by the stop');

# ---- the launcher stopped alone: its successor adopts the running workers ---------------------
section('the launcher stopped alone');
my $senders  = worker_pids('sender', 'postgres');
my $launcher = worker_pids('launcher');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( wait_q(20,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan launcher' AND pid <> $launcher"),
	'a terminated launcher is restarted');
sleep 3;
is(worker_pids('sender', 'postgres'), $senders, '... and adopts the senders (no duplicates, no restarts)');
set_guc('pushplan.senders', 1);
ok(wait_q(15, sprintf($senders_are, 1)), '... and can stop an adopted sender on reload')
  or diag('senders: ' . count_workers('sender', 'postgres'));
set_guc('pushplan.senders', 2);
wait_q(15, sprintf($senders_are, 2));

# ---- kill -9 of a sender mid-broadcast: crash-restart, nothing lost ---------------------------
section('kill -9 of a sender');
new_app('crash', 5000, 'crash-slow1000-');
mock_reset($mock);
$task = broadcast('crash', 'kill -9');
wait_q(30, "SELECT count(*) >= 1000 FROM deliveries WHERE task_id = '$task' AND status = 'sent'");
$victim = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' LIMIT 1");
my $inflight_at_kill = query("SELECT count(*) FROM push_deliveries WHERE task_id = '$task' AND status = 'sending'");
kill 'KILL', $victim;
sleep 1;
ok(wait_server(), 'the server recovers from a killed sender');
ok(wait_q(90, "SELECT state = 'done' FROM tasks WHERE task_id = '$task'"),
	'the broadcast completes after the crash')
  or diag(query("SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s"));
is(query("SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$task'"),
	'5000', 'every delivery is sent');
my ($reached, $once, $twice) = split / /, token_counts('crash-');
is($reached, 5000, 'no device is lost (all 5000 reached)');
my $bound = 2 * ($inflight + $batch);
note("claimed and not recorded at the kill: $inflight_at_kill; sent twice: $twice (bound: 2 senders x (max_inflight + batch_size) = $bound)");
cmp_ok($twice, '<=', $bound, 'at most the batches in flight are sent again');
wait_q(20, "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'");
sleep 3;
is( query("SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'"),
	'pushplan express sender,pushplan launcher,pushplan scheduler,pushplan sender,pushplan sender',
	'after the crash: one launcher, one scheduler, two senders, one express sender (no duplicates)');
set_guc('pushplan.senders', 1);
ok(wait_q(15, sprintf($senders_are, 1)), 'after the crash, reload still stops senders')
  or diag('senders: ' . count_workers('sender', 'postgres'));
set_guc('pushplan.senders', 2);
wait_q(15, sprintf($senders_are, 2));

# ---- kill -9 of the scheduler while it expands a large task ----------------------------------
section('kill -9 of the scheduler');
# 'big' has no vendor configured: its deliveries are written as failed, nothing is sent
new_app('big', 100000, 'big-', 'hms');
$task = broadcast('big', 'expand me');
my $killed = 'no';
for (1 .. 400)
{
	my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND query = 'pushplan: expanding task $task'");
	if ($pid ne '') { kill 'KILL', $pid; $killed = 'yes'; last; }
	usleep(50_000);
}
is($killed, 'yes', 'the scheduler was killed while expanding');
sleep 1;
ok(wait_server(), 'the server comes back after the scheduler\'s crash');
ok(wait_q(60, "SELECT expanded FROM tasks WHERE task_id = '$task'"), 'the task is expanded after the restart')
  or diag(query("SELECT state FROM tasks WHERE task_id = '$task'"));
is( query("SELECT targeted || ' ' || (SELECT count(*) || ' ' || count(DISTINCT device_id) FROM deliveries WHERE task_id = '$task') FROM tasks WHERE task_id = '$task'"),
	'100000 100000 100000', '... exactly once');

# ---- a database added at runtime, DROP EXTENSION, DROP DATABASE ---------------------------------
section('a database added at runtime');
$node->safe_psql('postgres', 'CREATE DATABASE third');
$node->safe_psql('third', 'CREATE EXTENSION pushplan');
set_guc('pushplan.databases', 'postgres, third');
ok( wait_q(20, "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan s%' AND datname = 'third'"),
	'a database added to pushplan.databases on reload gets a scheduler and senders')
  or diag('third: ' . count_workers('sender', 'third'));
# serve_third(TOKEN, ALERT): an app t3 with one webhook device in third, and a push to it
sub serve_third
{
	my ($token, $alert) = @_;
	query("SELECT push_app_create('t3')", 'third');
	configure_vendors($mock, $node, 'third', 't3');
	query("SELECT push_device_register('t3', 'w1', 'web', 'webhook', '$token')", 'third');
	my $t = broadcast('t3', $alert, 'third');
	return wait_q(20, "SELECT state = 'done' FROM tasks WHERE task_id = '$t'", 'third');
}
ok(serve_third('third-db-1', 'db 3'), '... and is served');

my $third_workers = "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE datname = 'third' AND backend_type LIKE 'pushplan%'";
my $third_pids = query($third_workers);
$offset = log_size();
$node->safe_psql('third', 'DROP EXTENSION pushplan CASCADE');
sleep 4;
is(query($third_workers), $third_pids, 'DROP EXTENSION: the workers stay, idle');
is(count_matches(log_since($offset), qr/ERROR|FATAL/), 0, '... without errors in the log');
is( query("SELECT count(*) FROM pg_stat_activity WHERE datname = 'third' AND query = 'pushplan sender: waiting for CREATE EXTENSION pushplan'"),
	'3', '... saying what they wait for (the two senders and the express sender)');
$node->safe_psql('third', 'CREATE EXTENSION pushplan');
ok(serve_third('third-db-2', 'db 3 again'), 'CREATE EXTENSION again: served again');

my $t0 = time;
my ($out, $err) = ('', '');
$node->psql('postgres', 'DROP DATABASE third', stdout => \$out, stderr => \$err, timeout => 60);
like($err, qr/is being accessed by other users/,
	'DROP DATABASE of a served database fails after 5 s instead of hanging');
note(sprintf('DROP DATABASE returned after %d s', time - $t0));
$offset = log_size();
my $ret = $node->psql('postgres', 'DROP DATABASE third WITH (FORCE)',
	stdout => \$out, stderr => \$err, timeout => 60);
ok($ret == 0 && $err eq '' && query("SELECT count(*) FROM pg_database WHERE datname = 'third'") eq '0',
	'DROP DATABASE ... WITH (FORCE) stops its workers and succeeds')
  or diag("psql returned $ret: $err");
sleep 10;
is(count_matches(log_since($offset), qr/database "third" of pushplan\.databases does not exist/),
	1, 'the launcher reports the missing database once');
is(count_matches(log_since($offset), qr/FATAL/), 0, '... and tries no connection to it');
is(count_workers('sender', 'postgres'), '2', 'the other database keeps its workers');
set_guc('pushplan.databases', 'postgres');
sleep 3;
is(query("SELECT count(*) FROM pg_stat_activity WHERE datname = 'third'"),
	'0', 'removed from pushplan.databases: no worker serves it');

# ---- SIGHUP of the sizes mid-broadcast ----------------------------------------------------------
section('sizes reloaded mid-broadcast');
mock_reset($mock);
$task = broadcast('term', 'resize');
wait_q(20, "SELECT count(*) > 0 FROM push_deliveries WHERE task_id = '$task' AND status = 'sending'");
$senders = worker_pids('sender', 'postgres');
# outcome buffers grow with batch_size; the engine is drained and re-created for max_inflight
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pushplan.batch_size = 400; ALTER SYSTEM SET pushplan.max_inflight = 800;
	 ALTER SYSTEM SET pushplan.http_timeout = '6s'; SELECT pg_reload_conf()");
ok(wait_q(60, "SELECT state = 'done' FROM tasks WHERE task_id = '$task'"),
	'a broadcast completes across a reload of batch_size, max_inflight, http_timeout')
  or diag(query("SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s"));
is(token_counts('term-'), '5000 5000 0', '... every device once');
is(worker_pids('sender', 'postgres'), $senders, '... by the same senders');
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET pushplan.batch_size; ALTER SYSTEM RESET pushplan.max_inflight;
	 ALTER SYSTEM RESET pushplan.http_timeout; SELECT pg_reload_conf()");

# ---- flat memory over a 20,000-device broadcast -------------------------------------------------
section('flat memory');
new_app('mem', 20000, 'mem-slow50-');
$task = broadcast('mem', 'memory');
wait_q(20, "SELECT count(*) > 0 FROM deliveries WHERE task_id = '$task' AND status = 'sent'");
my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' ORDER BY pid LIMIT 1");
my @samples;
for (1 .. 600)
{
	last if query("SELECT state FROM tasks WHERE task_id = '$task'") eq 'done';
	my $progress = query("SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'");
	my $status = eval { slurp_file("/proc/$pid/status") } // '';
	# from 8,000 on: the senders' windows of open requests grow to what 50 ms answers need over
	# the first thousands (each open request has its transfer handle and buffers)
	push @samples, $1 if $status =~ /^RssAnon:\s+(\d+)/m && $progress >= 8000;
	usleep(100_000);
}
is(query("SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$task'"),
	'20000', 'the 20,000-device broadcast completes');
if (@samples >= 3)
{
	my ($lo, $hi) = (sort { $a <=> $b } @samples)[ 0, -1 ];
	note(sprintf('sender RssAnon over %d samples from 8,000 to 20,000 sent: %d..%d kB', scalar(@samples), $lo, $hi));
	# under make test-asan (test/asan.sh) freed chunks wait in AddressSanitizer's quarantine,
	# up to its size a process, before they are reused: the band may hold that much more
	my $band = 4096;
	$band += 1024 * $1
	  if ($ENV{LD_PRELOAD} // '') =~ /libasan/ && ($ENV{ASAN_OPTIONS} // '') =~ /quarantine_size_mb=(\d+)/;
	cmp_ok($hi - $lo, '<=', $band, sprintf('sender memory is flat (band under %d MB)', $band / 1024));
}
else
{
	fail('too few memory samples (' . scalar(@samples) . ')');
}

# ---- the whole log: only the errors provoked on purpose --------------------------------------
my @unexpected = grep { !/is being accessed by other users|the database system is (starting up|in recovery mode|not yet accepting)/ }
  grep { /ERROR|FATAL|PANIC/ } split /\n/, log_since(0);
is(join("\n", splice(@unexpected, 0, 3)), '', 'no unexpected ERROR, FATAL or PANIC in the server log');

# ---- postmaster death -------------------------------------------------------------------------
section('postmaster death');
new_app('pmd', 2000, 'pmd-slow1000-');
$task = broadcast('pmd', 'postmaster death');
wait_q(20, "SELECT count(*) > 0 FROM push_deliveries WHERE task_id = '$task' AND status = 'sending'");
my @pidfile = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
my $pm      = $pidfile[0];
my $shm     = (split ' ', $pidfile[6] // '')[1];
my @workers = split / /, query("SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'");
my @children = split ' ', `pgrep -P $pm`;
my %child = map { $_ => 1 } @children;
ok(@workers == 5 && !grep({ !$child{$_} } @workers),
	'the five workers (launcher, scheduler, two senders, express sender) run, children of the postmaster, before it dies')
  or diag("workers: @workers; children of $pm: @children");
$node->kill9;
$t0 = time;
my @left;
for (1 .. 100)
{
	@left = grep { alive($_) } @workers;
	last unless @left;
	usleep(100_000);
}
is("@left", '', 'after kill -9 of the postmaster every pushplan worker exits on its own');
note(sprintf('workers gone %d ms after the postmaster died', (time - $t0) * 1000));
for (1 .. 100)
{
	@left = grep { alive($_) } @children;
	last unless @left;
	usleep(100_000);
}
is("@left", '', '... and no server process is left');
# the orphaned System V segment (postmaster.pid line 7) goes with the data directory
system('ipcrm', '-m', $shm) if defined $shm && $shm =~ /^\d+$/;
unlink $node->data_dir . '/postmaster.pid';

mock_stop($mock);
done_testing();
