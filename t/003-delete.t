# POST /delete (issue 2): plain and JSON bodies, 200 {"deleted":id},
# 404 {"error":"not found"}, bad input, methods; a deleted client is gone
# from answers and counts, and registers anew afterwards.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks() + 12;

run_tests();

my $srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 1h;
    scale_subset_size 10;
CONF
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
CONF
);
$srv->start;
my $c = $srv->conn;
$c->post('/connect', $_) for qw(a b c d);
my $before = $srv->status;

my ($code, $h, $body) = $c->post('/delete', 'b');
is($code, 200, 'delete of a registered name answers 200');
is_deeply(json_or_undef($body), { deleted => 'b' }, 'body names the id');

my $st = $srv->status;
is($st->{clients}, 3, 'one client fewer');
is($st->{counters}{deletes} - $before->{counters}{deletes}, 1,
   'counters.deletes moved by one');

# 'd' is still in its refresh_min window, so ask as a new client.
($code, $h, $body) = $c->post('/connect', 'e');
is_deeply([sort @{ json_or_undef($body) || [] }], [qw(a c d)],
          'a deleted client is no longer handed out');

($code, $h, $body) = $c->post('/delete', 'b');
is($code, 404, 'deleting it again answers 404');
is_deeply(json_or_undef($body), { error => 'not found' },
          '404 body is {"error":"not found"}');
is($srv->status->{counters}{not_found} - $before->{counters}{not_found}, 1,
   'counters.not_found moved by one');

# refresh_min does not outlive the entry: b registers anew at once.
($code, $h) = $c->post('/connect', 'b');
is($code, 200, 'a deleted name can connect again at once');
is($h->{'x-scale-registered'}, 'new', 'and it is a new registration');

($code, $h, $body) = $c->post('/delete', encode_json({ id => 'c' }));
is_deeply(json_or_undef($body), { deleted => 'c' }, 'JSON {"id":..} works');
$srv->finish;

__DATA__

=== TEST 1: deleting an unknown client answers 404
--- http_config
scale_zone name=reg size=1m;
--- config
location = /delete { scale_delete; }
--- request
POST /delete
nobody
--- error_code: 404
--- response_body_json
{"error":"not found"}

=== TEST 2: connect, delete, delete again
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
location = /delete { scale_delete; }
--- request eval
["POST /connect\nalpha", "POST /delete\nalpha", "POST /delete\nalpha"]
--- error_code eval
[200, 200, 404]
--- response_body_json eval
["[]", '{"deleted":"alpha"}', '{"error":"not found"}']

=== TEST 3: a JSON client is deleted by its id
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
location = /delete { scale_delete; }
--- request eval
['POST /connect
{"id":"j1","name":"web","addr":"10.0.0.1:80"}',
'POST /delete
{"id":"j1"}']
--- error_code eval
[200, 200]
--- response_body_json eval
["[]", '{"deleted":"j1"}']

=== TEST 4: JSON {"name":..} deletes a plain client
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
location = /delete { scale_delete; }
--- request eval
["POST /connect\nplain-1", qq{POST /delete\n{"name":"plain-1"}}]
--- error_code eval
[200, 200]
--- response_body_json eval
["[]", '{"deleted":"plain-1"}']

=== TEST 5: surrounding whitespace is trimmed from a plain delete body
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect; }
location = /delete { scale_delete; }
--- request eval
["POST /connect\nalpha", "POST /delete\n \t alpha\r\n"]
--- error_code eval
[200, 200]
--- response_body_json eval
["[]", '{"deleted":"alpha"}']

=== TEST 6: GET /delete answers 405 with Allow: POST
--- http_config
scale_zone name=reg size=1m;
--- config
location = /delete { scale_delete; }
--- request
GET /delete
--- error_code: 405
--- response_headers
Allow: POST

=== TEST 7: an empty delete body answers 400 JSON
--- http_config
scale_zone name=reg size=1m;
--- config
location = /delete { scale_delete; }
--- request
POST /delete
--- error_code: 400
--- response_body_like
^\{\s*"error"\s*:\s*"[^"]+"\s*\}\s*$

=== TEST 8: a delete body over scale_body_max answers 413 JSON
--- http_config
scale_zone name=reg size=1m;
scale_body_max 1k;
--- config
location = /delete { scale_delete; }
--- request eval
"POST /delete\n" . ("a" x 1025)
--- error_code: 413
--- response_body_like
^\{\s*"error"\s*:\s*"[^"]+"\s*\}\s*$
