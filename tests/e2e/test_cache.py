"""The record cache against a real server: every change to what a cached record says (visibility,
title, deletion, the owner's watermark, the placeholder) and every revoked login (logout, a
revoked API key, an expired session) shows at once on the node that made it, even with copies
kept for a minute; and /metrics counts the hits."""

import time

import lib

# Copies live for a minute here, so a missing invalidation fails the tests instead of hiding
# behind the default second.
LONG = ("--cache-ttl-ms", "60000")


def srv():
    return lib.server(*LONG)


def get_twice(s, path, token=None, status=200):
    """GET path twice (the second is served from the cache) and return the last answer."""
    r = None
    for _ in range(2):
        r = s.request("GET", path, token=token)
        assert r.status == status, r
    return r


def cache_hits(s):
    return lib.metric_sum(s.metrics(), "kho_cache_hits_total")


def test_visibility_change_is_seen_at_once():
    s = srv()
    ana = s.new_user("cvis")
    img = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public", "title": "old"})
    iid = img["id"]
    get_twice(s, "/i/" + iid)
    assert get_twice(s, "/api/v1/images/" + iid).json()["title"] == "old"

    r = s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "private", "title": "new"},
               token=ana.token)
    assert r.status == 200, r
    # a second, anonymous reader: no waiting, no stale copy
    lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
    lib.check_error(s.request("GET", "/api/v1/images/" + iid), 404, "not_found")
    # the owner sees the new record
    assert s.request("GET", "/api/v1/images/" + iid, token=ana.token).json()["title"] == "new"

    assert s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "unlisted"},
                  token=ana.token).status == 200
    assert s.request("GET", "/i/" + iid).status == 200
    assert s.request("GET", "/api/v1/images/" + iid).json()["visibility"] == "unlisted"


def test_delete_is_seen_at_once():
    s = srv()
    ana = s.new_user("cdel")
    iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
    get_twice(s, "/i/" + iid)
    get_twice(s, "/api/v1/images/" + iid)
    assert s.request("DELETE", "/api/v1/images/" + iid, token=ana.token).status == 204
    lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
    lib.check_error(s.request("GET", "/api/v1/images/" + iid), 404, "not_found")
    lib.check_error(s.request("GET", "/api/v1/images/" + iid, token=ana.token), 404, "not_found")


def test_logout_kills_the_token_at_once():
    s = srv()
    ana = s.new_user("cout")
    get_twice(s, "/api/v1/me", token=ana.token)
    # the cookie names the same session; it is cached under the same hash
    r = s.request("GET", "/api/v1/me", cookie=ana.cookie_header())
    assert r.status == 200, r
    assert s.request("DELETE", "/api/v1/sessions/current", token=ana.token).status == 204
    lib.check_error(s.request("GET", "/api/v1/me", token=ana.token), 401, "unauthorized")
    lib.check_error(s.request("GET", "/api/v1/me", cookie=ana.cookie_header()), 401,
                    "unauthorized")
    # another session of the same user is untouched
    other = s.login(ana.username).json()["token"]
    assert s.request("GET", "/api/v1/me", token=other).status == 200


def test_key_revoke_is_seen_at_once():
    s = srv()
    ana = s.new_user("ckey")
    r = s.json("POST", "/api/v1/keys", {"name": "script", "scope": "read"}, token=ana.token)
    assert r.status == 201, r
    key = r.json()
    iid = s.upload_ok(ana, lib.unique_png())["id"]  # private: only ana's credentials open it
    get_twice(s, "/api/v1/me", token=key["key"])
    get_twice(s, "/i/" + iid, token=key["key"])
    assert s.request("DELETE", "/api/v1/keys/" + key["id"], token=ana.token).status == 204
    lib.check_error(s.request("GET", "/api/v1/me", token=key["key"]), 401, "unauthorized")
    # /i/ serves anonymous readers too: the key is ignored, so the private image is hidden
    lib.check_error(s.request("GET", "/i/" + iid, token=key["key"]), 404, "not_found")


def test_expired_session_is_never_served():
    # sessions of 2 s, cached copies for a minute: the copy carries the expiry
    with lib.Server(LONG + ("--session-ttl", "2")) as s:
        ana = s.new_user("cexp")
        get_twice(s, "/api/v1/me", token=ana.token)
        time.sleep(2.2)
        lib.check_error(s.request("GET", "/api/v1/me", token=ana.token), 401, "unauthorized")


def test_watermark_change_is_seen_at_once():
    s = srv()
    ana, bob = s.new_user("cwma"), s.new_user("cwmb")
    data = lib.png(200, 150, seed=11)
    iid = s.upload_ok(ana, data, query={"visibility": "public"})["id"]
    # bob (a non-owner) gets the clean original while ana has no watermark
    assert lib.sha256(get_twice(s, "/i/" + iid, token=bob.token).body) == lib.sha256(data)
    get_twice(s, "/api/v1/me", token=ana.token)

    r = s.json("PATCH", "/api/v1/me", {"watermark": {"text": "ANA"}}, token=ana.token)
    assert r.status == 200, r
    marked = s.request("GET", "/i/" + iid, token=bob.token)
    assert marked.status == 200 and lib.sha256(marked.body) != lib.sha256(data), marked
    anon = s.request("GET", "/i/" + iid)
    assert anon.status == 200 and lib.sha256(anon.body) != lib.sha256(data), anon
    # the owner's own session shows the new setting, and the owner still gets the original
    assert s.request("GET", "/api/v1/me", token=ana.token).json()["watermark"]["text"] == "ANA"
    assert lib.sha256(s.request("GET", "/i/" + iid, token=ana.token).body) == lib.sha256(data)

    assert s.json("PATCH", "/api/v1/me", {"watermark": None}, token=ana.token).status == 200
    assert lib.sha256(s.request("GET", "/i/" + iid, token=bob.token).body) == lib.sha256(data)


def test_placeholder_shows_once_computed():
    # the upload does not wait for its thumbnail, so the first reads may cache the record
    # before the placeholder exists; setting it must drop that copy
    with lib.Server(LONG + ("--thumb-wait-ms", "0")) as s:
        ana = s.new_user("cph")
        iid = s.upload_ok(ana, lib.png(320, 240, seed=5))["id"]
        path = "/api/v1/images/" + iid
        get_twice(s, path, token=ana.token)
        deadline = time.monotonic() + 10
        while not s.request("GET", path, token=ana.token).json().get("placeholder"):
            assert time.monotonic() < deadline, "the placeholder never showed"
            time.sleep(0.05)


def test_metrics_count_hits():
    s = srv()
    ana = s.new_user("cmet")
    iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
    # a late eager thumbnail records the placeholder, which rightly drops the cached copy
    lib.wait_for(lambda: lib.metric_sum(s.metrics(), "kho_process_jobs") == 0,
                 "an idle processing pool")
    get_twice(s, "/i/" + iid)  # the first fills the image's copy, the second its owner's
    before = s.metrics()
    hits = lib.metric_sum(before, "kho_cache_hits_total")
    misses = lib.metric_sum(before, "kho_cache_misses_total")
    for _ in range(20):
        assert s.request("GET", "/i/" + iid).status == 200
    after = s.metrics()
    # each GET finds the image record and its owner's user record
    assert lib.metric_sum(after, "kho_cache_hits_total") - hits >= 40
    assert lib.metric_sum(after, "kho_cache_misses_total") - misses == 0
    assert any(n == "kho_cache_evictions_total" for n, _, _ in after)


def test_cache_off():
    with lib.Server(("--cache-bytes", "0")) as s:
        ana = s.new_user("coff")
        iid = s.upload_ok(ana, lib.unique_png(), query={"visibility": "public"})["id"]
        get_twice(s, "/i/" + iid)
        assert s.json("PATCH", "/api/v1/images/" + iid, {"visibility": "private"},
                      token=ana.token).status == 200
        lib.check_error(s.request("GET", "/i/" + iid), 404, "not_found")
        assert cache_hits(s) == 0


def test_bad_cache_ttl_is_refused():
    s = lib.Server(("--cache-ttl-ms", "0"))
    try:
        s.start()
        raise AssertionError("a server with --cache-ttl-ms 0 started")
    except lib.ServerError as e:
        assert "cache-ttl-ms" in str(e), e
    finally:
        s.stop()
