"""The sharded PostgreSQL metadata store against two real servers it starts itself (tests/svc/pg.sh):
users land on both, and with one server stopped only the requests that need it answer 503 (its
users; /readyz) while the other server's users carry on, until it is back and all recover with
no restart of kho. A session lives on its user's shard, which its token names, so no other
server is needed to use it. Runs in the default run only: a --db in KHO_E2E_ARGS would replace its own."""

import hashlib

import lib
from lib import SHARDS, pg, server_of_id


def hash_server(token, servers=2):
    """The server a session was placed on by its token's hash, before tokens named a shard."""
    shard = int(hashlib.sha256(token.encode()).hexdigest()[:3], 16)
    return shard * servers // SHARDS


def user_on(s, server, hashed_to=None):
    """A logged-in user whose rows are on server; with hashed_to, one whose token's hash would
    have put the session on that server."""
    while True:
        u = s.new_user("sh")
        if server_of_id(u.id) != server:
            continue
        for _ in range(50):
            prefix, _, secret = u.token.partition(".")
            assert int(prefix, 16) == ((int(u.id) >> 10) & 8191) % SHARDS, u.token
            assert len(prefix) == 3 and len(secret) == 43, u.token
            if hashed_to is None or hash_server(u.token) == hashed_to:
                return u
            r = s.login(u.username)
            assert r.status == 201, r
            u.token = r.json()["token"]


def test_one_shard_down_fails_only_its_users():
    with lib.own_pg_servers("pg") as (states, urls):
        s = None
        try:
            s = lib.Server(["--db", ",".join(urls)])
            s.start()
            assert s.request("GET", "/readyz").status == 200
            a, b = user_on(s, 0), user_on(s, 1)
            a2 = user_on(s, 0, hashed_to=1)
            # the shard prefix is no secret but is hashed with it: another shard's is another token
            forged = "%03x.%s" % ((int(a2.token[:3], 16) + 1) % SHARDS, a2.token[4:])
            lib.check_error(s.request("GET", "/api/v1/images", token=forged), 401)
            lib.check_error(s.request("GET", "/api/v1/images", token="fff." + "A" * 42), 401)
            img_a = s.upload_ok(a, lib.unique_png())
            img_b = s.upload_ok(b, lib.unique_png())

            pg("stop", states[1])
            assert s.request("GET", "/readyz").status == 503
            assert s.request("GET", "/healthz").status == 200
            # server 0's user reads, lists and uploads as before
            assert s.request("GET", "/api/v1/images/" + img_a["id"], token=a.token).status == 200
            r = s.request("GET", "/api/v1/images?limit=50", token=a.token)
            assert r.status == 200 and [i["id"] for i in r.json()["items"]] == [img_a["id"]], r
            s.upload_ok(a, lib.unique_png())
            # so does one whose token hashes to server 1: the session is on the user's shard
            r = s.request("GET", "/api/v1/images?limit=50", token=a2.token)
            assert r.status == 200 and r.json()["items"] == [], r
            s.upload_ok(a2, lib.unique_png())
            r = s.login(a2.username)  # a login needs the user's server only
            assert r.status == 201, r
            assert s.request("DELETE", "/api/v1/sessions/current", token=a2.token).status == 204
            lib.check_error(s.request("GET", "/api/v1/images", token=a2.token), 401)
            # server 1's user gets a clear 503, never a 500 or a wrong 401/404
            r = s.request("GET", "/api/v1/images?limit=50", token=b.token)
            lib.check_error(r, 503, "unavailable")
            lib.check_error(s.request("GET", "/api/v1/images/" + img_b["id"], token=b.token), 503)

            pg("start", states[1])  # same port as before
            r = s.request("GET", "/api/v1/images?limit=50", token=b.token)
            assert r.status == 200 and [i["id"] for i in r.json()["items"]] == [img_b["id"]], r
            s.upload_ok(b, lib.unique_png())
            assert s.request("GET", "/readyz").status == 200
            assert s.stop() == 0
        finally:
            if s is not None:
                s.stop()
