#!/usr/bin/env bash
# `make bench`: measures kho against nginx on this machine in the same run (GET of stored photos,
# durable uploads, RAM and restart of the blob index) and writes bench/out/results.md.
# Options (environment): see bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
conns_list=${BENCH_CONNS:-1 8 32}
upload_conns=${BENCH_UPLOAD_CONNS:-16}
warmup=${BENCH_WARMUP:-2}
build=${BENCH_BUILD_DIR:-$repo/build-bench}
blob_count=${BENCH_BLOBS:-1000000}
run=$out/run

die() {
    echo "bench: $*" >&2
    exit 1
}
say() {
    echo "bench: $*" >&2
}

for v in seconds rounds upload_conns warmup blob_count; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, not '${!v}'"
done
for c in $conns_list; do
    [[ $c =~ ^[0-9]+$ && $c -gt 0 ]] || die "BENCH_CONNS must list positive integers, not '$c'"
done
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) not found (run scripts/deps.sh bench)"
for tool in wrk nginx curl python3 vips; do
    command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/deps.sh bench)"
done

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# pid and port map a server's name (kho, nginx-tp, nginx-lat) to its process and port.
declare -A pid port

start_nginx() {
    local name=$1 nopush=$2 prefix user=""
    port[$name]=$(free_port)
    prefix=$run/$name
    mkdir -p "$prefix"
    # As root, nginx would hand its workers to 'nobody', who cannot read or write under the repo.
    [[ $(id -u) -eq 0 ]] && user="user root root;"
    sed -e "s|@USER@|$user|" -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|${port[$name]}|" \
        -e "s|@TCP_NOPUSH@|$nopush|" -e "s|@WWW@|$run/www|" -e "s|@DAVROOT@|$run|" \
        "$here/nginx.conf.in" >"$prefix/nginx.conf"
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" -g 'daemon off;' \
        >"$prefix/stdout.log" 2>&1 &
    pids+=($!)
    pid[$name]=$!
    wait_ready "$!" "http://127.0.0.1:${port[$name]}/i/$probe_id" "$prefix/error.log"
}

rm -rf "$run"
mkdir -p "$run/get" "$run/upload" "$run/www/i" "$run/dav"
: >"$run/notes.txt"

bash "$here/corpus.sh"
corpus=$out/corpus

# kho, built for speed in its own directory; a build failure still lets nginx be measured.
kho_ok=1
say "building kho (release) in $build"
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" "$repo" --buildtype=release >"$run/build.log" 2>&1 || kho_ok=0
fi
# A build directory set up by hand may not be a release build.
if ((kho_ok)) && ! meson introspect "$build" --buildoptions 2>/dev/null |
    python3 -c 'import json, sys; sys.exit(not any(o["name"] == "buildtype" and
        o["value"] == "release" for o in json.load(sys.stdin)))'; then
    meson configure "$build" --buildtype=release >>"$run/build.log" 2>&1 || kho_ok=0
fi
# Only the targets the benchmark runs: a broken unit test elsewhere must not stop it.
if ((kho_ok)); then
    ninja -C "$build" kho >>"$run/build.log" 2>&1 || kho_ok=0
fi
if ninja -C "$build" -t targets all 2>/dev/null | grep "^src/blob/blobbench:" >/dev/null; then
    ninja -C "$build" src/blob/blobbench >>"$run/build.log" 2>&1 ||
        echo "blobbench: the build failed (see $run/build.log)" >>"$run/notes.txt"
fi
if ((!kho_ok)) || [[ ! -x $build/kho ]]; then
    kho_ok=0
    echo "kho: not benchmarked: the release build failed (see $run/build.log)" \
        >>"$run/notes.txt"
fi

if ((kho_ok)); then
    port[kho]=$(free_port)
    mkdir -p "$run/kho-data"
    "$build/kho" server --listen "127.0.0.1:${port[kho]}" --data "$run/kho-data" --threads 2 \
        --access-log off --log-level warn >"$run/kho.log" 2>&1 &
    pid[kho]=$!
    pids+=("${pid[kho]}")
    wait_ready "${pid[kho]}" "http://127.0.0.1:${port[kho]}/healthz" "$run/kho.log"
    say "storing the corpus in kho"
    python3 "$here/upload_corpus.py" "${port[kho]}" "$corpus" "$run" ||
        die "could not store the corpus in kho; see $run/kho.log"
else
    # Without kho, nginx still serves the corpus under ids of its own.
    for f in "$corpus"/img-*.jpg; do
        n=${f##*/img-}
        printf '%d\t%s\n' "$((10#${n%.jpg}))" "$f"
    done >"$run/ids.tsv"
fi

# nginx serves the very same bytes under the same /i/{id} paths, from hard links.
while IFS=$'\t' read -r id file; do
    ln "$file" "$run/www/i/$id" 2>/dev/null || cp "$file" "$run/www/i/$id"
    echo "/i/$id"
done <"$run/ids.tsv" >"$run/paths.txt"
probe_id=$(head -n1 "$run/ids.tsv" | cut -f1)
start_nginx nginx-tp on
start_nginx nginx-lat off

servers=(nginx-tp nginx-lat)
((kho_ok)) && servers=(kho nginx-tp nginx-lat)
# The comparison holds only if every server sends the stored file byte for byte.
while IFS=$'\t' read -r id file; do
    for s in "${servers[@]}"; do
        curl -sf --max-time 5 -o "$run/check.jpg" "http://127.0.0.1:${port[$s]}/i/$id" &&
            cmp -s "$run/check.jpg" "$file" ||
            echo "$s: GET /i/$id does not answer the uploaded file byte for byte" >>"$run/notes.txt"
    done
done < <(head -n 3 "$run/ids.tsv")
rm -f "$run/check.jpg"
# Writes left by the set-up would otherwise be flushed by kernel threads during the first runs.
sync
export BENCH_LUA_DIR=$here

for c in $conns_list; do
    threads=$((c > 32 ? 2 : 1))
    dir=$run/get/c$c
    mkdir -p "$dir"
    echo "$threads" >"$dir/threads"
    say "GET, $c connections: warm-up, then $rounds rounds of $seconds s per server"
    for s in "${servers[@]}"; do
        wrk -t"$threads" -c"$c" -d"${warmup}s" -s "$here/get.lua" \
            "http://127.0.0.1:${port[$s]}" -- "$run/paths.txt" >/dev/null
    done
    for ((r = 1; r <= rounds; r++)); do
        for s in "${servers[@]}"; do
            bench_wrk "${pid[$s]}" "$dir/$s.r$r.txt" -t"$threads" -c"$c" -d"${seconds}s" \
                --latency -s "$here/get.lua" "http://127.0.0.1:${port[$s]}" -- "$run/paths.txt"
        done
    done
done

# Uploads: the first 200 corpus files, each sent many times under a unique COM segment.
head -n 200 "$run/ids.tsv" | cut -f2 >"$run/upload/files.txt"
up_threads=$((upload_conns > 1 ? 2 : 1))
upload_round() {
    local s=$1 file=$2 dur=$3 nonce=$4
    if [[ $s == kho ]]; then
        bench_wrk "${pid[kho]}" "$file" -t"$up_threads" -c"$upload_conns" -d"$dur" --latency \
            -s "$here/upload.lua" "http://127.0.0.1:${port[kho]}" -- kho "$run/upload/files.txt" \
            "$nonce" "$(cat "$run/token")"
    else
        bench_wrk "${pid[nginx-tp]}" "$file" -t"$up_threads" -c"$upload_conns" -d"$dur" \
            --latency -s "$here/upload.lua" "http://127.0.0.1:${port[nginx-tp]}" -- dav \
            "$run/upload/files.txt" "$nonce"
        # Outside the measured time, so that the disk does not fill over many rounds, and
        # flushed so that the next run does not pay for this one's writeback.
        rm -rf "${run:?}/dav/$nonce"
        sync
    fi
}
up_servers=(nginx)
((kho_ok)) && up_servers=(kho nginx)
say "uploads, $upload_conns connections: warm-up, then $rounds rounds of $seconds s per server"
for s in "${up_servers[@]}"; do
    upload_round "$s" /dev/null "${warmup}s" "warm$$"
done
metrics() {
    curl -sf --max-time 5 "http://127.0.0.1:${port[kho]}/metrics" >"$1" ||
        echo "kho: GET /metrics failed" >>"$run/notes.txt"
}
((kho_ok)) && metrics "$run/upload/metrics.before"
for ((r = 1; r <= rounds; r++)); do
    for s in "${up_servers[@]}"; do
        upload_round "$s" "$run/upload/$s.r$r.txt" "${seconds}s" "r$r-$$"
    done
done
((kho_ok)) && metrics "$run/upload/metrics.after"
stop_all
# The stores hold gigabytes by now; the logs and results stay.
rm -rf "$run/kho-data" "$run/www" "$run/dav"

# The blob engineer's index benchmark: RAM per stored blob and restart time.
blobbench=$build/src/blob/blobbench
if [[ -x $blobbench ]]; then
    say "blobbench with $blob_count blobs"
    TMPDIR=$run timeout 600 "$blobbench" "$blob_count" >"$run/blobbench.txt" 2>&1 ||
        echo "blobbench: exited with status $? (output kept)" >>"$run/notes.txt"
else
    echo "blobbench: $blobbench does not exist; RAM per blob and restart time not measured" \
        >>"$run/notes.txt"
fi

python3 "$here/report.py" "$run" "$corpus" "$out/results.md" \
    --seconds "$seconds" --rounds "$rounds" --upload-conns "$upload_conns"
((kho_ok)) || die "kho was not benchmarked (see $run/notes.txt)"
[[ ${BENCH_VARIANTS:-1} == 0 ]] || bash "$here/variants.sh"
[[ ${BENCH_SCALE:-1} == 0 ]] || bash "$here/scale.sh"
