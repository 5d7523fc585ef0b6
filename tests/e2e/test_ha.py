"""Redundancy with every engine at once (issue #5, part 5): 2 PostgreSQL shards, Ceph RGW and
Redis (tests/svc), 3 kho API nodes on them and nginx with deploy/nginx/kho.conf in front. Work
spreads over the nodes and any node serves what another stored; a node killed with SIGKILL under
mixed load (uploads included) fails no request and loses or doubles no upload; Redis, one
PostgreSQL shard and radosgw each stop and come back without the edge failing what it should
not. Runs in the default run only (it starts its own engines) and skips without them."""

import atexit
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import lib
from lib import check_error
from test_edge import NODE_LINE, Edge, need_nginx
from test_pg_shards import user_on

SVC = os.path.join(lib.REPO, "tests", "svc")
NODES = 3
_fx = {}


def svc(script, cmd, state, *args):
    r = subprocess.run([os.path.join(SVC, script), cmd, state] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise RuntimeError("%s %s: %s" % (script, cmd, r.stderr.strip()[-500:]))
    return r.stdout.strip()


def need_engines():
    for name in ("db", "blob", "redis"):
        if lib.extra_flag(name) is not None:
            raise lib.Skip("starts its own engines; KHO_E2E_ARGS names a --%s" % name)
    need_nginx()
    missing = [b for b in ("ceph-mon", "ceph-osd", "radosgw", "redis-server")
               if shutil.which(b) is None]
    if subprocess.run(["sh", "-c", "command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl"],
                      capture_output=True).returncode != 0:
        missing.append("pg_ctl")
    if missing:
        raise lib.Skip("engines not installed (%s; scripts/deps.sh scale)" % ", ".join(missing))


def teardown():
    for n in _fx.pop("nodes", []):
        n.stop()
    edge = _fx.pop("edge", None)
    if edge is not None:
        edge.stop()
    root = _fx.pop("root", None)
    if root is not None:
        for script, name in (("redis.sh", "r"), ("rgw.sh", "s3"), ("pg.sh", "a"), ("pg.sh", "b")):
            subprocess.run([os.path.join(SVC, script), "stop", os.path.join(root, name)],
                           capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def start_edge():
    """nginx in front of the nodes as they are now, its state outside lib's scratch directory
    (which run.py removes before this module's engines are stopped at exit)."""
    e = Edge(_fx["nodes"])
    shutil.rmtree(e.state, ignore_errors=True)
    e.state = os.path.join(_fx["root"], "edge%d" % time.monotonic_ns())
    e.log_path = os.path.join(e.state, "error.log")
    os.makedirs(e.state)
    _fx["edge"] = e.start()


def topology():
    """The engines, the nodes and the edge, started once for the module; a node found dead (the
    SIGKILL test) is started again and the edge re-rendered for its new port."""
    need_engines()
    if "root" not in _fx:
        root = tempfile.mkdtemp(prefix="ha", dir="/tmp")  # short: Ceph's socket paths
        os.chmod(root, 0o755)
        _fx["root"] = root
        atexit.register(teardown)
        # the engines start in parallel: radosgw's first start is the slow one
        procs = {name: subprocess.Popen([os.path.join(SVC, script), "start",
                                         os.path.join(root, name)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for script, name in (("pg.sh", "a"), ("pg.sh", "b"), ("rgw.sh", "s3"),
                                      ("redis.sh", "r"))}
        urls = {}
        for name, p in procs.items():
            out, err = p.communicate(timeout=120)
            if p.returncode:
                raise RuntimeError("cannot start %s: %s" % (name, err.strip()[-500:]))
            urls[name] = out.strip()
        env = dict(ln.split("=", 1) for ln in open(os.path.join(root, "s3", "s3.env")).read()
                   .split())
        keys = {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        args = ["--db", urls["a"] + "," + urls["b"], "--blob", urls["s3"], "--redis", urls["r"]]
        _fx["nodes"] = [lib.Server(args, env=keys) for _ in range(NODES)]
    nodes = _fx["nodes"]
    restarted = False
    for n in nodes:
        if not n.alive():
            n.proc = None
            n.start()
            restarted = True
    if restarted and "edge" in _fx:
        _fx.pop("edge").stop()
    if "edge" not in _fx:
        start_edge()
    return nodes, _fx["edge"]


def user(node):
    """A fresh user made on a node directly: the edge's sign-up/log-in limit (10/min per address)
    is for people, and every node shares the same databases anyway."""
    return node.new_user("ha")


def logged(edge, rid):
    """The edge log's line for a request id; nginx writes it just after the answer."""
    lines = []
    lib.wait_for(lambda: lines.extend(ln for ln in edge.edge_log() if ln["id"] == rid) or lines,
                 "the edge's log line for %s" % rid, timeout=5)
    return lines[0]


def node_of(edge, addr):
    ports = {"127.0.0.1:%d" % n.port: i for i, n in enumerate(edge.nodes)}
    return ports.get(addr)


def served(node):
    """What a node has answered so far: (uploads made, originals sent, records sent), from its
    per-route request counters."""
    m = node.metrics()
    return tuple(lib.metric_sum(m, "kho_http_requests_total", route=route, status=status)
                 for route, status in (("/api/v1/images", 201), ("/i/{id}", 200),
                                       ("/api/v1/images/{id}", 200)))


def disabled_lines(edge):
    """How many times nginx took a node out of the upstream so far."""
    with open(edge.log_path, "rb") as f:
        return f.read().count(b"temporarily disabled")


# ---------------------------------------------------------------------------------------------
# Load: threads on their own loopback addresses (the edge limits per address)


class Load:
    """Readers (originals, variants, listings, records) and uploaders through the edge, each on
    one keep-alive connection from its own address, until stopped. Every answer is recorded;
    uploads also as (user, sha256, status, id) for the lost/doubled check."""

    def __init__(self, edge, users, images, readers=4, uploaders=2, tag=1):
        self.edge, self.users, self.images = edge, users, images
        self.stop_ev = threading.Event()
        self.results, self.uploads = [], []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=("127.0.%d.%d" % (tag, i + 1),
                                                                 i < uploaders, i))
                        for i in range(readers + uploaders)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)

    def failures(self):
        return [(m, p, s) for m, p, s in self.results if s not in (200, 201)]

    def one(self, conn, method, path, u, body=None):
        hdrs = {"Authorization": "Bearer " + u.token}
        if body is not None:
            hdrs["Content-Type"] = "image/png"
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return r, data

    def run(self, source, uploader, k):
        conn, i = None, 0
        mine = []  # this uploader's earlier images, sent again now and then (dedup)
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            u = self.users[(k + i) % len(self.users)]
            img, data = self.images[(k + i) % len(self.images)]
            body = None
            if uploader:
                method, path = "POST", "/api/v1/images"
                if mine and i % 4 == 3:
                    u, body = mine[i % len(mine)]
                else:
                    body = lib.unique_png(24, 24)
            else:
                method = "GET"
                path = ("/i/%s" % img["id"], "/i/%s?w=64&fmt=webp" % img["id"],
                        "/api/v1/images?limit=20", "/api/v1/images/%s" % img["id"])[i % 4]
                u = img["_user"]
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.edge.port, timeout=30,
                                                      source_address=(source, 0))
                r, got = self.one(conn, method, path, u, body)
                status = r.status
                if method == "GET" and path.startswith("/i/") and "?" not in path and \
                        status == 200 and got != data:
                    status = "wrong bytes"
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as ex:
                status = repr(ex)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append((method, path, status))
                if body is not None and status in (200, 201):
                    rec = json.loads(got)
                    self.uploads.append((u, lib.sha256(body), status, rec["id"]))
                    if status == 201:
                        mine.append((u, body))
            time.sleep(max(0.0, (0.12 if uploader else 0.04) - (time.monotonic() - t0)))
        if conn is not None:
            conn.close()


def seed(edge, nodes, n_users=3, per_user=2):
    """Users made on the nodes and images uploaded through the edge: ([User], [(image, bytes)]),
    each image carrying its owner as image["_user"]."""
    users = [user(nodes[i % len(nodes)]) for i in range(n_users)]
    images = []
    for u in users:
        for _ in range(per_user):
            data = lib.unique_png(40, 30)
            img = edge.upload_ok(u, data)
            img["_user"] = u
            images.append((img, data))
    return users, images


def check_uploads_kept(nodes, load):
    """Every acknowledged upload is there, exactly once per (user, sha256), with the id the
    answer gave; nothing else was stored for those users."""
    acked = {}
    for u, sha, status, iid in load.uploads:
        prev = acked.setdefault((u.id, sha), iid)
        assert prev == iid, "two ids for one upload of %s: %s, %s" % (sha, prev, iid)
    assert acked, "no upload was acknowledged"
    owners = {u.id: u for u, _, _, _ in load.uploads}
    live = [n for n in nodes if n.alive()]
    for i, (uid, u) in enumerate(owners.items()):
        items = live[i % len(live)].list_all("/api/v1/images", token=u.token)
        shas = [it["sha256"] for it in items]
        for (o, sha), iid in acked.items():
            if o != uid:
                continue
            assert shas.count(sha) == 1, "upload %s of %s stored %d times" % (
                sha, u.username, shas.count(sha))
            assert [it["id"] for it in items if it["sha256"] == sha] == [iid], (sha, iid)


# ---------------------------------------------------------------------------------------------
# The tests


def test_uploads_and_reads_spread_and_any_node_serves_any_image():
    nodes, e = topology()
    before = [served(n) for n in nodes]
    # two users on each PostgreSQL server, made on different nodes
    users = [user_on(nodes[i % NODES], i % 2) for i in range(4)]
    # one kind of request after another: round robin would give each kind of an interleaved
    # cycle the same node every time
    images = [(u, e.upload_ok(u, data), data) for u in users
              for data in (lib.unique_png(36, 28) for _ in range(3))]
    for u, img, data in images:
        r = e.request("GET", "/i/" + img["id"], token=u.token)
        assert r.status == 200 and r.body == data, r
    for u, img, data in images:
        r = e.request("GET", "/api/v1/images/" + img["id"], token=u.token)
        assert r.status == 200 and r.json()["sha256"] == img["sha256"], r
    spread = [tuple(a - b for a, b in zip(served(n), was)) for n, was in zip(nodes, before)]
    assert all(all(c > 0 for c in s) for s in spread), (
        "not every node served uploads, bytes and records: %r" % spread)
    assert [sum(s[k] for s in spread) for k in range(3)] == [len(images)] * 3, spread
    # stateless: whatever any node stored, every node serves
    for n in nodes:
        for u, img, data in images:
            r = n.request("GET", "/i/" + img["id"], token=u.token)
            assert r.status == 200 and r.body == data, (n.port, r)
            r = n.request("GET", "/i/%s?w=64&fmt=png" % img["id"], token=u.token)
            assert r.status == 200 and r.headers["content-type"] == "image/png", (n.port, r)
        for u in users:
            ids = sorted(i["id"] for i in n.list_all("/api/v1/images", token=u.token))
            assert ids == sorted(img["id"] for v, img, _ in images if v is u), (n.port, ids)


class BlackHole:
    """An upstream that reads a whole request and closes without answering: a node that died
    after a request reached it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                buf = b""
                try:
                    while b"\r\n\r\n" not in buf:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    head, _, body = buf.partition(b"\r\n\r\n")
                    length = 0
                    for ln in head.split(b"\r\n")[1:]:
                        k, _, v = ln.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    while len(body) < length:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                except OSError:
                    continue
                self.seen.append(head.split(b"\r\n")[0].decode())

    def close(self):
        self.sock.close()


def test_edge_replays_uploads_and_logins_only():
    nodes, _ = topology()
    hole = BlackHole()
    # the hole is never taken out (max_fails=0), so round robin sends it every other request
    lines = ["server 127.0.0.1:%d max_fails=0;" % hole.port, NODE_LINE % nodes[0].port]
    e = Edge([nodes[0]], servers=lines)
    try:
        e.start()
        u = user(nodes[1])
        hole_addr = "127.0.0.1:%d" % hole.port

        def through_hole(rid):
            return logged(e, rid)

        # uploads and log-ins: every one succeeds, some after the hole swallowed them
        replayed = {"upload": 0, "login": 0}
        for i in range(4):
            rid = "ha-up-%d-%s" % (i, lib.rand_name("r"))
            data = lib.unique_png(20, 20)
            r = e.request("POST", "/api/v1/images", body=data, token=u.token,
                          headers={"Content-Type": "image/png", "X-Request-Id": rid})
            assert r.status == 201 and r.json()["sha256"] == lib.sha256(data), r
            ln = through_hole(rid)
            replayed["upload"] += ln["upstream"].startswith(hole_addr + ", ")
            # the same bytes again (what a replay after the first node's commit meets): the
            # record it made, 200, not a second image
            again = e.request("POST", "/api/v1/images", body=data, token=u.token,
                              headers={"Content-Type": "image/png"})
            assert again.status == 200 and again.json()["id"] == r.json()["id"], again
            rid = "ha-in-%d-%s" % (i, lib.rand_name("r"))
            r = e.login(u.username, headers={"X-Request-Id": rid})
            assert r.status == 201 and r.json()["token"], r
            replayed["login"] += through_hole(rid)["upstream"].startswith(hole_addr + ", ")
        assert all(replayed.values()), "the hole never met these: %r" % replayed
        shas = [i["sha256"] for i in nodes[2].list_all("/api/v1/images", token=u.token)]
        assert len(shas) == 4 == len(set(shas)), shas

        # sign-up and album creation are never replayed once sent: 502 when the hole had them
        # (one kind at a time: round robin alternates the hole and the node)
        lost = {"signup": 0, "album": 0}
        for i in range(4):
            name = lib.rand_name("ha")
            rid = "ha-su-%d-%s" % (i, lib.rand_name("r"))
            r = e.json("POST", "/api/v1/users", {"username": name, "password": lib.PASSWORD},
                       headers={"X-Request-Id": rid})
            if through_hole(rid)["upstream"] == hole_addr:
                check_error(r, 502, "unavailable")
                check_error(nodes[1].login(name), 401)  # the account was not made elsewhere
                lost["signup"] += 1
            else:
                assert r.status == 201, r
        for i in range(4):
            rid = "ha-al-%d-%s" % (i, lib.rand_name("r"))
            r = e.json("POST", "/api/v1/albums", {"title": "t%d" % i}, token=u.token,
                       headers={"X-Request-Id": rid})
            if through_hole(rid)["upstream"] == hole_addr:
                check_error(r, 502, "unavailable")
                lost["album"] += 1
            else:
                assert r.status == 201, r
        assert all(lost.values()), "the hole never met these: %r" % lost
        assert all(not ln["upstream"].startswith(hole_addr + ", ") for ln in e.edge_log()
                   if ln["path"] in ("/api/v1/users", "/api/v1/albums")), "a POST was replayed"
        albums = nodes[2].list_all("/api/v1/albums", token=u.token)
        assert len(albums) == 4 - lost["album"], albums
        assert len(hole.seen) == sum(1 for ln in e.edge_log()
                                     if ln["upstream"].startswith(hole_addr)), hole.seen
    finally:
        e.stop()
        hole.close()


def test_redis_stopped_under_load_fails_nothing_and_is_used_again():
    nodes, e = topology()
    users, images = seed(e, nodes)
    redis = os.path.join(_fx["root"], "r")
    assert all(lib.metric_sum(n.metrics(), "kho_redis_up") == 1 for n in nodes)
    with Load(e, users, images, tag=2) as load:
        time.sleep(0.8)
        svc("redis.sh", "stop", redis)
        time.sleep(1.5)
        # every node met the outage (an authenticated request looks its session up in Redis)
        for n in nodes:
            assert n.request("GET", "/api/v1/me", token=users[0].token).status == 200
        down = [lib.metric_sum(n.metrics(), "kho_redis_up") for n in nodes]
        svc("redis.sh", "start", redis)

        def all_up():
            for n in nodes:
                n.request("GET", "/api/v1/me", token=users[0].token)
            return all(lib.metric_sum(n.metrics(), "kho_redis_up") == 1 for n in nodes)

        lib.wait_for(all_up, "kho_redis_up back to 1 on every node", timeout=15)
        time.sleep(0.5)
    assert down == [0] * NODES, "a node did not notice Redis stop: %r" % down
    assert not load.failures(), "%d of %d failed: %r" % (len(load.failures()), len(load.results),
                                                          load.failures()[:10])
    assert len(load.results) > 100, len(load.results)
    check_uploads_kept(nodes, load)


def test_one_postgresql_shard_down_fails_only_its_users():
    nodes, e = topology()
    a, b = user_on(nodes[0], 0), user_on(nodes[1], 1)
    img_a = e.upload_ok(a, lib.unique_png())
    img_b = e.upload_ok(b, lib.unique_png())
    shard_b = os.path.join(_fx["root"], "b")
    disabled = disabled_lines(e)
    png = {"Content-Type": "image/png"}
    b_ids, a_ids = [], []

    def tagged(ids, method, path, u, body=None, headers=None):
        ids.append(lib.rand_name("ha-pg"))
        return e.request(method, path, body=body, token=u.token,
                         headers=dict(headers or {}, **{"X-Request-Id": ids[-1]}))

    svc("pg.sh", "stop", shard_b)
    try:
        for _ in range(2 * NODES):
            check_error(tagged(b_ids, "GET", "/api/v1/images?limit=20", b), 503, "unavailable")
            check_error(tagged(b_ids, "POST", "/api/v1/images", b, lib.unique_png(), png), 503,
                        "unavailable")
        for _ in range(2 * NODES):
            r = tagged(a_ids, "GET", "/api/v1/images/" + img_a["id"], a)
            assert r.status == 200, r
            r = tagged(a_ids, "GET", "/i/" + img_a["id"], a)
            assert r.status == 200, r
            r = tagged(a_ids, "POST", "/api/v1/images", a, lib.unique_png(), png)
            assert r.status == 201, r
    finally:
        svc("pg.sh", "start", shard_b)  # same port as before
    fails = [logged(e, rid) for rid in b_ids]
    # each 503 came from one node and was passed on as it was: no retry, no node marked down
    assert all(ln["status"] == 503 and node_of(e, ln["upstream"]) is not None for ln in fails), (
        fails[:3])
    assert {node_of(e, ln["upstream"]) for ln in fails} == set(range(NODES)), fails
    assert {node_of(e, logged(e, rid)["upstream"]) for rid in a_ids} == set(range(NODES)), (
        "the other shard's users were not served by every node meanwhile")
    assert disabled_lines(e) == disabled, "nginx took a node out over kho's 503s"

    def b_back():
        return e.request("GET", "/api/v1/images/" + img_b["id"], token=b.token).status == 200

    lib.wait_for(b_back, "the stopped shard's user served again", timeout=15)
    items = e.list_all("/api/v1/images", token=b.token)
    assert [i["id"] for i in items] == [img_b["id"]], items
    e.upload_ok(b, lib.unique_png())
    for n in nodes:
        assert n.request("GET", "/readyz").status == 200


def test_radosgw_restart_and_uploads_resume():
    nodes, e = topology()
    u = user(nodes[0])
    data = lib.unique_png()
    img = e.upload_ok(u, data)
    rgw = os.path.join(_fx["root"], "s3")
    disabled = disabled_lines(e)
    svc("rgw.sh", "stop", rgw, "gw")
    try:
        for _ in range(NODES):
            check_error(e.upload(u, lib.unique_png()), 503, "unavailable")
    finally:
        svc("rgw.sh", "start", rgw)
    assert disabled_lines(e) == disabled, "nginx took a node out over kho's 503s"

    ok = []

    def uploads_again():
        r = e.upload(u, lib.unique_png())
        ok.append(r.status)
        return r.status == 201

    lib.wait_for(uploads_again, "uploads through the edge after radosgw restarted", timeout=20)
    for _ in range(NODES):
        e.upload_ok(u, lib.unique_png())
    for n in nodes:
        r = n.request("GET", "/i/" + img["id"], token=u.token)
        assert r.status == 200 and r.body == data, (n.port, r)
    r = e.request("GET", "/i/%s?w=64&fmt=png" % img["id"], token=u.token)
    assert r.status == 200, r


def test_kill9_of_a_node_under_mixed_load_fails_nothing_and_loses_no_upload():
    nodes, e = topology()
    try:
        users, images = seed(e, nodes)
        victim = nodes[1]
        dead = "127.0.0.1:%d" % victim.port
        since = len(e.edge_log())
        with Load(e, users, images, tag=3) as load:
            time.sleep(1.2)
            victim.kill()
            time.sleep(2.5)
        assert not load.failures(), "%d of %d failed: %r" % (
            len(load.failures()), len(load.results), load.failures()[:10])
        assert len(load.results) > 150, len(load.results)
        kinds = {(m, p.split("?")[0].rsplit("/", 1)[0]) for m, p, _ in load.results}
        assert {("POST", "/api/v1"), ("GET", "/i"), ("GET", "/api/v1")} <= kinds, kinds
        time.sleep(0.2)  # nginx logs a request just after answering it
        log = e.edge_log()[since:]
        assert any(ln["upstream"] == dead for ln in log), "the victim served nothing"
        retried = [ln for ln in log if ln["upstream"].startswith(dead + ", ")]
        assert retried and all(ln["status"] in (200, 201) for ln in retried), retried[:5]
        check_uploads_kept(nodes, load)
    finally:
        teardown()
