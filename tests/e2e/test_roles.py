"""Split tiers: an api node (--role api --process-url) forwards variant work to a process node
(--role process) over HTTP; each serves only its own routes, and internal calls must be signed."""
import lib

KEY = "e2e-roles-signing-key-0123"


def test_api_node_forwards_variants_to_process_node():
    proc = lib.server("--role", "process", "--sign-key", KEY)
    api = lib.server("--role", "api", "--process-url", "http://127.0.0.1:%d" % proc.port,
                     "--sign-key", KEY)
    u = api.new_user("roles")
    img = api.upload_ok(u, lib.unique_png(300, 200), query={"visibility": "public"})
    # the upload's eager thumbnail also goes to the process node: let it finish first
    lib.wait_for(lambda: lib.metric_sum(api.metrics(), "kho_process_jobs") == 0,
                 "the api node's processing pool to go idle")
    before = lib.metric_sum(proc.metrics(), "kho_http_requests_total",
                            route="/internal/v1/process", status="200")
    r = api.request("GET", "/i/%s?w=128&fmt=webp" % img["id"])
    assert r.status == 200 and r.headers["content-type"] == "image/webp", r
    assert r.body[:4] == b"RIFF" and r.body[8:12] == b"WEBP"
    after = lib.metric_sum(proc.metrics(), "kho_http_requests_total",
                           route="/internal/v1/process", status="200")
    assert after - before == 1, "the variant was not made on the process node"
    # made once: the second request is served from the api node's store
    assert api.request("GET", "/i/%s?w=128&fmt=webp" % img["id"]).body == r.body
    assert lib.metric_sum(proc.metrics(), "kho_http_requests_total",
                          route="/internal/v1/process", status="200") == after


def test_roles_serve_only_their_routes():
    proc = lib.server("--role", "process", "--sign-key", KEY)
    api = lib.server("--role", "api", "--process-url", "http://127.0.0.1:%d" % proc.port,
                     "--sign-key", KEY)
    lib.check_error(proc.request("GET", "/api/v1/explore"), 404, "not_found")
    lib.check_error(api.request("POST", "/internal/v1/process?w=64", body=b"x"), 404,
                    "not_found")
    for s in (proc, api):
        assert s.request("GET", "/healthz").status == 200
        assert s.request("GET", "/readyz").status == 200
    # unsigned or wrongly signed internal calls are refused
    png = lib.png(64, 64, seed=5)
    lib.check_error(proc.request("POST", "/internal/v1/process?w=64", body=png), 403,
                    "invalid_signature")
    lib.check_error(proc.request("POST", "/internal/v1/process?w=64&sig=" + "A" * 43, body=png),
                    403, "invalid_signature")
