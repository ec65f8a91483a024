package ScaleTest;

# A small Test::Nginx-style harness for ngx_scale: data-driven blocks
# (=== TEST n / --- section) plus a Perl API (ScaleTest::Server,
# ScaleTest::Conn) for multi-step scenarios.  See t/README.md.

use strict;
use warnings;

use Test::Base -base;
use Test::LongString qw(is_string);
use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(sleep);

our @EXPORT = qw(
    run_tests repeat_each server decode_json encode_json json_or_undef
    free_port valgrind worker_count timeout_factor repo_root
    note explain subtest
);

my $REPO = abs_path(dirname(__FILE__) . '/../..');
my $NGINX = $ENV{SCALE_NGINX} || '/usr/sbin/nginx';
my $VALGRIND = $ENV{SCALE_VALGRIND} ? 1 : 0;
my $LOG_LEVEL = $ENV{SCALE_LOG_LEVEL} || 'info';
my $REPEAT = $ENV{SCALE_REPEAT} || 1;
my $SERVROOT = $ENV{SCALE_SERVROOT} || "$REPO/t/servroot";
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

my $current_server;


# Why: the repo root anchors t/servroot and the default module path.
sub repo_root { return $REPO }


# Why: Test::Base re-exports most of Test::More but not these three.
sub note    { return Test::More::note(@_) }
sub explain { return Test::More::explain(@_) }
sub subtest { return Test::More::subtest(@_) }


# Why: tests may adapt to valgrind (slow; some skip process kills).
sub valgrind { return $VALGRIND }


# Why: one slack factor for every wait, so valgrind runs do not time out.
sub timeout_factor { return $VALGRIND ? 10 : 1 }


# Why: the number of worker processes a test gets: the block's own
# figure, else SCALE_WORKERS, else 2.
sub worker_count {
    my ($asked) = @_;
    return $asked || $ENV{SCALE_WORKERS} || 2;
}


# Why: Test::Nginx's repeat_each, so plans read the same; SCALE_REPEAT=n.
sub repeat_each { return $REPEAT }


# Why: a block's --- setup code reaches the running server through this.
sub server { return $current_server }


# Why: response bodies are JSON; tests decode them in one call.
sub decode_json { return $JSON->decode($_[0]) }


# Why: tests build JSON request bodies with stable key order.
sub encode_json { return $JSON->encode($_[0]) }


# Why: decode without dying, so a malformed body fails one check only.
sub json_or_undef {
    my ($text) = @_;
    my $v = eval { $JSON->decode($text) };
    return $v;
}


my %ports_given;

# Why: each server needs a port nobody uses; the kernel picks one for
# a socket bound to port 0, and we remember it to avoid handing it twice.
sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Listen => 1,
                                      ReuseAddr => 1, Proto => 'tcp')
            or die "cannot bind a free port: $!";
        my $port = $s->sockport;
        close $s;
        next if $ports_given{$port}++;
        return $port;
    }
    die "no free port found";
}


# Why: the module under test; a missing .so must stop the run loudly
# (CI must never pass without having loaded the module).
sub module_path {
    my $path = $ENV{SCALE_MODULE};
    $path = "$REPO/build/ngx_scale_module.so" unless defined $path;
    return undef if $path eq 'none';
    if (!-f $path) {
        Test::More::BAIL_OUT("nginx module not found: $path (run `make`"
                             . " or set SCALE_MODULE)");
    }
    return abs_path($path);
}


# Why: entry point of a data-driven .t file: every block, repeat_each
# times, each as one subtest (so a file's plan is blocks * repeat_each).
sub run_tests {
    for my $block (Test::Base::blocks()) {
        for my $round (1 .. $REPEAT) {
            my $name = $block->name;
            $name .= " (repeat $round)" if $REPEAT > 1;
            Test::More::subtest($name => sub { run_block_safely($block) });
        }
    }
}


# Why: a dying check must fail its block, not kill the file, and must
# not leave nginx running.
sub run_block_safely {
    my ($block) = @_;
    my $srv;
    my $ok = eval { $srv = run_block($block); 1 };
    if (!$ok) {
        my $err = $@;
        Test::More::fail("block ran to the end");
        Test::More::diag($err);
        if ($srv || $current_server) {
            my $s = $srv || $current_server;
            Test::More::diag("error log tail:\n" . tail($s->error_log, 20));
            $s->stop;
        }
    }
    $current_server = undef;
}


# Why: the last lines of a log are what explains a failure.
sub tail {
    my ($text, $n) = @_;
    my @lines = split /\n/, $text // '';
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join("\n", @lines) . "\n";
}


# Why: a section's value as a list of lines (or the list an eval gave);
# blank lines are dropped.
sub lines_of {
    my ($block, $section) = @_;
    my @v = $block->$section;
    return () unless @v && defined $v[0];
    return @{ $v[0] } if @v == 1 && ref $v[0] eq 'ARRAY';
    return map { ref $_ ? $_ : (grep { /\S/ } split /\n/, $_) } @v;
}


# Why: a section's value as one scalar or arrayref (eval may give either).
sub value_of {
    my ($block, $section) = @_;
    my @v = $block->$section;
    return undef unless @v;
    return $v[0] if @v == 1;
    return \@v;
}


# Why: multi-request blocks take per-response expectations from arrays;
# a plain value applies to every response.
sub expect_for {
    my ($expect, $i) = @_;
    return ref $expect eq 'ARRAY' ? $expect->[$i] : $expect;
}


# Why: the sections that configure nginx are the same for both paths
# (start and must_die).
sub server_for_block {
    my ($block) = @_;
    my $timeout = value_of($block, 'timeout');
    my $n = $block->seq_num;
    return ScaleTest::Server->new(
        dir          => 'TEST-' . $n,
        main_config  => value_of($block, 'main_config') // '',
        http_config  => value_of($block, 'http_config') // '',
        config       => value_of($block, 'config') // '',
        workers      => value_of($block, 'workers'),
        log_level    => value_of($block, 'log_level'),
        listen       => value_of($block, 'listen') // '',
        client_timeout => defined $timeout ? $timeout + 0 : undef,
    );
}


# Why: one block = start nginx, send, check, stop, check the logs.
sub run_block {
    my ($block) = @_;

    if (exists $block->{skip_valgrind} && $VALGRIND) {
        Test::More::plan(skip_all => 'skipped under valgrind');
    }
    if (exists $block->{must_die}) {
        run_must_die($block);
        return undef;
    }

    my $srv = server_for_block($block);
    $current_server = $srv;
    $srv->start;

    my $setup = value_of($block, 'setup');
    if (defined $setup) {
        local $_ = $srv;
        my $code = ref $setup eq 'CODE' ? $setup : eval "sub { $setup }";
        die "--- setup does not compile: $@" unless $code;
        $code->($srv);
    }

    my @responses = send_block_requests($block, $srv);
    check_responses($block, \@responses);

    $srv->stop;
    check_logs($block, $srv->error_log, $srv);
    return $srv;
}


# Why: the --- request / --- pipelined_requests / --- raw_request forms
# all end as a list of parsed responses.
sub send_block_requests {
    my ($block, $srv) = @_;
    my @headers = map { /^\s*([^:\s]+)\s*:\s*(.*?)\s*$/ ? [$1, $2] : () }
                  lines_of($block, 'more_headers');
    my $conn = $srv->conn;

    my $raw = value_of($block, 'raw_request');
    if (defined $raw) {
        my @pieces = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        for my $i (0 .. $#pieces) {
            $conn->send_raw($pieces[$i]);
            sleep 0.05 if $i < $#pieces;
        }
        my $n = value_of($block, 'raw_responses') // 1;
        return map { $conn->read_response('GET') } 1 .. $n;
    }

    my $pipelined = value_of($block, 'pipelined_requests');
    if (defined $pipelined) {
        my @reqs = map { parse_request_text($_) }
                   ref $pipelined eq 'ARRAY' ? @$pipelined : ($pipelined);
        $conn->send_raw(join '', map {
            ScaleTest::Conn::build_request(@$_{qw(method uri body)},
                                           \@headers, $_->{proto})
        } @reqs);
        return map { $conn->read_response($_->{method}) } @reqs;
    }

    my $request = value_of($block, 'request');
    die "block has no --- request, --- pipelined_requests or --- raw_request"
        unless defined $request;
    my @reqs = map { parse_request_text($_) }
               ref $request eq 'ARRAY' ? @$request : ($request);
    my @responses;
    for my $r (@reqs) {
        $conn->request($r->{method}, $r->{uri}, $r->{body}, \@headers,
                       $r->{proto});
        push @responses, $conn->last_response;
    }
    $conn->close;
    return @responses;
}


# Why: "METHOD URI [PROTO]" on the first line, the body after it; the
# final newline of the section is not part of the body (like curl -d).
sub parse_request_text {
    my ($text) = @_;
    my ($line, $body) = split /\n/, $text, 2;
    my ($method, $uri, $proto) = split ' ', $line // '';
    die "bad --- request line: '" . ($line // '') . "'" unless $uri;
    if (defined $body) {
        $body =~ s/\n\z//;
    }
    return { method => $method, uri => $uri, body => $body,
             proto => $proto };
}


# Why: compare what came back with every response section of the block.
sub check_responses {
    my ($block, $responses) = @_;
    my $n = @$responses;

    my $codes = value_of($block, 'error_code');
    my $body = value_of($block, 'response_body');
    my $body_like = value_of($block, 'response_body_like');
    my $body_json = value_of($block, 'response_body_json');
    my $hdrs = value_of($block, 'response_headers');
    my $hdrs_like = value_of($block, 'response_headers_like');

    for my $i (0 .. $n - 1) {
        my $r = $responses->[$i];
        my $tag = $n > 1 ? "response $i: " : '';

        my $code = expect_for($codes, $i);
        if (defined $code) {
            $code =~ s/^\s+|\s+$//g;
            Test::More::is($r->{code}, $code, "${tag}status code")
                or Test::More::diag("body: $r->{body}");
        }

        my $want = expect_for($body, $i);
        if (defined $want) {
            (my $got = $r->{body}) =~ s/\n\z//;
            $want =~ s/\n\z//;
            is_string($got, $want, "${tag}response body");
        }

        my $like = expect_for($body_like, $i);
        if (defined $like) {
            my $re = ref $like eq 'Regexp' ? $like : do {
                (my $p = $like) =~ s/\n\z//;
                qr/$p/s;
            };
            Test::More::like($r->{body}, $re, "${tag}response body like");
        }

        my $json = expect_for($body_json, $i);
        if (defined $json) {
            my $got = json_or_undef($r->{body});
            my $exp = ref $json ? $json : decode_json($json);
            Test::More::is_deeply($got, $exp, "${tag}response body as JSON")
                or Test::More::diag("body: $r->{body}");
        }

        check_header_lines($r, expect_for($hdrs, $i), 0, $tag);
        check_header_lines($r, expect_for($hdrs_like, $i), 1, $tag);
    }
}


# Why: "Name: value" (exact or regex) and "!Name" (absent) lines.
sub check_header_lines {
    my ($r, $spec, $is_like, $tag) = @_;
    return unless defined $spec;
    my @lines = ref $spec eq 'ARRAY' ? @$spec : split /\n/, $spec;
    for my $line (grep { /\S/ } @lines) {
        if ($line =~ /^\s*!\s*(\S+?)\s*:?\s*$/) {
            Test::More::ok(!defined $r->{headers}{lc $1},
                           "${tag}header $1 absent")
                or Test::More::diag("$1: $r->{headers}{lc $1}");
            next;
        }
        my ($name, $value) = $line =~ /^\s*([^:\s]+)\s*:\s*(.*?)\s*$/
            or die "bad header expectation line: '$line'";
        my $got = $r->{headers}{lc $name};
        if ($is_like) {
            Test::More::like($got // '', qr/$value/, "${tag}header $name like");
        } else {
            Test::More::is($got, $value, "${tag}header $name");
        }
    }
}


# Why: a block's own --- error_log may expect a level we otherwise
# forbid (e.g. a test about [crit] on purpose).
sub allowed_levels {
    my (@expected) = @_;
    my %allow;
    for my $e (@expected) {
        next if ref $e;
        $allow{$1} = 1 while $e =~ /\[(alert|emerg|crit)\]/g;
    }
    return %allow;
}


# Why: --- error_log / --- no_error_log plus the checks every block gets
# (no [alert]/[emerg]/[crit], no sanitizer report, valgrind clean).
sub check_logs {
    my ($block, $log, $srv) = @_;
    my @want = lines_of($block, 'error_log');
    my @not = lines_of($block, 'no_error_log');
    for my $w (@want) {
        if (ref $w eq 'Regexp') {
            Test::More::like($log, $w, "error log matches $w");
        } else {
            Test::More::ok(index($log, $w) >= 0, "error log has '$w'");
        }
    }
    for my $w (@not) {
        if (ref $w eq 'Regexp') {
            Test::More::unlike($log, $w, "error log does not match $w");
        } else {
            Test::More::ok(index($log, $w) < 0, "error log lacks '$w'")
                or Test::More::diag(join "\n", grep { index($_, $w) >= 0 }
                                    split /\n/, $log);
        }
    }
    return unless $srv;
    my @problems = $srv->log_problems(allowed_levels(@want));
    Test::More::ok(!@problems, 'logs clean (no alert/emerg/crit/sanitizer)')
        or Test::More::diag(join "\n", @problems);
}


# Why: nginx must refuse the configuration, with a message naming what
# is wrong (checked against its stderr and error log).
sub run_must_die {
    my ($block) = @_;
    my $srv = server_for_block($block);
    $srv->{valgrind} = 0;
    my ($started, $out) = $srv->try_start;
    Test::More::ok(!$started, 'nginx refused to start')
        or Test::More::diag("nginx started although the block says"
                            . " --- must_die");
    $srv->stop if $started;
    my $text = $out . "\n" . $srv->error_log;
    Test::More::note("nginx said: $out");
    check_logs($block, $text, undef);
    my @san = grep { /AddressSanitizer|LeakSanitizer|runtime error:/ }
              split /\n/, $text;
    Test::More::ok(!@san, 'no sanitizer report') or
        Test::More::diag(join "\n", @san);
}


package ScaleTest::Server;

# One nginx instance in its own prefix under t/servroot/.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

my %instances;
my %live_pids;


# Why: gather the configuration; nothing runs until start().
sub new {
    my ($class, %o) = @_;
    my $base = File::Basename::basename($0, '.t');
    my $dir = $o{dir} // 'srv-' . ++$instances{$base};
    my $self = bless {
        main_config => $o{main_config} // '',
        http_config => $o{http_config} // '',
        config      => $o{config} // '',
        workers     => ScaleTest::worker_count($o{workers}),
        log_level   => $o{log_level} // $LOG_LEVEL,
        listen      => $o{listen} // '',
        timeout     => ($o{timeout} // 10) * ScaleTest::timeout_factor(),
        client_timeout => defined $o{client_timeout}
            ? $o{client_timeout} * ScaleTest::timeout_factor() : undef,
        prefix      => "$SERVROOT/$base/$dir",
        valgrind    => $o{valgrind} // $VALGRIND,
        module      => exists $o{module} ? $o{module}
                                         : ScaleTest::module_path(),
        port        => $o{port} // ScaleTest::free_port(),
        port2       => ScaleTest::free_port(),
        running     => 0,
    }, $class;
    return $self;
}


sub port    { return $_[0]{port} }
sub port2   { return $_[0]{port2} }
sub prefix  { return $_[0]{prefix} }
sub pid     { return $_[0]{pid} }
sub workers { return $_[0]{workers} }


# Why: tests write $SCALE_PORT etc. in config text (e.g. fake backends).
sub expand {
    my ($self, $text) = @_;
    $text =~ s/\$SCALE_PORT_2\b/$self->{port2}/g;
    $text =~ s/\$SCALE_PORT\b/$self->{port}/g;
    $text =~ s/\$SCALE_PREFIX\b/$self->{prefix}/g;
    return $text;
}


# Why: the whole nginx.conf of a test, everything inside the prefix.
sub conf_text {
    my ($self) = @_;
    my $p = $self->{prefix};
    my $load = defined $self->{module}
        ? "load_module $self->{module};\n" : '';
    my $procs = "master_process on;\n"
        . ($self->{valgrind} ? "daemon off;\n" : "daemon on;\n")
        . "worker_processes $self->{workers};\n";
    my $listen = $self->{listen} ne '' ? " $self->{listen}" : '';
    return $self->expand(<<"CONF");
# generated by t/lib/ScaleTest.pm
$load${procs}error_log $p/logs/error.log $self->{log_level};
pid $p/logs/nginx.pid;

$self->{main_config}

events {
    worker_connections 1024;
}

http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $p/client_body_temp;
    proxy_temp_path $p/proxy_temp;
    fastcgi_temp_path $p/fastcgi_temp;
    uwsgi_temp_path $p/uwsgi_temp;
    scgi_temp_path $p/scgi_temp;

$self->{http_config}

    server {
        listen 127.0.0.1:$self->{port}$listen;
        server_name localhost;

$self->{config}
    }
}
CONF
}


# Why: (re)write conf/nginx.conf, e.g. before a reload.
sub write_conf {
    my ($self) = @_;
    make_path("$self->{prefix}/conf", "$self->{prefix}/logs",
              "$self->{prefix}/html");
    open my $fh, '>', "$self->{prefix}/conf/nginx.conf" or die "conf: $!";
    print $fh $self->conf_text;
    close $fh;
}


# Why: start and insist it worked; what most tests want.
sub start {
    my ($self) = @_;
    my ($ok, $out) = $self->try_start;
    die "nginx failed to start:\n$out\n" unless $ok;
    return $self;
}


# Why: start nginx in a fresh prefix; returns (1, '') when it listens,
# (0, what nginx said) when it refused (the --- must_die case).
sub try_start {
    my ($self) = @_;
    die "already running" if $self->{running};
    remove_tree($self->{prefix});
    $self->write_conf;
    my $p = $self->{prefix};
    my @cmd = ($NGINX, '-p', "$p/", '-c', "$p/conf/nginx.conf");
    if ($self->{valgrind}) {
        my @vg = ('valgrind', '-q', "--log-file=$p/logs/valgrind.%p.log",
                  split(' ', $ENV{SCALE_VALGRIND_OPTS} // ''));
        push @vg, "--suppressions=$ENV{SCALE_VALGRIND_SUPP}"
            if $ENV{SCALE_VALGRIND_SUPP};
        @cmd = (@vg, @cmd);
    }

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$p/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        # e.g. the sanitizer runtimes for nginx only (make asan-test)
        for my $kv (split ' ', $self->expand($ENV{SCALE_NGINX_ENV} // '')) {
            my ($k, $v) = split /=/, $kv, 2;
            $ENV{$k} = $v // '';
        }
        exec @cmd or POSIX::_exit(127);
    }

    if ($self->{valgrind}) {
        $self->{pid} = $pid;
        $self->{child} = 1;
    } else {
        waitpid $pid, 0;
        my $rc = $? >> 8;
        return (0, $self->slurp('logs/stderr.log')) if $? != 0;
        $self->{pid} = $self->wait_pid_file
            or return (0, "no pid file\n" . $self->slurp('logs/stderr.log'));
        $self->{child} = 0;
    }
    $self->{running} = 1;
    $live_pids{$self->{pid}} = 1;

    if (!$self->wait_port) {
        my $out = $self->slurp('logs/stderr.log') . $self->error_log;
        $self->stop;
        return (0, "nginx does not accept on port $self->{port}\n$out");
    }
    if (!$self->wait_workers) {
        my $out = $self->error_log;
        $self->stop;
        return (0, "not all $self->{workers} workers came up\n$out");
    }
    return (1, '');
}


# Why: a daemonized master is not our child; its pid file names it.
sub wait_pid_file {
    my ($self) = @_;
    my $deadline = time + $self->{timeout};
    while (time < $deadline) {
        my $pid = $self->slurp('logs/nginx.pid');
        return $1 if $pid =~ /^(\d+)/;
        sleep 0.02;
    }
    return undef;
}


# Why: nginx is ready when the port accepts; give up if it dies first.
sub wait_port {
    my ($self) = @_;
    my $deadline = time + $self->{timeout};
    while (time < $deadline) {
        return 0 unless $self->alive($self->{pid});
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port},
                                      Proto => 'tcp', Timeout => 1);
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.02;
    }
    return 0;
}


# Why: a worker sets its title only after its init_process hooks ran;
# tests must not talk to a half-started server (e.g. /status listing a
# worker that has not registered yet).
sub wait_workers {
    my ($self) = @_;
    my $deadline = time + $self->{timeout};
    while (time < $deadline) {
        my @pids = $self->worker_pids;
        return 1 if @pids >= $self->{workers};
        return 0 unless $self->alive($self->{pid});
        sleep 0.01;
    }
    return 0;
}


# Why: "is this process still there?" — zombies count as gone, and our
# own child (valgrind mode) must be reaped.
sub alive {
    my ($self, $pid) = @_;
    return 0 unless $pid;
    if ($self->{child} && $pid == $self->{pid}) {
        my $r = waitpid $pid, POSIX::WNOHANG();
        return 0 if $r == $pid || $r == -1;
        return 1;
    }
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';
    return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    return 1;
}


# Why: reload tests wait for a new generation of workers; the process
# titles tell workers ("worker process") from retiring ones (valgrind
# hides the titles: there every live child counts).
sub worker_pids {
    my ($self) = @_;
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        my ($state, $ppid) = $stat =~ /\) (\S) (\d+)/ or next;
        next unless $ppid == $self->{pid} && $state ne 'Z';
        open my $cf, '<', "/proc/$pid/cmdline" or next;
        my $cmd = do { local $/; <$cf> } // '';
        next if $cmd =~ /shutting down/;
        push @pids, $pid if $cmd =~ /worker process/ || $self->{valgrind};
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}


# Why: `nginx -s reload` semantics (HUP to the master), optionally with
# new config text, returning only once the new workers are serving.
sub reload {
    my ($self, %o) = @_;
    for my $k (qw(main_config http_config config)) {
        $self->{$k} = $o{$k} if defined $o{$k};
    }
    $self->write_conf;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $self->{pid} or die "cannot signal nginx: $!";
    my $deadline = time + $self->{timeout};

    while (time < $deadline) {
        sleep 0.05;
        my @new = $self->worker_pids;
        next unless @new == $self->{workers};
        next if grep { $old{$_} } @new;
        next if grep { $self->alive($_) } keys %old;
        return 1;
    }
    die "reload did not complete in $self->{timeout}s\n"
        . ScaleTest::tail($self->error_log, 20);
}


# Why: graceful stop (SIGQUIT) as in production; a master that does not
# exit in time is escalated and recorded as a problem (a hung worker,
# e.g. a timer that is not cancelable, is a bug).
sub stop {
    my ($self) = @_;
    return unless $self->{running};
    my $pid = $self->{pid};
    my $t = $self->{timeout};
    for my $step (['QUIT', $t], ['TERM', 3], ['KILL', 3]) {
        my ($sig, $wait) = @$step;
        kill $sig, $pid;
        my $deadline = time + $wait;
        sleep 0.02 while $self->alive($pid) && time < $deadline;
        last unless $self->alive($pid);
        push @{ $self->{problems} },
             "nginx (pid $pid) did not exit within ${wait}s of SIG$sig";
    }
    $self->{running} = 0;
    delete $live_pids{$pid};
}


# Why: read a file of the prefix whole ('' when missing).
sub slurp {
    my ($self, $rel) = @_;
    open my $fh, '<', "$self->{prefix}/$rel" or return '';
    local $/;
    return <$fh> // '';
}


# Why: tests look into nginx's error log.
sub error_log { return $_[0]->slurp('logs/error.log') }


# Why: what makes any test fail regardless of its checks: alerts,
# emergencies, critical errors, sanitizer and valgrind reports, and a
# shutdown that hung.  %allow lifts a level a test expects on purpose.
sub log_problems {
    my ($self, %allow) = @_;
    my @problems = @{ $self->{problems} || [] };
    my $text = $self->error_log . "\n" . $self->slurp('logs/stderr.log');
    for my $line (split /\n/, $text) {
        if ($line =~ /\[(alert|emerg|crit)\]/ && !$allow{$1}) {
            push @problems, $line;
        } elsif ($line =~ /AddressSanitizer|LeakSanitizer|runtime error:/) {
            push @problems, $line;
        }
    }
    for my $file (glob "$self->{prefix}/logs/valgrind.*.log") {
        my $vg = $self->slurp("logs/" . File::Basename::basename($file));
        if ($vg =~ /ERROR SUMMARY: [1-9]/ || $vg =~ /^==\d+== \S/m) {
            push @problems, "valgrind ($file):\n$vg";
        }
    }
    return @problems;
}


# Why: the end of every Perl-API scenario: stop and assert (one test)
# that the logs are clean.
sub finish {
    my ($self, %allow) = @_;
    $self->stop;
    my @problems = $self->log_problems(%allow);
    Test::More::ok(!@problems, 'nginx logs clean after stop')
        or Test::More::diag(join "\n", @problems);
    return !@problems;
}


# Why: a keep-alive client connection to this server.
sub conn {
    my ($self, %o) = @_;
    return ScaleTest::Conn->new(
        port => $self->{port},
        timeout => $self->{client_timeout} // $self->{timeout}, %o);
}


# Why: one request on its own connection (closed after), for tests that
# want many distinct connections.
sub request {
    my ($self, $method, $uri, $body, $headers) = @_;
    my $c = $self->conn;
    my @r = $c->request($method, $uri, $body, $headers);
    $c->close;
    return @r;
}


# Why: GET /status decoded; dies with the body if it is not JSON.
sub status {
    my ($self, $uri) = @_;
    my ($code, undef, $body) = $self->request('GET', $uri // '/status');
    my $st = ScaleTest::json_or_undef($body);
    die "GET /status: $code $body\n" unless $code == 200 && ref $st;
    return $st;
}


# Why: never leave nginx behind, whatever way the test ended.
sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    $self->stop if $self->{running};
}

END {
    kill 'KILL', keys %live_pids if %live_pids;
}


package ScaleTest::Conn;

# A minimal HTTP/1.1 client on a plain socket: exact bytes out,
# Content-Length / chunked / until-close bodies in, keep-alive reuse.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);


# Why: a connection is opened lazily and reopened after the server
# closed it (nginx ends keep-alive after keepalive_requests).
sub new {
    my ($class, %o) = @_;
    return bless {
        host    => $o{host} // '127.0.0.1',
        port    => $o{port},
        timeout => $o{timeout} // 10,
        sock    => undef,
        buf     => '',
        served  => 0,
    }, $class;
}


# Why: open the TCP connection now (also used to count connections).
sub open_socket {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $self->{host},
                                  PeerPort => $self->{port},
                                  Proto => 'tcp',
                                  Timeout => $self->{timeout})
        or die "connect 127.0.0.1:$self->{port}: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    $self->{sock} = $s;
    $self->{buf} = '';
    $self->{served} = 0;
    return $s;
}


sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
    $self->{buf} = '';
}


# Why: the request bytes exactly as we mean them: Host, our headers,
# Content-Length when there is a body (or a POST/PUT without one).
sub build_request {
    my ($method, $uri, $body, $headers, $proto) = @_;
    $proto //= 'HTTP/1.1';
    my @h = ref $headers eq 'HASH' ? map { [$_, $headers->{$_}] }
                                     sort keys %$headers
                                   : @{ $headers || [] };
    my %has = map { (lc $_->[0] => 1) } @h;
    my $req = "$method $uri $proto\r\n";
    $req .= "Host: localhost\r\n" unless $has{host};
    $req .= "$_->[0]: $_->[1]\r\n" for @h;
    if (!$has{'content-length'} && !$has{'transfer-encoding'}) {
        if (defined $body) {
            $req .= "Content-Length: " . length($body) . "\r\n";
        } elsif ($method =~ /^(POST|PUT|PATCH)$/) {
            $req .= "Content-Length: 0\r\n";
        }
    }
    return $req . "\r\n" . ($body // '');
}


# Why: raw bytes for bad-input and pipelining tests.
sub send_raw {
    my ($self, $bytes) = @_;
    my $s = $self->{sock} || $self->open_socket;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
        die "write to nginx failed: $!\n" unless defined $n;
        $off += $n;
    }
}


# Why: one request/response exchange; returns ($code, \%headers, $body)
# with lower-case header names.  A reused connection the server has
# already closed is retried once on a new one.
sub request {
    my ($self, $method, $uri, $body, $headers, $proto) = @_;
    my $bytes = build_request($method, $uri, $body, $headers, $proto);
    my $reused = $self->{sock} && $self->{served};
    my $r = eval {
        $self->send_raw($bytes);
        $self->read_response($method);
    };
    if (!$r && $reused && $@ =~ /closed before response|write to nginx/) {
        $self->close;
        $self->send_raw($bytes);
        $r = $self->read_response($method);
    } elsif (!$r) {
        die $@;
    }
    $self->{last} = $r;
    return ($r->{code}, $r->{headers}, $r->{body});
}


# Why: blocks and tests sometimes want the whole parsed response.
sub last_response { return $_[0]{last} }


# Why: shorthand for the common calls in scenario tests.
sub post { my ($self, $uri, $body, $h) = @_;
           return $self->request('POST', $uri, $body, $h) }
sub get  { my ($self, $uri, $h) = @_;
           return $self->request('GET', $uri, undef, $h) }


# Why: read more bytes into the buffer, bounded by the timeout;
# returns 0 at end of stream.
sub fill {
    my ($self, $deadline) = @_;
    my $s = $self->{sock} or return 0;
    my $left = $deadline - time;
    die "timeout reading response from nginx\n"
        if $left <= 0 || !IO::Select->new($s)->can_read($left);
    my $n = sysread $s, $self->{buf}, 65536, length $self->{buf};
    return 0 if !defined $n || $n == 0;
    return 1;
}


# Why: parse one response off the stream: status line, headers, and a
# body framed by HEAD/204/304, chunked, Content-Length or close.
sub read_response {
    my ($self, $method) = @_;
    my $deadline = time + $self->{timeout};
    my $end;
    until (($end = index $self->{buf}, "\r\n\r\n") >= 0) {
        next if $self->fill($deadline);
        my $got = $self->{buf};
        $self->close;
        die "connection closed before response headers"
            . (length $got ? " (got '$got')" : '') . "\n";
    }
    my $head = substr $self->{buf}, 0, $end + 4, '';
    my ($status, @lines) = split /\r\n/, $head;
    my ($proto, $code) = $status =~ m{^(HTTP/\d\.\d) (\d{3})}
        or die "bad status line: '$status'\n";
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = defined $h{$k} ? "$h{$k}, $v" : $v;
    }

    my $body = '';
    if ($method eq 'HEAD' || $code =~ /^(1..|204|304)$/) {
        # no body
    } elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        $body = $self->read_chunked($deadline);
    } elsif (defined $h{'content-length'}) {
        my $len = $h{'content-length'};
        while (length $self->{buf} < $len) {
            $self->fill($deadline) or die "connection closed mid-body\n";
        }
        $body = substr $self->{buf}, 0, $len, '';
    } else {
        1 while $self->fill($deadline);
        $body = $self->{buf};
        $self->{buf} = '';
        $h{connection} = 'close';
    }

    $self->{served}++;
    if (($h{connection} // '') =~ /close/i || $proto eq 'HTTP/1.0') {
        $self->close;
    }
    return { code => $code + 0, headers => \%h, body => $body,
             proto => $proto, head => $head };
}


# Why: chunked transfer coding, which nginx uses when a handler sends
# no Content-Length.
sub read_chunked {
    my ($self, $deadline) = @_;
    my $body = '';
    while (1) {
        my $i;
        until (($i = index $self->{buf}, "\r\n") >= 0) {
            $self->fill($deadline) or die "closed in chunk size\n";
        }
        my $line = substr $self->{buf}, 0, $i + 2, '';
        my ($hex) = $line =~ /^([0-9a-fA-F]+)/
            or die "bad chunk size line '$line'\n";
        my $size = hex $hex;
        if ($size == 0) {
            until (($i = index $self->{buf}, "\r\n") >= 0) {
                $self->fill($deadline) or die "closed in trailer\n";
            }
            # skip trailers up to the empty line
            while ($i > 0) {
                substr $self->{buf}, 0, $i + 2, '';
                until (($i = index $self->{buf}, "\r\n") >= 0) {
                    $self->fill($deadline) or die "closed in trailer\n";
                }
            }
            substr $self->{buf}, 0, 2, '';
            return $body;
        }
        while (length $self->{buf} < $size + 2) {
            $self->fill($deadline) or die "closed mid-chunk\n";
        }
        $body .= substr $self->{buf}, 0, $size, '';
        substr $self->{buf}, 0, 2, '';
    }
}

1;
