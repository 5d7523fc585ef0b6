"""The image API: uploads (raw and multipart), dedup, metadata rules, get/patch/delete, listings,
explore and the visibility rules between owners, other users and anonymous clients."""

import urllib.parse

import lib
from lib import check_error, check_image


def srv():
    return lib.server()


def ids(items):
    return [i["id"] for i in items]


def param_error(r, name):
    err = check_error(r, 400, "invalid_parameter")
    assert name in err["message"].lower(), "message should name %r: %r" % (name, err)


def test_upload_raw_png_and_get():
    s = srv()
    u = s.new_user("img")
    data = lib.png(40, 30, seed=1)
    r = s.upload(u, data)
    assert r.status == 201, r
    assert r.headers.get("content-type", "").startswith("application/json"), r
    img = r.json()
    check_image(img, data, owner=u, fmt="png", size=(40, 30))
    assert img["visibility"] == "private" and img["tags"] == [], img
    r = s.request("GET", "/api/v1/images/" + img["id"], token=u.token)
    assert r.status == 200, r
    assert r.json() == img, "GET differs from the upload response:\n%r\n%r" % (r.json(), img)


def test_upload_each_format():
    s = srv()
    u = s.new_user("fmt")
    cases = [("image/jpeg", lib.jpeg(64, 48, seed=2), "jpeg", (64, 48)),
             ("image/webp", lib.webp(50, 20, seed=3), "webp", (50, 20)),
             ("image/gif", lib.gif(17, 33, seed=4), "gif", (17, 33)),
             ("image/png", lib.png(9, 70, alpha=True, seed=5), "png", (9, 70))]
    for ctype, data, fmt, size in cases:
        r = s.upload(u, data, ctype)
        assert r.status == 201, "%s: %r" % (fmt, r)
        check_image(r.json(), data, owner=u, fmt=fmt, size=size)


def test_sniffed_format_wins_over_declared_type():
    s = srv()
    u = s.new_user("sniff")
    cases = [("image/jpeg", lib.png(12, 12, seed=6), "png"),
             ("application/octet-stream", lib.jpeg(20, 10, seed=7), "jpeg"),
             ("image/gif", lib.webp(8, 8, seed=8), "webp"),
             ("image/png", lib.gif(6, 6, seed=9), "gif")]
    for ctype, data, fmt in cases:
        r = s.upload(u, data, ctype)
        assert r.status == 201, "%s declared as %s: %r" % (fmt, ctype, r)
        check_image(r.json(), data, fmt=fmt)


def test_upload_requires_auth():
    s = srv()
    check_error(s.upload(None, lib.unique_png()), 401, "unauthorized")
    check_error(s.request("POST", "/api/v1/images", body=lib.unique_png(), token="bogus",
                          headers={"Content-Type": "image/png"}), 401, "unauthorized")


def test_upload_query_metadata():
    s = srv()
    u = s.new_user("meta")
    data = lib.unique_png()
    r = s.upload(u, data, query={"title": "Z\u00fcrich \u2603 at night", "tags": "City, Snow ",
                                 "visibility": "public"})
    assert r.status == 201, r
    img = r.json()
    check_image(img, data, owner=u)
    assert img["title"] == "Z\u00fcrich \u2603 at night", img
    assert img["tags"] == ["city", "snow"], img
    assert img["visibility"] == "public", img


def test_upload_multipart():
    s = srv()
    u = s.new_user("mp")
    data = lib.jpeg(33, 22, seed=10)
    body, ctype = lib.multipart([("title", "holiday", None, None),
                                 ("file", data, "beach.jpg", "image/jpeg"),
                                 ("tags", "Sea,sun", None, None),
                                 ("visibility", "unlisted", None, None)])
    r = s.request("POST", "/api/v1/images", body=body, headers={"Content-Type": ctype},
                  token=u.token)
    assert r.status == 201, r
    img = r.json()
    check_image(img, data, owner=u, fmt="jpeg", size=(33, 22))
    assert (img["title"], img["tags"], img["visibility"]) == ("holiday", ["sea", "sun"],
                                                              "unlisted"), img
    # Only a file part: defaults apply; the part's declared type does not matter.
    data = lib.unique_png(15, 25)
    body, ctype = lib.multipart([("file", data, "x.bin", "application/octet-stream")])
    r = s.request("POST", "/api/v1/images", body=body, headers={"Content-Type": ctype},
                  token=u.token)
    assert r.status == 201, r
    img = r.json()
    check_image(img, data, owner=u, fmt="png", size=(15, 25))
    assert img["visibility"] == "private" and img["tags"] == [], img
    r = s.request("GET", "/i/" + img["id"], token=u.token)
    assert r.status == 200 and r.body == data, r


def test_dedup_per_user():
    s = srv()
    a, b = s.new_user("dupa"), s.new_user("dupb")
    data = lib.unique_png()
    first = s.upload_ok(a, data)
    r = s.upload(a, data, query={"title": "again"})
    assert r.status == 200, "same bytes, same user: %r" % r
    assert r.json()["id"] == first["id"], r
    body, ctype = lib.multipart([("file", data, "same.png", "image/png")])
    r = s.request("POST", "/api/v1/images", body=body, headers={"Content-Type": ctype},
                  token=a.token)
    assert r.status == 200 and r.json()["id"] == first["id"], r
    other = s.upload_ok(b, data)
    assert other["id"] != first["id"] and other["owner"]["id"] == b.id, other
    me = s.request("GET", "/api/v1/me", token=a.token).json()
    assert me["image_count"] == 1 and me["bytes_used"] == len(data), me


def test_tags_normalised_and_limited():
    s = srv()
    u = s.new_user("tags")
    r = s.upload(u, lib.unique_png(), query={"tags": " Foo, bar ,FOO,baz,Bar"})
    assert r.status == 201 and r.json()["tags"] == ["foo", "bar", "baz"], r
    long_ok = "t" * 32
    twenty = ",".join("t%d" % i for i in range(20))
    for tags, want in ((long_ok, [long_ok]), (twenty, ["t%d" % i for i in range(20)]),
                       ("\u00fc" * 16, ["\u00fc" * 16])):
        r = s.upload(u, lib.unique_png(), query={"tags": tags})
        assert r.status == 201 and r.json()["tags"] == want, r
    for bad in ("t" * 33, ",".join("t%d" % i for i in range(21)), "ok,bad\x01tag",
                "\u00fc" * 17, "tab\there"):
        param_error(s.upload(u, lib.unique_png(), query={"tags": bad}), "tag")


def test_title_limit_in_bytes():
    s = srv()
    u = s.new_user("title")
    for good in ("t" * 200, "\u00e9" * 100):
        r = s.upload(u, lib.unique_png(), query={"title": good})
        assert r.status == 201 and r.json()["title"] == good, r
    for bad in ("t" * 201, "\u00e9" * 100 + "a"):
        param_error(s.upload(u, lib.unique_png(), query={"title": bad}), "title")
    body, ctype = lib.multipart([("file", lib.unique_png(), "a.png", "image/png"),
                                 ("title", b"bad \xff\xfe utf-8", None, None)])
    r = s.request("POST", "/api/v1/images", body=body, headers={"Content-Type": ctype},
                  token=u.token)
    param_error(r, "title")


def test_visibility_must_be_known():
    s = srv()
    u = s.new_user("vis")
    for bad in ("secret", "publicx", "Private "):
        param_error(s.upload(u, lib.unique_png(), query={"visibility": bad}), "visibility")
    img = s.upload_ok(u, lib.unique_png())
    param_error(s.json("PATCH", "/api/v1/images/" + img["id"], {"visibility": "everyone"},
                       token=u.token), "visibility")


def test_get_unknown_image():
    s = srv()
    u = s.new_user("unk")
    for path in ("/api/v1/images/999999999999", "/api/v1/images/0"):
        check_error(s.request("GET", path, token=u.token), 404, "not_found")
        check_error(s.request("GET", path), 404, "not_found")
    for path in ("/api/v1/images/abc", "/api/v1/images/-1", "/api/v1/images/1e3",
                 "/api/v1/images/99999999999999999999999"):
        r = s.request("GET", path, token=u.token)
        assert r.status in (400, 404), "%s: %r" % (path, r)
        check_error(r, r.status, "invalid_parameter" if r.status == 400 else "not_found")
    check_error(s.request("GET", "/i/999999999999"), 404, "not_found")


def test_patch_updates_fields():
    s = srv()
    u = s.new_user("patch")
    img = s.upload_ok(u, lib.unique_png(), query={"title": "before", "tags": "a,b"})
    path = "/api/v1/images/" + img["id"]
    r = s.json("PATCH", path, {"title": "after"}, token=u.token)
    assert r.status == 200, r
    got = r.json()
    check_image(got, owner=u)
    assert (got["title"], got["tags"], got["visibility"]) == ("after", ["a", "b"], "private"), got
    r = s.json("PATCH", path, {"tags": [" X ", "y", "x"], "visibility": "unlisted"},
               token=u.token)
    assert r.status == 200, r
    got = r.json()
    assert (got["title"], got["tags"], got["visibility"]) == ("after", ["x", "y"], "unlisted"), got
    for key in ("id", "sha256", "bytes", "width", "height", "format", "created_at", "url"):
        assert got[key] == img[key], "PATCH changed %r: %r" % (key, got)
    assert s.request("GET", path, token=u.token).json() == got
    r = s.json("PATCH", path, {"tags": []}, token=u.token)
    assert r.status == 200 and r.json()["tags"] == [], r


def test_patch_rejects_bad_input():
    s = srv()
    u = s.new_user("patchbad")
    img = s.upload_ok(u, lib.unique_png(), query={"title": "keep"})
    path = "/api/v1/images/" + img["id"]
    hdr = {"Content-Type": "application/json"}
    check_error(s.request("PATCH", path, body=b"{\"title\": ", headers=hdr, token=u.token), 400,
                "invalid_json")
    check_error(s.request("PATCH", path, body=b"", headers=hdr, token=u.token), 400, "empty_body")
    for body in ({"title": 5}, {"tags": "a" * 33}, {"visibility": 3}, {"tags": [1, 2]}):
        check_error(s.json("PATCH", path, body, token=u.token), 400,
                    ("invalid_request", "invalid_parameter"))
    check_error(s.json("PATCH", path, [], token=u.token), 400, "invalid_request")
    param_error(s.json("PATCH", path, {"title": "t" * 201}, token=u.token), "title")
    param_error(s.json("PATCH", path, {"tags": ["t%d" % i for i in range(21)]}, token=u.token),
                "tag")
    check_error(s.json("PATCH", "/api/v1/images/999999999999", {"title": "x"}, token=u.token),
                404, "not_found")
    assert s.request("GET", path, token=u.token).json()["title"] == "keep"


def test_delete_image():
    s = srv()
    u = s.new_user("del")
    data = lib.unique_png()
    keep = s.upload_ok(u, lib.unique_png())
    img = s.upload_ok(u, data)
    path = "/api/v1/images/" + img["id"]
    r = s.request("DELETE", path, token=u.token)
    assert r.status == 204 and r.body == b"", r
    check_error(s.request("GET", path, token=u.token), 404, "not_found")
    check_error(s.request("GET", "/i/" + img["id"], token=u.token), 404, "not_found")
    check_error(s.request("DELETE", path, token=u.token), 404, "not_found")
    check_error(s.json("PATCH", path, {"title": "x"}, token=u.token), 404, "not_found")
    assert ids(s.list_all("/api/v1/images", token=u.token)) == [keep["id"]]
    me = s.request("GET", "/api/v1/me", token=u.token).json()
    assert me["image_count"] == 1 and me["bytes_used"] == keep["bytes"], me
    # The same bytes again are a new image, not a dedup hit on the deleted one.
    r = s.upload(u, data)
    assert r.status == 201 and r.json()["id"] != img["id"], r
    r = s.request("GET", "/i/" + r.json()["id"], token=u.token)
    assert r.status == 200 and r.body == data, r


def test_list_pagination_newest_first():
    s = srv()
    u = s.new_user("page")
    uploaded = [s.upload_ok(u, lib.unique_png(8, 8))["id"] for _ in range(7)]
    newest_first = uploaded[::-1]
    r = s.request("GET", "/api/v1/images", token=u.token)
    assert r.status == 200, r
    doc = r.json()
    assert ids(doc["items"]) == newest_first and doc["next_cursor"] is None, doc
    for item in doc["items"]:
        check_image(item, owner=u)
    got, cursor, pages = [], None, 0
    while True:
        q = "limit=3" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        r = s.request("GET", "/api/v1/images?" + q, token=u.token)
        assert r.status == 200, r
        doc = r.json()
        pages += 1
        got += ids(doc["items"])
        if pages == 1:
            # A new upload between pages must not shift the remaining pages.
            newer = s.upload_ok(u, lib.unique_png(8, 8))["id"]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, doc
        assert pages < 10, "pagination does not end"
    assert got == newest_first, "pages gave %r, expected %r" % (got, newest_first)
    assert pages == 3, pages
    assert ids(s.list_all("/api/v1/images", token=u.token))[0] == newer
    r = s.request("GET", "/api/v1/images?limit=200", token=u.token)
    assert r.status == 200 and len(r.json()["items"]) == 8, r


def test_list_default_limit_is_50():
    s = srv()
    u = s.new_user("deflim")
    for _ in range(51):
        s.upload_ok(u, lib.unique_png(4, 4))
    doc = s.request("GET", "/api/v1/images", token=u.token).json()
    assert len(doc["items"]) == 50 and isinstance(doc["next_cursor"], str), \
        "default page: %d items, next_cursor %r" % (len(doc["items"]), doc["next_cursor"])
    r = s.request("GET", "/api/v1/images?cursor=" + urllib.parse.quote(doc["next_cursor"]),
                  token=u.token)
    assert r.status == 200, r
    last = r.json()
    assert len(last["items"]) == 1 and last["next_cursor"] is None, last
    assert not set(ids(last["items"])) & set(ids(doc["items"]))


def test_list_parameter_errors():
    s = srv()
    u = s.new_user("lerr")
    for path in ("/api/v1/images", "/api/v1/explore"):
        for bad in ("0", "201", "-1", "abc", "1.5", "99999999999999999999"):
            param_error(s.request("GET", path + "?limit=" + bad, token=u.token), "limit")
        for bad in ("garbage", "%00%01", "A" * 300, "!!"):
            param_error(s.request("GET", path + "?cursor=" + bad, token=u.token), "cursor")


def test_list_tag_filter():
    s = srv()
    u = s.new_user("tagf")
    cats = [s.upload_ok(u, lib.unique_png(), query={"tags": "cat,pet"})["id"] for _ in range(3)]
    s.upload_ok(u, lib.unique_png(), query={"tags": "dog,pet"})
    s.upload_ok(u, lib.unique_png())
    assert ids(s.list_all("/api/v1/images?tag=cat", token=u.token, limit=1)) == cats[::-1]
    assert len(s.list_all("/api/v1/images?tag=pet", token=u.token)) == 4
    doc = s.request("GET", "/api/v1/images?tag=nothing", token=u.token).json()
    assert doc == {"items": [], "next_cursor": None}, doc


def test_list_is_per_owner_and_needs_auth():
    s = srv()
    a, b = s.new_user("owna"), s.new_user("ownb")
    mine = s.upload_ok(a, lib.unique_png(), query={"visibility": "public"})
    theirs = s.upload_ok(b, lib.unique_png(), query={"visibility": "public"})
    assert ids(s.list_all("/api/v1/images", token=a.token)) == [mine["id"]]
    assert ids(s.list_all("/api/v1/images", token=b.token)) == [theirs["id"]]
    check_error(s.request("GET", "/api/v1/images"), 401, "unauthorized")


def test_explore_lists_public_images_of_everyone():
    s = srv()
    a, b = s.new_user("expa"), s.new_user("expb")
    pa = s.upload_ok(a, lib.unique_png(), query={"visibility": "public"})
    ua = s.upload_ok(a, lib.unique_png(), query={"visibility": "unlisted"})
    xa = s.upload_ok(a, lib.unique_png())
    pb = s.upload_ok(b, lib.unique_png(), query={"visibility": "public"})
    items = s.list_all("/api/v1/explore", limit=2)
    seen = ids(items)
    assert len(seen) == len(set(seen)), "explore repeats items: %r" % seen
    assert pa["id"] in seen and pb["id"] in seen, seen
    assert ua["id"] not in seen and xa["id"] not in seen, seen
    assert seen.index(pb["id"]) < seen.index(pa["id"]), "explore is not newest first"
    for item in items:
        check_image(item)
        assert item["visibility"] == "public", item
    r = s.request("GET", "/api/v1/explore?limit=1", token=a.token)
    assert r.status == 200 and len(r.json()["items"]) == 1, r


def vis_setup(s, visibility):
    owner, other = s.new_user("own"), s.new_user("oth")
    img = s.upload_ok(owner, lib.unique_png(), query={"visibility": visibility})
    return owner, other, img


def test_private_image_is_invisible_to_others():
    s = srv()
    owner, other, img = vis_setup(s, "private")
    api, raw = "/api/v1/images/" + img["id"], "/i/" + img["id"]
    for token in (other.token, None):
        check_error(s.request("GET", api, token=token), 404, "not_found")
        check_error(s.request("GET", raw, token=token), 404, "not_found")
        assert s.request("HEAD", raw, token=token).status == 404
    check_error(s.json("PATCH", api, {"title": "x"}, token=other.token), 404, "not_found")
    check_error(s.request("DELETE", api, token=other.token), 404, "not_found")
    check_error(s.json("PATCH", api, {"title": "x"}), 401, "unauthorized")
    check_error(s.request("DELETE", api), 401, "unauthorized")
    assert img["id"] not in ids(s.list_all("/api/v1/explore"))
    assert img["id"] not in ids(s.list_all("/api/v1/images", token=other.token))
    r = s.request("GET", api, token=owner.token)
    assert r.status == 200 and r.json()["title"] == img["title"], r


def test_unlisted_image_readable_by_url_only():
    s = srv()
    owner, other, img = vis_setup(s, "unlisted")
    api, raw = "/api/v1/images/" + img["id"], "/i/" + img["id"]
    for token in (other.token, None):
        r = s.request("GET", api, token=token)
        assert r.status == 200 and r.json()["id"] == img["id"], r
        r = s.request("GET", raw, token=token)
        assert r.status == 200 and lib.sha256(r.body) == img["sha256"], r
    check_error(s.json("PATCH", api, {"title": "x"}, token=other.token), 403, "forbidden")
    check_error(s.request("DELETE", api, token=other.token), 403, "forbidden")
    check_error(s.json("PATCH", api, {"title": "x"}), 401, "unauthorized")
    check_error(s.request("DELETE", api), 401, "unauthorized")
    assert img["id"] not in ids(s.list_all("/api/v1/explore"))
    assert img["id"] not in ids(s.list_all("/api/v1/images", token=other.token))
    assert s.request("GET", api, token=owner.token).json()["title"] == img["title"]


def test_public_image_and_back_to_private():
    s = srv()
    owner, other, img = vis_setup(s, "public")
    api, raw = "/api/v1/images/" + img["id"], "/i/" + img["id"]
    assert img["id"] in ids(s.list_all("/api/v1/explore"))
    assert s.request("GET", raw).status == 200
    check_error(s.json("PATCH", api, {"visibility": "private"}, token=other.token), 403,
                "forbidden")
    check_error(s.request("DELETE", api, token=other.token), 403, "forbidden")
    r = s.json("PATCH", api, {"visibility": "private"}, token=owner.token)
    assert r.status == 200 and r.json()["visibility"] == "private", r
    assert img["id"] not in ids(s.list_all("/api/v1/explore"))
    check_error(s.request("GET", api, token=other.token), 404, "not_found")
    check_error(s.request("GET", raw), 404, "not_found")
    r = s.json("PATCH", api, {"visibility": "public"}, token=owner.token)
    assert r.status == 200 and img["id"] in ids(s.list_all("/api/v1/explore")), r
