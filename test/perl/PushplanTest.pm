# Shared set-up of pushplan's TAP tests (test/t/*.pl): a PostgreSQL::Test::Cluster node that
# preloads pushplan, the mock vendor on loopback, and bounded waits.
#
#   my $node = pushplan_node(NAME, CONF_LINE...)   init'd (not started): test/pushplan.conf, then
#                                                  the lines given (later lines win)
#   my $mock = mock_start()                        the mock vendor on a free port of 127.0.0.1 over TLS with
#                                                  fresh keys (test/mock_vendor/env.sh does the
#                                                  work); $mock->{dir}, {base}, {cert}: give
#                                                  {cert} to the server as pushplan.ca_file.
#                                                  Stopped at exit, or by mock_stop($mock).
#   mock_get($mock, PATH)       a request to the mock (its body); mock_stats($mock): /_mock/stats
#                               decoded; mock_reset($mock)
#   configure_vendors($mock, $node, DB, APP)   APP's apns, fcm, hms and webhook pointed at the mock
#   sql($node, DB, SQL [, quiet => 1])  SQL with search_path pushplan, public; returns its output,
#                               never dies (an error shows as a diagnostic, unless quiet, and an
#                               empty result)
#   wait_for($node, DB, SECONDS, SQL)   polls every 0.1 s, at most SECONDS, until SQL returns t
#                               (quietly: the server may be restarting)
#   log_count($node, TEXT)      how many lines of the server log contain TEXT
#
# Loopback only; every wait is bounded.
package PushplanTest;

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use JSON::PP;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(pushplan_node mock_start mock_stop mock_get mock_stats mock_reset
  configure_vendors sql wait_for log_count);

# test/ of the tree this module sits in (test/perl/..)
my $testdir = abs_path(dirname(__FILE__) . '/..');
my $mock_env = "$testdir/mock_vendor/env.sh";
my @mocks;

sub pushplan_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		slurp_file("$testdir/pushplan.conf") . join("\n", @conf));
	return $node;
}

# runs a function of test/mock_vendor/env.sh in bash, with the mock's variables set
sub _mock_sh
{
	my ($mock, @args) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[
			'bash', '-c',
			'. "$1"; mock_dir=$2; mock_base=$3; shift 3; "$@"',
			'_', $mock_env, $mock->{dir}, $mock->{base}, @args
		],
		'<', \undef, '>', \$out, '2>', \$err);
	diag("mock: @args: $err") if !$ok && $err ne '';
	return $ok ? $out : undef;
}

sub mock_start
{
	# a port no one listens on (as the nodes' ports are chosen), so that a cluster or mock
	# left on a fixed port by other work cannot fail the test
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dir = PostgreSQL::Test::Utils::tempdir("mock_$port");
	chmod 0755, $dir;
	my $mock = { dir => $dir, base => "https://127.0.0.1:$port", cert => "$dir/cert.pem" };
	my ($out, $err) = ('', '');
	# mock_start leaves the mock running in the background and writes its pid to mock.pid
	IPC::Run::run([ 'bash', '-c', '. "$1"; mock_start "$2" "$3"', '_', $mock_env, $dir, $port ],
		'<', \undef, '>', \$out, '2>', \$err)
	  or BAIL_OUT("the mock vendor did not start on 127.0.0.1:$port: $err");
	chomp(my $pid = slurp_file("$dir/mock.pid"));
	$mock->{pid} = $pid;
	push @mocks, $mock;
	return $mock;
}

sub mock_stop
{
	my ($mock) = @_;
	return unless $mock->{pid};
	kill 'TERM', $mock->{pid};
	# it removes its pid file when it has closed its connections (bounded: 10 s)
	for (1 .. 100)
	{
		last unless -e "$mock->{dir}/mock.pid";
		usleep(100_000);
	}
	kill 'KILL', $mock->{pid} if -e "$mock->{dir}/mock.pid";
	$mock->{pid} = undef;
	return;
}

END
{
	my $rc = $?;
	mock_stop($_) for @mocks;
	$? = $rc;
}

sub mock_get { my ($mock, $path) = @_; return _mock_sh($mock, 'mock_curl', $path) // ''; }

sub mock_stats
{
	my ($mock) = @_;
	my $body = mock_get($mock, '/_mock/stats');
	my $stats = eval { decode_json($body) };
	diag("mock stats: not JSON: $body") unless $stats;
	return $stats // {};
}

sub mock_reset { my ($mock) = @_; _mock_sh($mock, 'mock_curl', '/_mock/reset', '-X', 'POST'); return; }

sub configure_vendors
{
	my ($mock, $node, $db, $app) = @_;
	defined _mock_sh($mock, 'mock_vendor_setup', $app, $node->installed_command('psql'),
		'-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db))
	  or BAIL_OUT("configure_vendors $app failed");
	return;
}

sub sql
{
	my ($node, $db, $query, %opt) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, "SET search_path = pushplan, public;\n$query",
		stdout => \$out, stderr => \$err);
	diag("sql: $query\n$err") if $err =~ /ERROR|FATAL/ && !$opt{quiet};
	return $out;
}

sub wait_for
{
	my ($node, $db, $seconds, $query) = @_;
	for (1 .. $seconds * 10)
	{
		return 1 if sql($node, $db, $query, quiet => 1) eq 't';
		usleep(100_000);
	}
	return 0;
}

sub log_count
{
	my ($node, $text) = @_;
	return scalar(grep { index($_, $text) >= 0 } split /\n/, slurp_file($node->logfile));
}

1;
