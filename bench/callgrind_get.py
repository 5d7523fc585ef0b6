#!/usr/bin/env python3
"""Instructions the event-loop thread spends per GET /i/{id} of one stored public image, counted
by callgrind: deterministic, so it shows what a change to the GET path costs or saves even when
wall-clock figures are too noisy on a shared machine. Not part of `make bench`.

Usage: callgrind_get.py [--count N] [--auth] [KHO_BIN]      (default build/kho, 2000 GETs)
--auth sends the uploader's bearer token with every GET (adds the session lookup).
Runs kho under valgrind with one loop, VIPS_NOVECTOR=1 (valgrind cannot decode libvips's Orc
code) and --argon2-mem 8M, warms up, zeroes the counters, does the GETs on one keep-alive
connection, and prints the loop thread's instructions divided by the count.
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import lib  # noqa: E402  (test images)


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(HERE, "..", "build", "kho"))
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--auth", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="kho-callgrind-")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = os.path.join(work, "callgrind.out")
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--callgrind-out-file=" + out,
         args.binary, "server", "--listen", "127.0.0.1:%d" % port, "--data", work + "/data",
         "--threads", "1", "--workers", "2", "--process-workers", "1", "--argon2-mem", "8M",
         "--access-log", "off"],
        env=dict(os.environ, VIPS_NOVECTOR="1"), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                if request(conn, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
            if time.monotonic() > deadline:
                raise SystemExit("kho did not start under valgrind; see %s" % work)
        cred = json.dumps({"username": "bench", "password": "correct horse battery"})
        assert request(conn, "POST", "/api/v1/users", cred)[0] == 201
        st, body = request(conn, "POST", "/api/v1/sessions", cred)
        token = json.loads(body)["token"]
        auth = {"Authorization": "Bearer " + token}
        data = lib.jpeg(800, 600, seed=3)
        st, body = request(conn, "POST", "/api/v1/images?visibility=public", data,
                           dict(auth, **{"Content-Type": "image/jpeg"}))
        assert st == 201, (st, body)
        iid = json.loads(body)["id"]
        # the eager thumbnail runs on other threads: let it finish before counting
        while not json.loads(request(conn, "GET", "/api/v1/images/" + iid)[1]).get("placeholder"):
            time.sleep(0.5)
        headers = auth if args.auth else {}
        for _ in range(50):
            assert request(conn, "GET", "/i/" + iid, headers=headers)[0] == 200
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                       capture_output=True)
        for _ in range(args.count):
            st, body = request(conn, "GET", "/i/" + iid, headers=headers)
            assert st == 200 and len(body) == len(data), st
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                       capture_output=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    loop = None
    for f in glob.glob(out + "*"):
        with open(f, errors="replace") as fh:
            text = fh.read()
        if "part: 1\n" in text and "loop_main" in text:
            loop = int(text.split("\nsummary: ")[1].split()[0])
    shutil.rmtree(work)
    if loop is None:
        raise SystemExit("no dump of the loop thread")
    print("%.0f instructions per GET on the loop thread (%d GETs%s)" % (
        loop / args.count, args.count, ", with a bearer token" if args.auth else ""))


if __name__ == "__main__":
    main()
