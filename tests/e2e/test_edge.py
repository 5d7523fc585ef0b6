"""The nginx edge, deploy/nginx/kho.conf itself (rendered by tests/svc/nginx.sh), in front of real
kho nodes: the API through it, request ids, the image cache (public images cached, private ones,
share links and credentialed requests never), its JSON errors (413, 429, 502), TLS with HTTP/2,
and a node killed with SIGKILL under load without a failed request. Skipped without nginx."""

import http.client
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import lib
from lib import check_error

DEPLOY = os.path.join(lib.REPO, "deploy", "nginx")
CONF = os.path.join(DEPLOY, "kho.conf")
NGINX_SH = os.path.join(lib.REPO, "tests", "svc", "nginx.sh")
# An upstream line as kho.conf's head recommends for production.
NODE_LINE = "server 127.0.0.1:%d max_fails=1 fail_timeout=10s;"
HEX_ID_RE = re.compile(r"^[0-9a-f]{32}$")
# Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
PATH = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"

_cert = None


def need_nginx():
    if shutil.which("nginx", path=PATH) is None:
        raise lib.Skip("nginx is not installed (scripts/deps.sh test installs nginx-light)")
    if shutil.which("openssl") is None:
        raise lib.Skip("openssl is not installed (kho.conf's TLS server needs a certificate)")


def cert():
    """A throw-away self-signed certificate for the TLS server: (cert path, key path)."""
    global _cert
    if _cert is None:
        d = tempfile.mkdtemp(prefix="tls-", dir=lib.root_dir())
        crt, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=60)
        _cert = (crt, key)
    return _cert


def make_nodes(n, *extra):
    """n API nodes (not started) for behind the edge. With the embedded defaults each has its own
    --data (SQLite and volumes are single-process), so only one node may hold users and images.
    For shared backends pass them here, e.g. make_nodes(3, "--db", "postgres://...", "--blob",
    "s3://..."), or give them in KHO_E2E_ARGS, which lib.Server adds to every node."""
    return [lib.Server(list(extra)) for _ in range(n)]


class Edge(lib.Server):
    """nginx serving deploy/nginx/kho.conf in front of nodes (lib.Server objects, started); its
    plain port takes lib.Server's HTTP helpers (request, json, new_user, upload_ok...)."""

    def __init__(self, nodes, servers=None):
        # not lib.Server's: no process of kho's, no data directory
        # the state path must stay short (tests/svc/README.md)
        self.state = tempfile.mkdtemp(prefix="edge-", dir=lib.root_dir())
        self.nodes = nodes
        self.servers = servers  # upstream lines to use instead of NODE_LINE for each node
        self.port = self.tls_port = None
        self.proc = None
        self.log_path = os.path.join(self.state, "error.log")

    def svc(self, *args):
        r = subprocess.run([NGINX_SH, args[0], self.state] + [str(a) for a in args[1:]],
                           capture_output=True, text=True, timeout=60, env=self.env)
        if r.returncode:
            raise lib.ServerError("nginx.sh %s: %s" % (args[0], r.stderr.strip()))
        return r.stdout.strip()

    def start(self):
        need_nginx()
        crt, key = cert()
        for attempt in range(3):
            # a port free_port() saw free may be taken before nginx binds it (outgoing
            # connections to the engines pick ephemeral ports too): try new ones
            self.port, self.tls_port = lib.free_port(), lib.free_port()
            self.env = dict(os.environ, PATH=PATH, KHO_TLS_PORT=str(self.tls_port),
                            KHO_TLS_CERT=crt, KHO_TLS_KEY=key,
                            KHO_CACHE_DIR=os.path.join(self.state, "cache"),
                            KHO_LOG_DIR=self.state, KHO_NGINX_DIR=DEPLOY,
                            KHO_API_SERVERS=" ".join(self.servers or
                                                     [NODE_LINE % n.port for n in self.nodes]))
            try:
                self.svc("start", self.port, CONF)
                return self
            except lib.ServerError as e:
                if attempt == 2 or "in use" not in str(e) + self.error_log():
                    raise

    def error_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, timeout=None):
        self.svc("stop")

    def edge_log(self):
        """The edge's access log (kho_edge format), one dict per line."""
        with open(os.path.join(self.state, "kho-edge.log")) as f:
            return [json.loads(ln) for ln in f if ln.strip()]


def node_log(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def hits_on_node(node, path):
    """How many requests for path the node's access log shows."""
    return node_log(node).count('"path":"%s"' % path)


def cache_status(r):
    return r.headers.get("x-cache-status")


def source_request(port, method, path, source, body=None, headers=None):
    """One request to 127.0.0.1:port from the loopback address source (its own rate-limit key)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return lib.Resp(r.status, lib.Headers(r.getheaders()), r.read())
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# One node: the gateway, the cache, the errors


def test_api_and_request_ids_through_the_edge():
    need_nginx()
    node = lib.server()
    with Edge([node]) as e:
        u = e.new_user("edge")
        img = e.upload_ok(u, lib.unique_png(), query={"title": "through nginx"})
        items = e.list_all("/api/v1/images", token=u.token)
        assert [i["id"] for i in items] == [img["id"]], items
        r = e.request("GET", "/api/v1/images/" + img["id"], token=u.token)
        assert r.status == 200 and r.json()["title"] == "through nginx", r

        # a client's id goes through to kho, comes back once, and names the request in both logs
        rid = "edge-" + lib.rand_name("id")
        r = e.request("GET", "/api/v1/me", token=u.token, headers={"X-Request-Id": rid})
        assert r.status == 200, r
        assert r.headers.all("x-request-id") == [rid], r.headers
        assert '"id":"%s"' % rid in node_log(node), "kho did not log the client's request id"
        assert any(ln["id"] == rid and ln["upstream_status"] == "200" for ln in e.edge_log())

        # without one (or with one kho would refuse), nginx's id is kho's too
        for hdrs in ({}, {"X-Request-Id": "bad id with spaces"}, {"X-Request-Id": "x" * 65}):
            r = e.request("GET", "/api/v1/config", headers=hdrs)
            assert r.status == 200, r
            ids = r.headers.all("x-request-id")
            assert len(ids) == 1 and HEX_ID_RE.match(ids[0]), r.headers
            assert '"id":"%s"' % ids[0] in node_log(node), "kho logged another id than %s" % ids

        # the web UI through the same upstream, and /metrics kept to the nodes
        r = e.request("GET", "/")
        assert r.status == 200 and r.headers["content-type"].startswith("text/html"), r
        r = e.request("GET", "/static/app.js")
        assert r.status == 200 and b"import" in r.body, r
        check_error(e.request("GET", "/metrics"), 404, "not_found")
        assert node.request("GET", "/metrics").status == 200

        # DELETE takes its own no-retry route, and still works
        r = e.request("DELETE", "/api/v1/images/" + img["id"], token=u.token)
        assert r.status == 204, r
        check_error(e.request("GET", "/api/v1/images/" + img["id"], token=u.token), 404)
        assert any(ln["method"] == "DELETE" and ln["path"] == "/api/v1/images/" + img["id"]
                   for ln in e.edge_log()), "the edge log does not show the client's DELETE path"


def test_public_images_are_cached_once_per_accept_class():
    need_nginx()
    node = lib.server()
    with Edge([node]) as e:
        u = e.new_user("edge")
        data = lib.unique_png(64, 48)
        img = e.upload_ok(u, data, query={"visibility": "public"})
        path = "/i/" + img["id"]
        first = e.request("GET", path)
        assert first.status == 200 and first.body == data, first
        assert cache_status(first) == "MISS", first.headers
        assert first.headers["cache-control"].startswith("public"), first.headers
        seen = hits_on_node(node, path)
        second = e.request("GET", path)
        assert second.status == 200 and second.body == data, second
        assert cache_status(second) == "HIT", second.headers
        assert second.headers["etag"] == first.headers["etag"], second.headers
        assert hits_on_node(node, path) == seen, "a HIT reached kho"
        # revalidation and ranges are answered from the cache
        r = e.request("GET", path, headers={"If-None-Match": first.headers["etag"]})
        assert r.status == 304 and cache_status(r) == "HIT", r
        r = e.request("GET", path, headers={"Range": "bytes=0-9"})
        assert r.status == 206 and r.body == data[:10], r

        # fmt=auto: one copy per class of Accept, whatever the exact string
        auto = path + "?w=64&fmt=auto"
        classes = [
            ("image/webp,*/*", "image/webp", "MISS"),
            ("text/html,application/xhtml+xml,image/webp,*/*;q=0.8", "image/webp", "HIT"),
            ("image/avif;q=0, image/webp", "image/webp", "HIT"),
            ("*/*", "image/jpeg", "MISS"),
            ("text/html", "image/jpeg", "HIT"),
        ]
        for accept, ctype, status in classes:
            r = e.request("GET", auto, headers={"Accept": accept})
            assert r.status == 200, r
            assert (r.headers["content-type"], cache_status(r)) == (ctype, status), (accept, r)
            assert r.headers["vary"] == "Accept", r.headers
        # a fixed format does not split on Accept
        fixed = path + "?w=64&fmt=jpeg"
        assert cache_status(e.request("GET", fixed, headers={"Accept": "image/webp"})) == "MISS"
        assert cache_status(e.request("GET", fixed, headers={"Accept": "*/*"})) == "HIT"

        # the owner's requests neither use nor fill the cache (a watermarked image's clean
        # original is "public" too)
        other = e.upload_ok(u, lib.unique_png(), query={"visibility": "public"})
        opath = "/i/" + other["id"]
        for cred in ({"token": u.token}, {"cookie": u.cookie_header()}):
            r = e.request("GET", opath, **cred)
            assert r.status == 200 and cache_status(r) == "BYPASS", (cred, r)
        assert cache_status(e.request("GET", opath)) == "MISS"


def test_private_images_and_share_links_are_never_cached():
    need_nginx()
    node = lib.server()
    with Edge([node]) as e:
        u = e.new_user("edge")
        data = lib.unique_png(64, 48)
        img = e.upload_ok(u, data)  # private by default
        path = "/i/" + img["id"]
        for _ in range(2):
            r = e.request("GET", path, token=u.token)
            assert r.status == 200 and r.body == data, r
            assert cache_status(r) != "HIT" and r.headers["cache-control"].startswith("private")
        check_error(e.request("GET", path), 404, "not_found")
        check_error(e.request("GET", path, token=e.new_user("edge").token), 404, "not_found")

        r = e.json("POST", "/api/v1/images/%s/links" % img["id"], {}, token=u.token)
        assert r.status == 201, r
        token = r.json()["token"]
        for url in (path + "?share=" + token, path + "?w=64&share=" + token):
            for _ in range(2):
                r = e.request("GET", url)
                assert r.status == 200, (url, r)
                assert cache_status(r) != "HIT", (url, r.headers)
                assert r.headers["cache-control"] == "private, max-age=300", r.headers
        # nothing the link opened is served to anyone without it
        check_error(e.request("GET", path), 404, "not_found")
        check_error(e.request("GET", path + "?w=64"), 404, "not_found")


def test_edge_errors_are_json():
    need_nginx()
    node = lib.server()
    with Edge([node]) as e:
        u = e.new_user("edge")
        # 413 from the head alone, before any of the body is sent
        s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
        try:
            s.sendall(b"POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      u.token.encode() + b"\r\nContent-Type: image/png\r\n"
                      b"Content-Length: 60000000\r\n\r\n")
            r = lib.read_response(s)
        finally:
            s.close()
        check_error(r, 413, "too_large")
        assert HEX_ID_RE.match(r.headers["x-request-id"]), r.headers
        # an upload with no credentials at all: 401 from the head alone, not after buffering it
        posts = node_log(node).count('"method":"POST","path":"/api/v1/images"')
        s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
        try:
            s.sendall(b"POST /api/v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      b"Content-Length: 40000000\r\n\r\n")
            r = lib.read_response(s)
        finally:
            s.close()
        err = check_error(r, 401, "unauthorized")
        assert "log in" in err["message"], err
        assert node_log(node).count('"method":"POST","path":"/api/v1/images"') == posts
        # a JSON body past 1m is refused at the edge too
        check_error(e.request("PATCH", "/api/v1/me", body=b"{" + b" " * (1 << 20) + b"}",
                              token=u.token, headers={"Content-Type": "application/json"}),
                    413, "too_large")
        # malformed HTTP
        check_error(e.raw(b"GET /api/v1/config HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400,
                    "invalid_request")

        # 429 from limit_req on log-ins, per client address: this one uses its own loopback
        # address, so the other tests' log-ins do not count. Unknown users: kho answers 401.
        statuses = []
        for i in range(40):
            r = source_request(e.port, "POST", "/api/v1/sessions", "127.0.0.77",
                               body=b'{"username":"nobody%d","password":"wrong"}' % i,
                               headers={"Content-Type": "application/json"})
            statuses.append(r.status)
            if r.status == 429:
                break
        assert statuses[0] == 401 and statuses[-1] == 429, statuses
        err = check_error(r, 429, "rate_limited")
        assert "your address" in err["message"], err  # the edge's, not kho's own limiter
        assert int(r.headers["retry-after"]) > 0, r.headers
        # another address is not limited
        r = source_request(e.port, "POST", "/api/v1/sessions", "127.0.0.78",
                           body=b'{"username":"nobody","password":"wrong"}',
                           headers={"Content-Type": "application/json"})
        check_error(r, 401)

        # kho's own 429 (failed log-ins per account, inside the edge's burst) keeps kho's
        # message and its one Retry-After
        for _ in range(12):
            r = source_request(e.port, "POST", "/api/v1/sessions", "127.0.0.79",
                               body=b'{"username":"%s","password":"wrong"}' % u.username.encode(),
                               headers={"Content-Type": "application/json"})
            if r.status == 429:
                break
        err = check_error(r, 429, "rate_limited")
        assert "failed logins" in err["message"], err
        retry = r.headers.all("retry-after")
        assert len(retry) == 1 and err["message"].endswith("retry in %s seconds" % retry[0]), (
            retry, err)


def test_kho_limits_failed_logins_per_client_behind_the_edge():
    """kho trusting the edge (--trusted-proxies) counts failed log-ins per client, not per edge.
    Its per-address limit is set below the edge's burst, so kho's limiter answers the 429."""
    need_nginx()
    node = make_nodes(1, "--trusted-proxies", "127.0.0.1", "--login-fail-limit", "1000",
                      "--login-ip-fail-limit", "3")[0].start()
    try:
        with Edge([node]) as e:
            # addresses of this test's own, as a scale run's Redis keeps per-address counts
            a, b = ("127.%d.%d.%d" % (random.randrange(100, 200), random.randrange(1, 255),
                                      random.randrange(2, 255)) for _ in range(2))
            login = b'{"username":"%s","password":"wrong"}'
            hdrs = {"Content-Type": "application/json"}
            for _ in range(3):
                r = source_request(e.port, "POST", "/api/v1/sessions", a,
                                   body=login % lib.rand_name("nobody").encode(), headers=hdrs)
                check_error(r, 401, "invalid_credentials")
            r = source_request(e.port, "POST", "/api/v1/sessions", a,
                               body=login % lib.rand_name("nobody").encode(), headers=hdrs)
            err = check_error(r, 429, "rate_limited")
            assert "failed logins" in err["message"], err  # kho's limiter, not the edge's
            # a client forging X-Forwarded-For cannot step out of it
            r = source_request(e.port, "POST", "/api/v1/sessions", a,
                               body=login % lib.rand_name("nobody").encode(),
                               headers=dict(hdrs, **{"X-Forwarded-For": b}))
            check_error(r, 429, "rate_limited")
            # another client through the same edge is not blocked
            r = source_request(e.port, "POST", "/api/v1/sessions", b,
                               body=login % lib.rand_name("nobody").encode(), headers=hdrs)
            check_error(r, 401, "invalid_credentials")
            log = node_log(node)
            assert '"ip":"%s"' % a in log and '"ip":"%s"' % b in log, log[-2000:]
            assert '"via":"127.0.0.1"' in log, log[-2000:]
    finally:
        node.stop()


def test_a_stopped_node_gives_json_502():
    need_nginx()
    node = make_nodes(1)[0].start()
    try:
        with Edge([node]) as e:
            assert e.request("GET", "/api/v1/config").status == 200
            assert node.stop() == 0
            for path in ("/api/v1/config", "/i/1", "/"):
                r = e.request("GET", path)
                check_error(r, 502, "unavailable")
                assert int(r.headers["retry-after"]) > 0, r.headers
                assert len(r.headers.all("x-request-id")) == 1, r.headers
    finally:
        node.stop()


def test_tls_server_speaks_http2_with_hsts():
    need_nginx()
    node = lib.server()
    with Edge([node]) as e:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", e.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
        ctx.set_alpn_protocols(["http/1.1"])
        c = http.client.HTTPSConnection("127.0.0.1", e.tls_port, timeout=10, context=ctx)
        try:
            c.request("GET", "/api/v1/config")
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        assert r.status == 200 and b"max_upload_bytes" in body, (r.status, body[:200])
        assert r.getheader("Strict-Transport-Security", "").startswith("max-age="), r.getheaders()
        # plain HTTP does not send HSTS (browsers ignore it there anyway)
        assert "strict-transport-security" not in e.request("GET", "/api/v1/config").headers


# ---------------------------------------------------------------------------------------------
# Three nodes: one killed under load


# Routes every node answers alike without shared storage.
STATELESS = ["/api/v1/config", "/healthz", "/", "/explore", "/static/app.js"]


def load(port, source, stop, results, rate=50.0):
    """GET the stateless routes from one loopback address over one keep-alive connection at
    about rate requests a second until stop is set; appends (path, status or error) to results.
    The pace keeps each address inside the edge's per-address limits."""
    conn = None
    i = 0
    while not stop.is_set():
        t0 = time.monotonic()
        path = STATELESS[i % len(STATELESS)]
        i += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                  source_address=(source, 0))
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            results.append((path, r.status))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as ex:
            results.append((path, repr(ex)))
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
    if conn is not None:
        conn.close()


def test_kill9_of_a_node_under_load_fails_no_request():
    need_nginx()
    nodes = make_nodes(3)
    try:
        for n in nodes:
            n.start()
        with Edge(nodes) as e:
            stop = threading.Event()
            results = []
            threads = [threading.Thread(target=load, args=(e.port, "127.0.1.%d" % (i + 1), stop,
                                                           results)) for i in range(6)]
            for t in threads:
                t.start()
            try:
                time.sleep(1.5)
                served = [node_log(n).count('"type":"access"') for n in nodes]
                nodes[1].kill()
                time.sleep(2.5)
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            failures = [(p, s) for p, s in results if s != 200]
            assert not failures, "%d of %d requests failed: %r" % (len(failures), len(results),
                                                                   failures[:10])
            assert len(results) >= 200, "only %d requests under load" % len(results)
            assert all(n > len(STATELESS) for n in served), "not spread over the nodes: %r" % served
            # the edge met the dead node and moved those requests on
            dead = "127.0.0.1:%d" % nodes[1].port
            retried = [ln for ln in e.edge_log() if ln["upstream"].startswith(dead + ", ")]
            assert retried and all(ln["status"] == 200 for ln in retried), retried[:5]
    finally:
        for n in nodes:
            if n.alive():
                assert n.stop() == 0, "node exited badly on SIGTERM"
