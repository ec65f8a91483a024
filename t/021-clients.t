# GET /status/clients (issue 5): server-side paging and search for the
# dashboard.  Pages walk the dense array from an offset and copy at most
# limit entries; a search scans at most 10,000 entries per request and
# says where it stopped (scanned, next_offset).

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;

run_tests();

my $routes = <<'CONF';
        location = /connect        { scale_connect; }
        location = /delete         { scale_delete; }
        location = /status         { scale_status; }
        location = /status/clients { scale_clients; }
CONF

# Why: one page, decoded; dies on anything but a 200 JSON answer.
sub page {
    my ($conn, $query) = @_;
    my ($code, undef, $body) = $conn->get("/status/clients?$query");
    my $doc = json_or_undef($body);
    die "GET /status/clients?$query: $code $body\n"
        unless $code == 200 && ref $doc eq 'HASH';
    return $doc;
}

# Why: many registrations in one write on a fresh connection (nginx
# closes one after keepalive_requests, 1000); answers read in order.
sub register_many {
    my ($srv, @names) = @_;
    my $conn = $srv->conn;
    my $req = join '', map {
        ScaleTest::Conn::build_request('POST', '/connect', $_, [])
    } @names;
    $conn->send_raw($req);
    my $ok = 0;
    for (@names) {
        my $r = $conn->read_response('POST');
        $ok++ if $r->{code} == 200;
    }
    $conn->close;
    return $ok;
}

my $srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=4m;
    scale_refresh_min 0;
CONF
    config => $routes);
$srv->start;
my $c = $srv->conn;

# --- paging -------------------------------------------------------------

is(register_many($srv, map { sprintf 'peer-%02d', $_ } 1 .. 30), 30,
   '30 plain clients registered');
my ($code) = $c->post('/connect',
    encode_json({ id => 'Json-ID-1', name => 'Alice', addr => '10.1.2.3:7' }));
is($code, 200, 'one JSON client with an address');

my %seen;
my $offset = 0;
my $pages = 0;
while (defined $offset) {
    my $doc = page($c, "offset=$offset&limit=7");
    $pages++;
    is($doc->{total}, 31, "page $pages: total") if $pages == 1;
    ok(@{ $doc->{clients} } <= 7, "page $pages: at most limit entries");
    $seen{ $_->{id} }++ for @{ $doc->{clients} };
    $offset = $doc->{next_offset};
    last if $pages > 10;
}
is($pages, 5, '31 clients in pages of 7: 5 pages');
is(scalar keys %seen, 31, 'every client listed');
ok(!grep({ $_ != 1 } values %seen), 'each exactly once');

my $doc = page($c, 'q=alice');
is(scalar @{ $doc->{clients} }, 1, 'search finds the name, any case');
my $alice = $doc->{clients}[0];
is_deeply([@$alice{qw(id name addr)}], ['Json-ID-1', 'Alice', '10.1.2.3:7'],
          'id, name and address');
ok(defined $alice->{$_}, "entry has $_")
    for qw(age last_seen_ms next_check_ms health fails);
is($alice->{health}, 'pending', 'a probeable client not yet probed');

$doc = page($c, 'q=10.1.2');
is(scalar @{ $doc->{clients} }, 1, 'search by address');
$doc = page($c, 'q=json-id');
is(scalar @{ $doc->{clients} }, 1, 'search by id');

$doc = page($c, 'q=peer-1&limit=100');
is(scalar @{ $doc->{clients} }, 10, 'substring: peer-1 and peer-10..19');
is($doc->{q}, 'peer-1', 'the answer repeats the query');
is($doc->{scanned}, 31, 'a search scans to the end when it can');
ok(!defined $doc->{next_offset}, 'and has no next offset then');

$doc = page($c, 'q=peer&limit=3');
is(scalar @{ $doc->{clients} }, 3, 'a search stops at limit matches');
ok(defined $doc->{next_offset} && $doc->{next_offset} <= 31,
   'and says where to go on');

$doc = page($c, 'q=nobody');
is_deeply($doc->{clients}, [], 'no match: empty list');

$doc = page($c, 'offset=500');
is_deeply($doc->{clients}, [], 'offset past the end: empty list');
ok(!defined $doc->{next_offset}, 'and no next offset');

$doc = page($c, '');
is($doc->{limit}, 20, 'default limit 20');
is(scalar @{ $doc->{clients} }, 20, '20 entries');

# --- bad arguments: 400 naming the argument ----------------------------

for my $case (['limit=0', 'limit'], ['limit=101', 'limit'],
              ['limit=x', 'limit'], ['offset=-1', 'offset'],
              ['offset=1e3', 'offset'], ['q=a%20b', 'q'],
              ['q=%3Cb%3E%00', 'q'], ['q=' . ('a' x 300), 'q'])
{
    my ($q, $field) = @$case;
    my ($cc, undef, $body) = $c->get("/status/clients?$q");
    is($cc, 400, "$q: 400");
    is(json_or_undef($body)->{field}, $field, "$q: names $field");
}

my ($cc, $h) = $c->request('POST', '/status/clients', '');
is($cc, 405, 'POST: 405');

# --- markup never gets into the registry --------------------------------

($cc) = $c->post('/connect', encode_json({ id => '<img src=x>' }));
is($cc, 400, 'an id that would be markup is refused (JSON path)');
($cc) = $c->post('/connect', encode_json({ id => 'a"b' }));
is($cc, 400, 'a quote in an id is refused');
($cc) = $c->post('/connect', '<b>x</b>');
is($cc, 400, 'a name that would be markup is refused (plain path)');

# --- the scan budget bounds a search ------------------------------------

my @many = map { "bulk-$_" } 1 .. 10_100;
my $n = 0;
while (my @chunk = splice @many, 0, 500) {
    $n += register_many($srv, @chunk);
}
is($n, 10_100, '10,100 more clients registered');
($cc) = $c->post('/connect', 'needle-at-the-end');
is($cc, 200, 'the last one');

$doc = page($c, 'q=needle');
is($doc->{scan_budget}, 10_000, 'a search may scan 10,000 entries');
is($doc->{scanned}, 10_000, 'this one scanned exactly that');
is($doc->{next_offset}, 10_000, 'and says where to go on');
is_deeply($doc->{clients}, [], 'the needle is further on');

$doc = page($c, "q=needle&offset=$doc->{next_offset}");
is(scalar @{ $doc->{clients} }, 1, 'the next request finds it');
is($doc->{clients}[0]{name}, 'needle-at-the-end', 'by name');
is($doc->{scanned}, 10_132 - 10_000, 'having scanned the rest');

$c->close;
$srv->finish;

done_testing();

__DATA__

=== TEST 1: an empty registry
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /status/clients { scale_clients; }
--- request
GET /status/clients
--- error_code: 200
--- response_body_json
{"total":0,"offset":0,"limit":20,"q":"","scanned":0,"scan_budget":20,
 "next_offset":null,"clients":[]}
