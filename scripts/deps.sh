#!/bin/sh
# Installs the Debian packages kho needs, and only those that are missing (idempotent).
# Usage: scripts/deps.sh [build|test|bench]   (each level includes the ones before it)
#        (test, also called scale, includes the engines of issue #5 that tests start: tests/svc/)
# From test on, also Node.js + npm when missing and tests/browser's npm modules (playwright-core).
set -eu

level=${1:-build}

build="build-essential meson ninja-build pkg-config libevent-dev libvips-dev libsqlite3-dev
libsodium-dev libssl-dev libjansson-dev libxxhash-dev libcurl4-openssl-dev libpq-dev libhiredis-dev
fonts-dejavu-core"
test="python3 libvips-tools clang libclang-rt-14-dev curl chromium nginx-light openssl"
bench="wrk nginx-light libnginx-mod-http-dav-ext libnginx-mod-http-image-filter graphicsmagick
mate-backgrounds lomiri-wallpapers time"
# The smallest set for tests/svc: ceph-mon, ceph-osd and radosgw bring ceph-common (ceph,
# ceph-authtool, monmaptool); postgresql brings its client, redis-server brings redis-cli.
scale="postgresql redis-server ceph-mon ceph-osd radosgw"

case "$level" in
build) want="$build" ;;
test | scale) want="$build $test $scale" ;;
bench) want="$build $test $scale $bench" ;;
*) echo "deps.sh: unknown level '$level' (build, test, bench or scale)" >&2; exit 2 ;;
esac

# any Node.js with npm will do (a nodesource one bundles npm); else Debian's
if [ "$level" != build ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    want="$want nodejs npm"
fi

# tests/browser's modules from its lock file, unless node_modules was made from this one
browser_modules() {
    [ "$level" != build ] || return 0
    dir="$(dirname "$0")/../tests/browser"
    cmp -s "$dir/package-lock.json" "$dir/node_modules/.kho-lock" && return 0
    echo "deps.sh: npm ci in tests/browser"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.kho-lock"
}

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    browser_modules
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root or sudo to install:$missing" >&2; exit 1; }
    sudo="sudo"
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
browser_modules
