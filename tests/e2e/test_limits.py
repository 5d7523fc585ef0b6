"""Server-wide budgets: upload bytes in flight and the worker queue are bounded, and a full
budget answers 503 with Retry-After instead of growing memory."""
import socket
import threading

import lib

MB = 1 << 20


def test_inflight_upload_budget():
    # two announced 1 MiB uploads fill a 2 MiB budget; the third is refused before its body
    s = lib.server("--max-upload-bytes", "1M", "--max-inflight-upload-bytes", "2M")
    u = s.new_user("budget")
    head = ("POST /api/v1/images HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: image/png\r\nContent-Length: %d\r\n\r\n" % (u.token, MB)).encode()
    held = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            sock.sendall(head + b"\x89PNG")  # a body that never completes holds its reservation
            held.append(sock)
        # both reservations are made once the server has read both heads
        for _ in range(100):
            if lib.metric_sum(s.metrics(), "kho_http_inflight_body_bytes") == 2 * MB:
                break
            threading.Event().wait(0.05)
        assert not lib.readable(held[0], 0.1), "a budgeted upload was answered early"
        r = s.raw(head, timeout=5)
        lib.check_error(r, 503, "unavailable")
        assert int(r.headers["retry-after"]) >= 1
        m = s.metrics()
        assert lib.metric_sum(m, "kho_http_inflight_body_bytes") == 2 * MB
    finally:
        for sock in held:
            sock.close()
    # once the held uploads are gone, the budget is free again
    for _ in range(50):
        if lib.metric_sum(s.metrics(), "kho_http_inflight_body_bytes") == 0:
            break
        threading.Event().wait(0.05)
    r = s.upload(u, lib.unique_png(16, 16))
    assert r.status == 201, r
    assert s.healthy()


def test_full_worker_queue_answers_503():
    # one worker and a queue of one: a burst of registrations (Argon2id on the pool) must get
    # some 503s with Retry-After, and every one an answer
    s = lib.server("--workers", "1", "--worker-queue", "1")
    results = []

    def register(i):
        results.append(s.register(lib.rand_name("q%d" % i)))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert len(results) == 12
    assert set(statuses) <= {201, 503}, statuses
    assert statuses.count(201) >= 1 and statuses.count(503) >= 1, statuses
    for r in results:
        if r.status == 503:
            lib.check_error(r, 503, "unavailable")
            assert r.headers.get("retry-after")
    m = s.metrics()
    assert lib.metric_sum(m, "kho_worker_rejected_total") == statuses.count(503)
    assert s.healthy()
