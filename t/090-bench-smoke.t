# The benchmark's smoke run (issue 7): bench/scale-bench drives the real
# module for a few seconds with a tiny pool of names; every answer it gets
# is checked against the contract (JSON array, <= K, distinct, never the
# caller, only names of the pool), and the run must report zero check
# violations, no transport errors and successful requests.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;

plan skip_all => 'the bench smoke run is not meant for valgrind'
    if valgrind();

my $bench = repo_root() . '/bench/scale-bench';

# Why: `make test` builds it through `make all`; a bare `prove` may not.
if (!-x $bench) {
    system('make', '-s', '-C', repo_root() . '/bench') == 0
        or BAIL_OUT("cannot build $bench");
}

# the latency histogram keeps its promise: <= 1% error, fixed memory
my $check = `make -s -C @{[repo_root()]}/bench check 2>&1`;
is($?, 0, 'bench histogram: quantiles within 1% (make -C bench check)')
    or diag($check);

my $srv = ScaleTest::Server->new(
    http_config => <<'HTTP',
    scale_zone name=smoke size=1m;
    scale_subset_size 5;
    scale_refresh_min 0;
    scale_max_age 1h;
HTTP
    config => <<'CONF',
        location = /connect  { scale_connect; }
        location = /delete   { scale_delete; }
        location = /status   { scale_status; }
        location = /baseline {
            default_type application/json;
            return 200 '["bench-1","bench-2","bench-3","bench-4","bench-5"]';
        }
CONF
)->start;

my $url = 'http://127.0.0.1:' . $srv->port;


# Why: one bench run; returns its exit status and its JSON summary.
sub bench {
    my ($name, @args) = @_;
    my $json = $srv->prefix . "/$name.json";
    my $out = $srv->prefix . "/$name.out";
    system("$bench --url $url -q --json $json @args > $out 2>&1");
    my $rc = $? >> 8;
    my $text = $srv->slurp("$name.json");
    my $sum = json_or_undef($text);
    diag($srv->slurp("$name.out")) unless $rc == 0 && ref $sum;
    return ($rc, $sum);
}


# Why: the figures every run must show, with the classes on failure.
sub clean_run {
    my ($what, $rc, $sum, $min_ok) = @_;
    is($rc, 0, "$what: scale-bench exits 0");
    ok(ref $sum, "$what: JSON summary written") or return;
    my $m = $sum->{measured};
    is($sum->{violations_all}, 0, "$what: zero check violations")
        or diag(encode_json({ measured => $m->{violations},
                              warmup => $sum->{warmup}{violations} }));
    is($m->{transport_errors_total} + $sum->{warmup}{transport_errors_total},
       0, "$what: no transport errors")
        or diag(encode_json($m->{transport_errors}));
    cmp_ok($m->{ok}, '>=', $min_ok, "$what: at least $min_ok successes");
}


my ($rc, $sum) = bench('register', qw(-s register -n 40 -t 2 -c 4));
clean_run('register 40 names', $rc, $sum, 40);
is($sum->{measured}{registered}{new}, 40, 'register: 40 new entries');
is($srv->status->{clients}, 40, '/status counts the 40 names');

($rc, $sum) = bench('mixed',
                    qw(-s mixed -n 40 -t 2 -c 8 -d 3 -w 0.5 -r 1500));
clean_run('mixed for 3s', $rc, $sum, 1000);
cmp_ok(scalar @{ $sum->{intervals} }, '>=', 3, 'mixed: one line a second');
cmp_ok($sum->{measured}{ops}{delete}, '>', 0, 'mixed: deletes were sent');
cmp_ok($sum->{measured}{latency_ms}{p99}, '>', 0, 'mixed: latency recorded');
is($sum->{measured}{short_answers}, 0, 'mixed: every answer had K peers');

($rc, $sum) = bench('json', qw(-s refresh -n 40 -d 1 -w 0 -r 1000),
                    '--json-body');
clean_run('JSON identities for 1s', $rc, $sum, 500);

($rc, $sum) = bench('seed', qw(-s seed -n 40 -d 1 -w 0 -r 1000));
clean_run('the seed loop for 1s', $rc, $sum, 500);

($rc, $sum) = bench('ab', qw(-s refresh -n 40 -d 2 -w 0.2 -r 1000
                             --rounds 2 -i 0.5),
                    "--baseline $url/baseline");
clean_run('A/B rounds against the baseline', $rc, $sum, 500);
is(scalar @{ $sum->{baseline}{ratios} }, 1, 'A/B: one ratio per pair');
cmp_ok($sum->{baseline}{ratio_median}, '>', 0, 'A/B: a median ratio');

$srv->finish;

done_testing;
