"""Serving originals at /i/{id}: exact bytes, caching headers, conditional and range requests,
HEAD."""

import lib
from lib import check_error

IMMUTABLE = "public, max-age=31536000, immutable"
_fixture = {}


def setup():
    """One user with one image per format (mixed visibility), shared by this module's tests."""
    s = lib.server()
    if _fixture.get("server") is not s:
        u = s.new_user("serve")
        imgs = {}
        for fmt, data, vis in (("png", lib.png(100, 80, seed=21, noise=True), "public"),
                               ("jpeg", lib.jpeg(90, 60, seed=22), "unlisted"),
                               ("webp", lib.webp(40, 40, seed=23), "private"),
                               ("gif", lib.gif(30, 30, seed=24), "public")):
            img = s.upload(u, data, "image/" + fmt, query={"visibility": vis})
            assert img.status in (200, 201), img
            imgs[fmt] = (img.json(), data)
        _fixture.update(server=s, user=u, imgs=imgs)
    return s, _fixture["user"], _fixture["imgs"]


def norm(value):
    return ", ".join(p.strip() for p in (value or "").split(","))


def test_bytes_and_headers_per_format():
    s, u, imgs = setup()
    for fmt, (img, data) in imgs.items():
        r = s.request("GET", img["url"], token=u.token)
        assert r.status == 200, "%s: %r" % (fmt, r)
        assert r.body == data, "%s: served bytes differ (sha256 %s)" % (fmt, lib.sha256(r.body))
        h = r.headers
        assert h.get("content-type") == "image/" + fmt, (fmt, h)
        assert h.get("content-length") == str(len(data)), (fmt, h)
        assert h.get("etag") == '"%s"' % lib.sha256(data), (fmt, h)
        assert h.get("x-content-type-options") == "nosniff", (fmt, h)
        assert h.get("accept-ranges") == "bytes", (fmt, h)
        if img["visibility"] == "private":
            assert h.get("cache-control", "").startswith("private"), (fmt, h)
        else:
            assert norm(h.get("cache-control")) == IMMUTABLE, (fmt, h)


def test_public_and_unlisted_need_no_auth_private_needs_owner():
    s, u, imgs = setup()
    for fmt in ("png", "jpeg"):
        r = s.request("GET", imgs[fmt][0]["url"])
        assert r.status == 200 and r.body == imgs[fmt][1], r
    img = imgs["webp"][0]
    check_error(s.request("GET", img["url"]), 404, "not_found")
    r = s.request("GET", img["url"], cookie={"kho_session": u.cookies["kho_session"][0]})
    assert r.status == 200 and r.body == imgs["webp"][1], "owner by cookie: %r" % r


def test_cache_control_follows_visibility_changes():
    s, u, _ = setup()
    img = s.upload_ok(u, lib.unique_png(), query={"visibility": "public"})
    assert norm(s.request("GET", img["url"]).headers.get("cache-control")) == IMMUTABLE
    r = s.json("PATCH", "/api/v1/images/" + img["id"], {"visibility": "private"}, token=u.token)
    assert r.status == 200, r
    r = s.request("GET", img["url"], token=u.token)
    assert r.status == 200 and r.headers.get("cache-control", "").startswith("private"), r


def test_if_none_match():
    s, _, imgs = setup()
    img, data = imgs["png"]
    etag = '"%s"' % img["sha256"]
    for value in (etag, "*", '"0000", %s' % etag, "W/" + etag, '"a",W/%s , "b"' % etag):
        r = s.request("GET", img["url"], headers={"If-None-Match": value})
        assert r.status == 304, "If-None-Match %s: %r" % (value, r)
        assert r.body == b"" and r.headers.get("etag") == etag, r
    for value in ('"%s"' % ("0" * 64), img["sha256"], '"%s"' % img["sha256"].upper()):
        r = s.request("GET", img["url"], headers={"If-None-Match": value})
        assert r.status == 200 and r.body == data, "If-None-Match %s: %r" % (value, r)
    r = s.request("GET", img["url"], headers={"If-None-Match": etag, "Range": "bytes=0-9"})
    assert r.status == 304, "If-None-Match is evaluated before Range: %r" % r
    # A validator must not reveal a private image to someone who cannot see it.
    priv = imgs["webp"][0]
    r = s.request("GET", priv["url"], headers={"If-None-Match": '"%s"' % priv["sha256"]})
    check_error(r, 404, "not_found")


def test_ranges():
    s, _, imgs = setup()
    img, data = imgs["png"]
    size = len(data)
    assert size > 1000
    cases = [("bytes=0-99", 0, 99), ("bytes=-100", size - 100, size - 1),
             ("bytes=100-", 100, size - 1), ("bytes=10-10", 10, 10),
             ("bytes=0-%d" % (size + 5000), 0, size - 1), ("bytes=%d-" % (size - 1), size - 1,
                                                             size - 1)]
    for value, first, last in cases:
        r = s.request("GET", img["url"], headers={"Range": value})
        assert r.status == 206, "Range %s: %r" % (value, r)
        assert r.headers.get("content-range") == "bytes %d-%d/%d" % (first, last, size), (
            value, r.headers)
        assert r.headers.get("content-length") == str(last - first + 1), (value, r.headers)
        assert r.body == data[first:last + 1], "Range %s: wrong bytes" % value
        assert r.headers.get("etag") == '"%s"' % img["sha256"], r.headers
    for value in ("bytes=%d-" % size, "bytes=%d-%d" % (size + 10, size + 20)):
        r = s.request("GET", img["url"], headers={"Range": value})
        assert r.status == 416, "Range %s: %r" % (value, r)
        assert r.headers.get("content-range") == "bytes */%d" % size, (value, r.headers)
    for value in ("bytes=abc", "items=0-5", "bytes=5-2", "bytes", "bytes=-", "bytes=0-1-2"):
        r = s.request("GET", img["url"], headers={"Range": value})
        assert r.status == 200 and r.body == data, "malformed Range %r: %r" % (value, r)


def test_head_matches_get_without_body():
    s, _, imgs = setup()
    img, data = imgs["jpeg"]
    c = s.conn()
    try:
        get = s.request("GET", img["url"], conn=c)
        head = s.request("HEAD", img["url"], conn=c)
        assert head.status == 200 and head.body == b"", head
        for name in ("content-type", "content-length", "etag", "cache-control",
                     "x-content-type-options", "accept-ranges"):
            assert head.headers.get(name) == get.headers.get(name), (name, head, get)
        head = s.request("HEAD", img["url"], conn=c, headers={"Range": "bytes=0-9"})
        assert head.status == 206 and head.headers.get("content-length") == "10", head
        head = s.request("HEAD", img["url"], conn=c, headers={"If-None-Match": "*"})
        assert head.status == 304, head
        # The connection is still in step: no stray body bytes were sent after HEAD.
        again = s.request("GET", img["url"], conn=c)
        assert again.status == 200 and again.body == data, again
    finally:
        c.close()
    r = s.request("HEAD", "/i/999999999999")
    assert r.status == 404 and r.body == b"", r
