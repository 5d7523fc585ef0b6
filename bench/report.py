#!/usr/bin/env python3
"""Turns the raw results of bench/run.sh (wrk reports, /metrics scrapes, CPU ticks, blobbench
output) into the results table: printed, and written as Markdown.

Usage: report.py RUN_DIR CORPUS_DIR RESULTS_MD [--seconds S] [--rounds R] [--upload-conns C]
"""

import argparse
import datetime
import glob
import json
import os
import re
import statistics
import sys

STAGES = ("receive", "probe", "hash", "append", "sync", "db")
STAGE_RE = re.compile(r'^kho_upload_stage_seconds_total\{stage="([a-z_]+)"\}$')
GET_SERVERS = (("kho", "kho"), ("nginx-tp", "nginx, tuned for throughput"),
               ("nginx-lat", "nginx, tuned for latency"))
UPLOAD_SERVERS = (("kho", "kho POST (validated, fsynced)"),
                  ("nginx", "nginx WebDAV PUT (no validation, no fsync)"))
TICKS = os.sysconf("SC_CLK_TCK")
OTHER_LIMIT = 0.1  # cores taken by other processes or steal before a table is flagged


def load_run(path):
    """One wrk result file -> dict from its BENCH line plus cpu_ticks."""
    res = None
    extra = {}
    with open(path) as f:
        for line in f:
            if line.startswith("BENCH "):
                res = json.loads(line[6:])
            elif line.startswith(("CPU_TICKS ", "MACHINE_TICKS ", "WRK_CPU ")):
                key, *values = line.split()
                extra[key] = [float(v) for v in values]
    if res is None:
        sys.exit("report: no BENCH line in %s (did wrk fail?)" % path)
    res["cpu_ticks"] = extra.get("CPU_TICKS", [None])[0]
    res["machine_ticks"] = extra.get("MACHINE_TICKS")
    res["wrk_cpu"] = sum(extra["WRK_CPU"]) if "WRK_CPU" in extra else None
    res["rate"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


def load_rounds(directory, server):
    files = sorted(glob.glob(os.path.join(directory, server + ".r*.txt")),
                   key=lambda p: int(re.search(r"\.r(\d+)\.txt$", p).group(1)))
    return [load_run(p) for p in files]


def summarize(runs, good_statuses=None):
    """Medians over rounds, server CPU per request and the error count."""
    if not runs:
        return None
    requests = sum(r["requests"] for r in runs)
    errors = 0
    for r in runs:
        e = r["errors"]
        errors += e["connect"] + e["read"] + e["write"] + e["timeout"]
        if good_statuses is None:
            errors += e["status"]
        else:
            errors += sum(n for code, n in r["statuses"].items() if int(code) not in good_statuses)
    ticks = [r["cpu_ticks"] for r in runs]
    cpu_us = None
    if requests and None not in ticks:
        cpu_us = sum(ticks) / TICKS * 1e6 / requests
    return {
        "cores": cores(runs),
        "rate": statistics.median(r["rate"] for r in runs),
        "mbps": statistics.median(r["bytes_in"] / r["duration_us"] for r in runs),
        "p50": statistics.median(r["latency_us"]["p50"] for r in runs) / 1000,
        "p99": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
        "cpu_us": cpu_us,
        "errors": errors,
        "requests": requests,
    }


def cores(runs):
    """Mean cores used during the runs by the server, wrk, the kernel on its own (interrupts,
    kernel threads: mostly the server's disk work), other processes and the hypervisor (steal);
    None when a run lacks the figures."""
    if any(r["cpu_ticks"] is None or r["machine_ticks"] is None or r["wrk_cpu"] is None
           for r in runs):
        return None
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    server = sum(r["cpu_ticks"] for r in runs) / TICKS
    busy, steal, kernel = (sum(r["machine_ticks"][i] for r in runs) / TICKS for i in range(3))
    wrk = sum(r["wrk_cpu"] for r in runs)
    return {"server": server / seconds, "wrk": wrk / seconds, "kernel": kernel / seconds,
            "other": max(0.0, busy - server - wrk - kernel) / seconds, "steal": steal / seconds}


def core_lines(summaries, labels):
    """One line on how the cores were shared, and a warning when other work disturbed it."""
    parts = []
    disturbed = []
    for key, label in labels:
        c = summaries[key] and summaries[key]["cores"]
        if not c:
            continue
        parts.append("%s: server %.2f, wrk %.2f, kernel %.2f, other %.2f, steal %.2f" % (
            key, c["server"], c["wrk"], c["kernel"], c["other"], c["steal"]))
        if c["other"] + c["steal"] > OTHER_LIMIT:
            disturbed.append(key)
    if not parts:
        return []
    lines = ["", "Cores used during the runs (of %d): %s." % (os.cpu_count(), "; ".join(parts))]
    if disturbed:
        lines.append("WARNING: other processes or the hypervisor took more than %.1f core "
                     "during the runs of %s: those figures are disturbed." % (
                         OTHER_LIMIT, ", ".join(disturbed)))
    return lines


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def ratio(a, b):
    if a is None or b is None or not b:
        return "n/a"
    return "%.2fx" % (a / b)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def parse_metrics(path):
    """Prometheus text -> {'name{labels}': value}; {} when the scrape is missing."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, _, value = line.rstrip().rpartition(" ")
            try:
                out[key.strip()] = float(value)
            except ValueError:
                continue
    return out


def corpus_section(corpus):
    sizes = [os.path.getsize(p) for p in glob.glob(os.path.join(corpus, "img-*.jpg"))]
    if not sizes:
        sys.exit("report: no corpus images in %s" % corpus)
    return ["## Corpus", ""] + table(
        ["images", "mean size", "smallest", "largest"],
        [[str(len(sizes)), "%.1f KB" % (statistics.mean(sizes) / 1000),
          "%.1f KB" % (min(sizes) / 1000), "%.1f KB" % (max(sizes) / 1000)]])


def get_section(run_dir):
    lines = []
    for d in sorted(glob.glob(os.path.join(run_dir, "get", "c*")),
                    key=lambda p: int(os.path.basename(p)[1:])):
        conns = os.path.basename(d)[1:]
        with open(os.path.join(d, "threads")) as f:
            threads = f.read().strip()
        s = {key: summarize(load_rounds(d, key)) for key, _ in GET_SERVERS}
        lines += ["", "## GET /i/{id}: random stored photo, keep-alive (wrk -t%s -c%s)" % (
            threads, conns), ""]
        rows = []
        for key, label in GET_SERVERS:
            v = s[key]
            if v is None:
                rows.append([label] + ["n/a"] * 6)
                continue
            rows.append([label, "%.0f" % v["rate"], "%.0f" % v["mbps"], "%.2f" % v["p50"],
                         "%.2f" % v["p99"], fmt(v["cpu_us"], ".0f"), str(v["errors"])])
        k = s["kho"]
        for key, label in GET_SERVERS[1:]:
            p = s[key]
            if k is None or p is None:
                rows.append(["**kho / %s**" % label] + ["n/a"] * 6)
                continue
            rows.append(["**kho / %s**" % label, ratio(k["rate"], p["rate"]),
                         ratio(k["mbps"], p["mbps"]), ratio(k["p50"], p["p50"]),
                         ratio(k["p99"], p["p99"]), ratio(k["cpu_us"], p["cpu_us"]), ""])
        lines += table(["server", "req/s", "MB/s", "p50 ms", "p99 ms", "server CPU µs/req",
                        "errors"], rows)
        lines += core_lines(s, GET_SERVERS)
        if k is not None and s["nginx-tp"] is not None:
            r = k["rate"] / s["nginx-tp"]["rate"]
            lines += ["", "Targets: req/s >= 1.0x nginx-throughput: %.2fx (%s); p99 < 2 ms: "
                      "%.2f ms (%s)" % (r, "met" if r >= 1.0 else "MISSED", k["p99"],
                                        "met" if k["p99"] < 2.0 else "MISSED")]
    return lines


def upload_section(run_dir):
    d = os.path.join(run_dir, "upload")
    with open(os.path.join(d, "files.txt")) as f:
        files = [line.strip() for line in f if line.strip()]
    # Each body is a corpus file plus a COM segment of about 30 bytes.
    mean_body = statistics.mean(os.path.getsize(p) for p in files) + 30
    s = {"kho": summarize(load_rounds(d, "kho"), {201}),
         "nginx": summarize(load_rounds(d, "nginx"), {201, 204})}
    rows = []
    for key, label in UPLOAD_SERVERS:
        v = s[key]
        if v is None:
            rows.append([label] + ["n/a"] * 6)
            continue
        rows.append([label, "%.0f" % v["rate"], "%.1f" % (v["rate"] * mean_body / 1e6),
                     "%.2f" % v["p50"], "%.2f" % v["p99"], fmt(v["cpu_us"], ".0f"),
                     str(v["errors"])])
    k, n = s["kho"], s["nginx"]
    if k is not None and n is not None:
        rows.append(["**kho / nginx**", ratio(k["rate"], n["rate"]), ratio(k["rate"], n["rate"]),
                     ratio(k["p50"], n["p50"]), ratio(k["p99"], n["p99"]),
                     ratio(k["cpu_us"], n["cpu_us"]), ""])
    lines = ["", "## Durable uploads: %.0f KB JPEG bodies, each unique" % (mean_body / 1000), ""]
    lines += table(["server", "uploads/s", "MB/s", "p50 ms", "p99 ms",
                    "server CPU µs/upload", "errors"], rows)
    lines += core_lines(s, UPLOAD_SERVERS)
    if k is not None and n is not None:
        r = k["rate"] / n["rate"]
        lines += ["", "Target: kho >= 0.5x nginx PUT: %.2fx (%s). nginx neither validates the "
                  "image nor syncs it to disk." % (r, "met" if r >= 0.5 else "MISSED")]
    if k is not None:
        lines += [""] + stage_lines(d)
    return lines


def stage_lines(d):
    before = parse_metrics(os.path.join(d, "metrics.before"))
    after = parse_metrics(os.path.join(d, "metrics.after"))
    uploads = after.get("kho_uploads_total", 0) - before.get("kho_uploads_total", 0)
    # The six stages come first, in pipeline order; stages kho adds later are shown after them.
    found = {m.group(1) for m in map(STAGE_RE.match, after) if m}
    stages = list(STAGES) + sorted(found - set(STAGES))
    cells = []
    total = 0.0
    known = 0
    for stage in stages:
        key = 'kho_upload_stage_seconds_total{stage="%s"}' % stage
        if uploads <= 0 or key not in after:
            cells.append("n/a")
            continue
        us = (after[key] - before.get(key, 0.0)) / uploads * 1e6
        total += us
        known += 1
        cells.append("%.0f" % us)
    cells.append("%.0f" % total if known else "n/a")
    lines = ["kho upload stages: mean µs per upload spent inside each stage (from /metrics, "
             "%s uploads):" % (
        "%.0f" % uploads if uploads > 0 else "no"), ""]
    lines += table(stages + ["total"], [cells])
    dedups = after.get("kho_upload_dedups_total", 0) - before.get("kho_upload_dedups_total", 0)
    if dedups:
        lines += ["", "WARNING: kho deduplicated %.0f uploads: bodies were not unique" % dedups]
    return lines


def blob_section(run_dir):
    lines = ["", "## Blob index: RAM per stored blob, restart time (blobbench)", ""]
    path = os.path.join(run_dir, "blobbench.txt")
    if not os.path.exists(path):
        return lines + ["not measured (see notes)"]
    with open(path) as f:
        return lines + ["```"] + f.read().rstrip().splitlines() + ["```"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("corpus")
    ap.add_argument("results")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--upload-conns", type=int, default=16)
    args = ap.parse_args()

    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = ["# kho benchmark", "",
             "%s UTC on %s, %d cores. kho --threads 2; nginx worker_processes 2, reuseport; wrk "
             "runs on the same cores. Servers alternate over %d rounds of %d s each after a "
             "warm-up; figures are medians over rounds, CPU is the server's utime+stime over "
             "all rounds. Uploads use %d connections." % (
                 datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), cpu,
                 os.cpu_count(), args.rounds, args.seconds, args.upload_conns), ""]
    lines += corpus_section(args.corpus)
    lines += get_section(args.run)
    lines += upload_section(args.run)
    lines += blob_section(args.run)
    with open(os.path.join(args.run, "notes.txt")) as f:
        notes = [line.rstrip() for line in f if line.strip()]
    if notes:
        lines += ["", "## Notes", ""] + ["- " + n for n in notes]
    text = "\n".join(lines) + "\n"
    with open(args.results, "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
