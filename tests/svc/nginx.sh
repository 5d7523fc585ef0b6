#!/bin/bash
# A throw-away nginx for tests: one master whose prefix, pid, logs and temp paths are in STATE,
# serving CONF, an http-context file (a real box's /etc/nginx/conf.d/ part) in which each @NAME@
# becomes the environment variable NAME; PORT and STATE are set here; CONF listens on @PORT@.
# Usage: tests/svc/nginx.sh start STATE [PORT [CONF]] | stop STATE | status STATE | url STATE
# NGINX_WORKERS: worker processes (default 2).
set -eu
svc_name=nginx.sh
svc_usage="$0 start STATE [PORT [CONF]] | stop STATE | status STATE | url STATE"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# Renders CONF into STATE/site.conf and wraps it in STATE/nginx.conf.
render() {
    local state=$1 port=$2 conf=$3 user="" mime=""
    [[ -r $conf ]] || svc_die "cannot read '$conf'"
    PORT=$port STATE=$state perl -pe 's/@([A-Z][A-Z0-9_]*)@/
        defined $ENV{$1} ? $ENV{$1} : die "$ARGV:$.: \@$1\@ is not set\n"/gex' \
        "$conf" >"$state/site.conf.new" || svc_die "cannot render '$conf'"
    mv "$state/site.conf.new" "$state/site.conf"
    # As root, the workers would run as nobody, who cannot write the temp paths in STATE.
    [[ $(id -u) -eq 0 ]] && user="user root root;"
    [[ -r /etc/nginx/mime.types ]] && mime="include /etc/nginx/mime.types;"
    mkdir -p "$state/tmp" "$state/run"
    cat >"$state/nginx.conf" <<EOF
$user
worker_processes ${NGINX_WORKERS:-2};
pid $state/run/nginx.pid;
error_log $state/error.log warn;

events {
    worker_connections 1024;
}

http {
    $mime
    default_type application/octet-stream;
    access_log $state/access.log;
    client_body_temp_path $state/tmp/body;
    proxy_temp_path $state/tmp/proxy;
    fastcgi_temp_path $state/tmp/fastcgi;
    uwsgi_temp_path $state/tmp/uwsgi;
    scgi_temp_path $state/tmp/scgi;

    include $state/site.conf;
}
EOF
}

cmd_start() {
    local state=$1 port conf=${3:-} old=""
    local args=(-p "$state/" -c "$state/nginx.conf" -e "$state/error.log")
    svc_stopped nginx "$state"
    svc_guard "$state"
    if [[ -z $conf ]]; then
        [[ -f $state/site.conf ]] || svc_die "no CONF given and none rendered in '$state' before"
        read -r old <"$state/port"
        [[ -z ${2:-} || $2 == "$old" ]] ||
            svc_die "the rendered CONF listens on $old: give CONF again to move to $2"
    fi
    port=$(svc_take_port "$state" "${2:-}")
    svc_unused "$port"
    [[ -z $conf ]] || render "$state" "$port" "$conf"
    nginx "${args[@]}" -t -q -g 'daemon off;' >>"$state/nginx.log" 2>&1 ||
        svc_die "nginx rejects the configuration; see '$state/nginx.log'"
    svc_spawn nginx "$state" nginx "${args[@]}" -g 'daemon off;'
    svc_wait nginx "$state" 20 svc_listening "$port"
    svc_unguard
    cmd_url "$state"
}

cmd_stop() {
    svc_stop nginx "$1"
}

cmd_status() {
    svc_status nginx "$1"
}

cmd_url() {
    local port
    port=$(svc_port "$1")
    echo "http://127.0.0.1:$port/"
}

svc_main "$@"
