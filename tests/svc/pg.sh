#!/bin/bash
# A throw-away PostgreSQL for tests: initdb in STATE on the first start (superuser role "kho",
# trust auth for 127.0.0.1 only, no Unix socket, fsync on), postgres on 127.0.0.1:PORT and a
# database "kho". Prints postgres://kho@127.0.0.1:PORT/kho.
# Usage: tests/svc/pg.sh start STATE [PORT] | stop STATE | status STATE | url STATE
set -eu
svc_name=pg.sh
svc_usage="$0 start STATE [PORT] | stop STATE | status STATE | url STATE"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# PostgreSQL refuses to run as root. Then the server runs as PG_USER (default: "postgres", the
# account Debian's server package creates, so no files of ours belong to a shared id such as
# nobody), and STATE, which this script owns whole, is handed to that user. The user must be able
# to reach STATE: its parent directories need o+x (a `mktemp -d` directory is 0700).
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    pg_user=${PG_USER:-postgres}
    id -u "$pg_user" >/dev/null 2>&1 || svc_die "as root, needs the user '$pg_user' (PG_USER)"
    # setpriv execs, so the PID recorded is the server's own (runuser would fork and wait).
    as_pg=(setpriv --reuid="$pg_user" --regid="$pg_user" --init-groups --)
fi

bin=${PG_BIN:-}
if [[ -z $bin ]]; then
    bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
[[ -x $bin/postgres ]] || svc_die "no PostgreSQL server found (scripts/deps.sh scale, or PG_BIN)"

psql_kho() {
    "$bin/psql" -X -h 127.0.0.1 -p "$1" -U kho -v ON_ERROR_STOP=1 -Atq "${@:2}"
}

init_cluster() {
    local state=$1 data=$1/data
    "${as_pg[@]}" "$bin/initdb" -D "$data" -U kho -A trust -E UTF8 --no-locale --no-sync \
        --no-instructions >>"$state/postgres.log" 2>&1 ||
        svc_die "initdb failed; see '$state/postgres.log'"
    # The port comes from the command line at each start, so a restart may move it.
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
logging_collector = off
EOF
    echo "host all all 127.0.0.1/32 trust" >"$data/pg_hba.conf"
}

# After a kill -9 the lock file stays, naming a PID that can be a zombie for a while (PID 1 reaps
# it when it gets to it), which postgres takes for a live postmaster. Orphaned backends still
# attached to the shared memory are caught by postgres's own interlock, so this is safe.
remove_stale_lock() {
    local pid
    [[ -f $1 ]] || return 0
    read -r pid <"$1" || return 0
    [[ $pid =~ ^[0-9]+$ ]] && svc_alive "$pid" && return 0
    rm -f "$1"
}

cmd_start() {
    local state=$1 port
    svc_stopped postgres "$state"
    svc_guard "$state"
    port=$(svc_take_port "$state" "${2:-}")
    svc_unused "$port"
    if ((${#as_pg[@]})); then
        chown -R "$pg_user:" "$state"
        "${as_pg[@]}" test -w "$state" ||
            svc_die "user '$pg_user' cannot reach '$state': make its parent directories o+x"
    fi
    [[ -f $state/data/PG_VERSION ]] || init_cluster "$state"
    remove_stale_lock "$state/data/postmaster.pid"
    svc_spawn postgres "$state" "${as_pg[@]}" "$bin/postgres" -D "$state/data" -p "$port"
    svc_wait postgres "$state" 60 "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U kho -d postgres
    if [[ -z $(psql_kho "$port" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'kho'") ]]
    then
        psql_kho "$port" -d postgres -c "CREATE DATABASE kho"
    fi
    svc_unguard
    cmd_url "$state"
}

# SIGINT is PostgreSQL's fast shutdown: open transactions roll back, clients are disconnected, a
# checkpoint is written. SIGTERM (smart) would wait for every client, such as a kho node's pool.
cmd_stop() {
    svc_stop postgres "$1" INT
}

cmd_status() {
    svc_status postgres "$1"
}

cmd_url() {
    local port
    port=$(svc_port "$1")
    echo "postgres://kho@127.0.0.1:$port/kho"
}

svc_main "$@"
