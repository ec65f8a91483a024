# The dashboard in a real browser (issue 5): Debian's headless Chromium
# driven by playwright-core (package.json; `npm ci` runs here when
# node_modules is missing) against two test nginx instances, one plain
# and one with a client manager proxied to a fake swarm.  The page loads
# with no console error, the client count rises after registrations, the
# subset-size form changes what /connect returns, a bad value shows the
# error, the manager shows every per-client result.  Screenshots are
# left in the first server's prefix (t/servroot/025-browser/srv-1/).

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;

my $TOKEN = 'browser-token-0123456789';
my $CHROMIUM = '/usr/bin/chromium';
my $root = repo_root();

if (valgrind()) {
    plan skip_all => 'the browser test does not run under valgrind';
}

ok(-x $CHROMIUM, "$CHROMIUM is installed (scripts/deps.sh: chromium)")
    or BAIL_OUT('no chromium');

if (!-f "$root/node_modules/playwright-core/package.json") {
    my $out = `cd '$root' && npm ci --no-audit --no-fund 2>&1`;
    is($? >> 8, 0, 'npm ci installed playwright-core') or diag($out);
}
ok(-f "$root/node_modules/playwright-core/package.json",
   'playwright-core is there');

my $routes = <<'CONF';
        location = /connect        { scale_connect; }
        location = /status         { scale_status; }
        location = /status/clients { scale_clients; }
        location = /status-page    { scale_status_page; }
        location = /config         { scale_config; }
        location = /metrics        { scale_metrics; }
CONF

my $http = <<"CONF";
    scale_zone name=browser size=1m;
    scale_refresh_min 0;
    scale_admin_token $TOKEN;
CONF

my $srv = ScaleTest::Server->new(http_config => $http, config => $routes,
                                 workers => 2);
$srv->start;

# the second server: its manager location proxies to a fake swarm that
# answers like scale-client --control, one client failing
my $mgr = ScaleTest::Server->new(
    workers     => 1,
    http_config => $http . <<'CONF',
    scale_client_manager /manager/;
    server {
        listen 127.0.0.1:$SCALE_PORT_2;
        default_type application/json;
        location = /bulk-create-clients {
            return 200 '{"ok":2,"failed":1,"results":[{"id":"p-1","name":"p-1","ok":true},{"id":"p-2","name":"p-2","ok":true},{"id":"p-3","ok":false,"error":"port in use"}]}';
        }
        location / { return 200 '{"results":[]}'; }
    }
CONF
    config => $routes . <<'CONF');
        location /manager/ {
            scale_admin on;
            proxy_pass http://127.0.0.1:$SCALE_PORT_2/;
        }
CONF
$mgr->start;

my $out = $srv->prefix;
my $base = 'http://127.0.0.1:' . $srv->port;
my $mgr_base = 'http://127.0.0.1:' . $mgr->port;

my @lines = `cd '$root' && timeout 180 node t/browser/dashboard.js \\
             '$base' '$mgr_base' '$out' '$TOKEN' 2>&1`;
my $done = 0;
for my $line (@lines) {
    my $r = json_or_undef($line);
    if (ref $r eq 'HASH' && $r->{done}) {
        $done = 1;
    } elsif (ref $r eq 'HASH' && defined $r->{check}) {
        ok($r->{ok}, $r->{check}) or diag($r->{diag} // '');
    } else {
        diag("browser: $line");
    }
}
ok($done, 'the browser script ran to the end');
ok(-s "$out/dashboard.png", "screenshot: $out/dashboard.png");
note("screenshots: $out/dashboard.png, dashboard-error.png, manager.png");

$mgr->finish;
$srv->finish;

done_testing();
