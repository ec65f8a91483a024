# A worker killed with SIGKILL under load, 20 times, one at a time: NGINX
# respawns it, the zone lock is not left held (NGINX force-unlocks the
# slab mutex we use), the registry is intact (count and the consistency
# walk of hashset, dense array and heap), and the server keeps answering.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);

plan skip_all => 'worker kills need master_process (not under valgrind)'
    if valgrind();
plan skip_all => 'wrk is not installed' unless -x '/usr/bin/wrk';

my $CLIENTS = 1000;
my $KILLS = 20;

my $srv = ScaleTest::Server->new(
    workers => 2,
    http_config => <<'CONF',
    scale_zone name=reg size=4m;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
CONF
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
);
$srv->start;

my $c = $srv->conn;
for my $i (1 .. $CLIENTS) {
    my ($code) = $c->post('/connect', "client-$i");
    die "register client-$i: $code\n" unless $code == 200;
}
$c->close;
is($srv->status->{clients}, $CLIENTS, "$CLIENTS clients registered");

# refreshes of the same names, from wrk, for as long as the kills take
my $dir = tempdir(CLEANUP => 1);
open my $lua, '>', "$dir/refresh.lua" or die $!;
print $lua <<"LUA";
local n = 0
request = function()
    n = n + 1
    return wrk.format("POST", "/connect", nil, "client-" .. (n % $CLIENTS + 1))
end
LUA
close $lua;

my $wrk = fork // die "fork: $!";
if ($wrk == 0) {
    open STDOUT, '>', "$dir/wrk.out";
    open STDERR, '>&', \*STDOUT;
    exec('/usr/bin/wrk', '-t1', '-c8', '-d60s', '-s', "$dir/refresh.lua",
         'http://127.0.0.1:' . $srv->port . '/') or POSIX::_exit(127);
}

sleep 0.5;
my $survived = 0;

for my $k (1 .. $KILLS) {
    my @before = $srv->worker_pids;
    my $victim = $before[$k % @before];
    kill 'KILL', $victim;

    my $deadline = time + 10;
    my @after;
    while (time < $deadline) {
        sleep 0.05;
        @after = $srv->worker_pids;
        last if @after == @before && !grep { $_ == $victim } @after;
    }

    my ($code) = $srv->request('POST', '/connect', 'probe-client');
    $survived++ if @after == @before && $code == 200;
}

kill 'INT', $wrk;
waitpid $wrk, 0;

is($survived, $KILLS, "$KILLS worker kills survived, each respawned");

my $st = $srv->status;
is($st->{clients}, $CLIENTS + 1, 'registry count intact');
my ($code, undef, $body) = $srv->request('GET', '/status/check');
is($code, 200, 'hashset, dense array and heap agree') or diag($body);

my $wrk_out = do { local $/; open my $fh, '<', "$dir/wrk.out"; <$fh> };
like($wrk_out, qr/requests in/, 'wrk ran during the kills')
    or diag($wrk_out);

# the kills show as "exited on signal 9" alerts, one per kill; any other
# alert is a problem
$srv->stop;
my @alerts = grep { /\[alert\]/ } split /\n/, $srv->error_log;
my @other = grep { !/exited on signal 9/ } @alerts;
is(scalar @alerts - scalar @other, $KILLS, 'one "exited on signal 9" per kill');
is(scalar @other, 0, 'no other alert') or diag(join "\n", @other);
$srv->finish(alert => 1);

done_testing();
