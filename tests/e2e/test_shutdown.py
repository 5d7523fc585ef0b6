"""Graceful shutdown: SIGTERM while uploads are in flight. The server exits 0 within its shutdown
timeout and every upload it acknowledged is there, whole, after a restart."""

import signal
import socket
import subprocess
import threading
import time

import lib

SHUTDOWN_TIMEOUT = 5


def uploader(s, u, stop, acked, lock):
    while not stop.is_set():
        data = lib.unique_png(160, 160)  # ~75 KB of noise: uploads take a little while
        try:
            r = s.upload(u, data)
        except OSError:
            return
        if r.status == 201:
            with lock:
                acked.append((r.json()["id"], lib.sha256(data)))
        elif r.status != 503:
            return


def slow_upload(s, u, result):
    """One upload whose body trickles in over ~1 s, so SIGTERM lands in the middle of it."""
    data = lib.unique_png(120, 120)
    try:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=SHUTDOWN_TIMEOUT + 5)
        sock.sendall(("POST /api/v1/images HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: image/png\r\nContent-Length: %d\r\n\r\n" %
                      (u.token, len(data))).encode())
        step = len(data) // 10 + 1
        for i in range(0, len(data), step):
            sock.sendall(data[i:i + step])
            time.sleep(0.1)
        r = lib.read_response(sock, timeout=SHUTDOWN_TIMEOUT + 5)
        sock.close()
    except OSError as e:
        result["error"] = e
        return
    result["resp"] = r
    result["sha256"] = lib.sha256(data)


def test_sigterm_with_uploads_in_flight():
    s = lib.Server(("--shutdown-timeout", str(SHUTDOWN_TIMEOUT)))
    s.start()
    try:
        u = s.new_user("term")
        stop, lock, acked = threading.Event(), threading.Lock(), []
        threads = [threading.Thread(target=uploader, args=(s, u, stop, acked, lock))
                   for _ in range(4)]
        slow = {}
        threads.append(threading.Thread(target=slow_upload, args=(s, u, slow)))
        for t in threads:
            t.start()
        time.sleep(0.6)
        proc = s.proc
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(SHUTDOWN_TIMEOUT + 3)
        except subprocess.TimeoutExpired:
            code = "still running"
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(30)
        s.stop()
        assert code == 0, "exit status after SIGTERM: %r" % code
        assert elapsed <= SHUTDOWN_TIMEOUT + 1, "shutdown took %.1f s" % elapsed
        resp = slow.get("resp")
        if resp is not None and resp.status == 201:
            acked.append((resp.json()["id"], slow["sha256"]))
        assert acked, "no upload was acknowledged before SIGTERM"

        s.start()
        for image_id, digest in acked:
            r = s.request("GET", "/i/" + image_id, token=u.token)
            assert r.status == 200, "acknowledged upload %s lost: %r" % (image_id, r)
            assert lib.sha256(r.body) == digest, "upload %s changed across restart" % image_id
        listed = {i["id"] for i in s.list_all("/api/v1/images", token=u.token)}
        missing = {i for i, _ in acked} - listed
        assert not missing, "acknowledged uploads missing from the listing: %r" % missing
    finally:
        s.stop()
