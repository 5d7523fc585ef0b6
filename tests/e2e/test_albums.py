"""Albums: create, list, read, edit and delete; adding and removing images all or nothing; the
cover rules; what deleting an image does to its albums; the ceilings; and that other people's
albums are 404, as albums that do not exist."""

import threading

import lib
from lib import check_error, check_image
import test_openapi as oa


def srv():
    return lib.server()


def ids(items):
    return [i["id"] for i in items]


def create(s, u, title, **extra):
    r = s.json("POST", "/api/v1/albums", dict(title=title, **extra), token=u.token)
    assert r.status == 201, r
    return r.json()


def add(s, u, album, image_ids):
    return s.json("POST", "/api/v1/albums/%s/images" % album["id"], {"ids": image_ids},
                  token=u.token)


def remove(s, u, album, image_ids):
    return s.json("DELETE", "/api/v1/albums/%s/images" % album["id"], {"ids": image_ids},
                  token=u.token)


def get(s, u, album):
    r = s.request("GET", "/api/v1/albums/" + album["id"], token=u.token)
    assert r.status == 200, r
    return r.json()


def check_album(a, title=None, count=None, cover=None, cover_id=None):
    """Shape of an album object; cover is the expected cover image's id (or None)."""
    assert set(a) == {"id", "title", "description", "image_count", "cover", "cover_id",
                      "created_at", "updated_at"}, a
    assert lib.ID_RE.match(a["id"]) and lib.ISO_RE.match(a["created_at"]), a
    assert lib.ISO_RE.match(a["updated_at"]) and a["updated_at"] >= a["created_at"], a
    if title is not None:
        assert a["title"] == title, a
    if count is not None:
        assert a["image_count"] == count, a
    if cover is None:
        assert a["cover"] is None, a
    else:
        check_image(a["cover"])
        assert a["cover"]["id"] == cover, "cover %s, expected %s" % (a["cover"]["id"], cover)
        assert "gps" in a["cover"], "the owner's view of the cover lacks gps"
    assert a["cover_id"] == cover_id, a


def test_create_get_list_edit_delete():
    s = srv()
    u = s.new_user("alb")
    r = s.json("POST", "/api/v1/albums", {"title": "Z\u00fcrich \u2603", "description":
                                          "two\nlines\tand a tab"}, token=u.token)
    assert r.status == 201, r
    a = r.json()
    assert r.headers.get("location") == "/api/v1/albums/" + a["id"], r
    check_album(a, title="Z\u00fcrich \u2603", count=0)
    assert a["description"] == "two\nlines\tand a tab", a
    assert get(s, u, a) == a
    b = create(s, u, "second")
    assert b["description"] == "", b

    page = s.request("GET", "/api/v1/albums?limit=1", token=u.token)
    assert page.status == 200 and page.headers.get("cache-control") == "private, no-cache", page
    doc = page.json()
    assert ids(doc["items"]) == [b["id"]] and doc["next_cursor"] == b["id"], doc
    assert ids(s.list_all("/api/v1/albums", token=u.token, limit=1)) == [b["id"], a["id"]]

    r = s.json("PATCH", "/api/v1/albums/" + a["id"], {"title": "renamed"}, token=u.token)
    assert r.status == 200, r
    edited = r.json()
    check_album(edited, title="renamed", count=0)
    assert edited["description"] == a["description"] and edited["updated_at"] >= a["updated_at"]
    r = s.json("PATCH", "/api/v1/albums/" + a["id"], {"description": ""}, token=u.token)
    assert r.status == 200 and r.json()["description"] == "" and r.json()["title"] == "renamed"

    r = s.request("DELETE", "/api/v1/albums/" + a["id"], token=u.token)
    assert r.status == 204, r
    check_error(s.request("GET", "/api/v1/albums/" + a["id"], token=u.token), 404, "not_found")
    check_error(s.request("DELETE", "/api/v1/albums/" + a["id"], token=u.token), 404,
                "not_found")
    assert ids(s.list_all("/api/v1/albums", token=u.token)) == [b["id"]]


def test_invalid_fields():
    s = srv()
    u = s.new_user("albv")
    a = create(s, u, "ok")
    bad = [{}, {"title": ""}, {"title": "x" * 201}, {"title": 5}, {"title": "a\u0001b"},
           {"title": "t", "description": "d" * 2001}, {"title": "t", "description": None},
           {"title": "t", "cover_id": None}, {"title": "t", "colour": "red"}]
    for body in bad:
        r = s.json("POST", "/api/v1/albums", body, token=u.token)
        check_error(r, 400, "invalid_parameter")
    check_error(s.request("POST", "/api/v1/albums", body=b"[1]", token=u.token,
                          headers={"Content-Type": "application/json"}), 400)
    assert create(s, u, "x" * 200)["title"] == "x" * 200
    assert create(s, u, "\u00e9" * 100)["title"] == "\u00e9" * 100  # 200 bytes
    r = s.json("POST", "/api/v1/albums", {"title": "\u00e9" * 101}, token=u.token)
    check_error(r, 400, "invalid_parameter")
    for body in ({"title": ""}, {"cover_id": "abc"}, {"cover_id": 5}, {"owner": "me"}):
        r = s.json("PATCH", "/api/v1/albums/" + a["id"], body, token=u.token)
        check_error(r, 400, "invalid_parameter")
    for body in ({}, {"ids": []}, {"ids": "1"}, {"ids": [1]}, {"ids": ["x"]},
                 {"ids": [str(i + 1) for i in range(201)]}, {"ids": ["1"], "more": 1}):
        for method in ("POST", "DELETE"):
            r = s.json(method, "/api/v1/albums/%s/images" % a["id"], body, token=u.token)
            check_error(r, 400, "invalid_parameter")


def test_login_needed_and_others_albums_are_404():
    s = srv()
    u, v = s.new_user("albo"), s.new_user("albp")
    a = create(s, u, "mine")
    img = s.upload_ok(u, lib.unique_png())
    theirs = s.upload_ok(v, lib.unique_png(), query={"visibility": "public"})
    assert add(s, u, a, [img["id"]]).status == 200
    base = "/api/v1/albums/" + a["id"]
    calls = [("GET", base, None), ("PATCH", base, {"title": "stolen"}), ("DELETE", base, None),
             ("GET", base + "/images", None), ("POST", base + "/images", {"ids": [theirs["id"]]}),
             ("DELETE", base + "/images", {"ids": [img["id"]]}), ("POST", base + "/links", {})]
    for method, path, body in calls:
        check_error(s.json(method, path, body, token=v.token), 404, "not_found")
        check_error(s.json(method, path, body), 401, "unauthorized")
    for path in ("/api/v1/albums/123", "/api/v1/albums/abc", "/api/v1/albums/0"):
        check_error(s.request("GET", path, token=u.token), 404, "not_found")
    check_error(s.request("GET", "/api/v1/albums"), 401, "unauthorized")
    assert s.list_all("/api/v1/albums", token=v.token) == []
    # nothing changed
    check_album(get(s, u, a), title="mine", count=1, cover=img["id"])


def test_add_is_all_or_nothing_and_pages_newest_first():
    s = srv()
    u, v = s.new_user("alba"), s.new_user("albb")
    a = create(s, u, "trip")
    mine = [s.upload_ok(u, lib.unique_png(), query={"visibility": vis})
            for vis in ("private", "unlisted", "public", "private")]
    theirs = s.upload_ok(v, lib.unique_png(), query={"visibility": "public"})
    # someone else's image, or one that does not exist: named, and nothing is added
    for stranger in (theirs["id"], "999"):
        r = add(s, u, a, [mine[0]["id"], stranger, mine[1]["id"]])
        err = check_error(r, 404, "not_found")
        assert stranger in err["message"], err
        check_album(get(s, u, a), count=0)
    r = add(s, u, a, [mine[0]["id"], mine[2]["id"], mine[1]["id"], mine[0]["id"]])
    assert r.status == 200, r
    check_album(r.json(), count=3, cover=mine[2]["id"])
    r = add(s, u, a, [mine[1]["id"], mine[3]["id"]])  # one already there
    assert r.status == 200, r
    check_album(r.json(), count=4, cover=mine[3]["id"])
    newest_first = ids(reversed(mine))
    page = s.request("GET", "/api/v1/albums/%s/images?limit=3" % a["id"], token=u.token)
    assert page.status == 200, page
    doc = page.json()
    assert ids(doc["items"]) == newest_first[:3] and doc["next_cursor"] == newest_first[2], doc
    for item in doc["items"]:
        check_image(item, owner=u)
        assert "gps" in item, item
    items = s.list_all("/api/v1/albums/%s/images" % a["id"], token=u.token, limit=1)
    assert ids(items) == newest_first, ids(items)
    check_error(s.request("GET", "/api/v1/albums/%s/images?limit=0" % a["id"], token=u.token),
                400, "invalid_parameter")
    check_error(s.request("GET", "/api/v1/albums/%s/images?cursor=x" % a["id"], token=u.token),
                400, "invalid_parameter")
    # an image may be in several albums
    b = create(s, u, "other")
    assert add(s, u, b, [mine[0]["id"]]).json()["image_count"] == 1

    r = remove(s, u, a, [mine[3]["id"], mine[0]["id"], theirs["id"], "999"])
    assert r.status == 200, r
    check_album(r.json(), count=2, cover=mine[2]["id"])
    assert ids(s.list_all("/api/v1/albums/%s/images" % a["id"], token=u.token)) == [
        mine[2]["id"], mine[1]["id"]]
    check_album(get(s, u, b), count=1, cover=mine[0]["id"])
    # the images are still there
    assert s.request("GET", "/api/v1/images/" + mine[3]["id"], token=u.token).status == 200


def test_cover_rules():
    s = srv()
    u = s.new_user("albc")
    a = create(s, u, "covers")
    imgs = [s.upload_ok(u, lib.unique_png()) for _ in range(3)]
    outside = s.upload_ok(u, lib.unique_png())
    check_album(add(s, u, a, ids(imgs)).json(), count=3, cover=imgs[2]["id"])
    path = "/api/v1/albums/" + a["id"]
    err = check_error(s.json("PATCH", path, {"cover_id": outside["id"]}, token=u.token), 400,
                      "invalid_parameter")
    assert outside["id"] in err["message"], err
    r = s.json("PATCH", path, {"cover_id": imgs[0]["id"]}, token=u.token)
    assert r.status == 200, r
    check_album(r.json(), count=3, cover=imgs[0]["id"], cover_id=imgs[0]["id"])
    # a newer image does not displace a chosen cover
    newer = s.upload_ok(u, lib.unique_png())
    check_album(add(s, u, a, [newer["id"]]).json(), count=4, cover=imgs[0]["id"],
                cover_id=imgs[0]["id"])
    r = s.json("PATCH", path, {"cover_id": None}, token=u.token)
    check_album(r.json(), count=4, cover=newer["id"])
    # taking the cover out of the album clears it
    s.json("PATCH", path, {"cover_id": imgs[1]["id"]}, token=u.token)
    check_album(remove(s, u, a, [imgs[1]["id"]]).json(), count=3, cover=newer["id"])


def test_deleting_an_image_updates_its_albums():
    s = srv()
    u = s.new_user("albd")
    a, b = create(s, u, "one"), create(s, u, "two")
    imgs = [s.upload_ok(u, lib.unique_png()) for _ in range(2)]
    add(s, u, a, ids(imgs))
    add(s, u, b, [imgs[0]["id"]])
    s.json("PATCH", "/api/v1/albums/" + a["id"], {"cover_id": imgs[0]["id"]}, token=u.token)
    r = s.request("DELETE", "/api/v1/images/" + imgs[0]["id"], token=u.token)
    assert r.status == 204, r
    check_album(get(s, u, a), count=1, cover=imgs[1]["id"])
    check_album(get(s, u, b), count=0)
    assert ids(s.list_all("/api/v1/albums/%s/images" % a["id"], token=u.token)) == [
        imgs[1]["id"]]
    # deleting an album keeps its images
    assert s.request("DELETE", "/api/v1/albums/" + a["id"], token=u.token).status == 204
    assert s.request("GET", "/api/v1/images/" + imgs[1]["id"], token=u.token).status == 200


def test_album_ceiling():
    s = srv()
    u = s.new_user("albm")
    errors = []

    def make(k):
        conn = s.conn()
        for i in range(250):
            r = s.json("POST", "/api/v1/albums", {"title": "a%d-%d" % (k, i)}, token=u.token,
                       conn=conn)
            if r.status != 201:
                errors.append(r)
        conn.close()

    threads = [threading.Thread(target=make, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[:3]
    err = check_error(s.json("POST", "/api/v1/albums", {"title": "one more"}, token=u.token), 409,
                      "too_many_albums")
    assert "1000" in err["message"], err
    assert len(s.list_all("/api/v1/albums", token=u.token)) == 1000
    # another user is not affected
    create(s, s.new_user("albn"), "fine")


def test_album_schemas_match_the_openapi_document():
    doc = oa.parse_subset(oa.load_spec())
    s = srv()
    u = s.new_user("albs")
    img = s.upload_ok(u, lib.unique_png())
    a = oa.check_live(doc, "albumsCreate", s.json("POST", "/api/v1/albums", {"title": "t"},
                                                  token=u.token), 201).json()
    path = "/api/v1/albums/" + a["id"]
    oa.check_live(doc, "albumsCreate", s.json("POST", "/api/v1/albums", {}, token=u.token), 400)
    oa.check_live(doc, "albumsAddImages", add(s, u, a, [img["id"]]), 200)
    oa.check_live(doc, "albumsAddImages", add(s, u, a, ["999"]), 404)
    oa.check_live(doc, "albumsList", s.request("GET", "/api/v1/albums", token=u.token), 200)
    oa.check_live(doc, "albumsGet", s.request("GET", path, token=u.token), 200)
    oa.check_live(doc, "albumsImages", s.request("GET", path + "/images", token=u.token), 200)
    oa.check_live(doc, "albumsPatch", s.json("PATCH", path, {"cover_id": img["id"]},
                                             token=u.token), 200)
    oa.check_live(doc, "albumsRemoveImages", remove(s, u, a, [img["id"]]), 200)
    oa.check_live(doc, "albumsDelete", s.request("DELETE", path, token=u.token), 204)
    oa.check_live(doc, "albumsGet", s.request("GET", path, token=u.token), 404)
