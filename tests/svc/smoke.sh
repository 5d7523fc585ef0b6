#!/bin/bash
# Proves the tests/svc scripts work: starts PostgreSQL, Redis, Ceph RGW and nginx from nothing on
# free loopback ports, uses each for real, restarts RGW (radosgw alone, then whole) and finds its
# object again, stops everything by PID and checks nothing is left running.
# Usage: tests/svc/smoke.sh   (needs `scripts/deps.sh scale`; KEEP=1 keeps the temp dir)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
svc_name=smoke.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

passed=0
failed=0
timings=()

# check WHAT CMD...: runs CMD, counting and reporting the outcome.
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}

# run CMD...: runs CMD with its stdout in $tmp/out, for out_is; its failure shows there.
run() {
    "$@" >"$tmp/out" 2>>"$tmp/err" || true
}

out_is() {
    [[ $(<"$tmp/out") == "$1" ]]
}

# fails CMD...: true when CMD fails (its output is not wanted).
fails() {
    ! "$@" >/dev/null 2>&1
}

now_ms() {
    local t=${EPOCHREALTIME/./}
    echo "${t:0:-3}"
}

# timed LABEL CMD...: like run, but recording how long CMD took, and failing when it fails.
timed() {
    local label=$1 t0 rc=0
    shift
    t0=$(now_ms)
    "$@" >"$tmp/out" 2>>"$tmp/err" || rc=$?
    timings+=("$label: $(($(now_ms) - t0)) ms")
    return $rc
}

# PostgreSQL, as root, runs as another user who must be able to reach the state dirs.
tmp=$(mktemp -d /tmp/kho-svc.XXXXXX)
chmod 755 "$tmp"
finish() {
    local s
    for s in nginx rgw redis pg; do
        "$here/$s.sh" stop "$tmp/$s" >/dev/null 2>&1 || true
    done
    if [[ ${KEEP:-0} == 1 || $failed -gt 0 ]]; then
        echo "state and logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap finish EXIT
trap 'exit 130' INT TERM

pg_port=$(svc_free_port)
redis_port=$(svc_free_port)
rgw_port=$(svc_free_port)
nginx_port=$(svc_free_port)
ports="$pg_port $redis_port $rgw_port $nginx_port"
check "four distinct free ports" test "$(tr ' ' '\n' <<<"$ports" | sort -u | wc -l)" -eq 4

# PostgreSQL
check "pg.sh start" timed "pg cold start" "$here/pg.sh" start "$tmp/pg" "$pg_port"
check "pg.sh prints the URL" out_is "postgres://kho@127.0.0.1:$pg_port/kho"
psql_kho() {
    psql -X -At -h 127.0.0.1 -p "$pg_port" -U kho -d kho -c "$1"
}
run psql_kho "SELECT 1"
check "psql SELECT 1 on the kho database" out_is 1
run psql_kho "SELECT current_database(), current_setting('fsync'),
    current_setting('listen_addresses'), current_setting('unix_socket_directories')"
check "database kho, fsync on, 127.0.0.1 only, no Unix socket" out_is "kho|on|127.0.0.1|"

# Redis
check "redis.sh start" timed "redis cold start" "$here/redis.sh" start "$tmp/redis" "$redis_port"
check "redis.sh prints the URL" out_is "redis://127.0.0.1:$redis_port"
run redis-cli -p "$redis_port" ping
check "redis-cli ping answers PONG" out_is PONG
run redis-cli -p "$redis_port" set smoke 42
run redis-cli -p "$redis_port" get smoke
check "SET then GET" out_is 42
run redis-cli -p "$redis_port" config get save
check "no RDB snapshots" out_is save

# Ceph RGW
bucket=kho
check "rgw.sh start (cold, from nothing)" \
    timed "rgw cold start" "$here/rgw.sh" start "$tmp/rgw" "$rgw_port"
check "rgw.sh prints the URL" \
    out_is "s3://$bucket?endpoint=http://127.0.0.1:$rgw_port&region=us-east-1"
check "s3.env names the endpoint" \
    grep -qx "S3_ENDPOINT=http://127.0.0.1:$rgw_port" "$tmp/rgw/s3.env"
head -c 300000 /dev/urandom >"$tmp/object"
s3() {
    "$here/rgw.sh" s3 "$tmp/rgw" "$@" >"$tmp/out" 2>>"$tmp/err"
}
got_object() {
    s3 GET "/$bucket/smoke/one" && cmp -s "$tmp/out" "$tmp/object"
}
check "S3 PUT (payload sha256 signed)" s3 PUT "/$bucket/smoke/one" "$tmp/object"
check "S3 GET returns the bytes PUT (UNSIGNED-PAYLOAD)" got_object
check "S3 list (list-type=2, prefix)" s3 GET "/$bucket?list-type=2&prefix=smoke%2F"
check "listing names the object" grep -q '<Key>smoke/one</Key><LastModified>' "$tmp/out"
check "listing has the size" grep -q '<Size>300000</Size>' "$tmp/out"
run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rgw_port/$bucket/smoke/one"
check "an unsigned GET is refused (403)" out_is 403
bad_secret() {
    (
        # shellcheck disable=SC1091
        . "$tmp/rgw/s3.env"
        curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
            --user "$AWS_ACCESS_KEY_ID:x$AWS_SECRET_ACCESS_KEY" \
            -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/$bucket/smoke/one"
    )
}
run bad_secret
check "a GET signed with a wrong secret is refused (403)" out_is 403

# Restarts: radosgw alone (what the S3 backend's failure test does), then the whole cluster.
check "rgw.sh stop gw" "$here/rgw.sh" stop "$tmp/rgw" gw
check "S3 GET fails while radosgw is down" fails s3 GET "/$bucket/smoke/one"
check "rgw.sh start (radosgw alone)" \
    timed "rgw restart (radosgw only)" "$here/rgw.sh" start "$tmp/rgw"
check "object still there after the radosgw restart" got_object
check "rgw.sh stop (all daemons)" timed "rgw stop (all daemons)" "$here/rgw.sh" stop "$tmp/rgw"
check "rgw.sh status says stopped" fails "$here/rgw.sh" status "$tmp/rgw"
check "nothing listens on the RGW port" fails svc_listening "$rgw_port"
check "rgw.sh start (whole cluster)" \
    timed "rgw restart (whole cluster)" "$here/rgw.sh" start "$tmp/rgw"
check "object still there after the cluster restart" got_object
check "S3 PUT after the restart" s3 PUT "/$bucket/smoke/two" "$tmp/object"

# nginx, with a config that also proxies to RGW
cat >"$tmp/site.conf" <<'EOF'
server {
    listen 127.0.0.1:@PORT@;
    location = / {
        return 200 "kho smoke\n";
    }
    location /rgw/ {
        proxy_pass http://127.0.0.1:@RGW_PORT@/;
    }
}
EOF
check "nginx.sh start" timed "nginx cold start" env RGW_PORT="$rgw_port" \
    "$here/nginx.sh" start "$tmp/nginx" "$nginx_port" "$tmp/site.conf"
check "nginx.sh prints the URL" out_is "http://127.0.0.1:$nginx_port/"
run curl -sf "http://127.0.0.1:$nginx_port/"
check "nginx answers" out_is "kho smoke"
run curl -sf "http://127.0.0.1:$nginx_port/rgw/"
check "nginx proxies to RGW" grep -q ListAllMyBucketsResult "$tmp/out"

# Stop everything by PID; nothing may be left.
check "nginx.sh stop" timed "nginx stop" "$here/nginx.sh" stop "$tmp/nginx"
check "rgw.sh stop" timed "rgw stop" "$here/rgw.sh" stop "$tmp/rgw"
check "redis.sh stop" timed "redis stop" "$here/redis.sh" stop "$tmp/redis"
check "pg.sh stop" timed "pg stop" "$here/pg.sh" stop "$tmp/pg"
for s in pg redis rgw nginx; do
    check "$s.sh status says stopped" fails "$here/$s.sh" status "$tmp/$s"
done
for p in $ports; do
    check "nothing listens on port $p" fails svc_listening "$p"
done
# Every server started here names its state dir on its command line (svc_pid relies on it).
leftovers() {
    local f cmd
    for f in /proc/[0-9]*/cmdline; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
        [[ $cmd == *"$tmp/"* ]] && echo "left running: $cmd"
    done
    return 0
}
run leftovers
check "no process left running from $tmp" out_is ""
cat "$tmp/out"

printf '%s\n' "${timings[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
