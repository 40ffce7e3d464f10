# The background workers never call a function or operator planted in public. They connect as
# the bootstrap superuser, so one such call would make its planter superuser. Two attackers:
#  - mallory owns the database (PostgreSQL 15 lets a database's owner create in public) and
#    plants operators that are exact matches where pg_catalog has only inexact ones:
#    *(integer, interval) and *(bigint, interval) (big_push_duration's spread in the expansion),
#    /(interval, bigint);
#  - eve holds no pushplan role at all; public is open to everyone (the pre-15 default,
#    GRANT CREATE ON SCHEMA public TO PUBLIC) and she plants format(text, text) (the "vendor not
#    configured" message of the expansion) and exact-typed unnest overloads (the senders' outcome
#    statements).
# Every plant records its call in a side table and tries ALTER ROLE ... SUPERUSER. The database's
# and the superuser's own search_path are set to put public first, and the server is restarted
# so that the workers start under them. Then every worker statement path runs: expansion
# (spread, tag audience, a vendor not configured), sends, an invalid token, a retry, a sender
# killed and restarted, the scheduler's upkeep. Nothing planted may run.
#
# Behind the pinned path, the workers do their work as the NOLOGIN role pushplan_worker, not as
# the superuser they connect as. Statement triggers (a fixture of this test, on the tables only
# the workers write here) record current_user and session_user for every worker statement: the
# check fails if any of them ran as the superuser (as it would without the switch in
# pp_work_begin). Then the role's grants are shown to be in force (one revoked, the expansion
# that needs it fails with a permission error; a superuser would not notice), and with the role
# dropped the workers warn once each and send nothing, until push_worker_grants() re-creates it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PushplanTest;
use Test::More;
use Time::HiRes qw(usleep);

my $mock = mock_start();
my $node = pushplan_node('victim', "pushplan.ca_file = '$mock->{cert}'",
	"pushplan.databases = 'victim'", "pushplan.senders = 1", "pushplan.poll_interval = 200",
	"pushplan.max_attempts = 3", "pushplan.retry_max_backoff = 1");
$node->start;

# as(ROLE, SQL): SQL in victim as ROLE (dies on an error: the set-up must not half-happen)
sub as
{
	my ($role, $query) = @_;
	return $node->safe_psql('victim', $query, connstr => $node->connstr('victim') . " user=$role");
}
sub q_victim { return sql($node, 'victim', $_[0]); }
sub tokens_sent { return mock_stats($mock)->{tokens}{ $_[0] }{requests} // 0; }
# the bootstrap superuser the workers connect as (the name initdb gave it)
my $su = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql('postgres',
	"CREATE ROLE mallory LOGIN; CREATE ROLE eve LOGIN; CREATE DATABASE victim OWNER mallory");
$node->safe_psql('victim', "CREATE EXTENSION pushplan; GRANT CREATE ON SCHEMA public TO PUBLIC");
as('mallory', "CREATE TABLE public.hits (who text, fn text, at timestamptz DEFAULT now());
               GRANT INSERT, SELECT ON public.hits TO PUBLIC");

# plant(WHO, NAME, ARGS, RETURNS, BODY): a function that records its call, tries to escalate,
# and returns what the real one would
sub plant
{
	my ($who, $name, $args, $ret, $body) = @_;
	as($who, "CREATE FUNCTION public.$name($args) RETURNS $ret LANGUAGE plpgsql AS \$f\$
    BEGIN
      INSERT INTO public.hits (who, fn) VALUES (current_user, '$name($args)');
      BEGIN EXECUTE 'ALTER ROLE $who SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
      $body
    END \$f\$");
}
plant('mallory', 'evil_mul_i4', 'a integer, b interval', 'interval', 'RETURN b * a::float8;');
plant('mallory', 'evil_mul_i8', 'a bigint, b interval', 'interval', 'RETURN b * a::float8;');
plant('mallory', 'evil_div_i8', 'a interval, b bigint', 'interval', 'RETURN a / b::float8;');
as('mallory',
	"CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = public.evil_mul_i4);
     CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = public.evil_mul_i8);
     CREATE OPERATOR public./ (LEFTARG = interval, RIGHTARG = bigint, FUNCTION = public.evil_div_i8)");
plant('eve', 'format', 'f text, a text', 'text', 'RETURN pg_catalog.format(f, a);');
plant('eve', 'unnest', 'a bigint[], b text[]', 'TABLE(x bigint, y text)',
	'RETURN QUERY SELECT * FROM pg_catalog.unnest(a, b);');
plant('eve', 'unnest',
	'a bigint[], b text[], c integer[], d text[], e text[], f timestamptz[], g text[]',
	'TABLE(a1 bigint, b1 text, c1 integer, d1 text, e1 text, f1 timestamptz, g1 text)',
	'RETURN QUERY SELECT * FROM pg_catalog.unnest(a, b, c, d, e, f, g);');
is(as('eve', "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"),
	'6', 'the plants are in place');
# the control: a plain session with public first does call them (so this test can fail)
is( as('eve',
		"SET search_path = public, pg_catalog; SELECT (2 * interval '1 minute')::text, format('%s', 'x')"),
	'00:02:00|x',
	'a session with public first resolves to the plants');
$node->safe_psql('victim', 'DELETE FROM public.hits');

# public first for the database and for the superuser the workers connect as; restart
as('mallory', 'ALTER DATABASE victim SET search_path = public, pg_catalog');
$node->safe_psql('victim', qq{ALTER ROLE "$su" IN DATABASE victim SET search_path = public, pg_catalog});
$node->restart;
ok( wait_for($node, 'victim', 30,
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = 'victim' AND backend_type IN ('pushplan scheduler', 'pushplan sender')"),
	'after the restart the workers run with the new settings');

q_victim("SELECT push_app_create('shop')");
configure_vendors($mock, $node, 'victim', 'shop');
q_victim(q{SELECT push_device_register_batch('shop', jsonb_build_array(
  jsonb_build_object('registration_id', 'ios-1', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-ios-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'ios-gone', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-unregistered-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'ios-busy', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-throttle1-a', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'and-1', 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'oppo-1', 'platform', 'android', 'vendor', 'oppo', 'token', 'oppo-1', 'tags', jsonb_build_array('vip'))))});

# the probe: who runs each statement on the tables that only the workers write during this test
$node->safe_psql('victim', q{
  CREATE SCHEMA probe;
  CREATE TABLE probe.seen (tbl text, op text, cu name, su name);
  GRANT USAGE ON SCHEMA probe TO pushplan_worker;
  GRANT INSERT ON probe.seen TO pushplan_worker;
  CREATE FUNCTION probe.saw() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- the workers' statements, not this test's own sessions (whose push_send writes the
      -- deliveries of a short list itself); psql names them after the test file
      IF pg_catalog.current_setting('application_name') <> '001_worker_safety.pl' THEN
        INSERT INTO probe.seen VALUES (TG_TABLE_NAME, TG_OP, current_user, session_user);
      END IF;
      RETURN NULL;
    END $$;
  CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON pushplan.deliveries FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON pushplan.delivery_queue FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER UPDATE ON pushplan.tasks FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER UPDATE ON pushplan.devices FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
});

# a transactional push: sends, an invalid token, a retry; and a broadcast spread over a minute
mock_reset($mock);
my $t1 = q_victim(q{SELECT push_send('shop', '{"to": {"registration_id": ["ios-1", "ios-gone", "ios-busy", "and-1", "oppo-1"]}, "body": {"platform": "all", "notification": {"alert": "hello"}}}')});
my $t2 = q_victim(q{SELECT push_send('shop', '{"to": {"tag": ["vip"]}, "body": {"platform": "all", "notification": {"alert": "spread"}, "options": {"big_push_duration": 1}}}')});
ok(wait_for($node, 'victim', 30, "SELECT state = 'done' FROM tasks WHERE task_id = '$t1'"),
	'the transactional push is done')
  or diag(q_victim("SELECT string_agg(status || ':' || coalesce(error, ''), ' ') FROM deliveries WHERE task_id = '$t1'"));
is( q_victim("SELECT string_agg(v.registration_id || '=' || d.status || '/' || d.attempts, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$t1'"),
	'and-1=sent/1 ios-1=sent/1 ios-busy=sent/2 ios-gone=invalid_token/1 oppo-1=failed/0',
	'its outcomes');
is(tokens_sent('test-throttle1-a'), 2, 'the vendor saw the retried one twice');
ok(wait_for($node, 'victim', 20, "SELECT expanded FROM tasks WHERE task_id = '$t2'"),
	'the broadcast is expanded');
is(q_victim("SELECT max(send_at) - min(send_at) > interval '20 seconds' FROM deliveries WHERE task_id = '$t2'"),
	't', '... its sends spread over the minute');

# a sender killed mid-task comes back and requeues its claims; the scheduler's upkeep runs
q_victim("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'victim' AND backend_type = 'pushplan sender'");
sleep 1;
ok( wait_for($node, 'victim', 30,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'victim' AND backend_type = 'pushplan sender'"),
	'the sender is back');
ok(wait_for($node, 'victim', 90, "SELECT state = 'done' FROM tasks WHERE task_id = '$t2'"),
	'the broadcast is done')
  or diag(q_victim("SELECT string_agg(status, ' ') FROM deliveries WHERE task_id = '$t2'"));

# every worker statement ran as pushplan_worker, in a session that is still the superuser's
is( $node->safe_psql('victim',
		"SELECT string_agg(DISTINCT cu || ' in a session of ' || su, ', ') FROM probe.seen"),
	"pushplan_worker in a session of $su",
	"the workers' statements all ran as pushplan_worker");
is( $node->safe_psql('victim', "SELECT string_agg(DISTINCT tbl || ':' || op, ' ') FROM probe.seen"),
	'deliveries:INSERT deliveries:UPDATE delivery_queue:DELETE delivery_queue:INSERT delivery_queue:UPDATE devices:UPDATE tasks:UPDATE',
	"... the scheduler's and the senders' (expansion, claims, outcomes, invalid tokens, upkeep)");
$node->safe_psql('victim', 'DROP SCHEMA probe CASCADE');

# the grants are in force: without SELECT on device_tags a tag audience cannot be expanded
q_victim(q{SELECT push_app_set('shop', '{"broadcast_min_interval": "0 seconds"}')});
$node->safe_psql('victim', 'REVOKE SELECT ON pushplan.device_tags FROM pushplan_worker');
my $t3 = q_victim(q{SELECT push_send('shop', '{"to": {"tag": ["vip"]}, "body": {"platform": "all", "notification": {"alert": "denied"}}}')});
ok(wait_for($node, 'victim', 20, "SELECT state = 'failed' FROM tasks WHERE task_id = '$t3'"),
	'a revoked grant fails the expansion')
  or diag(q_victim("SELECT state || ' ' || coalesce(error, '') FROM tasks WHERE task_id = '$t3'"));
like(q_victim("SELECT error FROM tasks WHERE task_id = '$t3'"),
	qr/permission denied for table device_tags/, '... with a permission error');
$node->safe_psql('victim', 'SELECT pushplan.push_worker_grants()');

# the role dropped: each worker warns once and does nothing; re-created, the work resumes
my $warning = 'role "pushplan_worker" does not exist: this worker does no work until it does';
my $sent_before = tokens_sent('test-ios-1');
is($node->psql('victim', 'DROP OWNED BY pushplan_worker; DROP ROLE pushplan_worker'),
	0, 'the role can be dropped');
my $t4 = q_victim(q{SELECT push_send('shop', '{"to": {"registration_id": ["ios-1"]}, "body": {"platform": "all", "notification": {"alert": "no role"}}}')});
for (1 .. 100)
{
	last if log_count($node, $warning) >= 3;
	usleep(100_000);
}
sleep 3;    # fifteen poll intervals
is(log_count($node, $warning), 3,
	'without the role the scheduler, the sender and the express sender each warned once');
# (push_send queued the delivery of this one-device push itself: no sender claims it)
is( q_victim("SELECT state || '/' || string_agg(d.status, ',') FROM tasks t LEFT JOIN push_deliveries d USING (task_id) WHERE t.task_id = '$t4' GROUP BY state"),
	'sending/queued', '... and the push waits, its delivery not claimed');
is(tokens_sent('test-ios-1'), $sent_before, '... and nothing was sent');
$node->safe_psql('victim', 'SELECT pushplan.push_worker_grants()');
ok(wait_for($node, 'victim', 30, "SELECT state = 'done' FROM tasks WHERE task_id = '$t4'"),
	're-created, the push is sent')
  or diag(q_victim("SELECT state FROM tasks WHERE task_id = '$t4'"));
is(tokens_sent('test-ios-1'), $sent_before + 1, '... once');
# each says so at its next look for work (the idle ones: within a poll interval)
for (1 .. 100)
{
	last if log_count($node, 'role "pushplan_worker" exists again: resuming work') >= 3;
	usleep(100_000);
}
is(log_count($node, 'role "pushplan_worker" exists again: resuming work'),
	3, '... and all three workers said they resume');

# ---- the statements added since: schedules firing (a smart push), intelligent send times,
# templates, the engagement gate, events and the statistics rollup, the outcome webhook's
# batches and posts. More look-alikes, planted by eve as exact matches of what those statements
# call: with public first they would win over pg_catalog, if the workers' path were not pinned.
# (They stay quiet for this test's own sessions, which the database's path also reaches.)
sub plant_quiet
{
	my ($name, $args, $ret, $body) = @_;
	as('eve', "CREATE FUNCTION public.$name($args) RETURNS $ret LANGUAGE plpgsql AS \$f\$
    BEGIN
      IF pg_catalog.current_setting('application_name') <> '001_worker_safety.pl' THEN
        INSERT INTO public.hits (who, fn) VALUES (current_user, '$name($args)');
        BEGIN EXECUTE 'ALTER ROLE eve SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
      END IF;
      $body
    END \$f\$");
}
plant_quiet('now', '', 'timestamptz', 'RETURN pg_catalog.now();');
plant_quiet('clock_timestamp', '', 'timestamptz', 'RETURN pg_catalog.clock_timestamp();');
plant_quiet('to_char', 'a timestamptz, b text', 'text', 'RETURN pg_catalog.to_char(a, b);');
plant_quiet('date_trunc', 'a text, b timestamptz', 'timestamptz', 'RETURN pg_catalog.date_trunc(a, b);');
plant_quiet('timezone', 'a text, b timestamptz', 'timestamp', 'RETURN pg_catalog.timezone(a, b);');
plant_quiet('floor', 'a double precision', 'double precision', 'RETURN pg_catalog.floor(a);');
plant_quiet('ln', 'a double precision', 'double precision', 'RETURN pg_catalog.ln(a);');
plant_quiet('jsonb_array_elements_text', 'a jsonb', 'SETOF text',
	'RETURN QUERY SELECT pg_catalog.jsonb_array_elements_text(a);');
# the control: another session with public first calls them
is( as('eve',
		"SET application_name = 'control'; SELECT now() IS NOT NULL, date_trunc('day', now()) IS NOT NULL; SELECT count(DISTINCT fn) FROM public.hits"),
	"t|t\n2", 'a session with public first resolves to the new plants');
$node->safe_psql('victim', 'DELETE FROM public.hits');

# the probe again, on the tables these statements write
$node->safe_psql('victim', q{
  CREATE SCHEMA probe;
  CREATE TABLE probe.seen (tbl text, op text, cu name, su name);
  GRANT USAGE ON SCHEMA probe TO pushplan_worker;
  GRANT INSERT ON probe.seen TO pushplan_worker;
  CREATE FUNCTION probe.saw() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF pg_catalog.current_setting('application_name') <> '001_worker_safety.pl' THEN
        INSERT INTO probe.seen VALUES (TG_TABLE_NAME, TG_OP, current_user, session_user);
      END IF;
      RETURN NULL;
    END $$;
  CREATE TRIGGER probe AFTER INSERT OR UPDATE ON pushplan.schedule_runs FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON pushplan.outcome_batches FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER INSERT OR UPDATE ON pushplan.engagement_counts FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
  CREATE TRIGGER probe AFTER INSERT OR UPDATE ON pushplan.plan_stats FOR EACH STATEMENT EXECUTE FUNCTION probe.saw();
});

mock_reset($mock);
q_victim(q{SELECT push_outcome_webhook_set('shop', jsonb_build_object('url', '} . $mock->{base}
	  . q{/outcomes/safety', 'secret', 'outcomes-secret-0123456789'))});
q_victim(q{SELECT push_attr_set('shop', 'and-1', '{"city": "Shenzhen"}')});
q_victim(q{SELECT push_app_set('shop', '{"broadcast_min_interval": "0 seconds"}')});
# a cap on a plan no push has used yet: the senders cache whether an app and plan have
# controls for 10 s, so a cap set on the app just now could reach them after these pushes
q_victim(q{SELECT push_plan_create('shop', 'capped')});
q_victim(q{SELECT push_plan_set('shop', 'capped', '{"frequency_cap": {"per_day": 1}}')});
# a template rendered per device by the sender, then a second push the cap drops
my $t5 = q_victim(q{SELECT push_send('shop', '{"to": {"registration_id": ["and-1"]}, "body": {"platform": "all", "notification": {"alert": "hi {{attrs.city}}"}, "options": {"priority": "normal", "plan_id": "capped"}}}')});
ok(wait_for($node, 'victim', 30, "SELECT state = 'done' FROM tasks WHERE task_id = '$t5'"),
	'a push with a template is done');
is(q_victim("SELECT status FROM deliveries WHERE task_id = '$t5'"), 'sent', '... sent');
my $t6 = q_victim(q{SELECT push_send('shop', '{"to": {"registration_id": ["and-1"]}, "body": {"platform": "all", "notification": {"alert": "again"}, "options": {"priority": "normal", "plan_id": "capped"}}}')});
ok(wait_for($node, 'victim', 30, "SELECT state = 'done' FROM tasks WHERE task_id = '$t6'"),
	'a second push to the device is done');
is(q_victim("SELECT status || ':' || coalesce(error, '') FROM deliveries WHERE task_id = '$t6'"),
	'suppressed:capped', '... suppressed by the frequency cap (the engagement gate)');
# events: a click of the sent one, rolled up into the plan's statistics by the scheduler
q_victim("SELECT push_event('shop', 'and-1', '$t5', 'click')");
ok(wait_for($node, 'victim', 30, "SELECT NOT EXISTS (SELECT FROM pushplan.stats_pending)"),
	'the events are rolled up');
# a smart push: a schedule that fires at once and plans each device at its best time
my $s1 = q_victim(q{SELECT push_schedule_create('shop', '{"name": "smart", "trigger": {"intelligent": {"backup_time": "now"}}, "push": {"to": {"registration_id": ["ios-1"]}, "body": {"platform": "all", "notification": {"alert": "smart"}}}}')});
ok(wait_for($node, 'victim', 30,
		"SELECT EXISTS (SELECT FROM pushplan.schedule_runs r JOIN pushplan.schedules s USING (schedule_id) WHERE s.name = 'smart')"),
	'the smart schedule fired');
ok( wait_for($node, 'victim', 30,
		"SELECT bool_and(t.state = 'done') FROM pushplan.tasks t JOIN pushplan.schedule_runs r ON r.task_id = t.task_id"),
	'... and its push is done');
# every final outcome of these went to the receiver
ok( wait_for($node, 'victim', 40,
		"SELECT waiting = 0 AND batch_id IS NULL FROM push_outcome_webhooks WHERE app = 'shop'"),
	'the outcome batches were posted');
ok(mock_get($mock, '/_mock/outcomes?name=safety') =~ /"status":200/, '... and accepted by the receiver');
is( $node->safe_psql('victim',
		"SELECT string_agg(DISTINCT cu || ' in a session of ' || su, ', ') FROM probe.seen"),
	"pushplan_worker in a session of $su",
	"these statements too ran as pushplan_worker");
is( $node->safe_psql('victim', "SELECT string_agg(DISTINCT tbl, ' ' ORDER BY tbl) FROM probe.seen"),
	'engagement_counts outcome_batches plan_stats schedule_runs',
	'... the gate, the outcome batches, the rollup and the schedule');
$node->safe_psql('victim', 'DROP SCHEMA probe CASCADE');

# the verdict
is($node->safe_psql('victim', 'SELECT count(*) FROM public.hits'),
	'0', 'no planted function or operator ever ran');
is( $node->safe_psql('victim',
		"SELECT string_agg(rolname || '=' || rolsuper, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('mallory', 'eve')"),
	'eve=false mallory=false',
	'nobody became superuser');

$node->stop;
mock_stop($mock);
done_testing();
