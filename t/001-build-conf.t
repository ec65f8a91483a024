# Directive parsing (issue 2): valid figures reach /status; bad values,
# wrong contexts and a missing zone stop nginx with a message naming the
# directive.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => repeat_each() * blocks() + 4;

run_tests();

my $routes = <<'CONF';
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
CONF

# The config figures /status reports, in ms for times.
my @config_keys = qw(subset_size max_clients refresh_min rate burst
                     min_age max_age health_timeout health_interval
                     cleanup_interval);

# Why: compare only the keys the contract lists (the module may add more).
sub config_of {
    my ($srv) = @_;
    my $cfg = $srv->status->{config} || {};
    return { map { ($_ => $cfg->{$_}) } @config_keys };
}

# Defaults: nothing but the zone.
my $srv = ScaleTest::Server->new(
    http_config => 'scale_zone name=reg size=1m;',
    config      => $routes,
);
$srv->start;
is_deeply(config_of($srv), {
    subset_size => 5, max_clients => 0, refresh_min => 1000, rate => 0,
    burst => 0, min_age => 2000, max_age => 10000, health_timeout => 5000,
    health_interval => 100, cleanup_interval => 1000,
}, 'defaults reported by /status config');
$srv->finish;

# Every directive set to a non-default value.
$srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=2m;
    scale_max_clients 1000;
    scale_subset_size 7;
    scale_refresh_min 3s;
    scale_rate rate=20r/s burst=40;
    scale_body_max 8k;
    scale_min_age 4s;
    scale_max_age 30s;
    scale_health_timeout 1500ms;
    scale_health_interval 250ms;
    scale_cleanup_interval 2s;
    scale_health_uri /healthz;
    scale_health_fails 3;
    scale_health_passes 2;
    scale_health_concurrency 16;
    scale_eviction_brake 60;
CONF
    config => $routes,
);
$srv->start;
is_deeply(config_of($srv), {
    subset_size => 7, max_clients => 1000, refresh_min => 3000, rate => 20,
    burst => 40, min_age => 4000, max_age => 30000, health_timeout => 1500,
    health_interval => 250, cleanup_interval => 2000,
}, 'every figure set in nginx.conf is reported by /status config');
$srv->finish;

__DATA__

=== TEST 1: the smallest zone (128k) and subset bounds 1 and 100 are accepted
--- http_config
scale_zone name=reg size=128k;
scale_subset_size 1;
--- config
location = /status { scale_status; }
--- request
GET /status
--- error_code: 200
--- response_body_like
"subset_size"\s*:\s*1\b

=== TEST 2: scale_subset_size 100 is accepted
--- http_config
scale_zone name=reg size=1m;
scale_subset_size 100;
--- config
location = /status { scale_status; }
--- request
GET /status
--- error_code: 200
--- response_body_like
"subset_size"\s*:\s*100\b


=== TEST 3: scale_zone without size is rejected
--- http_config
scale_zone name=reg;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 4: scale_zone without name is rejected
--- http_config
scale_zone size=1m;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 5: scale_zone below the 128k minimum is rejected
--- http_config
scale_zone name=reg size=64k;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 6: scale_zone with a bad size is rejected
--- http_config
scale_zone name=reg size=lots;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 7: scale_zone with an empty name is rejected
--- http_config
scale_zone name= size=1m;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 8: scale_zone with an unknown parameter is rejected
--- http_config
scale_zone name=reg size=1m colour=red;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 9: scale_zone twice in one http block is rejected
--- http_config
scale_zone name=reg size=1m;
scale_zone name=other size=1m;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 10: scale_subset_size 0 is rejected
--- http_config
scale_zone name=reg size=1m;
scale_subset_size 0;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_subset_size\b/
--- no_error_log
unknown directive


=== TEST 11: scale_subset_size 101 is rejected
--- http_config
scale_zone name=reg size=1m;
scale_subset_size 101;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_subset_size\b/
--- no_error_log
unknown directive


=== TEST 12: scale_subset_size not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_subset_size five;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_subset_size\b/
--- no_error_log
unknown directive


=== TEST 13: scale_subset_size twice is rejected
--- http_config
scale_zone name=reg size=1m;
scale_subset_size 5;
scale_subset_size 6;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_subset_size\b/
--- no_error_log
unknown directive


=== TEST 14: scale_max_clients negative is rejected
--- http_config
scale_zone name=reg size=1m;
scale_max_clients -1;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_max_clients\b/
--- no_error_log
unknown directive


=== TEST 15: scale_max_clients not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_max_clients many;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_max_clients\b/
--- no_error_log
unknown directive


=== TEST 16: scale_refresh_min not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_refresh_min soon;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_refresh_min\b/
--- no_error_log
unknown directive


=== TEST 17: scale_rate with a bad rate is rejected
--- http_config
scale_zone name=reg size=1m;
scale_rate rate=fast;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_rate\b/
--- no_error_log
unknown directive


=== TEST 18: scale_rate with a bad burst is rejected
--- http_config
scale_zone name=reg size=1m;
scale_rate rate=10r/s burst=lots;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_rate\b/
--- no_error_log
unknown directive


=== TEST 19: scale_rate without rate= is rejected
--- http_config
scale_zone name=reg size=1m;
scale_rate burst=5;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_rate\b/
--- no_error_log
unknown directive


=== TEST 20: scale_rate with an unknown parameter is rejected
--- http_config
scale_zone name=reg size=1m;
scale_rate rate=10r/s colour=red;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_rate\b/
--- no_error_log
unknown directive


=== TEST 21: scale_body_max not a size is rejected
--- http_config
scale_zone name=reg size=1m;
scale_body_max big;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_body_max\b/
--- no_error_log
unknown directive


=== TEST 22: scale_min_age not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_min_age old;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_min_age\b/
--- no_error_log
unknown directive


=== TEST 23: scale_max_age not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_max_age older;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_max_age\b/
--- no_error_log
unknown directive


=== TEST 24: scale_health_timeout not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_timeout later;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_timeout\b/
--- no_error_log
unknown directive


=== TEST 25: scale_health_interval not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_interval often;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_interval\b/
--- no_error_log
unknown directive


=== TEST 26: scale_cleanup_interval not a time is rejected
--- http_config
scale_zone name=reg size=1m;
scale_cleanup_interval sometimes;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_cleanup_interval\b/
--- no_error_log
unknown directive


=== TEST 27: scale_health_uri without argument is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_uri;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_uri\b/
--- no_error_log
unknown directive


=== TEST 28: scale_health_fails not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_fails two;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_fails\b/
--- no_error_log
unknown directive


=== TEST 29: scale_health_passes not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_passes one;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_passes\b/
--- no_error_log
unknown directive


=== TEST 30: scale_health_concurrency not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_health_concurrency lots;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_health_concurrency\b/
--- no_error_log
unknown directive


=== TEST 31: scale_eviction_brake not a number is rejected
--- http_config
scale_zone name=reg size=1m;
scale_eviction_brake half;
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_eviction_brake\b/
--- no_error_log
unknown directive


=== TEST 32: scale_connect takes no argument
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_connect now; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_connect\b/


=== TEST 33: scale_delete takes no argument
--- http_config
scale_zone name=reg size=1m;
--- config
location = /delete { scale_delete please; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_delete\b/


=== TEST 34: scale_status takes no argument
--- http_config
scale_zone name=reg size=1m;
--- config
location = /status { scale_status json; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_status\b/


=== TEST 35: scale_connect is not allowed at http level
--- http_config
scale_zone name=reg size=1m;
scale_connect;
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_connect\b.*not allowed here/


=== TEST 36: scale_zone is not allowed inside server
--- config
scale_zone name=reg size=1m;
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b.*not allowed here/


=== TEST 37: scale_subset_size is not allowed inside location
--- http_config
scale_zone name=reg size=1m;
--- config
location = /connect { scale_subset_size 3; scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_subset_size\b.*not allowed here/


=== TEST 38: a handler without scale_zone is rejected
--- config
location = /connect { scale_connect; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive


=== TEST 39: scale_status without scale_zone is rejected
--- config
location = /status { scale_status; }
--- must_die
--- error_log eval
qr/\[emerg\].*\bscale_zone\b/
--- no_error_log
unknown directive
