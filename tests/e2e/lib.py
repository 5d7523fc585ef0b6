"""End-to-end harness for kho: starts the real server, talks HTTP to it, makes test images.

Standard library only. Tests import this module as `lib`; run.py drives them.
"""

import contextlib
import hashlib
import http.client
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import string
import struct
import subprocess
import tempfile
import time
import urllib.parse
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KHO_BIN") or os.path.join(REPO, "build", "kho")
EXTRA_ARGS = shlex.split(os.environ.get("KHO_E2E_ARGS", ""))
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PASSWORD = "correct horse battery"

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
ID_RE = re.compile(r"^[0-9]+$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")

_root = None


def root_dir():
    """The per-run scratch directory (data dirs, logs, cached images)."""
    global _root
    if _root is None:
        _root = tempfile.mkdtemp(prefix="kho-e2e-")
    return _root


def cleanup_root():
    global _root
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None


def extra_flag(name):
    """The value of --NAME given in KHO_E2E_ARGS (the whole run's servers), or None."""
    for i, a in enumerate(EXTRA_ARGS):
        if a == "--" + name and i + 1 < len(EXTRA_ARGS):
            return EXTRA_ARGS[i + 1]
        if a.startswith("--%s=" % name):
            return a[len(name) + 3:]
    return None


def blob_flag():
    """The --blob URL given in KHO_E2E_ARGS, or None for the default (volumes under --data)."""
    return extra_flag("blob")


PG_SH = os.path.join(REPO, "tests", "svc", "pg.sh")
SHARDS = 4096  # logical shards (src/core/ids.h IDS_LOGICAL_SHARDS)


def pg(cmd, state):
    """tests/svc/pg.sh CMD STATE; its output (the server's URL, for start)."""
    r = subprocess.run([PG_SH, cmd, state], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("pg.sh %s: %s" % (cmd, r.stderr.decode()[-500:]))
    return r.stdout.decode().strip()


def shard_of(uid):
    """The logical shard an id carries (41 bits of ms | 13 of shard | 10 of sequence)."""
    return ((int(uid) >> 10) & 8191) % SHARDS


def server_of_id(uid, servers=2):
    """The server the default shard map (equal ranges) puts an id's rows on."""
    return shard_of(uid) * servers // SHARDS


@contextlib.contextmanager
def own_pg_servers(prefix, n=2):
    """n throw-away PostgreSQL servers for a test that needs its own: yields (state dirs, URLs),
    and stops them by PID and removes them on the way out. Skips when KHO_E2E_ARGS names a --db
    (the run's servers would replace them) or PostgreSQL is not installed."""
    if db_flag() is not None:
        raise Skip("starts its own PostgreSQL servers; KHO_E2E_ARGS names a --db")
    if subprocess.run(["sh", "-c", "command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl"],
                      capture_output=True).returncode != 0:
        raise Skip("PostgreSQL is not installed (scripts/deps.sh test installs it)")
    root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: see tests/svc/README.md
    os.chmod(root, 0o755)
    states = [os.path.join(root, chr(ord("a") + i)) for i in range(n)]
    try:
        yield states, [pg("start", st) for st in states]
    finally:
        for st in states:
            subprocess.run([PG_SH, "stop", st], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def requires_sqlite(why):
    """Skip the calling test unless the metadata store is the default SQLite file."""
    db = db_flag()
    if db is not None and not db.startswith("sqlite:"):
        raise Skip("needs the SQLite metadata store: " + why)


def volume_dir(data):
    """Where a server on data keeps its local volumes; None when the blob store is not local."""
    blob = blob_flag()
    if blob is None:
        return os.path.join(data, "volumes")
    return blob[len("volume:"):] if blob.startswith("volume:") else None


def fsck(data, *extra):
    """Run `kho fsck` on a stopped server's store; returns (exit status, output)."""
    cmd = [BIN, "fsck", "--data", data] + (["--blob", blob_flag()] if blob_flag() else [])
    r = subprocess.run(cmd + list(extra), capture_output=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def free_port():
    """A loopback port free now, below Linux's ephemeral range (32768-60999), so the outgoing
    connections of the servers a test runs (to PostgreSQL, RGW, Redis...) cannot take it before
    the server that is given it binds it."""
    for _ in range(100):
        port = random.randrange(20000, 32768)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise ServerError("no free port between 20000 and 32767")


def rand_name(prefix="u"):
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "_" + "".join(random.choice(alphabet) for _ in range(10))


# ---------------------------------------------------------------------------------------------
# Responses


class Headers(dict):
    """Lower-case header names to values; repeated headers are joined with ', ' except that
    every value stays available through all()."""

    def __init__(self, pairs):
        super().__init__()
        self._all = {}
        for k, v in pairs:
            k = k.lower()
            self._all.setdefault(k, []).append(v)
            self[k] = v if k not in self else self[k] + ", " + v

    def all(self, name):
        return list(self._all.get(name.lower(), []))


class Resp:
    """status, headers (Headers), body (bytes); unpacks as a 3-tuple."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r %r>" % (self.status, dict(self.headers), self.body[:300])


def parse_set_cookies(headers):
    """Set-Cookie headers -> {name: (value, {attr_lower: value_or_True})}."""
    out = {}
    for line in headers.all("set-cookie"):
        parts = [p.strip() for p in line.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {}
        for p in parts[1:]:
            if not p:
                continue
            k, eq, v = p.partition("=")
            attrs[k.strip().lower()] = v.strip() if eq else True
        out[name.strip()] = (value.strip(), attrs)
    return out


def check_error(resp, status, code=None):
    """Assert resp is a JSON error with this status and (one of) code; returns the error object."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json"), "error content-type %r in %r" % (ctype, resp)
    try:
        doc = json.loads(resp.body)
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % resp.body[:300])
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), "bad error shape %r" % doc
    err = doc["error"]
    assert isinstance(err.get("code"), str) and re.match(r"^[a-z][a-z0-9_]*$", err["code"]), doc
    assert isinstance(err.get("message"), str) and err["message"], "empty message in %r" % doc
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert err["code"] in codes, "expected code %s, got %r (status %d)" % (
            "|".join(codes), err, resp.status)
    return err


def check_user(u, username=None):
    assert isinstance(u, dict), u
    assert isinstance(u.get("id"), str) and ID_RE.match(u["id"]), "user id %r" % u
    assert isinstance(u.get("created_at"), str) and ISO_RE.match(u["created_at"]), u
    if username is not None:
        assert u.get("username") == username, u
    for leak in ("password", "password_hash", "hash"):
        assert leak not in u, "user leaks %r: %r" % (leak, u)


def check_image(img, data=None, owner=None, fmt=None, size=None):
    """Validate an image object's shape; with data, its bytes/sha256; size = (w, h)."""
    assert isinstance(img, dict), img
    for key in ("id", "owner", "title", "tags", "visibility", "format", "width", "height",
                "bytes", "sha256", "created_at", "url"):
        assert key in img, "image lacks %r: %r" % (key, img)
    assert isinstance(img["id"], str) and ID_RE.match(img["id"]), img
    assert isinstance(img["owner"], dict) and ID_RE.match(str(img["owner"].get("id"))), img
    assert isinstance(img["owner"]["id"], str), img
    assert isinstance(img["owner"].get("username"), str), img
    assert img["title"] is None or isinstance(img["title"], str), img
    assert isinstance(img["tags"], list) and all(isinstance(t, str) for t in img["tags"]), img
    assert img["visibility"] in ("private", "unlisted", "public"), img
    assert img["format"] in ("jpeg", "png", "webp", "gif", "tiff", "heif", "avif"), img
    assert isinstance(img["width"], int) and isinstance(img["height"], int), img
    assert isinstance(img["bytes"], int), img
    assert SHA_RE.match(img["sha256"]), img
    assert ISO_RE.match(img["created_at"]), img
    assert img["url"] == "/i/" + img["id"], img
    if data is not None:
        assert img["bytes"] == len(data), "bytes %d != %d" % (img["bytes"], len(data))
        assert img["sha256"] == sha256(data), "sha256 mismatch %r" % img
    if owner is not None:
        assert img["owner"]["id"] == owner.id and img["owner"]["username"] == owner.username, (
            "owner %r, expected %s/%s" % (img["owner"], owner.id, owner.username))
    if fmt is not None:
        assert img["format"] == fmt, "format %r, expected %r" % (img["format"], fmt)
    if size is not None:
        assert (img["width"], img["height"]) == tuple(size), "size %dx%d, expected %dx%d" % (
            img["width"], img["height"], size[0], size[1])


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Server process

_cache = {}      # extra args tuple -> shared Server, cleared between modules by stop_all()
_touched = []    # servers started since the runner last called take_touched()


class ServerError(Exception):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here (say, an engine is not installed): run.py counts it
    as skipped, not passed, and prints the reason."""


class Server:
    """One kho process on 127.0.0.1:<free port> with its own data dir and log file."""

    # the client's address (another 127.x.y.z) for tests of per-address limits, which a Redis
    # shared by every server of a run would otherwise pool across tests
    source = None

    def __init__(self, args=(), data=None, threads=2, workers=8, env=None):
        self.args = list(args)
        self.env = env  # extra environment variables for the process
        self.threads = threads
        self.workers = workers
        self.data = data or tempfile.mkdtemp(prefix="data-", dir=root_dir())
        self.log_path = os.path.join(root_dir(), "server-%s.log" % os.path.basename(self.data))
        self.proc = None
        self.port = None
        self.returncode = None

    # lifecycle -----------------------------------------------------------------------------

    def command(self):
        return [BIN, "server", "--listen", "127.0.0.1:%d" % self.port, "--data", self.data,
                "--threads", str(self.threads), "--workers", str(self.workers)] + self.args + \
            EXTRA_ARGS

    def start(self):
        """Start (or restart on the same data dir, on a new port) and wait for /healthz 200."""
        assert self.proc is None, "server already running"
        if not os.path.exists(BIN):
            raise ServerError("server binary %s does not exist (set KHO_BIN)" % BIN)
        last = None
        for _ in range(3):
            self.port = free_port()
            log = open(self.log_path, "ab")
            log.write(("\n=== start %s\n" % " ".join(self.command())).encode())
            log.flush()
            env = dict(os.environ, **self.env) if self.env else None
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env)
            log.close()
            self.returncode = None
            if self not in _touched:
                _touched.append(self)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    self.proc = None
                    self.returncode = rc
                    last = ServerError("server exited with %d during start-up:\n%s" % (
                        rc, self.log_tail()))
                    break
                try:
                    if self.request("GET", "/healthz", timeout=2).status == 200:
                        return self
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
            else:
                self.kill()
                raise ServerError("/healthz not 200 within %.0f s:\n%s" % (
                    START_TIMEOUT, self.log_tail()))
        raise last

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code (None if killed)."""
        if self.proc is None:
            return self.returncode
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.returncode = None
        return self.returncode

    def kill(self):
        """SIGKILL now (crash simulation)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        self.returncode = proc.wait()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # HTTP ------------------------------------------------------------------------------------

    def conn(self, timeout=30):
        src = {"source_address": (self.source, 0)} if self.source else {}
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, **src)

    def request(self, method, path, body=None, headers=None, token=None, cookie=None,
                timeout=30, conn=None):
        """One request on a fresh connection (or on conn, kept open). cookie: str or dict."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if cookie is not None:
            if isinstance(cookie, dict):
                cookie = "; ".join("%s=%s" % kv for kv in cookie.items())
            hdrs["Cookie"] = cookie
        own = conn is None
        c = self.conn(timeout) if own else conn
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Resp(r.status, Headers(r.getheaders()), data)
        finally:
            if own:
                c.close()

    def json(self, method, path, obj=None, headers=None, **kw):
        """Send obj as JSON (if not None); returns Resp."""
        hdrs = dict(headers or {})
        body = None
        if obj is not None:
            body = json.dumps(obj).encode()
            hdrs.setdefault("Content-Type", "application/json")
        return self.request(method, path, body=body, headers=hdrs, **kw)

    def raw(self, data, timeout=5.0):
        """Send raw bytes on a new socket and return the first response that comes back (None
        when the server closed without answering)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return read_response(s, timeout)
        finally:
            s.close()

    def healthy(self):
        try:
            return self.request("GET", "/healthz", timeout=5).status == 200
        except OSError:
            return False

    # API helpers -----------------------------------------------------------------------------

    def register(self, username, password=PASSWORD):
        return self.json("POST", "/api/v1/users", {"username": username, "password": password})

    def login(self, username, password=PASSWORD, headers=None):
        return self.json("POST", "/api/v1/sessions", {"username": username, "password": password},
                         headers=headers)

    def new_user(self, prefix="u", password=PASSWORD):
        """Register and log in a fresh random user; returns a User."""
        name = rand_name(prefix)
        r = self.register(name, password)
        assert r.status == 201, "register %s: %r" % (name, r)
        uid = r.json()["id"]
        r = self.login(name, password)
        assert r.status == 201, "login %s: %r" % (name, r)
        doc = r.json()
        return User(name, password, uid, doc["token"], doc["csrf_token"],
                    parse_set_cookies(r.headers))

    def upload(self, user, data, ctype="image/png", query=None, token=True):
        """Raw-body upload; user may be None (anonymous). query: dict of title/tags/visibility."""
        path = "/api/v1/images"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.request("POST", path, body=data, headers={"Content-Type": ctype},
                            token=user.token if (user is not None and token) else None)

    def upload_ok(self, user, data, ctype="image/png", query=None):
        r = self.upload(user, data, ctype, query)
        assert r.status == 201, "upload: %r" % r
        img = r.json()
        check_image(img, data, owner=user)
        return img

    def list_all(self, path, token=None, limit=200):
        """Follow next_cursor through a listing; returns all items."""
        items = []
        cursor = None
        for _ in range(10000):
            q = {"limit": str(limit)}
            if cursor is not None:
                q["cursor"] = cursor
            sep = "&" if "?" in path else "?"
            r = self.request("GET", path + sep + urllib.parse.urlencode(q), token=token)
            assert r.status == 200, "list %s: %r" % (path, r)
            doc = r.json()
            items.extend(doc["items"])
            cursor = doc["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("listing %s never ended" % path)

    def metrics(self):
        """GET /metrics parsed into a list of (name, {label: value}, float)."""
        r = self.request("GET", "/metrics")
        assert r.status == 200, r
        return parse_metrics(r.body.decode())


_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_metrics(text):
    """Prometheus text exposition -> [(name, labels, value)]; raises on a malformed line."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, "bad exposition line %r" % line
        labels, rest = {}, m.group(2) or ""
        while rest:
            lm = _LABEL_RE.match(rest)
            assert lm, "bad labels in %r" % line
            labels[lm.group(1)] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1),
                                                                         e.group(1)), lm.group(2))
            rest = rest[lm.end():]
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def wait_for(cond, what, timeout=30.0):
    """Poll cond() until it is true; fail naming what was awaited after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.02)


def metric_sum(samples, name, **labels):
    """Sum of the samples of one metric whose labels include the given ones."""
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == str(want) for k, want in labels.items()))


class User:
    """A registered, logged-in account: token for Bearer auth, csrf and cookies for cookie auth."""

    def __init__(self, username, password, uid, token, csrf, cookies):
        self.username = username
        self.password = password
        self.id = uid
        self.token = token
        self.csrf = csrf
        self.cookies = cookies

    def cookie_header(self):
        return "; ".join("%s=%s" % (k, v[0]) for k, v in self.cookies.items())


def server(*args):
    """The server shared by the current module for these extra args (started on first use)."""
    key = tuple(args)
    s = _cache.get(key)
    if s is None or not s.alive():
        s = Server(args)
        s.start()
        _cache[key] = s
    return s


def stop_all():
    """Stop the shared servers; returns {server: exit code} for those that were running."""
    codes = {}
    for s in list(_cache.values()):
        if s.alive():
            codes[s] = s.stop()
    _cache.clear()
    return codes


def take_touched():
    out = list(_touched)
    _touched.clear()
    return out


def shared_servers():
    return list(_cache.values())


# ---------------------------------------------------------------------------------------------
# Raw HTTP


def read_response(sock, timeout=5.0):
    """Read one HTTP response from sock (interim 1xx responses are returned as they come); a
    body without Content-Length is read until close. Returns Resp, or None when the peer closed
    without answering."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise socket.timeout("no response head within %.1f s" % timeout)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            if not buf:
                return None
            raise AssertionError("connection closed inside a response head: %r" % buf[:300])
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0]
    status = int(parts[1])
    hdrs = Headers(tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln)
    if 100 <= status < 200 or status in (204, 304):
        return Resp(status, hdrs, b"")
    if "content-length" not in hdrs:
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            rest += chunk
        return Resp(status, hdrs, rest)
    n = int(hdrs["content-length"])
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Resp(status, hdrs, rest[:n])


def readable(sock, timeout=0.0):
    return bool(select.select([sock], [], [], timeout)[0])


# ---------------------------------------------------------------------------------------------
# Multipart


def multipart(parts, boundary=None):
    """parts: list of (name, value_bytes_or_str, filename_or_None, content_type_or_None).
    Returns (body, content_type_header)."""
    boundary = boundary or "----kho-e2e-%016x" % random.getrandbits(64)
    out = []
    for name, value, filename, ctype in parts:
        if isinstance(value, str):
            value = value.encode()
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out.append(b"--" + boundary.encode() + b"\r\n")
        out.append(b"Content-Disposition: " + disp.encode() + b"\r\n")
        if ctype:
            out.append(b"Content-Type: " + ctype.encode() + b"\r\n")
        out.append(b"\r\n" + value + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out), "multipart/form-data; boundary=" + boundary


# ---------------------------------------------------------------------------------------------
# Images


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I",
                                                                      zlib.crc32(kind + data))


def png(width, height, alpha=False, seed=0, noise=False):
    """A valid 8-bit RGB/RGBA PNG. noise=True gives incompressible pixels (size ~ w*h*channels),
    otherwise a seed-dependent gradient."""
    ch = 4 if alpha else 3
    if noise:
        px = random.Random(seed).randbytes(width * height * ch)
    else:
        row = bytes((x * 7 + seed * 31 + c * 85) & 0xFF for x in range(width) for c in range(ch))
        px = b"".join(bytes((b + y * 3) & 0xFF for b in row) for y in range(height))
    stride = width * ch
    raw = b"".join(b"\x00" + px[y * stride:(y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) +
            _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))


def bomb_png(width=50000, height=50000):
    """A ~100-byte PNG whose header declares width x height RGB: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * 64) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) +
            _chunk(b"IEND", b""))


def bmp(width=8, height=8):
    """A valid 24-bit BMP (not an accepted upload format)."""
    stride = (width * 3 + 3) & ~3
    pixels = b"".join(bytes((x * 30) & 0xFF for x in range(width * 3)).ljust(stride, b"\0")
                      for _ in range(height))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    head = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return head + info + pixels


def svg():
    return (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><rect width="10" height="10" fill="red"/></svg>\n')


def convert(png_bytes, ext, opts=""):
    """Convert PNG bytes with the vips CLI (`vips copy in.png out.EXT[OPTS]`); cached per run."""
    key = sha256(png_bytes + ext.encode() + opts.encode())[:24]
    cache = os.path.join(root_dir(), "images")
    os.makedirs(cache, exist_ok=True)
    out = os.path.join(cache, "%s.%s" % (key, ext))
    if not os.path.exists(out):
        src = os.path.join(cache, key + ".src.png")
        with open(src, "wb") as f:
            f.write(png_bytes)
        tmp = os.path.join(cache, "%s.tmp.%s" % (key, ext))
        target = tmp + ("[%s]" % opts if opts else "")
        r = subprocess.run(["vips", "copy", src, target], capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("vips copy to %s failed: %s" % (ext, r.stderr.decode()))
        os.replace(tmp, out)
        os.unlink(src)
    with open(out, "rb") as f:
        return f.read()


def jpeg(width=64, height=48, seed=0, q=85):
    return convert(png(width, height, seed=seed), "jpg", "Q=%d" % q)


def webp(width=64, height=48, seed=0):
    return convert(png(width, height, seed=seed), "webp")


def gif(width=64, height=48, seed=0):
    return convert(png(width, height, alpha=True, seed=seed), "gif")


def tiff(width=16, height=16, seed=0):
    return convert(png(width, height, seed=seed), "tif")


def unique_png(width=32, height=32):
    """A PNG whose bytes are new on every call (random seed): defeats dedup between tests."""
    return png(width, height, seed=random.getrandbits(31), noise=True)


def png_pixels(width, height, px, alpha=False):
    """A PNG of exactly these pixels: px is row-major RGB (or RGBA with alpha) bytes."""
    ch = 4 if alpha else 3
    stride = width * ch
    assert len(px) == stride * height, "png_pixels: %d bytes for %dx%dx%d" % (
        len(px), width, height, ch)
    raw = b"".join(b"\x00" + px[y * stride:(y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) +
            _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------------
# Metadata store


def db_flag():
    """The --db URL given in KHO_E2E_ARGS, or None for the default (sqlite under --data)."""
    return extra_flag("db")


def sqlite_path(data):
    """The SQLite file of a server on data; None when its metadata store is not SQLite."""
    db = db_flag()
    if db is None:
        return os.path.join(data, "kho.db")
    return db[len("sqlite:"):] if db.startswith("sqlite:") else None


def store_args(data):
    """The flags that point an offline command (kho quota) at a server's metadata store."""
    return ["--data", data] + (["--db", db_flag()] if db_flag() else [])
