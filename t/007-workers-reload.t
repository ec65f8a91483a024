# Workers and reload (issue 2): the registry lives in shared memory, so
# every worker sees every registration; a reload (HUP, as `nginx -s
# reload`) keeps it, and serves changed figures.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;

plan tests => 21;

my $routes = <<'CONF';
        location = /connect {
            scale_connect;
            add_header X-Worker $pid always;
        }
        location = /delete  { scale_delete; }
        location = /status  {
            scale_status;
            add_header X-Worker $pid always;
        }
CONF

my $http = <<'CONF';
    scale_zone name=reg size=1m;
    scale_refresh_min 0;
CONF


# --- many connections, two workers, one registry -----------------------------

# reuseport spreads connections over both workers by the kernel's hash.
my $srv = ScaleTest::Server->new(
    workers     => 2,
    listen      => 'reuseport',
    http_config => $http,
    config      => $routes,
);
$srv->start;
my @workers = $srv->worker_pids;
is(scalar @workers, 2, 'two workers');

my (%reg_by, $bad);
for my $i (1 .. 100) {
    my ($code, $h) = $srv->request('POST', '/connect', "c$i");
    $bad //= "c$i: $code" unless $code == 200;
    $reg_by{ $h->{'x-worker'} // '?' }++;
}
ok(!$bad, '100 registrations on 100 connections') or diag($bad);
is_deeply([sort { $a <=> $b } keys %reg_by], \@workers,
          'both workers took registrations')
    or diag(explain(\%reg_by));

my (%status_by, %clients_seen);
for (1 .. 40) {
    my ($code, $h, $body) = $srv->request('GET', '/status');
    my $st = json_or_undef($body) || {};
    $status_by{ $h->{'x-worker'} // '?' }++;
    $clients_seen{ $st->{clients} // 'none' }++;
}
is_deeply(\%clients_seen, { 100 => 40 },
          'every /status, from either worker, counts 100 clients');
is(scalar(keys %status_by), 2, 'both workers answered /status');

my %known = map { ("c$_" => 1) } 1 .. 100;
my (%answer_by, $odd);
for (1 .. 40) {
    my ($code, $h, $body) = $srv->request('POST', '/connect', 'c1');
    my $ans = json_or_undef($body);
    $answer_by{ $h->{'x-worker'} // '?' }++;
    $odd //= $body unless ref $ans eq 'ARRAY' && @$ans == 5
        && !grep { !$known{$_} || $_ eq 'c1' } @$ans;
}
ok(!$odd, 'every worker hands out 5 peers registered anywhere')
    or diag($odd);
is(scalar(keys %answer_by), 2, 'both workers answered /connect');

my $st = $srv->status;
my %served = map { ($_->{pid} => $_->{requests}) } @{ $st->{workers} };
ok((grep { ($served{$_} // 0) > 0 } @workers) == 2,
   '/status workers[] shows requests on both workers')
    or diag(explain($st->{workers}));
$srv->finish;


# --- reload keeps the registry, serves new figures ----------------------------

$srv = ScaleTest::Server->new(
    workers     => 2,
    http_config => $http,
    config      => $routes,
);
$srv->start;
my $c = $srv->conn;
$c->post('/connect', "r$_") for 1 .. 10;
is($srv->status->{clients}, 10, 'ten clients before reload');
my @old = $srv->worker_pids;

$srv->reload;
my @new = $srv->worker_pids;
is(scalar(grep { my $o = $_; grep { $_ == $o } @new } @old), 0,
   'reload replaced the workers');
$st = $srv->status;
is($st->{clients}, 10, 'the registry survived the reload');
is($st->{config}{subset_size}, 5, 'subset_size still 5');

my ($code, $h, $body) = $c->post('/connect', 'r1');
is($h->{'x-scale-registered'}, 'refresh',
   'a client registered before the reload refreshes after it');
my $ans = json_or_undef($body) || [];
is(scalar @$ans, 5, 'and gets 5 peers');

$srv->reload(http_config => $http . "    scale_subset_size 2;\n");
$st = $srv->status;
is($st->{config}{subset_size}, 2, '/status shows the new subset_size');
is($st->{clients}, 10, 'the registry survived the second reload');
my %sizes;
for (1 .. 20) {
    ($code, $h, $body) = $srv->request('POST', '/connect', 'r2');
    $sizes{ scalar @{ json_or_undef($body) || [] } }++;
}
is_deeply(\%sizes, { 2 => 20 }, 'every answer now has 2 peers');

($code, $h, $body) = $c->post('/connect', 'r11');
is($h->{'x-scale-registered'}, 'new', 'new clients register after reload');
is($srv->status->{clients}, 11, 'eleven clients');
$c->close;
$srv->finish;


