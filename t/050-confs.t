# Every shipped conf file passes `nginx -t` (issue 8): conf/nginx.conf and
# conf/cluster/*.conf as they are, with the prefix they document (the
# repository root: a scratch prefix here, whose build/ links the module
# and whose conf/ links the repository's, so nothing is written into the
# checkout); the cluster confs also as scripts/cluster.sh renders them
# for other ports and directories (what t/051 runs), and as the Docker
# image edits them (docker/Dockerfile).  Every value directive of the
# module has its default in a comment.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Path qw(make_path remove_tree);
use File::Basename qw(basename);

my $REPO = repo_root();
my $NGINX = $ENV{SCALE_NGINX} || '/usr/sbin/nginx';
my $MODULE = $ENV{SCALE_MODULE} || "$REPO/build/ngx_scale_module.so";
BAIL_OUT("nginx module not found: $MODULE (run `make`)") unless -f $MODULE;

my $SERVROOT = $ENV{SCALE_SERVROOT} || "$REPO/t/servroot";
my $root = "$SERVROOT/050-confs";
remove_tree($root);

my @cluster = sort glob "$REPO/conf/cluster/*.conf";
my @confs = ("$REPO/conf/nginx.conf", @cluster);
is(scalar @cluster, 3, 'conf/cluster/ has two instances and the front')
    or diag(join ' ', @cluster);


# Why: a prefix that looks like the checkout to the confs: build/ has the
# module and the run directories, conf/ is the repository's (or a copy).
sub scratch_prefix {
    my ($name, $conf_dir) = @_;
    my $p = "$root/$name";
    make_path("$p/build/run", map { "$p/build/cluster/$_" } qw(a b front));
    symlink $MODULE, "$p/build/ngx_scale_module.so" or die "symlink: $!";
    symlink $conf_dir, "$p/conf" or die "symlink: $!";
    return $p;
}


# Why: `nginx -t` with the conf's own prefix; (ok, what nginx said).
sub nginx_t {
    my ($prefix, $conf) = @_;
    my $out = `$NGINX -t -p '$prefix/' -c '$conf' -e '$prefix/test.log' 2>&1`;
    return ($? == 0, $out);
}


# --- the files as they are -------------------------------------------------

my $p = scratch_prefix('repo', "$REPO/conf");
for my $file (@confs) {
    (my $rel = $file) =~ s{^\Q$REPO\E/}{};
    my ($ok, $out) = nginx_t($p, $rel);
    ok($ok, "nginx -t $rel") or diag($out);
}

# --- rendered for other ports (scripts/cluster.sh render) -------------------

my $dir = "$root/rendered";
my %ports = (CLUSTER_FRONT_PORT => 28080, CLUSTER_A_PORT => 28081,
             CLUSTER_B_PORT => 28082, CLUSTER_REDIS_PORT => 26380,
             CLUSTER_CONTROL_PORT => 28089);
{
    local @ENV{keys %ports} = values %ports;
    local $ENV{CLUSTER_DIR} = $dir;
    my $out = `$REPO/scripts/cluster.sh render 2>&1`;
    is($?, 0, 'scripts/cluster.sh render') or diag($out);
}
my $rp = scratch_prefix('rendered-prefix', "$dir/conf");
make_path(map { "$dir/$_" } qw(a b front));     # nginx -t writes the pid
for my $file (@cluster) {
    my $name = basename($file);
    my $text = do { local $/; open my $fh, '<', "$dir/conf/$name"; <$fh> }
        // '';
    my @left = $text =~ /127\.0\.0\.1:(8080|8081|8082|6380|8089)\b/g;
    ok(!@left, "rendered $name: no default port left")
        or diag("left: @left");
    ok($text !~ m{(?<![/\w])build/cluster/},
       "rendered $name: run files under CLUSTER_DIR");
    my ($ok, $out) = nginx_t($rp, "conf/$name");
    ok($ok, "nginx -t rendered $name") or diag($out);
}
{
    my $front = do { local $/; open my $fh, '<', "$dir/conf/front.conf"; <$fh> };
    like($front, qr/server 127\.0\.0\.1:28081 max_fails/,
         'rendered front.conf balances over the rendered ports');
}

# --- as the Docker image edits them (docker/Dockerfile) ---------------------

SKIP: {
    my $df = do { local $/; open my $fh, '<', "$REPO/docker/Dockerfile"
                      or last; <$fh> };
    skip 'no docker/Dockerfile', 3 unless $df;
    my ($sed) = $df =~ /sed -i '(s\/listen [^']+)'/;
    ok($sed, 'the Dockerfile edits the listen line with sed');
    my $dconf = "$root/docker-conf";
    make_path("$dconf/cluster");
    for my $file (@confs, glob("$REPO/conf/cluster/*.inc")) {
        (my $rel = $file) =~ s{^\Q$REPO\E/conf/}{};
        my $text = do { local $/; open my $fh, '<', $file; <$fh> };
        my $edited = $text;
        if ($rel eq 'nginx.conf' || $rel eq 'cluster/front.conf') {
            $edited = `sed '$sed' '$file'`;
        }
        open my $o, '>', "$dconf/$rel" or die $!;
        print $o $edited;
        close $o;
    }
    my $dp = scratch_prefix('docker-prefix', $dconf);
    my @bad;
    for my $rel ('nginx.conf', map { "cluster/" . basename($_) } @cluster) {
        my ($ok, $out) = nginx_t($dp, "conf/$rel");
        push @bad, "$rel: $out" unless $ok;
    }
    ok(!@bad, 'nginx -t of every conf as the image has it') or diag(@bad);
    my $n = () = map { `grep -h '^ *listen 8080;\$' $_` }
                 "$dconf/nginx.conf", "$dconf/cluster/front.conf";
    is($n, 2, "the image's nginx.conf and front.conf listen on all addresses");
}

# --- every value directive of the module says its default -------------------

my @value_directives = qw(
    scale_zone scale_max_clients scale_subset_size scale_subset_diversity
    scale_refresh_min scale_rate scale_body_max scale_min_age scale_max_age
    scale_health_timeout scale_health_interval scale_cleanup_interval
    scale_health_uri scale_health_fails scale_health_passes
    scale_health_concurrency scale_eviction_brake scale_admin_token
    scale_client_manager scale_redis scale_data_dir scale_snapshot_interval
);
my %is_value = map { $_ => 1 } @value_directives;
for my $file ("$REPO/conf/nginx.conf", glob("$REPO/conf/cluster/*")) {
    (my $rel = $file) =~ s{^\Q$REPO\E/}{};
    open my $fh, '<', $file or die "$file: $!";
    my @groups = split /\n[ \t]*\n/, do { local $/; <$fh> };
    my @missing;
    for my $g (@groups) {
        my @names = grep { $is_value{$_} }
                    $g =~ /^[ \t]*(?:#[ \t]*)?(scale_\w+)[ \t]/mg;
        next unless @names;
        my $comments = join ' ', $g =~ /^[ \t]*#(.*)$/mg;
        push @missing, @names unless $comments =~ /default/;
    }
    ok(!@missing, "$rel: every module directive's comment gives its default")
        or diag("no default said for: @missing");
}

done_testing();
