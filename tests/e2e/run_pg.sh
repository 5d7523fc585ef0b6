#!/bin/sh
# Runs the whole end-to-end suite against the sharded PostgreSQL metadata backend: starts two
# throw-away PostgreSQL servers (tests/svc/pg.sh), runs tests/e2e/run.py with
# --db URL1,URL2 (plus KHO_E2E_ARGS), stops the servers by their PID files, and ends with the
# suite's "N passed, N failed" line. Arguments go to run.py (-k SUBSTRING, -v).
# Usage: tests/e2e/run_pg.sh [run.py args]   (KHO_BIN picks the binary, as for run.py)
set -u
cd "$(dirname "$0")/../.."
state=$(mktemp -d /tmp/kho-pg.XXXXXX)
chmod 0755 "$state"
stop() {
    tests/svc/pg.sh stop "$state/a" >/dev/null 2>&1
    tests/svc/pg.sh stop "$state/b" >/dev/null 2>&1
    rm -rf "$state"
}
trap stop EXIT
trap 'exit 130' INT TERM

mkdir -p "$state/a" "$state/b"
a=$(tests/svc/pg.sh start "$state/a") || { echo "cannot start postgresql"; echo "0 passed, 1 failed"; exit 1; }
b=$(tests/svc/pg.sh start "$state/b") || { echo "cannot start postgresql"; echo "0 passed, 1 failed"; exit 1; }
KHO_E2E_ARGS="--db $a,$b ${KHO_E2E_ARGS:-}" python3 tests/e2e/run.py "$@"
