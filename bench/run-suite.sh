#!/usr/bin/env bash
# The standard benchmark suite of ngx_scale (what `make bench` runs).
#
# For each registry size (1k, 100k, 1M names) it starts its own nginx with
# the module (2 workers, zone sized for that many entries, no refresh
# limit), fills the registry (scenario register), runs the refresh
# scenario alternating rounds with a `return 200` baseline of the same
# answer size, runs both again paced at half the module's rate for the p99
# target, reads the zone bytes per entry from /status, stops nginx by PID
# and prints one markdown table.  Budget: well under 5 minutes.
#
# Environment: SCALE_MODULE (the .so), SCALE_NGINX (/usr/sbin/nginx),
# SUITE_SIZES (e.g. "1000 100000"), SUITE_SECONDS (A/B run, 12),
# SUITE_KEEP=1 (keep the work folder), SUITE_OUT (also write the table).

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
module=${SCALE_MODULE:-$repo/build/ngx_scale_module.so}
nginx=${SCALE_NGINX:-/usr/sbin/nginx}
bench=$here/scale-bench
sizes=${SUITE_SIZES:-1000 100000 1000000}
seconds=${SUITE_SECONDS:-12}
workers=2
conns=64

for f in "$module" "$nginx" "$bench"; do
    if [ ! -x "$f" ] && [ ! -f "$f" ]; then
        echo "run-suite: $f is missing (make, make -C bench)" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/scale-suite.XXXXXX)
chmod 755 "$work"
nginx_pid=

# Why: nginx must never outlive the suite, whatever way it ends.
stop_nginx() {
    local pid=$nginx_pid i
    [ -n "$pid" ] || return 0
    nginx_pid=
    kill -QUIT "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    stop_nginx
    if [ "${SUITE_KEEP:-0}" = 1 ]; then
        echo "run-suite: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Why: one JSON field out of a file; perl's JSON::PP is always there.
jget() {
    perl -MJSON::PP -e '
        local $/; open my $f, "<", $ARGV[0] or die "$ARGV[0]: $!";
        my $v = JSON::PP->new->decode(<$f>);
        for my $k (split /\./, $ARGV[1]) {
            $v = ref $v eq "ARRAY" ? $v->[$k] : $v->{$k};
        }
        print defined $v ? $v : "";
    ' "$1" "$2"
}

# Why: figures are printed with a fixed number of decimals.
fmt() { printf "%.${2}f" "$1"; }

# Why: a port nobody listens on, so parallel runs do not collide.
free_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Why: the zone must hold n entries; the module plans ~80 bytes each plus
# the name and its hash slot, so give it room and round to megabytes.
zone_size() {
    local n=$1 mb
    mb=$(( (n * 200) / 1048576 + 4 ))
    echo "${mb}m"
}

# Why: the baseline answers what a 5-peer answer of this pool weighs.
baseline_body() {
    local n=$1 i body="["
    for i in 1 2 3 4 5; do
        body="$body\"bench-$((n - i))\""
        [ $i -lt 5 ] && body="$body,"
    done
    echo "$body]"
}

start_nginx() {
    local n=$1 port=$2 dir=$3
    mkdir -p "$dir/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module $module;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    scale_zone name=bench size=$(zone_size "$n");
    scale_subset_size 5;
    scale_refresh_min 0;
    scale_max_age 1h;

    server {
        listen 127.0.0.1:$port;
        location = /connect  { scale_connect; }
        location = /delete   { scale_delete; }
        location = /status   { scale_status; }
        location = /baseline {
            default_type application/json;
            return 200 '$(baseline_body "$n")';
        }
    }
}
CONF
    "$nginx" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
    for i in $(seq 50); do
        [ -s "$dir/nginx.pid" ] && break
        sleep 0.1
    done
    nginx_pid=$(cat "$dir/nginx.pid")
    for i in $(seq 50); do
        curl -sf "http://127.0.0.1:$port/status" > /dev/null && return 0
        sleep 0.1
    done
    echo "run-suite: nginx did not come up on $port" >&2
    return 1
}

rows=()
mem=()
notes=()
t0=$(date +%s)

for n in $sizes; do
    dir=$work/$n
    port=$(free_port)
    url=http://127.0.0.1:$port
    echo "== $n entries (zone $(zone_size "$n"), port $port)" >&2

    start_nginx "$n" "$port" "$dir"
    curl -sf "$url/status" > "$dir/status0.json"

    "$bench" -s register -n "$n" -t $workers -c $conns -d 120 -q \
        --url "$url" --json "$dir/register.json" > "$dir/register.txt" || true

    curl -sf "$url/status" > "$dir/status1.json"

    "$bench" -s refresh -n "$n" -t $workers -c $conns -d "$seconds" -w 1 \
        --rounds 6 -q --url "$url" --baseline "$url/baseline" \
        --json "$dir/refresh.json" > "$dir/refresh.txt" || true

    mod_rps=$(jget "$dir/refresh.json" baseline.module_rps)
    half=$(perl -e 'printf "%d", $ARGV[0] / 2' "$mod_rps")

    "$bench" -s refresh -n "$n" -t $workers -c $conns -d 8 -w 1 -q \
        -r "$half" --url "$url" --baseline "$url/baseline" --rounds 4 \
        --json "$dir/half.json" \
        > "$dir/half.txt" || true

    curl -sf "$url/status" > "$dir/status2.json"
    stop_nginx

    problems=$(grep -cE '\[(alert|emerg|crit)\]' "$dir/logs/error.log" \
               || true)

    clients=$(jget "$dir/status1.json" clients)
    used0=$(jget "$dir/status0.json" zone.used)
    used1=$(jget "$dir/status1.json" zone.used)
    ebytes=$(jget "$dir/status1.json" zone.entry_bytes)
    bpe=$(perl -e 'printf "%.1f", $ARGV[1] > 0 ? $ARGV[0] / $ARGV[1] : 0' \
          "$ebytes" "$clients")
    grow=$(perl -e 'printf "%.1f", $ARGV[2] > 0 ? ($ARGV[1] - $ARGV[0])
                    / $ARGV[2] : 0' "$used0" "$used1" "$clients")
    mbpe=$(fmt "$(jget "$dir/status1.json" zone.bytes_per_entry)" 1)
    allb=$(perl -e 'printf "%.1f", $ARGV[1] > 0 ? $ARGV[0] / $ARGV[1] : 0' \
           "$used1" "$clients")

    viol=0
    for j in register refresh half; do
        v=$(jget "$dir/$j.json" violations_all)
        viol=$((viol + ${v:-0}))
    done

    errs=$(( $(jget "$dir/refresh.json" measured.transport_errors_total) \
           + $(jget "$dir/refresh.json" measured.status.5xx) \
           + $(jget "$dir/refresh.json" measured.status.4xx) ))

    rows+=("| $n \
| $(fmt "$(jget "$dir/register.json" measured.rps)" 0) \
| $(fmt "$mod_rps" 0) \
| $(fmt "$(jget "$dir/refresh.json" baseline.baseline_rps)" 0) \
| **$(fmt "$(jget "$dir/refresh.json" baseline.ratio_median)" 3)** \
| $(fmt "$(jget "$dir/refresh.json" baseline.module_latency_ms.p50)" 3) \
| $(fmt "$(jget "$dir/refresh.json" baseline.module_latency_ms.p99)" 3) \
| $half \
| $(fmt "$(jget "$dir/half.json" baseline.module_latency_ms.p99)" 3) \
| $(fmt "$(jget "$dir/half.json" baseline.baseline_latency_ms.p99)" 3) \
| $viol | $errs |")
    mem+=("| $n | $(zone_size "$n") | $clients \
| $(jget "$dir/status1.json" capacity) | $bpe | $grow | $mbpe | $allb |")

    [ "$problems" = 0 ] || notes+=("$n: $problems alert/crit/emerg lines \
in the error log")
done

secs=$(( $(date +%s) - t0 ))

{
    echo "| entries | fill rps | /connect rps | baseline rps \
| ratio (median) | p50 ms | p99 ms | half rate | p99 ms @ half \
| baseline p99 ms @ half | violations | errors |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "| entries | zone | clients | capacity | entry_bytes/client \
| zone growth/client | bytes_per_entry | zone used/client |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${mem[@]}"
    echo
    echo "$(date -u +%Y-%m-%d) · $(nproc) cores · nginx $workers workers · \
scale-bench $workers threads x $conns connections · A/B ${seconds}s in 6 \
rounds · suite ${secs}s"
    for note in "${notes[@]+"${notes[@]}"}"; do
        echo "- $note"
    done
} | tee "${SUITE_OUT:-/dev/null}"
