"""Per-user watermarks: PATCH /api/v1/me {"watermark": {...}} marks the variants of that user's
images; the owner keeps the clean original, everyone else gets a marked one."""
import struct
import subprocess
import tempfile
import zlib

import lib


def pixel(data, x, y):
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["vips", "getpoint", f.name, str(x), str(y)], check=True,
                             capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def grey_png(seed):
    """A flat grey 400x300 PNG; seed changes one pixel so the bytes differ between users."""
    w, h = 400, 300
    raw = b"".join(b"\x00" + (bytes([seed % 256]) if y == 0 else b"\x80") + b"\x80" * (3 * w - 1)
                   for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + lib._chunk(b"IHDR", ihdr) +
            lib._chunk(b"IDAT", zlib.compress(raw, 6)) + lib._chunk(b"IEND", b""))


def test_user_watermark_marks_variants_and_non_owner_originals():
    s = lib.server()
    ana, bob = s.new_user("wma"), s.new_user("wmb")
    wm = {"text": "ANA PHOTO", "position": "center", "opacity": 1, "scale": 0.8}
    r = s.json("PATCH", "/api/v1/me", {"watermark": wm}, token=ana.token)
    assert r.status == 200, r
    assert r.json()["watermark"]["text"] == "ANA PHOTO"
    assert s.request("GET", "/api/v1/me", token=ana.token).json()["watermark"]["position"] == \
        "center"
    for bad in ({"text": ""}, {"text": "x", "position": "middle"}, {"text": "x", "opacity": 2},
                {"text": 5}, {"text": "x", "colour": "red"}, "plain"):
        lib.check_error(s.json("PATCH", "/api/v1/me", {"watermark": bad}, token=ana.token), 400,
                        "invalid_parameter")
    lib.check_error(s.json("PATCH", "/api/v1/me", {"nickname": "a"}, token=ana.token), 400,
                    "invalid_parameter")

    data_a, data_b = grey_png(1), grey_png(2)
    img_a = s.upload_ok(ana, data_a, query={"visibility": "public"})
    img_b = s.upload_ok(bob, data_b, query={"visibility": "public"})
    va = s.request("GET", "/i/%s?w=256&fmt=png" % img_a["id"]).body
    vb = s.request("GET", "/i/%s?w=256&fmt=png" % img_b["id"]).body
    # the text runs through the centre of ana's variant; bob's is flat grey there
    assert abs(pixel(vb, 128, 96)[0] - 128) < 3
    centre_row = [pixel(va, x, 96)[0] for x in range(20, 236, 6)]
    assert max(abs(v - 128) for v in centre_row) > 60, "no watermark in the middle"
    assert abs(pixel(va, 3, 3)[0] - 128) < 3, "the corner should be untouched"

    # the owner gets the clean original; others get a marked copy of the same size
    own = s.request("GET", "/i/" + img_a["id"], token=ana.token)
    assert own.status == 200 and lib.sha256(own.body) == lib.sha256(data_a)
    other = s.request("GET", "/i/" + img_a["id"], token=bob.token)
    assert other.status == 200 and lib.sha256(other.body) != lib.sha256(data_a)
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(other.body)
        f.flush()
        assert subprocess.run(["vipsheader", "-f", "width", f.name], check=True,
                              capture_output=True).stdout.strip() == b"400"
    # bob has no watermark: his original is served as it is to anyone
    assert lib.sha256(s.request("GET", "/i/" + img_b["id"]).body) == lib.sha256(data_b)

    # null goes back to the server's default (none here): variants are clean again
    r = s.json("PATCH", "/api/v1/me", {"watermark": None}, token=ana.token)
    assert r.status == 200 and r.json()["watermark"] is None
    clean = s.request("GET", "/i/%s?w=256&fmt=png" % img_a["id"]).body
    assert abs(pixel(clean, 128, 96)[0] - 128) < 3
