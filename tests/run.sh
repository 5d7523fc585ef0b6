#!/bin/sh
# Runs every test suite against a build directory (unit, fuzz corpus replay, end-to-end, browser)
# and ends with one summary line "N passed, N failed" over all of them.
# Usage: tests/run.sh [BUILD_DIR]    (E2E_ARGS are passed on to tests/e2e/run.py)
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
passed=0
failed=0
failed_names=""

# add the counts of a runner's closing "N passed, N failed" line
count() {
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        failed_names="$failed_names $1(no-summary)"
        return
    fi
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failed_names="$failed_names $1"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit"
for t in "$build"/tests/unit/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    count "$(basename "$t")" "$log"
    if [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$log"; then
        failed=$((failed + 1)) # crashed after its summary, or before any
        failed_names="$failed_names $(basename "$t")(exit $rc)"
    fi
done

echo "== fuzz corpus replay"
for t in "$build"/tests/fuzz/replay_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    name=${t##*/replay_}
    if "$t" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   fuzz/$name ($(tail -n 1 "$log"))"
    else
        failed=$((failed + 1))
        failed_names="$failed_names fuzz_$name"
        cat "$log"
        echo "FAIL fuzz/$name"
    fi
done

echo "== end-to-end"
# shellcheck disable=SC2086
KHO_BIN="$build/kho" python3 tests/e2e/run.py ${E2E_ARGS:-} 2>&1 | tee "$log"
count e2e "$log"

echo "== end-to-end again, on 2 PostgreSQL shards, Ceph RGW and Redis"
# shellcheck disable=SC2086
KHO_BIN="$build/kho" sh tests/e2e/run_scale.sh ${E2E_ARGS:-} 2>&1 | tee "$log"
count e2e-scale "$log"

echo "== browser"
if command -v node >/dev/null 2>&1 && [ -d tests/browser/node_modules/playwright-core ]; then
    KHO_BIN="$build/kho" node tests/browser/run.mjs 2>&1 | tee "$log"
    count browser "$log"
else
    echo "the browser tests need node and tests/browser/node_modules: run scripts/deps.sh test"
    failed=$((failed + 1))
    failed_names="$failed_names browser(not-installed)"
fi

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
