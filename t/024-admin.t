# The admin gate (issue 5): "scale_admin on" closes a whole location, such
# as the one that proxies the dashboard's client manager to a swarm's
# control API, to requests without the admin token (401/403 JSON), while
# "satisfy any" lets NGINX's allow/deny open it instead.  The manager's
# location reaches the page through GET /config.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;

repeat_each(1);
plan tests => blocks() * repeat_each();

run_tests();

__DATA__

=== TEST 1: a guarded proxy location refuses a request without a token
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
    scale_client_manager /manager/;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        location / { return 200 "swarm saw $request_method $uri\n"; }
    }
--- config
    location /manager/ {
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
--- request
POST /manager/add-client
{"name":"x"}
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ngx_scale"
Content-Type: application/json
--- response_body
{"error":"admin token required: Authorization: Bearer <token>"}



=== TEST 2: a wrong token gets 403
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        location / { return 200 "swarm saw $request_method $uri\n"; }
    }
--- config
    location /manager/ {
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
--- more_headers
Authorization: Bearer not-the-token-at-all
--- request
GET /manager/clients
--- error_code: 403
--- response_body
{"error":"invalid admin token"}



=== TEST 3: the right token passes through to the swarm
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        location / { return 200 "swarm saw $request_method $uri\n"; }
    }
--- config
    location /manager/ {
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
--- more_headers
Authorization: Bearer test-token-0123456789
--- request eval
["POST /manager/bulk-create-clients\n{\"count\":3}",
 "GET /manager/clients"]
--- error_code eval
[200, 200]
--- response_body eval
["swarm saw POST /bulk-create-clients\n", "swarm saw GET /clients\n"]



=== TEST 4: without scale_admin_token the gate stays closed
--- http_config
    scale_zone name=reg size=1m;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        location / { return 200 "swarm\n"; }
    }
--- config
    location /manager/ {
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
--- more_headers
Authorization: Bearer test-token-0123456789
--- request
GET /manager/clients
--- error_code: 403
--- response_body
{"error":"admin actions are disabled: set scale_admin_token"}



=== TEST 5: satisfy any: allow/deny may open the location instead
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        location / { return 200 "swarm\n"; }
    }
--- config
    location /manager/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
    location /closed/ {
        satisfy any;
        deny all;
        scale_admin on;
        proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
    }
--- request eval
["GET /manager/clients", "GET /closed/clients"]
--- error_code eval
[200, 401]



=== TEST 6: scale_admin off (the default) leaves a location alone
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
--- config
    location /open/ {
        return 200 "open\n";
    }
--- request
GET /open/x
--- error_code: 200
--- response_body
open



=== TEST 7: GET /config tells the page where the manager is
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
    scale_client_manager /manager/;
--- config
    location = /config { scale_config; }
--- request
GET /config
--- error_code: 200
--- response_body_like
"client_manager":"/manager/","admin":"token"



=== TEST 8: scale_client_manager must be a location path
--- http_config
    scale_zone name=reg size=1m;
    scale_client_manager http://elsewhere/;
--- must_die
--- error_log
must be a location path



=== TEST 9: the token is never compared as a prefix
--- http_config
    scale_zone name=reg size=1m;
    scale_admin_token test-token-0123456789;
--- config
    location = /config { scale_config; }
--- more_headers
Authorization: Bearer test-token-01234567890
Content-Type: application/json
--- request
POST /config
{"subset_size":3}
--- error_code: 403
