#!/usr/bin/env bash
# Health checking at scale (issue 3): 10,000 registered clients whose
# addresses are all answered by one loopback listener, probed every
# min_age (1s), while wrk refreshes 1,000 other (address-less) clients;
# reports probes/s achieved and /connect latency with and without
# probing.  A measurement, not a test: it prints figures.
#   usage: bench/health-scale.sh [clients] [seconds]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
clients=${1:-10000}
secs=${2:-10}
module=$here/build/ngx_scale_module.so
dir=$(mktemp -d /tmp/scale-health.XXXXXX)
port=$((20000 + RANDOM % 20000))
backend=$((port + 1))

cleanup() {
    [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null
    [ -f "$dir/backend.pid" ] && kill -QUIT "$(cat "$dir/backend.pid")" \
        2>/dev/null
    sleep 0.5
    rm -rf "$dir"
}
trap cleanup EXIT

# the listener every client address points to: its own nginx, one worker
mkdir -p "$dir/b/logs"
cat > "$dir/backend.conf" <<CONF
worker_processes 1;
pid $dir/backend.pid;
error_log $dir/b/logs/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$backend backlog=8192;
        location /alive { return 200; }
    }
}
CONF
/usr/sbin/nginx -p "$dir/b" -c "$dir/backend.conf"

# $1: min_age (a long one means no probing during the run)
start_server() {
    mkdir -p "$dir/s/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module $module;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/s/logs/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/s/body;
    scale_zone name=reg size=64m;
    scale_refresh_min 0;
    scale_min_age $1;
    scale_max_age 2h;
    scale_health_interval 100ms;
    scale_health_concurrency 256;
    scale_health_timeout 2s;
    server {
        listen 127.0.0.1:$port backlog=8192;
        location = /connect { scale_connect; }
        location = /status  { scale_status; }
    }
}
CONF
    /usr/sbin/nginx -p "$dir/s" -c "$dir/nginx.conf"
    sleep 0.3
}

stop_server() {
    kill -QUIT "$(cat "$dir/nginx.pid")"
    while [ -f "$dir/nginx.pid" ]; do sleep 0.1; done
}

cat > "$dir/register.lua" <<LUA
local n = 0
request = function()
    n = n + 1
    local i = n % $clients
    return wrk.format("POST", "/connect", nil,
        '{"id":"c' .. i .. '","addr":"127.0.0.1:$backend"}')
end
LUA
cat > "$dir/refresh.lua" <<LUA
local n = 0
request = function()
    n = n + 1
    return wrk.format("POST", "/connect", nil, "observer-" .. (n % 1000))
end
LUA

status() { curl -s "http://127.0.0.1:$port/status"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

for mode in probing idle; do
    if [ $mode = probing ]; then start_server 1s; else start_server 1h; fi
    echo "== $mode: registering $clients clients" >&2
    wrk -t1 -c16 -d3s -s "$dir/register.lua" "http://127.0.0.1:$port" \
        >/dev/null
    status | field 'd["clients"]' | sed 's/^/   clients registered: /' >&2

    p0=$(status | field 'd["health"]["probes_passed"]')
    echo "== $mode: /connect refresh load for ${secs}s (wrk -t1 -c8)" >&2
    wrk -t1 -c8 -d"${secs}s" --latency -s "$dir/refresh.lua" \
        "http://127.0.0.1:$port" > "$dir/wrk.$mode"
    p1=$(status | field 'd["health"]["probes_passed"]')
    f1=$(status | field 'd["health"]["probes_failed"]+d["health"]["probes_timed_out"]')
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.$mode")
    p50=$(awk '$1 == "50%" {print $2}' "$dir/wrk.$mode")
    p99=$(awk '$1 == "99%" {print $2}' "$dir/wrk.$mode")
    echo "$mode: probes/s $(( (p1 - p0) / secs )) (failed so far $f1)," \
         "/connect $rps req/s, p50 $p50, p99 $p99"
    stop_server
done
