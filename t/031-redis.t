# scale_redis on one instance, against a real redis-server started by the
# test on a free loopback port: registrations, refreshes and deletes are
# written behind (hash + sorted set), a restarted nginx loads its
# registry back from Redis, db= / prefix= / password= are honoured, a
# wrong password is a clear error while serving goes on, the instance
# shows in the cluster list and leaves it when it stops.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use ScaleRedis;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'redis-server is not installed' unless ScaleRedis::available();

my $T = timeout_factor();

run_tests();


sub new_server {
    my ($redis_line, %o) = @_;
    return ScaleTest::Server->new(
        workers => $o{workers} // 2,
        http_config => <<"CONF",
    scale_zone name=reg size=4m;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
    scale_redis $redis_line;
CONF
        config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
    );
}


sub wait_for {
    my ($what, $secs, $check) = @_;
    my $deadline = time + $secs * $T;
    my $v;
    while (time < $deadline) {
        $v = eval { $check->() };
        return $v if $v;
        sleep 0.05;
    }
    return eval { $check->() };
}


sub register {
    my ($srv, $prefix, $n) = @_;
    my $c = $srv->conn;
    my $ok = 0;
    for my $i (1 .. $n) {
        my ($code) = $c->post('/connect', "$prefix-$i");
        $ok++ if $code == 200;
    }
    $c->close;
    return $ok;
}


subtest 'restart keeps 1,000 names, loaded back from Redis' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port);
    $srv->start;

    is(register($srv, 'keep', 1000), 1000, '1,000 names registered');
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 1000 }),
       'written behind: 1,000 in the hash');
    is($r->cmd(qw(ZCARD scale:seen)), 1000, 'and in the sorted set');
    like($r->cmd(qw(HGET scale:clients keep-7)), qr/\Akeep-7 - \d+\z/,
         'value: name, no address, created');
    my $seen = $r->cmd(qw(ZSCORE scale:seen keep-7));
    ok(abs($seen / 1000 - time) < 60, 'seen is unix milliseconds');

    my $st = $srv->status;
    ok($st->{redis}{connected}, '/status redis.connected');
    ok($st->{redis}{subscribed}, '/status redis.subscribed');
    ok($st->{redis}{written} >= 1000,
       "/status redis.written ($st->{redis}{written})");
    is($st->{redis}{queue}{dropped}, 0, 'nothing dropped');

    $srv->stop;
    like($srv->error_log, qr/scale redis: \d+ changes written to Redis on exit/,
         'the master flushed what was left on exit');

    $srv->start;
    ok(wait_for('loaded', 10, sub { $srv->status->{clients} == 1000 }),
       'all 1,000 back after the restart');
    like($srv->error_log,
         qr/load done: 1000 entries in Redis, 1000 new here, in \d+ ms/,
         'the load is logged');
    my ($code, undef, $body) = $srv->request('GET', '/status/check');
    like($body, qr/"errors":0/, 'registry consistent after the load');

    $srv->finish;
    $r->stop;
};


subtest 'deletes and refreshes are written behind; refreshes batched' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port);
    $srv->start;

    register($srv, 'wb', 100);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 100 }), '100 written');

    for my $i (1 .. 30) {
        my ($code) = $srv->request('POST', '/delete', "wb-$i");
    }
    ok(wait_for('deleted', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 70 }),
       '30 deletes reach the hash');
    is($r->cmd(qw(ZCARD scale:seen)), 70, 'and the sorted set');
    is($r->cmd(qw(HEXISTS scale:clients wb-3)), 0, 'wb-3 is gone');

    my $before = $r->cmd(qw(ZSCORE scale:seen wb-50));
    my $published = $srv->status->{redis}{published};
    sleep 0.05;
    my $c = $srv->conn;
    for my $round (1 .. 3) {
        $c->post('/connect', "wb-$_") for 31 .. 100;
    }
    $c->close;
    ok(wait_for('refreshed', 5, sub {
           $r->cmd(qw(ZSCORE scale:seen wb-50)) > $before }),
       'a refresh moves the last-seen score');
    my $batches = $srv->status->{redis}{published} - $published;
    ok($batches <= 105,
       "210 refreshes went out in $batches batches, not one by one");

    $srv->finish;
    $r->stop;
};


subtest 'db= and prefix=' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port . ' db=3 prefix=t031:');
    $srv->start;

    register($srv, 'db', 10);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(SELECT 3));
           my $n = $r->cmd(qw(HLEN t031:clients));
           $r->cmd(qw(SELECT 0));
           $n == 10 }), 'written to t031:clients in db 3');
    is($r->cmd(qw(DBSIZE)), 0, 'db 0 untouched');
    is($srv->status->{redis}{prefix}, 't031:', '/status shows the prefix');

    $srv->finish;
    $r->stop;
};


subtest 'a wrong password: a clear error, serving goes on' => sub {
    my $r = ScaleRedis->new(password => 'right-one');
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port . ' password=wrong-one');
    $srv->start;

    is(register($srv, 'pw', 20), 20, 'registrations answered 200');
    ok(wait_for('logged', 5, sub {
           $srv->error_log =~ /\[error\] .*scale redis 127\.0\.0\.1:\d+: AUTH refused: WRONGPASS/ }),
       'the log says AUTH was refused, and why')
        or diag($srv->error_log);
    my $st = $srv->status;
    ok(!$st->{redis}{connected}, 'not connected');
    like($st->{redis}{last_error}, qr/WRONGPASS/, '/status last_error');
    is($st->{clients}, 20, 'the registry is served from shared memory');
    my (undef, undef, $peers) = $srv->request('POST', '/connect', 'pw-x');
    is(scalar @{ decode_json($peers) }, 5, 'subsets still handed out');

    sleep 1.5;
    my $n = () = $srv->error_log =~ /AUTH refused/g;
    ok($n <= 2, "retries do not flood the log ($n lines)");

    $srv->finish;

    my $ok = new_server('127.0.0.1:' . $r->port . ' password=right-one');
    $ok->start;
    register($ok, 'pw', 5);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 5 }),
       'with the right password it writes');
    $ok->finish;
    $r->stop;
};


subtest 'Redis not there at start: serving goes on, it syncs later' => sub {
    my $r = ScaleRedis->new;
    my $srv = new_server('127.0.0.1:' . $r->port);
    $srv->start;

    is(register($srv, 'late', 50), 50, 'answered without Redis');
    like($srv->error_log, qr/commands link down: Connection refused/,
         'the refused connection is logged');

    $r->start;
    ok(wait_for('synced', 10, sub {
           $r->cmd(qw(HLEN scale:clients)) == 50 }),
       'once Redis is up, everything is written');
    like($srv->error_log, qr/writing all 50 entries to Redis/,
         'by a full rewrite');
    $srv->finish;
    $r->stop;
};


subtest 'Redis restarted from an older dump: rewritten in full' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port);
    $srv->start;

    register($srv, 'old', 100);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 100 }), '100 written');
    is($r->cmd('SAVE'), 'OK', 'Redis dumps them');
    register($srv, 'new', 50);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 150 }), '50 more written');

    $r->kill;
    $r->start;
    is($r->cmd(qw(HLEN scale:clients)), 100,
       'Redis came back from the dump without the last 50');
    ok(wait_for('rewritten', 15, sub {
           $r->cmd(qw(HLEN scale:clients)) == 150 }),
       'the instance notices the restart and writes all 150 again');
    like($srv->error_log, qr/writing all 150 entries to Redis \(Redis restarted\)/,
         'because the run_id changed');
    $srv->finish;
    $r->stop;
};


subtest 'the instance is listed while it runs, and leaves on stop' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port . ' instance=node-a');
    $srv->start;
    register($srv, 'cl', 7);

    my $cl = wait_for('listed', 5, sub {
        my $c = $srv->status->{cluster};
        $c && @{ $c->{instances} } == 1 && $c->{instances}[0]{clients} == 7
            ? $c : undef });
    ok($cl, 'one instance in /status cluster');
    is($cl && $cl->{instance}, 'node-a', 'instance= names it');
    is($cl && $cl->{instances}[0]{id}, 'node-a', 'listed by id');
    ok($cl && $cl->{instances}[0]{self}, 'marked self');
    is($cl && $cl->{instances}[0]{address}, '127.0.0.1:' . $srv->port,
       'with the address it serves on');

    my $ttl = $r->cmd(qw(TTL scale:instance:node-a));
    ok($ttl > 0 && $ttl <= 5, "the heartbeat key has a TTL ($ttl s)");
    is_deeply($r->cmd(qw(SMEMBERS scale:instances)), ['node-a'],
              'in the instance set');

    $srv->finish;
    is($r->cmd(qw(EXISTS scale:instance:node-a)), 0, 'key gone after stop');
    is_deeply($r->cmd(qw(SMEMBERS scale:instances)), [],
              'and out of the set');
    $r->stop;
};


subtest 'a stalled Redis: changes dropped are counted, then all rewritten'
    => sub {
    plan skip_all => 'timing-sensitive under valgrind' if valgrind();

    my $r = ScaleRedis->new;
    $r->start;
    my $srv = new_server('127.0.0.1:' . $r->port . ' queue=4k timeout=300ms');
    $srv->start;
    register($srv, 'pre', 10);
    ok(wait_for('written', 5, sub {
           $r->cmd(qw(HLEN scale:clients)) == 10 }), 'connected');

    kill 'STOP', $r->{pid};
    is(register($srv, 'stall', 1000), 1000, '1,000 answered while stalled');
    my $st = $srv->status;
    ok($st->{redis}{queue}{dropped} > 0,
       "the 4k queue dropped $st->{redis}{queue}{dropped} changes");
    kill 'CONT', $r->{pid};

    ok(wait_for('rewritten', 15, sub {
           $r->cmd(qw(HLEN scale:clients)) == 1010 }),
       'all 1,010 in Redis after it recovers');
    like($srv->error_log, qr/writing all \d+ entries to Redis \((changes were dropped|Redis lost its data)\)/,
         'by a full rewrite');
    ok(!$srv->status->{redis}{queue}{overflow}, 'overflow cleared');
    $srv->finish;
    $r->stop;
};


done_testing();

__DATA__

=== TEST 1: scale_redis takes an address, not a socket path
--- http_config
scale_zone name=reg size=1m;
scale_redis unix:/tmp/redis.sock;
--- config
location = / { scale_health; }
--- must_die
--- error_log
needs an IP address or a host name, and a port

=== TEST 2: scale_redis db= must be a number
--- http_config
scale_zone name=reg size=1m;
scale_redis 127.0.0.1:6379 db=three;
--- config
location = / { scale_health; }
--- must_die
--- error_log
invalid "db="

=== TEST 3: scale_redis refuses unknown parameters
--- http_config
scale_zone name=reg size=1m;
scale_redis 127.0.0.1:6379 colour=blue;
--- config
location = / { scale_health; }
--- must_die
--- error_log
invalid parameter "colour=blue"

=== TEST 4: scale_redis instance= is checked
--- http_config
scale_zone name=reg size=1m;
scale_redis 127.0.0.1:6379 instance=no/slash;
--- config
location = / { scale_health; }
--- must_die
--- error_log
invalid "instance="

=== TEST 5: scale_redis needs a zone
--- http_config
scale_redis 127.0.0.1:6379;
--- config
location = / { scale_health; }
--- must_die
--- error_log
"scale_data_dir" and "scale_redis" need a "scale_zone"
