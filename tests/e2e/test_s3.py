"""The S3 blob store (issue #5) against a real single-node Ceph RGW from tests/svc/rgw.sh:
uploads (single PUT and multipart), originals read whole or streamed (full, Range, HEAD, 304),
variants, deletes, a 503 while radosgw is down and recovery without restarting kho, and no fd leak across
aborted streams. Skipped when the Ceph packages are not installed (scripts/deps.sh scale)."""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import lib
from lib import check_error

SVC = os.path.join(lib.REPO, "tests", "svc")
_fx = {}


def svc(cmd, *args, check=True):
    r = subprocess.run([os.path.join(SVC, "rgw.sh"), cmd, _fx["state"], *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    if check and r.returncode:
        raise RuntimeError("rgw.sh %s: %s" % (cmd, r.stderr.strip()))
    return r


def teardown():
    if "server" in _fx:
        _fx.pop("server").stop()
    if "state" in _fx:
        svc("stop", check=False)
        shutil.rmtree(_fx.pop("root"), ignore_errors=True)
        _fx.pop("state")


def setup():
    """RGW in a short temp dir (Ceph's admin sockets need short paths) and one kho on it."""
    if _fx.get("server") is not None and _fx["server"].alive():
        return _fx["server"], _fx["user"]
    if lib.blob_flag() is not None:
        raise lib.Skip("starts its own RGW; KHO_E2E_ARGS names a --blob")
    missing = [b for b in ("ceph-mon", "ceph-osd", "radosgw") if not shutil.which(b)]
    if missing:
        raise lib.Skip("Ceph is not installed (%s missing; scripts/deps.sh scale installs it)" %
                       ", ".join(missing))
    if "state" not in _fx:
        root = tempfile.mkdtemp(prefix="kho-s3-", dir="/tmp")
        os.chmod(root, 0o755)
        _fx.update(root=root, state=os.path.join(root, "rgw"))
        atexit.register(teardown)
        _fx["url"] = svc("start").stdout.strip()
        env = open(os.path.join(_fx["state"], "s3.env")).read().split()
        _fx["env"] = dict(line.split("=", 1) for line in env)
    keys = {k: _fx["env"][k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    s = lib.Server(["--blob", _fx["url"]], env=keys)
    s.start()
    _fx["server"] = s
    _fx["user"] = s.new_user("s3")
    return s, _fx["user"]


def bucket_names():
    """Object names in the bucket, straight from RGW."""
    body = svc("s3", "GET", "/kho?list-type=2&max-keys=1000").stdout
    return [part.split("</Key>")[0] for part in body.split("<Key>")[1:]]


def test_upload_and_serve_original():
    s, u = setup()
    data = lib.png(100, 80, seed=51, noise=True)
    img = s.upload_ok(u, data)
    names = bucket_names()
    name = "%016x" % int(img["id"])
    assert name in names, "object %s not in the bucket: %r" % (name, names)
    r = s.request("GET", img["url"], token=u.token)
    assert r.status == 200 and r.body == data, r
    assert r.headers.get("content-length") == str(len(data)), r.headers
    etag = r.headers["etag"]
    r = s.request("GET", img["url"], token=u.token, headers={"Range": "bytes=10-4009"})
    assert r.status == 206 and r.body == data[10:4010], r
    assert r.headers.get("content-range") == "bytes 10-4009/%d" % len(data), r.headers
    r = s.request("GET", img["url"], token=u.token, headers={"Range": "bytes=-100"})
    assert r.status == 206 and r.body == data[-100:], r
    r = s.request("GET", img["url"], token=u.token, headers={"Range": "bytes=%d-" % len(data)})
    check_error(r, 416, "range_not_satisfiable")
    r = s.request("HEAD", img["url"], token=u.token)
    assert r.status == 200 and r.body == b"", r
    assert r.headers.get("content-length") == str(len(data)), r.headers
    r = s.request("GET", img["url"], token=u.token, headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"", r
    # keep-alive: several streamed bodies on one connection
    c = s.conn()
    try:
        for _ in range(5):
            r = s.request("GET", img["url"], token=u.token, conn=c)
            assert r.status == 200 and r.body == data, r
    finally:
        c.close()


def test_multipart_upload_of_a_large_image():
    s, u = setup()
    data = lib.png(1800, 1700, seed=52, noise=True)
    assert len(data) > 8 << 20, len(data)
    img = s.upload_ok(u, data)
    r = s.request("GET", img["url"], token=u.token)
    assert r.status == 200 and lib.sha256(r.body) == lib.sha256(data), (r.status, len(r.body))
    a, b = (8 << 20) - 1000, (8 << 20) + 1000  # across the parts' seam
    r = s.request("GET", img["url"], token=u.token, headers={"Range": "bytes=%d-%d" % (a, b)})
    assert r.status == 206 and r.body == data[a:b + 1], r
    _fx["large"] = (img, data)


INLINE_MAX = 256 << 10  # BLOB_SPAN_INLINE_MAX: spans up to it are read whole, longer streamed


def test_spans_read_whole_or_streamed():
    """Each side of the in-memory ceiling gives the right bytes, whole and as ranges, on fresh
    and on kept-alive connections."""
    s, u = setup()
    small = lib.png(260, 260, seed=59, noise=True)  # a whole original under the ceiling
    assert 100000 < len(small) <= INLINE_MAX, len(small)
    big = lib.png(700, 700, seed=60, noise=True)  # streamed whole
    assert 3 * INLINE_MAX < len(big) < 8 << 20, len(big)
    simg, bimg = s.upload_ok(u, small), s.upload_ok(u, big)
    c = s.conn()
    try:
        for _ in range(3):
            for img, data in ((simg, small), (bimg, big)):
                r = s.request("GET", img["url"], token=u.token, conn=c)
                assert r.status == 200 and r.body == data, (r.status, len(r.body))
                assert r.headers.get("content-length") == str(len(data)), r.headers
        for a, n in ((0, INLINE_MAX), (1, INLINE_MAX + 1), (5000, 2 * INLINE_MAX),
                     (len(big) - INLINE_MAX - 7, INLINE_MAX + 7), (len(big) - 10, 10)):
            rng = "bytes=%d-%d" % (a, a + n - 1)
            r = s.request("GET", bimg["url"], token=u.token, headers={"Range": rng}, conn=c)
            assert r.status == 206 and r.body == big[a:a + n], (rng, r.status, len(r.body))
            assert r.headers.get("content-range") == "bytes %d-%d/%d" % (a, a + n - 1, len(big))
        r = s.request("GET", simg["url"], token=u.token, headers={"Range": "bytes=-5000"}, conn=c)
        assert r.status == 206 and r.body == small[-5000:], r
    finally:
        c.close()
    r = s.request("HEAD", bimg["url"], token=u.token)
    assert r.status == 200 and r.body == b"", r
    assert r.headers.get("content-length") == str(len(big)), r.headers


def test_variants_read_and_write_blobs():
    s, u = setup()
    img = s.upload_ok(u, lib.png(300, 200, seed=53))
    before = set(bucket_names())
    r = s.request("GET", img["url"] + "?w=64&fmt=png", token=u.token)
    assert r.status == 200 and r.headers.get("content-type") == "image/png", r
    assert r.body.startswith(b"\x89PNG"), r
    again = s.request("GET", img["url"] + "?w=64&fmt=png", token=u.token)
    assert again.status == 200 and again.body == r.body, again
    assert len(set(bucket_names()) - before) >= 1, "the variant was not stored in the bucket"


def test_delete_removes_objects():
    s, u = setup()
    img = s.upload_ok(u, lib.png(64, 64, seed=54))
    s.request("GET", img["url"] + "?w=32", token=u.token)
    name = "%016x" % int(img["id"])
    assert name in bucket_names()
    r = s.request("DELETE", "/api/v1/images/" + img["id"], token=u.token)
    assert r.status == 204, r
    assert name not in bucket_names()
    r = s.request("GET", img["url"], token=u.token)
    check_error(r, 404, "not_found")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_aborted_streams_leak_nothing():
    s, u = setup()
    img, data = _fx.get("large") or (None, None)
    if img is None:
        data = lib.png(1000, 1000, seed=55, noise=True)
        img = s.upload_ok(u, data)
    pid = s.proc.pid
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" %
           (img["url"], u.token)).encode()
    s.request("GET", img["url"], token=u.token)  # warm the pool's connections
    base = fd_count(pid)
    for _ in range(40):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sock.sendall(req)
        got = 0
        while got < 100000:
            chunk = sock.recv(65536)
            assert chunk, "closed early"
            got += len(chunk)
        sock.close()  # mid-body: kho must drop the stream, its pipe and its thread
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and fd_count(pid) > base + 2:
        time.sleep(0.1)
    assert fd_count(pid) <= base + 2, "fds %d before, %d after" % (base, fd_count(pid))
    r = s.request("GET", img["url"], token=u.token)
    assert r.status == 200 and len(r.body) == len(data), r.status


def test_rgw_down_gives_503_then_recovers():
    s, u = setup()
    kept = s.upload_ok(u, lib.png(90, 70, seed=56, noise=True))
    pid = s.proc.pid
    svc("stop", "gw")
    try:
        for label, call in (
                ("upload", lambda: s.upload(u, lib.png(40, 40, seed=57))),
                ("original", lambda: s.request("GET", kept["url"], token=u.token)),
                ("variant", lambda: s.request("GET", kept["url"] + "?w=320", token=u.token))):
            t0 = time.monotonic()
            r = call()
            took = time.monotonic() - t0
            check_error(r, 503, "unavailable")
            assert "blob store" in r.json()["error"]["message"], (label, r)
            assert took < 8, "%s took %.1f s" % (label, took)
        r = s.request("GET", "/readyz")
        assert r.status == 503, r
        # the recorded length answers HEAD, and the ETag 304, without asking the store
        r = s.request("HEAD", kept["url"], token=u.token)
        assert r.status == 200 and r.headers.get("content-length") == str(kept["bytes"]), r
        r = s.request("GET", kept["url"], token=u.token,
                      headers={"If-None-Match": '"%s"' % kept["sha256"]})
        assert r.status == 304, r
    finally:
        svc("start")
    assert s.proc.pid == pid and s.alive()
    deadline = time.monotonic() + 15
    while True:
        r = s.upload(u, lib.png(40, 40, seed=58))
        if r.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status == 201, r
    r = s.request("GET", kept["url"], token=u.token)
    assert r.status == 200 and lib.sha256(r.body) == kept["sha256"], r


def test_backend_ops_directly():
    """put, stat, read, iterate (over a continuation token), delete and ping through the ops
    table, by the unit test binary pointed at this RGW."""
    setup()
    exe = os.path.join(os.path.dirname(lib.BIN), "tests", "unit", "test_s3")
    if not os.path.exists(exe):
        raise lib.Skip("%s is not built" % exe)
    env = dict(os.environ, KHO_TEST_S3_URL=_fx["url"], **_fx["env"])
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and "live s3 ops checked" in r.stdout, r.stdout + r.stderr


def test_offline_commands_refuse_s3():
    setup()
    for cmd in ("fsck", "compact"):
        r = subprocess.run([lib.BIN, cmd, "--blob", _fx["url"]], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, (cmd, r)
        assert "local volume" in r.stderr, (cmd, r.stderr)


def test_zz_teardown():
    """Stops this module's RGW (the shared-server sweep does not know it)."""
    if "state" not in _fx:
        raise lib.Skip("no RGW was started")
    teardown()
