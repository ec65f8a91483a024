#!/usr/bin/env bash
# The cluster of conf/cluster/ on this machine, loopback only: a
# redis-server, two bootstrap instances replicating through it, the front
# load balancer, and a swarm of peers registering through the front.
#
#   scripts/cluster.sh start    start what is not running, print the URLs
#   scripts/cluster.sh stop     stop everything, by the PIDs in pid files
#   scripts/cluster.sh status   what runs (exit 1 if something is down)
#   scripts/cluster.sh urls     print the URLs
#   scripts/cluster.sh render   only write the confs to $CLUSTER_DIR/conf/
#
# `start` is idempotent: after a crash (e.g. an instance killed) it starts
# only what is missing.  Every process is ours, found by its pid file
# under $CLUSTER_DIR, and stopped by that PID only.
#
# Environment (defaults are the ports written in conf/cluster/):
#   CLUSTER_DIR           run directory (build/cluster)
#   CLUSTER_FRONT_PORT    front load balancer (8080)
#   CLUSTER_A_PORT        bootstrap instance A (8081)
#   CLUSTER_B_PORT        bootstrap instance B (8082)
#   CLUSTER_REDIS_PORT    redis-server (6380)
#   CLUSTER_CONTROL_PORT  the swarm's control API (8089)
#   CLUSTER_PEER_PORT     first peer port of the swarm (9000)
#   CLUSTER_PEERS         peers in the swarm (100; 0 = no swarm)
#   CLUSTER_SWARM_ARGS    more scale-client swarm options
#   SCALE_NGINX           nginx binary (/usr/sbin/nginx)
#   REDIS_SERVER          redis-server binary (/usr/bin/redis-server)
#
# The confs are rendered into $CLUSTER_DIR/conf/ with those ports and
# paths (with the defaults the rendering equals conf/cluster/), so that
# tests run the very same files on free ports.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

DIR=${CLUSTER_DIR:-build/cluster}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
FRONT=${CLUSTER_FRONT_PORT:-8080}
A=${CLUSTER_A_PORT:-8081}
B=${CLUSTER_B_PORT:-8082}
REDIS=${CLUSTER_REDIS_PORT:-6380}
CONTROL=${CLUSTER_CONTROL_PORT:-8089}
PEER_PORT=${CLUSTER_PEER_PORT:-9000}
PEERS=${CLUSTER_PEERS:-100}
SWARM_ARGS=${CLUSTER_SWARM_ARGS:-}
NGINX=${SCALE_NGINX:-/usr/sbin/nginx}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
CLIENT=$REPO/client/scale-client
MODULE=$REPO/build/ngx_scale_module.so
WAIT=${CLUSTER_WAIT:-20}          # seconds to wait for each component

# how each process of ours shows in /proc/<pid>/cmdline
REDIS_MATCH="redis-server 127.0.0.1:$REDIS"
SWARM_MATCH="scale-client swarm"


say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }


# the pid in a pid file, if that process runs and is what we started
# (a stale file or a reused pid does not count)
running_pid() {
    local file=$1 what=$2 pid
    [ -f "$file" ] || return 1
    pid=$(head -n1 "$file" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$what" || return 1
    echo "$pid"
}


# is the process $1 alive (not gone, not a zombie)?
alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ! $st =~ ^[0-9]+\ \(.*\)\ Z ]]
}


# does something accept on 127.0.0.1:$1?
listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}


wait_port() {
    local port=$1 pidfile=$2 what=$3 i
    for ((i = 0; i < WAIT * 10; i++)); do
        if listening "$port" && running_pid "$pidfile" "$what" >/dev/null
        then
            return 0
        fi
        sleep 0.1
    done
    return 1
}


# conf/cluster/* with this run's ports and directory
render() {
    local out=$DIR/conf f sub
    mkdir -p "$out"
    sub=(-e "s/127\.0\.0\.1:8080\b/127.0.0.1:@FRONT@/g"
         -e "s/127\.0\.0\.1:8081\b/127.0.0.1:@A@/g"
         -e "s/127\.0\.0\.1:8082\b/127.0.0.1:@B@/g"
         -e "s/127\.0\.0\.1:6380\b/127.0.0.1:@REDIS@/g"
         -e "s/127\.0\.0\.1:8089\b/127.0.0.1:@CONTROL@/g"
         -e "s/@FRONT@/$FRONT/g; s/@A@/$A/g; s/@B@/$B/g"
         -e "s/@REDIS@/$REDIS/g; s/@CONTROL@/$CONTROL/g")
    if [ "$DIR" != "$REPO/build/cluster" ]; then
        sub+=(-e "s#build/cluster/#$DIR/#g")
    fi
    for f in conf/cluster/*.conf conf/cluster/*.inc; do
        sed "${sub[@]}" "$f" > "$out/$(basename "$f")"
    done
}


start_redis() {
    local d=$DIR/redis
    if running_pid "$d/redis.pid" "$REDIS_MATCH" >/dev/null; then
        return 0
    fi
    [ -x "$REDIS_SERVER" ] || die "$REDIS_SERVER not found (make deps)"
    listening "$REDIS" && die "port $REDIS is taken (CLUSTER_REDIS_PORT)"
    mkdir -p "$d"
    rm -f "$d/redis.pid"
    # no persistence: the instances rewrite what they hold into an empty
    # Redis (they notice by its epoch key)
    "$REDIS_SERVER" --port "$REDIS" --bind 127.0.0.1 --protected-mode yes \
        --dir "$d" --save '' --appendonly no --daemonize yes \
        --pidfile "$d/redis.pid" --logfile "$d/redis.log"
    wait_port "$REDIS" "$d/redis.pid" "$REDIS_MATCH" \
        || die "redis-server did not come up; see $d/redis.log"
    say "redis-server on 127.0.0.1:$REDIS (pid $(cat "$d/redis.pid"))"
}


# start_nginx <name> <conf> <port>
start_nginx() {
    local name=$1 conf=$2 port=$3 d=$DIR/$1 out
    if running_pid "$d/nginx.pid" "$DIR/conf/$conf" >/dev/null; then
        return 0
    fi
    listening "$port" && die "port $port is taken ($name)"
    mkdir -p "$d"
    rm -f "$d/nginx.pid"
    if ! out=$("$NGINX" -p "$REPO/" -c "$DIR/conf/$conf" 2>&1); then
        die "nginx ($name) refused to start: $out"
    fi
    wait_port "$port" "$d/nginx.pid" "$DIR/conf/$conf" \
        || die "nginx ($name) did not come up; see $d/error.log"
    say "$name on 127.0.0.1:$port (master pid $(cat "$d/nginx.pid"))"
}


start_swarm() {
    local d=$DIR/swarm i
    if ((PEERS == 0)); then
        return 0
    fi
    if running_pid "$d/swarm.pid" "$SWARM_MATCH" >/dev/null; then
        return 0
    fi
    [ -x "$CLIENT" ] || die "$CLIENT not built (make)"
    listening "$CONTROL" && die "port $CONTROL is taken (control API)"
    for ((i = PEER_PORT; i < PEER_PORT + PEERS; i++)); do
        listening "$i" && die "peer port $i is taken (CLUSTER_PEER_PORT)"
    done
    mkdir -p "$d"
    # shellcheck disable=SC2086
    setsid "$CLIENT" swarm --bootstrap "http://127.0.0.1:$FRONT" \
        --count "$PEERS" --base-port "$PEER_PORT" \
        --control "127.0.0.1:$CONTROL" --progress 10s $SWARM_ARGS \
        < /dev/null > "$d/swarm.log" 2>&1 &
    echo $! > "$d/swarm.pid"
    wait_port "$CONTROL" "$d/swarm.pid" "$SWARM_MATCH" \
        || die "the swarm did not come up; see $d/swarm.log"
    say "swarm of $PEERS peers on" \
        "127.0.0.1:$PEER_PORT..$((PEER_PORT + PEERS - 1))" \
        "(pid $(cat "$d/swarm.pid"))"
}


urls() {
    cat <<EOF
front (peers, bench):   http://127.0.0.1:$FRONT/connect
dashboard A via front:  http://127.0.0.1:$FRONT/a/status-page
dashboard B via front:  http://127.0.0.1:$FRONT/b/status-page
instance A:             http://127.0.0.1:$A/status-page
instance B:             http://127.0.0.1:$B/status-page
swarm control:          http://127.0.0.1:$CONTROL/clients (via the front: http://127.0.0.1:$FRONT/manager/clients)
redis:                  127.0.0.1:$REDIS
logs, pid files:        $DIR/
stop:                   make cluster-stop
EOF
}


# stop_pid <name> <pidfile> <cmdline match> <signal>: signal, wait,
# then KILL
stop_pid() {
    local name=$1 file=$2 what=$3 sig=$4 pid i
    pid=$(running_pid "$file" "$what") || { rm -f "$file"; return 0; }
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < WAIT * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        say "$name (pid $pid) did not stop on SIG$sig: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    say "stopped $name (pid $pid)"
}


status() {
    local down=0 p
    for p in "redis/redis.pid|$REDIS_MATCH" \
             "a/nginx.pid|$DIR/conf/bootstrap-a.conf" \
             "b/nginx.pid|$DIR/conf/bootstrap-b.conf" \
             "front/nginx.pid|$DIR/conf/front.conf" \
             "swarm/swarm.pid|$SWARM_MATCH"; do
        set -- "${p%%|*}" "${p#*|}"
        if pid=$(running_pid "$DIR/$1" "$2"); then
            echo "up    ${1%%/*} (pid $pid)"
        elif [ "${1%%/*}" = swarm ] && ((PEERS == 0)); then
            echo "off   swarm"
        else
            echo "down  ${1%%/*}"
            down=1
        fi
    done
    return $down
}


case "${1:-}" in
start)
    [ -f "$MODULE" ] || die "$MODULE not built (make)"
    render
    start_redis
    start_nginx a bootstrap-a.conf "$A"
    start_nginx b bootstrap-b.conf "$B"
    start_nginx front front.conf "$FRONT"
    start_swarm
    echo
    urls
    ;;
stop)
    # the swarm first: its peers /delete themselves through the front
    stop_pid swarm "$DIR/swarm/swarm.pid" "$SWARM_MATCH" TERM
    stop_pid front "$DIR/front/nginx.pid" "$DIR/conf/front.conf" QUIT
    stop_pid a "$DIR/a/nginx.pid" "$DIR/conf/bootstrap-a.conf" QUIT
    stop_pid b "$DIR/b/nginx.pid" "$DIR/conf/bootstrap-b.conf" QUIT
    stop_pid redis "$DIR/redis/redis.pid" "$REDIS_MATCH" TERM
    ;;
status)
    status
    ;;
urls)
    urls
    ;;
render)
    render
    ;;
*)
    echo "usage: $0 start|stop|status|urls|render" >&2
    exit 2
    ;;
esac
