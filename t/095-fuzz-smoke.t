# The libFuzzer targets (fuzz/README.md) build, and each runs for a short
# while (SCALE_FUZZ_SECONDS, 20 by default) from its seed corpus without
# a crash, a sanitizer report or a broken invariant.  `make fuzz` is the
# long run.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use File::Basename qw(basename);
use File::Path ();

my $seconds = $ENV{SCALE_FUZZ_SECONDS} // 20;

plan skip_all => 'SCALE_FUZZ_SECONDS=0' unless $seconds;
plan skip_all => 'fuzzing is not run under valgrind' if valgrind();

my $root = repo_root();

# corpus and crash inputs of this run, kept for reading like a server's
# prefix; never shared with another run (make fuzz uses build/fuzz/)
my $work = ($ENV{SCALE_SERVROOT} || "$root/t/servroot") . '/095-fuzz-smoke';
File::Path::remove_tree($work);
File::Path::make_path($work);

my @targets = map { basename($_, '.c') =~ s/^fuzz_//r }
              sort glob "$root/fuzz/fuzz_*.c";

ok(@targets >= 4, 'fuzz targets: ' . join(', ', @targets));

my $out = `make -s -C $root fuzz-build 2>&1`;
is($?, 0, 'the fuzz targets build') or diag($out);

for my $t (@targets) {
    my $log = `FUZZ_WORK=$work nice -n 10 $root/fuzz/run.sh $seconds $t 2>&1`;
    my $rc = $? >> 8;
    my ($runs) = $log =~ /: (\d+) executions/;
    is($rc, 0, "$t: no crash in ${seconds}s") or diag($log);
    ok(($runs // 0) > 100, "$t: ran (" . ($runs // 0) . ' executions)');
}

done_testing();
