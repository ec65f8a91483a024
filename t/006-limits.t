# Limits (issue 2): scale_refresh_min (429, entry untouched), scale_rate
# (429 on new registrations only), scale_max_clients and a full zone (503,
# existing clients still served).  No assertion depends on timing: windows
# are an hour long, or the check holds whatever the clock did.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks() + 49;

run_tests();

my $routes = <<'CONF';
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
CONF

# Why: a 429 must tell the client when to come back, in both styles.
sub check_429_headers {
    my ($h, $what) = @_;
    like($h->{'retry-after'} // '', qr/^[1-9]\d*$/,
         "$what: Retry-After is a positive number of seconds");
    like($h->{'ratelimit-limit'} // '', qr/^\d+/,
         "$what: RateLimit-Limit");
    like($h->{'ratelimit-remaining'} // '', qr/^\d+$/,
         "$what: RateLimit-Remaining");
    like($h->{'ratelimit-reset'} // '', qr/^\d+$/,
         "$what: RateLimit-Reset");
}


# --- scale_refresh_min -----------------------------------------------------

my $srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 1h;
CONF
    config => $routes,
);
$srv->start;
my $c = $srv->conn;

my ($code, $h, $body) = $c->post('/connect',
    encode_json({ id => 'a', addr => '10.0.0.1:1' }));
is($code, 200, 'first registration of a is accepted');

($code, $h, $body) = $c->post('/connect',
    encode_json({ id => 'a', addr => '10.0.0.2:2' }));
is($code, 429, 'refresh within scale_refresh_min answers 429');
check_429_headers($h, 'refresh_min 429');
cmp_ok($h->{'retry-after'} // 0, '<=', 3600,
       'Retry-After is within the refresh window');
is($h->{'ratelimit-remaining'}, 0, 'RateLimit-Remaining is 0');
ok(!defined $h->{'x-scale-registered'}, 'no X-Scale-Registered on 429');

($code, $h) = $c->post('/connect', 'a');
is($code, 429, 'a plain refresh of the same client is limited too');

($code, $h, $body) = $c->post('/connect', encode_json({ id => 'b' }));
is_deeply(json_or_undef($body),
          [{ id => 'a', name => 'a', addr => '10.0.0.1:1' }],
          'the limited refresh left the entry untouched (old addr)');

my $st = $srv->status;
is($st->{clients}, 2, 'two clients');
is($st->{counters}{rate_limited}, 2, 'counters.rate_limited counts both');
is($st->{counters}{refreshes}, 0, 'no refresh was counted');
$c->close;
$srv->finish;


# --- scale_rate: a global cap on new registrations -------------------------

$srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
    scale_rate rate=1r/s burst=5;
CONF
    config => $routes,
);
$srv->start;
$c = $srv->conn;

($code) = $c->post('/connect', 'base');
is($code, 200, 'the first new registration passes');

# Burst: at least 4 more new names pass at once, whatever "burst" counts.
my @burst = map { ($c->post('/connect', "burst$_"))[0] } 1 .. 4;
is_deeply(\@burst, [200, 200, 200, 200], 'the burst passes');

# Then new names soon hit the cap, while refreshes never do.
my ($accepted, $limited, $refresh_bad, $hdr_bad, $first429) = (0, 0, 0, 0);
for my $i (1 .. 30) {
    my ($code, $h) = $c->post('/connect', "new$i");
    if ($code == 429) {
        $limited++;
        $first429 //= $h;
    } elsif ($code == 200) {
        $accepted++;
    }
    my ($rc) = $c->post('/connect', 'base');
    $refresh_bad++ unless $rc == 200;
}
cmp_ok($limited, '>', 0, 'new registrations over the rate answer 429');
is($limited + $accepted, 30, 'every new registration got 200 or 429');
is($refresh_bad, 0, 'refreshes are not limited by scale_rate');
check_429_headers($first429 || {}, 'scale_rate 429');

$st = $srv->status;
is($st->{clients}, 5 + $accepted, 'rejected names were not registered');
is($st->{counters}{rate_limited}, $limited,
   'counters.rate_limited counts the 429s');
$c->close;
$srv->finish;


# --- scale_max_clients ------------------------------------------------------

$srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
    scale_max_clients 3;
CONF
    config => $routes,
);
$srv->start;
$c = $srv->conn;

my @codes = map { ($c->post('/connect', $_))[0] } qw(a b c);
is_deeply(\@codes, [200, 200, 200], 'three clients fit');

($code, $h, $body) = $c->post('/connect', 'd');
is($code, 503, 'the fourth new client gets 503');
is_deeply(json_or_undef($body), { error => 'registry full' },
          'body is {"error":"registry full"}');
like($h->{'retry-after'} // '', qr/^[1-9]\d*$/, '503 has Retry-After');

($code) = $c->post('/connect', encode_json({ id => 'e', addr => 'h:1' }));
is($code, 503, 'a new JSON client gets 503 too');

($code, $h, $body) = $c->post('/connect', 'a');
is($code, 200, 'an existing client still refreshes when full');
is_deeply([sort @{ json_or_undef($body) || [] }], [qw(b c)],
          'and still gets its peers');

$st = $srv->status;
is($st->{clients}, 3, 'still three clients');
is($st->{counters}{full}, 2, 'counters.full counts the two 503s');

$c->post('/delete', 'b');
($code) = $c->post('/connect', 'd');
is($code, 200, 'after a delete a new client fits again');
$c->close;
$srv->finish;


# --- a full zone --------------------------------------------------------------

$srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=128k;
    scale_refresh_min 0;
CONF
    config => $routes,
);
$srv->start;
$c = $srv->conn;

my ($ok, $full_body, $full_h, $other) = (0, undef, undef, 0);
for my $i (1 .. 100_000) {
    my ($code, $h, $body) = $c->post('/connect', sprintf 'zone-filler-%06d', $i);
    if ($code == 200) {
        $ok++;
        next;
    }
    if ($code == 503) {
        ($full_body, $full_h) = ($body, $h);
    } else {
        $other = "$code $body";
    }
    last;
}
ok(!$other, 'filling the zone gives 200s, then 503') or diag($other);
ok(defined $full_body, 'a 128k zone fills up') or diag("$ok accepted");
is_deeply(json_or_undef($full_body // ''), { error => 'registry full' },
          'full zone: {"error":"registry full"}');
like($full_h->{'retry-after'} // '', qr/^[1-9]\d*$/,
     'full zone: Retry-After');

$st = $srv->status;
is($st->{clients}, $ok, 'clients = the accepted registrations');
cmp_ok($st->{counters}{full}, '>=', 1, 'counters.full moved');

($code, $h, $body) = $c->post('/connect', 'zone-filler-000001');
is($code, 200, 'an existing client is still served when the zone is full');
is(scalar @{ json_or_undef($body) || [] }, 5, 'with a full subset');

($code) = $c->post('/delete', 'zone-filler-000002');
is($code, 200, 'delete works in a full zone');
($code) = $c->post('/connect', 'after-delete');
is($code, 200, 'and frees room for a new client');
$c->close;
$srv->finish;

__DATA__

=== TEST 1: scale_refresh_min 0 lets a client refresh at once
--- http_config
scale_zone name=reg size=1m;
scale_refresh_min 0;
--- config
location = /connect { scale_connect; }
--- request eval
["POST /connect\nr", "POST /connect\nr", "POST /connect\nr"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Scale-Registered: new", "X-Scale-Registered: refresh",
 "X-Scale-Registered: refresh"]

