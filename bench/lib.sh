# Helpers shared by the bench scripts (sourced, not run): servers started by a script are
# stopped by their PIDs when it ends, however it ends; one measured wrk run with the CPU it cost.
# The sourcing script defines die().
# shellcheck shell=bash

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

# cpu_ticks PID...: CPU time in clock ticks of the processes and their children (nginx's
# workers, PostgreSQL's backends).
cpu_ticks() {
    local p pid sum=0 line f
    for p in "$@"; do
        for pid in "$p" $(pgrep -P "$p" || true); do
            read -r line 2>/dev/null <"/proc/$pid/stat" || continue
            read -r -a f <<<"${line##*) }"
            sum=$((sum + f[11] + f[12]))
        done
    done
    echo "$sum"
}

# Clock ticks of the whole machine: busy, stolen by the hypervisor, and spent by the kernel on
# its own (interrupts, softirqs, kernel threads). The kernel share is mostly work done for the
# server (writeback of its files, journal commits), the rest of what neither the server nor wrk
# used is other work on the machine that disturbs the figures.
machine_ticks() {
    local user nice system irq softirq steal kthreads
    # Fields: cpu user nice system idle iowait irq softirq steal ...
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    # Kernel threads are the children of kthreadd (PID 2); cat skips those that just exited.
    kthreads=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '{ s = $0; sub(/^.*\) /, "", s);
        split(s, f, " "); if (f[2] == 2 || $1 == 2) t += f[12] + f[13] } END { print t + 0 }')
    echo "$((user + nice + system + irq + softirq)) $steal $((irq + softirq + kthreads))"
}

# bench_wrk "SERVER_PID..." RESULT_FILE WRK_ARGS...: one measured wrk run; the result file gets
# wrk's report, the CPU ticks of the server (all the PIDs of the first argument, which is split
# on spaces), the machine's ticks (see machine_ticks) and wrk's CPU time.
bench_wrk() {
    local file=$2 before m0 m1
    local -a server_pids
    read -r -a server_pids <<<"$1"
    shift 2
    before=$(cpu_ticks "${server_pids[@]}")
    read -r -a m0 <<<"$(machine_ticks)"
    /usr/bin/time -f 'WRK_CPU %U %S' -o "$file.time" wrk --timeout 10s "$@" >"$file"
    read -r -a m1 <<<"$(machine_ticks)"
    {
        echo "CPU_TICKS $(($(cpu_ticks "${server_pids[@]}") - before))"
        echo "MACHINE_TICKS $((m1[0] - m0[0])) $((m1[1] - m0[1])) $((m1[2] - m0[2]))"
        cat "$file.time"
    } >>"$file"
    rm -f "$file.time"
}
