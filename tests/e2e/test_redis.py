"""kho with a real redis-server (tests/svc/redis.sh): records, users, sessions and API keys are
cached in Redis and invalidated on every write; with Redis stopped or hung kho keeps serving
from the database and its login limits fall back to the process; Redis back, kho uses it again
on its own and serves nothing stale; failed logins count across nodes sharing one Redis.
Skipped when redis-server is not installed."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import lib
from test_cache import get_twice

SVC = os.path.join(lib.REPO, "tests", "svc", "redis.sh")
LONG = ("--cache-ttl-ms", "60000")


class Redis:
    """One redis-server from tests/svc/redis.sh, with a tiny RESP client."""

    def __init__(self):
        if shutil.which("redis-server") is None:
            raise lib.Skip("redis-server is not installed")
        if lib.extra_flag("redis") is not None:
            raise lib.Skip("starts its own Redis; KHO_E2E_ARGS names a --redis")
        # a short state path: redis.sh checks it in the command line before signalling
        self.state = tempfile.mkdtemp(prefix="r-", dir=lib.root_dir())
        self.url = None
        self.start()

    def svc(self, cmd):
        r = subprocess.run([SVC, cmd, self.state], capture_output=True, timeout=60)
        assert r.returncode == 0, "redis.sh %s: %s" % (cmd, r.stderr.decode())
        return r.stdout.decode().strip()

    def start(self):
        self.url = self.svc("start")
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        self.svc("stop")

    def pid(self):
        with open(os.path.join(self.state, "redis.pid")) as f:
            return int(f.read().strip())

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(out)
            return read_reply(s.makefile("rb"))

    def keys(self, pattern):
        return sorted(k.decode() for k in self.cmd("KEYS", pattern))


def read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise AssertionError("redis error: %s" % rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise AssertionError("bad RESP line %r" % line)


def node(redis, *args):
    return lib.Server(("--redis", redis.url) + LONG + tuple(args)).start()


def redis_up(s):
    return lib.metric_sum(s.metrics(), "kho_redis_up")


def test_records_live_in_redis_and_writes_invalidate_them():
    redis = Redis()
    try:
        with node(redis) as s:
            ana = s.new_user("rvis")
            iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
            get_twice(s, "/i/" + iid)
            get_twice(s, "/api/v1/images/" + iid)
            imgs, users = redis.keys("kho:img:*"), redis.keys("kho:user:*")
            assert any(not k.endswith(":v") for k in imgs), imgs
            assert users, users
            assert lib.metric_sum(s.metrics(), "kho_cache_hits_total") > 0
            assert redis_up(s) == 1

            assert s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "private"},
                          token=ana.token).status == 200
            # the copy is gone and its version moved on: an anonymous reader sees the change
            assert [k for k in redis.keys("kho:img:*") if not k.endswith(":v")] == []
            assert any(k.endswith(":v") for k in redis.keys("kho:img:*"))
            lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
            lib.check_error(s.request("GET", "/api/v1/images/" + iid), 404, "not_found")

            assert s.request("DELETE", "/api/v1/images/" + iid, token=ana.token).status == 204
            lib.check_error(s.request("GET", "/api/v1/images/" + iid, token=ana.token), 404,
                            "not_found")

            # logout: the cached session goes with it
            get_twice(s, "/api/v1/me", token=ana.token)
            assert [k for k in redis.keys("kho:sess:*") if not k.endswith(":v")]
            assert s.request("DELETE", "/api/v1/sessions/current", token=ana.token).status == 204
            lib.check_error(s.request("GET", "/api/v1/me", token=ana.token), 401, "unauthorized")

            # a revoked API key stops working at once
            bob = s.new_user("rkey")
            r = s.json("POST", "/api/v1/keys", {"name": "k", "scope": "read"}, token=bob.token)
            assert r.status == 201, r
            key = r.json()
            get_twice(s, "/api/v1/me", token=key["key"])
            assert [k for k in redis.keys("kho:key:*") if not k.endswith(":v")]
            assert s.request("DELETE", "/api/v1/keys/" + key["id"], token=bob.token).status == 204
            lib.check_error(s.request("GET", "/api/v1/me", token=key["key"]), 401,
                            "unauthorized")
    finally:
        redis.stop()


def test_redis_down_then_back():
    redis = Redis()
    try:
        # copies for 2 s: after Redis returns, the cache is read again 2 s later
        with lib.Server(("--redis", redis.url, "--cache-ttl-ms", "2000",
                         "--login-fail-limit", "3")) as s:
            ana = s.new_user("rdown")
            iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
            get_twice(s, "/i/" + iid)
            redis.stop()

            # reads, uploads and logins go on from the database
            t0 = time.monotonic()
            get_twice(s, "/i/" + iid)
            other = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
            assert s.request("GET", "/i/" + other).status == 200
            assert s.login(ana.username).status == 201
            assert time.monotonic() - t0 < 10
            assert redis_up(s) == 0
            assert lib.metric_sum(s.metrics(), "kho_redis_errors_total") > 0

            # the login limit still holds, in the process
            for _ in range(3):
                assert s.login(ana.username, password="wrong one").status == 401
            lib.check_error(s.login(ana.username, password="wrong one"), 429, "rate_limited")

            # a change while Redis is down holds once it is back
            assert s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "private"},
                          token=ana.token).status == 200
            redis.start()
            lib.wait_for(lambda: s.request("GET", "/i/" + other).status == 200 and
                         [k for k in redis.keys("kho:img:*") if not k.endswith(":v")],
                         "kho filling Redis again", timeout=20)
            lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
            assert redis_up(s) == 1
    finally:
        redis.stop()


def test_hung_redis_serves_nothing_stale():
    # A Redis that stops answering (SIGSTOP) keeps its copies: the invalidation of a change made
    # meanwhile times out, so once Redis answers again kho must not read the copy it left.
    redis = Redis()
    try:
        with lib.Server(("--redis", redis.url, "--cache-ttl-ms", "3000")) as s:
            ana = s.new_user("rhung")
            iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
            get_twice(s, "/i/" + iid)
            stale = [k for k in redis.keys("kho:img:*") if not k.endswith(":v")]
            assert stale, "the image was not cached"
            os.kill(redis.pid(), signal.SIGSTOP)
            try:
                assert s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "private"},
                              token=ana.token).status == 200
                lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
            finally:
                os.kill(redis.pid(), signal.SIGCONT)
            # the stale copy is still in Redis, and never served
            assert redis.cmd("EXISTS", stale[0]) == 1
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
                time.sleep(0.1)
            lib.wait_for(lambda: redis_up(s) == 1, "kho reconnecting", timeout=10)
    finally:
        redis.stop()


def test_login_limit_spans_nodes():
    redis = Redis()
    try:
        with node(redis, "--login-fail-limit", "4") as a, \
                node(redis, "--login-fail-limit", "4") as b:
            # each node has its own database; the limiter keys on the name, not the account row
            name = lib.rand_name("rl")
            assert a.register(name).status == 201
            assert b.register(name).status == 201
            for s in (a, b, a, b):
                assert s.login(name, password="wrong one").status == 401
            lib.check_error(a.login(name, password="wrong one"), 429, "rate_limited")
            r = b.login(name)
            lib.check_error(r, 429, "rate_limited")
            assert int(r.headers["retry-after"]) >= 1
    finally:
        redis.stop()


def test_bad_redis_url_is_refused():
    if lib.extra_flag("redis") is not None:
        raise lib.Skip("KHO_E2E_ARGS names a --redis, which would win over the bad one")
    s = lib.Server(("--redis", "http://127.0.0.1:1"))
    try:
        s.start()
        raise AssertionError("a server with a bad --redis started")
    except lib.ServerError as e:
        assert "redis" in str(e), e
    finally:
        s.stop()
