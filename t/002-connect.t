# POST /connect (issue 2): plain and JSON callers, aliases, answer shapes,
# refresh, X-Scale-Registered, never-self and distinct subsets, uniform
# sampling, fewer than K when fewer exist.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks() + 36;

run_tests();

my $http = <<'CONF';
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
CONF

my $routes = <<'CONF';
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
CONF

# Why: one server per scenario, all alike but for the subset size.
sub server_with_k {
    my ($k) = @_;
    my $srv = ScaleTest::Server->new(
        http_config => $http . "    scale_subset_size $k;\n",
        config      => $routes,
    );
    return $srv->start;
}

# Why: POST /connect on a keep-alive connection, answer decoded.
sub connect_as {
    my ($conn, $body) = @_;
    my ($code, $h, $raw) = $conn->post('/connect', $body);
    return ($code, $h, json_or_undef($raw), $raw);
}


# --- answer shapes, aliases, identity ---------------------------------

my $srv = server_with_k(100);
my $c = $srv->conn;
my ($code, $h, $ans);

($code, $h, $ans) = connect_as($c, 'p1');
is($code, 200, 'plain registration answers 200');
is_deeply($ans, [], 'first client gets an empty array');

connect_as($c, encode_json({ id => 'j1', name => 'jn',
                             addr => '10.0.0.1:8080' }));
connect_as($c, encode_json({ container_id => 'c1',
                             domain_name => 'web1.local', port => 8081 }));
connect_as($c, encode_json({ container_id => 'c2',
                             domain_name => 'web2.local', port => '8082' }));
connect_as($c, encode_json({ id => 'j2' }));
connect_as($c, encode_json({ name => 'n3', addr => '[::1]:9000' }));

# Every entry as a JSON caller must see it.
my %want = (
    p1           => { id => 'p1', name => 'p1' },
    j1           => { id => 'j1', name => 'jn', addr => '10.0.0.1:8080' },
    c1           => { id => 'c1', name => 'c1', addr => 'web1.local:8081' },
    c2           => { id => 'c2', name => 'c2', addr => 'web2.local:8082' },
    j2           => { id => 'j2', name => 'j2' },
    n3           => { id => 'n3', name => 'n3', addr => '[::1]:9000' },
);

($code, $h, $ans) = connect_as($c, encode_json({ id => 'viewer' }));
is($code, 200, 'JSON caller answered 200');
is(ref $ans, 'ARRAY', 'JSON caller gets an array');
my %got = map { (ref $_ eq 'HASH' ? $_->{id} // '?' : "$_") => $_ } @$ans;
is_deeply(\%got, \%want,
          'JSON caller gets objects {id,name[,addr]} for every other entry;'
          . ' aliases container_id/domain_name/port (number or string)');

($code, $h, $ans) = connect_as($c, 'plainviewer');
is_deeply([sort @$ans],
          [sort qw(jn c1 c2 j2 n3 p1 viewer)],
          'plain caller gets names (name, not id), every other entry');

# Identity key: id if given, else name; name defaults to id.
($code, $h) = connect_as($c, encode_json({ name => 'p1' }));
is($h->{'x-scale-registered'}, 'refresh',
   'JSON {"name":"p1"} is the same client as plain p1');
($code, $h) = connect_as($c, 'j2');
is($h->{'x-scale-registered'}, 'refresh',
   'plain j2 is the same client as JSON {"id":"j2"}');
($code, $h) = connect_as($c, encode_json({ id => 'jn' }));
is($h->{'x-scale-registered'}, 'new',
   'the key is the id: {"id":"jn"} is not the entry whose name is jn');

# A plain name may start with a bracketed IPv6 part (it is not JSON).
($code, $h, $ans, my $raw) = connect_as($c, '[::1]:8080');
is($code, 200, 'plain name [::1]:8080 is accepted') or diag($raw);
($code, $h, $ans) = connect_as($c, 'v6viewer');
ok((grep { $_ eq '[::1]:8080' } @$ans), 'and handed to other clients');

# Names: 255 bytes and the whole charset are fine.
($code) = connect_as($c, 'n' x 255);
is($code, 200, 'a 255-byte name is accepted');
($code) = connect_as($c, 'Az09._:@-');
is($code, 200, 'every character of [A-Za-z0-9._:@-] is accepted');
$srv->finish;


# --- refresh is idempotent ------------------------------------------------

$srv = server_with_k(5);
$c = $srv->conn;
my @reg = map { (connect_as($c, 'r1'))[1]{'x-scale-registered'} // '' }
          1 .. 3;
is_deeply(\@reg, [qw(new refresh refresh)],
          'X-Scale-Registered: new, then refresh, refresh');
my $st = $srv->status;
is($st->{clients}, 1, 'three connects of one name make one client');
is($st->{counters}{registrations}, 1, 'one registration counted');
is($st->{counters}{refreshes}, 2, 'two refreshes counted');
$srv->finish;


# --- never self, distinct, K, over 10,000 calls with 20 entries -----------

$srv = server_with_k(5);
$c = $srv->conn;
my @names = map { sprintf 'n%02d', $_ } 0 .. 19;
my %known = map { ($_ => 1) } @names;
connect_as($c, $_) for @names;

my %bad;
for my $i (0 .. 9999) {
    my $me = $names[$i % 20];
    my ($code, $h, $ans, $raw) = connect_as($c, $me);
    $bad{status} //= "call $i: $code $raw" unless $code == 200;
    $bad{header} //= "call $i" unless
        ($h->{'x-scale-registered'} // '') eq 'refresh';
    if (ref $ans ne 'ARRAY') {
        $bad{json} //= "call $i: $raw";
        next;
    }
    my %seen;
    $bad{size} //= "call $i: $raw" unless @$ans == 5;
    $bad{self} //= "$me got $raw" if grep { $_ eq $me } @$ans;
    $bad{distinct} //= "call $i: $raw" if grep { $seen{$_}++ } @$ans;
    $bad{known} //= "call $i: $raw" if grep { !$known{$_} } @$ans;
}
ok(!$bad{status} && !$bad{json}, '10,000 refreshes answered 200 + array')
    or diag($bad{status} // $bad{json});
ok(!$bad{header}, 'every refresh says X-Scale-Registered: refresh')
    or diag($bad{header});
ok(!$bad{size}, 'every answer has exactly K=5 entries') or diag($bad{size});
ok(!$bad{self}, 'no answer contains the caller') or diag($bad{self});
ok(!$bad{distinct}, 'no answer repeats an entry') or diag($bad{distinct});
ok(!$bad{known}, 'answers hold registered names only') or diag($bad{known});
is($srv->status->{clients}, 20, 'still 20 clients');
$srv->finish;


# --- uniform: chi-square over 10,000 single draws from 49 others ----------

# e00 asks 10,000 times with K=1 among 50 entries: 49 possible answers,
# each expected 10000/49 times.  Critical value of chi-square with
# df = 48 at p = 0.001 is 84.037 (computed with the regularized incomplete
# gamma function; tables give 84.04), so a fair sampler fails this 1 time
# in 1000.
$srv = server_with_k(1);
$c = $srv->conn;
my @e = map { sprintf 'e%02d', $_ } 0 .. 49;
connect_as($c, $_) for @e;
my %count = map { ($_ => 0) } @e[1 .. 49];
my $draws = 10_000;
my $odd = 0;
for (1 .. $draws) {
    my (undef, undef, $ans) = connect_as($c, 'e00');
    if (ref $ans eq 'ARRAY' && @$ans == 1 && exists $count{$ans->[0]}) {
        $count{$ans->[0]}++;
    } else {
        $odd++;
    }
}
is($odd, 0, 'every K=1 answer is one other registered entry');
my $expected = $draws / 49;
my $chi2 = 0;
$chi2 += ($_ - $expected)**2 / $expected for values %count;
cmp_ok($chi2, '<', 84.037,
       'chi-square of draws over 49 entries below the p=0.001 critical'
       . ' value (df=48)')
    or diag(join ' ', map { "$_=$count{$_}" } sort keys %count);
$srv->finish;


# --- uniform over subsets: all 84 3-subsets of 9 others equally likely ----

# s0 asks 8,400 times with K=3 among 10 entries: C(9,3) = 84 possible
# subsets, each expected 100 times.  Critical value of chi-square with
# df = 83 at p = 0.001 is 128.565.  A sampler that is uniform per entry
# but not per subset (e.g. a random window of neighbours) fails here.
$srv = server_with_k(3);
$c = $srv->conn;
my @s = map { "s$_" } 0 .. 9;
connect_as($c, $_) for @s;
my %subsets;
$odd = 0;
for (1 .. 8400) {
    my (undef, undef, $ans) = connect_as($c, 's0');
    if (ref $ans eq 'ARRAY' && @$ans == 3) {
        $subsets{ join ',', sort @$ans }++;
    } else {
        $odd++;
    }
}
is($odd, 0, 'every K=3 answer holds 3 entries');
cmp_ok(scalar(keys %subsets), '<=', 84, 'at most C(9,3)=84 subsets');
$chi2 = 0;
for my $a (1 .. 9) {
    for my $b ($a + 1 .. 9) {
        for my $d ($b + 1 .. 9) {
            my $n = $subsets{"s$a,s$b,s$d"} // 0;
            $chi2 += ($n - 100)**2 / 100;
        }
    }
}
cmp_ok($chi2, '<', 128.565,
       'chi-square of 3-subsets below the p=0.001 critical value (df=83)');
$srv->finish;


# --- fewer than K when fewer exist ------------------------------------------

$srv = server_with_k(5);
$c = $srv->conn;
connect_as($c, $_) for qw(a b c);
($code, $h, $ans) = connect_as($c, 'a');
is_deeply([sort @$ans], [qw(b c)], 'K=5 with 2 others: both, once each');
$srv->finish;

__DATA__

=== TEST 1: plain connect into an empty registry returns []
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- request
POST /connect
my-client
--- error_code: 200
--- response_body_json
[]
--- response_headers
X-Scale-Registered: new

=== TEST 2: JSON connect into an empty registry returns []
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- request
POST /connect
{"name":"web-1","id":"c0ffee","addr":"10.0.0.7:8080"}
--- error_code: 200
--- response_body_json
[]
--- response_headers
X-Scale-Registered: new

=== TEST 3: surrounding whitespace, CR and LF are trimmed from a plain name
--- http_config
scale_zone name=reg size=1m;
scale_refresh_min 0;
--- config
location = /connect { scale_connect; }
--- request eval
["POST /connect\n  \t my-client \r\n\n", "POST /connect\nmy-client"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Scale-Registered: new", "X-Scale-Registered: refresh"]

=== TEST 4: the second client gets the first (plain)
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- request eval
["POST /connect\nalpha", "POST /connect\nbeta"]
--- response_body_json eval
["[]", '["alpha"]']

=== TEST 5: the second client gets the first (JSON, with domain_name + port)
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- request eval
['POST /connect
{"container_id":"a1","domain_name":"alpha.local","port":7000}',
'POST /connect
{"id":"b1"}']
--- response_body_json eval
["[]", '[{"id":"a1","name":"a1","addr":"alpha.local:7000"}]']

=== TEST 6: X-Scale-Registered is only sent on 200
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- request
POST /connect
bad name
--- error_code: 400
--- response_headers
!X-Scale-Registered

=== TEST 7: a refresh that names no address keeps the registered one
--- http_config
scale_zone name=reg size=1m;
scale_refresh_min 0;
--- config
location = /connect { scale_connect; }
location = /status/check { scale_check; }
--- request eval
['POST /connect
{"id":"a1","addr":"127.0.0.1:7000"}',
'POST /connect
a1',
'POST /connect
{"id":"a1","name":"renamed"}',
'POST /connect
{"id":"b1"}',
'GET /status/check']
--- response_body_json eval
["[]", "[]", "[]", '[{"id":"a1","name":"renamed","addr":"127.0.0.1:7000"}]',
 '{"entries":2,"healthy":2,"errors":0,"ok":true}']
