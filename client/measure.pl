#!/usr/bin/env perl
# Measures a swarm against a real bootstrap: time to full membership,
# bootstrap requests per peer (the server's own counter), and chat
# delivery latency p50/p99 for broadcast messages.  Starts its own nginx
# with the module (prefix in a temp dir) and its own swarm, on loopback,
# and stops both by PID.  The chat phase starts once membership is full:
# one broadcast (64 bytes, to a random peer's POST /chat/send) every
# --msg-ms.  Every wait is bounded.
#
#   client/measure.pl [--count 200] [--msg-ms 200] [--msg-secs 20]
#                     [-- extra scale-client swarm flags]

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use Getopt::Long;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $count = 200;
my $msg_ms = 200;
my $msg_secs = 20;
my $full_secs = 120;
GetOptions('count=i' => \$count, 'msg-ms=i' => \$msg_ms,
           'msg-secs=i' => \$msg_secs, 'full-secs=i' => \$full_secs)
    or die "bad options\n";

my $repo = abs_path(dirname(__FILE__) . '/..');
my $module = $ENV{SCALE_MODULE} // "$repo/build/ngx_scale_module.so";
my $client = "$repo/client/scale-client";
-f $module or die "no module at $module (run make)\n";
-x $client or die "no $client (run make -C client)\n";

my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->canonical;
my @pids;


# Why: ports nobody holds; a run of them for the swarm.
sub free_ports {
    my ($len) = @_;
    for (1 .. 100) {
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


sub get_json {
    my ($url, $method, $body) = @_;
    my $r = $http->request($method // 'GET', $url,
                           defined $body ? { content => $body } : {});
    return $r->{success} ? $json->decode($r->{content}) : undef;
}


# Why: poll, never sleep a guessed time; undef when the bound passed.
sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.1;
    }
    return undef;
}


sub stop_pid {
    my ($pid, $sig) = @_;
    kill $sig // 'TERM', $pid;
    my $deadline = time + 15;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

END { stop_pid($_) for reverse @pids; }


my $dir = tempdir('scale-measure-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/logs";
my $port = free_ports(1);
my $base = free_ports($count);
my $cport = free_ports(1);

open my $fh, '>', "$dir/nginx.conf" or die;
print $fh <<"CONF";
load_module $module;
worker_processes 2;
daemon off;
error_log $dir/logs/error.log warn;
pid $dir/logs/nginx.pid;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    scale_zone name=reg size=16m;
    scale_refresh_min 1s;
    server {
        listen 127.0.0.1:$port;
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
    }
}
CONF
close $fh;

my $pid = fork // die;
if ($pid == 0) {
    { exec '/usr/sbin/nginx', '-p', $dir, '-c', "$dir/nginx.conf" }
    POSIX::_exit(127);
}
push @pids, $pid;
wait_for(10, sub { get_json("http://127.0.0.1:$port/status") })
    or die "nginx did not start\n";

my @cmd = ($client, 'swarm', '--bootstrap', "http://127.0.0.1:$port",
           '--count', $count, '--base-port', $base,
           '--control', "127.0.0.1:$cport", '--progress', '5s', @ARGV);
print "# nginx 127.0.0.1:$port, swarm: @cmd[1 .. $#cmd]\n";

$pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>', "$dir/swarm.out";
    open STDERR, '>', "$dir/swarm.err";
    { exec @cmd }
    POSIX::_exit(127);
}
push @pids, $pid;

my $ctl = "http://127.0.0.1:$cport";
my $m = wait_for($full_secs, sub {
    my $j = get_json("$ctl/metrics");
    return $j && $j->{full_membership} ? $j : undef;
});
die "no full membership within ${full_secs}s\n" . `tail -3 $dir/swarm.err`
    unless $m;

my $st = get_json("http://127.0.0.1:$port/status");
printf "peers                        %d (registered %d at the server)\n",
       $count, $st->{clients};
printf "time to full membership      %.2f s\n",
       $m->{full_membership_ms} / 1000;
printf "bootstrap requests per peer  %.2f (server connects %d)\n",
       $st->{counters}{connects} / $count, $st->{counters}{connects};

get_json("$ctl/reset-metrics", 'POST', '');
my $t0 = time;
for my $i (0 .. int($msg_secs * 1000 / $msg_ms) - 1) {
    my $due = $t0 + $i * $msg_ms / 1000;
    sleep($due - time) if $due > time;
    my $peer = $base + int(rand($count));
    get_json("http://127.0.0.1:$peer/chat/send", 'POST',
             $json->encode({ to => '*', text => 'x' x 64 }));
}
sleep 2;
$m = get_json("$ctl/metrics");
my $msg = $m->{messages};
printf "broadcasts                   %d in %d s (one every %d ms)\n",
       $msg->{sent}, $msg_secs, $msg_ms;
printf "deliveries                   %d (%.0f/s), failed %d\n",
       $msg->{delivered}, $msg->{delivered} / $msg_secs,
       $msg->{deliveries_failed};
printf "delivery latency             p50 %d ms, p99 %d ms\n",
       $msg->{latency_ms}{p50}, $msg->{latency_ms}{p99};

$st = get_json("http://127.0.0.1:$port/status");
printf "bootstrap requests per peer  %.2f after the chat phase\n",
       $st->{counters}{connects} / $count;
