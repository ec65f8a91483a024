#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60), one after the other,
# from its seeds in fuzz/corpus/<target>/ plus what earlier runs found
# (build/fuzz/corpus/<target>/).  Stops at the first crash, leaving the
# input in build/fuzz/artifacts/<target>/ and the log next to it.
#
#     fuzz/run.sh [SECONDS] [TARGET...]     (targets: Makefile TARGETS)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-$here/../build/fuzz}
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(identity name)

for t in "${targets[@]}"; do
    bin=$out/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: $bin is not built (make -C fuzz)"; exit 2; }
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    log=$out/artifacts/$t/run-${seconds}s.log
    echo "fuzz: $t for ${seconds}s (log $log)"
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$out/artifacts/$t/" \
        "$out/corpus/$t" "$here/corpus/$t" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} executions, exit $rc"
    if ((rc != 0)); then
        grep -m1 -A30 -E 'ERROR: |runtime error|fuzz_[a-z]+: |deadly signal' \
            "$log"
        echo "fuzz: $t crashed; the input is in $out/artifacts/$t/"
        exit 1
    fi
done
