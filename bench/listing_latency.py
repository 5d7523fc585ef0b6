#!/usr/bin/env python3
"""Listing latency on each metadata backend: GET /api/v1/images?limit=50 of a user with 200 images,
against SQLite (the default) and the sharded PostgreSQL store (two servers from tests/svc/pg.sh).
Usage: bench/listing_latency.py [REQUESTS]   (KHO_BIN picks the binary); prints one line each."""

import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import lib  # noqa: E402

PG = os.path.join(REPO, "tests", "svc", "pg.sh")
IMAGES = 200


def measure(label, args, requests):
    s = lib.Server(args, threads=2, workers=8)
    s.start()
    try:
        u = s.new_user("bench")
        for _ in range(IMAGES):
            s.upload_ok(u, lib.unique_png(16, 16))
        conn = s.conn()
        times = []
        for i in range(requests + 20):
            t0 = time.perf_counter()
            conn.request("GET", "/api/v1/images?limit=50",
                         headers={"Authorization": "Bearer " + u.token})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            if i >= 20:  # warm-up: connections, prepared statements, caches
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print("%-28s n=%d  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  mean %.2f ms" % (
            label, len(times), times[len(times) // 2], times[int(len(times) * 0.95)],
            times[int(len(times) * 0.99)], sum(times) / len(times)), flush=True)
    finally:
        s.stop()


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    measure("sqlite", [], requests)
    root = tempfile.mkdtemp(prefix="pgb", dir="/tmp")
    os.chmod(root, 0o755)
    states = [os.path.join(root, n) for n in ("a", "b")]
    try:
        urls = [subprocess.run([PG, "start", st], capture_output=True, check=True,
                               timeout=60).stdout.decode().strip() for st in states]
        measure("postgres (2 shard servers)", ["--db", ",".join(urls)], requests)
    finally:
        for st in states:
            subprocess.run([PG, "stop", st], capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", root])
        lib.cleanup_root()


if __name__ == "__main__":
    main()
