# Faults together under load: two instances on one Redis serve refreshes
# of 1,000 registered names from wrk while both are reloaded ten times
# each and Redis is killed and restarted empty in the middle.  Asserted:
# no 5xx (no non-2xx at all) and no socket errors from either load,
# every registration still there afterwards on A, on B and in Redis, and
# both registries consistent.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use ScaleRedis;
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);

plan skip_all => 'reloads and kills need master_process (not valgrind)'
    if valgrind();
plan skip_all => 'redis-server is not installed'
    unless ScaleRedis::available();
plan skip_all => 'wrk is not installed' unless -x '/usr/bin/wrk';

my $NAMES = 1000;
my $RELOADS = 10;

my $redis = ScaleRedis->new;
$redis->start;

# Why: both instances share everything but their name and subset size,
# which the reloads change to show each reload really took effect.
sub instance_conf {
    my ($name, $k) = @_;
    return (
        http_config => <<"CONF",
    scale_zone name=reg size=8m;
    scale_refresh_min 0;
    scale_subset_size $k;
    scale_min_age 1h;
    scale_max_age 2h;
    scale_redis 127.0.0.1:@{[ $redis->port ]} instance=$name;
CONF
        config => <<'CONF',
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
    );
}

# Why: poll a condition with a generous bound instead of sleeping.
sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs * timeout_factor();
    while (time < $deadline) {
        my $v = eval { $cond->() };
        return $v if $v;
        sleep 0.1;
    }
    return eval { $cond->() };
}

my $a = ScaleTest::Server->new(workers => 2, instance_conf('a', 5));
my $b = ScaleTest::Server->new(workers => 2, instance_conf('b', 5));
$a->start;
$b->start;

my $c = $a->conn;
my $registered = 0;
for my $i (1 .. $NAMES) {
    my ($code) = $c->post('/connect', "peer-$i");
    $registered++ if $code == 200;
}
$c->close;
is($registered, $NAMES, "$NAMES names registered on A");
ok(wait_for(10, sub { $b->status->{clients} == $NAMES }),
   'B sees them through Redis');

# refreshes of the registered names on both instances, a new connection
# per request so that a reload never cuts a kept-alive one
my $dir = tempdir(CLEANUP => 1);
open my $lua, '>', "$dir/refresh.lua" or die $!;
print $lua <<"LUA";
wrk.method = "POST"
wrk.headers["Connection"] = "close"
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, "/connect", nil, "peer-" .. (n % $NAMES + 1))
end
LUA
close $lua;

# Why: one wrk per instance, output kept for the error counts.
sub start_wrk {
    my ($srv, $out) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec('/usr/bin/wrk', '-t1', '-c4', '-d120s', '-s', "$dir/refresh.lua",
             'http://127.0.0.1:' . $srv->port . '/') or POSIX::_exit(127);
    }
    return $pid;
}

my @wrk = (start_wrk($a, "$dir/wrk-a.out"), start_wrk($b, "$dir/wrk-b.out"));
sleep 0.5;

my $reloaded = 0;
for my $round (1 .. $RELOADS) {
    my $k = 2 + $round % 4;

    if ($round == 3) {
        $redis->kill;
    }

    if ($round == 6) {
        $redis->start;
    }

    for my $srv ($a, $b) {
        $srv->reload(instance_conf($srv == $a ? 'a' : 'b', $k));
        my (undef, undef, $body) = $srv->request('POST', '/connect',
                                                 'peer-1');
        $reloaded++ if scalar @{ decode_json($body) } == $k;
    }

    sleep 0.3;
}

kill 'INT', @wrk;
waitpid $_, 0 for @wrk;

is($reloaded, 2 * $RELOADS, "each of the $RELOADS reloads of A and B took "
                            . 'effect (the new K is served)');

for my $side (qw(a b)) {
    my $out = do { local $/; open my $fh, '<', "$dir/wrk-$side.out"; <$fh> };
    my ($total) = $out =~ /(\d+) requests in/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    my ($errors) = $out =~ /Socket errors: (.*)/;
    $non2xx //= 0;
    ok($total && $total > 100, "load on $side ran ($total requests)")
        or diag($out);
    is($non2xx, 0, "load on $side: no 5xx, no non-2xx at all");
    is($errors, undef, "load on $side: no socket errors")
        or diag($errors);
    note("instance $side: $total requests, $non2xx non-2xx");
}

ok(wait_for(15, sub {
        $a->status->{clients} == $NAMES && $b->status->{clients} == $NAMES
        && $redis->cmd(qw(HLEN scale:clients)) == $NAMES }),
   "no registration lost: $NAMES on A, on B and in the restarted Redis")
    or diag('A ' . $a->status->{clients} . ', B ' . $b->status->{clients}
            . ', Redis ' . $redis->cmd(qw(HLEN scale:clients)));

for my $srv ($a, $b) {
    my ($code, undef, $body) = $srv->request('GET', '/status/check');
    is($code, 200, 'registry consistent after the storm') or diag($body);
}

$a->finish;
$b->finish;
$redis->stop;

done_testing();
