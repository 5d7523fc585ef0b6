"""`kho gc` against a real store: blobs no record names are found (a dry run deletes nothing) and
deleted, an original younger than --grace is kept, live images and variants are still served, and
gc refuses to run beside the server that holds the store."""

import math
import re
import sqlite3
import subprocess
import time

import lib

REPORT = re.compile(r"orphans: (\d+) originals \((\d+) bytes\), (\d+) variants \((\d+) bytes\); "
                    r"(\d+) within the grace kept")


def gc(s, *args):
    """Run `kho gc` on s's store; returns (exit status, output)."""
    cmd = [lib.BIN, "gc"] + lib.store_args(s.data) + \
        (["--blob", lib.blob_flag()] if lib.blob_flag() else [])
    r = subprocess.run(cmd + list(args), capture_output=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def report(out):
    """(orphan originals, orphan variants, young originals) from gc's report."""
    m = REPORT.search(out)
    assert m, "no report in gc's output:\n" + out
    return int(m.group(1)), int(m.group(3)), int(m.group(5))


def forget(s, *ids):
    """Delete images' records (and their variants') behind kho's back, as a crash between a blob
    write and its record would leave them."""
    db = sqlite3.connect(lib.sqlite_path(s.data))
    marks = ",".join("?" * len(ids))
    db.execute("DELETE FROM variants WHERE image_id IN (%s)" % marks, ids)
    db.execute("DELETE FROM images WHERE id IN (%s)" % marks, ids)
    db.commit()
    db.close()


def noise(seed):
    return lib.png(48, 48, seed=seed, noise=True)


def test_gc_reclaims_orphans_and_keeps_the_rest():
    lib.requires_sqlite("the test removes records from the SQLite file")
    if lib.blob_flag() is not None and lib.volume_dir("x") is None:
        raise lib.Skip("gc works on local volume stores only")
    s = lib.Server()
    s.start()
    try:
        u = s.new_user("gc")
        keep = s.upload_ok(u, noise(11))
        old = s.upload_ok(u, noise(12))
        for img in (keep, old):
            r = s.request("GET", "/i/%s?w=64" % img["id"], token=u.token)
            assert r.status == 200, r
        keep_variant = s.request("GET", "/i/%s?w=64" % keep["id"], token=u.token).body
        time.sleep(5)
        young_at = time.time()
        young = s.upload_ok(u, noise(13))

        code, out = gc(s)
        assert code == 2 and "stop the server first" in out, (code, out)
        assert s.stop() == 0
        forget(s, int(old["id"]), int(young["id"]))

        # the old orphan is past the grace, the young one (uploaded 5 s later) within it
        grace = "%ds" % (math.ceil(time.time() - young_at) + 2)
        code, out = gc(s, "--grace", grace, "--dry-run")
        assert code == 0 and "dry run: deleted nothing" in out, (code, out)
        originals, variants, young_n = report(out)
        assert (originals, young_n) == (1, 1) and variants >= 1, out

        code, out = gc(s, "--grace", grace)
        assert code == 0, (code, out)
        assert report(out)[:2] == (originals, variants), "the dry run deleted something:\n" + out
        assert "deleted %d orphans" % (originals + variants) in out, out
        # the store no longer lists them; the young orphan stays
        code, out = gc(s, "--grace", grace, "--dry-run")
        assert code == 0 and report(out) == (0, 0, 1), (code, out)

        s.start()
        r = s.request("GET", keep["url"], token=u.token)
        assert r.status == 200 and lib.sha256(r.body) == keep["sha256"], r
        r = s.request("GET", "/i/%s?w=64" % keep["id"], token=u.token)
        assert r.status == 200 and r.body == keep_variant, r
        r = s.request("GET", old["url"], token=u.token)
        assert r.status == 404, r
    finally:
        s.stop()


def test_gc_usage_errors():
    for args in (["--grace", "1w"], ["--grace", ""], ["stray"]):
        r = subprocess.run([lib.BIN, "gc", "--data", "/nonexistent-kho"] + args,
                           capture_output=True, timeout=30)
        assert r.returncode == 2, (args, r)
    r = subprocess.run([lib.BIN, "gc", "--data", "/nonexistent-kho"], capture_output=True,
                       timeout=30)
    assert r.returncode == 2 and b"no database" in r.stderr, r
    r = subprocess.run([lib.BIN, "gc", "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"--grace" in r.stdout, r
