"""`kho shard move` against two real PostgreSQL servers it starts itself (tests/svc/pg.sh): a
user's shard with images, an album, a share link, an API key and a login session moves to the
other server; kho restarted with the printed --shard-map reads and writes all of it under the
same ids, and --delete-source then empties the old server's copy. Runs in the default run only:
a --db in KHO_E2E_ARGS would replace its own."""

import subprocess

import lib
from lib import server_of_id, shard_of


def user_on(s, server):
    """A logged-in user whose shard the default map puts on server (of 2)."""
    while True:
        u = s.new_user("mv")
        if server_of_id(u.id) == server:
            return u


def kho(*args):
    return subprocess.run([lib.BIN] + list(args), capture_output=True, timeout=120, text=True)


def ids(s, token, path="/api/v1/images?limit=50"):
    r = s.request("GET", path, token=token)
    assert r.status == 200, r
    return sorted(i["id"] for i in r.json()["items"])


def test_move_a_shard_and_back_its_rows_out():
    with lib.own_pg_servers("mv") as (states, url_list):
        urls = ",".join(url_list)
        s = None
        try:
            s = lib.Server(["--db", urls])
            s.start()
            u, other = user_on(s, 0), user_on(s, 0)
            while shard_of(other.id) == shard_of(u.id):
                other = user_on(s, 0)
            shard = shard_of(u.id)
            imgs = [s.upload_ok(u, lib.unique_png()) for _ in range(2)]
            r = s.json("PATCH", "/api/v1/images/" + imgs[0]["id"], {"tags": ["sea", "sky"]},
                       token=u.token)
            assert r.status == 200, r
            album = s.json("POST", "/api/v1/albums", {"title": "trip"}, token=u.token).json()
            r = s.json("POST", "/api/v1/albums/%s/images" % album["id"],
                       {"ids": [i["id"] for i in imgs]}, token=u.token)
            assert r.status == 200 and r.json()["image_count"] == 2, r
            link = s.json("POST", "/api/v1/images/%s/links" % imgs[1]["id"], {},
                          token=u.token).json()
            key = s.json("POST", "/api/v1/keys", {"name": "cron", "scope": "read-write"},
                         token=u.token).json()["key"]
            other_img = s.upload_ok(other, lib.unique_png())
            before = ids(s, u.token)
            assert s.stop() == 0

            # copy the shard to server 1; the map to use comes out on stdout
            r = kho("shard", "move", str(shard), "--to", "1", "--db", urls)
            assert r.returncode == 0, r.stderr
            new_map = r.stdout.strip()
            assert new_map.count("=1") >= 2 and ("%d=1" % shard) in new_map, new_map
            assert "users" in r.stderr and "album_images" in r.stderr, r.stderr
            check = r.stderr.split("--delete-source ")[1].split()[0]
            assert len(check) == 16, r.stderr
            # a second copy finds the rows there and writes nothing
            again = kho("shard", "move", str(shard), "--to", "1", "--db", urls)
            assert again.returncode == 1, again
            # nothing to move where it already is, and no such server
            assert kho("shard", "move", str(shard), "--to", "0", "--db", urls).returncode == 2
            assert kho("shard", "move", str(shard), "--to", "2", "--db", urls).returncode == 2

            s.args = ["--db", urls, "--shard-map", new_map]
            s.start()
            # the same session, ids, album count, link and key, now served by server 1
            assert ids(s, u.token) == before
            r = s.request("GET", "/api/v1/images?tag=sea", token=u.token)
            assert [i["id"] for i in r.json()["items"]] == [imgs[0]["id"]], r
            r = s.request("GET", "/api/v1/albums/" + album["id"], token=u.token)
            assert r.status == 200 and r.json()["image_count"] == 2, r
            assert s.request("GET", "/api/v1/shared/" + link["token"]).status == 200
            assert ids(s, key) == before
            # and writable
            new = s.upload_ok(u, lib.unique_png())
            r = s.json("POST", "/api/v1/albums/%s/images" % album["id"], {"ids": [new["id"]]},
                       token=u.token)
            assert r.status == 200 and r.json()["image_count"] == 3, r
            assert s.request("GET", "/i/" + new["id"], token=u.token).status == 200
            # the other user of server 0 is where they were
            assert ids(s, other.token) == [other_img["id"]]
            assert s.stop() == 0

            # a wrong check deletes nothing; the right one empties the old copy
            bad = kho("shard", "move", str(shard), "--to", "1", "--db", urls,
                      "--delete-source", "0" * 16)
            assert bad.returncode == 1, bad
            r = kho("shard", "move", str(shard), "--to", "1", "--db", urls, "--delete-source",
                    check)
            assert r.returncode == 0, r.stderr
            assert "rows deleted from server 0" in r.stderr, r.stderr

            # the old map finds nothing of the user any more; the new one finds everything
            s.args = ["--db", urls]
            s.start()
            lib.check_error(s.request("GET", "/api/v1/images", token=u.token), 401)
            assert ids(s, other.token) == [other_img["id"]]
            assert s.stop() == 0
            s.args = ["--db", urls, "--shard-map", new_map]
            s.start()
            assert ids(s, u.token) == sorted(before + [new["id"]])
            assert s.stop() == 0
        finally:
            if s is not None:
                s.stop()
