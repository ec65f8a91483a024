# Requests that once went wrong, found by the fuzzers and the sanitizer
# builds (fuzz/README.md, make asan-test): each gets its 4xx JSON answer,
# never a 500, and the registry is unchanged.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks();
run_tests();

__DATA__

=== TEST 1: invalid JSON whose parser error quotes non-UTF-8 bytes: 400
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /connect { scale_connect; }
    location = /status/check { scale_check; }
--- request eval
["POST /connect\n{\"id\":\"f\\u0\xc7\x9a\xc6\xdd}", "GET /status/check"]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/^\{"error":"invalid JSON at byte \d+: [\x20-\x7e]+"\}$/,
 qr/"entries":0,/]



=== TEST 2: half a UTF-8 sequence, then a control character: 400
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /connect { scale_connect; }
--- request eval
"POST /connect\n{\"id\":\"abc\xc3\x01\"}"
--- error_code: 400
--- response_body_like eval
qr/^\{"error":"invalid JSON at byte \d+: [\x20-\x7e]+"\}$/



=== TEST 3: a chunked body with no data is an empty body: 400
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /connect { scale_connect; }
--- raw_request eval
"POST /connect HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
. "Connection: close\r\n\r\n0\r\n\r\n"
--- error_code: 400
--- response_body
{"error":"empty body: a client name is required"}



=== TEST 4: a client coming back with the same name and no address
--- http_config
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
--- config
    location = /connect { scale_connect; }
    location = /status/check { scale_check; }
--- request eval
["POST /connect\n{\"id\":\"a\",\"name\":\"b\"}",
 "POST /connect\n{\"id\":\"a\",\"name\":\"b\"}",
 "GET /status/check"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Scale-Registered: new", "X-Scale-Registered: refresh", undef]
