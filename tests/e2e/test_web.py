"""The web UI as HTTP sees it: the page at each app path with its security headers, the
embedded files under /static/ with MIME types, ETags and 304, and /api/v1/config. (What the
page does in a browser is tests/browser.)"""
import re

import lib
import test_openapi

PAGES = ("/", "/explore", "/albums", "/albums/123", "/s/c29tZS10b2tlbg", "/account")


def test_web_pages_are_the_app_with_strict_headers():
    srv = lib.server()
    bodies = set()
    for path in PAGES:
        r = srv.request("GET", path)
        assert r.status == 200, (path, r)
        assert r.headers["content-type"] == "text/html; charset=utf-8", r
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
        assert "img-src 'self' data: blob:" in csp, csp
        assert r.headers["referrer-policy"] == "no-referrer", r
        assert r.headers["x-content-type-options"] == "nosniff", r
        assert r.headers["cache-control"] == "no-cache", r
        bodies.add(r.body)
    assert len(bodies) == 1, "the app paths serve different pages"
    page = bodies.pop().decode()
    assert '<script type="module" src="/static/app.js"></script>' in page, page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "an inline script would break the CSP"
    assert not re.search(r"\sstyle=", page), "inline styles break the CSP"
    head = srv.request("HEAD", "/explore")
    assert head.status == 200 and head.body == b"", head
    assert srv.request("GET", "/albums/1/more").status == 404


def test_web_static_files_have_types_and_etags():
    srv = lib.server()
    page = srv.request("GET", "/").body.decode()
    assert "/static/style.css" in page and "/static/favicon.svg" in page
    types = {"app.js": "text/javascript; charset=utf-8", "gallery.js": "text/javascript; charset=utf-8",
             "style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
    for name, mime in types.items():
        r = srv.request("GET", "/static/" + name)
        assert r.status == 200 and r.headers["content-type"] == mime, (name, r)
        assert len(r.body) > 100, (name, r)
        etag = r.headers["etag"]
        assert re.match(r'^"[0-9a-f]{16}"$', etag), etag
        assert r.headers["cache-control"] == "no-cache", r
        again = srv.request("GET", "/static/" + name, headers={"If-None-Match": etag})
        assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag, again
        other = srv.request("GET", "/static/" + name, headers={"If-None-Match": '"0000"'})
        assert other.status == 200, other
    # every module app.js imports, transitively, is served
    seen, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        r = srv.request("GET", "/static/" + name)
        assert r.status == 200, (name, r)
        todo += re.findall(r"from '\./([\w.-]+\.js)'", r.body.decode())
    assert {"api.js", "router.js", "viewer.js", "upload.js", "thumbhash.js"} <= seen, seen
    r = srv.request("GET", "/static/nope.js")
    assert lib.check_error(r, 404, "not_found")["message"] == "no asset 'nope.js'"
    assert srv.request("GET", "/static/..%2Fmeson.build").status in (400, 404)


def test_web_config_is_the_servers():
    srv = lib.server("--max-upload-bytes", "3M", "--variant-sizes", "100,200,300")
    doc = test_openapi.parse_subset(test_openapi.load_spec())
    r = test_openapi.check_live(doc, "configGet", srv.request("GET", "/api/v1/config"), 200)
    cfg = r.json()
    assert cfg["max_upload_bytes"] == 3 * 1024 * 1024, cfg
    assert cfg["variant_sizes"] == [100, 200, 300], cfg
    assert cfg["presets"]["thumb"] == {"w": 256, "h": 256, "fit": "cover"}, cfg
    assert set(cfg["presets"]) == {"thumb", "small", "medium", "large"}, cfg
    assert {"jpeg", "png", "webp", "gif"} <= set(cfg["formats"]["in"]), cfg
    assert {"jpeg", "png", "webp"} <= set(cfg["formats"]["out"]), cfg
    ready = srv.request("GET", "/readyz").json()["formats"]
    assert cfg["formats"]["in"] == ready["in"].split() and cfg["formats"]["out"] == ready["out"].split()


def test_web_is_not_served_by_process_nodes():
    srv = lib.server("--role", "process")
    for path in ("/", "/static/app.js", "/api/v1/config"):
        assert test_openapi.is_router_404(srv.request("GET", path)), path
