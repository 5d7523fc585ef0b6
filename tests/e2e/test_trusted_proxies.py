"""--trusted-proxies: behind a trusted proxy the client is the nearest untrusted X-Forwarded-For
entry (read from the right), for the per-address log-in limit and the access log; without the
setting, or from an untrusted peer, the header is ignored. (The real nginx edge: test_edge.py.)"""

import random
import subprocess

import lib
from lib import check_error

LIMITS = ("--login-fail-limit", "1000", "--login-ip-fail-limit", "3", "--login-fail-window", "300")


def rand_ip(prefix):
    """A random address under prefix ("198.51.100"): per-address keys live in a Redis shared by
    every test of a scale run, so each test counts its own addresses."""
    return "%s.%d" % (prefix, random.randrange(1, 255))


def fail_login(s, xff):
    r = s.login(lib.rand_name("nobody"), "wrong password", headers={"X-Forwarded-For": xff})
    assert r.status in (401, 429), r
    return r


def test_trusted_proxy_limits_each_client_not_the_proxy():
    with lib.Server(("--trusted-proxies", "127.0.0.1, ::1") + LIMITS) as s:
        x = rand_ip("198.51.100")
        y = rand_ip("203.0.113")
        name = lib.rand_name("xff")
        assert s.register(name).status == 201
        # the leftmost entry is the client's to write: a new one each time must not escape the
        # limit, which counts the address the proxy appended
        for _ in range(3):
            check_error(fail_login(s, "%s, %s" % (rand_ip("192.0.2"), x)), 401,
                        "invalid_credentials")
        check_error(fail_login(s, "%s, %s" % (rand_ip("192.0.2"), x)), 429, "rate_limited")
        check_error(s.login(name, headers={"X-Forwarded-For": x}), 429, "rate_limited")
        # another client through the same proxy is not blocked
        check_error(fail_login(s, y), 401, "invalid_credentials")
        r = s.login(name, headers={"X-Forwarded-For": y})
        assert r.status == 201, r
        # a second header line is part of the same list: its entry is the nearest one
        body = b'{"username":"%s","password":"%s"}' % (name.encode(), lib.PASSWORD.encode())
        r = s.raw(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\nX-Forwarded-For: %s\r\n"
                  b"X-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n%s"
                  % (x.encode(), y.encode(), len(body), body))
        assert r.status == 201, r
        log = open(s.log_path, errors="replace").read()
        assert '"ip":"%s"' % x in log and '"ip":"%s"' % y in log, log[-2000:]
        assert '"via":"127.0.0.1"' in log, log[-2000:]
        assert s.healthy()


def test_without_the_setting_the_header_is_ignored():
    with lib.Server(LIMITS) as s:
        s.source = "127.0.%d.%d" % (random.randrange(1, 255), random.randrange(2, 255))
        for _ in range(3):
            check_error(fail_login(s, rand_ip("198.51.100")), 401, "invalid_credentials")
        # every forged address counted against the one real peer
        check_error(fail_login(s, rand_ip("203.0.113")), 429, "rate_limited")
        log = open(s.log_path, errors="replace").read()
        assert '"ip":"%s"' % s.source in log, log[-2000:]
        assert '"via":"' not in log, log[-2000:]


def test_untrusted_peer_of_a_trusting_node_is_ignored():
    with lib.Server(("--trusted-proxies", "127.0.0.1") + LIMITS) as s:
        s.source = "127.0.%d.%d" % (random.randrange(1, 255), random.randrange(2, 255))
        for _ in range(3):
            check_error(fail_login(s, rand_ip("198.51.100")), 401, "invalid_credentials")
        check_error(fail_login(s, rand_ip("203.0.113")), 429, "rate_limited")


def test_bad_trusted_proxies_refuse_to_start():
    for bad in ("10.0.0.1/8", "localhost", "127.0.0.1,", "::/129"):
        r = subprocess.run([lib.BIN, "server", "--trusted-proxies", bad, "--listen",
                            "127.0.0.1:%d" % lib.free_port()], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode != 0, (bad, r)
        assert "trusted-proxies" in r.stderr, (bad, r.stderr)
