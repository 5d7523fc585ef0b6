"""Image variants at /i/{id}?w=&h=&fit=&fmt=&q=&p= (issue #3): sizes and fits, formats and
negotiation, signed URLs, caching, single flight, the eager thumbnail, EXIF orientation and
privacy, watermarks, decompression bombs and a full processing queue."""

import base64
import hashlib
import hmac
import os
import random
import re
import struct
import subprocess
import threading
import time

import lib
from lib import check_error

KEY = "e2e-signing-key-0123456789"
IMMUTABLE = "public, max-age=31536000, immutable"
ETAG_RE = re.compile(r'^"v[0-9a-f]{16}"$')
WATERMARK = ("--watermark-text", "kho test", "--watermark-position", "se",
             "--watermark-opacity", "1", "--watermark-scale", "0.5")
RED, BLUE, GREY = (220, 20, 20), (20, 20, 220), (128, 128, 128)
_fixture = {}
_seq = [0]


def srv():
    return lib.server("--sign-key", KEY)


def setup():
    """One user with a large public photo and a small public PNG, shared by this module."""
    s = srv()
    if _fixture.get("server") is not s:
        u = s.new_user("var")
        photo = s.upload_ok(u, lib.jpeg(1500, 1000, seed=31), "image/jpeg",
                            query={"visibility": "public"})
        small = s.upload_ok(u, lib.png(100, 100, seed=32), query={"visibility": "public"})
        _fixture.update(server=s, user=u, photo=photo["id"], small=small["id"])
    return s, _fixture["user"], _fixture


# ---------------------------------------------------------------------------------------------
# Helpers


def get(s, iid, query="", method="GET", **kw):
    return s.request(method, "/i/%s%s" % (iid, "?" + query if query else ""), **kw)


def ok(r, what):
    assert r.status == 200, "%s: %r" % (what, r)
    return r


def norm(value):
    return ", ".join(p.strip() for p in (value or "").split(","))


def scratch(data, ext):
    """Write data to a new file in the run's scratch directory; returns its path."""
    d = os.path.join(lib.root_dir(), "variants")
    os.makedirs(d, exist_ok=True)
    _seq[0] += 1
    path = os.path.join(d, "%d.%s" % (_seq[0], ext))
    with open(path, "wb") as f:
        f.write(data)
    return path


def header(data):
    """(width, height, bands, loader) as vipsheader reads the image bytes."""
    path = scratch(data, "img")
    r = subprocess.run(["vipsheader", path], capture_output=True, timeout=30)
    text = r.stdout.decode()
    m = re.search(r": (\d+)x(\d+) \w+, (\d+) bands?, \w+, (\w+)", text)
    assert r.returncode == 0 and m, "vipsheader cannot read the image (%d bytes %r): %s" % (
        len(data), data[:16], r.stderr.decode()[-300:])
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def pixels(data):
    """Decode any image vips reads into (width, height, bands, interleaved 8-bit samples)."""
    w, h, bands, _ = header(data)
    src = scratch(data, "img")
    out = src + ".raw"
    r = subprocess.run(["vips", "rawsave", src, out], capture_output=True, timeout=30)
    assert r.returncode == 0, "vips rawsave: %s" % r.stderr.decode()[-300:]
    with open(out, "rb") as f:
        raw = f.read()
    assert len(raw) == w * h * bands, "raw size %d for %dx%dx%d" % (len(raw), w, h, bands)
    return w, h, bands, raw


def pixel(img, x, y):
    w, _, bands, raw = img
    i = (y * w + x) * bands
    return tuple(raw[i:i + min(bands, 3)])


def near(got, want, tol=60):
    return all(abs(a - b) <= tol for a, b in zip(got, want))


def solid_png(width, height, colour):
    return lib.png_pixels(width, height, bytes(colour) * (width * height))


def sign(path_query):
    mac = hmac.new(KEY.encode(), path_query.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def settle(s, iid, token=None):
    """Wait for an upload's eager thumbnail (asking for it joins its generation if under way), and
    for the processing pool to go idle, so counters read next move only with what a test asks."""
    ok(get(s, iid, "p=thumb", token=token), "thumbnail")
    lib.wait_for(lambda: metric(s, "kho_process_jobs") == 0, "an idle processing pool")


def metric(s, name):
    return lib.metric_sum(s.metrics(), name)


def param_error(r, name):
    err = check_error(r, 400, "invalid_parameter")
    assert "'%s" % name in err["message"], "message should name '%s': %r" % (name, err)


def check_magic(data, fmt):
    magic = {"jpeg": data[:3] == b"\xff\xd8\xff",
             "png": data[:8] == b"\x89PNG\r\n\x1a\n",
             "webp": data[:4] == b"RIFF" and data[8:12] == b"WEBP",
             "avif": data[4:8] == b"ftyp" and b"avif" in data[8:32]}[fmt]
    assert magic, "%s variant starts with %r" % (fmt, data[:32])


def jpeg_segments(data):
    """(marker, payload) of each JPEG header segment up to the start of scan."""
    assert data[:2] == b"\xff\xd8", data[:8]
    pos, out = 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        n = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        out.append((marker, data[pos + 4:pos + 2 + n]))
        pos += 2 + n
    return out


def has_exif(jpeg_bytes):
    return any(m == 0xE1 and p.startswith(b"Exif\0\0") for m, p in jpeg_segments(jpeg_bytes))


def parallel(n, fn):
    """Run fn(i) on n threads started together; returns the results in order."""
    out = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller's asserts
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def rss_kb(s):
    with open("/proc/%d/status" % s.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % s.proc.pid)


# ---------------------------------------------------------------------------------------------
# EXIF and GIF writers (the test images are built byte by byte)


def _ifd(entries, start):
    """A big-endian TIFF IFD placed at offset start; entries (tag, type, count, payload) sorted
    by tag, payloads over 4 bytes stored after the IFD."""
    data_at = start + 2 + 12 * len(entries) + 4
    head, data = [struct.pack(">H", len(entries))], b""
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            field = payload.ljust(4, b"\0")
        else:
            field = struct.pack(">I", data_at + len(data))
            data += payload + b"\0" * (len(payload) % 2)
        head.append(struct.pack(">HHI", tag, typ, count) + field)
    head.append(struct.pack(">I", 0))
    return b"".join(head) + data


def _ascii(tag, text):
    b = text.encode() + b"\0"
    return (tag, 2, len(b), b)


def _long(tag, v):
    return (tag, 4, 1, struct.pack(">I", v))


def _dms(tag, degrees):
    v = abs(degrees)
    d = int(v)
    m = int((v - d) * 60)
    cs = round(((v - d) * 60 - m) * 6000)
    return (tag, 5, 3, struct.pack(">IIIIII", d, 1, m, 1, cs, 100))


def exif_app1(orientation=None, make=None, model=None, taken=None, gps=None):
    """A JPEG APP1 Exif segment; taken is "YYYY:MM:DD HH:MM:SS", gps (lat, lon) in degrees."""
    ifd0 = []
    if make:
        ifd0.append(_ascii(0x010F, make))
    if model:
        ifd0.append(_ascii(0x0110, model))
    if orientation:
        ifd0.append((0x0112, 3, 1, struct.pack(">H", orientation)))
    subs = []
    if taken:
        subs.append((0x8769, [_ascii(0x9003, taken)]))
    if gps:
        lat, lon = gps
        subs.append((0x8825, [_ascii(1, "N" if lat >= 0 else "S"), _dms(2, lat),
                              _ascii(3, "E" if lon >= 0 else "W"), _dms(4, lon)]))
    # IFD0's size does not depend on the offsets it holds: measure it, then place the sub-IFDs
    ptrs = [_long(tag, 0) for tag, _ in subs]
    at = 8 + len(_ifd(ifd0 + ptrs, 8))
    tail = b""
    for i, (tag, entries) in enumerate(subs):
        ptrs[i] = _long(tag, at + len(tail))
        tail += _ifd(entries, at + len(tail))
    payload = b"Exif\0\0MM\0\x2a" + struct.pack(">I", 8) + _ifd(ifd0 + ptrs, 8) + tail
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_exif(jpeg_bytes, app1):
    assert not has_exif(jpeg_bytes), "base JPEG already has EXIF"
    return jpeg_bytes[:2] + app1 + jpeg_bytes[2:]


# Where the display (upright) pixel of stored pixel (x, y) lands, per EXIF orientation; w, h
# are the stored dimensions.
DISPLAY = {1: lambda x, y, w, h: (x, y),
           2: lambda x, y, w, h: (w - 1 - x, y),
           3: lambda x, y, w, h: (w - 1 - x, h - 1 - y),
           4: lambda x, y, w, h: (x, h - 1 - y),
           5: lambda x, y, w, h: (y, x),
           6: lambda x, y, w, h: (h - 1 - y, x),
           7: lambda x, y, w, h: (h - 1 - y, w - 1 - x),
           8: lambda x, y, w, h: (y, w - 1 - x)}


def oriented_jpeg(orientation, width=64, height=32):
    """A JPEG that displays as width x height, red in its top-left quarter and blue elsewhere,
    once its EXIF orientation is applied: the stored pixels are the inverse transform."""
    sw, sh = (width, height) if orientation <= 4 else (height, width)
    px = bytearray()
    for y in range(sh):
        for x in range(sw):
            dx, dy = DISPLAY[orientation](x, y, sw, sh)
            px += bytes(RED if dx < width // 2 and dy < height // 2 else BLUE)
    base = lib.convert(lib.png_pixels(sw, sh, bytes(px)), "jpg", "Q=95,strip")
    return with_exif(base, exif_app1(orientation=orientation))


def gif_image(width, height, palette, frames, transparent=None):
    """A GIF89a (animated when several frames) of palette indices; codes stay 9-bit literals
    by clearing the LZW table every 250 pixels, which every decoder reads."""
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF7, 0, 0),
           b"".join(bytes(c) for c in palette).ljust(256 * 3, b"\0")]
    if len(frames) > 1:
        out.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
    for frame in frames:
        flags = (1 << 2) | (1 if transparent is not None else 0)
        out.append(struct.pack("<BBBBHBB", 0x21, 0xF9, 4, flags, 10, transparent or 0, 0))
        out.append(struct.pack("<BHHHHB", 0x2C, 0, 0, width, height, 0))
        codes = []
        for i in range(0, len(frame), 250):
            codes += [256] + list(frame[i:i + 250])
        codes.append(257)
        acc = nbits = 0
        lzw = bytearray()
        for c in codes:
            acc |= c << nbits
            nbits += 9
            while nbits >= 8:
                lzw.append(acc & 0xFF)
                acc >>= 8
                nbits -= 8
        if nbits:
            lzw.append(acc)
        out.append(b"\x08" + b"".join(bytes([len(lzw[i:i + 255])]) + lzw[i:i + 255]
                                      for i in range(0, len(lzw), 255)) + b"\x00")
    out.append(b"\x3b")
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# Tests


def test_version_lists_formats_and_readyz():
    r = subprocess.run([lib.BIN, "version"], capture_output=True, timeout=10)
    text = r.stdout.decode()
    assert r.returncode == 0, r
    line = next((ln for ln in text.splitlines() if ln.startswith("formats:")), None)
    assert line, "no 'formats:' line in %r" % text
    for fmt in ("jpeg", "png", "webp", "gif"):
        assert fmt in line.split(), "%s missing from %r" % (fmt, line)
    r = srv().request("GET", "/readyz")
    assert r.status == 200, r


def test_no_query_serves_the_original():
    s, u, fx = setup()
    data = lib.jpeg(1500, 1000, seed=31)
    r = ok(get(s, fx["photo"]), "original")
    assert r.body == data and r.headers.get("content-type") == "image/jpeg", r
    assert r.headers.get("etag") == '"%s"' % lib.sha256(data), r.headers


def test_contain_never_enlarges_unless_asked():
    s, _, fx = setup()
    cases = [(fx["photo"], "w=320", (320, 213)), (fx["photo"], "h=320", (480, 320)),
             (fx["photo"], "w=320&h=64", (96, 64)), (fx["photo"], "w=320&h=64&fit=contain",
                                                     (96, 64)),
             (fx["small"], "w=256", (100, 100)), (fx["small"], "w=256&h=64", (64, 64)),
             (fx["small"], "w=256&enlarge=1", (256, 256)), (fx["small"], "w=64", (64, 64)),
             (fx["small"], "w=256&enlarge=0", (100, 100))]
    for iid, q, size in cases:
        r = ok(get(s, iid, q), q)
        w, h, _, _ = header(r.body)
        assert abs(w - size[0]) <= 1 and abs(h - size[1]) <= 1, "%s: %dx%d, expected %dx%d" % (
            q, w, h, size[0], size[1])


def test_cover_and_fill_give_exact_sizes():
    s, u, fx = setup()
    for q, size in (("w=320&h=64&fit=cover", (320, 64)),
                    ("w=320&h=64&fit=cover&crop=centre", (320, 64)),
                    ("w=320&h=64&fit=cover&crop=attention", (320, 64)),
                    ("w=64&h=320&fit=cover", (64, 320)),
                    ("w=64&h=320&fit=fill", (64, 320)),
                    ("w=1280&h=128&fit=fill", (1280, 128))):
        r = ok(get(s, fx["photo"], q), q)
        assert header(r.body)[:2] == size, "%s: %r, expected %r" % (q, header(r.body), size)
    # fill stretches rather than crops: a red-left, blue-right image keeps both halves
    wide = s.upload_ok(u, lib.png_pixels(
        200, 100, b"".join(bytes(RED if x < 100 else BLUE) for _ in range(100)
                           for x in range(200))), query={"visibility": "public"})
    img = pixels(ok(get(s, wide["id"], "w=64&h=64&fit=fill&fmt=png"), "fill").body)
    assert img[:2] == (64, 64), img[:3]
    assert near(pixel(img, 2, 32), RED) and near(pixel(img, 61, 32), BLUE), (
        "fill lost an edge: %r %r" % (pixel(img, 2, 32), pixel(img, 61, 32)))


def test_presets():
    s, _, fx = setup()
    for p, size in (("thumb", (256, 256)), ("small", (640, 427)), ("medium", (1280, 853)),
                    ("large", (1500, 1000))):
        r = ok(get(s, fx["photo"], "p=" + p), p)
        w, h, _, _ = header(r.body)
        assert w == size[0] and abs(h - size[1]) <= 1, "p=%s: %dx%d, expected %r" % (p, w, h, size)
    param_error(get(s, fx["photo"], "p=thumb&w=64"), "p")
    param_error(get(s, fx["photo"], "h=64&p=small"), "p")
    param_error(get(s, fx["photo"], "p=huge"), "p")


def test_invalid_parameters_are_named():
    s, _, fx = setup()
    for q, name in (("w=abc", "w"), ("w=0", "w"), ("w=-64", "w"), ("w=64.5", "w"), ("w=", "w"),
                    ("h=x", "h"), ("q=0", "q"), ("q=101", "q"), ("q=high", "q"),
                    ("fit=squash", "fit"), ("fmt=gif", "fmt"), ("fmt=JPEG2", "fmt"),
                    ("crop=left&w=64&h=64&fit=cover", "crop"), ("enlarge=2", "enlarge"),
                    ("enlarge=yes", "enlarge"), ("w=64&h=64&fit=cover&crop=", "crop"),
                    ("fit=cover&w=64", "fit"), ("fit=fill&h=64", "fit"),
                    ("w=500", "w"), ("h=500", "h"), ("w=64&h=500", "h"), ("w=65&h=64", "w")):
        param_error(get(s, fx["photo"], q), name)
    err = check_error(get(s, fx["photo"], "w=64&v=2"), 400, "invalid_parameter")
    assert "unknown parameter 'v'" in err["message"], err
    # the same goes for HEAD, and the error is not cached as immutable
    r = get(s, fx["photo"], "w=500", method="HEAD")
    assert r.status == 400 and r.body == b"", r
    assert "immutable" not in r.headers.get("cache-control", ""), r.headers


def test_output_formats_decode():
    s, _, fx = setup()
    for fmt, loader in (("jpeg", "jpegload"), ("png", "pngload"), ("webp", "webpload"),
                        ("avif", "heifload")):
        r = ok(get(s, fx["photo"], "w=320&fmt=" + fmt), fmt)
        assert r.headers.get("content-type") == "image/" + fmt, (fmt, r.headers)
        check_magic(r.body, fmt)
        w, h, _, got_loader = header(r.body)
        assert (w, abs(h - 213) <= 1, got_loader) == (320, True, loader), (
            "%s: %dx%d via %s" % (fmt, w, h, got_loader))
    # a conversion without a size keeps the original dimensions
    r = ok(get(s, fx["small"], "fmt=webp"), "fmt only")
    check_magic(r.body, "webp")
    assert header(r.body)[:2] == (100, 100), header(r.body)


def test_quality():
    s, _, fx = setup()
    low = ok(get(s, fx["photo"], "w=640&q=10"), "q=10")
    high = ok(get(s, fx["photo"], "w=640&q=95"), "q=95")
    assert len(low.body) * 2 < len(high.body), "q=10 %d bytes, q=95 %d bytes" % (
        len(low.body), len(high.body))
    # the documented defaults name the same variant as the bare request
    for bare, explicit in (("w=480", "w=480&fmt=jpeg&q=82"),
                           ("w=480&fmt=webp", "q=80&w=480&fmt=webp"),
                           ("w=480&fmt=avif", "fmt=avif&w=480&q=55")):
        a = ok(get(s, fx["photo"], bare), bare)
        b = ok(get(s, fx["photo"], explicit), explicit)
        assert a.headers.get("etag") == b.headers.get("etag") and a.body == b.body, (
            "%s and %s differ: %s %s" % (bare, explicit, a.headers.get("etag"),
                                         b.headers.get("etag")))


def test_default_format_follows_the_original():
    s, u, _ = setup()
    opaque_gif = gif_image(16, 16, [RED, BLUE], [[0] * 256])
    alpha_gif = gif_image(16, 16, [RED, BLUE], [[0, 1] * 128], transparent=1)
    for data, ctype, want in ((lib.jpeg(80, 40, seed=41), "image/jpeg", "jpeg"),
                              (lib.png(80, 40, seed=42), "image/png", "png"),
                              (lib.png(80, 40, alpha=True, seed=43), "image/png", "png"),
                              (lib.webp(80, 40, seed=44), "image/webp", "webp"),
                              (opaque_gif, "image/gif", "jpeg"),
                              (alpha_gif, "image/gif", "png")):
        img = s.upload_ok(u, data, ctype)
        r = ok(get(s, img["id"], "w=64", token=u.token), "%s default" % ctype)
        assert r.headers.get("content-type") == "image/" + want, (
            "%s (alpha %s) served as %r, expected image/%s" % (
                ctype, data is alpha_gif, r.headers.get("content-type"), want))
        check_magic(r.body, want)


def test_fmt_auto_negotiates_and_varies():
    s, u, fx = setup()
    alpha = s.upload_ok(u, lib.png(90, 60, alpha=True, seed=45), query={"visibility": "public"})
    for iid, accept, want in ((fx["photo"], "image/avif,image/webp,*/*", "avif"),
                              (fx["photo"], "image/webp,image/*;q=0.8", "webp"),
                              (fx["photo"], "image/avif;q=0, image/webp", "webp"),
                              (fx["photo"], "*/*", "jpeg"),
                              (fx["photo"], "image/*", "jpeg"),
                              (fx["photo"], None, "jpeg"),
                              (alpha["id"], "*/*", "png"),
                              (alpha["id"], "image/webp", "webp")):
        hdrs = {"Accept": accept} if accept else {}
        r = ok(get(s, iid, "w=64&fmt=auto", headers=hdrs), "auto for %r" % accept)
        assert r.headers.get("content-type") == "image/" + want, (
            "Accept %r: got %r, expected image/%s" % (accept, r.headers.get("content-type"), want))
        check_magic(r.body, want)
        vary = [v.strip().lower() for v in r.headers.get("vary", "").split(",")]
        assert "accept" in vary, "fmt=auto without Vary: Accept: %r" % r.headers
        assert norm(r.headers.get("cache-control")) == IMMUTABLE, r.headers
    private = s.upload_ok(u, lib.png(30, 30, seed=46))
    r = ok(get(s, private["id"], "w=64&fmt=auto", token=u.token,
               headers={"Accept": "image/webp"}), "private auto")
    vary = [v.strip().lower() for v in r.headers.get("vary", "").split(",")]
    for name in ("accept", "cookie", "authorization"):
        assert name in vary, "private fmt=auto Vary %r lacks %s" % (r.headers.get("vary"), name)


def test_signed_urls():
    s, _, fx = setup()
    iid = fx["photo"]
    path = "/i/%s?w=500" % iid
    r = ok(s.request("GET", path + "&sig=" + sign(path)), "signed w=500")
    assert header(r.body)[:2] == (500, 333), header(r.body)
    path = "/i/%s?w=77&h=33&fit=cover&fmt=png" % iid
    r = ok(s.request("GET", path + "&sig=" + sign(path)), "signed cover 77x33")
    assert header(r.body)[:2] == (77, 33), header(r.body)
    # sig sits anywhere: the message is the rest of the query, in order
    msg = "/i/%s?w=300&h=50&fit=fill" % iid
    r = ok(s.request("GET", "/i/%s?w=300&sig=%s&h=50&fit=fill" % (iid, sign(msg))), "sig inside")
    assert header(r.body)[:2] == (300, 50), header(r.body)

    good = sign("/i/%s?w=500" % iid)
    bad = ("A" if good[0] != "A" else "B") + good[1:]
    for url in ("/i/%s?w=500&sig=%s" % (iid, bad),
                "/i/%s?w=500&sig=%s" % (iid, good + "x"),
                "/i/%s?w=500&sig=" % iid,
                "/i/%s?w=500&sig=%s" % (fx["small"], good),            # another image
                "/i/%s?w=501&sig=%s" % (iid, good),                    # another size
                "/i/%s?w=64&sig=%s" % (iid, good),                     # listed, but a bad sig
                "/i/%s?fit=fill&h=50&w=300&sig=%s" % (iid, sign(msg))):  # reordered
        check_error(s.request("GET", url), 403, "invalid_signature")
    # a signature made with another key does not pass
    mac = hmac.new(b"another-key-0123456789", path.encode(), hashlib.sha256).digest()
    other = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    check_error(s.request("GET", path + "&sig=" + other), 403, "invalid_signature")


def test_visibility_matches_originals():
    s, u, _ = setup()
    other = s.new_user("varo")
    private = s.upload_ok(u, lib.unique_png(60, 40))
    unlisted = s.upload_ok(u, lib.unique_png(60, 40), query={"visibility": "unlisted"})
    r = ok(get(s, private["id"], "w=64", token=u.token), "owner by token")
    assert r.headers.get("cache-control", "").startswith("private"), r.headers
    ok(get(s, private["id"], "w=64", cookie={"kho_session": u.cookies["kho_session"][0]}),
       "owner by cookie")
    for q in ("w=64", "p=thumb", "fmt=webp", "w=500"):
        check_error(get(s, private["id"], q), 404, "not_found")
        check_error(get(s, private["id"], q, token=other.token), 404, "not_found")
    check_error(get(s, "999999999999", "w=64"), 404, "not_found")
    r = ok(get(s, unlisted["id"], "w=64"), "unlisted anonymous")
    assert norm(r.headers.get("cache-control")) == IMMUTABLE, r.headers


def test_conditional_range_and_head():
    s, _, fx = setup()
    r = ok(get(s, fx["photo"], "w=800"), "w=800")
    etag, body = r.headers.get("etag"), r.body
    assert ETAG_RE.match(etag or ""), "variant ETag %r" % etag
    assert etag != '"%s"' % lib.sha256(lib.jpeg(1500, 1000, seed=31)), etag
    assert norm(r.headers.get("cache-control")) == IMMUTABLE, r.headers
    assert r.headers.get("accept-ranges") == "bytes", r.headers
    assert r.headers.get("content-length") == str(len(body)), r.headers
    r = get(s, fx["photo"], "w=800", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.headers.get("etag") == etag, r
    r = get(s, fx["photo"], "w=800", headers={"If-None-Match": '"v0000000000000000"'})
    assert r.status == 200 and r.body == body, r
    r = get(s, fx["photo"], "w=800", headers={"Range": "bytes=10-109"})
    assert r.status == 206 and r.body == body[10:110], r
    assert r.headers.get("content-range") == "bytes 10-109/%d" % len(body), r.headers
    r = get(s, fx["photo"], "w=800", headers={"Range": "bytes=-20"})
    assert r.status == 206 and r.body == body[-20:], r
    r = get(s, fx["photo"], "w=800", method="HEAD")
    assert r.status == 200 and r.body == b"", r
    assert r.headers.get("etag") == etag and r.headers.get("content-length") == str(len(body))
    assert r.headers.get("content-type") == "image/jpeg", r.headers
    # HEAD of a variant never made before still answers with its real length
    r = get(s, fx["photo"], "w=1024&fmt=png", method="HEAD")
    assert r.status == 200 and r.body == b"", r
    full = ok(get(s, fx["photo"], "w=1024&fmt=png"), "GET after HEAD")
    assert r.headers.get("content-length") == str(len(full.body)), (r.headers, len(full.body))
    assert r.headers.get("etag") == full.headers.get("etag"), (r.headers, full.headers)


def test_generated_once_then_served_from_the_store():
    s, u, _ = setup()
    img = s.upload_ok(u, lib.unique_png(300, 200), query={"visibility": "public"})
    settle(s, img["id"])
    g0, h0 = metric(s, "kho_variants_generated_total"), metric(s, "kho_variant_hits_total")
    first = ok(get(s, img["id"], "w=128&fmt=webp"), "first")
    g1, h1 = metric(s, "kho_variants_generated_total"), metric(s, "kho_variant_hits_total")
    assert (g1 - g0, h1 - h0) == (1, 0), "first request: generated +%d, hits +%d" % (
        g1 - g0, h1 - h0)
    for _ in range(3):
        again = ok(get(s, img["id"], "w=128&fmt=webp"), "again")
        assert again.body == first.body and again.headers.get("etag") == first.headers.get("etag")
    g2, h2 = metric(s, "kho_variants_generated_total"), metric(s, "kho_variant_hits_total")
    assert (g2 - g1, h2 - h1) == (0, 3), "repeats: generated +%d, hits +%d" % (g2 - g1, h2 - h1)


def test_single_flight():
    s, u, _ = setup()
    img = s.upload_ok(u, lib.png(1200, 900, seed=47, noise=True), query={"visibility": "public"})
    settle(s, img["id"])
    g0 = metric(s, "kho_variants_generated_total")
    rs = parallel(20, lambda i: get(s, img["id"], "w=640&fmt=webp&q=70"))
    bad = [r for r in rs if not isinstance(r, lib.Resp) or r.status != 200]
    assert not bad, "%d of 20 failed, e.g. %r" % (len(bad), bad[0])
    assert len({r.body for r in rs}) == 1, "20 parallel requests got %d different bodies" % len(
        {r.body for r in rs})
    g1 = metric(s, "kho_variants_generated_total")
    assert g1 - g0 == 1, "20 parallel requests generated %d variants" % (g1 - g0)
    assert s.healthy()


def test_eager_thumbnail_and_placeholder():
    # a wait long enough for slow machines and remote blob stores (the default is 150 ms)
    s = lib.server("--sign-key", KEY, "--thumb-wait-ms", "5000")
    u = s.new_user("vare")
    g0 = metric(s, "kho_variants_generated_total")
    img = s.upload_ok(u, lib.png(400, 300, seed=random.getrandbits(31)),
                      query={"visibility": "public"})
    ph = img.get("placeholder")
    assert isinstance(ph, str) and ph, "upload has no placeholder: %r" % img
    raw = base64.b64decode(ph + "=" * (-len(ph) % 4), validate=True)
    assert 5 <= len(raw) <= 40, "placeholder of %d bytes: %r" % (len(raw), ph)
    r = s.request("GET", "/api/v1/images/" + img["id"], token=u.token)
    assert r.status == 200 and r.json().get("placeholder") == ph, r
    other = s.new_user("varp")
    r = s.request("GET", "/api/v1/images/" + img["id"], token=other.token)
    assert r.status == 200 and r.json().get("placeholder") == ph, r
    g1, h1 = metric(s, "kho_variants_generated_total"), metric(s, "kho_variant_hits_total")
    assert g1 - g0 == 1, "the upload generated %d variants, expected its thumbnail" % (g1 - g0)
    r = ok(get(s, img["id"], "p=thumb"), "thumb")
    assert r.headers.get("content-type") == "image/png", r.headers
    assert header(r.body)[:2] == (256, 256), "thumb of 400x300: %r" % (header(r.body),)
    g2, h2 = metric(s, "kho_variants_generated_total"), metric(s, "kho_variant_hits_total")
    assert (g2 - g1, h2 - h1) == (0, 1), "?p=thumb after upload: generated +%d, hits +%d" % (
        g2 - g1, h2 - h1)


def test_delete_removes_variants():
    s, u, _ = setup()
    img = s.upload_ok(u, lib.unique_png(200, 150), query={"visibility": "public"})
    settle(s, img["id"])
    for q in ("w=64", "w=128&fmt=webp", "p=small&fmt=avif"):
        ok(get(s, img["id"], q), q)
    made = 4  # the thumbnail and three more
    before = metric(s, "kho_store_deletes_total")
    r = s.request("DELETE", "/api/v1/images/" + img["id"], token=u.token)
    assert r.status == 204, r
    after = metric(s, "kho_store_deletes_total")
    assert after - before == 1 + made, "%d blobs deleted, expected %d" % (after - before, 1 + made)
    for q in ("w=64", "p=thumb", "", "w=128&fmt=webp"):
        check_error(get(s, img["id"], q), 404, "not_found")


def test_exif_orientations_give_upright_variants():
    s, u, _ = setup()
    for o in range(1, 9):
        data = oriented_jpeg(o)
        img = s.upload_ok(u, data, "image/jpeg")
        r = ok(get(s, img["id"], token=u.token), "original %d" % o)
        assert lib.sha256(r.body) == lib.sha256(data), "orientation %d: original altered" % o
        r = ok(get(s, img["id"], "w=64&fmt=png", token=u.token), "variant %d" % o)
        px = pixels(r.body)
        assert px[:2] == (64, 32), "orientation %d: variant is %dx%d" % (o, px[0], px[1])
        got = {(x, y): pixel(px, x, y) for x, y in ((8, 8), (56, 8), (8, 24), (56, 24))}
        assert near(got[(8, 8)], RED) and all(near(got[p], BLUE) for p in got if p != (8, 8)), (
            "orientation %d: red corner not top-left: %r" % (o, got))
        r = ok(get(s, img["id"], "w=64&fmt=jpeg", token=u.token), "jpeg variant %d" % o)
        assert not has_exif(r.body), "orientation %d: JPEG variant carries EXIF" % o


def test_exif_details_and_gps_privacy():
    s, u, _ = setup()
    other = s.new_user("vare")
    app1 = exif_app1(make="KhoCam", model="Model 9", taken="2021:06:15 14:30:05",
                     gps=(48.8584, -2.2945))
    data = with_exif(lib.convert(lib.png(96, 64, seed=48), "jpg", "Q=90,strip"), app1)
    r = s.upload(u, data, "image/jpeg", query={"visibility": "public"})
    assert r.status == 201, r
    img = r.json()
    gps = img.get("gps")
    assert isinstance(gps, dict) and abs(gps.get("lat", 0) - 48.8584) < 1e-3 and \
        abs(gps.get("lon", 0) + 2.2945) < 1e-3, "owner's gps %r" % gps
    assert img.get("camera") == {"make": "KhoCam", "model": "Model 9"}, img.get("camera")
    taken = img.get("taken_at")
    assert isinstance(taken, str) and lib.ISO_RE.match(taken) and \
        taken.startswith("2021-06-15T14:30:05"), "taken_at %r" % taken
    r = s.request("GET", "/api/v1/images/" + img["id"], token=u.token)
    assert r.status == 200 and r.json().get("gps") == gps, r
    for who in (other.token, None):
        r = s.request("GET", "/api/v1/images/" + img["id"], token=who)
        assert r.status == 200, r
        doc = r.json()
        assert "gps" not in doc, "non-owner sees gps: %r" % doc
        assert doc.get("camera") == img["camera"] and doc.get("taken_at") == taken, doc
    r = ok(get(s, img["id"]), "original")
    assert r.body == data, "original with EXIF altered"
    for q in ("w=64", "fmt=jpeg", "w=64&fmt=webp", "w=64&fmt=png"):
        r = ok(get(s, img["id"], q), q)
        for needle in (b"Exif\0\0", b"KhoCam", b"2021:06:15"):
            assert needle not in r.body, "variant %s carries %r" % (q, needle)
        if r.headers.get("content-type") == "image/jpeg":
            assert not has_exif(r.body), "variant %s has an APP1 Exif segment" % q


def test_watermark():
    plain, u, _ = setup()
    wm = lib.server("--sign-key", KEY, *WATERMARK)
    grey = solid_png(400, 400, GREY)
    wu = wm.new_user("varw")
    on_wm = wm.upload_ok(wu, grey, query={"visibility": "public"})
    on_plain = plain.upload_ok(u, grey, query={"visibility": "public"})
    a = pixels(ok(get(plain, on_plain["id"], "w=256&fmt=png"), "plain variant").body)
    b = pixels(ok(get(wm, on_wm["id"], "w=256&fmt=png"), "watermarked variant").body)
    assert a[:2] == b[:2] == (256, 256), (a[:3], b[:3])

    def changed(x0, y0, x1, y1):
        return sum(1 for y in range(y0, y1) for x in range(x0, x1)
                   if not near(pixel(a, x, y), pixel(b, x, y), 40))

    assert changed(0, 0, 128, 128) == 0, "the watermark reaches the top-left quarter"
    n = changed(128, 128, 256, 256)
    assert n >= 100, "only %d pixels of the bottom-right quarter carry the watermark" % n

    # the owner's original stays clean; anyone else gets it marked at full size
    r = ok(get(wm, on_wm["id"], token=wu.token), "owner original")
    assert r.body == grey, "owner's original is not byte-exact"
    other = wm.new_user("varx")
    for who in (None, other.token):
        r = ok(get(wm, on_wm["id"], token=who), "non-owner original")
        assert r.body != grey, "non-owner got the clean original"
        full = pixels(r.body)
        assert full[:2] == (400, 400), "watermarked original is %dx%d" % full[:2]
        corner = [pixel(full, x, y) for y in range(200, 400, 3) for x in range(200, 400, 3)]
        assert near(pixel(full, 10, 10), GREY, 3) and not all(near(p, GREY, 40) for p in corner), (
            "non-owner original is not watermarked in the corner")


def test_decompression_bombs_refused_at_the_probe():
    s, u, _ = setup()
    before = rss_kb(s)
    for w, h in ((50000, 50000), (30000, 30000), (20000, 20000), (29999, 29000), (8000, 60000)):
        t0 = time.monotonic()
        r = s.upload(u, lib.bomb_png(w, h))
        dt = time.monotonic() - t0
        check_error(r, 413, "image_too_large")
        assert dt < 1.0, "%dx%d bomb took %.2f s" % (w, h, dt)
    grown = rss_kb(s) - before
    assert grown < 50 * 1024, "RSS grew by %d KiB across 5 bombs" % grown
    assert s.healthy()


def test_input_formats():
    s, u, _ = setup()
    anim = gif_image(32, 32, [RED, BLUE], [[0] * 1024, [1] * 1024])
    cases = (("image/jpeg", lib.jpeg(96, 64, seed=49), (64, 43)),
             ("image/png", lib.png(96, 64, seed=50), (64, 43)),
             ("image/webp", lib.webp(96, 64, seed=51), (64, 43)),
             ("image/gif", anim, (32, 32)))
    for ctype, data, size in cases:
        img = s.upload_ok(u, data, ctype)
        r = ok(get(s, img["id"], "w=64&fmt=png", token=u.token), ctype)
        px = pixels(r.body)
        assert abs(px[0] - size[0]) <= 1 and abs(px[1] - size[1]) <= 1, (
            "%s variant %dx%d, expected %r" % (ctype, px[0], px[1], size))
        if data is anim:
            assert near(pixel(px, 16, 16), RED, 10), "GIF variant is not the first frame: %r" % (
                pixel(px, 16, 16),)
    # TIFF in (issue #3); a truncated one is refused at upload
    tif = lib.tiff(64, 48, seed=52)
    img = s.upload_ok(u, tif, "image/tiff")
    assert img["format"] == "tiff" and (img["width"], img["height"]) == (64, 48)
    px = pixels(ok(get(s, img["id"], "w=64&fmt=png", token=u.token), "image/tiff").body)
    assert (px[0], px[1]) == (64, 48)
    check_error(s.upload(u, tif[:len(tif) // 2], "image/tiff"), 400, "invalid_image")


def test_full_queue_answers_503_then_recovers():
    s = lib.server("--process-workers", "1", "--process-queue", "1", "--thumb-wait-ms", "0")
    u = s.new_user("varq")
    img = s.upload_ok(u, lib.png(1200, 1200, seed=53, noise=True), query={"visibility": "public"})
    settle(s, img["id"])  # the eager thumbnail, queued without waiting
    queries = ["w=%d&fmt=%s" % (w, f) for f in ("jpeg", "png", "webp")
               for w in (64, 128, 256, 320, 480, 640)]
    queries += ["w=%d&q=50" % w for w in (64, 128, 256, 320, 480, 640)]
    rs = parallel(len(queries), lambda i: get(s, img["id"], queries[i]))
    errs = [(q, r) for q, r in zip(queries, rs) if not isinstance(r, lib.Resp)]
    assert not errs, "requests failed at the socket: %r" % errs[:3]
    busy = [(q, r) for q, r in zip(queries, rs) if r.status == 503]
    odd = [(q, r) for q, r in zip(queries, rs) if r.status not in (200, 503)]
    assert not odd, "a full queue answered %r" % odd[:3]
    assert busy, "30 parallel variants on one worker with a 1-slot queue: no 503"
    for q, r in busy:
        check_error(r, 503, "unavailable")
        assert r.headers.get("retry-after"), "%s: 503 without Retry-After: %r" % (q, r.headers)
    assert s.healthy() and s.request("GET", "/readyz").status == 200
    for q in queries:
        ok(get(s, img["id"], q), "after the burst: " + q)


def test_kho_sign_makes_urls_the_server_accepts():
    # a server with its own key file (DATA/sign.key): `kho sign --data` signs with it
    s = lib.server()
    u = s.new_user("varsign")
    img = s.upload_ok(u, lib.png(900, 600, seed=61), query={"visibility": "public"})
    path = "/i/%s?w=500&fmt=png" % img["id"]
    check_error(s.request("GET", path), 400, "invalid_parameter")
    signed = subprocess.run([lib.BIN, "sign", "--data", s.data, path], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert signed.startswith(path + "&sig="), signed
    r = s.request("GET", signed)
    assert r.status == 200 and r.headers["content-type"] == "image/png", r
    assert pixels(r.body)[:2] == (500, 333)
    # the wrong key's signature is refused
    other = subprocess.run([lib.BIN, "sign", "--sign-key", "not-the-servers-key-0123", path],
                           check=True, capture_output=True, text=True).stdout.strip()
    check_error(s.request("GET", other), 403, "invalid_signature")
