# Reload as reconfiguration (issue 8): under wrk load, scale_subset_size
# and two intervals are changed in nginx.conf and nginx is reloaded (HUP,
# as `nginx -s reload`) 20 times.  After every reload the new K is served
# (a fresh /connect gets exactly K peers, /status shows K and the
# intervals); at the end the registry is intact (count before = after,
# /status/check ok).  The load tool's failures are counted per phase:
#
#   close      wrk with "Connection: close" (a connection per request, as
#              a peer registering does): zero socket errors, zero non-2xx.
#   front      wrk with keep-alive through a plain NGINX proxy with
#              upstream keep-alive and proxy_next_upstream (what
#              conf/cluster/front.conf does): zero errors, zero non-2xx.
#   keepalive  wrk with keep-alive straight at the instance: zero non-2xx
#              and no connect errors or timeouts; read/write errors are
#              reported, not required to be zero: an exiting NGINX worker
#              closes its kept-alive connections (idle ones at once, busy
#              ones after their answer, which still says keep-alive), and
#              wrk never retries a request it wrote into such a closing
#              connection.  That is NGINX's graceful shutdown and wrk, not
#              the module: no request is refused, and phase "close" shows
#              no connection is dropped.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);

plan skip_all => 'reloads under load need master_process (not valgrind)'
    if valgrind();
plan skip_all => 'wrk is not installed' unless -x '/usr/bin/wrk';

my $CLIENTS = 1000;
my $RELOADS = $ENV{SCALE_RELOADS} || 20;
my @K = (3, 7, 1, 10, 5, 2, 8);     # subset sizes, cycled
my $dir = tempdir(CLEANUP => 1);


# Why: the conf a reload installs: K and the intervals are what change.
sub http_conf {
    my ($k, $tick, $cleanup) = @_;
    return <<"CONF";
    scale_zone name=reg size=4m;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
    scale_subset_size $k;
    scale_health_interval $tick;
    scale_cleanup_interval $cleanup;
CONF
}


# Why: refreshes of registered names (no registrations, no 429s), so
# the registry count must stay what it was.
sub write_lua {
    my ($delay_ms) = @_;
    my $file = "$dir/refresh-$delay_ms.lua";
    open my $fh, '>', $file or die "$file: $!";
    print $fh <<"LUA";
local n = math.random($CLIENTS)
request = function()
    n = n + 1
    return wrk.format("POST", "/connect", nil,
                      "client-" .. (n % $CLIENTS + 1))
end
LUA
    print $fh "delay = function() return $delay_ms end\n" if $delay_ms;
    close $fh;
    return $file;
}


# Why: wrk runs in the background for as long as the reloads take; its
# summary appears when it gets SIGINT.
sub start_wrk {
    my ($name, $port, $lua, @extra) = @_;
    my $out = "$dir/wrk-$name.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        exec('/usr/bin/wrk', '-t1', '-c8', '-d120s', '--timeout', '5s',
             @extra, '-s', $lua, "http://127.0.0.1:$port/")
            or POSIX::_exit(127);
    }
    return ($pid, $out);
}


# Why: the figures of wrk's summary; every failure wrk knows of.
sub wrk_figures {
    my ($out) = @_;
    my $text = do { local $/; open my $fh, '<', $out or return {}; <$fh> };
    my %f = (text => $text // '');
    ($f{requests}) = $f{text} =~ /(\d+) requests in/;
    @f{qw(connect read write timeout)} = $f{text} =~
        /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    ($f{non2xx}) = $f{text} =~ /Non-2xx or 3xx responses: (\d+)/;
    $f{$_} //= 0 for qw(connect read write timeout non2xx);
    $f{errors} = $f{connect} + $f{read} + $f{write} + $f{timeout};
    return \%f;
}


# Why: one phase = the server under one kind of load, reloaded
# $RELOADS times; returns wrk's figures.
sub reload_phase {
    my ($srv, $name, $port, $lua, @wrk_args) = @_;
    my $before = $srv->status->{clients};
    my ($wrk, $out) = start_wrk($name, $port, $lua, @wrk_args);
    sleep 0.5;

    my ($served, $shown) = (0, 0);
    my @wrong;
    for my $i (1 .. $RELOADS) {
        my $k = $K[$i % @K];
        my $tick = $i % 2 ? '200ms' : '100ms';
        my $cleanup = $i % 2 ? '500ms' : '1s';
        $srv->reload(http_config => http_conf($k, $tick, $cleanup));

        # a fresh connection lands on a new worker
        my ($code, undef, $body) =
            $srv->request('POST', '/connect', "probe-$name");
        my $peers = json_or_undef($body);
        if ($code == 200 && ref $peers eq 'ARRAY' && @$peers == $k) {
            $served++;
        } else {
            push @wrong, "reload $i: K=$k, got $code $body";
        }
        my $cf = $srv->status->{config};
        if ($cf->{subset_size} == $k
            && $cf->{health_interval} == ($i % 2 ? 200 : 100)
            && $cf->{cleanup_interval} == ($i % 2 ? 500 : 1000)) {
            $shown++;
        } else {
            push @wrong, "reload $i: /status config " . encode_json($cf);
        }
        sleep 0.1;
    }

    kill 'INT', $wrk;
    waitpid $wrk, 0;
    my $f = wrk_figures($out);

    is($served, $RELOADS, "$name: the new K served after each of"
                          . " $RELOADS reloads")
        or diag(join "\n", @wrong[0 .. ($#wrong < 5 ? $#wrong : 5)]);
    is($shown, $RELOADS, "$name: /status shows the new K and intervals");
    ok($f->{requests} && $f->{requests} > 0,
       "$name: wrk ran during the reloads") or diag($f->{text});
    is($srv->status->{clients}, $before,
       "$name: registry count before = after ($before)");
    my ($code, undef, $body) = $srv->request('GET', '/status/check');
    is($code, 200, "$name: /status/check ok") or diag($body);
    note("$name: " . ($f->{requests} // 0) . " requests, $f->{non2xx}"
         . " non-2xx, socket errors connect $f->{connect} read $f->{read}"
         . " write $f->{write} timeout $f->{timeout}");
    return $f;
}


my $srv = ScaleTest::Server->new(
    workers => 2,
    http_config => http_conf(5, '100ms', '1s'),
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
);
$srv->start;

{
    my $c = $srv->conn;
    my $bad = 0;
    for my $i (1 .. $CLIENTS) {
        my ($code) = $c->post('/connect', "client-$i");
        $bad++ unless $code == 200;
    }
    $c->post('/connect', "probe-$_") for qw(close front keepalive);
    $c->close;
    is($bad, 0, "$CLIENTS clients registered");
}
is($srv->status->{clients}, $CLIENTS + 3, 'registry holds them');

# --- a connection per request ---------------------------------------------

my $close = reload_phase($srv, 'close', $srv->port, write_lua(1),
                         '-H', 'Connection: close');
is($close->{errors}, 0, 'close: no socket error') or diag($close->{text});
is($close->{non2xx}, 0, 'close: no non-2xx answer') or diag($close->{text});

# --- keep-alive through a retrying proxy ----------------------------------

my $front = ScaleTest::Server->new(
    module => undef,
    dir => 'front',
    workers => 1,
    http_config => <<"CONF",
    upstream scale {
        server 127.0.0.1:@{[ $srv->port ]};
        keepalive 16;
    }
CONF
    config => <<'CONF',
        location / {
            proxy_pass http://scale;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # /connect is register-or-refresh: safe to send again
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 3;
        }
CONF
);
$front->start;
my $fr = reload_phase($srv, 'front', $front->port, write_lua(0));
is($fr->{errors}, 0, 'front: no socket error') or diag($fr->{text});
is($fr->{non2xx}, 0, 'front: no non-2xx answer') or diag($fr->{text});
$front->finish;

# --- keep-alive straight at the instance ----------------------------------

my $ka = reload_phase($srv, 'keepalive', $srv->port, write_lua(0));
is($ka->{non2xx}, 0, 'keepalive: no non-2xx answer') or diag($ka->{text});
is($ka->{connect} + $ka->{timeout}, 0,
   'keepalive: no connect error, no timeout') or diag($ka->{text});
cmp_ok($ka->{read} + $ka->{write}, '<=', ($ka->{requests} // 0) / 100,
       'keepalive: closed keep-alive connections under 1% of requests')
    or diag($ka->{text});

diag(sprintf "reload x%d under wrk: close %d errors + %d non-2xx of %d;"
     . " front %d + %d of %d; keepalive %d + %d of %d (read %d, write %d)",
     $RELOADS, $close->{errors}, $close->{non2xx}, $close->{requests} // 0,
     $fr->{errors}, $fr->{non2xx}, $fr->{requests} // 0,
     $ka->{errors}, $ka->{non2xx}, $ka->{requests} // 0,
     $ka->{read}, $ka->{write});

$srv->finish;

done_testing();
