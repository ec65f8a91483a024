# Bad input (issue 2), table-driven: every row is one request that must be
# refused with the contract's status (400 / 413 JSON, 405 + Allow) and must
# leave the registry as it was.  The blocks below are edge cases that must
# be accepted (chunked bodies, bodies in temp files, the exact limit).

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

my $long = 'x' x 256;
my $over = 'a' x 4097;                      # default scale_body_max is 4k

# [ what it shows, method, uri, body, status, Allow header ]
my @rows = (
    # empty and too long
    ['empty body',                  POST => '/connect', '',           400],
    ['whitespace only',             POST => '/connect', " \t\r\n ",   400],
    ['256-byte name',               POST => '/connect', $long,        400],
    ['256-byte JSON name',          POST => '/connect',
        qq{{"name":"$long"}},                                         400],
    ['256-byte JSON id',            POST => '/connect',
        qq{{"id":"$long"}},                                           400],
    ['empty JSON name',             POST => '/connect', '{"name":""}', 400],
    # charset
    ['space inside a name',         POST => '/connect', 'a b',        400],
    ['tab inside a name',           POST => '/connect', "a\tb",       400],
    ['slash',                       POST => '/connect', 'a/b',        400],
    ['plus',                        POST => '/connect', 'a+b',        400],
    ['comma',                       POST => '/connect', 'a,b',        400],
    ['quote',                       POST => '/connect', 'a"b',        400],
    ['angle brackets',              POST => '/connect', '<a>',        400],
    ['percent escape',              POST => '/connect', 'a%20b',      400],
    ['UTF-8 letter',                POST => '/connect', "caf\xc3\xa9", 400],
    ['high byte',                   POST => '/connect', "a\xffb",     400],
    ['bracket not leading',         POST => '/connect', 'x[::1]',     400],
    ['unclosed bracket',            POST => '/connect', '[::1',       400],
    ['bad charset in JSON name',    POST => '/connect',
        '{"name":"a b"}',                                             400],
    ['bad charset in JSON id',      POST => '/connect',
        '{"id":"a/b"}',                                               400],
    # NUL bytes
    ['NUL inside a name',           POST => '/connect', "ab\0cd",     400],
    ['NUL after a name',            POST => '/connect', "seed\0",     400],
    ['NUL alone',                   POST => '/connect', "\0",         400],
    ['NUL inside a JSON name',      POST => '/connect',
        qq{{"name":"ab\\u0000cd"}},                                   400],
    # invalid JSON
    ['truncated JSON',              POST => '/connect', '{"name":',   400],
    ['unclosed JSON object',        POST => '/connect', '{"name":"x"', 400],
    ['unquoted key',                POST => '/connect', '{name:"x"}', 400],
    ['single quotes',               POST => '/connect', "{'name':'x'}", 400],
    ['trailing comma',              POST => '/connect', '{"name":"x",}', 400],
    ['garbage after the object',    POST => '/connect',
        '{"name":"x"} y',                                             400],
    ['two objects',                 POST => '/connect',
        '{"name":"x"}{"name":"y"}',                                   400],
    # wrong types and shapes
    ['name is a number',            POST => '/connect', '{"name":5}', 400],
    ['name is true',                POST => '/connect', '{"name":true}', 400],
    ['name is null',                POST => '/connect', '{"name":null}', 400],
    ['id is a number',              POST => '/connect', '{"id":7}',   400],
    ['id is an array',              POST => '/connect', '{"id":["x"]}', 400],
    ['addr is a number',            POST => '/connect',
        '{"name":"x","addr":80}',                                     400],
    ['container_id is a number',    POST => '/connect',
        '{"container_id":1}',                                         400],
    ['domain_name is a number',     POST => '/connect',
        '{"container_id":"c","domain_name":1,"port":80}',             400],
    ['port is an object',           POST => '/connect',
        '{"container_id":"c","domain_name":"h","port":{}}',           400],
    ['port is an array',            POST => '/connect',
        '{"container_id":"c","domain_name":"h","port":[80]}',         400],
    ['nested object as name',       POST => '/connect',
        '{"name":{"first":"x"}}',                                     400],
    ['JSON array body',             POST => '/connect', '["x"]',      400],
    ['empty JSON array',            POST => '/connect', '[]',         400],
    ['JSON string body',            POST => '/connect', '"seed"',     400],
    ['object without name or id',   POST => '/connect', '{}',         400],
    ['only an address',             POST => '/connect',
        '{"addr":"10.0.0.1:80"}',                                     400],
    # body over the limit
    ['plain body over scale_body_max', POST => '/connect', $over,     413],
    ['JSON body over scale_body_max',  POST => '/connect',
        '{"name":"x","pad":"' . ('p' x 4100) . '"}',                  413],
    # /delete
    ['delete: empty body',          POST => '/delete', '',            400],
    ['delete: 256-byte name',       POST => '/delete', $long,         400],
    ['delete: bad charset',         POST => '/delete', 'se ed',       400],
    ['delete: NUL after the name',  POST => '/delete', "seed\0",      400],
    ['delete: invalid JSON',        POST => '/delete', '{"id":',      400],
    ['delete: id is a number',      POST => '/delete', '{"id":1}',    400],
    ['delete: body over the limit', POST => '/delete', $over,         413],
    # methods
    ['GET /connect',                GET    => '/connect', undef, 405, 'POST'],
    ['PUT /connect',                PUT    => '/connect', 'x',   405, 'POST'],
    ['DELETE /connect',             DELETE => '/connect', undef, 405, 'POST'],
    ['HEAD /connect',               HEAD   => '/connect', undef, 405, 'POST'],
    ['GET /delete',                 GET    => '/delete',  undef, 405, 'POST'],
    ['PUT /delete',                 PUT    => '/delete',  'seed', 405, 'POST'],
    ['POST /status',                POST   => '/status',  'x',   405,
        'GET, HEAD'],
    ['PUT /status',                 PUT    => '/status',  'x',   405,
        'GET, HEAD'],
);

# Per row: status, JSON error body (not for HEAD), Allow when 405, no
# X-Scale-Registered, registry unchanged.
plan tests => repeat_each() * blocks() + 5 * @rows + 2;

run_tests();

my $srv = ScaleTest::Server->new(
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
my $c = $srv->conn;
$c->post('/connect', 'seed');

for my $row (@rows) {
    my ($what, $method, $uri, $body, $want, $allow) = @$row;
    my ($code, $h, $resp) = $c->request($method, $uri, $body);
    is($code, $want, "$what: $want");

    if ($method eq 'HEAD') {
        is($resp, '', "$what: no body");
    } else {
        my $err = json_or_undef($resp);
        ok(ref $err eq 'HASH' && defined $err->{error} && !ref $err->{error}
           && length $err->{error},
           "$what: body is {\"error\":\"...\"}") or diag("body: $resp");
    }

    if (defined $allow) {
        is($h->{allow}, $allow, "$what: Allow: $allow");
    } else {
        ok(!defined $h->{allow}, "$what: no Allow header");
    }
    ok(!defined $h->{'x-scale-registered'}, "$what: no X-Scale-Registered");

    my $st = $srv->status;
    is($st->{clients}, 1, "$what: registry still holds only the seed");
}

# The seed survived all of it and is still itself.
my ($code, $h) = $c->post('/connect', 'seed');
is($h->{'x-scale-registered'}, 'refresh', 'the seed is still registered');
$c->close;
$srv->finish;

__DATA__

=== TEST 1: a chunked request body is read
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- raw_request eval
"POST /connect HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
. "3\r\nmy-\r\n6\r\nclient\r\n0\r\n\r\n"
--- error_code: 200
--- response_body_json
[]
--- response_headers
X-Scale-Registered: new

=== TEST 2: a chunked body over scale_body_max answers 413
--- http_config
scale_zone name=reg size=1m;
scale_body_max 1k;
--- config
location = /connect { scale_connect; }
--- raw_request eval
"POST /connect HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
. "400\r\n" . ("a" x 1024) . "\r\n1\r\nb\r\n0\r\n\r\n"
--- error_code: 413
--- response_body_like
"error"

=== TEST 3: a body at exactly scale_body_max is accepted
--- http_config
scale_zone name=reg size=1m;
scale_body_max 1k;
--- config
location = /connect { scale_connect; }
--- request eval
"POST /connect\n" . (" " x 1000) . "edge" . (" " x 20)
--- error_code: 200
--- response_body_json
[]

=== TEST 4: a body buffered to a temp file is read (plain)
--- http_config
scale_zone name=reg size=1m;
scale_body_max 64k;
client_body_buffer_size 1k;
--- config
location = /connect { scale_connect; }
--- request eval
"POST /connect\n" . (" " x 3000) . "far-away" . ("\n" x 10)
--- error_code: 200
--- response_body_json
[]
--- response_headers
X-Scale-Registered: new

=== TEST 5: a body buffered to a temp file is read (JSON)
--- http_config
scale_zone name=reg size=1m;
scale_body_max 64k;
client_body_buffer_size 1k;
--- config
location = /connect { scale_connect; }
--- request eval
["POST /connect\nfirst",
 "POST /connect\n{" . (" " x 3000) . '"id":"j1","name":"n1"}']
--- error_code eval
[200, 200]
--- response_body_json eval
["[]", '[{"id":"first","name":"first"}]']

=== TEST 6: pipelined connects are each answered
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
--- pipelined_requests eval
["POST /connect\none", "POST /connect\ntwo", "POST /connect\nbad name"]
--- error_code eval
[200, 200, 400]
--- response_body_json eval
["[]", '["one"]', undef]

=== TEST 7: a body cut short by the client does not upset the worker
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
location = /status { scale_status; }
--- setup
my $c = $_->conn;
$c->send_raw("POST /connect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort");
$c->close;
--- request
GET /status
--- error_code: 200
--- response_body_like
"clients"\s*:\s*0\b
