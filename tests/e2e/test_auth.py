"""Accounts and sessions: registration rules, login, cookies and CSRF, logout, login rate limits."""

import json
import random
import string
import time

import lib
from lib import check_error, check_user, parse_set_cookies

WRONG_TYPE = ("invalid_request", "invalid_username")


def srv():
    return lib.server()


def register_unique(s, make):
    """Register a name produced by make(); retries on the rare collision. Returns the name."""
    for _ in range(5):
        name = make()
        r = s.register(name)
        if r.status == 409:
            continue
        assert r.status == 201, "register %r: %r" % (name, r)
        check_user(r.json(), name)
        return name
    raise AssertionError("no free username after 5 tries")


def test_register_returns_user():
    s = srv()
    name = lib.rand_name("reg")
    r = s.register(name)
    assert r.status == 201, r
    assert r.headers.get("content-type", "").startswith("application/json"), r
    check_user(r.json(), name)


def test_register_taken():
    s = srv()
    name = lib.rand_name("taken")
    assert s.register(name).status == 201
    check_error(s.register(name, "another password"), 409, "username_taken")


def test_register_username_bounds_and_charset():
    s = srv()
    alnum = string.ascii_lowercase + string.digits
    register_unique(s, lambda: "".join(random.choice(alnum) for _ in range(3)))
    register_unique(s, lambda: "a-b_" + "".join(random.choice(alnum) for _ in range(28)))
    for bad in ("ab", "a" * 33, "Abc", "ABCDEF", "a b", "a.b", "ab@c", "", "\u00e4bc", "abc\n",
                "ab/c", "a\x00bc"):
        check_error(s.register(bad), 400, "invalid_username")


def test_register_wrong_types():
    s = srv()
    for body in ({"username": 5, "password": lib.PASSWORD},
                 {"username": None, "password": lib.PASSWORD},
                 {"username": ["abc"], "password": lib.PASSWORD},
                 {"password": lib.PASSWORD}):
        check_error(s.json("POST", "/api/v1/users", body), 400, WRONG_TYPE)
    for body in ({"username": lib.rand_name("t"), "password": 12345678},
                 {"username": lib.rand_name("t")}):
        check_error(s.json("POST", "/api/v1/users", body), 400,
                    ("invalid_request", "invalid_password"))
    check_error(s.json("POST", "/api/v1/users", []), 400, "invalid_request")
    check_error(s.json("POST", "/api/v1/users", "abc"), 400, "invalid_request")


def test_register_password_bounds_in_bytes():
    s = srv()
    for bad in ("a" * 7, "", "\u00e9" * 3 + "a", "a" * 1025, "\u00e9" * 513):
        check_error(s.register(lib.rand_name("pw"), bad), 400, "invalid_password")
    names = {}
    for good in ("a" * 8, "\u00e9" + "a" * 6, "b" * 1024):
        names[good] = lib.rand_name("pw")
        r = s.register(names[good], good)
        assert r.status == 201, "password of %d bytes: %r" % (len(good.encode()), r)
    # Passwords are kept byte for byte: the 7-character, 8-byte one logs in, a near miss does not.
    assert s.login(names["\u00e9" + "a" * 6], "\u00e9" + "a" * 6).status == 201
    check_error(s.login(names["b" * 1024], "b" * 1023), 401, "invalid_credentials")


def test_register_bad_bodies():
    s = srv()
    for body in (b"{", b'{"username": "abc", "password": ', b"\xff\xfe", b"nul\x00l",
                 b'{"username":"abc","password":"12345678"} trailing'):
        r = s.request("POST", "/api/v1/users", body=body,
                      headers={"Content-Type": "application/json"})
        check_error(r, 400, "invalid_json")
    r = s.request("POST", "/api/v1/users", body=b"", headers={"Content-Type": "application/json"})
    check_error(r, 400, "empty_body")


def test_login_returns_token_user_and_cookies():
    s = srv()
    name = lib.rand_name("login")
    assert s.register(name).status == 201
    r = s.login(name)
    assert r.status == 201, r
    doc = r.json()
    assert isinstance(doc.get("token"), str) and len(doc["token"]) >= 16, doc
    assert isinstance(doc.get("csrf_token"), str) and len(doc["csrf_token"]) >= 16, doc
    check_user(doc.get("user"), name)
    cookies = parse_set_cookies(r.headers)
    assert "kho_session" in cookies and "kho_csrf" in cookies, r.headers.all("set-cookie")
    value, attrs = cookies["kho_session"]
    assert value, cookies
    assert attrs.get("httponly") is True, "kho_session not HttpOnly: %r" % attrs
    assert str(attrs.get("samesite", "")).lower() == "lax", attrs
    assert attrs.get("path") == "/", attrs
    value, attrs = cookies["kho_csrf"]
    assert value, cookies
    assert "httponly" not in attrs, "kho_csrf must be readable by scripts: %r" % attrs
    assert str(attrs.get("samesite", "")).lower() == "lax", attrs
    # A second login is a second, different session.
    r2 = s.login(name)
    assert r2.status == 201 and r2.json()["token"] != doc["token"], r2


def test_login_failures_do_not_enumerate_users():
    s = srv()
    name = lib.rand_name("enum")
    assert s.register(name).status == 201
    wrong = check_error(s.login(name, "wrong password"), 401, "invalid_credentials")
    unknown = check_error(s.login(lib.rand_name("nobody"), "wrong password"), 401,
                          "invalid_credentials")
    assert wrong["message"] == unknown["message"], (wrong, unknown)
    # Usernames are exact: another case is another (invalid) name, not the same account.
    check_error(s.login(name.upper()), 401, ("invalid_credentials", "invalid_username"))


def test_login_bad_bodies():
    s = srv()
    r = s.request("POST", "/api/v1/sessions", body=b"{nope",
                  headers={"Content-Type": "application/json"})
    check_error(r, 400, "invalid_json")
    check_error(s.json("POST", "/api/v1/sessions", {"username": 5, "password": "x" * 8}), 400,
                ("invalid_request", "invalid_username"))
    check_error(s.json("POST", "/api/v1/sessions", {"username": "abc"}), 400,
                ("invalid_request", "invalid_password"))
    check_error(s.json("POST", "/api/v1/sessions", [1, 2]), 400, "invalid_request")
    check_error(s.request("POST", "/api/v1/sessions", body=b""), 400, "empty_body")


def test_me_counts_and_auth_methods():
    s = srv()
    u = s.new_user("me")
    r = s.request("GET", "/api/v1/me", token=u.token)
    assert r.status == 200, r
    doc = r.json()
    check_user(doc, u.username)
    assert doc["id"] == u.id, doc
    assert doc.get("image_count") == 0 and doc.get("bytes_used") == 0, doc
    a, b = lib.unique_png(20, 20), lib.unique_png(30, 10)
    s.upload_ok(u, a)
    s.upload_ok(u, b)
    assert s.upload(u, a).status == 200  # a duplicate counts once
    doc = s.request("GET", "/api/v1/me", token=u.token).json()
    assert doc["image_count"] == 2 and doc["bytes_used"] == len(a) + len(b), doc
    # The session cookie alone authenticates a GET; no CSRF token is needed for reads.
    r = s.request("GET", "/api/v1/me", cookie={"kho_session": u.cookies["kho_session"][0]})
    assert r.status == 200 and r.json()["id"] == u.id, r


def test_me_rejects_missing_and_bad_credentials():
    s = srv()
    check_error(s.request("GET", "/api/v1/me"), 401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", token="not-a-token"), 401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", token="A" * 43), 401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", token=""), 401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", headers={"Authorization": "Basic YWJjOmRlZg=="}),
                401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", cookie="kho_session=forged"), 401, "unauthorized")


def test_expired_session_is_unauthorized():
    with lib.Server(("--session-ttl", "2")) as s:
        u = s.new_user("ttl")
        assert s.request("GET", "/api/v1/me", token=u.token).status == 200
        time.sleep(3.5)
        check_error(s.request("GET", "/api/v1/me", token=u.token), 401, "unauthorized")
        check_error(s.request("GET", "/api/v1/me", cookie=u.cookie_header()), 401,
                    "unauthorized")


def test_csrf_required_for_cookie_writes():
    s = srv()
    u = s.new_user("csrf")
    jar = u.cookie_header()
    png = {"Content-Type": "image/png"}
    r = s.request("POST", "/api/v1/images", body=lib.unique_png(), headers=png, cookie=jar)
    check_error(r, 403, "csrf_failed")
    r = s.request("POST", "/api/v1/images", body=lib.unique_png(),
                  headers=dict(png, **{"X-CSRF-Token": "wrong" + u.csrf}), cookie=jar)
    check_error(r, 403, "csrf_failed")
    r = s.request("POST", "/api/v1/images", body=lib.unique_png(),
                  headers=dict(png, **{"X-CSRF-Token": u.csrf}), cookie=jar)
    assert r.status == 201, r
    img = r.json()
    r = s.request("POST", "/api/v1/images", body=lib.unique_png(),
                  headers=dict(png, **{"X-CSRF-Token": u.cookies["kho_csrf"][0]}), cookie=jar)
    assert r.status == 201, "the kho_csrf cookie value must work as the header: %r" % r
    # Bearer requests need no CSRF token.
    assert s.upload(u, lib.unique_png()).status == 201
    path = "/api/v1/images/" + img["id"]
    r = s.json("PATCH", path, {"title": "x"}, cookie=jar)
    check_error(r, 403, "csrf_failed")
    r = s.json("PATCH", path, {"title": "x"}, cookie=jar, headers={"X-CSRF-Token": u.csrf})
    assert r.status == 200 and r.json()["title"] == "x", r
    check_error(s.request("DELETE", path, cookie=jar), 403, "csrf_failed")
    assert s.request("GET", path, cookie=jar).status == 200
    assert s.request("DELETE", path, cookie=jar, headers={"X-CSRF-Token": u.csrf}).status == 204
    r = s.request("GET", "/api/v1/images", cookie=jar)
    assert r.status == 200 and img["id"] not in [i["id"] for i in r.json()["items"]], r


def test_logout_invalidates_only_that_session():
    s = srv()
    u = s.new_user("bye")
    other = s.login(u.username).json()["token"]
    r = s.request("DELETE", "/api/v1/sessions/current", token=u.token)
    assert r.status == 204 and r.body == b"", r
    cleared = parse_set_cookies(r.headers).get("kho_session")
    assert cleared is not None, "logout must clear the cookie: %r" % r.headers
    assert cleared[1].get("max-age") == "0", cleared
    check_error(s.request("GET", "/api/v1/me", token=u.token), 401, "unauthorized")
    check_error(s.request("DELETE", "/api/v1/sessions/current", token=u.token), 401,
                "unauthorized")
    assert s.request("GET", "/api/v1/me", token=other).status == 200
    check_error(s.request("DELETE", "/api/v1/sessions/current"), 401, "unauthorized")


def test_logout_by_cookie_needs_csrf():
    s = srv()
    u = s.new_user("byec")
    jar = u.cookie_header()
    check_error(s.request("DELETE", "/api/v1/sessions/current", cookie=jar), 403, "csrf_failed")
    r = s.request("DELETE", "/api/v1/sessions/current", cookie=jar,
                  headers={"X-CSRF-Token": u.csrf})
    assert r.status == 204, r
    check_error(s.request("GET", "/api/v1/me", cookie=jar), 401, "unauthorized")
    check_error(s.request("GET", "/api/v1/me", token=u.token), 401, "unauthorized")


def retry_after(r):
    value = r.headers.get("retry-after")
    assert value is not None and value.isdigit() and int(value) >= 1, \
        "429 needs Retry-After in seconds: %r" % r
    return int(value)


def test_login_rate_limit_per_user_then_per_ip():
    args = ("--login-fail-limit", "3", "--login-ip-fail-limit", "5", "--login-fail-window", "300")
    with lib.Server(args) as s:
        s.source = "127.0.%d.%d" % (random.randrange(1, 255), random.randrange(2, 255))
        a, b, c, d = (lib.rand_name(p) for p in "abcd")
        for n in (a, b, c, d):
            assert s.register(n).status == 201
        for _ in range(3):
            check_error(s.login(a, "wrong password"), 401, "invalid_credentials")
        r = s.login(a)
        check_error(r, 429, "rate_limited")
        assert retry_after(r) <= 300, r
        r = s.login(b)
        assert r.status == 201, "another username from the same address must still work: %r" % r
        # Two more failures on another account reach the address limit of 5.
        for _ in range(2):
            r = s.login(c, "wrong password")
            assert r.status in (401, 429), r
        r = s.login(d)
        check_error(r, 429, "rate_limited")
        retry_after(r)
        assert s.healthy()


def test_login_rate_limit_window_expires():
    args = ("--login-fail-limit", "2", "--login-fail-window", "3")
    with lib.Server(args) as s:
        name = lib.rand_name("win")
        assert s.register(name).status == 201
        for _ in range(2):
            check_error(s.login(name, "wrong password"), 401, "invalid_credentials")
        r = s.login(name)
        check_error(r, 429, "rate_limited")
        wait = retry_after(r)
        assert wait <= 3, "Retry-After %d exceeds the 3 s window" % wait
        time.sleep(wait + 0.5)
        r = s.login(name)
        assert r.status == 201, "after Retry-After the login must work again: %r" % r
        assert json.loads(r.body)["user"]["username"] == name
