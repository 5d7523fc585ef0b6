#!/usr/bin/env bash
# Builds the benchmark corpus: ~2000 JPEGs of 100-300 KB cut and resized with vips from the
# photos in Debian's wallpaper packages. Cached in bench/out/corpus/; a complete corpus is reused.
# Usage: bench/corpus.sh            (env: BENCH_OUT, BENCH_CORPUS_COUNT)
#        bench/corpus.sh --one N    (internal: make image N; run by xargs -P2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_OUT:-$here/out}
count=${BENCH_CORPUS_COUNT:-2000}
dir=$out/corpus
srcdir=$out/corpus-src
min_bytes=100000
max_bytes=300000
packages=(mate-backgrounds lomiri-wallpapers)

die() {
    echo "corpus: $*" >&2
    exit 1
}

# Picks source, crop and encoding for image N from a generator seeded with N, so a rerun
# after an interruption makes the same corpus; each retry draws new parameters.
pick() {
    local line dims aspect_num aspect_den frac
    line=${sources[RANDOM % ${#sources[@]}]}
    src=${line%% *}
    dims=${line#* }
    sw=${dims% *}
    sh=${dims#* }
    # Landscape, square and portrait crops, as a photo library has.
    case $((RANDOM % 6)) in
    0) aspect_num=4 aspect_den=3 ;;
    1) aspect_num=3 aspect_den=2 ;;
    2) aspect_num=16 aspect_den=9 ;;
    3) aspect_num=1 aspect_den=1 ;;
    4) aspect_num=3 aspect_den=4 ;;
    *) aspect_num=2 aspect_den=3 ;;
    esac
    frac=$((40 + RANDOM % 61))
    cw=$((sw * frac / 100))
    ch=$((cw * aspect_den / aspect_num))
    if ((ch > sh)); then
        ch=$sh
        cw=$((ch * aspect_num / aspect_den))
    fi
    cx=$((RANDOM % (sw - cw + 1)))
    cy=$((RANDOM % (sh - ch + 1)))
    tw=$((1000 + RANDOM % 601))
    q=$((80 + RANDOM % 11))
}

make_one() {
    local n=$1 final tmp size cropped tries=0 adjust=0
    final=$(printf '%s/img-%05d.jpg' "$dir" "$n")
    [[ -s $final ]] && return 0
    mapfile -t sources <"$srcdir/sources.txt"
    tmp=$dir/.tmp-$n
    RANDOM=$((n * 7919 + 17))
    pick
    cropped=
    while ((tries < 40)); do
        tries=$((tries + 1))
        if [[ $cropped != "$src $cx $cy $cw $ch" ]]; then
            vips extract_area "$srcdir/$src" "$tmp.v" "$cx" "$cy" "$cw" "$ch"
            cropped="$src $cx $cy $cw $ch"
        fi
        vips resize "$tmp.v" "$tmp.jpg[Q=$q,strip]" "$(awk -v a="$tw" -v b="$cw" 'BEGIN { printf "%.6f", a / b }')"
        size=$(stat -c %s "$tmp.jpg")
        if ((size >= min_bytes && size <= max_bytes)); then
            rm -f "$tmp.v"
            mv "$tmp.jpg" "$final"
            return 0
        fi
        # Quality moves the size most for the least change in look, in bigger steps the
        # further off it is; width next. A crop that stays out of range after a few steps (a
        # flat patch of sky) is replaced by a new one.
        adjust=$((adjust + 1))
        if ((adjust > 5)); then
            adjust=0
            pick
        elif ((size > max_bytes)); then
            if ((q > 70)); then
                q=$((q - (size > max_bytes * 13 / 10 ? 8 : 4)))
            else
                tw=$((tw * 85 / 100))
            fi
        elif ((q < 95)); then
            q=$((q + (size < min_bytes * 7 / 10 ? 8 : 4)))
            q=$((q > 95 ? 95 : q))
        elif ((tw < 1600)); then
            tw=$((tw * 120 / 100 > 1600 ? 1600 : tw * 120 / 100))
        else
            adjust=6
        fi
    done
    rm -f "$tmp.v" "$tmp.jpg"
    die "image $n: no crop within $min_bytes-$max_bytes bytes after $tries tries"
}

# Decodes each usable source once into vips' native format, which crops by mmap, instead of
# decoding a 16 MB JPEG for every one of 2000 crops. A source is a photo if it is a JPEG
# whose full frame at 1400 px and Q 90 has enough detail to reach the minimum size: that keeps
# the photos and drops logos and flat gradients, which no crop could bring into range.
prepare_sources() {
    local f w h base probe size list=$srcdir/sources.txt
    [[ -s $list ]] && return 0
    mkdir -p "$srcdir"
    : >"$list.tmp"
    while read -r f; do
        [[ -f $f && ! -L $f ]] || continue
        w=$(vipsheader -f width "$f") || continue
        h=$(vipsheader -f height "$f")
        probe=$srcdir/probe.jpg
        vips resize "$f" "${probe}[Q=90,strip]" "$(awk -v w="$w" 'BEGIN { printf "%.6f", 1400 / w }')"
        size=$(stat -c %s "$probe")
        rm -f "$probe"
        if ((size < min_bytes)); then
            echo "corpus: skipping '$f' (too little detail for a photo)" >&2
            continue
        fi
        base=$(basename "${f%.*}").v
        vips copy "$f" "$srcdir/$base"
        echo "$base $w $h" >>"$list.tmp"
    done < <(dpkg -L "${packages[@]}" | grep -iE '\.jpe?g$' | sort)
    [[ -s $list.tmp ]] || die "no usable photos in packages: ${packages[*]} (run scripts/deps.sh bench)"
    mv "$list.tmp" "$list"
}

if [[ ${1:-} == --one ]]; then
    make_one "$2"
    exit 0
fi

[[ $count =~ ^[0-9]+$ && $count -gt 0 ]] || die "BENCH_CORPUS_COUNT must be a positive integer"
stamp=$dir/.complete
if [[ -f $stamp && $(cat "$stamp") == "$count" ]]; then
    echo "corpus: reusing $count images in $dir"
    exit 0
fi
command -v vips >/dev/null || die "vips not found (run scripts/deps.sh bench)"
mkdir -p "$dir"
rm -f "$stamp" "$dir"/.tmp-*
# A smaller count than last time leaves extra images; they would skew the corpus.
find "$dir" -name 'img-*.jpg' | awk -v c="$count" '{ n = $0; sub(/.*img-/, "", n); if (n + 0 >= c) print }' |
    xargs -r rm -f
prepare_sources
echo "corpus: making $count images from $(wc -l <"$srcdir/sources.txt") photos in $dir"
export BENCH_OUT=$out
seq 0 $((count - 1)) | xargs -P2 -n1 "$here/corpus.sh" --one
made=$(find "$dir" -name 'img-*.jpg' | wc -l)
((made == count)) || die "made $made images, wanted $count"
echo "$count" >"$stamp"
rm -rf "$srcdir"
