# docker/ without a Docker engine (issue 8): what can be checked
# statically is checked here; docker/README.md says what is not.
#
#  - docker/compose.yaml: `docker-compose config` (Debian's docker-compose
#    1.29) parses and validates it, with and without the benchmark
#    profile; the topology is the one asked for (redis, two bootstrap
#    instances, the front, the swarm, the bench under "benchmark"), every
#    long-running service has a health check, every service CPU and
#    memory limits that docker-compose turns into container settings (its
#    own translation code, nothing ignored), the start order waits on
#    health, only the front's port is published, on loopback;
#  - the services' commands: the nginx confs they name exist (t/050 runs
#    nginx -t on them as the image has them), and every option given to
#    scale-client and scale-bench is one their --help lists;
#  - docker/Dockerfile and docker/Dockerfile.client: multi-stage from
#    debian:bookworm, every COPY source exists, every apt package exists in
#    bookworm (apt-cache, on this bookworm machine), the runtime packages
#    hold every shared library the built artifacts link (ldd + dpkg -S),
#    and the build stages' `make` targets work on exactly the files the
#    Dockerfiles copy (`make -n` on such a copy; SCALE_DOCKER_BUILD=1 runs
#    the real builds there).

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Path qw(make_path remove_tree);
use File::Basename qw(dirname);

my $REPO = repo_root();
my $D = "$REPO/docker";
my $SERVROOT = $ENV{SCALE_SERVROOT} || "$REPO/t/servroot";
my $root = "$SERVROOT/053-docker";
remove_tree($root);
make_path($root);

for my $f (qw(Dockerfile Dockerfile.client compose.yaml README.md)) {
    ok(-f "$D/$f", "docker/$f exists");
}


sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}


# --- compose.yaml -------------------------------------------------------------

my $COMPOSE = '/usr/bin/docker-compose';
# Debian's python3: docker-compose's own modules and python3-yaml
my $PY = '/usr/bin/python3';
SKIP: {
    skip 'docker-compose is not installed (scripts/deps.sh installs it)', 1
        unless -x $COMPOSE;

    my $cfg_cmd = "$COMPOSE -f $D/compose.yaml";
    my $out = `$cfg_cmd config -q 2>&1`;
    is($?, 0, 'docker-compose config: compose.yaml is valid') or diag($out);
    $out = `$cfg_cmd --profile benchmark config -q 2>&1`;
    is($?, 0, '... also with the benchmark profile') or diag($out);
    my $profiles = `$cfg_cmd config --profiles 2>&1`;
    is($profiles, "benchmark\n", 'one profile: benchmark');

    # the normalized file, as JSON (python3-yaml comes with docker-compose)
    my $to_json = 'import sys, json, yaml;'
                  . ' print(json.dumps(yaml.safe_load(sys.stdin)))';
    my $json = `$cfg_cmd config 2>/dev/null | $PY -c '$to_json'`;
    my $c = json_or_undef($json) || {};
    my $s = $c->{services} || {};
    is_deeply([sort keys %$s],
              [qw(bench bootstrap-a bootstrap-b front net redis swarm)],
              'services: redis, two bootstrap instances, front, swarm,'
              . ' bench (and net, the shared namespace)');

    is_deeply($s->{bench}{profiles}, ['benchmark'],
              'the bench is under the benchmark profile');
    my @profiled = grep { $s->{$_}{profiles} } sort keys %$s;
    is_deeply(\@profiled, ['bench'], 'nothing else needs a profile');

    for my $name (sort keys %$s) {
        my $svc = $s->{$name};
        if ($name ne 'bench') {
            my $t = $svc->{healthcheck}{test};
            ok(ref $t eq 'ARRAY' && @$t > 1, "$name has a health check");
            ok($svc->{restart}, "$name has a restart policy");
        }
        my $lim = $svc->{deploy}{resources}{limits} || {};
        ok($lim->{cpus} && $lim->{memory},
           "$name has CPU and memory limits ($lim->{cpus} CPU,"
           . " @{[ $lim->{memory} // '?' ]})");
        if ($name ne 'net') {
            is($svc->{network_mode}, 'service:net',
               "$name shares the net namespace (loopback as in"
               . " conf/cluster/)");
            ok(!$svc->{ports}, "$name publishes nothing itself");
        }
    }
    my @ports = map { s{/tcp$}{}r } @{ $s->{net}{ports} || [] };
    is_deeply(\@ports, ['127.0.0.1:8080:8080'],
              "only the front's 8080 is published, on the host's loopback");

    my %needs = (
        'bootstrap-a' => { redis => 'service_healthy' },
        'bootstrap-b' => { redis => 'service_healthy' },
        front => { 'bootstrap-a' => 'service_healthy',
                   'bootstrap-b' => 'service_healthy' },
        swarm => { front => 'service_healthy' },
        bench => { front => 'service_healthy' },
    );
    for my $name (sort keys %needs) {
        my $dep = $s->{$name}{depends_on} || {};
        my %got = map { $_ => $dep->{$_}{condition} } keys %$dep;
        is_deeply(\%got, $needs{$name}, "$name waits for "
                  . join(', ', sort keys %{ $needs{$name} }));
    }

    # what docker-compose up would do with deploy: (its own code)
    my $py = <<'PY';
import json, sys
from compose.project import translate_deploy_keys_to_container_config as t
doc = json.load(sys.stdin)
out = {}
for name, svc in doc["services"].items():
    d, ignored = t(dict(svc))
    out[name] = {"mem_limit": d.get("mem_limit"), "cpus": d.get("cpus"),
                 "ignored": ignored}
print(json.dumps(out))
PY
    open my $pf, '>', "$root/deploy.py" or die $!;
    print $pf $py;
    close $pf;
    open my $jf, '>', "$root/compose.json" or die $!;
    print $jf $json;
    close $jf;
    my $tr = json_or_undef(`$PY $root/deploy.py < $root/compose.json 2>&1`)
        || {};
    my @bad = grep { !$tr->{$_}{mem_limit} || !$tr->{$_}{cpus}
                     || @{ $tr->{$_}{ignored} || [1] } } sort keys %$s;
    my $ok = %$tr && !@bad;
    ok($ok, 'docker-compose turns every deploy.resources.limits'
                      . ' into mem_limit and cpus, ignoring nothing')
        or diag(explain($tr));

    # the commands
    for my $name (qw(bootstrap-a bootstrap-b front)) {
        my @cmd = @{ $s->{$name}{command} || [] };
        my ($i) = grep { $cmd[$_] eq '-c' } 0 .. $#cmd;
        my $conf = defined $i ? $cmd[$i + 1] : '';
        ok($cmd[0] eq 'nginx' && $conf && -f "$REPO/$conf",
           "$name runs nginx with $conf, which exists")
            or diag("@cmd");
        like(join(' ', @cmd), qr{-p /srv/scale/ .*-g daemon off;},
             "$name: prefix /srv/scale/, foreground");
    }
    my %help;
    for my $bin ('client/scale-client', 'bench/scale-bench') {
        $help{$bin} = `$REPO/$bin --help 2>&1`;
    }
    for my $case (['swarm', 'client/scale-client', 'scale-client'],
                  ['bench', 'bench/scale-bench', 'scale-bench']) {
        my ($name, $bin, $exe) = @$case;
        my @cmd = @{ $s->{$name}{command} || [] };
        is($cmd[0], $exe, "$name runs $exe");
        SKIP: {
            skip "$bin is not built", 1 unless -x "$REPO/$bin";
            my @unknown = grep { $help{$bin} !~ /(^|[\s,])\Q$_\E\b/m }
                          grep { /^--?[a-z]/ } @cmd;
            ok(!@unknown, "$name: every option is in $exe --help")
                or diag("unknown: @unknown");
        }
    }
}

# --- the Dockerfiles -------------------------------------------------------------

# Why: instructions of a Dockerfile, continuation lines joined.
sub instructions {
    my ($file) = @_;
    my $text = slurp($file);
    $text =~ s/\\\n/ /g;
    return map { /^\s*([A-Z]+)\s+(.*)$/ ? [$1, $2] : () }
           grep { !/^\s*#/ } split /\n/, $text;
}

my $bookworm = slurp('/etc/os-release') =~ /VERSION_CODENAME=bookworm/;
my %runtime_pkgs;

for my $df (qw(Dockerfile Dockerfile.client)) {
    my @ins = instructions("$D/$df");
    my @from = map { $_->[1] } grep { $_->[0] eq 'FROM' } @ins;
    is(scalar @from, 2, "$df: two stages");
    like($from[0] // '', qr/^debian:bookworm AS build$/,
         "$df: built on debian:bookworm");
    is($from[1] // '', 'debian:bookworm-slim', "$df: runs on bookworm-slim");
    ok((grep { $_->[0] eq 'COPY' && $_->[1] =~ /^--from=build / } @ins),
       "$df: the run stage takes the build stage's output");

    my @missing;
    for my $copy (grep { $_->[0] eq 'COPY' && $_->[1] !~ /^--from/ } @ins) {
        my @args = split ' ', $copy->[1];
        pop @args;
        push @missing, grep { !-e "$REPO/$_" } @args;
    }
    ok(!@missing, "$df: every COPY source exists") or diag("@missing");

    # apt packages, per stage
    my ($stage, %pkgs) = (-1);
    for my $i (@ins) {
        $stage++ if $i->[0] eq 'FROM';
        next unless $i->[0] eq 'RUN' && $i->[1] =~ /apt-get install/;
        my ($list) = $i->[1] =~ /apt-get install (.*?)(?:&&|$)/;
        push @{ $pkgs{$stage} }, grep { !/^-/ && !/=$/ && !/^DEBIAN/ }
                                 split ' ', $list;
    }
    $runtime_pkgs{$_} = 1 for @{ $pkgs{1} || [] };
    SKIP: {
        skip 'not a bookworm machine: apt-cache cannot tell', 1
            unless $bookworm;
        my @all = map { @$_ } values %pkgs;
        my %known = map { $_ => 1 }
            `apt-cache show --no-all-versions @all 2>/dev/null`
            =~ /^Package: (\S+)/mg;
        my @unknown = grep { !$known{$_} } @all;
        ok(!@unknown && @all, "$df: every apt package exists in bookworm"
                              . " (@all)") or diag("unknown: @unknown");
    }
}

SKIP: {
    skip 'not a bookworm machine', 1 unless $bookworm;
    my %need;
    for my $art ('build/ngx_scale_module.so', 'client/scale-client',
                 'bench/scale-bench') {
        next unless -f "$REPO/$art";
        for my $lib (`ldd $REPO/$art` =~ /=>\s+(\S+)/g) {
            my ($pkg) = `dpkg -S $lib 2>/dev/null` =~ /^([^:]+):/;
            if (!$pkg) {    # /lib is a link to /usr/lib on bookworm
                (my $alt = $lib) =~ s{^/lib/}{/usr/lib/};
                ($pkg) = `dpkg -S $alt 2>/dev/null` =~ /^([^:]+):/;
            }
            $need{$pkg // "?$lib"}{$art} = 1;
        }
    }
    # the base image has libc6 (and libgcc-s1); nginx brings its own
    delete @need{qw(libc6 libgcc-s1)};
    my @absent = grep { !$runtime_pkgs{$_} } sort keys %need;
    ok(!@absent && %need, 'the run stages install every library the'
       . ' module, scale-client and scale-bench link ('
       . join(' ', sort keys %need) . ')')
        or diag("not installed: @absent");
}

# --- the build stages' make, on exactly the copied files ---------------------

# Why: a context with only what a Dockerfile's build stage copies
# (COPY src... dest, Docker's meaning: a directory's contents go into
# dest, a file into dest/ or to dest).
sub copy_context {
    my ($df, $dest) = @_;
    remove_tree($dest);
    make_path($dest);
    my $froms = 0;
    for my $i (instructions("$D/$df")) {
        last if $i->[0] eq 'FROM' && ++$froms > 1;
        next unless $i->[0] eq 'COPY' && $i->[1] !~ /^--/;
        my @args = split ' ', $i->[1];
        my $to = pop @args;
        for my $src (@args) {
            if (-d "$REPO/$src") {
                make_path("$dest/$to");
                system('cp', '-a', "$REPO/$src/.", "$dest/$to") == 0
                    or die "cp $src: $?";
            } else {
                my $target = $to =~ m{/$} ? "$dest/$to" : "$dest/$to";
                make_path($to =~ m{/$} ? $target : dirname($target));
                system('cp', '-a', "$REPO/$src", $target) == 0
                    or die "cp $src: $?";
            }
        }
    }
}

{
    my $ctx = "$root/ctx-bootstrap";
    copy_context('Dockerfile', $ctx);
    # (MAKE=true: make -n still runs the recursive make of nginx's own
    # Makefile, which only a real configure creates)
    my $out = `make -n -C $ctx MAKE=true module 2>&1`;
    ok($? == 0 && $out =~ /--add-dynamic-module=\Q$ctx\E/
           && $out =~ /objs\/Makefile modules/,
       'Dockerfile: `make module` has everything it needs in the copied'
       . ' files (make -n)') or diag($out);

    my $cctx = "$root/ctx-client";
    copy_context('Dockerfile.client', $cctx);
    system("make -s -C $cctx/client clean >/dev/null 2>&1;"
           . " make -s -C $cctx/bench clean >/dev/null 2>&1");
    $out = `make -n -C $cctx client bench-bin 2>&1`;
    ok($? == 0 && $out =~ /-o scale-client\b/ && $out =~ /-o scale-bench\b/,
       'Dockerfile.client: `make client bench-bin` has everything it needs'
       . ' in the copied files (make -n)') or diag($out);

    SKIP: {
        skip 'SCALE_DOCKER_BUILD=1 runs the build stages for real', 2
            unless $ENV{SCALE_DOCKER_BUILD};
        $out = `make -C $ctx module 2>&1`;
        ok($? == 0 && -f "$ctx/build/ngx_scale_module.so",
           'the bootstrap build stage builds the module') or diag($out);
        $out = `make -C $cctx client bench-bin 2>&1`;
        ok($? == 0 && -x "$cctx/client/scale-client"
               && -x "$cctx/bench/scale-bench",
           'the client build stage builds scale-client and scale-bench')
            or diag($out);
    }
}

# --- README -------------------------------------------------------------------

{
    my $readme = slurp("$D/README.md");
    like($readme, qr/not verified/i, 'docker/README.md says what was not'
                                     . ' verified');
}

done_testing();
