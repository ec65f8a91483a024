# A client-name flood: unique names at full speed from a few keep-alive
# connections (wrk with a Lua script).  The global rate (scale_rate) and
# a tight zone meet it with 429 and 503; nothing else is answered, no
# worker dies, the zone and the workers' memory stay bounded, clients
# registered before the flood keep working, and hashset, dense array and
# heap agree afterwards.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time);

plan skip_all => 'a flood is too slow under valgrind' if valgrind();
plan skip_all => 'wrk is not installed' unless -x '/usr/bin/wrk';

my $SECONDS = 5;
my $dir = tempdir(CLEANUP => 1);

# unique names per thread and run; per-status counts summed in done()
open my $lua, '>', "$dir/flood.lua" or die $!;
print $lua <<'LUA';
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    counts = {}
    n = 0
    prefix = "flood-" .. tid .. "-" .. os.time() .. "-"
end

function request()
    n = n + 1
    return wrk.format("POST", "/connect", nil, prefix .. n)
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("counts")) do
            total[k] = (total[k] or 0) + v
        end
    end
    for k, v in pairs(total) do
        io.write(string.format("status %d %d\n", k, v))
    end
    local e = summary.errors
    io.write(string.format("errors connect=%d read=%d write=%d timeout=%d\n",
                           e.connect, e.read, e.write, e.timeout))
end
LUA
close $lua;


# Why: the flood itself; returns ({status => count}, {error => count}).
sub flood {
    my ($srv) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/wrk.out";
        open STDERR, '>&', \*STDOUT;
        exec('/usr/bin/wrk', '-t2', '-c4', "-d${SECONDS}s", '--timeout', '5s',
             '-s', "$dir/flood.lua", 'http://127.0.0.1:' . $srv->port . '/')
            or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $out = do { local $/; open my $fh, '<', "$dir/wrk.out"; <$fh> } // '';
    my %status = $out =~ /^status (\d+) (\d+)$/mg;
    my %errors = $out =~ /(\w+)=(\d+)/g;
    note($out);
    return (\%status, \%errors);
}


# Why: a worker's resident memory, to see the flood does not grow it.
sub rss_kb {
    my (@pids) = @_;
    my $sum = 0;
    for my $pid (@pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) {
            $sum += $1 if /^VmRSS:\s+(\d+)/;
        }
    }
    return $sum;
}


# Why: wrk does not read the answers in flight when its time is up, so
# the server may have served up to one more request per connection.
sub within {
    my ($got, $served, $what) = @_;
    ok($got <= $served && $got >= $served - 4,
       "$what ($got of $served served)");
}


# Why: the checks both floods share.
sub check_after {
    my ($srv, $status, $errors, $rss0) = @_;
    my @other = grep { !/^(200|429|503)$/ } keys %$status;
    ok(!@other, 'only 200, 429 and 503 answers')
        or diag(explain($status));
    is($errors->{$_} // 0, 0, "wrk saw no $_ errors")
        for qw(connect read write timeout);

    my $st = $srv->status;
    ok($st->{zone}{used} <= $st->{zone}{size},
       "zone used $st->{zone}{used} of $st->{zone}{size} bytes");
    ok($st->{clients} <= $st->{capacity},
       "$st->{clients} clients, capacity $st->{capacity}");

    my ($code, undef, $body) = $srv->request('GET', '/status/check');
    is($code, 200, 'hashset, dense array and heap agree') or diag($body);
    my $check = json_or_undef($body) // {};
    is($check->{entries}, $st->{clients}, 'the walk counts every client');

    my $grown = rss_kb($srv->worker_pids) - $rss0;
    SKIP: {
        # ASan's quarantine holds freed memory (make asan-test)
        skip "memory under ASan: $grown kB", 1
            if ($ENV{SCALE_NGINX_ENV} // '') =~ /libasan/;
        ok($grown < 64 * 1024, "workers' memory grew by $grown kB (< 64 MB)");
    }
    return $st;
}


my $CONFIG = <<'CONF';
        location = /connect      { scale_connect; }
        location = /delete       { scale_delete; }
        location = /status       { scale_status; }
        location = /status/check { scale_check; }
CONF


subtest 'the global rate meets a flood with 429' => sub {
    my $srv = ScaleTest::Server->new(
        workers => 2,
        http_config => <<'CONF',
    scale_zone name=reg size=8m;
    scale_rate rate=500r/s burst=100;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
CONF
        config => $CONFIG,
    );
    $srv->start;

    my ($code) = $srv->request('POST', '/connect', 'before-flood');
    is($code, 200, 'a client registered before the flood');
    my $rss0 = rss_kb($srv->worker_pids);

    my $t0 = time;
    my ($status, $errors) = flood($srv);
    my $elapsed = time - $t0;

    ok(($status->{429} // 0) > 0, ($status->{429} // 0) . ' answers 429');
    my $st = check_after($srv, $status, $errors, $rss0);

    # the leaky bucket: burst plus rate over the flood, with slack for
    # the time wrk needs to start and stop
    my $most = 100 + 500 * ($elapsed + 1);
    ok($st->{counters}{registrations} <= $most,
       "$st->{counters}{registrations} registrations (at most $most"
       . sprintf(' in %.1f s)', $elapsed));
    within($status->{200} // 0, $st->{counters}{registrations} - 1,
           'every 200 of the flood is a registration');

    ($code) = $srv->request('POST', '/connect', 'before-flood');
    is($code, 200, 'the earlier client still refreshes');
    $srv->finish;
};


subtest 'a tight zone meets a flood with 503' => sub {
    my $srv = ScaleTest::Server->new(
        workers => 2,
        http_config => <<'CONF',
    scale_zone name=reg size=128k;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
CONF
        config => $CONFIG,
    );
    $srv->start;

    my ($code) = $srv->request('POST', '/connect', 'before-flood');
    is($code, 200, 'a client registered before the flood');
    my $rss0 = rss_kb($srv->worker_pids);

    my ($status, $errors) = flood($srv);

    ok(($status->{503} // 0) > 0, ($status->{503} // 0) . ' answers 503');
    my $st = check_after($srv, $status, $errors, $rss0);
    ok($st->{counters}{full} > 0, "$st->{counters}{full} counted as full");
    within($status->{200} // 0, $st->{clients} - 1,
           'every 200 of the flood is a client in the registry');

    ($code, my $h) = $srv->request('POST', '/connect', 'before-flood');
    is($code, 200, 'the earlier client still refreshes while full');
    is($h->{'x-scale-registered'}, 'refresh', '... as a refresh');

    # (a name of another size may still find a slot in a slab page)
    ($code) = $srv->request('POST', '/connect', 'x' x 255);
    is($code, 503, 'a new client gets 503 while the zone is full');
    ($code) = $srv->request('POST', '/delete', 'before-flood');
    is($code, 200, 'a delete works while full');

    like($srv->error_log, qr/scale zone "reg" is full/,
         'the full zone is logged');
    my @full = $srv->error_log =~ /is full with/g;
    ok(@full <= 2 * ($SECONDS / 10 + 1) + 2,
       scalar(@full) . ' "full" lines (once per 10 s)');
    $srv->finish;
};

subtest 'the shipped configuration bounds bodies and admin access' => sub {
    my $conf = do {
        local $/;
        open my $fh, '<', repo_root() . '/conf/nginx.conf' or die $!;
        <$fh>;
    };
    my ($max) = $conf =~ /^\s*client_max_body_size\s+(\d+)k;/m;
    ok(defined $max && $max <= 1024,
       'client_max_body_size is set (' . ($max // '?') . 'k)');
    like($conf, qr/^\s*scale_body_max\s+\d+k;/m, 'scale_body_max is set');

    # "off" hands admin routes to allow/deny: then /config must have them
    if ($conf =~ /^\s*scale_admin_token\s+off;/m) {
        like($conf, qr/location\s+=\s+\/config\s+\{[^}]*allow\s+127\.0\.0\.1;
                       [^}]*deny\s+all;[^}]*scale_config;/x,
             'admin token off: /config is for loopback only');
    } else {
        pass('admin routes need the token (or are closed)');
    }
};

done_testing();
