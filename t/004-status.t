# GET /status (issue 2): every field of the contract with its type, the
# counters moving with traffic, one entry per worker; GET / health.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks() + 37;

run_tests();

my $INT = qr/^\d+\z/;
my $NUM = qr/^\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\z/;

# Why: JSON::PP gives numbers as plain scalars (or JSON::PP::Boolean);
# a number is a non-reference that looks like one.
sub is_int { my ($v) = @_; return defined $v && !ref $v && $v =~ $INT }
sub is_num { my ($v) = @_; return defined $v && !ref $v && $v =~ $NUM }

my $srv = ScaleTest::Server->new(
    workers     => 2,
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
CONF
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
CONF
);
$srv->start;
my $st = $srv->status;

# --- shape of a fresh registry ----------------------------------------

is($st->{clients}, 0, 'clients is 0 in a fresh zone');
ok(is_int($st->{capacity}) && $st->{capacity} > 0, 'capacity > 0')
    or diag("capacity: " . ($st->{capacity} // 'undef'));
ok(is_int($st->{heap_size}), 'heap_size is an integer');
ok(is_num($st->{uptime}), 'uptime is a number');

my $z = $st->{zone} || {};
is($z->{name}, 'reg', 'zone.name');
is($z->{size}, 1048576, 'zone.size is the configured size in bytes');
ok((grep { is_int($z->{$_}) } qw(used free entry_bytes)) == 3,
   'zone.used, zone.free, zone.entry_bytes are integers');
ok($z->{used} > 0 && $z->{free} > 0, 'zone.used and zone.free are positive');
cmp_ok(($z->{used} // 0) + ($z->{free} // 0), '<=', $z->{size},
       'zone.used + zone.free <= zone.size');

my @counters = qw(connects registrations refreshes deletes not_found
                  rejected rate_limited full);
is_deeply({ map { ($_ => $st->{counters}{$_}) } @counters },
          { map { ($_ => 0) } @counters },
          'all eight counters exist and start at 0');

my @config = qw(subset_size max_clients refresh_min rate burst min_age
                max_age health_timeout health_interval cleanup_interval);
is(scalar(grep { is_int($st->{config}{$_}) } @config), scalar @config,
   'all ten config figures are integers');

my $w = $st->{workers};
is(ref $w, 'ARRAY', 'workers is an array');
is(scalar @{ $w || [] }, $srv->workers, 'one entry per worker process');
is_deeply([sort { $a <=> $b } map { $_->{slot} } @$w],
          [0 .. $srv->workers - 1], 'slots are 0 .. workers-1');
is_deeply([sort { $a <=> $b } map { $_->{pid} } @$w], [$srv->worker_pids],
          'pids are the worker processes');
my $fields_ok = grep {
    is_int($_->{requests}) && is_int($_->{successes})
        && is_int($_->{failures}) && is_num($_->{mean_response_ms})
} @$w;
is($fields_ok, scalar @$w,
   'each worker has integer requests/successes/failures and a numeric'
   . ' mean_response_ms');

# --- counters move -------------------------------------------------------

# Why: the sum of one per-worker field over all workers.
sub worker_sum {
    my ($st, $field) = @_;
    my $sum = 0;
    $sum += $_->{$field} // 0 for @{ $st->{workers} || [] };
    return $sum;
}

my $c = $srv->conn;
my $used0 = $z->{used};
my @codes;
push @codes, ($c->post('/connect', $_))[0] for qw(a b c);   # 3 new
push @codes, ($c->post('/connect', 'a'))[0];                # refresh
push @codes, ($c->post('/delete', 'c'))[0];                 # deleted
push @codes, ($c->post('/delete', 'zz'))[0];                # not found
push @codes, ($c->post('/connect', 'bad name'))[0];         # rejected
push @codes, ($c->post('/connect', ''))[0];                 # rejected
is_deeply(\@codes, [200, 200, 200, 200, 200, 404, 400, 400],
          'the traffic got the expected answers');

my $st2 = $srv->status;
my $k = $st2->{counters};
is($st2->{clients}, 2, 'clients: 3 registered, 1 deleted');
is($k->{registrations}, 3, 'counters.registrations');
is($k->{refreshes}, 1, 'counters.refreshes');
is($k->{deletes}, 1, 'counters.deletes');
is($k->{not_found}, 1, 'counters.not_found');
is($k->{rejected}, 2, 'counters.rejected counts the two 400s');
ok($k->{connects} >= 4 && $k->{connects} <= 6,
   'counters.connects counts the /connect requests (4 answered,'
   . ' 6 sent)') or diag("connects: $k->{connects}");
is($k->{rate_limited} + $k->{full}, 0, 'nothing rate limited or full');
cmp_ok($st2->{uptime}, '>=', $st->{uptime}, 'uptime does not go back');
cmp_ok(worker_sum($st2, 'requests'), '>=', worker_sum($st, 'requests') + 8,
       'workers[].requests add up to at least the 8 requests sent');
cmp_ok(worker_sum($st2, 'successes'), '>=',
       worker_sum($st, 'successes') + 5,
       'workers[].successes add up to at least the 5 answered 200');
cmp_ok(worker_sum($st2, 'failures'), '>=', worker_sum($st, 'failures') + 2,
       'workers[].failures add up to at least the two 400s');

$c->post('/connect', sprintf 'filler-%03d', $_) for 1 .. 200;
my $st3 = $srv->status;
is($st3->{clients}, 202, '200 more clients');
cmp_ok($st3->{zone}{used}, '>', $used0, 'zone.used grew');
cmp_ok($st3->{zone}{free}, '<', $z->{free}, 'zone.free shrank');
cmp_ok($st3->{zone}{entry_bytes}, '>', 0, 'zone.entry_bytes is positive');
ok(is_int($st3->{heap_size}) && $st3->{heap_size} <= $st3->{clients},
   'heap_size is at most the number of clients')
    or diag("heap_size $st3->{heap_size}, clients $st3->{clients}");

# HEAD is allowed and carries no body.
my ($code, $h, $body) = $c->request('HEAD', '/status');
is($code, 200, 'HEAD /status answers 200');
is($body, '', 'HEAD /status has no body');
$c->close;
$srv->finish;

__DATA__

=== TEST 1: POST /status answers 405 with Allow: GET, HEAD
--- http_config
scale_zone name=reg size=1m;
--- config
location = /status { scale_status; }
--- request
POST /status
x
--- error_code: 405
--- response_headers
Allow: GET, HEAD

=== TEST 2: DELETE /status answers 405
--- http_config
scale_zone name=reg size=1m;
--- config
location = /status { scale_status; }
--- request
DELETE /status
--- error_code: 405
--- response_headers
Allow: GET, HEAD

=== TEST 3: GET / (scale_health) answers {"status":"ok"}
--- http_config
scale_zone name=reg size=1m;
--- config
location = / { scale_health; }
--- request
GET /
--- error_code: 200
--- response_body_json
{"status":"ok"}

=== TEST 4: a configured max_clients caps the capacity
--- http_config
scale_zone name=reg size=1m;
scale_max_clients 3;
--- config
location = /status { scale_status; }
--- request
GET /status
--- error_code: 200
--- response_body_like
"capacity"\s*:\s*3\b
