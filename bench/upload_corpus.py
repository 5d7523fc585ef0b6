#!/usr/bin/env python3
"""Stores the benchmark corpus in a running kho as one user's public images (standard library
only), so that the GET benchmark can fetch them by id. Prints nothing on success.

Usage: upload_corpus.py PORT CORPUS_DIR OUT_DIR [--conns N]
Writes OUT_DIR/token (the user's bearer token) and OUT_DIR/ids.tsv ("id<TAB>file" a line).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import secrets
import sys
import threading

USERNAME = "bench_" + secrets.token_hex(4)
PASSWORD = secrets.token_urlsafe(18)


class Client:
    """One keep-alive connection per thread; reconnects once if the server closed it."""

    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def request(self, method, path, body, headers):
        for attempt in (0, 1):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.local.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, path, obj, expect):
        try:
            status, body = self.request("POST", path, json.dumps(obj).encode(),
                                        {"Content-Type": "application/json"})
        except OSError as e:
            sys.exit("upload_corpus: POST %s failed: %s" % (path, e))
        if status != expect:
            sys.exit("upload_corpus: POST %s answered %d: %s" % (path, status, body[:300]))
        return json.loads(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--conns", type=int, default=4)
    args = ap.parse_args()

    files = sorted(os.path.join(args.corpus, f) for f in os.listdir(args.corpus)
                   if f.endswith(".jpg"))
    if not files:
        sys.exit("upload_corpus: no .jpg files in %s" % args.corpus)
    client = Client(args.port)
    client.json("/api/v1/users", {"username": USERNAME, "password": PASSWORD}, 201)
    token = client.json("/api/v1/sessions", {"username": USERNAME, "password": PASSWORD},
                        201)["token"]
    headers = {"Content-Type": "image/jpeg", "Authorization": "Bearer " + token}

    def upload(path):
        with open(path, "rb") as f:
            data = f.read()
        try:
            status, body = client.request("POST", "/api/v1/images?visibility=public", data,
                                          headers)
        except OSError as e:
            raise RuntimeError("upload of %s failed: %s" % (path, e))
        if status != 201:
            raise RuntimeError("upload of %s answered %d: %s" % (path, status, body[:300]))
        return json.loads(body)["id"]

    with concurrent.futures.ThreadPoolExecutor(args.conns) as pool:
        try:
            ids = list(pool.map(upload, files))
        except RuntimeError as e:
            sys.exit("upload_corpus: %s" % e)
    if len(set(ids)) != len(ids):
        sys.exit("upload_corpus: the server gave %d distinct ids for %d distinct files"
                 % (len(set(ids)), len(ids)))
    with open(os.path.join(args.out, "token"), "w") as f:
        f.write(token + "\n")
    with open(os.path.join(args.out, "ids.tsv"), "w") as f:
        for image_id, path in zip(ids, files):
            f.write("%s\t%s\n" % (image_id, path))


if __name__ == "__main__":
    main()
