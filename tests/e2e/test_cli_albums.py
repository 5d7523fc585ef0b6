"""The album and share commands of the client (kho album ..., kho share, kho upload --album)
against a real server: albums named by id or title, their output lines, share URLs that work
logged out, and the exit codes."""

import os
import shutil

import lib
from test_cli import Cli, image_dir


def lines(out):
    return [ln.split("\t") for ln in out.splitlines()]


def api_album(c, album_id):
    r = c.s.request("GET", "/api/v1/albums/" + album_id, token=c.token)
    assert r.status == 200, r
    return r.json()


def album_images(c, album_id):
    return [i["id"] for i in c.s.list_all("/api/v1/albums/%s/images" % album_id, token=c.token)]


def upload(c, data):
    r = c.s.request("POST", "/api/v1/images", body=data, headers={"Content-Type": "image/png"},
                    token=c.token)
    assert r.status == 201, r
    return r.json()


def token_of(url, s):
    prefix = "http://127.0.0.1:%d/s/" % s.port
    assert url.startswith(prefix), url
    return url[len(prefix):]


def test_cli_album_commands():
    c = Cli(lib.server())
    c.login()
    imgs = [upload(c, lib.unique_png()) for _ in range(3)]
    ids = [i["id"] for i in imgs]

    code, out, err = c.run("album", "create", "Summer 2026", "--description", "beach days")
    assert code == 0, (code, out, err)
    [[album_id, count, cover, title]] = lines(out)
    assert (count, cover, title) == ("0", "-", "Summer 2026"), out
    assert api_album(c, album_id)["description"] == "beach days"

    # named by title or by id
    code, out, err = c.run("album", "add", "Summer 2026", ids[0], ids[1])
    assert code == 0 and lines(out) == [[album_id, "2", "-", "Summer 2026"]], (code, out, err)
    code, out, err = c.run("album", "add", album_id, ids[2], ids[0])
    assert code == 0 and lines(out)[0][1] == "3", (code, out, err)
    code, out, err = c.run("album", "cover", "Summer 2026", ids[0])
    assert code == 0 and lines(out) == [[album_id, "3", ids[0], "Summer 2026"]], (code, out, err)
    code, out, err = c.run("album", "show", "Summer 2026")
    assert code == 0, (code, out, err)
    rows = lines(out)
    assert rows[0] == [album_id, "3", ids[0], "Summer 2026"], out
    assert [r[0] for r in rows[1:]] == [ids[2], ids[1], ids[0]], out
    assert all(r[1] == "png" and r[4] == "private" for r in rows[1:]), out
    code, out, err = c.run("album", "show", album_id, "--json")
    assert code == 0, (code, out, err)
    docs = [lib.json.loads(ln) for ln in out.splitlines()]
    assert docs[0]["id"] == album_id and [d["id"] for d in docs[1:]] == ids[::-1], out

    code, out, err = c.run("album", "remove", "Summer 2026", ids[0])
    assert code == 0 and lines(out) == [[album_id, "2", "-", "Summer 2026"]], (code, out, err)
    code, out, err = c.run("album", "rename", album_id, "Summer")
    assert code == 0 and lines(out)[0][3] == "Summer", (code, out, err)
    code, out, err = c.run("album", "create", "Winter")
    assert code == 0, (code, out, err)
    winter = lines(out)[0][0]
    code, out, err = c.run("album", "ls")
    assert code == 0 and lines(out) == [[winter, "0", "-", "Winter"],
                                        [album_id, "2", "-", "Summer"]], (code, out, err)
    code, out, err = c.run("album", "ls", "--json")
    assert code == 0 and [lib.json.loads(ln)["id"] for ln in out.splitlines()] == [
        winter, album_id], out

    # an album link opens the album logged out
    code, out, err = c.run("album", "share", "Summer", "--expires", "7d")
    assert code == 0, (code, out, err)
    token = token_of(out.strip(), c.s)
    r = c.s.request("GET", "/api/v1/shared/" + token)
    assert r.status == 200 and r.json()["album"]["id"] == album_id, r
    assert r.json()["expires_at"] is not None, r

    code, out, err = c.run("album", "delete", "Winter")
    assert code == 0 and out == "deleted %s\n" % winter, (code, out, err)
    code, out, err = c.run("album", "show", "Winter")
    assert code == 4 and "kho: no album 'Winter'" in err, (code, out, err)


def test_cli_share_image():
    c = Cli(lib.server())
    c.login()
    data = lib.unique_png()
    img = upload(c, data)
    code, out, err = c.run("share", img["id"])
    assert code == 0, (code, out, err)
    token = token_of(out.strip(), c.s)
    doc = c.s.request("GET", "/api/v1/shared/" + token).json()
    assert doc["kind"] == "image" and doc["expires_at"] is None, doc
    r = c.s.request("GET", doc["image"]["url"])
    assert r.status == 200 and r.body == data, r
    code, out, err = c.run("share", img["id"], "--expires", "3600")
    assert code == 0, (code, out, err)
    doc = c.s.request("GET", "/api/v1/shared/" + token_of(out.strip(), c.s)).json()
    assert doc["expires_at"] is not None, doc

    for bad in ("59", "10m0", "1y", "366d", "-5m", "", "m"):
        code, out, err = c.run("share", img["id"], "--expires", bad)
        assert code == 2 and "--expires" in err, (bad, code, out, err)
    code, out, err = c.run("share", "not-an-id")
    assert code == 2, (code, out, err)
    code, out, err = c.run("share", "123")
    assert code == 4 and err.startswith("kho: no image"), (code, out, err)
    code, out, err = c.run("share", img["id"], env={"KHO_TOKEN": "garbage"})
    assert code == 3, (code, out, err)


def test_cli_album_exit_codes():
    c = Cli(lib.server())
    c.login()
    for args in (("album",), ("album", "frobnicate"), ("album", "create"),
                 ("album", "add", "x"), ("album", "rename", "x"),
                 ("album", "ls", "--description", "d"), ("album", "show", "x", "--expires", "1d"),
                 ("album", "share", "x", "--expires", "soon"), ("album", "add", "x", "not-an-id")):
        code, out, err = c.run(*args)
        assert code == 2, (args, code, out, err)
    code, out, err = c.run("album", "show", "99999")
    assert code == 4 and "no album '99999'" in err, (code, out, err)
    code, out, err = c.run("album", "add", "nothing-called-this", "1")
    assert code == 4, (code, out, err)
    for _ in range(2):
        assert c.run("album", "create", "twice")[0] == 0
    code, out, err = c.run("album", "show", "twice")
    assert code == 2 and "several albums are titled 'twice'" in err, (code, out, err)
    code, out, err = c.run("album", "create", "mine")
    album_id = lines(out)[0][0]
    code, out, err = c.run("album", "add", "mine", "123")
    assert code == 4 and "no image '123'" in err, (code, out, err)
    assert api_album(c, album_id)["image_count"] == 0
    code, out, err = c.run("album", "ls", env={"KHO_TOKEN": "garbage"})
    assert code == 3, (code, out, err)
    # someone else's album is not found, by id or by title
    other = Cli(c.s)
    other.login()
    code, out, err = other.run("album", "show", album_id)
    assert code == 4, (code, out, err)
    code, out, err = other.run("album", "show", "mine")
    assert code == 4, (code, out, err)


def test_cli_upload_into_album():
    c = Cli(lib.server())
    c.login()
    d = image_dir(4)
    code, out, err = c.run("upload", d, "-j", "2", "--album", "Holiday")
    assert code == 0, (code, out, err)
    uploaded = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("uploaded ")]
    assert len(uploaded) == 4, out
    assert "4 images in album" in err, err
    [album] = c.s.list_all("/api/v1/albums", token=c.token)
    assert album["title"] == "Holiday" and album["image_count"] == 4, album
    assert sorted(album_images(c, album["id"])) == sorted(uploaded)

    # already-present images go into another album by id; a duplicate file counts once
    shutil.copy(os.path.join(d, "img01.png"), os.path.join(d, "copy.png"))
    code, out, err = c.run("album", "create", "Best")
    best = lines(out)[0][0]
    code, out, err = c.run("upload", d, "--album", best)
    assert code == 0 and "uploaded " not in out, (code, out, err)
    assert "4 images in album %s" % best in err, err
    assert sorted(album_images(c, best)) == sorted(uploaded)
    assert len(c.s.list_all("/api/v1/albums", token=c.token)) == 2

    # a new file joins the existing album by title
    with open(os.path.join(d, "new.png"), "wb") as f:
        f.write(lib.unique_png())
    code, out, err = c.run("upload", d, "--album", "Holiday")
    assert code == 0, (code, out, err)
    new_id = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("uploaded ")]
    assert len(new_id) == 1, out
    assert sorted(album_images(c, album["id"])) == sorted(uploaded + new_id)
    assert len(c.s.list_all("/api/v1/albums", token=c.token)) == 2
