#!/usr/bin/env bash
# Installs what ngx_scale needs to build, run and test, with apt-get, and
# only what is missing: a no-op on a machine that has it all.
set -euo pipefail

packages=(
    build-essential nginx nginx-dev libjansson-dev libhiredis-dev
    libevent-dev redis-server
    libtest-base-perl libtest-longstring-perl libtext-diff-perl
    libipc-run-perl libhttp-message-perl libwww-perl
    libnginx-mod-http-echo wrk curl valgrind
    clang libclang-rt-14-dev lld
    chromium prometheus
    docker-compose    # parses docker/compose.yaml in t/053 (no engine)
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps: all present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${missing[*]}; run as root (or install them)" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the nginx package starts a service where systemd runs; our own nginx
# processes use their own prefix and ports, so it does not matter here
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
