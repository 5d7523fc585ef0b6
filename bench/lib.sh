# Helpers shared by the bench scripts (sourced, not run): servers started by a script are
# stopped by their PIDs when it ends, however it ends. The sourcing script defines die().

pids=()
stop_all() {
    local p i
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || continue
        for ((i = 0; i < 100; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers 2xx while the process PID lives.
wait_ready() {
    local p=$1 url=$2 log=$3 i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$p" 2>/dev/null || die "server $p exited during start-up; see $log"
        curl -sf -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    die "$url did not answer within 20 s; see $log"
}
