"""HTTP/1.1 connection behaviour: keep-alive across requests and errors, Expect: 100-continue,
Connection: close."""

import socket

import lib


def test_keepalive_reuses_one_connection():
    s = lib.server()
    u = s.new_user("ka")
    data = lib.unique_png()
    c = s.conn()
    try:
        assert s.request("GET", "/healthz", conn=c).status == 200
        sock = c.sock
        assert sock is not None, "server closed a keep-alive connection after /healthz"
        r = s.request("POST", "/api/v1/images", body=data, headers={"Content-Type": "image/png"},
                      token=u.token, conn=c)
        assert r.status == 201, r
        img = r.json()
        steps = [("GET", "/api/v1/me", 200), ("GET", "/nope", 404),
                 ("GET", "/api/v1/images?limit=0", 400), ("GET", img["url"], 200),
                 ("HEAD", img["url"], 200), ("GET", "/api/v1/images/" + img["id"], 200)]
        for method, path, status in steps:
            r = s.request(method, path, token=u.token, conn=c)
            assert r.status == status, "%s %s: %r" % (method, path, r)
            assert c.sock is sock, "connection was not kept alive after %s %s" % (method, path)
        assert s.request("GET", img["url"], token=u.token, conn=c).body == data
    finally:
        c.close()


def test_expect_100_continue_upload():
    s = lib.server()
    u = s.new_user("cont")
    data = lib.unique_png(60, 60)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(("POST /api/v1/images?title=continued HTTP/1.1\r\nHost: e2e\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: image/png\r\n"
                      "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" %
                      (u.token, len(data))).encode())
        interim = lib.read_response(sock, timeout=5)
        assert interim is not None and interim.status == 100, \
            "expected 100 Continue before the body, got %r" % interim
        sock.sendall(data)
        r = lib.read_response(sock, timeout=10)
    finally:
        sock.close()
    assert r is not None and r.status == 201, r
    img = r.json()
    lib.check_image(img, data, owner=u)
    assert img["title"] == "continued", img


def test_connection_close_is_honoured():
    s = lib.server()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise AssertionError("server kept the connection open after Connection: close")
            if not chunk:
                break
            got += chunk
    finally:
        sock.close()
    assert got.startswith(b"HTTP/1.1 200 "), got[:200]
    assert got.rstrip().endswith(b"}"), "extra bytes after the response: %r" % got[-200:]
