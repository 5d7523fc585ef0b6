#!/usr/bin/env bash
# `make bench`, image variants (issue #3): kho's cold 256 px variants against vipsthumbnail,
# GraphicsMagick and nginx image_filter, cached variant against original GET, encode cost per
# output format. Run at the end of bench/run.sh, or alone. Options (environment): bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mkdir -p "${BENCH_OUT:-$here/out}"
out=$(cd "${BENCH_OUT:-$here/out}" && pwd)
build=${BENCH_BUILD_DIR:-$repo/build-bench}
rounds=${BENCH_VARIANT_ROUNDS:-3}
count=${BENCH_VARIANT_COUNT:-300}
prog_count=${BENCH_VARIANT_PROGRESSIVE:-100}
large_min=${BENCH_VARIANT_LARGE_MIN:-2500}
large_max=${BENCH_VARIANT_LARGE_COUNT:-40}
inflight=${BENCH_VARIANT_INFLIGHT:-4}
seconds=${BENCH_VARIANT_SECONDS:-6}
get_conns=${BENCH_VARIANT_GET_CONNS:-8}
fmt_count=${BENCH_VARIANT_FORMAT_IMAGES:-20}
module=/usr/lib/nginx/modules/ngx_http_image_filter_module.so
work=$out/variants

die() {
    echo "variants: $*" >&2
    exit 1
}
say() {
    echo "variants: $*" >&2
}

for v in rounds count prog_count large_min large_max inflight seconds get_conns fmt_count; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, not '${!v}'"
done
((prog_count <= count)) || die "BENCH_VARIANT_PROGRESSIVE must not exceed BENCH_VARIANT_COUNT"
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) not found (run scripts/deps.sh bench)"
for tool in wrk nginx curl python3 vips vipsheader vipsthumbnail gm; do
    command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/deps.sh bench)"
done
[[ -f $module ]] || die "$module not found (run scripts/deps.sh bench)"

# The measuring half: an HTTP client that requests each URL once, CPU snapshots from /proc, the
# output checks and the report. Standard library only.
read -r -d '' helper <<'PY' || true
import collections, concurrent.futures, http.client, json, os, statistics, sys, threading, time

HZ = os.sysconf("SC_CLK_TCK")
SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def die(msg):
    sys.exit("variants: " + msg)


def jpeg_size(data):
    """(width, height) from a JPEG's frame header, None if data is no JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        if m in SOF:
            return (int.from_bytes(data[i + 7:i + 9], "big"),
                    int.from_bytes(data[i + 5:i + 7], "big"))
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def proc_ticks(pid):
    """utime + stime of pid and of its children (nginx's workers), in clock ticks."""
    if pid == 0:
        return 0
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def snap(pid):
    """[server ticks, busy and stolen ticks of the machine, monotonic clock in ns]."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return [proc_ticks(pid), user + nice + system + irq + softirq, steal, time.monotonic_ns()]


def counters(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    found = {}
    for line in body.splitlines():
        name, _, value = line.partition(" ")
        if name in ("kho_variants_generated_total", "kho_variant_hits_total"):
            found[name] = float(value)
    if len(found) != 2:
        die("GET /metrics lacks the variant counters")
    return found


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))] if s else 0


class Getter:
    """One keep-alive connection; a request that fails on the socket counts as status 0."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def get(self, path):
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", path)
            resp = self.conn.getresponse()
            body = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, resp.getheader("Content-Type", ""), body
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, "", b""

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def cmd_settle(port, pid, uploads, timeout, notes):
    """Waits until kho is idle (under 2% of a core for 2 s in a row): the uploads' eager
    thumbnails are made, or given up. kho drops an eager thumbnail when its processing queue is
    full, so fewer than one per upload is possible: that goes to notes."""
    pid, end, quiet = int(pid), time.monotonic() + float(timeout), 0
    while quiet < 2:
        if time.monotonic() > end:
            die("kho was still busy %s s after the uploads" % timeout)
        ticks = proc_ticks(pid)
        time.sleep(1)
        quiet = quiet + 1 if proc_ticks(pid) - ticks <= HZ * 0.02 else 0
    made = counters(int(port))["kho_variants_generated_total"]
    if made < float(uploads):
        with open(notes, "a") as f:
            f.write("kho made %d eager thumbnails for %s uploads (the others were dropped: its "
                    "processing queue was full)\n" % (made, uploads))


def cmd_walk(port, pid, urls, inflight, width, out):
    """Requests every URL once with `inflight` requests in flight; a URL is never repeated, so
    each request is a cold variant."""
    port, pid, width = int(port), int(pid), int(width)
    paths = iter(read_lines(urls))
    lock = threading.Lock()
    results = []

    def worker():
        g = Getter(port)
        while True:
            with lock:
                path = next(paths, None)
            if path is None:
                break
            t = time.monotonic()
            status, ctype, body = g.get(path)
            ms = (time.monotonic() - t) * 1000
            size = jpeg_size(body)
            good = status == 200 and ctype == "image/jpeg" and size is not None and size[0] == width
            results.append((status, good, len(body), ms))
        g.close()

    m0 = counters(port)
    s0, c0, t0 = snap(pid), os.times(), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(int(inflight)) as pool:
        for f in [pool.submit(worker) for _ in range(int(inflight))]:
            f.result()
    wall, c1, s1 = time.monotonic() - t0, os.times(), snap(pid)
    m1 = counters(port)
    ms = [r[3] for r in results]
    with open(out, "w") as f:
        json.dump({
            "requests": len(results), "good": sum(r[1] for r in results),
            "statuses": collections.Counter(str(r[0]) for r in results),
            "bytes": sum(r[2] for r in results), "wall": wall,
            "server_ticks": s1[0] - s0[0], "busy_ticks": s1[1] - s0[1],
            "steal_ticks": s1[2] - s0[2],
            "client_s": (c1.user + c1.system) - (c0.user + c0.system),
            "generated": m1["kho_variants_generated_total"] - m0["kho_variants_generated_total"],
            "hits": m1["kho_variant_hits_total"] - m0["kho_variant_hits_total"],
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
        }, f)


def cmd_formats(port, pid, ids_file, count, width, out, *fmts):
    """One image after the other, each in every format (order rotated per image), 1 in flight."""
    port, pid = int(port), int(pid)
    ids = [line.split("\t")[0] for line in read_lines(ids_file)][:int(count)]
    g = Getter(port)
    rows = []
    m0 = counters(port)
    for i, image in enumerate(ids):
        k = i % len(fmts)
        for fmt in fmts[k:] + fmts[:k]:
            ticks, t = proc_ticks(pid), time.monotonic()
            status, ctype, body = g.get("/i/%s?w=%s&fmt=%s" % (image, width, fmt))
            rows.append({"fmt": fmt, "ms": (time.monotonic() - t) * 1000,
                         "cpu_ticks": proc_ticks(pid) - ticks, "bytes": len(body),
                         "good": status == 200 and ctype == "image/" + fmt})
    g.close()
    m1 = counters(port)
    with open(out, "w") as f:
        json.dump({"rows": rows, "images": len(ids),
                   "generated": m1["kho_variants_generated_total"]
                   - m0["kho_variants_generated_total"]}, f)


def cmd_outputs(directory, expected, width, slack, notes, label):
    """Checks that a tool wrote `expected` JPEGs `width` px wide, give or take `slack` px; a
    shortfall goes to notes."""
    good = 0
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            size = jpeg_size(f.read())
        good += size is not None and abs(size[0] - int(width)) <= int(slack)
    if good != int(expected):
        with open(notes, "a") as f:
            f.write("%s: %d of %s outputs are %s px wide JPEGs\n" % (label, good, expected, width))


# ---- report ----

def load_meas(path):
    """A measure() record: snapshots before and after, then GNU time's wall, user, system.
    The snapshots' window is a little longer than the command: the share of the cores others
    took is taken over it."""
    try:
        with open(path) as f:
            v = f.read().split()
    except OSError:
        return None
    s0, s1 = [int(x) for x in v[0:4]], [int(x) for x in v[4:8]]
    wall, user, system = (float(x) for x in v[8:11])
    return {"server_ticks": s1[0] - s0[0], "busy_ticks": s1[1] - s0[1],
            "steal_ticks": s1[2] - s0[2], "window": (s1[3] - s0[3]) / 1e9, "wall": wall,
            "tool_s": user + system}


def wrk_result(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("BENCH "):
                    return json.loads(line[6:])
    except OSError:
        pass
    return None


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    return "%.*f" % (digits, v)


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(value, target):
    if value is None:
        return "n/a"
    return ("met" if value >= target else "MISSED") + " (target >= %.1fx)" % target


class Runs:
    """One contender's figures over the rounds: medians, and the largest disturbance."""

    def __init__(self):
        self.rows = []

    def add(self, n, wall, cpu_s, other_s, steal_s, window=None, extra=None):
        """other_s and steal_s are CPU seconds over window (default: wall)."""
        if wall <= 0:
            return
        window = window or wall
        row = {"rate": n / wall, "core": n / cpu_s if cpu_s > 0 else None,
               "cpu_ms": cpu_s * 1000 / n if n else None, "cores": cpu_s / wall,
               "other": max(0.0, other_s) / window, "steal": steal_s / window}
        row.update(extra or {})
        self.rows.append(row)

    def med(self, key):
        vals = [r[key] for r in self.rows if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def span(self, key):
        vals = [r[key] for r in self.rows if r.get(key) is not None]
        return (min(vals), max(vals)) if vals else (None, None)

    def disturbed(self):
        return max((r["other"] + r["steal"] for r in self.rows), default=0.0)


def set_stats(directory):
    sizes, widths = [], []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        sizes.append(len(data))
        dims = jpeg_size(data)
        if dims:
            widths.append(max(dims))
    return "%d JPEGs, mean %.0f KB, long side %d-%d px" % (
        len(sizes), statistics.mean(sizes) / 1e3, min(widths), max(widths))


def cmd_report(work, results):
    params = dict(line.split("=", 1) for line in read_lines(os.path.join(work, "params.txt")))
    rounds = int(params["rounds"])
    lines = []
    w = lines.append
    notes = []
    worst = 0.0

    w("## Image variants (`bench/variants.sh`, %s, kho %s)" % (params["date"], params["commit"]))
    w("")
    w("Machine: %s cores, %s. Medians over %d rounds; 'other' is the share of the cores taken "
      "by neither the contender nor its client (other processes, steal) during the runs." % (
          params["cores"], params["cpu"], rounds))
    w("")
    w("### 1. Cold 256 px variants (`/i/{id}?w=256`, each id requested once, %s in flight)"
      % params["inflight"])
    w("")
    kho_corpus = None
    for name, label in (("corpus", "corpus photos"), ("progressive", "progressive JPEGs"),
                        ("large", "large wallpapers")):
        runs = {c: Runs() for c in ("kho", "vips", "gm")}
        for r in range(1, rounds + 1):
            d = os.path.join(work, "r%d" % r, name)
            k = load_json(os.path.join(d, "kho.json"))
            if k:
                cpu = k["server_ticks"] / HZ
                runs["kho"].add(k["requests"], k["wall"], cpu,
                                k["busy_ticks"] / HZ - cpu - k["client_s"], k["steal_ticks"] / HZ,
                                extra={"p99": k["p99_ms"]})
                if k["good"] != k["requests"] or k["generated"] != k["requests"] or k["hits"]:
                    notes.append("kho, %s, round %d: %d of %d answers were %s px JPEGs; "
                                 "%d variants made, %d served from the store (all should be "
                                 "made: cold)" % (label, r, k["good"], k["requests"],
                                                   params["width"], k["generated"], k["hits"]))
            for tool in ("vips", "gm"):
                m = load_meas(os.path.join(d, tool + ".meas"))
                if m:
                    n = int(params["n_" + name])
                    runs[tool].add(n, m["wall"], m["tool_s"],
                                   m["busy_ticks"] / HZ - m["tool_s"], m["steal_ticks"] / HZ,
                                   m["window"])
        w("**%s** (%s)" % (label, set_stats(os.path.join(work, "sets", name))))
        w("")
        w("| contender | variants/s | variants per CPU-second | CPU ms/variant | cores used "
          "| other (max) |")
        w("|---|---|---|---|---|---|")
        names = {"kho": "kho, HTTP API (%s processing threads)" % params["workers"],
                 "vips": "vipsthumbnail, one process",
                 "gm": "gm mogrify -size 512x512 (hint)"}
        for c in ("kho", "vips", "gm"):
            ru = runs[c]
            worst = max(worst, ru.disturbed())
            w("| %s | %s | %s | %s | %s | %s |" % (
                names[c], fmt(ru.med("rate")), fmt(ru.med("core")), fmt(ru.med("cpu_ms"), 2),
                fmt(ru.med("cores"), 2), fmt(ru.disturbed(), 2)))
        for peer, target in (("vips", 1.0), ("gm", 0.9)):
            rr = ratio(runs["kho"].med("rate"), runs[peer].med("rate"))
            rc = ratio(runs["kho"].med("core"), runs[peer].med("core"))
            w("| **kho / %s** | %sx | %sx | | | per core: %s |" % (
                "vipsthumbnail" if peer == "vips" else "gm", fmt(rr, 2), fmt(rc, 2),
                verdict(rc, target)))
        w("")
        if name == "corpus":
            kho_corpus = runs
        elif name == "progressive" and kho_corpus:
            parts = []
            for c in ("kho", "vips", "gm"):
                parts.append("%s %sx" % ({"vips": "vipsthumbnail"}.get(c, c),
                                         fmt(ratio(runs[c].med("cpu_ms"),
                                                   kho_corpus[c].med("cpu_ms")), 2)))
            w("CPU per variant, progressive / baseline corpus photos: " + ", ".join(parts) + ".")
            w("")

    w("### 2. Resize on every request: nginx `image_filter resize 256 -` against kho's cold "
      "variants")
    w("")
    ng = Runs()
    for r in range(1, rounds + 1):
        res = wrk_result(os.path.join(work, "r%d" % r, "nginx.out"))
        m = load_meas(os.path.join(work, "r%d" % r, "nginx.meas"))
        if res and m:
            n = res["requests"]
            cpu = m["server_ticks"] / HZ
            errors = sum(res["errors"].values())
            ng.add(n, res["duration_us"] / 1e6, cpu, m["busy_ticks"] / HZ - cpu - m["tool_s"],
                   m["steal_ticks"] / HZ, m["window"],
                   {"p99": res["latency_us"]["p99"] / 1000, "errors": errors})
    worst = max(worst, ng.disturbed())
    w("| contender | requests/s | per CPU-second | CPU ms/request | p99 ms | other (max) |")
    w("|---|---|---|---|---|---|")
    k = kho_corpus["kho"] if kho_corpus else Runs()
    w("| kho, cold `?w=256` (corpus photos, %s in flight) | %s | %s | %s | %s | %s |" % (
        params["inflight"], fmt(k.med("rate")), fmt(k.med("core")), fmt(k.med("cpu_ms"), 2),
        fmt(k.med("p99")), fmt(k.disturbed(), 2)))
    w("| nginx image_filter, 2 workers (wrk -c%s, same photos) | %s | %s | %s | %s | %s |" % (
        params["inflight"], fmt(ng.med("rate")), fmt(ng.med("core")), fmt(ng.med("cpu_ms"), 2),
        fmt(ng.med("p99")), fmt(ng.disturbed(), 2)))
    rr = ratio(k.med("rate"), ng.med("rate"))
    w("| **kho / nginx** | %sx | %sx | | | %s |" % (
        fmt(rr, 2), fmt(ratio(k.med("core"), ng.med("core")), 2), verdict(rr, 2.0)))
    w("")
    if any(r.get("errors") for r in ng.rows):
        notes.append("nginx image_filter: wrk counted errors (%s)" %
                     ", ".join(str(r["errors"]) for r in ng.rows))

    w("### 3. Stored variant against original: `GET /i/{id}?w=256` vs `GET /i/{id}` "
      "(wrk -t1 -c%s, random ids, keep-alive)" % params["get_conns"])
    w("")
    w("| GET | req/s | req/s over rounds | MB/s | p50 ms | p99 ms | server CPU µs/req "
      "| errors | other (max) |")
    w("|---|---|---|---|---|---|---|---|---|")
    cached = {}
    for kind in ("variant", "original"):
        ru = Runs()
        for r in range(1, rounds + 1):
            res = wrk_result(os.path.join(work, "cached", "%s.r%d.out" % (kind, r)))
            m = load_meas(os.path.join(work, "cached", "%s.r%d.meas" % (kind, r)))
            if res and m and res["requests"]:
                sec = res["duration_us"] / 1e6
                cpu = m["server_ticks"] / HZ
                ru.add(res["requests"], sec, cpu, m["busy_ticks"] / HZ - cpu - m["tool_s"],
                       m["steal_ticks"] / HZ, m["window"],
                       {"mbs": res["bytes_in"] / sec / 1e6, "p50": res["latency_us"]["p50"] / 1e3,
                        "p99": res["latency_us"]["p99"] / 1e3,
                        "errors": sum(res["errors"].values())})
        cached[kind] = ru
        worst = max(worst, ru.disturbed())
        lo, hi = ru.span("rate")
        errs = sum(r["errors"] for r in ru.rows)
        w("| %s | %s | %s-%s | %s | %s | %s | %s | %d | %s |" % (
            "`?w=256` (stored variant)" if kind == "variant" else "original",
            fmt(ru.med("rate"), 0), fmt(lo, 0), fmt(hi, 0), fmt(ru.med("mbs")),
            fmt(ru.med("p50"), 2), fmt(ru.med("p99"), 2),
            fmt(None if ru.med("cpu_ms") is None else ru.med("cpu_ms") * 1000, 0), errs,
            fmt(ru.disturbed(), 2)))
    v, o = cached["variant"], cached["original"]
    rr = ratio(v.med("rate"), o.med("rate"))
    w("| **variant / original** | %sx | | %sx | %sx | %sx | %sx | | %s |" % (
        fmt(rr, 2), fmt(ratio(v.med("mbs"), o.med("mbs")), 2),
        fmt(ratio(v.med("p50"), o.med("p50")), 2), fmt(ratio(v.med("p99"), o.med("p99")), 2),
        fmt(ratio(v.med("cpu_ms"), o.med("cpu_ms")), 2),
        "n/a" if rr is None else ("met" if rr >= 0.9 else "MISSED") +
        " (target: req/s >= 0.9x)"))
    w("")

    w("### 4. Encode cost per format: cold `?w=%s&fmt=...`, 1 in flight" % params["fmt_width"])
    w("")
    fm = load_json(os.path.join(work, "formats.json"))
    if fm:
        w("%d large wallpapers (the largest of the set above), each made once in every "
          "format; AVIF is encoded at effort 0 (libaom's default effort, 4, is some 30-40 "
          "times slower)." % fm["images"])
        w("")
        w("| format | mean ms | median ms | server CPU ms | mean KB | ms / jpeg's | errors |")
        w("|---|---|---|---|---|---|---|")
        by = collections.defaultdict(list)
        for row in fm["rows"]:
            by[row["fmt"]].append(row)
        jpeg_ms = statistics.mean(r["ms"] for r in by["jpeg"]) if by["jpeg"] else None
        for f in params["formats"].split():
            rows = by[f]
            if not rows:
                continue
            mean = statistics.mean(r["ms"] for r in rows)
            w("| %s | %s | %s | %s | %s | %sx | %d |" % (
                f, fmt(mean, 0), fmt(statistics.median(r["ms"] for r in rows), 0),
                fmt(statistics.mean(r["cpu_ticks"] for r in rows) * 1000 / HZ, 0),
                fmt(statistics.mean(r["bytes"] for r in rows) / 1e3, 0),
                fmt(ratio(mean, jpeg_ms), 2), sum(not r["good"] for r in rows)))
        if fm["generated"] != len(fm["rows"]):
            notes.append("formats: %d variants made for %d requests (all should be cold)" % (
                fm["generated"], len(fm["rows"])))
        w("")
    else:
        w("not measured (see notes)")
        w("")

    if worst > 0.1:
        notes.append("other processes or the hypervisor took up to %.2f core during some runs: "
                     "the machine was shared, so wall-clock rates are disturbed; the per "
                     "CPU-second figures hold up better" % worst)
    try:
        notes += read_lines(os.path.join(work, "notes.txt"))
    except OSError:
        pass
    if notes:
        w("Notes:")
        w("")
        for n in notes:
            w("- " + n)
        w("")
    text = "\n".join(lines)
    print(text)
    with open(results, "a") as f:
        f.write("\n" + text)


def main():
    cmds = {"snap": lambda pid: print(*snap(int(pid))), "settle": cmd_settle, "walk": cmd_walk,
            "formats": cmd_formats, "outputs": cmd_outputs, "report": cmd_report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        die("helper: unknown command")
    cmds[sys.argv[1]](*sys.argv[2:])


main()
PY
py() {
    python3 -c "$helper" "$@"
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# measure NAME PID CMD...: runs CMD (stdout to NAME.out) under GNU time; NAME.meas gets PID's
# CPU ticks and the machine's busy and stolen ticks before and after, then wall, user, system.
measure() {
    local name=$1 server=$2 before
    shift 2
    before=$(py snap "$server")
    /usr/bin/time -f '%e %U %S' -o "$name.time" "$@" >"$name.out"
    echo "$before $(py snap "$server") $(cat "$name.time")" >"$name.meas"
}

rm -rf "$work"
mkdir -p "$work/sets/corpus" "$work/sets/progressive" "$work/sets/large" "$work/cached" \
    "$work/tool-out" "$work/nginx"
: >"$work/notes.txt"

bash "$here/corpus.sh"
say "building kho (release) in $build"
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" "$repo" --buildtype=release >"$work/build.log" 2>&1 ||
        die "meson setup failed (see $work/build.log)"
fi
ninja -C "$build" kho >>"$work/build.log" 2>&1 || die "kho does not build (see $work/build.log)"

# The same files for every contender: the first corpus photos; the first of those re-encoded as
# progressive JPEGs (whose every scan must be decoded, whatever the scale); the wallpapers of at
# least large_min px, named by rank of pixel count so that the largest come first.
say "preparing the image sets"
corpus_files=("$out"/corpus/img-*.jpg)
((${#corpus_files[@]} >= count)) || die "the corpus has fewer than $count photos"
corpus_files=("${corpus_files[@]:0:count}")
for f in "${corpus_files[@]}"; do
    ln -s "$f" "$work/sets/corpus/${f##*/}"
done
for f in "${corpus_files[@]:0:prog_count}"; do
    vips copy "$f" "$work/sets/progressive/${f##*/}[interlace,Q=85]"
done
find /usr/share/backgrounds -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) -print0 |
    xargs -0 -r sha256sum | while read -r sum f; do
    w=$(vipsheader -f width "$f" 2>/dev/null) || continue
    h=$(vipsheader -f height "$f")
    if ((w >= large_min || h >= large_min)); then
        echo "$((w * h)) $sum $f"
    fi
done | sort -k1,1nr -k3 | awk '!seen[$2]++' | head -n "$large_max" | cut -d' ' -f3- \
    >"$work/large.txt" # the same picture under two names counts once
rank=0
while read -r f; do
    rank=$((rank + 1))
    base=${f##*/}
    ln -s "$f" "$work/sets/large/$(printf '%02d' "$rank")-${base%.*}.jpg"
done <"$work/large.txt"
((rank > 0)) || die "no JPEG of $large_min px or more under /usr/share/backgrounds"
sets=(corpus progressive large)

say "starting kho and nginx"
kho_port=$(free_port)
mkdir -p "$work/kho-data"
"$build/kho" server --listen "127.0.0.1:$kho_port" --data "$work/kho-data" --threads 2 \
    --process-workers 2 --access-log off --log-level warn >"$work/kho.log" 2>&1 &
kho_pid=$!
pids+=("$kho_pid")
wait_ready "$kho_pid" "http://127.0.0.1:$kho_port/healthz" "$work/kho.log"

nginx_port=$(free_port)
user=""
# As root, nginx would hand its workers to 'nobody', who cannot read under the repo.
[[ $(id -u) -eq 0 ]] && user="user root root;"
sed -e "s|@MODULE@|$module|" -e "s|@USER@|$user|" -e "s|@PREFIX@|$work/nginx|g" \
    -e "s|@PORT@|$nginx_port|" -e "s|@FILES@|$work/sets/corpus|" \
    "$here/variants-nginx.conf.in" >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' \
    >"$work/nginx/stdout.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
first=${corpus_files[0]##*/}
wait_ready "$nginx_pid" "http://127.0.0.1:$nginx_port/c/$first" "$work/nginx/error.log"
for f in "${corpus_files[@]}"; do
    echo "/c/${f##*/}"
done >"$work/nginx/paths.txt"

# Every round stores every set anew under a new user: new image ids, so new variant keys, so
# every round's variants are cold. Each upload makes its eager thumbnail: wait until kho is idle.
say "storing $rounds copies of the sets in kho"
uploads=0
for ((r = 1; r <= rounds; r++)); do
    for s in "${sets[@]}"; do
        mkdir -p "$work/r$r/$s"
        python3 "$here/upload_corpus.py" "$kho_port" "$work/sets/$s" "$work/r$r/$s"
        cut -f1 "$work/r$r/$s/ids.tsv" | sed 's|^|/i/|; s|$|?w=256|' >"$work/r$r/$s/urls.txt"
        uploads=$((uploads + $(wc -l <"$work/r$r/$s/ids.tsv")))
    done
done
py settle "$kho_port" "$kho_pid" "$uploads" 300 "$work/notes.txt"
sync

export BENCH_LUA_DIR=$here
# tool_run TOOL SET ROUND: vipsthumbnail or gm on a set, measured, its outputs checked.
tool_run() {
    local tool=$1 s=$2 r=$3 dir=$work/r$3/$2 n slack=0
    rm -rf "$work/tool-out/$tool"
    mkdir -p "$work/tool-out/$tool"
    n=$(find "$work/sets/$s" -name '*.jpg' | wc -l)
    if [[ $tool == vips ]]; then
        measure "$dir/vips" 0 vipsthumbnail -s 256x \
            -o "$work/tool-out/vips/%s.jpg[Q=82,optimize_coding,strip]" "$work/sets/$s"/*.jpg
    else
        # gm writes NAME.jpg of each relative NAME into the output directory.
        (cd "$work/sets/$s" && measure "$dir/gm" 0 gm mogrify \
            -output-directory "$work/tool-out/gm" -size 512x512 -thumbnail 256x -quality 82 \
            ./*.jpg)
        # gm fits "256x" through the height it computes, so a 3:2 photo may come out 255 wide.
        slack=1
    fi
    py outputs "$work/tool-out/$tool" "$n" 256 "$slack" "$work/notes.txt" "$tool, $s, round $r"
}
# Round r runs the contenders in an order rotated by r, so that drift hits them alike.
contenders=(kho vips gm nginx)
for ((r = 1; r <= rounds; r++)); do
    say "round $r of $rounds: cold variants (kho, vipsthumbnail, gm) and nginx image_filter"
    order=("${contenders[@]:r%4}" "${contenders[@]:0:r%4}")
    for c in "${order[@]}"; do
        if [[ $c == nginx ]]; then
            measure "$work/r$r/nginx" "$nginx_pid" wrk --timeout 10s -t1 -c"$inflight" \
                -d"${seconds}s" --latency -s "$here/get.lua" "http://127.0.0.1:$nginx_port" -- \
                "$work/nginx/paths.txt"
            continue
        fi
        for s in "${sets[@]}"; do
            if [[ $c == kho ]]; then
                py walk "$kho_port" "$kho_pid" "$work/r$r/$s/urls.txt" "$inflight" 256 \
                    "$work/r$r/$s/kho.json"
            else
                tool_run "$c" "$s" "$r"
            fi
        done
    done
done

# All corpus-photo ids now have their 256 px variant stored.
cat "$work"/r*/corpus/ids.tsv | cut -f1 | sed 's|^|/i/|' >"$work/cached/original.txt"
sed 's|$|?w=256|' "$work/cached/original.txt" >"$work/cached/variant.txt"
say "stored variant against original GET: $rounds rounds of $seconds s each"
for kind in variant original; do
    wrk -t1 -c"$get_conns" -d2s -s "$here/get.lua" "http://127.0.0.1:$kho_port" -- \
        "$work/cached/$kind.txt" >/dev/null
done
for ((r = 1; r <= rounds; r++)); do
    for kind in variant original; do
        measure "$work/cached/$kind.r$r" "$kho_pid" wrk --timeout 10s -t1 -c"$get_conns" \
            -d"${seconds}s" --latency -s "$here/get.lua" "http://127.0.0.1:$kho_port" -- \
            "$work/cached/$kind.txt"
    done
done

formats=(jpeg webp avif png)
say "encode cost per format: $fmt_count large images x (${formats[*]}) at 1600 px"
py formats "$kho_port" "$kho_pid" "$work/r$rounds/large/ids.tsv" "$fmt_count" 1600 \
    "$work/formats.json" "${formats[@]}"

stop_all
{
    echo "rounds=$rounds"
    echo "inflight=$inflight"
    echo "get_conns=$get_conns"
    echo "width=256"
    echo "fmt_width=1600"
    echo "formats=${formats[*]}"
    echo "workers=2"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cores=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    for s in "${sets[@]}"; do
        echo "n_$s=$(wc -l <"$work/r1/$s/ids.tsv")"
    done
} >"$work/params.txt"
py report "$work" "$out/results.md"
# The store holds a gigabyte by now; the figures, logs and the set lists stay.
rm -rf "$work/kho-data" "$work/tool-out" "$work/sets/progressive"
