# The peer client (client/scale-client) against the real bootstrap: a
# swarm of 50 peers registers, learns every live peer by peer exchange
# with few bootstrap requests, chats to all, is managed through the
# control API, loses killed peers (server eviction + peers dropping them),
# and every client endpoint refuses bad input with a JSON 4xx.  A single
# peer stopped with SIGTERM sends /delete.  Processes are ours, stopped
# by PID; every wait is bounded polling.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $CLIENT = repo_root() . '/client/scale-client';
my $N = 50;

ok(-x $CLIENT, 'client/scale-client is built')
    or BAIL_OUT("missing $CLIENT: run `make`");

my %children;


# Why: poll a condition instead of sleeping a guessed time; generous
# bound, so the test asserts behaviour, not speed.
sub wait_for {
    my ($what, $cond, $secs) = @_;
    my $deadline = time + ($secs // 20) * timeout_factor();
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.2;
    }
    diag("timed out waiting for: $what");
    return 0;
}


# Why: the swarm takes base..base+count-1 (plus a few added later);
# pick a run of free ports below the ephemeral range.
sub free_run {
    my ($len) = @_;
    for (1 .. 50) {
        my $base = 20000 + int(rand(10000));
        my @held;
        for my $p ($base .. $base + $len - 1) {
            my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => $p, Listen => 1,
                                          ReuseAddr => 1) or last;
            push @held, $s;
        }
        my $got = @held;
        close $_ for @held;
        return $base if $got == $len;
    }
    die "no run of $len free ports\n";
}


# Why: a client process of ours, output kept in the server's prefix.
sub spawn {
    my ($log, @args) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$log.out" or die;
        open STDERR, '>', "$log.err" or die;
        exec $CLIENT, @args or POSIX::_exit(127);
    }
    $children{$pid} = 1;
    return $pid;
}


# Why: stop one child by PID: TERM, bounded wait, then KILL; returns
# the exit status or undef when it had to be killed.
sub stop_child {
    my ($pid, $secs) = @_;
    return undef unless $children{$pid};
    kill 'TERM', $pid;
    my $deadline = time + ($secs // 10) * timeout_factor();
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $children{$pid};
            return $?;
        }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    delete $children{$pid};
    return undef;
}

END {
    for my $pid (keys %children) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}


# Why: one JSON request to any of our listeners; (code, decoded body).
sub call {
    my ($port, $method, $uri, $body) = @_;
    my $c = ScaleTest::Conn->new(port => $port, timeout => 10);
    my ($code, undef, $text) = eval { $c->request($method, $uri, $body) };
    $c->close;
    return (0, undef) unless defined $code;
    return ($code, json_or_undef($text));
}


sub clients_json {
    my ($cport) = @_;
    my ($code, $j) = call($cport, 'GET', '/clients');
    return $code == 200 ? $j : { clients => [], count => -1 };
}


# --- the bootstrap -------------------------------------------------------

my $srv = ScaleTest::Server->new(
    http_config => <<'CONF',
    scale_zone name=reg size=8m;
    scale_refresh_min 0;
    scale_min_age 1s;
    scale_max_age 5s;
    scale_health_interval 100ms;
    scale_cleanup_interval 200ms;
    scale_health_timeout 1s;
CONF
    config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
CONF
)->start;

my $boot = 'http://127.0.0.1:' . $srv->port;
my $base = free_run($N + 8);
my $cport = free_port();
my $prefix = $srv->prefix;
mkdir "$prefix/chat";

my $swarm = spawn("$prefix/swarm", 'swarm', '--bootstrap', $boot,
                  '--count', $N, '--base-port', $base,
                  '--control', "127.0.0.1:$cport",
                  '--exchange-interval', '250ms', '--peer-fails', '2',
                  '--timeout', '1s', '--progress', '1s',
                  '--data-dir', "$prefix/chat");

ok(wait_for('control API', sub { (call($cport, 'GET', '/clients'))[0] }),
   'control API answers');

# --- registration and membership -----------------------------------------

ok(wait_for("$N registered at the server",
            sub { $srv->status->{clients} == $N }),
   "all $N peers registered (server /status clients == $N)");

ok(wait_for('full membership', sub {
       my $j = clients_json($cport);
       return 0 unless @{ $j->{clients} } == $N;
       return !grep { $_->{known_live} != $N - 1 } @{ $j->{clients} };
   }, 60), 'every peer knows every other live peer');

{
    my $st = $srv->status;
    my $j = clients_json($cport);
    my ($max) = sort { $b <=> $a }
                map { $_->{bootstrap_requests} } @{ $j->{clients} };
    cmp_ok($st->{counters}{connects}, '<=', 2 * $N,
           "bootstrap /connect requests stay small"
           . " ($st->{counters}{connects} for $N peers)");
    cmp_ok($max, '<=', 3, "no peer asked the bootstrap more than 3 times");
}

# --- chat to all ----------------------------------------------------------

my $p0 = $base;
my ($code, $sent) = call($p0, 'POST', '/chat/send',
                         encode_json({ text => 'hello swarm' }));
is($code, 202, 'POST /chat/send to all accepted');
is($sent->{targets}, $N - 1, 'sent to every known peer');

my $mid = $sent->{id} // 'none';
ok(wait_for('message at every peer', sub {
       for my $i (0 .. $N - 1) {
           my ($c, $j) = call($base + $i, 'GET', "/chat/messages?id=$mid");
           return 0 unless $c == 200 && $j->{count} == 1;
       }
       return 1;
   }), "the message reached all $N peers");

ok(wait_for('delivery status', sub {
       my ($c, $j) = call($p0, 'GET', "/chat/messages?id=$mid");
       my $m = $j && $j->{messages}[0];
       return $m && $m->{status} eq 'delivered'
              && $m->{delivered} == $N - 1;
   }), 'the sender sees it delivered to all');

ok(-s "$prefix/chat/peer-1.chat.jsonl", 'peer-1 keeps its chat log');

# a peer that knows only 3 others still reaches all: relays (gossip) carry
# the message to the peers its digest says it does not know
my $lonely_port = free_port();
my $lonely = spawn("$prefix/lonely", '--bootstrap', $boot,
                   '--name', 'lonely', '--listen', "127.0.0.1:$lonely_port",
                   '--max-peers', '3', '--timeout', '1s');
ok(wait_for('lonely registered', sub {
       my ($c, $j) = call($lonely_port, 'GET', '/state');
       return $c == 200 && $j->{registration}{registered} && $j->{known};
   }), 'a peer with --max-peers 3 registered');
($code, $sent) = call($lonely_port, 'POST', '/chat/send',
                      encode_json({ text => 'from a small world' }));
is($code, 202, 'it broadcasts');
cmp_ok($sent->{targets}, '<=', 3, 'to the few peers it knows');
$mid = $sent->{id} // 'none';
ok(wait_for('relayed message at every peer', sub {
       for my $i (0 .. $N - 1) {
           my ($c, $j) = call($base + $i, 'GET', "/chat/messages?id=$mid");
           return 0 unless $c == 200 && $j->{count} == 1;
       }
       return 1;
   }), "gossip relays reached all $N peers");
is(stop_child($lonely), 0, 'lonely peer stopped');
ok(wait_for('lonely gone', sub { $srv->status->{clients} == $N }),
   'and deleted');

# --- control API: add and remove -----------------------------------------

($code, my $add) = call($cport, 'POST', '/add-client', '');
is($code, 200, 'POST /add-client');
my $new = $add->{results}[0] // {};
ok($new->{ok} && $new->{registered}, "added $new->{id}, registered");
ok(wait_for('server sees the new peer',
            sub { $srv->status->{clients} == $N + 1 }),
   'server count rises by one');

my $deletes = $srv->status->{counters}{deletes};
($code, my $rm) = call($cport, 'POST', '/remove-client',
                       encode_json({ id => $new->{id} // '' }));
is($code, 200, 'POST /remove-client');
is($rm->{results}[0]{delete_status}, 200, 'removal sent /delete');
is($srv->status->{clients}, $N, 'server count back');
is($srv->status->{counters}{deletes}, $deletes + 1, 'server counted it');

($code, my $bulk) = call($cport, 'POST', '/bulk-create-clients',
                         encode_json({ count => 3 }));
is($code, 200, 'POST /bulk-create-clients');
is(scalar(grep { $_->{ok} } @{ $bulk->{results} }), 3,
   'three results, all ok');
($code, $rm) = call($cport, 'POST', '/remove-client',
                    encode_json({ ids => [ map { $_->{id} }
                                           @{ $bulk->{results} } ] }));
is($rm->{ok}, 3, 'and removed again');

# --- a clean stop of a single peer sends /delete -------------------------

my $solo_port = free_port();
my $solo = spawn("$prefix/solo", '--bootstrap', $boot, '--name', 'solo',
                 '--listen', "127.0.0.1:$solo_port");
ok(wait_for('solo registered', sub {
       my ($c, $j) = call($solo_port, 'GET', '/state');
       return $c == 200 && $j->{registration}{registered};
   }), 'single peer registered');
is($srv->status->{clients}, $N + 1, 'server counts it');
$deletes = $srv->status->{counters}{deletes};
is(stop_child($solo), 0, 'SIGTERM: the peer exits 0');
is($srv->status->{clients}, $N, 'its entry is gone');
is($srv->status->{counters}{deletes}, $deletes + 1, 'by /delete');

# --- bad input gets a JSON 4xx --------------------------------------------

my @bad = (
    # port, method, uri, body, code
    [$p0, 'GET',    '/nope', undef, 404],
    [$p0, 'PUT',    '/alive', '', 405],
    [$p0, 'GET',    '/contacts', undef, 405],
    [$p0, 'POST',   '/contacts', '{bad', 400],
    [$p0, 'POST',   '/contacts', '[]', 400],
    [$p0, 'POST',   '/contacts', '{}', 400],
    [$p0, 'POST',   '/contacts',
     '{"from":{"id":"a b","addr":"127.0.0.1:1"}}', 400],
    [$p0, 'POST',   '/contacts',
     '{"from":{"id":"x","addr":"10.1.2.3:80"}}', 400],
    [$p0, 'POST',   '/contacts',
     '{"from":{"id":"x","addr":"127.0.0.1:1"},"peers":{}}', 400],
    [$p0, 'POST',   '/contacts',
     '{"from":{"id":"x","addr":"127.0.0.1:1"},"digest":{"bits":"zz"}}',
     400],
    [$p0, 'POST',   '/chat/send', '', 400],
    [$p0, 'POST',   '/chat/send', '{"text":5}', 400],
    [$p0, 'POST',   '/chat/send', '{"text":"x","to":"nobody"}', 404],
    [$p0, 'POST',   '/chat/send', '{"text":"x","to":7}', 400],
    [$p0, 'POST',   '/chat/send',
     encode_json({ text => 'x' x 5000 }), 413],
    [$p0, 'POST',   '/chat/send', '{"text":"' . ('y' x 70000) . '"}', 413],
    [$p0, 'POST',   '/chat/message', '{"id":"m1"}', 400],
    [$p0, 'POST',   '/chat/message',
     '{"id":"m1","from":"a","to":"b","text":"t","ts":-1}', 400],
    [$p0, 'POST',   '/chat/message',
     '{"id":"m1","from":"a","to":"someone-else","text":"t","ts":1}', 404],
    [$p0, 'POST',   '/chat/message',
     '{"id":"m1","from":"a","to":"*","text":"t","ts":1,'
     . '"known":{"bits":"xyz"}}', 400],
    [$p0, 'GET',    '/chat/messages?limit=0', undef, 400],
    [$p0, 'GET',    '/chat/messages?bogus=1', undef, 400],
    [$p0, 'GET',    '/state?x=1', undef, 400],
    [$p0, 'POST',   '/bootstrap/connect', '{"x":1}', 400],
    [$cport, 'GET',  '/nope', undef, 404],
    [$cport, 'GET',  '/add-client', undef, 405],
    [$cport, 'POST', '/add-client', '{"port":"x"}', 400],
    [$cport, 'POST', '/add-client', '{"bogus":1}', 400],
    [$cport, 'POST', '/bulk-create-clients', '{}', 400],
    [$cport, 'POST', '/bulk-create-clients', '{"count":"3"}', 400],
    [$cport, 'POST', '/bulk-create-clients', '{"count":0}', 400],
    [$cport, 'POST', '/bulk-create-clients', '{"count":999999}', 409],
    [$cport, 'POST', '/bulk-create-clients', 'not json', 400],
    [$cport, 'POST', '/remove-client', '{}', 400],
    [$cport, 'POST', '/remove-client', '{"id":5}', 400],
    [$cport, 'POST', '/remove-client', '{"id":"ghost"}', 404],
    [$cport, 'POST', '/remove-client', '{"ids":[],"clean":true}', 400],
    [$cport, 'POST', '/remove-client', '{"id":"peer-1","clean":1}', 400],
);

for my $t (@bad) {
    my ($port, $method, $uri, $body, $want) = @$t;
    my ($c, $j) = call($port, $method, $uri, $body);
    my $what = ($port == $cport ? 'control ' : 'peer ')
               . "$method $uri " . substr($body // '', 0, 40);
    ok($c == $want && ref $j eq 'HASH' && defined $j->{error},
       "$what -> $want {error}")
        or diag("got $c " . encode_json($j // {}));
}

is(clients_json($cport)->{count}, $N, 'bad input changed no membership');

# --- killed peers: evicted by the server, dropped by the others -----------

my @victims = map { "peer-$_" } 40 .. 49;
($code, $rm) = call($cport, 'POST', '/remove-client',
                    encode_json({ ids => \@victims,
                                  clean => JSON::PP::false }));
is($rm->{ok}, 10, 'ten peers vanish without /delete');

ok(wait_for('server evicts them',
            sub { $srv->status->{clients} == $N - 10 }, 60),
   'the health checker evicts the ten');

ok(wait_for('peers drop them', sub {
       my $j = clients_json($cport);
       return 0 unless @{ $j->{clients} } == $N - 10;
       return !grep { $_->{known} != $N - 11 || $_->{known_live} != $N - 11 }
                    @{ $j->{clients} };
   }, 60), 'every remaining peer dropped the ten, and knows the rest');

# --- a clean stop of the swarm -------------------------------------------

is(stop_child($swarm, 20), 0, 'SIGTERM: the swarm exits 0');
is($srv->status->{clients}, 0, 'every peer sent /delete');

my $summary = json_or_undef((split /\n/, $srv->slurp('swarm.out'))[-1]
                            // '');
ok($summary && $summary->{bootstrap}{requests_per_peer} <= 3,
   'the swarm printed its JSON summary');

$srv->finish;

done_testing();
