#!/usr/bin/env bash
# The scale-out part of `make bench` (issue #5): req/s through nginx (deploy/nginx/kho.conf) with
# 1, 2 and 3 kho API nodes on 2 PostgreSQL shards, Ceph RGW and Redis; S3 against local-volume
# GET; PostgreSQL against SQLite listing latency. Appends its tables to bench/out/results.md.
# Options (environment): see bench/README.md, "Scale-out". Run by bench/run.sh unless BENCH_SCALE=0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}
build=${BENCH_BUILD_DIR:-$repo/build-bench}
seconds=${BENCH_SCALE_SECONDS:-6}
rounds=${BENCH_SCALE_ROUNDS:-2}
conns=${BENCH_SCALE_CONNS:-16}
images=${BENCH_SCALE_IMAGES:-300}
listings=${BENCH_SCALE_LISTINGS:-300}
warmup=${BENCH_WARMUP:-2}
run=$out/scale
svc=$repo/tests/svc
# One upstream line per API node, as kho.conf's head recommends for production.
node_line='server 127.0.0.1:%s max_fails=1 fail_timeout=10s;'
# Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin

die() {
    echo "bench scale: $*" >&2
    exit 1
}
say() {
    echo "bench scale: $*" >&2
}

for v in seconds rounds conns images listings warmup; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) not found (run scripts/deps.sh bench)"
for tool in wrk nginx curl python3 openssl redis-server radosgw ceph-mon ceph-osd; do
    command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/deps.sh bench)"
done

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
# pid and port map a kho node's name (n1, n2, n3: shared engines; vol, s3: one node each) to its
# process and port.
declare -A pid port

rm -rf "$run"
mkdir -p "$run/edge" "$run/blob" "$run/images"
# Short: Ceph puts its admin sockets under it (108-byte socket paths).
state=$(mktemp -d /tmp/kho-bs.XXXXXX)
chmod 0755 "$state"
cleanup() {
    stop_all
    local s
    for s in edge/nginx r/redis s3/rgw a/pg b/pg; do
        "$svc/${s#*/}.sh" stop "$state/${s%/*}" >/dev/null 2>&1 || true
    done
    rm -rf "$state"
}
trap cleanup EXIT

bash "$here/corpus.sh"
find "$out/corpus" -name 'img-*.jpg' | sort | head -n "$images" | while read -r f; do
    ln "$f" "$run/images/" 2>/dev/null || cp "$f" "$run/images/"
done
(($(find "$run/images" -name '*.jpg' | wc -l) == images)) ||
    die "the corpus has fewer than $images images (BENCH_SCALE_IMAGES)"

if [[ ! -x $build/kho ]]; then
    say "building kho (release) in $build"
    if [[ ! -f $build/build.ninja ]]; then
        meson setup "$build" "$repo" --buildtype=release >"$run/build.log" 2>&1 ||
            die "meson setup failed (see $run/build.log)"
    fi
    ninja -C "$build" kho >>"$run/build.log" 2>&1 || die "kho does not build (see $run/build.log)"
fi

say "starting 2 PostgreSQL shards, Ceph RGW and Redis (tests/svc)"
mkdir -p "$state/a" "$state/b" "$state/s3" "$state/r" "$state/edge"
db_a=$("$svc/pg.sh" start "$state/a" 2>>"$run/svc.log") || die "pg.sh failed; see $run/svc.log"
db_b=$("$svc/pg.sh" start "$state/b" 2>>"$run/svc.log") || die "pg.sh failed; see $run/svc.log"
s3=$("$svc/rgw.sh" start "$state/s3" 2>>"$run/svc.log") || die "rgw.sh failed; see $run/svc.log"
redis=$("$svc/redis.sh" start "$state/r" 2>>"$run/svc.log") ||
    die "redis.sh failed; see $run/svc.log"
set -a
# shellcheck disable=SC1091
. "$state/s3/s3.env"
set +a
# The engines' processes (PostgreSQL's backends are children of its postmaster).
read -r -a engine_pids <<<"$(cat "$state/a/postgres.pid" "$state/b/postgres.pid" \
    "$state/r/redis.pid" "$state/s3/mon.pid" "$state/s3/osd.pid" "$state/s3/gw.pid" | tr '\n' ' ')"

# start_node NAME [ARGS...]: one kho with its own --data and port, one event loop (see README).
start_node() {
    local name=$1
    shift
    port[$name]=$(free_port)
    "$build/kho" server --listen "127.0.0.1:${port[$name]}" --data "$state/$name" --threads 1 \
        --access-log off --log-level warn "$@" >"$run/$name.log" 2>&1 &
    pid[$name]=$!
    pids+=("$!")
    wait_ready "$!" "http://127.0.0.1:${port[$name]}/healthz" "$run/$name.log"
}

# Waits until the processes are idle (under 5 ticks in a second): the eager thumbnails of the
# uploads are made in the background and would otherwise run during the first measurements.
settle() {
    local i t0
    for ((i = 0; i < 60; i++)); do
        t0=$(cpu_ticks "$@")
        sleep 1
        (($(cpu_ticks "$@") - t0 < 5)) && return 0
    done
    say "warning: kho was still busy after 60 s of waiting"
}

# store NAME: the images as one user's public images in node NAME; writes $run/NAME/ids.tsv,
# token and paths.txt (/i/{id} a line).
store() {
    mkdir -p "$run/$1"
    python3 "$here/upload_corpus.py" "${port[$1]}" "$run/images" "$run/$1" ||
        die "could not store the images in node $1; see $run/$1.log"
    cut -f1 "$run/$1/ids.tsv" | sed 's|^|/i/|' >"$run/$1/paths.txt"
}

shared=(--db "$db_a,$db_b" --blob "$s3" --redis "$redis")
say "starting kho: 3 nodes on the shared engines, one on local volumes, one on S3 and SQLite"
for n in n1 n2 n3; do
    start_node "$n" "${shared[@]}"
done
start_node vol
start_node s3 --blob "$s3"
say "storing $images images in each store"
store n1
store vol
store s3
settle "${pid[@]}"

# The first pages of the explore feed, as a visitor pages through it.
python3 - "${port[n1]}" "$run/explore.txt" <<'EOF'
import json, sys, urllib.request
port, path = sys.argv[1:]
with open(path, "w") as f:
    url = "/api/v1/explore?limit=50"
    for _ in range(4):
        f.write(url + "\n")
        with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, url), timeout=10) as r:
            cursor = json.load(r)["next_cursor"]
        if not cursor:
            break
        url = "/api/v1/explore?limit=50&cursor=" + cursor
EOF

# The edge: kho.conf as deployed, rendered by tests/svc/nginx.sh, except that the per-address
# limit_req lines of kho-server.conf are left out: wrk is one address, which they would hold to
# 100 requests a second.
mkdir -p "$state/conf" "$state/tls"
grep -v '^[[:space:]]*limit_req zone=' "$repo/deploy/nginx/kho-server.conf" \
    >"$state/conf/kho-server.conf"
cmp -s "$state/conf/kho-server.conf" "$repo/deploy/nginx/kho-server.conf" &&
    die "deploy/nginx/kho-server.conf has no 'limit_req zone=' lines any more: update scale.sh"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$state/tls/key.pem" -out "$state/tls/cert.pem" >/dev/null 2>&1 ||
    die "openssl could not make the TLS server's certificate"
edge_port=$(free_port)
tls_port=$(free_port)
edge_pid=

# edge_start N: nginx in front of nodes n1..nN (restarted when it runs).
edge_start() {
    local i servers=""
    "$svc/nginx.sh" stop "$state/edge" >/dev/null 2>&1 || true
    for ((i = 1; i <= $1; i++)); do
        # shellcheck disable=SC2059
        servers+=$(printf "$node_line " "${port[n$i]}")
    done
    KHO_API_SERVERS=$servers KHO_TLS_PORT=$tls_port KHO_TLS_CERT=$state/tls/cert.pem \
        KHO_TLS_KEY=$state/tls/key.pem KHO_CACHE_DIR=$state/edge/cache KHO_LOG_DIR=$state/edge \
        KHO_NGINX_DIR=$state/conf "$svc/nginx.sh" start "$state/edge" "$edge_port" \
        "$repo/deploy/nginx/kho.conf" >/dev/null 2>>"$run/svc.log" ||
        die "nginx.sh failed; see $run/svc.log"
    read -r edge_pid <"$state/edge/nginx.pid"
}

# measure "SERVER_PIDS" FILE BASE_URL PATHS [HEADER]: warm-up, then one measured wrk run (see
# bench_wrk) plus the engines' CPU ticks and, behind the edge, its cache statuses.
edge_log=$state/edge/kho-edge.log
measure() {
    local tier_pids=$1 file=$2 url=$3 paths=$4 e0 lines=0
    shift 4
    wrk -t1 -c"$conns" -d"${warmup}s" -s "$here/get.lua" "$url" -- "$paths" "$@" >/dev/null
    [[ -f $edge_log ]] && lines=$(wc -l <"$edge_log")
    e0=$(cpu_ticks "${engine_pids[@]}")
    bench_wrk "$tier_pids" "$file" -t1 -c"$conns" -d"${seconds}s" --latency -s "$here/get.lua" \
        "$url" -- "$paths" "$@"
    echo "ENGINE_TICKS $(($(cpu_ticks "${engine_pids[@]}") - e0))" >>"$file"
    if [[ $url == "http://127.0.0.1:$edge_port" ]]; then
        printf 'EDGE_CACHE'
        tail -n +"$((lines + 1))" "$edge_log" | grep -o '"cache":"[A-Z]*"' | cut -d'"' -f4 |
            sort | uniq -c | awk '{ printf " %s=%d", $2 == "" ? "none" : $2, $1 }'
        echo
    fi >>"$file"
}

export BENCH_LUA_DIR=$here
auth="Authorization: Bearer $(cat "$run/n1/token")"
edge=http://127.0.0.1:$edge_port
say "through nginx: $rounds rounds of 1, 2 and 3 nodes, $seconds s per run, $conns connections"
for ((r = 1; r <= rounds; r++)); do
    for n in 1 2 3; do
        edge_start "$n"
        tier="$edge_pid ${pid[n1]} ${pid[n2]} ${pid[n3]}"
        measure "$tier" "$run/edge/img.n$n.r$r.txt" "$edge" "$run/n1/paths.txt" "$auth"
        measure "$tier" "$run/edge/explore.n$n.r$r.txt" "$edge" "$run/explore.txt"
    done
done
say "through nginx: anonymous GETs answered by its cache"
for ((r = 1; r <= rounds; r++)); do
    measure "$tier" "$run/edge/hit.n3.r$r.txt" "$edge" "$run/n1/paths.txt"
done
"$svc/nginx.sh" stop "$state/edge" >/dev/null 2>&1 || true

say "GET /i/{id} from one node: local volumes against S3"
for ((r = 1; r <= rounds; r++)); do
    for s in vol s3; do
        measure "${pid[$s]}" "$run/blob/$s.r$r.txt" "http://127.0.0.1:${port[$s]}" \
            "$run/$s/paths.txt"
    done
done
stop_all

say "listing latency: SQLite against the 2 PostgreSQL shards"
KHO_BIN=$build/kho python3 "$here/listing_latency.py" "$listings" --images "$images" \
    --pg "$db_a,$db_b" --json "$run/listing.json" >"$run/listing.txt" ||
    die "listing_latency.py failed; see $run/listing.txt"

python3 "$here/scale_report.py" "$run" "$out/results.md" --seconds "$seconds" \
    --rounds "$rounds" --conns "$conns" --images "$images"
