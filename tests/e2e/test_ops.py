"""Operational endpoints and cross-cutting behaviour: health, readiness, metrics, request ids,
unknown routes and wrong methods."""

import re
import subprocess
import tempfile
import time

import lib
from lib import check_error

ROUTES_405 = [("PUT", "/api/v1/images", {"GET", "POST"}),
              ("DELETE", "/api/v1/users", {"POST"}),
              ("GET", "/api/v1/sessions", {"POST"}),
              ("POST", "/api/v1/me", {"GET"}),
              ("POST", "/api/v1/images/123", {"GET", "PATCH", "DELETE"}),
              ("PUT", "/api/v1/sessions/current", {"DELETE"}),
              ("POST", "/i/123", {"GET", "HEAD"}),
              ("POST", "/api/v1/explore", {"GET"}),
              ("DELETE", "/healthz", {"GET"})]


def test_healthz_and_readyz():
    s = lib.server()
    r = s.request("GET", "/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}, r
    assert r.headers.get("content-type", "").startswith("application/json"), r
    r = s.request("GET", "/readyz")
    assert r.status == 200, r
    doc = r.json()
    assert doc.get("status") == "ready", doc


def test_metrics_exposition():
    s = lib.server()
    s.request("GET", "/healthz")
    r = s.request("GET", "/metrics")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r
    samples = lib.parse_metrics(r.body.decode())
    names = {n for n, _, _ in samples}
    for name in ("kho_http_requests_total", "kho_http_request_duration_seconds_bucket",
                 "kho_http_bytes_received_total", "kho_http_bytes_sent_total",
                 "kho_uploads_total", "kho_deletes_total", "kho_store_puts_total",
                 "kho_db_writes_total", "kho_blobs_stored", "kho_blob_bytes_stored"):
        assert name in names, "metric %s missing" % name
    assert lib.metric_sum(samples, "kho_http_requests_total", route="/healthz", status=200) >= 1, \
        "no kho_http_requests_total{route=\"/healthz\",status=\"200\"} series"
    buckets = [ls for n, ls, _ in samples if n == "kho_http_request_duration_seconds_bucket"]
    assert all("le" in ls for ls in buckets), buckets
    assert any(ls["le"] == "+Inf" for ls in buckets), "histogram has no +Inf bucket"


def metrics_when(s, pred):
    """Request counters are bumped when a response has been sent, which may be just after the
    client read it: poll briefly for the expected value."""
    for _ in range(40):
        m = s.metrics()
        if pred(m):
            return m
        time.sleep(0.05)
    return m


def requests(m, route, status):
    return lib.metric_sum(m, "kho_http_requests_total", route=route, status=status)


def test_metrics_move_with_uploads_and_deletes():
    s = lib.server()
    u = s.new_user("metr")
    data = lib.unique_png(40, 40)
    total = lib.metric_sum
    before = s.metrics()
    img = s.upload_ok(u, data)
    # an upload stores the original and, on the processing pool, its thumbnail
    mid = metrics_when(s, lambda m: requests(m, "/api/v1/images", 201) >
                       requests(before, "/api/v1/images", 201) and
                       total(m, "kho_variants_generated_total") >
                       total(before, "kho_variants_generated_total"))
    assert total(mid, "kho_uploads_total") - total(before, "kho_uploads_total") == 1
    assert total(mid, "kho_variants_generated_total") - \
        total(before, "kho_variants_generated_total") == 1, "no eager thumbnail"
    # the blob gauges are the volume store's (an S3 bucket has no cheap count)
    volumes = lib.blob_flag() is None
    for name in ("kho_store_puts_total", "kho_blobs_stored")[:2 if volumes else 1]:
        assert total(mid, name) - total(before, name) == 2, "%s did not move by 2" % name
    assert total(mid, "kho_db_writes_total") > total(before, "kho_db_writes_total")
    assert not volumes or total(mid, "kho_blob_bytes_stored") - \
        total(before, "kho_blob_bytes_stored") > len(data), \
        "kho_blob_bytes_stored did not grow by the upload and its thumbnail"
    assert total(mid, "kho_http_bytes_received_total") - \
        total(before, "kho_http_bytes_received_total") >= len(data)
    assert total(mid, "kho_http_bytes_sent_total") > total(before, "kho_http_bytes_sent_total")
    assert requests(mid, "/api/v1/images", 201) - requests(before, "/api/v1/images", 201) == 1, \
        "kho_http_requests_total{route=/api/v1/images,status=201} did not move by 1"
    assert s.request("DELETE", "/api/v1/images/" + img["id"], token=u.token).status == 204
    after = metrics_when(s, lambda m: requests(m, "/api/v1/images/{id}", 204) >
                         requests(mid, "/api/v1/images/{id}", 204))
    assert requests(after, "/api/v1/images/{id}", 204) - \
        requests(mid, "/api/v1/images/{id}", 204) == 1, "DELETE not counted by route pattern"
    assert total(after, "kho_deletes_total") - total(mid, "kho_deletes_total") == 1
    assert total(after, "kho_store_deletes_total") - total(mid, "kho_store_deletes_total") == 2, \
        "the original and its thumbnail were not both deleted"
    if volumes:
        assert total(after, "kho_blobs_stored") - total(mid, "kho_blobs_stored") == -2
        assert total(after, "kho_blob_bytes_stored") == total(before, "kho_blob_bytes_stored")
    assert total(after, "kho_db_writes_total") > total(mid, "kho_db_writes_total")


def test_request_id_echoed_or_generated():
    s = lib.server()
    for rid in ("abc-123_X.y", "a" * 64):
        r = s.request("GET", "/healthz", headers={"X-Request-Id": rid})
        assert r.headers.get("x-request-id") == rid, r
    seen = set()
    for bad in (None, "a" * 65, "bad id", "semi;colon", "\u00e9t\u00e9".encode().decode("latin-1"),
                ""):
        r = s.request("GET", "/healthz", headers={"X-Request-Id": bad} if bad is not None else {})
        rid = r.headers.get("x-request-id")
        assert rid and rid != bad and re.match(r"^[A-Za-z0-9._-]{1,64}$", rid), (bad, r)
        seen.add(rid)
    assert len(seen) == 6, "generated request ids repeat: %r" % seen
    # Errors carry one too.
    r = s.request("GET", "/nope", headers={"X-Request-Id": "err-1"})
    assert r.status == 404 and r.headers.get("x-request-id") == "err-1", r


def test_unknown_routes_are_json_404():
    s = lib.server()
    for path in ("/nope", "/api/v1", "/api/v1/", "/api/v2/images", "/api/v1/images/1/x",
                 "/i/", "/api/v1/users/1", "/healthz/x", "/%2e%2e/etc/passwd", "/i/1/../../x"):
        check_error(s.request("GET", path), 404, "not_found")


def test_wrong_method_is_json_405_with_allow():
    s = lib.server()
    for method, path, allowed in ROUTES_405:
        r = s.request(method, path, body=b"{}" if method in ("POST", "PUT") else None)
        check_error(r, 405, "method_not_allowed")
        allow = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
        assert allowed <= allow, "%s %s: Allow %r lacks %r" % (method, path, allow, allowed)
        assert method not in allow, "%s %s: Allow lists the rejected method" % (method, path)


def test_errors_are_json_everywhere():
    s = lib.server()
    u = s.new_user("errs")
    cases = [s.request("GET", "/api/v1/me"),
             s.request("GET", "/api/v1/images/999999999999", token=u.token),
             s.request("POST", "/api/v1/images", body=b"hello",
                       headers={"Content-Type": "text/plain"}, token=u.token),
             s.request("GET", "/api/v1/images?limit=0", token=u.token)]
    for r in cases:
        err = check_error(r, r.status)
        assert r.status >= 400, r
        assert "sqlite" not in err["message"].lower() and "errno" not in err["message"].lower(), \
            "library error leaked to the client: %r" % err


def test_second_server_on_a_taken_port_is_refused():
    """Listeners use SO_REUSEPORT; a second kho (its own data dir) must still fail to start on a
    port the first one holds, instead of silently taking half of its connections."""
    with lib.Server() as first:
        second = subprocess.run(
            [lib.BIN, "server", "--listen", "127.0.0.1:%d" % first.port, "--data",
             tempfile.mkdtemp(prefix="data-", dir=lib.root_dir())] + lib.EXTRA_ARGS,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        assert second.returncode != 0, second
        assert b"cannot listen" in second.stderr + second.stdout, second.stderr
        assert first.healthy()
