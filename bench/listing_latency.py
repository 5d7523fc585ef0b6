#!/usr/bin/env python3
"""Listing latency on each metadata backend: GET /api/v1/images?limit=50 of a user with 200 images,
against SQLite (the default) and the sharded PostgreSQL store (two servers from tests/svc/pg.sh,
or the running ones named by --pg). bench/scale.sh runs it as part of `make bench`.
Usage: bench/listing_latency.py [REQUESTS] [--images N] [--pg URL,URL] [--json FILE]
(KHO_BIN picks the binary); prints one line each, and with --json writes the figures."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import lib  # noqa: E402

PG = os.path.join(REPO, "tests", "svc", "pg.sh")
WARMUP = 20  # requests not counted: connections, prepared statements, caches


def measure(label, args, requests, images):
    """Stores images tiny PNGs for one user on a kho started with args, then times requests
    sequential listings of their first page on one keep-alive connection; prints and returns
    the figures in ms."""
    s = lib.Server(args, threads=2, workers=8)
    s.start()
    try:
        u = s.new_user("bench")
        for _ in range(images):
            s.upload_ok(u, lib.unique_png(16, 16))
        conn = s.conn()
        times = []
        for i in range(requests + WARMUP):
            t0 = time.perf_counter()
            conn.request("GET", "/api/v1/images?limit=50",
                         headers={"Authorization": "Bearer " + u.token})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            if i >= WARMUP:
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        res = {"label": label, "n": len(times), "images": images,
               "p50": times[len(times) // 2], "p95": times[int(len(times) * 0.95)],
               "p99": times[int(len(times) * 0.99)], "mean": sum(times) / len(times)}
        print("%-28s n=%d  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  mean %.2f ms" % (
            label, res["n"], res["p50"], res["p95"], res["p99"], res["mean"]), flush=True)
        return res
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("requests", type=int, nargs="?", default=500)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--pg", help="comma-separated URLs of running PostgreSQL shard servers")
    ap.add_argument("--json", help="where to write the figures")
    args = ap.parse_args()
    results = []
    root = None
    states = []
    try:
        results.append(measure("sqlite", [], args.requests, args.images))
        urls = args.pg
        if not urls:
            root = tempfile.mkdtemp(prefix="pgb", dir="/tmp")
            os.chmod(root, 0o755)
            states = [os.path.join(root, n) for n in ("a", "b")]
            urls = ",".join(subprocess.run([PG, "start", st], capture_output=True, check=True,
                                           timeout=60).stdout.decode().strip() for st in states)
        n = len(urls.split(","))
        results.append(measure("postgres (%d shard servers)" % n, ["--db", urls], args.requests,
                               args.images))
    finally:
        for st in states:
            subprocess.run([PG, "stop", st], capture_output=True, timeout=60)
        if root:
            subprocess.run(["rm", "-rf", root])
        lib.cleanup_root()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
