"""API keys against a real server: created with a login session and shown once, listed without
the key, scoped (read allows GET and HEAD only), revocable, unable to manage keys or log out,
stored only as a hash; and `kho key` from the command line."""

import os
import re
import sqlite3
import subprocess
import tempfile
import time

import lib

KEY_RE = re.compile(r"^kho_[0-9a-f]{64}$")
KEY_FIELDS = {"id", "name", "scope", "prefix", "created_at", "last_used_at"}


def create(s, user, name="script", scope="read-write"):
    r = s.json("POST", "/api/v1/keys", {"name": name, "scope": scope}, token=user.token)
    assert r.status == 201, r
    return r.json()


def last_used(s, user):
    """The newest key's last_used_at once the background write has landed (within 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        listed = s.request("GET", "/api/v1/keys", token=user.token).json()["items"][0]
        if listed["last_used_at"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lib.ISO_RE.match(listed["last_used_at"] or ""), listed
    return listed["last_used_at"]


def check_key(k, name, scope):
    assert lib.ID_RE.match(k["id"]) and lib.ISO_RE.match(k["created_at"]), k
    assert k["name"] == name and k["scope"] == scope, k
    assert re.match(r"^kho_[0-9a-f]{8}$", k["prefix"]), k


def test_keys_create_shows_the_key_once_and_list_never():
    s = lib.server()
    u = s.new_user("key")
    r = s.json("POST", "/api/v1/keys", {"name": "laptop", "scope": "read"}, token=u.token)
    assert r.status == 201, r
    assert r.headers.get("cache-control") == "no-store", r
    k = r.json()
    assert set(k) == KEY_FIELDS | {"key"}, k
    check_key(k, "laptop", "read")
    assert KEY_RE.match(k["key"]) and k["prefix"] == k["key"][:12], k
    assert k["last_used_at"] is None, k
    k2 = create(s, u, "ci \u00e9t\u00e9", "read-write")
    assert k2["key"] != k["key"]

    r = s.request("GET", "/api/v1/keys", token=u.token)
    assert r.status == 200, r
    items = r.json()["items"]
    assert [i["id"] for i in items] == [k2["id"], k["id"]], items  # newest first
    assert all(set(i) == KEY_FIELDS for i in items), items
    check_key(items[0], "ci \u00e9t\u00e9", "read-write")
    check_key(items[1], "laptop", "read")
    for secret in (k["key"], k2["key"], k["key"][4:], k2["key"][4:]):
        assert secret.encode() not in r.body, "a listing shows a key"
    other = s.new_user("key")
    assert s.request("GET", "/api/v1/keys", token=other.token).json() == {"items": []}


def test_keys_create_validates():
    s = lib.server()
    u = s.new_user("key")
    for body in ({"name": "x"}, {"scope": "read"}, {"name": "", "scope": "read"},
                 {"name": "x" * 65, "scope": "read"}, {"name": "tab\there", "scope": "read"},
                 {"name": 5, "scope": "read"}, {"name": "x", "scope": "write"},
                 {"name": "x", "scope": "read", "expires": 1}):
        lib.check_error(s.json("POST", "/api/v1/keys", body, token=u.token), 400,
                        "invalid_parameter")
    lib.check_error(s.request("POST", "/api/v1/keys", body=b"[]", token=u.token,
                              headers={"Content-Type": "application/json"}), 400)
    create(s, u, "x" * 64)
    assert len(s.request("GET", "/api/v1/keys", token=u.token).json()["items"]) == 1
    lib.check_error(s.json("POST", "/api/v1/keys", {"name": "k", "scope": "read"}), 401,
                    "unauthorized")


def test_keys_read_scope_reads_only():
    s = lib.server()
    u = s.new_user("key")
    img = s.upload_ok(u, lib.unique_png())  # private
    key = create(s, u, "reader", "read")["key"]
    me = s.request("GET", "/api/v1/me", token=key)
    assert me.status == 200 and me.json()["username"] == u.username, me
    assert s.request("GET", "/api/v1/images", token=key).json()["items"][0]["id"] == img["id"]
    assert s.request("GET", "/api/v1/images/" + img["id"], token=key).status == 200
    assert s.request("GET", "/i/" + img["id"], token=key).status == 200
    assert s.request("HEAD", "/i/" + img["id"], token=key).status == 200

    path = "/api/v1/images/" + img["id"]
    refused = [
        s.request("POST", "/api/v1/images", body=lib.unique_png(),
                  headers={"Content-Type": "image/png"}, token=key),
        s.json("PATCH", path, {"title": "x"}, token=key),
        s.request("DELETE", path, token=key),
        s.json("PATCH", "/api/v1/me", {"watermark": None}, token=key),
    ]
    for r in refused:
        err = lib.check_error(r, 403, "insufficient_scope")
        assert "read" in err["message"], err
    assert s.request("GET", path, token=u.token).json()["title"] == ""
    assert len(s.list_all("/api/v1/images", token=u.token)) == 1


def test_keys_read_write_works_for_upload_and_records_its_use():
    s = lib.server()
    u = s.new_user("key")
    k = create(s, u, "uploader", "read-write")
    data = lib.unique_png()
    r = s.request("POST", "/api/v1/images", body=data, headers={"Content-Type": "image/png"},
                  token=k["key"])
    assert r.status == 201, r
    img = r.json()
    lib.check_image(img, data)
    assert img["owner"]["id"] == u.id
    path = "/api/v1/images/" + img["id"]
    r = s.json("PATCH", path, {"tags": ["a"]}, token=k["key"])
    assert r.status == 200 and r.json()["tags"] == ["a"], r
    # a bearer key needs no CSRF token, and a cookie cannot carry a key
    lib.check_error(s.request("GET", "/api/v1/me", cookie={"kho_session": k["key"]}), 401,
                    "unauthorized")
    assert s.request("DELETE", path, token=k["key"]).status == 204
    # the last use is written in the background, at most once an hour
    first = last_used(s, u)
    for _ in range(3):
        assert s.request("GET", "/api/v1/me", token=k["key"]).status == 200
    time.sleep(0.2)
    assert s.request("GET", "/api/v1/keys", token=u.token).json()["items"][0][
        "last_used_at"] == first, "last_used_at written more than once within the hour"


def test_keys_revoked_key_is_refused():
    s = lib.server()
    u = s.new_user("key")
    k = create(s, u)
    img = s.upload_ok(u, lib.unique_png(), query={"visibility": "private"})
    assert s.request("GET", "/api/v1/me", token=k["key"]).status == 200
    assert s.request("DELETE", "/api/v1/keys/" + k["id"], token=u.token).status == 204
    err = lib.check_error(s.request("GET", "/api/v1/me", token=k["key"]), 401, "unauthorized")
    assert "revoked" in err["message"], err
    # where a login is optional a revoked key counts as none
    lib.check_error(s.request("GET", "/api/v1/images/" + img["id"], token=k["key"]), 404)
    lib.check_error(s.request("DELETE", "/api/v1/keys/" + k["id"], token=u.token), 404,
                    "not_found")
    assert s.request("GET", "/api/v1/keys", token=u.token).json() == {"items": []}
    # a well-formed key that never existed
    lib.check_error(s.request("GET", "/api/v1/me", token="kho_" + "0" * 64), 401,
                    "unauthorized")
    lib.check_error(s.request("GET", "/api/v1/me", token="kho_" + "A" * 64), 401,
                    "unauthorized")


def test_keys_cannot_manage_keys_or_log_out():
    s = lib.server()
    u = s.new_user("key")
    k = create(s, u)
    for r in (s.json("POST", "/api/v1/keys", {"name": "more", "scope": "read"}, token=k["key"]),
              s.request("GET", "/api/v1/keys", token=k["key"]),
              s.request("DELETE", "/api/v1/keys/" + k["id"], token=k["key"]),
              s.request("DELETE", "/api/v1/sessions/current", token=k["key"])):
        err = lib.check_error(r, 403, "forbidden")
        assert "login session" in err["message"], err
    assert len(s.request("GET", "/api/v1/keys", token=u.token).json()["items"]) == 1
    assert s.request("GET", "/api/v1/me", token=u.token).status == 200
    assert s.request("GET", "/api/v1/me", token=k["key"]).status == 200


def test_keys_of_another_user_are_not_found():
    s = lib.server()
    a, b = s.new_user("key"), s.new_user("key")
    k = create(s, a)
    for bad in (k["id"], "1", "abc", "0"):
        lib.check_error(s.request("DELETE", "/api/v1/keys/" + bad, token=b.token), 404,
                        "not_found")
    assert s.request("GET", "/api/v1/me", token=k["key"]).json()["username"] == a.username
    assert [i["id"] for i in s.request("GET", "/api/v1/keys", token=a.token).json()[
        "items"]] == [k["id"]]


def test_keys_at_most_100_per_user():
    s = lib.server()
    u = s.new_user("key")
    ids = [create(s, u, "k%d" % i, "read")["id"] for i in range(100)]
    err = lib.check_error(s.json("POST", "/api/v1/keys", {"name": "one more", "scope": "read"},
                                 token=u.token), 409, "too_many_keys")
    assert "100" in err["message"], err
    assert len(s.request("GET", "/api/v1/keys", token=u.token).json()["items"]) == 100
    assert s.request("DELETE", "/api/v1/keys/" + ids[0], token=u.token).status == 204
    create(s, u, "room again")


def test_keys_database_holds_only_the_hash():
    lib.requires_sqlite("opens the database file to look for keys")
    s = lib.server()
    path = lib.sqlite_path(s.data)
    u = s.new_user("key")
    keys = [create(s, u, "k%d" % i)["key"] for i in range(3)]
    db = sqlite3.connect(path, timeout=10)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "api_keys" in tables, tables
        for t in tables:
            for row in db.execute('SELECT * FROM "%s"' % t):
                text = " ".join(str(v) for v in row)
                for key in keys:
                    assert key[4:] not in text, "table %s holds a key: %r" % (t, row)
        hashes = {r[0] for r in db.execute("SELECT key_hash FROM api_keys")}
    finally:
        db.close()
    assert {lib.sha256(k.encode()) for k in keys} <= hashes, hashes
    for name in (path, path + "-wal"):  # nor any raw page of the database or its log
        with open(name, "rb") as f:
            raw = f.read()
        assert not any(k[4:].encode() in raw for k in keys), "%s holds a key" % name


# ---------------------------------------------------------------------------------------------
# kho key


class Cli:
    """A client user with its own HOME (config file), logged in with a session token."""

    def __init__(self, s):
        self.s = s
        self.home = tempfile.mkdtemp(prefix="cli-", dir=lib.root_dir())
        self.env = dict(os.environ, HOME=self.home,
                        XDG_CONFIG_HOME=os.path.join(self.home, "config"),
                        XDG_STATE_HOME=os.path.join(self.home, "state"),
                        KHO_URL="http://127.0.0.1:%d" % s.port)
        self.env.pop("KHO_TOKEN", None)
        self.user = s.new_user("clikey")

    def run(self, *args, token=None):
        env = dict(self.env, KHO_TOKEN=token or self.user.token)
        r = subprocess.run([lib.BIN, "key"] + list(args), capture_output=True, env=env,
                           timeout=30)
        return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_cli_key_create_ls_rm():
    c = Cli(lib.server())
    code, out, err = c.run("create", "ci", "--scope", "read")
    assert code == 0, (code, out, err)
    assert len(out.splitlines()) == 1 and KEY_RE.match(out.strip()), out
    key = out.strip()
    code, out2, err = c.run("create", "uploads")
    assert code == 0 and KEY_RE.match(out2.strip()), (code, out2, err)
    listed = c.s.request("GET", "/api/v1/keys", token=c.user.token).json()["items"]
    assert [(i["name"], i["scope"]) for i in listed] == [("uploads", "read-write"),
                                                         ("ci", "read")], listed

    code, out, err = c.run("ls")
    assert code == 0, (code, out, err)
    rows = [ln.split("\t") for ln in out.splitlines()]
    assert [r[0] for r in rows] == [i["id"] for i in listed], out
    assert rows[1][1:3] == [key[:12], "read"] and rows[1][4] == "-" and rows[1][5] == "ci", rows
    assert key[4:] not in out, "ls shows a key"
    code, out, err = c.run("ls", "--json")
    assert code == 0 and [lib.json.loads(ln)["id"] for ln in out.splitlines()] == [
        i["id"] for i in listed], (code, out, err)

    # the key works as the client's token, but cannot manage keys
    r = subprocess.run([lib.BIN, "ls"], capture_output=True, env=dict(c.env, KHO_TOKEN=key),
                       timeout=30)
    assert r.returncode == 0, r
    code, out, err = c.run("ls", token=key)
    assert code == 3 and "login session" in err, (code, out, err)

    ci = listed[1]["id"]
    code, out, err = c.run("rm", ci)
    assert code == 0 and out.strip() == "revoked key %s" % ci, (code, out, err)
    code, out, err = c.run("rm", ci)
    assert code == 4 and err.startswith("kho: "), (code, out, err)
    assert c.s.request("GET", "/api/v1/me", token=key).status == 401


def test_cli_key_usage_errors():
    c = Cli(lib.server())
    for args in ([], ["ls", "x"], ["create"], ["create", "a", "b"], ["create", "a", "--scope",
                                                                       "all"],
                 ["rm"], ["rm", "12ab"], ["ls", "--scope", "read"], ["frob"]):
        code, out, err = c.run(*args)
        assert code == 2 and out == "" and err, (args, code, out, err)
    code, out, err = c.run("ls", token="not-a-token")
    assert code == 3, (code, out, err)
    code, out, err = c.run("--help")
    assert code == 0 and out.startswith("usage: kho key"), (code, out, err)


def test_keys_match_the_openapi_schemas():
    import test_openapi as openapi  # noqa: PLC0415 - its schema checker, not its tests
    doc = openapi.parse_subset(openapi.load_spec())
    s = lib.server()
    u = s.new_user("keyoa")
    made = openapi.check_live(doc, "keysCreate", s.json("POST", "/api/v1/keys", {
        "name": "oa", "scope": "read"}, token=u.token), 201).json()
    openapi.check_live(doc, "keysCreate", s.json("POST", "/api/v1/keys", {"name": ""},
                                                 token=u.token), 400)
    openapi.check_live(doc, "keysCreate", s.json("POST", "/api/v1/keys", {
        "name": "x", "scope": "read"}, token=made["key"]), 403)
    assert s.request("GET", "/api/v1/me", token=made["key"]).status == 200
    last_used(s, u)  # so that last_used_at is a time
    openapi.check_live(doc, "keysList", s.request("GET", "/api/v1/keys", token=u.token), 200)
    openapi.check_live(doc, "keysList", s.request("GET", "/api/v1/keys"), 401)
    r = s.request("POST", "/api/v1/images", body=lib.unique_png(), token=made["key"],
                  headers={"Content-Type": "image/png"})
    lib.check_error(openapi.check_live(doc, "imagesUpload", r, 403), 403, "insufficient_scope")
    openapi.check_live(doc, "sessionsDelete", s.request("DELETE", "/api/v1/sessions/current",
                                                        token=made["key"]), 403)
    openapi.check_live(doc, "keysDelete", s.request("DELETE", "/api/v1/keys/" + made["id"],
                                                    token=u.token), 204)
    openapi.check_live(doc, "keysDelete", s.request("DELETE", "/api/v1/keys/" + made["id"],
                                                    token=u.token), 404)
