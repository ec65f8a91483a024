# Two instances, A and B, on one redis-server: what is registered on A
# shows in B's count and in B's subsets, a delete on B disappears from A,
# an eviction on A disappears from B, refreshes on A keep B's copy alive.
# Redis killed under load: both keep answering (no 5xx); Redis restarted
# empty: both rewrite what they hold and the counts converge.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use ScaleRedis;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);

plan skip_all => 'redis-server is not installed' unless ScaleRedis::available();

my $T = timeout_factor();


sub new_server {
    my ($redis, $name, %o) = @_;
    my $min = $o{min_age} // '1h';
    my $max = $o{max_age} // '2h';
    return ScaleTest::Server->new(
        workers => $o{workers} // 2,
        http_config => <<"CONF",
    scale_zone name=reg size=8m;
    scale_refresh_min 0;
    scale_min_age $min;
    scale_max_age $max;
    scale_cleanup_interval 200ms;
    scale_redis 127.0.0.1:@{[ $redis->port ]} instance=$name;
CONF
        config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
CONF
    );
}


sub wait_for {
    my ($secs, $check) = @_;
    my $deadline = time + $secs * $T;
    my $v;
    while (time < $deadline) {
        $v = eval { $check->() };
        return $v if $v;
        sleep 0.05;
    }
    return eval { $check->() };
}


sub register {
    my ($srv, $prefix, $from, $to) = @_;
    my $c = $srv->conn;
    my $ok = 0;
    for my $i ($from .. $to) {
        my ($code) = $c->post('/connect', "$prefix-$i");
        $ok++ if $code == 200;
    }
    $c->close;
    return $ok;
}


sub clients { return $_[0]->status->{clients} }


sub consistent {
    my ($srv, $what) = @_;
    my (undef, undef, $body) = $srv->request('GET', '/status/check');
    like($body, qr/"errors":0/, "$what: registry consistent");
}


subtest 'A registers, B sees; B deletes, A forgets' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $a = new_server($r, 'node-a');
    my $b = new_server($r, 'node-b');
    $a->start;
    $b->start;

    ok(wait_for(5, sub {
           my $c = $b->status->{cluster};
           $c && @{ $c->{instances} } == 2 }),
       'both instances listed in B\'s /status cluster');

    is(register($a, 'a', 1, 1000), 1000, '1,000 names registered on A');
    ok(wait_for(10, sub { clients($b) == 1000 }),
       'B counts the 1,000 names');
    is($b->status->{redis}{applied}, 1000, 'B applied 1,000 changes');

    my %from_a = map { ("a-$_" => 1) } 1 .. 1000;
    my ($all, $bad) = (0, 0);
    my $c = $b->conn;
    for my $i (1 .. 20) {
        my ($code, undef, $body) = $c->post('/connect', "b-probe-$i");
        for my $name (@{ decode_json($body) }) {
            $all++;
            $bad++ unless $from_a{$name} || $name =~ /^b-probe-/;
        }
    }
    $c->close;
    ok($all >= 95 && $bad == 0,
       "B's subsets hand out A's names ($all names, $bad unknown)");

    for my $i (1 .. 100) {
        my ($code) = $b->request('POST', '/delete', "a-$i");
        die "delete a-$i on B: $code\n" unless $code == 200;
    }
    ok(wait_for(10, sub { clients($a) == 920 }),
       '100 deletes on B disappear from A (900 + 20 probes from B)');
    my (undef, undef, $body) = $a->request('POST', '/delete', 'a-50');
    like($body, qr/not found/, 'a-50 is gone from A');
    is($r->cmd(qw(HLEN scale:clients)), 920, 'and from Redis');

    consistent($a, 'A');
    consistent($b, 'B');

    $a->finish;
    $b->finish;
    $r->stop;
};


subtest 'an eviction on A disappears from B' => sub {
    # the health code journals its evictions with one call; until it is
    # there this subtest is a TODO rather than a failure
    my $health = repo_root() . '/ngx_scale_module/ngx_http_scale_health.c';
    local $TODO = 'ngx_http_scale_health.c does not journal evictions yet'
        unless (do { local (@ARGV, $/) = $health; <> } // '')
               =~ /NGX_HTTP_SCALE_OP_EVICT/;

    my $r = ScaleRedis->new;
    $r->start;
    my $a = new_server($r, 'evict-a', min_age => '500ms', max_age => '2s');
    my $b = new_server($r, 'evict-b');
    $a->start;
    $b->start;
    wait_for(5, sub { $b->status->{redis}{subscribed} });

    is(register($a, 'ev', 1, 20), 20, '20 names on A (max_age 2s)');
    ok(wait_for(5, sub { clients($b) == 20 }), 'B has them (max_age 2h)');

    ok(wait_for(10, sub { clients($a) == 0 }), 'A evicts them by age');
    ok(wait_for(5, sub { clients($b) == 0 }),
       'the evictions reach B, which would keep them for 2h');
    is($r->cmd(qw(HLEN scale:clients)), 0, 'and leave Redis');

    $a->finish;
    $b->finish;
    $r->stop;
};


subtest 'refreshes on A keep B\'s copy alive' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $a = new_server($r, 'ref-a', min_age => '500ms', max_age => '2s');
    my $b = new_server($r, 'ref-b', min_age => '500ms', max_age => '2s');
    $a->start;
    $b->start;
    wait_for(5, sub { $b->status->{redis}{subscribed} });

    register($a, 'rf', 1, 20);
    ok(wait_for(5, sub { clients($b) == 20 }), 'B has the 20 names');

    my $until = time + 4;
    while (time < $until) {
        register($a, 'rf', 1, 20);
        sleep 0.3;
    }
    is(clients($a), 20, 'A keeps them (refreshed)');
    is(clients($b), 20, 'B keeps them too, 4s > max_age, by A\'s refreshes');

    $a->finish;
    $b->finish;
    $r->stop;
};


subtest 'Redis killed under load: no 5xx; restarted: counts converge' => sub {
    plan skip_all => 'load test, not under valgrind' if valgrind();

    my $r = ScaleRedis->new;
    $r->start;
    my $a = new_server($r, 'load-a');
    my $b = new_server($r, 'load-b');
    $a->start;
    $b->start;
    wait_for(5, sub { $b->status->{redis}{subscribed}
                      && $a->status->{redis}{subscribed} });

    my $dir = $a->prefix;
    my @kids;
    for my $srv ($a, $b) {
        my $tag = $srv == $a ? 'la' : 'lb';
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my %codes;
            my $c = $srv->conn;
            my $end = time + 4;
            my $i = 0;
            while (time < $end) {
                $i++;
                my $name = $i % 3 ? "$tag-$i" : "$tag-" . int($i / 2);
                my ($code) = eval { $c->post('/connect', $name) };
                $codes{$code // 'none'}++;
                sleep 0.0005;
            }
            open my $fh, '>', "$dir/codes-$tag" or POSIX::_exit(1);
            print $fh join("\n", map { "$_ $codes{$_}" } keys %codes), "\n";
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    sleep 1;
    $r->kill;
    ok(1, 'Redis killed (SIGKILL) under load');
    sleep 1.5;
    $r->start;
    ok(1, 'Redis restarted, empty');
    waitpid $_, 0 for @kids;

    my %codes;
    for my $tag (qw(la lb)) {
        open my $fh, '<', "$dir/codes-$tag" or die "codes-$tag: $!";
        while (<$fh>) {
            my ($code, $n) = split;
            $codes{$code} += $n;
        }
    }
    my $total = 0;
    $total += $_ for values %codes;
    my $bad = 0;
    $bad += $codes{$_} for grep { !/^200$/ } keys %codes;
    ok($total > 1000, "$total requests during the test");
    is($bad, 0, 'every answer was 200: ' . join(', ',
                map { "$_ x$codes{$_}" } sort keys %codes));

    my ($na, $nb, $nr);
    ok(wait_for(20, sub {
           $na = clients($a);
           $nb = clients($b);
           $nr = $r->cmd(qw(HLEN scale:clients));
           $na == $nb && $nb == $nr }),
       'counts converge');
    diag("A $na, B $nb, Redis $nr") unless $na == $nb && $nb == $nr;
    like($a->error_log, qr/writing all \d+ entries to Redis \(Redis lost its data\)/,
         'A rebuilt Redis');
    like($b->error_log, qr/writing all \d+ entries to Redis \(Redis lost its data\)/,
         'B rebuilt Redis');

    consistent($a, 'A');
    consistent($b, 'B');
    $a->finish;
    $b->finish;
    $r->stop;
};


subtest 'a new instance starts with the network: loaded from Redis' => sub {
    my $r = ScaleRedis->new;
    $r->start;
    my $a = new_server($r, 'first');
    $a->start;
    register($a, 'net', 1, 500);
    ok(wait_for(5, sub { $r->cmd(qw(HLEN scale:clients)) == 500 }),
       'A wrote 500');

    my $b = new_server($r, 'second');
    $b->start;
    ok(wait_for(10, sub { clients($b) == 500 }), 'B starts with all 500');
    like($b->error_log, qr/load done: 500 entries in Redis, 500 new here/,
         'from the load pass');

    $a->finish;
    $b->finish;
    $r->stop;
};


done_testing();
