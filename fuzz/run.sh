#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60), one after the other,
# from its seeds in fuzz/corpus/<target>/ plus what earlier runs found
# (build/fuzz/corpus/<target>/, or $FUZZ_WORK/corpus/<target>/).  Stops
# at the first crash, leaving the input in build/fuzz/artifacts/<target>/
# (or $FUZZ_WORK/artifacts/<target>/) and the log next to it.
#
#     fuzz/run.sh [SECONDS] [TARGET...]     (targets: Makefile TARGETS)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-$here/../build/fuzz}
# corpus/ and artifacts/ go here; a run of its own (a test) sets it so
# that runs at the same time never share files
work=${FUZZ_WORK:-$out}
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(identity name)

for t in "${targets[@]}"; do
    bin=$out/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: $bin is not built (make -C fuzz)"; exit 2; }
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    log=$work/artifacts/$t/run-${seconds}s.log
    echo "fuzz: $t for ${seconds}s (log $log)"
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$work/artifacts/$t/" \
        "$work/corpus/$t" "$here/corpus/$t" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} executions, exit $rc"
    if ((rc != 0)); then
        grep -m1 -A30 -E 'ERROR: |runtime error|fuzz_[a-z]+: |deadly signal' \
            "$log"
        echo "fuzz: $t crashed; the input is in $work/artifacts/$t/"
        exit 1
    fi
done
