#!/usr/bin/env python3
"""Turns the raw results of bench/scale.sh (wrk reports with CPU ticks, the edge's cache statuses,
listing_latency.py's figures) into its tables: printed, and appended to results.md.

Usage: scale_report.py RUN_DIR RESULTS_MD --seconds S --rounds R --conns C --images N
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

NODES = (1, 2, 3)


def load(path):
    """report.load_run plus the engines' CPU ticks and the edge's cache statuses."""
    res = report.load_run(path)
    res["engine_ticks"] = None
    res["cache"] = None
    with open(path) as f:
        for line in f:
            if line.startswith("ENGINE_TICKS "):
                res["engine_ticks"] = float(line.split()[1])
            elif line.startswith("EDGE_CACHE"):
                res["cache"] = {k: int(v) for k, v in (t.split("=") for t in line.split()[1:])}
    return res


def summary(directory, name, rounds):
    paths = [os.path.join(directory, "%s.r%d.txt" % (name, r)) for r in range(1, rounds + 1)]
    runs = [load(p) for p in paths if os.path.exists(p)]
    s = report.summarize(runs)
    if s is None:
        return None
    ticks = [r["engine_ticks"] for r in runs]
    s["engine_us"] = (sum(ticks) / report.TICKS * 1e6 / s["requests"]
                      if s["requests"] and None not in ticks else None)
    if s["cores"] and None not in ticks:
        # report.cores counts the engines as other processes; here they are part of the stack
        engines = sum(ticks) / report.TICKS / (sum(r["duration_us"] for r in runs) / 1e6)
        s["cores"]["engines"] = engines
        s["cores"]["other"] = max(0.0, s["cores"]["other"] - engines)
    cache = {}
    for r in runs:
        for k, n in (r["cache"] or {}).items():
            cache[k] = cache.get(k, 0) + n
    total = sum(cache.values())
    s["cache"] = ", ".join("%s %.1f%%" % (k, 100.0 * n / total)
                           for k, n in sorted(cache.items(), key=lambda kv: -kv[1])) or "-"
    return s


def row(label, s, base=None):
    if s is None:
        return [label] + ["n/a"] * 9
    return [label, "%.0f" % s["rate"], report.ratio(s["rate"], base and base["rate"]),
            "%.2f" % s["p50"], "%.2f" % s["p99"], report.fmt(s["cpu_us"], ".0f"),
            report.fmt(s["engine_us"], ".0f"), "%.1f" % (s["mbps"]), s["cache"], str(s["errors"])]


HEADER = ["", "req/s", "x first row", "p50 ms", "p99 ms", "tier CPU µs/req",
          "engines CPU µs/req", "MB/s", "edge cache", "errors"]


def core_lines(summaries):
    parts = []
    disturbed = []
    for label, s in summaries:
        c = s and s["cores"]
        if not c:
            continue
        parts.append("%s: tier %.2f, engines %.2f, wrk %.2f, kernel %.2f, other %.2f, steal %.2f"
                     % (label, c["server"], c.get("engines", 0.0), c["wrk"], c["kernel"],
                        c["other"], c["steal"]))
        if c["other"] + c["steal"] > report.OTHER_LIMIT:
            disturbed.append(label)
    lines = ["", "Cores used (of %d): %s." % (os.cpu_count(), "; ".join(parts))] if parts else []
    if disturbed:
        lines.append("WARNING: other processes or the hypervisor took more than %.1f core during "
                     "the runs of %s: those figures are disturbed." % (report.OTHER_LIMIT,
                                                                       ", ".join(disturbed)))
    return lines


def edge_section(run, rounds, conns):
    d = os.path.join(run, "edge")
    lines = []
    for name, title in (("img", "GET /i/{id} of a random one of the images, with the owner's "
                         "bearer token, so that nginx passes every request on (cache BYPASS)"),
                        ("explore", "GET /api/v1/explore?limit=50, pages 1-4 at random "
                         "(anonymous; nginx never caches /api/)")):
        s = [("%d node%s" % (n, "s" if n > 1 else ""), summary(d, "%s.n%d" % (name, n), rounds))
             for n in NODES]
        lines += ["", "### Through nginx: %s" % title, ""]
        lines += report.table(HEADER, [row(label, v, s[0][1]) for label, v in s])
        lines += core_lines(s)
    hit = summary(d, "hit.n3", rounds)
    lines += ["", "### Through nginx: anonymous GET /i/{id}, answered by the edge cache "
              "(3 nodes behind it)", ""]
    lines += report.table(HEADER, [row("edge cache", hit)])
    lines += core_lines([("edge cache", hit)])
    return lines


def blob_section(run, rounds):
    d = os.path.join(run, "blob")
    vol, s3 = summary(d, "vol", rounds), summary(d, "s3", rounds)
    lines = ["", "### GET /i/{id} from one node, no nginx: local volumes against S3 (Ceph RGW)",
             "", "Both nodes on SQLite without Redis, so that only the blob store differs; "
             "engines CPU is RGW, its OSD and monitor (and idle PostgreSQL and Redis).", ""]
    rows = [row("local volumes", vol, vol), row("S3 (RGW on this box)", s3, vol)]
    lines += report.table(HEADER, rows)
    lines += core_lines([("volumes", vol), ("S3", s3)])
    return lines


def listing_section(run):
    path = os.path.join(run, "listing.json")
    lines = ["", "### Listing latency: GET /api/v1/images?limit=50, one keep-alive connection, "
             "sequential (bench/listing_latency.py)", ""]
    if not os.path.exists(path):
        return lines + ["n/a: listing_latency.py did not finish"]
    with open(path) as f:
        res = json.load(f)
    base = res[0]
    rows = [[r["label"] + " (%d images)" % r["images"], "%.2f" % r["p50"], "%.2f" % r["p95"],
             "%.2f" % r["p99"], "%.2f" % r["mean"], str(r["n"])] for r in res]
    for r in res[1:]:
        rows.append(["**%s / %s**" % (r["label"], base["label"]),
                     report.ratio(r["p50"], base["p50"]), report.ratio(r["p95"], base["p95"]),
                     report.ratio(r["p99"], base["p99"]), report.ratio(r["mean"], base["mean"]),
                     ""])
    return lines + report.table(["metadata store", "p50 ms", "p95 ms", "p99 ms", "mean ms",
                                 "requests"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("results")
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--images", type=int, required=True)
    args = ap.parse_args()
    lines = ["", "## Scale-out (bench/scale.sh, %s)" % datetime.date.today().isoformat(), "",
             "2 PostgreSQL servers (shards), a single-node Ceph RGW (memstore) and Redis from "
             "tests/svc; kho API nodes with `--threads 1` each; nginx with deploy/nginx/kho.conf "
             "(2 workers, its limit_req lines left out: all load comes from one address). "
             "%d corpus photos stored once per store; wrk -t1 -c%d, %d s per run after a warm-up, "
             "median of %d rounds. Tier CPU: nginx and the kho nodes; engines CPU: PostgreSQL, "
             "Ceph and Redis; both per request." % (args.images, args.conns, args.seconds,
                                                    args.rounds),
             "",
             "All of it shares %d cores with wrk: a second or third node adds no core, so more "
             "nodes cannot add throughput here. These rows show what the extra nodes cost (CPU "
             "per request, latency), not how the tier scales on separate machines." % (
                 os.cpu_count())]
    lines += edge_section(args.run, args.rounds, args.conns)
    lines += blob_section(args.run, args.rounds)
    lines += listing_section(args.run)
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.results, "a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
