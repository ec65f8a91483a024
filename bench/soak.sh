#!/usr/bin/env bash
# Soak (issue 9): MINUTES (default 10) of churn under load with health
# checks on, then the figures: zone usage at start and end, the
# consistency walk (hashset = dense array = heap), answers by status,
# probes and evictions, and what the error log says.  Not part of
# `make test`.
#
#   bench/soak.sh [MINUTES]            the soak (2 workers)
#   bench/soak.sh --valgrind [SECONDS] a short run (default 60) under
#                                      valgrind: leaks and errors
#
# wrk (one thread, a few connections, paced by SOAK_GAP_MS per request
# and connection) registers, refreshes (/connect and /alive) and deletes
# ids drawn from SOAK_IDS (default 5000).  Every id has an address on
# loopback: 70% point at a listener answering 200, 20% at one answering
# 500, 10% at a closed port; so probes pass and fail, failing clients
# turn unhealthy and are evicted after scale_max_age, and deleted ones
# come back.  Every 30 s it prints /status and /status/check figures.
# Exit status 1 when the walk ever disagrees, a 5xx is answered, a
# worker dies, or (valgrind) a leak or error is reported.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
valgrind=0
if [ "${1:-}" = --valgrind ]; then
    valgrind=1
    shift
    secs=${1:-60}
else
    secs=$(( ${1:-10} * 60 ))
fi
module=${SOAK_MODULE:-$root/build/ngx_scale_module.so}
dir=${SOAK_DIR:-$root/build/soak}
ids=${SOAK_IDS:-5000}
every=${SOAK_EVERY:-30}
if ((valgrind)); then
    gap=${SOAK_GAP_MS:-20}
    conns=2
    workers=1
else
    gap=${SOAK_GAP_MS:-2}
    conns=4
    workers=2
fi

[ -f "$module" ] || { echo "soak: no module $module (make module)"; exit 2; }
command -v wrk > /dev/null || { echo "soak: wrk is not installed"; exit 2; }

free_port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(
        LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport'
}

port=$(free_port)
ok_port=$(free_port)
bad_port=$(free_port)
closed_port=$(free_port)      # nothing listens there

rm -rf "$dir"
mkdir -p "$dir/conf" "$dir/logs"

cat > "$dir/conf/nginx.conf" <<CONF
load_module $module;
worker_processes $workers;
$( ((valgrind)) && echo "daemon off;" )
error_log $dir/logs/error.log notice;
pid $dir/logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_max_body_size 16k;

    scale_zone name=soak size=8m;
    scale_refresh_min 0;
    scale_min_age 1s;
    scale_max_age 10s;
    scale_health_timeout 1s;
    scale_health_interval 100ms;
    scale_cleanup_interval 1s;

    server {
        listen 127.0.0.1:$port;
        location = /connect      { scale_connect; }
        location = /delete       { scale_delete; }
        location = /alive        { scale_alive; }
        location = /status       { scale_status; }
        location = /status/check { scale_check; }
    }

    # what the clients' addresses point to
    server {
        listen 127.0.0.1:$ok_port;
        location / { return 200; }
    }
    server {
        listen 127.0.0.1:$bad_port;
        location / { return 500; }
    }
}
CONF

cat > "$dir/churn.lua" <<'LUA'
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    ids = tonumber(args[1])
    ports = { args[2], args[3], args[4] }
    gap = tonumber(args[5])
    counts = {}
    math.randomseed(os.time() + tid * 7919)
end

function delay()
    return gap
end

-- 7 of 10 ids answer probes, 2 answer 500, 1 has nothing listening
local function addr(i)
    local m = i % 10
    local p = m < 7 and ports[1] or (m < 9 and ports[2] or ports[3])
    return "127.0.0.1:" .. p
end

function request()
    local i = math.random(ids)
    local id = "soak-" .. i
    local r = math.random(100)
    if r <= 55 then
        return wrk.format("POST", "/connect", nil,
                          '{"id":"' .. id .. '","addr":"' .. addr(i) .. '"}')
    elseif r <= 80 then
        return wrk.format("POST", "/alive", nil, id)
    end
    return wrk.format("POST", "/delete", nil, id)
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("counts")) do
            total[k] = (total[k] or 0) + v
        end
    end
    for k, v in pairs(total) do
        io.write(string.format("status %d %d\n", k, v))
    end
    local e = summary.errors
    io.write(string.format("errors connect=%d read=%d write=%d timeout=%d\n",
                           e.connect, e.read, e.write, e.timeout))
    io.write(string.format("requests %d p99_us %d\n", summary.requests,
                           latency:percentile(99)))
end
LUA

nginx_pid=
cleanup() {
    [ -n "${wrk_pid:-}" ] && kill "$wrk_pid" 2> /dev/null
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2> /dev/null; then
        kill -QUIT "$nginx_pid"
        for _ in $(seq 1 600); do
            kill -0 "$nginx_pid" 2> /dev/null || break
            sleep 0.1
        done
    fi
}
trap cleanup EXIT

nginx=(/usr/sbin/nginx -p "$dir/" -c "$dir/conf/nginx.conf")
if ((valgrind)); then
    # NGINX's own: a worker's copy of the environment is never freed
    cat > "$dir/nginx.supp" <<'SUPP'
{
   nginx-worker-environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
SUPP
    nice -n 10 valgrind --leak-check=full \
        --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect \
        --suppressions="$dir/nginx.supp" \
        --log-file="$dir/logs/valgrind.%p.log" "${nginx[@]}" \
        > "$dir/logs/stderr.log" 2>&1 &
    nginx_pid=$!
else
    nice -n 10 "${nginx[@]}" > "$dir/logs/stderr.log" 2>&1 || {
        cat "$dir/logs/stderr.log"; exit 2; }
    for _ in $(seq 1 50); do
        [ -s "$dir/logs/nginx.pid" ] && break
        sleep 0.1
    done
    nginx_pid=$(cat "$dir/logs/nginx.pid")
fi

url=http://127.0.0.1:$port
for _ in $(seq 1 300); do
    curl -sf "$url/status" > /dev/null && break
    sleep 0.1
done
curl -sf "$url/status" > /dev/null || {
    echo "soak: nginx does not answer"; cat "$dir/logs/error.log"; exit 2; }

# one line of figures from /status and /status/check
figures() {
    local st ck
    st=$(curl -s --max-time 30 "$url/status")
    ck=$(curl -s --max-time 60 "$url/status/check")
    ST=$st CK=$ck perl -MJSON::PP -e '
        my $s = eval { decode_json($ENV{ST}) } || {};
        my $c = eval { decode_json($ENV{CK}) } || {};
        my ($z, $h, $n) = ($s->{zone}, $s->{health}, $s->{counters});
        printf "clients %d healthy %d heap %d | zone used %d free %d"
            . " (entries %d B) | check entries %d errors %s ok %s"
            . " | reg %d del %d | probes ok %d failed %d evicted %d+%d\n",
            $s->{clients}, $h->{healthy}, $s->{heap_size}, $z->{used},
            $z->{free}, $z->{entry_bytes}, $c->{entries} // -1,
            $c->{errors} // "?", ($c->{ok} ? "true" : "false"),
            $n->{registrations}, $n->{deletes}, $h->{probes_passed},
            $h->{probes_failed} + $h->{probes_timed_out},
            $h->{evicted_age}, $h->{evicted_failure};'
}

start_line=$(figures)
echo "soak: $((secs))s, $ids ids, $conns connections paced ${gap}ms," \
     "$workers worker(s)$( ((valgrind)) && echo ', under valgrind')"
echo "soak: prefix $dir"
echo "   0s  $start_line"

nice -n 10 wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s \
    -s "$dir/churn.lua" "$url/" -- "$ids" "$ok_port" "$bad_port" \
    "$closed_port" "$gap" > "$dir/wrk.out" 2>&1 &
wrk_pid=$!

bad_checks=0
t0=$(date +%s)
while kill -0 "$wrk_pid" 2> /dev/null; do
    sleep "$every"
    kill -0 "$wrk_pid" 2> /dev/null || break
    line=$(figures)
    [[ $line == *"ok true"* ]] || bad_checks=$((bad_checks + 1))
    printf '%4ds  %s\n' $(( $(date +%s) - t0 )) "$line"
done
wait "$wrk_pid"
wrk_pid=

end_line=$(figures)
[[ $end_line == *"ok true"* ]] || bad_checks=$((bad_checks + 1))
printf '%4ds  %s\n' $(( $(date +%s) - t0 )) "$end_line"

cleanup
nginx_pid=

echo "soak: wrk: $(tr '\n' ' ' < "$dir/wrk.out" | grep -o 'status.*')"
fives=$(awk '$1 == "status" && $2 >= 500 { n += $3 } END { print n + 0 }' \
        "$dir/wrk.out")
alerts=$(grep -cE '\[(alert|emerg|crit)\]|exited on signal' \
         "$dir/logs/error.log")
field() {    # field <name> <line>: the number after "<name> "
    grep -o "$1 [0-9-]*" <<< "$2" | head -1 | grep -o '[0-9-]*$'
}
echo "soak: zone used at start $(field 'zone used' "$start_line") bytes," \
     "at end $(field 'zone used' "$end_line") bytes"
echo "soak: at rest: hashset (walk) $(field 'check entries' "$end_line")," \
     "clients $(field clients "$end_line"), heap $(field heap "$end_line")"
echo "soak: checks that disagreed: $bad_checks; 5xx answers: $fives;" \
     "alert/crit/emerg lines: $alerts"

status=0
((bad_checks == 0 && fives == 0 && alerts == 0)) || status=1

if ((valgrind)); then
    errs=0
    for f in "$dir"/logs/valgrind.*.log; do
        [ -f "$f" ] || continue
        lost=$(grep -hE 'definitely lost:|indirectly lost:|ERROR SUMMARY' \
               "$f" | sed 's/^==[0-9]*== *//; s/ (suppressed.*//' \
               | tr -s ' \n' ' ')
        echo "soak: valgrind $(basename "$f"): $lost"
        grep -qE 'ERROR SUMMARY: [1-9]' "$f" && errs=$((errs + 1))
    done
    echo "soak: valgrind logs with reports: $errs"
    ((errs == 0)) || status=1
fi

echo "soak: $( ((status == 0)) && echo PASS || echo FAIL )"
exit $status
