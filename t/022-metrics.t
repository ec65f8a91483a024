# GET /metrics (issue 5): the figures of /status in the Prometheus text
# format 0.0.4, parsed here line by line, compared with /status, and
# checked by promtool (Debian's prometheus package).

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Temp qw(tempfile);

my $PROMTOOL = '/usr/bin/promtool';

run_tests();

my $srv = ScaleTest::Server->new(
    workers     => 2,
    http_config => <<'CONF',
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
CONF
    config => <<'CONF');
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
        location = /metrics { scale_metrics; }
CONF
$srv->start;

my $c = $srv->conn;
$c->post('/connect', "secret-client-$_") for 1 .. 9;
$c->post('/connect', 'secret-client-1');
$c->post('/delete', 'secret-client-9');
$c->post('/delete', 'nobody-here');
$c->post('/connect', 'bad name!');
$c->close;
# a few on connections of their own, so both workers answer some
$srv->request('POST', '/connect', "other-$_") for 1 .. 6;

my $st = $srv->status;
my ($code, $h, $text) = $srv->request('GET', '/metrics');
is($code, 200, 'GET /metrics: 200');
is($h->{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'the 0.0.4 content type');

# --- parse ---------------------------------------------------------------

my (%type, %help, %samples, @bad);
for my $line (split /\n/, $text) {
    if ($line =~ /^# HELP (\S+) (.+)$/) {
        $help{$1} = $2;
    } elsif ($line =~ /^# TYPE (\S+) (counter|gauge|histogram|untyped)$/) {
        push @bad, "TYPE after samples: $line" if grep { /^\Q$1\E/ }
                                                  keys %samples;
        $type{$1} = $2;
    } elsif ($line =~ /^([a-z_:][a-z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/) {
        my ($name, $labels, $value) = ($1, $2 // '', $3);
        push @bad, "not a number: $line"
            unless $value =~ /^-?\d+(\.\d+)?$/ || $value eq '+Inf';
        push @{ $samples{$name} }, [$labels, $value];
    } else {
        push @bad, "unparsed: $line";
    }
}
is_deeply(\@bad, [], 'every line parses');

my @families = sort keys %type;
ok(@families >= 20, scalar(@families) . ' metric families');
ok(!grep({ !/^ngx_scale_/ } @families, keys %samples),
   'every name has the ngx_scale_ prefix');
ok(!grep({ !$help{$_} } @families), 'every family has HELP');

for my $name (sort keys %samples) {
    my $family = $name;
    $family =~ s/_(bucket|sum|count)$// unless $type{$name};
    ok($type{$family}, "$name has a TYPE") or next;
    if ($type{$family} eq 'counter') {
        like($name, qr/_total$/, "counter $name ends in _total");
    }
}

# Why: the value of a sample without labels (or with exactly these).
sub value {
    my ($name, $labels) = @_;
    for my $s (@{ $samples{$name} || [] }) {
        return $s->[1] if $s->[0] eq ($labels // '');
    }
    return undef;
}

is(value('ngx_scale_clients'), $st->{clients}, 'clients as in /status');
is(value('ngx_scale_clients_capacity'), $st->{capacity}, 'capacity');
is(value('ngx_scale_zone_size_bytes'), $st->{zone}{size}, 'zone size');
is(value('ngx_scale_registrations_total'),
   $st->{counters}{registrations}, 'registrations');
is(value('ngx_scale_refreshes_total'), $st->{counters}{refreshes},
   'refreshes');
is(value('ngx_scale_deletes_total'), 1, 'deletes');
is(value('ngx_scale_delete_not_found_total'), 1, 'deletes not found');
is(value('ngx_scale_rejected_requests_total'), 1, 'rejected');
is(value('ngx_scale_connect_requests_total'), $st->{counters}{connects},
   'connect requests');
is(value('ngx_scale_clients_healthy') + value('ngx_scale_clients_unhealthy'),
   $st->{clients}, 'healthy + unhealthy = clients');
ok(defined value('ngx_scale_evictions_total', 'reason="age"')
   && defined value('ngx_scale_evictions_total', 'reason="failure"'),
   'evictions by reason');
is(value('ngx_scale_eviction_brake_engaged'), 0, 'the brake is off');
is($type{ngx_scale_probes_started_total}, 'counter', 'probes counted');

# --- the /connect histogram ---------------------------------------------

my $hist = 'ngx_scale_connect_duration_seconds';
is($type{$hist}, 'histogram', 'the /connect latency is a histogram');
my @buckets = @{ $samples{"${hist}_bucket"} || [] };
is(scalar @buckets, 18, '17 bounds and +Inf');
my ($prev_le, $prev_n, $monotone) = (-1, 0, 1);
for my $b (@buckets) {
    my ($le) = $b->[0] =~ /^le="([^"]+)"$/ or do { $monotone = 0; next };
    my $lev = $le eq '+Inf' ? 9**9**9 : $le;
    $monotone = 0 if $lev <= $prev_le || $b->[1] < $prev_n;
    ($prev_le, $prev_n) = ($lev, $b->[1]);
}
ok($monotone, 'bounds rise and counts are cumulative');
is($buckets[-1][0], 'le="+Inf"', 'the last bucket is +Inf');
is($buckets[-1][1], value("${hist}_count"), '+Inf equals _count');
is(value("${hist}_count"), $st->{connect_latency}{count},
   '_count equals the /connect requests measured');
ok(value("${hist}_sum") > 0 && value("${hist}_sum") < 10,
   '_sum is in seconds');

# --- per-worker series: the slot label only -----------------------------

my @wl = map { $_->[0] } @{ $samples{ngx_scale_worker_requests_total} };
is_deeply([sort @wl], ['slot="0"', 'slot="1"'], 'one series per worker slot');
my @labels = map { $_->[0] } map { @$_ } values %samples;
ok(!grep({ $_ ne '' && !/^(slot="\d+"|le="[^"]+"|reason="\w+")$/ }
         @labels), 'no label but slot, le and reason');
unlike($text, qr/secret-client|other-/, 'no client name anywhere');
my $sum = 0;
$sum += $_->[1] for @{ $samples{ngx_scale_worker_requests_total} };
is($sum, 19, 'the workers answered the 19 /connect and /delete requests');

# --- promtool ------------------------------------------------------------

ok(-x $PROMTOOL, 'promtool is installed (scripts/deps.sh: prometheus)');
my ($fh, $file) = tempfile(UNLINK => 1);
print $fh $text;
close $fh;
my $out = `$PROMTOOL check metrics < $file 2>&1`;
is($? >> 8, 0, 'promtool check metrics: exit 0');
is($out, '', 'promtool has nothing to say') or diag($out);

($code, $h) = $srv->request('POST', '/metrics', '');
is($code, 405, 'POST /metrics: 405');

$srv->finish;

done_testing();

__DATA__

=== TEST 1: HEAD answers headers only
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /metrics { scale_metrics; }
--- request
HEAD /metrics
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body chomp
