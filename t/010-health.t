# Active health checks and the client lifecycle: probes through NGINX's
# event loop, unhealthy entries kept out of subsets, evictions by age and
# by failure, recovery, min_age, the eviction brake, /alive, diversity.
# Backends are extra server blocks of the test nginx itself.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use Time::HiRes qw(sleep time);

my $ECHO = '/usr/lib/nginx/modules/ngx_http_echo_module.so';

# Why: poll a condition instead of sleeping a guessed time; generous
# bound, so the test asserts behaviour, not speed.
sub wait_for {
    my ($what, $cond, $secs) = @_;
    my $deadline = time + ($secs // 10) * timeout_factor();
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }
    diag("timed out waiting for: $what");
    return 0;
}

# Why: the names /connect hands to an observer over many calls.
sub names_seen {
    my ($conn, $observer, $calls) = @_;
    my %seen;
    for (1 .. $calls) {
        my ($code, undef, $body) = $conn->post('/connect', $observer);
        next unless $code == 200;
        $seen{$_}++ for @{ decode_json($body) };
    }
    return \%seen;
}

my ($ok, $bad, $closed, $slow, $flip) = map { free_port() } 1 .. 5;

my $backends = <<"CONF";
    server {
        listen 127.0.0.1:$ok;
        location /alive { return 200 "alive"; }
    }
    server {
        listen 127.0.0.1:$bad;
        location /alive { return 500; }
    }
    server {
        listen 127.0.0.1:$slow;
        location /alive { echo_sleep 3; echo "late"; }
    }
    server {
        listen 127.0.0.1:$flip;
        location /alive {
            if (-f \$SCALE_PREFIX/up) { return 200; }
            return 503;
        }
    }
CONF

# --- lifecycle -----------------------------------------------------------

my $srv = ScaleTest::Server->new(
    main_config => "load_module $ECHO;",
    http_config => <<"CONF" . $backends,
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
    scale_subset_size 100;
    scale_min_age 300ms;
    scale_max_age 3s;
    scale_health_interval 100ms;
    scale_cleanup_interval 200ms;
    scale_health_timeout 500ms;
    scale_eviction_brake 100;
CONF
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /alive   { scale_alive; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
);
$srv->start;
my $c = $srv->conn;

my %addr = (
    healthy => "127.0.0.1:$ok",
    failing => "127.0.0.1:$bad",
    refused => "127.0.0.1:$closed",
    slow    => "127.0.0.1:$slow",
    flip    => "127.0.0.1:$flip",
);

for my $id (sort keys %addr) {
    my ($code) = $c->post('/connect',
                          encode_json({ id => $id, addr => $addr{$id} }));
    is($code, 200, "register $id with addr $addr{$id}");
}
is(($c->post('/connect', 'no-address'))[0], 200,
   'register a client with no address');

ok(wait_for('failing, refused and slow marked unhealthy', sub {
        $srv->status->{health}{unhealthy} >= 4 }),
   'failing, refused, slow and flip become unhealthy');

my $st = $srv->status;
cmp_ok($st->{health}{probes_passed}, '>=', 1, 'probes pass');
cmp_ok($st->{health}{probes_failed}, '>=', 4, 'probes fail');
cmp_ok($st->{health}{probes_timed_out}, '>=', 1, 'the slow one times out');

# keep the observer and the no-address client alive by heartbeats
my $seen = names_seen($c, 'observer', 200);
ok($seen->{healthy}, 'the healthy client is handed out');
ok($seen->{'no-address'}, 'a client with no address is handed out');
ok(!$seen->{$_}, "the unhealthy '$_' client is never handed out")
    for qw(failing refused slow flip);

my ($code, $h) = $c->post('/connect',
                          encode_json({ id => 'healthy',
                                        addr => $addr{healthy} }));
is($h->{'x-scale-reachable'}, 'yes', 'a probed, answering client: yes');
is($h->{'x-scale-observed'}, '127.0.0.1', 'observed address');
($code, $h) = $c->post('/connect',
                       encode_json({ id => 'failing',
                                     addr => $addr{failing} }));
is($h->{'x-scale-reachable'}, 'no', 'a failing client: no');
($code, $h) = $c->post('/connect', 'no-address');
is($h->{'x-scale-reachable'}, 'unknown', 'never probed: unknown');

# recovery: the flip backend starts answering 200
open my $up, '>', $srv->prefix . '/up' or die $!;
close $up;
ok(wait_for('flip healthy again', sub {
        $c->post('/alive', 'flip');
        names_seen($c, 'observer', 3)->{flip} }),
   'a recovered client becomes healthy and is handed out again');

# /alive semantics
is(($c->post('/alive', 'healthy'))[0], 204, '/alive: 204 for a known id');
is(($c->post('/alive', 'nobody'))[0], 404, '/alive: 404 for an unknown id');
is(($c->post('/alive', 'bad name'))[0], 400, '/alive: 400 for a bad name');
is(($c->get('/alive'))[0], 405, '/alive: 405 for GET');

# eviction: not seen for max_age (3s); the healthy one lives on probes,
# flip on heartbeats, the others go
ok(wait_for('failing clients evicted', sub {
        $c->post('/alive', 'flip');
        my $s = $srv->status;
        $s->{health}{evicted_failure} >= 3 && $s->{health}{evicted_age} >= 2
    }, 15),
   'failing, refused and slow evicted by failure; idle ones by age');

$seen = names_seen($c, 'observer2', 20);
ok($seen->{healthy}, 'the healthy client survived on its probes alone');
ok($seen->{flip}, 'the heartbeating client survived');
ok(!$seen->{$_}, "'$_' is gone") for qw(failing refused slow no-address);

my ($check_code, undef, $check) = $c->get('/status/check');
is($check_code, 200, 'hashset, dense array and heap agree after evictions')
    or diag($check);

$c->close;
$srv->finish;

# --- min_age: a fresh entry is not probed --------------------------------

$srv = ScaleTest::Server->new(
    http_config => <<"CONF",
    scale_zone name=reg size=1m;
    scale_min_age 1s;
    scale_max_age 30s;
    scale_health_interval 50ms;
    server {
        listen 127.0.0.1:$ok;
        location /alive { return 200; }
    }
CONF
    config => "location = /connect { scale_connect; }\n"
            . "location = /status { scale_status; }\n",
);
$srv->start;
$srv->request('POST', '/connect', "127.0.0.1:$ok");
sleep 0.5;
is($srv->status->{health}{probes_started}, 0,
   'no probe within min_age of registration');
ok(wait_for('first probe', sub {
        $srv->status->{health}{probes_passed} >= 1 }),
   'probed after min_age');
sleep 2.2;
my $probes = $srv->status->{health}{probes_started};
cmp_ok($probes, '<=', 5,
       "about one probe per min_age, not one per tick ($probes in ~3s)");
$srv->finish;

# --- probes do not count as refreshes for scale_refresh_min --------------

$srv = ScaleTest::Server->new(
    http_config => <<"CONF",
    scale_zone name=reg size=1m;
    scale_refresh_min 1s;
    scale_min_age 100ms;
    scale_max_age 30s;
    scale_health_interval 50ms;
    server {
        listen 127.0.0.1:$ok;
        location /alive { return 200; }
    }
CONF
    config => "location = /connect { scale_connect; }\n"
            . "location = /status { scale_status; }\n",
);
$srv->start;
my $me = encode_json({ id => 'refresher', addr => "127.0.0.1:$ok" });
is(($srv->request('POST', '/connect', $me))[0], 200, 'registered');
ok(wait_for('a passed probe', sub {
        $srv->status->{health}{probes_passed} >= 2 }),
   'probes pass while the client waits');
sleep 1.1;
is(($srv->request('POST', '/connect', $me))[0], 200,
   'a refresh after refresh_min is accepted although probes passed since');
is(($srv->request('POST', '/connect', $me))[0], 429,
   'and one right after it is refused');
$srv->finish;

# --- the eviction brake ---------------------------------------------------

$srv = ScaleTest::Server->new(
    http_config => <<"CONF",
    scale_zone name=reg size=1m;
    scale_min_age 200ms;
    scale_max_age 2s;
    scale_health_interval 50ms;
    scale_cleanup_interval 100ms;
    scale_eviction_brake 50;
    server {
        listen 127.0.0.1:$bad;
        location /alive { return 500; }
    }
CONF
    config => "location = /connect { scale_connect; }\n"
            . "location = /status { scale_status; }\n",
);
$srv->start;
$srv->request('POST', '/connect',
              encode_json({ id => "down-$_", addr => "127.0.0.1:$bad" }))
    for 1 .. 12;
ok(wait_for('brake engaged', sub { $srv->status->{health}{brake} }),
   'the brake engages when most probes fail');
sleep 3;
$st = $srv->status;
is($st->{clients}, 12, 'no eviction by probe failure under the brake');
is($st->{health}{evicted_failure}, 0, 'evicted_failure stays 0');
like($srv->error_log, qr/eviction brake engaged/, 'the brake is logged');
$srv->finish;

# --- diverse subsets -------------------------------------------------------

for my $diverse (qw(on off)) {
    $srv = ScaleTest::Server->new(
        http_config => <<"CONF",
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
    scale_min_age 60s;
    scale_max_age 120s;
    scale_subset_diversity $diverse;
CONF
        config => "location = /connect { scale_connect; }\n",
    );
    $srv->start;
    $c = $srv->conn;
    # 10 networks (/24) of 5 clients each, all on loopback, never probed
    for my $net (1 .. 10) {
        for my $host (1 .. 5) {
            $c->post('/connect', encode_json({
                id => "n$net-h$host", addr => "127.0.$net.$host:9" }));
        }
    }
    my $mixed = 0;
    for (1 .. 200) {
        my (undef, undef, $body) = $c->post('/connect', 'observer');
        my @ids = @{ decode_json($body) };
        my %nets = map { /^n(\d+)-/ ? ($1 => 1) : () } @ids;
        $mixed++ if keys %nets < @ids;
    }
    if ($diverse eq 'on') {
        is($mixed, 0, 'diversity on: never two peers of one /24');
    } else {
        cmp_ok($mixed, '>', 0, 'diversity off: some subsets share a /24');
    }
    $c->close;
    $srv->finish;
}

done_testing();
