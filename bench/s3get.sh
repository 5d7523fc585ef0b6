#!/usr/bin/env bash
# GET req/s of one public ~200 KB original through kho, local volume store vs S3 (a loopback
# Ceph RGW from tests/svc/rgw.sh), with wrk -t1 -c8 -d5s on each. A quick measurement, not a test.
# Usage: bench/s3get.sh [BUILD_DIR]   (needs scripts/deps.sh scale and wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
die() {
    echo "s3get: $*" >&2
    exit 1
}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bin=${1:-build}/kho
[[ -x $bin ]] || die "no binary at $bin"
command -v wrk >/dev/null || die "wrk is not installed"
command -v radosgw >/dev/null || die "radosgw is not installed (scripts/deps.sh scale)"

root=$(mktemp -d /tmp/kho-s3b-XXXXXX)
chmod 0755 "$root"
cleanup() {
    stop_all
    tests/svc/rgw.sh stop "$root/rgw" >/dev/null 2>&1 || true
    rm -rf "$root"
}
trap cleanup EXIT
s3url=$(tests/svc/rgw.sh start "$root/rgw") || die "rgw.sh start failed"
python3 -c 'import sys; sys.path.insert(0, "tests/e2e"); import lib
open(sys.argv[1], "wb").write(lib.png(260, 260, seed=7, noise=True))' "$root/photo.png"

# start_kho NAME [ARGS...]: prints the base URL
start_kho() {
    local name=$1 port
    shift
    port=$(free_port)
    (
        set -a
        # shellcheck disable=SC1091
        . "$root/rgw/s3.env"
        exec "$bin" server --listen "127.0.0.1:$port" --data "$root/$name" --access-log off \
            --log-level warn "$@"
    ) >"$root/$name.log" 2>&1 &
    pids+=($!)
    wait_ready $! "http://127.0.0.1:$port/healthz" "$root/$name.log"
    echo "http://127.0.0.1:$port"
}

# measure NAME URL: uploads the photo as a public image, then wrk on its /i/ URL
measure() {
    local base=$2 token id
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
        -d '{"username":"bench","password":"correct horse battery"}' "$base/api/v1/users"
    token=$(curl -sf -H 'Content-Type: application/json' \
        -d '{"username":"bench","password":"correct horse battery"}' "$base/api/v1/sessions" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    id=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: image/png' \
        --data-binary "@$root/photo.png" "$base/api/v1/images?visibility=public" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    curl -sf -o /dev/null "$base/i/$id" || die "$1: GET /i/$id failed"
    wrk -t1 -c8 -d5s "$base/i/$id" | awk -v n="$1" '/Requests\/sec/ {print n ": " $2 " req/s"}
        /Non-2xx/ {print n ": " $0}'
}

bytes=$(stat -c %s "$root/photo.png")
echo "GET of a $bytes-byte original, wrk -t1 -c8 -d5s"
measure volume "$(start_kho volume)"
measure s3 "$(start_kho s3 --blob "$s3url")"
