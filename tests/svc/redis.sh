#!/bin/bash
# A throw-away Redis for tests: redis-server on 127.0.0.1:PORT, configured as a cache (no RDB
# snapshots, no AOF, LRU eviction past REDIS_MAXMEMORY, default 256mb), state in STATE.
# Usage: tests/svc/redis.sh start STATE [PORT] | stop STATE | status STATE | url STATE
set -eu
svc_name=redis.sh
svc_usage="$0 start STATE [PORT] | stop STATE | status STATE | url STATE"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cmd_start() {
    local state=$1 port
    svc_stopped redis "$state"
    svc_guard "$state"
    port=$(svc_take_port "$state" "${2:-}")
    svc_unused "$port"
    # set-proc-title off keeps STATE/ in the command line, which svc_pid checks before a signal.
    cat >"$state/redis.conf" <<EOF
bind 127.0.0.1
port $port
protected-mode yes
daemonize no
set-proc-title no
dir $state
logfile ""
save ""
appendonly no
maxmemory ${REDIS_MAXMEMORY:-256mb}
maxmemory-policy allkeys-lru
EOF
    svc_spawn redis "$state" redis-server "$state/redis.conf"
    svc_wait redis "$state" 20 redis-cli -h 127.0.0.1 -p "$port" ping
    svc_unguard
    cmd_url "$state"
}

cmd_stop() {
    svc_stop redis "$1"
}

cmd_status() {
    svc_status redis "$1"
}

cmd_url() {
    local port
    port=$(svc_port "$1")
    echo "redis://127.0.0.1:$port"
}

svc_main "$@"
