# GET /config and POST /config (issue 5): the effective run-time
# figures; a change is validated field by field (a 400 names the field),
# applied to every worker through the zone, closed without the admin
# token, and undone by a reload, which re-applies nginx.conf.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;

my $TOKEN = 'test-token-0123456789';

run_tests();

my $routes = <<'CONF';
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
        location = /config  { scale_config; }
CONF

my $http = <<"CONF";
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
    scale_admin_token $TOKEN;
CONF

my %json = ('Content-Type' => 'application/json');
my %admin = (%json, Authorization => "Bearer $TOKEN");

# Why: POST /config as the admin, decoded.
sub post_config {
    my ($conn, $body, $headers) = @_;
    my ($code, $h, $text) = $conn->post('/config', $body,
                                        $headers || \%admin);
    return ($code, json_or_undef($text), $h, $text);
}

# --- a change reaches every worker at once ------------------------------

my $srv = ScaleTest::Server->new(http_config => $http, config => $routes,
                                 workers => 2);
$srv->start;
my $c = $srv->conn;

$c->post('/connect', "peer-$_") for 1 .. 12;

my ($code, $doc) = post_config($c, '{"subset_size":2,"min_age":500}');
is($code, 200, 'POST /config with the token: 200');
is($doc->{config}{subset_size}, 2, 'the answer shows the new subset size');
is($doc->{config}{min_age}, 500, 'and the new min_age');
is_deeply([sort @{ $doc->{overridden} }], ['min_age', 'subset_size'],
          'overridden lists what differs from nginx.conf');

# new connections land on either worker: all must use the new figure
my %sizes;
for (1 .. 20) {
    my ($cc, undef, $body) = $srv->request('POST', '/connect', 'peer-1');
    $sizes{scalar @{ decode_json($body) }}++ if $cc == 200;
}
is_deeply([keys %sizes], [2], '/connect returns 2 peers on every worker');
is($srv->status->{config}{subset_size}, 2, '/status shows it too');

my $get = json_or_undef(($c->get('/config'))[2]);
is($get->{config}{subset_size}, 2, 'GET /config returns the effective value');
is($get->{lasts_until}, 'reload', 'GET /config says how long it lasts');
is($get->{admin}, 'token', 'GET /config tells the admin mode');
ok(exists $get->{client_manager} && !defined $get->{client_manager},
   'client_manager is null until configured');

# --- every field is validated; a 400 names it; nothing changes ----------

my @bad = (
    ['{"subset_size":0}', 'subset_size'],
    ['{"subset_size":101}', 'subset_size'],
    ['{"subset_size":"3"}', 'subset_size'],
    ['{"subset_size":2.5}', 'subset_size'],
    ['{"subset_size":null}', 'subset_size'],
    ['{"max_clients":-1}', 'max_clients'],
    ['{"max_clients":2147483648}', 'max_clients'],
    ['{"refresh_min":-5}', 'refresh_min'],
    ['{"refresh_min":86400001}', 'refresh_min'],
    ['{"rate":1000001}', 'rate'],
    ['{"rate":true}', 'rate'],
    ['{"burst":-1}', 'burst'],
    ['{"min_age":"2s"}', 'min_age'],
    ['{"max_age":0}', 'max_age'],
    ['{"health_timeout":0}', 'health_timeout'],
    ['{"health_interval":0}', 'health_interval'],
    ['{"cleanup_interval":0}', 'cleanup_interval'],
    ['{"health_fails":0}', 'health_fails'],
    ['{"health_passes":1001}', 'health_passes'],
    ['{"health_concurrency":0}', 'health_concurrency'],
    ['{"eviction_brake":101}', 'eviction_brake'],
    ['{"subset_diversity":1}', 'subset_diversity'],
    ['{"bogus":1}', 'bogus'],
    ['{"subset_size":3,"nope":1}', 'nope'],
    ['{"min_age":20000}', 'min_age'],
    ['{"max_age":400}', 'max_age'],
);

for my $case (@bad) {
    my ($body, $field) = @$case;
    my ($cc, $err) = post_config($c, $body);
    is($cc, 400, "$body: 400");
    is($err && $err->{field}, $field, "$body: names $field");
    like($err && $err->{error} // '', qr/\Q$field\E|unknown field/,
         "$body: the message says what is wrong");
}

for my $body ('', '[1,2]', '{', '{}', '"x"', '{"a":1,"a":2}') {
    my ($cc, $err) = post_config($c, $body);
    is($cc, 400, "body '$body': 400");
    ok($err && exists $err->{field} && $err->{error},
       "body '$body': JSON error with a reason");
}

is($srv->status->{config}{subset_size}, 2,
   'refused changes left the figures as they were');
is($srv->status->{config}{min_age}, 500, 'min_age too');

($code, $doc) = post_config($c, '{"subset_diversity":true,"rate":50,'
                                . '"burst":10}');
is($code, 200, 'booleans and the rate are accepted');
is_deeply([@{ $doc->{config} }{qw(subset_diversity rate burst)}],
          [JSON::PP::true, 50, 10], 'and reported back as given');
is($srv->status->{config}{rate}, 50, '/status sees the new rate');

# --- admin: 401 without, 403 with a wrong token, 415, 405 ---------------

my ($cc, $h, $text) = $c->post('/config', '{"subset_size":3}', \%json);
is($cc, 401, 'no token: 401');
like($h->{'www-authenticate'} // '', qr/^Bearer/, 'with a Bearer challenge');
like($text, qr/"error":"admin token required/, '401 body is JSON');

($cc, $h, $text) = $c->post('/config', '{"subset_size":3}',
    { %json, Authorization => 'Bearer wrong-token-0123456789' });
is($cc, 403, 'wrong token: 403');
like($text, qr/"error":"invalid admin token"/, '403 body is JSON');

($cc) = $c->post('/config', '{"subset_size":3}',
                 { %json, Authorization => "Basic $TOKEN" });
is($cc, 401, 'another scheme: 401');

($cc, undef, $text) = $c->post('/config', '{"subset_size":3}',
    { Authorization => "Bearer $TOKEN", 'Content-Type' => 'text/plain' });
is($cc, 415, 'not JSON: 415');

($cc, $h) = $c->request('PUT', '/config', '{}', \%admin);
is($cc, 405, 'PUT: 405');
is($h->{allow}, 'GET, HEAD, POST', 'Allow lists the methods');

is($srv->status->{config}{subset_size}, 2, 'refused requests changed nothing');

# --- a reload re-applies nginx.conf -------------------------------------

$c->close;
$srv->reload;
$c = $srv->conn;
$get = json_or_undef(($c->get('/config'))[2]);
is($get->{config}{subset_size}, 5, 'after reload: nginx.conf value again');
is_deeply($get->{overridden}, [], 'nothing overridden after reload');
$c->close;
$srv->finish;

# --- closed without scale_admin_token, open with "off" -------------------

$srv = ScaleTest::Server->new(
    http_config => 'scale_zone name=reg size=1m;', config => $routes);
$srv->start;
($cc, undef, $text) = $srv->request('POST', '/config', '{"subset_size":3}',
                                    \%json);
is($cc, 403, 'no scale_admin_token: admin actions are closed (403)');
like($text, qr/disabled: set scale_admin_token/, 'and it says how to open');
$srv->finish;

$srv = ScaleTest::Server->new(
    http_config => "scale_zone name=reg size=1m;\n"
                   . "    scale_admin_token off;",
    config => $routes);
$srv->start;
($cc) = $srv->request('POST', '/config', '{"subset_size":3}', \%json);
is($cc, 200, 'scale_admin_token off: open (allow/deny decide)');
$srv->finish;

done_testing();

__DATA__

=== TEST 1: GET /config reports nginx.conf's figures
--- http_config
    scale_zone name=reg size=1m;
    scale_subset_size 7;
    scale_min_age 1500ms;
    scale_rate rate=20r/s burst=40;
--- config
    location = /config { scale_config; }
--- request
GET /config
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like
"subset_size":7,.*"rate":20,"burst":40,"min_age":1500,.*"overridden":\[\],"lasts_until":"reload","client_manager":null,"admin":"closed"



=== TEST 2: a short token is refused at start-up
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token short;
--- config
    location = /config { scale_config; }
--- must_die
--- error_log
"scale_admin_token" directive must be 16 to 256 bytes long



=== TEST 3: scale_config needs a zone
--- config
    location = /config { scale_config; }
--- must_die
--- error_log
need a "scale_zone"
