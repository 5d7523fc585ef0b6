"""Quotas against a real server: the image-count and byte quotas answer 413 quota_exceeded with a
message people can read, duplicates and variants never count, deletes give room back, /me shows
usage and quota, `kho quota` overrides one user's limits, and parallel uploads cannot overshoot."""

import os
import re
import subprocess
import threading

import lib

IMAGES = ("--quota-images", "3")
BYTES = ("--quota-bytes", "10K")
GIB10 = 10 << 30


def me(s, user):
    r = s.request("GET", "/api/v1/me", token=user.token)
    assert r.status == 200, r
    return r.json()


def fill(s, user, n):
    """Upload n new images of about 3 KiB; returns them."""
    return [s.upload_ok(user, lib.unique_png()) for _ in range(n)]


def kho_quota(s, *args):
    """Run `kho quota` on s's store with the server's quota settings in its environment, as an
    operator who configures kho through KHO_* variables would."""
    env = dict(os.environ)
    for flag, value in zip(s.args, s.args[1:]):
        if flag.startswith("--quota-"):
            env["KHO_" + flag[2:].upper().replace("-", "_")] = value
    r = subprocess.run([lib.BIN, "quota"] + list(args) + lib.store_args(s.data),
                       capture_output=True, env=env, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def refused(r, message=None):
    err = lib.check_error(r, 413, "quota_exceeded")
    if message is not None:
        assert re.match(message, err["message"]), err
    return err


def test_quota_images_413():
    s = lib.server(*IMAGES)
    u = s.new_user("q")
    imgs = fill(s, u, 3)
    err = refused(s.upload(u, lib.unique_png()))
    assert err["message"] == "this upload would exceed your image quota: 3 of 3 images used", err
    assert len(s.list_all("/api/v1/images", token=u.token)) == 3
    doc = me(s, u)
    assert doc["image_count"] == 3, doc
    assert doc["bytes_used"] == sum(i["bytes"] for i in imgs), doc
    assert doc["quota"] == {"bytes": GIB10, "images": 3}, doc
    # multipart takes the same path
    body, ctype = lib.multipart([("file", lib.unique_png(), "a.png", "image/png")])
    refused(s.request("POST", "/api/v1/images", body=body, headers={"Content-Type": ctype},
                      token=u.token))


def test_quota_duplicates_and_variants_do_not_count():
    s = lib.server(*IMAGES)
    u = s.new_user("q")
    imgs = fill(s, u, 3)
    data = s.request("GET", "/i/" + imgs[0]["id"], token=u.token).body
    r = s.upload(u, data)
    assert r.status == 200 and r.json()["id"] == imgs[0]["id"], r
    assert s.request("GET", "/i/%s?w=64&fmt=webp" % imgs[1]["id"], token=u.token).status == 200
    doc = me(s, u)
    assert doc["image_count"] == 3 and doc["bytes_used"] == sum(i["bytes"] for i in imgs), doc


def test_quota_delete_frees_usage():
    s = lib.server(*IMAGES)
    u = s.new_user("q")
    imgs = fill(s, u, 3)
    refused(s.upload(u, lib.unique_png()))
    assert s.request("DELETE", "/api/v1/images/" + imgs[0]["id"], token=u.token).status == 204
    doc = me(s, u)
    assert doc["image_count"] == 2, doc
    assert doc["bytes_used"] == imgs[1]["bytes"] + imgs[2]["bytes"], doc
    new = s.upload_ok(u, lib.unique_png())
    assert me(s, u)["bytes_used"] == imgs[1]["bytes"] + imgs[2]["bytes"] + new["bytes"]
    refused(s.upload(u, lib.unique_png()))


def test_quota_bytes_413():
    s = lib.server(*BYTES)
    u = s.new_user("q")
    used = 0
    for _ in range(10):
        data = lib.unique_png()
        r = s.upload(u, data)
        if r.status != 201:
            break
        used += len(data)
    else:
        raise AssertionError("10 uploads of 3 KiB fit a 10 KiB quota")
    assert used + len(data) > 10240 >= used, (used, len(data))
    err = refused(r, r"^this upload of 3(\.\d)? KiB would exceed your storage quota: "
                     r"\d(\.\d)? KiB of 10 KiB used$")
    doc = me(s, u)
    assert doc["bytes_used"] == used and doc["quota"] == {"bytes": 10240, "images": 100000}, doc
    # a small enough image still fits
    if used + 100 <= 10240:
        small = lib.png(1, 1, seed=lib.random.getrandbits(31))
        assert s.upload(u, small).status == 201, err
    # an upload larger than the whole quota says so too
    big = lib.png(80, 80, noise=True, seed=lib.random.getrandbits(31))
    refused(s.upload(s.new_user("q"), big), r"^this upload of 1[89](\.\d)? KiB would exceed "
                                            r"your storage quota: 0 bytes of 10 KiB used$")


def test_quota_me_shows_unlimited_as_null():
    s = lib.server("--quota-bytes", "0", "--quota-images", "0")
    u = s.new_user("q")
    fill(s, u, 2)
    doc = me(s, u)
    assert doc["quota"] == {"bytes": None, "images": None}, doc
    assert doc["image_count"] == 2, doc
    doc = me(lib.server(), lib.server().new_user("q"))
    assert doc["quota"] == {"bytes": GIB10, "images": 100000}, doc
    assert doc["image_count"] == 0 and doc["bytes_used"] == 0, doc


def test_kho_quota_overrides_one_user():
    s = lib.server(*IMAGES)
    a, b = s.new_user("q"), s.new_user("q")
    fill(s, a, 3)
    fill(s, b, 3)
    code, out, err = kho_quota(s, a.username)
    assert code == 0, (code, out, err)
    lines = out.splitlines()
    assert lines[0] == "user: " + a.username, out
    assert lines[1] == "images: 3 of 3 (server default)", out
    assert re.match(r"^storage: \d+(\.\d)? KiB \(%d bytes\) of 10 GiB \(server default\)$" %
                    me(s, a)["bytes_used"], lines[2]), out

    # raise a's limit: a may upload one more, b may not
    code, out, err = kho_quota(s, a.username, "--images", "4")
    assert code == 0 and "images: 3 of 4 (set for this user)" in out, (code, out, err)
    s.upload_ok(a, lib.unique_png())
    refused(s.upload(a, lib.unique_png()), r"^.*: 4 of 4 images used$")
    refused(s.upload(b, lib.unique_png()), r"^.*: 3 of 3 images used$")
    assert me(s, a)["quota"]["images"] == 4 and me(s, b)["quota"]["images"] == 3

    # unlimited, then back to the server's default
    code, out, err = kho_quota(s, a.username, "--images", "unlimited")
    assert code == 0 and "images: 4 of unlimited (set for this user)" in out, (code, out, err)
    assert me(s, a)["quota"]["images"] is None
    s.upload_ok(a, lib.unique_png())
    code, out, err = kho_quota(s, a.username, "--images", "default")
    assert code == 0 and "images: 5 of 3 (server default)" in out, (code, out, err)
    refused(s.upload(a, lib.unique_png()), r"^.*: 5 of 3 images used$")

    # lower one user's byte quota below what they hold
    code, out, err = kho_quota(s, b.username, "--bytes", "1K")
    assert code == 0 and re.search(r"of 1 KiB \(set for this user\)$", out), (code, out, err)
    assert me(s, b)["quota"] == {"bytes": 1024, "images": 3}
    code, out, err = kho_quota(s, b.username, "--images", "10")  # so bytes is what binds
    assert code == 0 and "images: 3 of 10 (set for this user)" in out, (code, out, err)
    refused(s.upload(b, lib.unique_png()), r"^this upload of .* storage quota: .* of 1 KiB used$")
    code, out, err = kho_quota(s, b.username, "--bytes", "default", "--images", "default")
    assert code == 0 and "(set for this user)" not in out, (code, out, err)
    assert me(s, b)["quota"] == {"bytes": GIB10, "images": 3}
    assert me(s, a)["quota"] == {"bytes": GIB10, "images": 3}


def test_kho_quota_exit_codes():
    s = lib.server(*IMAGES)
    u = s.new_user("q")
    code, out, err = kho_quota(s, "nobody_here")
    assert code == 4 and out == "" and err.startswith("kho: "), (code, out, err)
    for args in ([], [u.username, "extra"], [u.username, "--bytes", "12X"],
                 [u.username, "--images", "-1"], [u.username, "--images", "1.5"],
                 [u.username, "--frob"]):
        code, out, err = kho_quota(s, *args)
        assert code == 2 and out == "" and err, (args, code, out, err)
    r = subprocess.run([lib.BIN, "quota", u.username, "--data", s.data + "-missing"],
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and b"no database" in r.stderr, r
    r = subprocess.run([lib.BIN, "quota", "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith(b"usage: kho quota"), r


def test_quota_parallel_uploads_leave_exactly_k():
    s = lib.server(*IMAGES)
    u = s.new_user("q")
    datas = [lib.unique_png() for _ in range(12)]
    results = [None] * len(datas)
    start = threading.Barrier(len(datas))

    def one(i):
        start.wait()
        results[i] = s.upload(u, datas[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(datas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.status == 201 for r in results) == 3, [r.status for r in results]
    for r in results:
        if r.status != 201:
            refused(r, r"^this upload would exceed your image quota: 3 of 3 images used$")
    assert len(s.list_all("/api/v1/images", token=u.token)) == 3
    doc = me(s, u)
    assert doc["image_count"] == 3, doc
    assert doc["bytes_used"] == sum(len(datas[i]) for i, r in enumerate(results)
                                    if r.status == 201), doc


def test_quota_matches_the_openapi_schemas():
    import test_openapi as openapi  # noqa: PLC0415 - its schema checker, not its tests
    doc = openapi.parse_subset(openapi.load_spec())
    s = lib.server(*IMAGES)
    u = s.new_user("qoa")
    fill(s, u, 3)
    r = openapi.check_live(doc, "imagesUpload", s.upload(u, lib.unique_png()), 413)
    refused(r)
    me_doc = openapi.check_live(doc, "meGet", s.request("GET", "/api/v1/me", token=u.token),
                                200).json()
    assert me_doc["quota"] == {"bytes": GIB10, "images": 3}, me_doc
    s = lib.server("--quota-bytes", "0", "--quota-images", "0")
    u = s.new_user("qoa")
    openapi.check_live(doc, "meGet", s.request("GET", "/api/v1/me", token=u.token), 200)
