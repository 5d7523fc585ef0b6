# Shared by the tests/svc scripts (sourced, not run): start a server in the background with its
# PID in the state dir, wait until it answers, stop it by that PID, and dispatch the commands to
# the sourcing script's cmd_start, cmd_stop, cmd_status, cmd_url (it sets svc_name, svc_usage).
# shellcheck shell=bash disable=SC2154 # svc_name and svc_usage come from the sourcing script

# svc_die MESSAGE: prints "NAME: MESSAGE" on stderr and exits 1.
svc_die() {
    echo "$svc_name: $*" >&2
    exit 1
}

# svc_dir DIR: creates DIR if needed and prints its absolute physical path (PID checks match it).
svc_dir() {
    mkdir -p -- "$1" && (cd -P -- "$1" && pwd)
}

# svc_alive PID: true while PID is a process that has not exited. A zombie counts as exited: a
# server whose starter script is gone is reaped by PID 1, which may take its time or never do it.
svc_alive() {
    local line st
    read -r line 2>/dev/null </proc/"$1"/stat || return 1
    st=${line##*) }
    st=${st%% *}
    [[ $st != Z && $st != X ]]
}

# svc_pid NAME STATE: prints the PID recorded in STATE/NAME.pid if that process still runs and
# its command line names STATE/, so that a stale file (reboot, PID reuse) never leads to
# signalling a stranger. Fails otherwise.
svc_pid() {
    local f=$2/$1.pid pid cmd i
    [[ -f $f ]] || return 1
    read -r pid <"$f" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # A process in the middle of an exec (setsid, setpriv) shows an empty command line for a
    # moment, as does a kernel thread, for good.
    for ((i = 0; i < 50; i++)); do
        svc_alive "$pid" || return 1
        cmd=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || return 1
        [[ -z $cmd ]] || break
        sleep 0.02
    done
    [[ $cmd == *"$2/"* ]] || return 1
    echo "$pid"
}

# svc_stopped NAME STATE: fails, saying so, when NAME already runs from STATE.
svc_stopped() {
    if svc_pid "$1" "$2" >/dev/null; then
        svc_die "$1 is already running in '$2'"
    fi
}

# svc_spawn NAME STATE CMD...: runs CMD in the background in a session of its own, stdout and
# stderr appended to STATE/NAME.log, and records its PID in STATE/NAME.pid. CMD must be the
# server itself, not a wrapper that forks (setpriv execs, runuser and su do not), and must name
# STATE/ in its arguments (see svc_pid). Its output goes to the log so that a caller reading this
# script's output through a pipe is not held open by the server. The session makes the server a
# process group leader, so that svc_stop's last resort reaches its children too.
svc_spawn() {
    local name=$1 state=$2
    shift 2
    svc_stopped "$name" "$state"
    # The child is not a group leader, so setsid execs CMD in the same process.
    setsid "$@" </dev/null >>"$state/$name.log" 2>&1 &
    local pid=$! i
    echo "$pid" >"$state/$name.pid"
    # Until the child has exec'd CMD, its command line is still this script's.
    for ((i = 0; i < 100; i++)); do
        svc_pid "$name" "$state" >/dev/null && return 0
        svc_alive "$pid" || break
        sleep 0.05
    done
    tail -n 20 "$state/$name.log" >&2
    svc_die "$name did not start; see '$state/$name.log'"
}

# svc_wait NAME STATE SECONDS CHECK...: runs CHECK every 0.1 s until it succeeds. Fails, with
# the end of STATE/NAME.log on stderr, after SECONDS or as soon as the process has exited.
svc_wait() {
    local name=$1 state=$2 secs=$3 pid i
    shift 3
    # svc_spawn has just checked this PID.
    read -r pid <"$state/$name.pid"
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if ! svc_alive "$pid"; then
            tail -n 20 "$state/$name.log" >&2
            svc_die "$name exited during start-up; see '$state/$name.log'"
        fi
        sleep 0.1
    done
    tail -n 20 "$state/$name.log" >&2
    svc_die "$name not ready within ${secs}s; see '$state/$name.log'"
}

# svc_guard STATE: until svc_unguard, an exit (a start failing half-way) runs the script's
# cmd_stop STATE, so that a failed start leaves nothing running.
svc_guard() {
    # shellcheck disable=SC2064 # STATE is fixed now, the function's locals are gone by then
    trap "cmd_stop $(printf %q "$1") >/dev/null 2>&1" EXIT
}

svc_unguard() {
    trap - EXIT
}

# svc_stop NAME STATE [SIGNAL [SECONDS]]: sends SIGNAL (TERM) to the recorded process, waits up
# to SECONDS (30) for it to exit, then sends KILL to its whole process group (postgres backends,
# nginx workers outlive a killed master). Succeeds when nothing is left running, including when
# it was not running at all.
svc_stop() {
    local name=$1 state=$2 sig=${3:-TERM} secs=${4:-30} pid i
    if ! pid=$(svc_pid "$name" "$state"); then
        rm -f "$state/$name.pid"
        return 0
    fi
    kill -s "$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        svc_alive "$pid" || break
        sleep 0.1
    done
    if svc_alive "$pid"; then
        echo "$svc_name: $name (pid $pid) still running ${secs}s after SIG$sig, killing it" >&2
        kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            svc_alive "$pid" || break
            sleep 0.1
        done
        svc_alive "$pid" && svc_die "$name (pid $pid) survived SIGKILL"
    fi
    rm -f "$state/$name.pid"
}

# svc_status NAME STATE: prints "NAME running (pid N)" or "NAME stopped"; fails when stopped.
svc_status() {
    local pid
    if pid=$(svc_pid "$1" "$2"); then
        echo "$1 running (pid $pid)"
        return 0
    fi
    echo "$1 stopped"
    return 1
}

# svc_listening PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
svc_listening() {
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

# svc_unused PORT: fails, saying so, when something already listens on 127.0.0.1:PORT; otherwise
# a readiness check on PORT could be answered by that stranger.
svc_unused() {
    if svc_listening "$1"; then
        svc_die "port $1 is already in use"
    fi
}

# svc_free_port: prints a TCP port that was free on 127.0.0.1 a moment ago, below Linux's
# ephemeral range (32768-60999), so outgoing connections cannot take it before the server binds
# it, nor while it is stopped for a restart on the same port.
svc_free_port() {
    python3 -c 'import random, socket
for _ in range(100):
    p = random.randrange(20000, 32768)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port between 20000 and 32767")'
}

# svc_port STATE: prints the port recorded in STATE by the last start.
svc_port() {
    [[ -f $1/port ]] || svc_die "no port recorded in '$1': never started"
    cat "$1/port"
}

# svc_take_port STATE [PORT]: the port a start listens on, recorded in STATE/port and printed:
# PORT, else the one of the previous start (a restart keeps its address), else a free one.
svc_take_port() {
    local port=${2:-}
    if [[ -z $port && -f $1/port ]]; then
        read -r port <"$1/port"
    elif [[ -z $port ]]; then
        port=$(svc_free_port)
    fi
    if [[ ! $port =~ ^[0-9]+$ ]] || ((port == 0 || port > 65535)); then
        svc_die "bad port '$port'"
    fi
    echo "$port" >"$1/port"
    echo "$port"
}

# svc_main ARGS...: the command line of every service script, "CMD STATE [ARGS...]". Calls the
# script's function cmd_CMD (cmd_start, cmd_stop, ...) with the absolute state directory first.
svc_main() {
    local cmd=${1:-} state
    if [[ $# -lt 2 || ! $cmd =~ ^[a-z0-9]+$ ]] || ! declare -F "cmd_$cmd" >/dev/null; then
        printf 'usage: %s\n' "$svc_usage" >&2
        exit 2
    fi
    case $cmd in
    start) state=$(svc_dir "$2") || svc_die "cannot create '$2'" ;;
    *)
        [[ -d $2 ]] || svc_die "no state directory '$2'"
        state=$(cd -P -- "$2" && pwd)
        ;;
    esac
    shift 2
    "cmd_$cmd" "$state" "$@"
}
