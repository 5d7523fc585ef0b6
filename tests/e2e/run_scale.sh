#!/bin/sh
# Runs the whole end-to-end suite against the scale-out engines of issue #5: two throw-away
# PostgreSQL servers as metadata shards, a single-node Ceph RGW as the blob store and a Redis as
# the shared cache (all from tests/svc/), with --db URL1,URL2 --blob s3://... --redis URL (plus
# KHO_E2E_ARGS); stops them by their PID files and ends with the suite's "N passed, N failed"
# line. Arguments go to run.py (-k, -v).
# Usage: tests/e2e/run_scale.sh [run.py args]   (KHO_BIN picks the binary, as for run.py)
set -u
cd "$(dirname "$0")/../.."
# short: Ceph's admin sockets live under it (108-byte socket paths)
state=$(mktemp -d /tmp/kho-sc.XXXXXX)
chmod 0755 "$state"
stop() {
    tests/svc/redis.sh stop "$state/r" >/dev/null 2>&1
    tests/svc/rgw.sh stop "$state/s3" >/dev/null 2>&1
    tests/svc/pg.sh stop "$state/a" >/dev/null 2>&1
    tests/svc/pg.sh stop "$state/b" >/dev/null 2>&1
    rm -rf "$state"
}
trap stop EXIT
trap 'exit 130' INT TERM

fail() {
    echo "cannot start $1 (logs were in $state)"
    echo "0 passed, 1 failed"
    exit 1
}
mkdir -p "$state/a" "$state/b" "$state/s3" "$state/r"
a=$(tests/svc/pg.sh start "$state/a") || fail postgresql
b=$(tests/svc/pg.sh start "$state/b") || fail postgresql
s3=$(tests/svc/rgw.sh start "$state/s3") || fail "ceph rgw"
redis=$(tests/svc/redis.sh start "$state/r") || fail redis
set -a
. "$state/s3/s3.env"
set +a
echo "scale-out run: --db $a,$b --blob $s3 --redis $redis"
KHO_E2E_ARGS="--db $a,$b --blob $s3 --redis $redis ${KHO_E2E_ARGS:-}" python3 tests/e2e/run.py "$@"
