# The embedded default persistence, scale_data_dir: the registry survives
# nginx -s quit, SIGTERM and SIGINT (the master saves on its way out), a
# crash (worker 0 saved it periodically), and a missing, corrupt,
# truncated or future-version snapshot never stops the server: it starts
# with what it could read, says where the file is bad, and keeps the bad
# file aside once a good one has replaced it.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use Compress::Zlib qw(crc32);
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);

my $DATA = repo_root() . '/t/servroot/030-data-dir/data';
my $T = timeout_factor();

run_tests();


# Why: every scenario gets its own data directory, outside the server
# prefix (which the harness wipes on start).
my $dirs = 0;
sub data_dir {
    my $d = $DATA . '-' . ++$dirs;
    remove_tree($d);
    return $d;
}


sub new_server {
    my ($dir, %o) = @_;
    my $interval = $o{interval} // '200ms';
    return ScaleTest::Server->new(
        workers => $o{workers} // 2,
        http_config => <<"CONF",
    scale_zone name=reg size=4m;
    scale_refresh_min 0;
    scale_min_age 1h;
    scale_max_age 2h;
    scale_data_dir $dir;
    scale_snapshot_interval $interval;
CONF
        config => <<'CONF',
        location = /connect { scale_connect; }
        location = /delete  { scale_delete; }
        location = /status  { scale_status; }
        location = /status/check { scale_check; }
        location = /status/clients { scale_clients; }
CONF
    );
}


sub register {
    my ($srv, $prefix, $n, $json) = @_;
    my $c = $srv->conn;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $body = $json
            ? encode_json({ id => "$prefix-$i", name => "n-$prefix-$i",
                            addr => "10.1.0.$i:8080" })
            : "$prefix-$i";
        my ($code) = $c->post('/connect', $body);
        $ok++ if $code == 200;
    }
    $c->close;
    return $ok;
}


sub consistent {
    my ($srv, $what) = @_;
    my ($code, undef, $body) = $srv->request('GET', '/status/check');
    my $doc = json_or_undef($body) // {};
    ok($code == 200 && ($doc->{errors} // 1) == 0,
       "$what: hashset, dense array and heap agree")
        or diag($body);
}


# Why: a signal other than QUIT, as a user or a supervisor sends it; the
# harness' stop() is then a no-op on a dead master.
sub stop_with {
    my ($srv, $sig) = @_;
    kill $sig, $srv->pid;
    my $deadline = time + 10 * $T;
    sleep 0.05 while $srv->alive($srv->pid) && time < $deadline;
    ok(!$srv->alive($srv->pid), "nginx exited on SIG$sig");
    my $log = $srv->error_log;
    $srv->stop;
    return $log;
}


sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    local $/;
    return <$fh>;
}


sub spew {
    my ($path, $text) = @_;
    make_path($path =~ s{/[^/]+\z}{}r);
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}


# Why: snapshots written by the test itself, in the documented format.
sub snapshot_text {
    my (@lines) = @_;
    my $body = join '', map { "$_\n" } @lines;
    return "ngx_scale snapshot 1 zone=reg saved=0\n" . $body
           . sprintf("end %d %08x\n", scalar @lines, crc32($body));
}


sub entry_lines {
    my ($prefix, $n) = @_;
    return map { "$prefix-$_ $prefix-$_ - 1700000000 1700000000000" }
           1 .. $n;
}


subtest 'nginx -s quit keeps 1,000 names, with names and addresses' => sub {
    my $dir = data_dir();
    my $srv = new_server($dir);
    $srv->start;

    is(register($srv, 'quit', 1000), 1000, '1,000 plain names registered');
    is(register($srv, 'json', 10, 1), 10, '10 JSON clients with addresses');
    is($srv->status->{clients}, 1010, '1,010 clients');

    $srv->stop;
    my $log = $srv->error_log;
    like($log, qr/saved 1010 entries to "[^"]+reg\.snapshot" on exit/,
         'the master saved on exit');

    my $file = slurp("$dir/reg.snapshot") // '';
    like($file, qr/\Angx_scale snapshot 1 zone=reg saved=\d+\n/,
         'versioned header');
    like($file, qr/\nend 1010 [0-9a-f]{8}\n\z/, 'end line counts 1,010');

    $srv->start;
    my $st = $srv->status;
    is($st->{clients}, 1010, 'all 1,010 back after the restart');
    is($st->{persistence}{loaded}, 1010, '/status persistence.loaded');
    is($st->{persistence}{load_problems}, 0, 'no load problems');
    like($srv->error_log, qr/loaded 1010 entries from .* 0 problems/,
         'the load is logged');
    consistent($srv, 'after the load');

    my (undef, undef, $body) = $srv->request('GET',
                                             '/status/clients?q=json-7');
    my $page = json_or_undef($body) // {};
    my ($e) = grep { $_->{id} eq 'json-7' } @{ $page->{clients} || [] };
    is($e && $e->{name}, 'n-json-7', 'name kept');
    is($e && $e->{addr}, '10.1.0.7:8080', 'address kept');

    my (undef, undef, $peers) = $srv->request('POST', '/connect', 'fresh');
    is(scalar @{ json_or_undef($peers) // [] }, 5,
       'loaded entries are handed out');

    $srv->finish;
};


for my $sig (qw(TERM INT)) {
    subtest "SIG$sig keeps the registry" => sub {
        my $dir = data_dir();
        my $srv = new_server($dir, interval => '1h');
        $srv->start;

        is(register($srv, lc $sig, 200), 200, '200 names registered');
        ok(!-e "$dir/reg.snapshot", 'no periodic save yet (interval 1h)');

        my $log = stop_with($srv, $sig);
        like($log, qr/saved 200 entries .* on exit/, 'saved on exit');

        $srv->start;
        is($srv->status->{clients}, 200, 'all 200 back');
        $srv->finish;
    };
}


subtest 'worker 0 saves periodically: a crash loses nothing older' => sub {
    plan skip_all => 'SIGKILL of valgrind-run processes' if valgrind();

    my $dir = data_dir();
    my $srv = new_server($dir, interval => '200ms');
    $srv->start;

    is(register($srv, 'crash', 300), 300, '300 names registered');

    my $st;
    my $deadline = time + 5;
    while (time < $deadline) {
        $st = $srv->status;
        last if $st->{persistence}{saves} >= 1
                && $st->{persistence}{pending_changes} == 0;
        sleep 0.1;
    }
    is($st->{persistence}{pending_changes}, 0, 'saved within the interval');
    is($st->{persistence}{last_save_entries}, 300, '300 entries saved');

    my @pids = ($srv->pid, $srv->worker_pids);
    kill 'KILL', @pids;
    sleep 0.05 while grep { $srv->alive($_) } @pids;
    $srv->stop;

    ok(!glob("$dir/reg.snapshot.tmp.*"), 'no temporary file left');

    $srv->start;
    is($srv->status->{clients}, 300, 'all 300 back after SIGKILL');
    consistent($srv, 'after a crash');
    $srv->finish;
};


subtest 'a missing file starts empty' => sub {
    my $dir = data_dir();
    my $srv = new_server($dir);
    $srv->start;
    is($srv->status->{clients}, 0, 'empty');
    like($srv->error_log, qr/no snapshot "[^"]+" yet, starting empty/,
         'said so');
    ok(-d $dir, 'the directory was made');
    $srv->finish;
};


subtest 'a corrupt line is reported with line and offset, the rest loads'
    => sub {
    my $dir = data_dir();
    my $text = snapshot_text(entry_lines('good', 100));
    $text =~ s/\ngood-50 [^\n]+\n/\nthis line is not an entry\n/;
    spew("$dir/reg.snapshot", $text);
    my $offset = index $text, 'this line';

    my $srv = new_server($dir);
    $srv->start;

    is($srv->status->{clients}, 99, 'the 99 good entries are loaded');
    my $log = $srv->error_log;
    like($log, qr/"[^"]+reg\.snapshot" line 51 \(byte $offset\): more than 5 fields/,
         'the bad line is named by line and byte offset')
        or diag($log);
    like($log, qr/checksum mismatch/, 'the checksum disagrees too');
    like($log, qr/kept as "[^"]+reg\.snapshot\.corrupt-\d+"/,
         'the bad file is kept aside');

    my ($kept) = glob("$dir/reg.snapshot.corrupt-*");
    is(slurp($kept // '/nonexistent'), $text, 'byte for byte');
    like(slurp("$dir/reg.snapshot"), qr/\nend 99 [0-9a-f]{8}\n\z/,
         'a good snapshot of what was read replaced it');
    is($srv->status->{persistence}{load_problems}, 2, 'two problems');
    consistent($srv, 'after a corrupt file');

    $srv->stop;
    $srv->start;
    is($srv->status->{clients}, 99, 'the rewritten file loads');
    like($srv->error_log, qr/loaded 99 entries .* 0 problems/, 'cleanly');
    $srv->finish;
};


subtest 'a truncated file loads up to the cut' => sub {
    my $dir = data_dir();
    my $text = snapshot_text(entry_lines('cut', 1000));
    my $cut = index($text, "\ncut-500 ") + 10;
    spew("$dir/reg.snapshot", substr($text, 0, $cut));

    my $srv = new_server($dir);
    $srv->start;

    is($srv->status->{clients}, 499, 'the 499 whole lines are loaded');
    my $log = $srv->error_log;
    like($log, qr/line 501 \(byte \d+\): the file is truncated/,
         'the cut is reported with its line');
    my ($kept) = glob("$dir/reg.snapshot.corrupt-*");
    is(length(slurp($kept // '/nonexistent') // ''), $cut,
       'the truncated file is kept aside whole');
    like(slurp("$dir/reg.snapshot"), qr/\nend 499 [0-9a-f]{8}\n\z/,
         'and replaced by a good one');
    $srv->finish;
};


subtest 'a file cut after the last entry (no end line) is truncated too'
    => sub {
    my $dir = data_dir();
    my $text = snapshot_text(entry_lines('noend', 20));
    $text =~ s/end \d+ [0-9a-f]+\n\z//;
    spew("$dir/reg.snapshot", $text);

    my $srv = new_server($dir);
    $srv->start;
    is($srv->status->{clients}, 20, 'all 20 entries are loaded');
    like($srv->error_log, qr/truncated: no end line after 20 entries/,
         'the missing end line is reported');
    $srv->finish;
};


subtest 'invalid identities are skipped, the others loaded' => sub {
    my $dir = data_dir();
    my @lines = entry_lines('ok', 10);
    push @lines, 'bad!id bad!id - 1 1', 'x y not-an-address 1 1',
                 'z z - notanumber 1';
    spew("$dir/reg.snapshot", snapshot_text(@lines));

    my $srv = new_server($dir);
    $srv->start;
    is($srv->status->{clients}, 10, 'the 10 valid entries');
    my $log = $srv->error_log;
    like($log, qr/line 12 .*"bad!id" is not a valid identity/, 'bad id');
    like($log, qr/line 13 .*"x" is not a valid identity/, 'bad address');
    like($log, qr/line 14 .*bad time fields/, 'bad number');
    $srv->finish;
};


subtest 'a snapshot of an unknown version is not loaded, nor lost' => sub {
    my $dir = data_dir();
    my $text = "ngx_scale snapshot 2 zone=reg saved=0\nwhatever v2 holds\n";
    spew("$dir/reg.snapshot", $text);

    my $srv = new_server($dir);
    $srv->start;
    is($srv->status->{clients}, 0, 'starts empty');
    like($srv->error_log, qr/line 1 \(byte 0\): snapshot version "2" is not/,
         'the version is named');
    my ($kept) = glob("$dir/reg.snapshot.corrupt-*");
    is(slurp($kept // '/nonexistent'), $text, 'the file is kept aside');
    $srv->finish;
};


subtest 'deletes are saved too; a reload keeps the zone and loads nothing'
    => sub {
    my $dir = data_dir();
    my $srv = new_server($dir);
    $srv->start;

    register($srv, 'del', 50);
    for my $i (1 .. 10) {
        my ($code) = $srv->request('POST', '/delete', "del-$i");
        is($code, 200, "del-$i deleted") if $i == 1;
    }

    $srv->reload;
    is($srv->status->{clients}, 40, 'a reload keeps the zone');
    my $loads = () = $srv->error_log =~ /scale data dir: (loaded|no snapshot)/g;
    is($loads, 1, 'the file is read once, at start, not on reload');

    $srv->stop;
    $srv->start;
    is($srv->status->{clients}, 40, '40 after a restart');
    my (undef, undef, $body) = $srv->request('POST', '/delete', 'del-3');
    like($body, qr/not found/, 'a deleted name stays deleted');
    $srv->finish;
};


done_testing();

__DATA__

=== TEST 1: scale_data_dir needs a zone
--- http_config
scale_data_dir data;
--- config
location = / { scale_health; }
--- must_die
--- error_log
"scale_data_dir" and "scale_redis" need a "scale_zone"

=== TEST 2: scale_snapshot_interval has a floor
--- http_config
scale_zone name=reg size=1m;
scale_data_dir data;
scale_snapshot_interval 10ms;
--- config
location = / { scale_health; }
--- must_die
--- error_log
invalid value: 100ms at least

=== TEST 3: scale_data_dir is not repeated
--- http_config
scale_zone name=reg size=1m;
scale_data_dir data;
scale_data_dir other;
--- config
location = / { scale_health; }
--- must_die
--- error_log
"scale_data_dir" directive is duplicate

=== TEST 4: /status says where and when
--- http_config
scale_zone name=reg size=1m;
scale_data_dir data;
--- config
location = /status { scale_status; }
--- request
GET /status
--- error_code: 200
--- response_body_like
"persistence":\{"enabled":true,"file":"[^"]+/data/reg.snapshot","interval":5000,
