#!/usr/bin/env perl
# Persistence and replication figures (issue 4), on loopback, with the
# test harness' servers and a redis-server of its own:
#   - replication lag: register a name on A, poll B until it counts it;
#     p50/p99/max over N names (default 1,000);
#   - time to load 100,000 entries into a fresh zone from Redis and from
#     the data directory (the module's own log line, and the time until
#     /status counts them all);
#   - time to save them (snapshot) and to rewrite them into Redis.
# Not a test: it prints figures.  perl bench/persistence.pl [names] [entries]

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";
use ScaleTest ();
use ScaleRedis;
use Compress::Zlib qw(crc32);
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);

my $NAMES = $ARGV[0] // 1000;
my $ENTRIES = $ARGV[1] // 100_000;
my %out;

sub server {
    my ($extra, %o) = @_;
    return ScaleTest::Server->new(
        workers => 2,
        http_config => <<"CONF",
    scale_zone name=reg size=64m;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
    $extra
CONF
        config => <<'CONF',
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
CONF
    );
}

sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return $v[int($p / 100 * $#v + 0.5)];
}

sub wait_count {
    my ($srv, $n, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if $srv->status->{clients} >= $n;
        sleep 0.01;
    }
    return 0;
}

sub log_ms {
    my ($srv, $re) = @_;
    my ($ms) = $srv->error_log =~ $re;
    return $ms;
}

# --- replication lag -------------------------------------------------

{
    my $r = ScaleRedis->new;
    $r->start;
    my $line = 'scale_redis 127.0.0.1:' . $r->port;
    my $a = server("$line instance=lag-a;");
    my $b = server("$line instance=lag-b;");
    $a->start;
    $b->start;
    sleep 0.5;

    my $ca = $a->conn;
    my $cb = $b->conn;
    my @lag;
    my $base = $b->status->{clients};
    for my $i (1 .. $NAMES) {
        my $t0 = time;
        my ($code) = $ca->post('/connect', "lag-$i");
        die "connect on A: $code\n" unless $code == 200;
        while (1) {
            my (undef, undef, $body) = $cb->get('/status');
            my ($n) = $body =~ /"clients":(\d+)/;
            last if $n >= $base + $i;
            die "B never saw lag-$i\n" if time - $t0 > 10;
        }
        push @lag, (time - $t0) * 1000;
    }
    $out{lag_ms} = { n => scalar @lag, p50 => pct(50, @lag),
                     p99 => pct(99, @lag), max => pct(100, @lag) };
    $a->stop;
    $b->stop;
    $r->stop;
}

# --- load 100k from Redis ----------------------------------------------

{
    my $r = ScaleRedis->new;
    $r->start;
    my $t0 = time;
    my $chunk = 1000;
    for (my $i = 1; $i <= $ENTRIES; $i += $chunk) {
        my @args = ('HSET', 'scale:clients');
        for my $k ($i .. ($i + $chunk - 1 > $ENTRIES ? $ENTRIES
                                                    : $i + $chunk - 1)) {
            push @args, "peer-$k", "peer-$k 10.0." . ($k % 250) . '.'
                                   . ($k % 200 + 1) . ':4000 1700000000';
        }
        $r->cmd(@args);
    }
    $out{redis_fill_ms} = (time - $t0) * 1000;

    my $srv = server('scale_redis 127.0.0.1:' . $r->port . ';');
    $t0 = time;
    $srv->start;
    wait_count($srv, $ENTRIES, 120) or die "not all loaded from Redis\n";
    $out{redis_load} = {
        entries => $ENTRIES,
        until_counted_ms => (time - $t0) * 1000,
        logged_ms => log_ms($srv, qr/load done: \d+ entries in Redis, \d+ new here, in (\d+) ms/),
    };

    # the same 100k written back after Redis lost them
    $r->cmd('FLUSHALL');
    my $deadline = time + 60;
    sleep 0.1 while time < $deadline
                    && !($srv->error_log =~ /wrote $ENTRIES entries to Redis in \d+ ms/);
    $out{redis_rewrite_ms} = log_ms($srv, qr/wrote $ENTRIES entries to Redis in (\d+) ms/);
    $srv->stop;
    $r->stop;
}

# --- data directory: load and save 100k ----------------------------------

{
    my $dir = ScaleTest::repo_root() . '/t/servroot/bench-persistence/data';
    remove_tree($dir);
    make_path($dir);
    my $body = '';
    for my $k (1 .. $ENTRIES) {
        $body .= "peer-$k peer-$k 10.0." . ($k % 250) . '.' . ($k % 200 + 1)
                 . ":4000 1700000000 1700000000000\n";
    }
    open my $fh, '>', "$dir/reg.snapshot" or die $!;
    print $fh "ngx_scale snapshot 1 zone=reg saved=0\n", $body,
              sprintf("end %d %08x\n", $ENTRIES, crc32($body));
    close $fh;
    $out{snapshot_bytes} = -s "$dir/reg.snapshot";

    my $srv = server("scale_data_dir $dir; scale_snapshot_interval 100ms;");
    my $t0 = time;
    $srv->start;
    wait_count($srv, $ENTRIES, 120) or die "not all loaded from the file\n";
    $out{datadir_load} = {
        entries => $ENTRIES,
        until_counted_ms => (time - $t0) * 1000,
        logged_ms => log_ms($srv, qr/loaded \d+ entries from .* in (\d+) ms/),
    };

    # one change, then the periodic save of all of them (worker 0, in
    # chunks between requests)
    $srv->request('POST', '/connect', 'one-more');
    my $deadline = time + 60;
    my $st;
    while (time < $deadline) {
        $st = $srv->status->{persistence};
        last if $st->{saves} >= 1 && $st->{pending_changes} == 0;
        sleep 0.05;
    }
    $out{datadir_save} = { entries => $st->{last_save_entries},
                           ms => $st->{last_save_ms},
                           bytes => $st->{last_save_bytes} };

    # the save on exit, in the master, all at once
    $srv->request('POST', '/connect', 'and-one-more');
    $t0 = time;
    $srv->stop;
    $out{datadir_exit_save_ms} = (time - $t0) * 1000;
    remove_tree($dir);
}

printf "replication lag over %d names: p50 %.1f ms, p99 %.1f ms, "
       . "max %.1f ms\n", $out{lag_ms}{n}, $out{lag_ms}{p50},
       $out{lag_ms}{p99}, $out{lag_ms}{max};
printf "load %d entries from Redis: %s ms (module log), %.0f ms from "
       . "start until /status counts them\n", $ENTRIES,
       $out{redis_load}{logged_ms} // '?', $out{redis_load}{until_counted_ms};
printf "rewrite %d entries into an emptied Redis: %s ms\n", $ENTRIES,
       $out{redis_rewrite_ms} // '?';
printf "load %d entries from the data dir (%d bytes): %s ms (module log), "
       . "%.0f ms from start until /status counts them\n", $ENTRIES,
       $out{snapshot_bytes}, $out{datadir_load}{logged_ms} // '?',
       $out{datadir_load}{until_counted_ms};
printf "periodic save of %d entries (%d bytes, worker 0, chunked): %d ms\n",
       $out{datadir_save}{entries}, $out{datadir_save}{bytes},
       $out{datadir_save}{ms};
printf "stop with a save on exit (master): %.0f ms\n",
       $out{datadir_exit_save_ms};
print ScaleTest::encode_json(\%out), "\n";
