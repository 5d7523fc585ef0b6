#!/bin/bash
# A throw-away Ceph RGW for tests: the first start makes a one-node cluster in STATE (ceph-mon,
# ceph-osd, no mgr, cephx on, pools of size 1), an S3 user, a bucket and STATE/s3.env; each start
# runs the daemons not running, radosgw on 127.0.0.1:PORT last, and prints kho's --blob URL.
# Usage: tests/svc/rgw.sh start STATE [PORT] | stop STATE [gw|osd|mon]... | status STATE | url STATE
#        tests/svc/rgw.sh s3 STATE METHOD /PATH [FILE]   (one signed S3 request, see cmd_s3)
# First start only: RGW_STORE=bluestore|memstore (default memstore), RGW_MON_PORT (default: a
# free port), RGW_BUCKET (default kho), RGW_REGION (default us-east-1).
set -eu
svc_name=rgw.sh
svc_usage="$0 start STATE [PORT] | stop STATE [gw|osd|mon]... | status STATE | url STATE
       $0 s3 STATE METHOD /PATH [FILE]"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

daemons=(mon osd gw)

# Every path a daemon or a client would take from /etc/ceph, /var/lib/ceph, /var/run/ceph or
# /var/log/ceph is set here to one inside STATE.
write_conf() {
    local state=$1 fsid=$2 monport=$3 store=$4 fast=true
    # MemStore keeps objects in memory and writes them to its directory only on a clean umount,
    # which the OSD's default fast shutdown skips.
    [[ $store == memstore ]] && fast=false
    cat >"$state/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$monport]
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $state/keyring
run dir = $state/run
crash dir = $state/crash
log file = $state/log/\$name.log
pid file =
mon data = $state/mon
mon cluster log file = $state/log/cluster.log
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# A test cluster has one monitor and few changes: no need to batch them for a second each.
paxos propose interval = 0.05
osd data = $state/osd
osd objectstore = $store
osd fast shutdown = $fast
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd crush initial weight = 1
osd memory target = 939524096
memstore device bytes = 4294967296
bluestore block size = 21474836480
bluestore fsck on mkfs = false

[client]
# A client that sent ops to a down OSD learns of its return at its next tick (5 s by default).
objecter tick interval = 0.5

[client.rgw.gw]
rgw data = $state/rgw
rgw thread pool size = 64
# Bucket lifecycle is unused here, and its threads delay radosgw's exit by up to 10 s.
rgw enable lc threads = false
EOF
}

# The one keyring holds every key, so each daemon and client finds its own in it.
write_keyring() {
    local k=$1/keyring
    ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$k" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mgr 'allow *' >/dev/null
    ceph-authtool "$k" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' \
        >/dev/null
    ceph-authtool "$k" --gen-key -n client.rgw.gw --cap mon 'allow rw' --cap osd 'allow rwx' \
        >/dev/null
}

rand_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# cmd_s3 STATE METHOD PATH [FILE]: one SigV4-signed request as the S3 user to PATH under the
# endpoint, such as /kho/some/key or "/kho?list-type=2&prefix=a%2F" (parameters sorted and
# encoded: curl signs the query as given), sending FILE if given. RGW rejects a request without
# x-amz-content-sha256, which curl 7.88 does not add: FILE's sha256, or UNSIGNED-PAYLOAD. Writes
# the response body on stdout; fails on an HTTP error, the body then on stderr.
cmd_s3() {
    local state=$1 method=${2:-} path=${3:-} file=${4:-} sha=UNSIGNED-PAYLOAD out rc=0
    [[ -n $method && $path == /* ]] || svc_die "usage: $0 s3 STATE METHOD /PATH [FILE]"
    [[ -f $state/s3.env ]] || svc_die "no cluster in '$state'"
    local body=()
    if [[ -n $file ]]; then
        sha=$(sha256sum <"$file") || svc_die "cannot read '$file'"
        sha=${sha%% *}
        body=(--data-binary "@$file" -H "Content-Type: application/octet-stream")
    fi
    out=$(mktemp)
    (
        # shellcheck disable=SC1091
        . "$state/s3.env"
        curl -sS --max-time 60 -o "$out" -w '%{http_code}' -X "$method" "${body[@]}" \
            --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            -H "x-amz-content-sha256: $sha" "$S3_ENDPOINT$path"
    ) >"$out.code" || rc=$?
    if ((rc == 0)) && [[ $(<"$out.code") == 2?? ]]; then
        cat "$out"
    else
        [[ -s $out ]] && printf '%s\n' "$(<"$out")" >&2
        echo "$svc_name: $method $path: HTTP $(<"$out.code")" >&2
        rc=1
    fi
    rm -f "$out" "$out.code"
    return $rc
}

# Makes the cluster's files and the monitor and OSD stores, and leaves the monitor running with
# the OSD registered. The S3 user and bucket follow once the OSD serves (see cmd_start).
bootstrap() {
    local state=$1 fsid osd_uuid monport store=${RGW_STORE:-memstore}
    [[ $store == memstore || $store == bluestore ]] || svc_die "RGW_STORE: '$store'?"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    monport=${RGW_MON_PORT:-$(svc_free_port)}
    svc_unused "$monport"
    mkdir -p "$state/mon" "$state/osd" "$state/rgw" "$state/run" "$state/log" "$state/crash"
    write_conf "$state" "$fsid" "$monport" "$store"
    write_keyring "$state"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$state/monmap" \
        >>"$state/mon.log" 2>&1 || svc_die "monmaptool failed; see '$state/mon.log'"
    ceph-mon -c "$state/ceph.conf" -i a --mkfs --monmap "$state/monmap" \
        --keyring "$state/keyring" >>"$state/mon.log" 2>&1 ||
        svc_die "ceph-mon --mkfs failed; see '$state/mon.log'"
    ceph-osd -c "$state/ceph.conf" -i 0 --mkfs --no-mon-config --osd-uuid "$osd_uuid" \
        >>"$state/osd.log" 2>&1 || svc_die "ceph-osd --mkfs failed; see '$state/osd.log'"
    start_mon "$state"
    ceph -c "$state/ceph.conf" --connect-timeout 30 osd new "$osd_uuid" 0 >>"$state/mon.log" 2>&1 ||
        svc_die "cannot register osd.0; see '$state/mon.log'"
}

mon_port() {
    sed -n 's/^mon host = \[v2:127.0.0.1:\([0-9]*\)\]$/\1/p' "$1/ceph.conf"
}

start_mon() {
    local state=$1 port
    port=$(mon_port "$state")
    svc_unused "$port"
    svc_spawn mon "$state" ceph-mon -f -c "$state/ceph.conf" -i a
    svc_wait mon "$state" 30 svc_listening "$port"
}

cmd_start() {
    local state=$1 port new=0 d running=0
    for d in "${daemons[@]}"; do
        svc_pid "$d" "$state" >/dev/null && running=$((running + 1))
    done
    ((running < ${#daemons[@]})) || svc_die "already running in '$state'"
    svc_guard "$state"
    port=$(svc_take_port "$state" "${2:-}")
    if [[ ! -f $state/ceph.conf ]]; then
        [[ -z $(find "$state" -mindepth 1 -maxdepth 1 ! -name port -print -quit) ]] ||
            svc_die "'$state' is neither empty nor a cluster made by this script"
        bootstrap "$state"
        new=1
    elif [[ ! -f $state/made ]]; then
        svc_die "'$state' holds a cluster whose first start failed: remove it and start again"
    fi
    svc_pid mon "$state" >/dev/null || start_mon "$state"
    # The OSD has no port of its own to wait for: radosgw-admin and radosgw wait for it.
    svc_pid osd "$state" >/dev/null || svc_spawn osd "$state" ceph-osd -f -c "$state/ceph.conf" -i 0
    if ((new)); then
        local ak sk bucket=${RGW_BUCKET:-kho}
        ak=$(rand_hex 10 | tr a-f A-F)
        sk=$(rand_hex 20)
        timeout 300 radosgw-admin -c "$state/ceph.conf" user create --uid=kho \
            --display-name=kho --access-key="$ak" --secret-key="$sk" >>"$state/gw.log" 2>&1 ||
            svc_die "radosgw-admin user create failed; see '$state/gw.log'"
        cat >"$state/s3.env" <<EOF
AWS_ACCESS_KEY_ID=$ak
AWS_SECRET_ACCESS_KEY=$sk
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=${RGW_REGION:-us-east-1}
S3_BUCKET=$bucket
EOF
    fi
    if ! svc_pid gw "$state" >/dev/null; then
        svc_unused "$port"
        sed -i "s|^S3_ENDPOINT=.*|S3_ENDPOINT=http://127.0.0.1:$port|" "$state/s3.env"
        svc_spawn gw "$state" radosgw -f -c "$state/ceph.conf" -n client.rgw.gw \
            --rgw-frontends "beast endpoint=127.0.0.1:$port tcp_nodelay=1"
        svc_wait gw "$state" 300 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/"
    fi
    if ((new)); then
        cmd_s3 "$state" PUT "/$bucket" >>"$state/gw.log" 2>&1 ||
            svc_die "cannot create the bucket; see '$state/gw.log'"
        touch "$state/made"
    fi
    svc_unguard
    cmd_url "$state"
}

cmd_stop() {
    local state=$1 d
    shift
    for d in "$@"; do
        [[ " ${daemons[*]} " == *" $d "* ]] || svc_die "no daemon '$d' (gw, osd or mon)"
    done
    # Clients first, so that none of them hangs on a monitor or OSD that has gone.
    for d in gw osd mon; do
        if [[ $# -eq 0 || " $* " == *" $d "* ]]; then
            svc_stop "$d" "$state"
        fi
    done
}

cmd_status() {
    local d rc=0
    for d in "${daemons[@]}"; do
        svc_status "$d" "$1" || rc=1
    done
    return $rc
}

cmd_url() {
    [[ -f $1/s3.env ]] || svc_die "no cluster in '$1'"
    (
        # shellcheck disable=SC1091
        . "$1/s3.env"
        echo "s3://$S3_BUCKET?endpoint=$S3_ENDPOINT&region=$S3_REGION"
    )
}

svc_main "$@"
