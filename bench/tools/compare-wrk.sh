#!/usr/bin/env bash
# Is scale-bench the bottleneck?  Starts a stock nginx (2 workers, no
# module) whose /b/connect answers `return 200` with a 5-peer body, then
# runs wrk, scale-bench and the libevent probe against it in turn, ROUNDS
# times, each for SECONDS with 2 threads x 64 connections, and prints the
# median requests/s and the load generator's own CPU per request.
#   usage: bench/tools/compare-wrk.sh [ROUNDS] [SECONDS]

set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
secs=${2:-4}
work=$(mktemp -d /tmp/scale-compare.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
pid=

cleanup() {
    [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT

make -s -C "$here" scale-bench evprobe
command -v wrk > /dev/null || { echo "wrk is not installed" >&2; exit 1; }

body='["bench-99999999","bench-99999998","bench-99999997","bench-99999996",'
body+='"bench-99999995"]'
mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    server {
        listen 127.0.0.1:$port;
        location = /b/connect {
            default_type application/json;
            add_header X-Scale-Registered refresh;
            return 200 '$body';
        }
    }
}
CONF
/usr/sbin/nginx -p "$work/" -c "$work/nginx.conf" -e "$work/logs/error.log"
sleep 0.5
pid=$(cat "$work/nginx.pid")

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "bench-1"
wrk.headers["Content-Type"] = "text/plain"
LUA

# Why: rps and CPU microseconds per request of one run of one tool.
measure() {
    local tool=$1 out=$work/out.txt n rps
    case $tool in
    wrk)
        /usr/bin/time -o "$work/cpu" -f "%U %S" wrk -t2 -c64 -d"${secs}s" \
            -s "$work/post.lua" "http://127.0.0.1:$port/b/connect" > "$out"
        n=$(awk '/requests in/ {print $1}' "$out")
        ;;
    scale-bench)
        /usr/bin/time -o "$work/cpu" -f "%U %S" "$here/scale-bench" -q \
            --url "http://127.0.0.1:$port/b" --allow-foreign -t2 -c64 \
            -d "$secs" -w 0 > "$out"
        n=$(awk '/requests/ {print $2; exit}' "$out")
        ;;
    libevent)
        /usr/bin/time -o "$work/cpu" -f "%U %S" "$here/build/evprobe" 2 64 \
            "$secs" "$port" /b/connect > "$out"
        n=$(awk '{print $2}' "$out")
        ;;
    esac
    awk -v n="$n" -v s="$secs" '{printf "%.0f %.2f\n", n / s,
                                 ($1 + $2) * 1e6 / n}' "$work/cpu"
}

declare -A rps cpu
for r in $(seq "$rounds"); do
    for tool in wrk scale-bench libevent; do
        read -r a b < <(measure "$tool")
        rps[$tool]+="$a "
        cpu[$tool]+="$b "
        echo "round $r: $tool $a rps, $b us CPU/request" >&2
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {
    print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| tool | median rps | median CPU us/request |"
echo "|---|---:|---:|"
for tool in wrk scale-bench libevent; do
    echo "| $tool | $(echo "${rps[$tool]}" | median) \
| $(echo "${cpu[$tool]}" | median) |"
done
