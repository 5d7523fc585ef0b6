"""Share links: a link to a private image or album opens it without a login, through
/api/v1/shared/{token} and /i/{id}?share=TOKEN (originals and variants), until it expires or is
revoked. The server runs with a known --sign-key so the tests mint tokens themselves: expired ones
(410 without waiting) and forged ones (404)."""

import base64
import calendar
import hashlib
import hmac
import re
import struct
import threading
import time
import urllib.parse

import lib
from lib import check_error, check_image
import test_openapi as oa

KEY = "share-link-test-key-0123456789"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def srv(*extra):
    return lib.server("--sign-key", KEY, *extra)


def mint(link_id, expires_at_ms, key=KEY):
    """A token as linktoken.c makes it: id and expiry (big-endian), then a truncated HMAC."""
    body = struct.pack(">QQ", int(link_id), expires_at_ms)
    mac = hmac.new(key.encode(), b"kho-link\0" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def sign(path_query):
    mac = hmac.new(KEY.encode(), path_query.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def unix_ms(iso):
    """'2026-11-22T10:11:12.345Z' -> unix milliseconds."""
    secs = calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + int(iso[20:23])


def share(s, u, kind, target, body=None):
    r = s.json("POST", "/api/v1/%ss/%s/links" % (kind, target["id"]), body, token=u.token)
    assert r.status == 201, r
    return r.json()


def check_link(s, link, kind, target, expires=False):
    assert set(link) == {"id", "kind", "target_id", "token", "path", "url", "expires_at",
                         "created_at"}, link
    assert link["kind"] == kind and link["target_id"] == target["id"], link
    assert TOKEN_RE.match(link["token"]), link
    assert link["path"] == "/s/" + link["token"], link
    assert link["url"] == "http://127.0.0.1:%d%s" % (s.port, link["path"]), link
    assert lib.ISO_RE.match(link["created_at"]), link
    if expires:
        assert lib.ISO_RE.match(link["expires_at"]), link
    else:
        assert link["expires_at"] is None, link
    expiry = unix_ms(link["expires_at"]) if expires else 0
    assert link["token"] == mint(link["id"], expiry), "the token is not the documented layout"


def shared(s, token, query="", **kw):
    return s.request("GET", "/api/v1/shared/%s%s" % (token, query), **kw)


def media(s, img_id, query, **kw):
    return s.request("GET", "/i/%s?%s" % (img_id, query), **kw)


def test_image_link_opens_a_private_image():
    s = srv()
    u, v = s.new_user("lnk"), s.new_user("lnko")
    data = lib.png(64, 48, seed=lib.random.getrandbits(31), noise=True)
    img = s.upload_ok(u, data)
    other = s.upload_ok(u, lib.unique_png())
    r = s.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token)
    assert r.status == 201 and r.headers.get("cache-control") == "no-store", r
    link = r.json()
    check_link(s, link, "image", img)
    token = link["token"]

    r = shared(s, token)
    assert r.status == 200, r
    doc = r.json()
    assert doc["kind"] == "image" and doc["expires_at"] is None, doc
    seen = doc["image"]
    assert seen["url"] == "/i/%s?share=%s" % (img["id"], token), seen
    check_image(dict(seen, url="/i/" + img["id"]), data, owner=u)
    assert "gps" not in seen, "the owner's view was shared: %r" % seen

    check_error(s.request("GET", "/i/" + img["id"]), 404, "not_found")
    for who in (None, v.token):  # logged out, or someone else logged in
        r = s.request("GET", seen["url"], token=who)
        assert r.status == 200 and r.body == data, r
        assert r.headers.get("cache-control") == "private, max-age=300", r
    r = s.request("HEAD", seen["url"])
    assert r.status == 200 and r.body == b"", r
    r = media(s, img["id"], "w=64&fmt=webp&share=" + token)
    assert r.status == 200 and r.headers["content-type"] == "image/webp", r
    assert r.headers.get("cache-control") == "private, max-age=300", r
    # share is not part of what sig signs
    off_list = "/i/%s?w=50" % img["id"]
    r = s.request("GET", "%s&share=%s&sig=%s" % (off_list, token, sign(off_list)))
    assert r.status == 200 and r.headers["content-type"] == "image/png", r
    with_share = "%s&share=%s" % (off_list, token)
    check_error(s.request("GET", "%s&sig=%s" % (with_share, sign(with_share))), 403,
                "invalid_signature")
    # the token opens this image only
    check_error(media(s, other["id"], "share=" + token), 404, "not_found")
    check_error(media(s, other["id"], "w=64&share=" + token), 404, "not_found")
    # the owner's own requests are as before
    r = s.request("GET", "/i/" + img["id"], token=u.token)
    assert r.status == 200 and r.headers.get("cache-control") == "private, max-age=3600", r
    # an image anyone may see ignores share, whatever it holds
    pub = s.upload_ok(u, lib.unique_png(), query={"visibility": "public"})
    r = media(s, pub["id"], "share=nonsense")
    assert r.status == 200 and r.headers["cache-control"].startswith("public"), r


def test_expiry_and_forgery():
    s = srv()
    u = s.new_user("lnke")
    img = s.upload_ok(u, lib.unique_png())
    before = int(time.time() * 1000)
    link = share(s, u, "image", img, {"expires_in": 60})
    check_link(s, link, "image", img, expires=True)
    expires = unix_ms(link["expires_at"])
    assert before + 59000 <= expires <= int(time.time() * 1000) + 61000, link
    assert shared(s, link["token"]).json()["expires_at"] == link["expires_at"]

    # a genuine token past its expiry: 410 from the token alone
    expired = mint(link["id"], int(time.time() * 1000) - 1000)
    err = check_error(shared(s, expired), 410, "link_expired")
    assert "expired" in err["message"], err
    check_error(media(s, img["id"], "share=" + expired), 410, "link_expired")
    check_error(media(s, img["id"], "w=64&share=" + expired), 410, "link_expired")
    # forged, unknown, malformed
    forged = mint(link["id"], 0, key="not-the-server-key-0123456789")
    unknown = mint(link["id"] + "0", 0)  # signed, but no such link
    flipped = link["token"][:10] + ("A" if link["token"][10] != "A" else "B") + link["token"][11:]
    for bad in (forged, unknown, flipped, "abc", link["token"] + "A", "." * 43, "-" * 43):
        check_error(shared(s, bad), 404, "not_found")
        check_error(media(s, img["id"], "share=" + urllib.parse.quote(bad)), 404, "not_found")
    r = media(s, img["id"], "share=" + link["token"])
    assert r.status == 200, r

    for body in ({"expires_in": 59}, {"expires_in": 31536001}, {"expires_in": "600"},
                 {"expires_in": 90.5}, {"expires": 60}, [60]):
        r = s.json("POST", "/api/v1/images/%s/links" % img["id"], body, token=u.token)
        check_error(r, 400)
    for body in ({"expires_in": None}, {}):
        assert share(s, u, "image", img, body)["expires_at"] is None
    assert share(s, u, "image", img, {"expires_in": 31536000})["expires_at"] is not None


def test_only_the_owner_shares_and_revokes():
    s = srv()
    u, v = s.new_user("lnkr"), s.new_user("lnks")
    img = s.upload_ok(u, lib.unique_png(), query={"visibility": "public"})
    album = s.json("POST", "/api/v1/albums", {"title": "a"}, token=u.token).json()
    for kind, target in (("image", img), ("album", album)):
        path = "/api/v1/%ss/%s/links" % (kind, target["id"])
        check_error(s.request("POST", path, token=v.token), 404, "not_found")
        check_error(s.request("POST", path), 401, "unauthorized")
    check_error(s.request("POST", "/api/v1/images/x/links", token=u.token), 404, "not_found")

    first = share(s, u, "image", img)
    second = share(s, u, "album", album, {"expires_in": 3600})
    r = s.request("GET", "/api/v1/links", token=u.token)
    assert r.status == 200 and r.headers.get("cache-control") == "no-store", r
    assert r.json()["items"] == [second, first], r.json()
    assert s.request("GET", "/api/v1/links", token=v.token).json() == {"items": []}
    check_error(s.request("GET", "/api/v1/links"), 401, "unauthorized")

    check_error(s.request("DELETE", "/api/v1/links/" + first["id"], token=v.token), 404,
                "not_found")
    assert shared(s, first["token"]).status == 200
    r = s.request("DELETE", "/api/v1/links/" + first["id"], token=u.token)
    assert r.status == 204, r
    check_error(shared(s, first["token"]), 404, "not_found")
    check_error(s.request("DELETE", "/api/v1/links/" + first["id"], token=u.token), 404,
                "not_found")
    check_error(s.request("DELETE", "/api/v1/links/abc", token=u.token), 404, "not_found")
    assert s.request("GET", "/api/v1/links", token=u.token).json()["items"] == [second]


def test_revoked_link_stops_serving_bytes():
    s = srv()
    u = s.new_user("lnkb")
    img = s.upload_ok(u, lib.unique_png())
    link = share(s, u, "image", img)
    assert media(s, img["id"], "share=" + link["token"]).status == 200
    assert s.request("DELETE", "/api/v1/links/" + link["id"], token=u.token).status == 204
    check_error(media(s, img["id"], "share=" + link["token"]), 404, "not_found")
    check_error(media(s, img["id"], "p=thumb&share=" + link["token"]), 404, "not_found")


def test_album_link_opens_the_album_and_only_its_images():
    s = srv()
    u = s.new_user("lnka")
    inside = [s.upload_ok(u, lib.unique_png()) for _ in range(3)]
    outside = s.upload_ok(u, lib.unique_png())
    album = s.json("POST", "/api/v1/albums", {"title": "Trip", "description": "d"},
                   token=u.token).json()
    r = s.json("POST", "/api/v1/albums/%s/images" % album["id"], {"ids": [i["id"] for i in inside]},
               token=u.token)
    assert r.status == 200, r
    link = share(s, u, "album", album, {"expires_in": 3600})
    check_link(s, link, "album", album, expires=True)
    token = link["token"]

    r = shared(s, token, "?limit=2")
    assert r.status == 200, r
    doc = r.json()
    assert doc["kind"] == "album" and doc["expires_at"] == link["expires_at"], doc
    a = doc["album"]
    assert (a["id"], a["title"], a["description"], a["image_count"]) == (
        album["id"], "Trip", "d", 3), a
    assert a["cover"]["id"] == inside[2]["id"], a
    assert a["cover"]["url"] == "/i/%s?share=%s" % (inside[2]["id"], token), a
    assert "gps" not in a["cover"], a
    items = doc["images"]["items"]
    assert [i["id"] for i in items] == [inside[2]["id"], inside[1]["id"]], items
    assert doc["images"]["next_cursor"] == inside[1]["id"], doc
    rest = shared(s, token, "?limit=2&cursor=" + doc["images"]["next_cursor"]).json()
    assert [i["id"] for i in rest["images"]["items"]] == [inside[0]["id"]], rest
    assert rest["images"]["next_cursor"] is None, rest
    for item in items + rest["images"]["items"]:
        assert item["url"] == "/i/%s?share=%s" % (item["id"], token), item
        assert "gps" not in item, item
        r = s.request("GET", item["url"])
        assert r.status == 200 and r.headers["cache-control"] == "private, max-age=300", r
    check_error(shared(s, token, "?limit=500"), 400, "invalid_parameter")

    # an image not in the album is refused with the album's token
    check_error(media(s, outside["id"], "share=" + token), 404, "not_found")
    # taking an image out of the album closes it to the link
    s.json("DELETE", "/api/v1/albums/%s/images" % album["id"], {"ids": [inside[0]["id"]]},
           token=u.token)
    check_error(media(s, inside[0]["id"], "share=" + token), 404, "not_found")
    assert media(s, inside[1]["id"], "w=64&share=" + token).status == 200
    # deleting the album ends the link
    assert s.request("DELETE", "/api/v1/albums/" + album["id"], token=u.token).status == 204
    check_error(shared(s, token), 404, "not_found")
    check_error(media(s, inside[1]["id"], "share=" + token), 404, "not_found")
    assert s.request("GET", "/api/v1/links", token=u.token).json()["items"] == []


def test_deleting_the_image_ends_its_links():
    s = srv()
    u = s.new_user("lnkd")
    img = s.upload_ok(u, lib.unique_png())
    link = share(s, u, "image", img)
    assert s.request("DELETE", "/api/v1/images/" + img["id"], token=u.token).status == 204
    check_error(shared(s, link["token"]), 404, "not_found")
    assert s.request("GET", "/api/v1/links", token=u.token).json()["items"] == []


def test_public_url_and_host():
    s = srv("--public-url", "https://photos.example/")
    u = s.new_user("lnkp")
    img = s.upload_ok(u, lib.unique_png())
    link = share(s, u, "image", img)
    assert link["url"] == "https://photos.example/s/" + link["token"], link
    plain = srv()
    u = plain.new_user("lnkh")
    img = plain.upload_ok(u, lib.unique_png())
    r = plain.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token,
                      headers={"Host": "kho.example:8443"})
    assert r.json()["url"] == "http://kho.example:8443/s/" + r.json()["token"], r
    r = plain.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token,
                      headers={"Host": "evil\"<x>"})
    assert r.json()["url"].startswith("http://127.0.0.1:"), r


def test_link_ceiling():
    s = srv()
    u = s.new_user("lnkc")
    img = s.upload_ok(u, lib.unique_png())
    errors = []

    def make():
        conn = s.conn()
        for _ in range(250):
            r = s.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token, conn=conn)
            if r.status != 201:
                errors.append(r)
        conn.close()

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[:3]
    r = s.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token)
    check_error(r, 409, "too_many_links")
    links = s.request("GET", "/api/v1/links", token=u.token).json()["items"]
    assert len(links) == 1000, len(links)
    assert s.request("DELETE", "/api/v1/links/" + links[0]["id"], token=u.token).status == 204
    assert s.request("POST", "/api/v1/images/%s/links" % img["id"], token=u.token).status == 201


def test_link_schemas_match_the_openapi_document():
    doc = oa.parse_subset(oa.load_spec())
    s = srv()
    u = s.new_user("lnkoa")
    img = s.upload_ok(u, lib.unique_png())
    album = s.json("POST", "/api/v1/albums", {"title": "t"}, token=u.token).json()
    s.json("POST", "/api/v1/albums/%s/images" % album["id"], {"ids": [img["id"]]}, token=u.token)
    path = "/api/v1/images/%s/links" % img["id"]
    link = oa.check_live(doc, "imagesLinkCreate", s.json("POST", path, {"expires_in": 600},
                                                         token=u.token), 201).json()
    oa.check_live(doc, "imagesLinkCreate", s.json("POST", path, {"expires_in": 1},
                                                  token=u.token), 400)
    oa.check_live(doc, "imagesLinkCreate", s.request("POST", "/api/v1/images/9/links",
                                                     token=u.token), 404)
    alink = oa.check_live(doc, "albumsLinkCreate", s.request(
        "POST", "/api/v1/albums/%s/links" % album["id"], token=u.token), 201).json()
    oa.check_live(doc, "linksList", s.request("GET", "/api/v1/links", token=u.token), 200)
    oa.check_live(doc, "sharedGet", shared(s, link["token"]), 200)
    oa.check_live(doc, "sharedGet", shared(s, alink["token"]), 200)
    oa.check_live(doc, "sharedGet", shared(s, mint(link["id"], 1)), 410)
    oa.check_live(doc, "mediaGet", media(s, img["id"], "share=" + mint(link["id"], 1)), 410)
    oa.check_live(doc, "mediaGet", media(s, img["id"], "share=" + link["token"]), 200)
    oa.check_live(doc, "linksDelete", s.request("DELETE", "/api/v1/links/" + link["id"],
                                                token=u.token), 204)
    oa.check_live(doc, "linksDelete", s.request("DELETE", "/api/v1/links/" + link["id"],
                                                token=u.token), 404)
    oa.check_live(doc, "sharedGet", shared(s, link["token"]), 404)
