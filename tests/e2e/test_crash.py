"""Crash safety: concurrent uploads while the server is SIGKILLed at random moments, then torn
volume tails made by hand. Every acknowledged upload must survive byte for byte, nothing may be
half-visible, and `kho fsck` must find the data dir clean."""

import glob
import http.client
import os
import random
import threading
import time

import lib

ROUNDS = 8
THREADS = 6


class Ledger:
    """What the clients know: every body they tried to upload and every upload acknowledged."""

    def __init__(self, users):
        self.users = users
        self.lock = threading.Lock()
        self.tried = {u.id: set() for u in users}  # owner id -> sha256 of every body sent
        self.acked = {}                            # image id -> (owner, sha256)

    def try_body(self, user, data):
        with self.lock:
            self.tried[user.id].add(lib.sha256(data))

    def ack(self, user, image_id, digest):
        with self.lock:
            self.acked[image_id] = (user, digest)


def uploader(s, user, ledger, stop, rnd):
    while not stop.is_set():
        side = rnd.randint(26, 115)  # noise PNGs of ~2-40 KB
        data = lib.png(side, rnd.randint(26, 115), seed=rnd.getrandbits(31), noise=True)
        ledger.try_body(user, data)
        try:
            r = s.upload(user, data)
        except (OSError, http.client.HTTPException):
            return
        if r.status == 201:
            ledger.ack(user, r.json()["id"], lib.sha256(data))
        elif r.status != 503:
            raise AssertionError("upload answered %r" % r)


def verify(s, ledger, exempt=()):
    """All acknowledged uploads are served identical; every listed image is whole and is one we
    sent. exempt: ids that a deliberate tear may have destroyed."""
    c = s.conn()
    try:
        for u in ledger.users:
            items = s.list_all("/api/v1/images", token=u.token)
            listed = {i["id"]: i for i in items}
            assert len(listed) == len(items), "listing repeats images for %s" % u.username
            for image_id, (owner, digest) in ledger.acked.items():
                if owner is u and image_id not in exempt:
                    assert image_id in listed, "acknowledged upload %s missing from %s's " \
                        "listing" % (image_id, u.username)
                    assert listed[image_id]["sha256"] == digest, listed[image_id]
            for image_id, item in listed.items():
                assert item["sha256"] in ledger.tried[u.id], \
                    "listed image %s has bytes nobody uploaded: %r" % (image_id, item)
                r = s.request("GET", "/i/" + image_id, token=u.token, conn=c)
                if image_id in exempt:
                    if r.status == 200:
                        assert lib.sha256(r.body) == item["sha256"], \
                            "torn image %s served with wrong bytes" % image_id
                    else:
                        lib.check_error(r, r.status, "internal_error" if r.status == 500 else
                                        None)
                    continue
                assert r.status == 200, "listed image %s not served: %r" % (image_id, r)
                assert lib.sha256(r.body) == item["sha256"] and len(r.body) == item["bytes"], \
                    "image %s served with different bytes (%d bytes)" % (image_id, len(r.body))
    finally:
        c.close()


def fsck_clean(data):
    code, out = lib.fsck(data)
    assert code == 0, "kho fsck exited %d:\n%s" % (code, out[-3000:])


def newest_volume(data):
    vols = glob.glob(os.path.join(lib.volume_dir(data), "*.dat"))
    assert vols, "no volumes under %s" % lib.volume_dir(data)
    return max(vols, key=lambda p: (os.path.getmtime(p), p))


def test_kill9_during_concurrent_uploads():
    s = lib.Server()
    s.start()
    try:
        users = [s.new_user("crash") for _ in range(THREADS)]
        ledger = Ledger(users)
        rnd = random.Random()
        for round_no in range(ROUNDS):
            if round_no:
                s.start()
                verify(s, ledger)
            stop = threading.Event()
            errors = []

            def run(u, seed):
                try:
                    uploader(s, u, ledger, stop, random.Random(seed))
                except AssertionError as e:
                    errors.append(e)

            threads = [threading.Thread(target=run, args=(u, rnd.getrandbits(32)))
                       for u in users]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.2, 1.5))
            s.kill()
            stop.set()
            for t in threads:
                t.join(30)
            assert not errors, errors[0]
        assert len(ledger.acked) >= ROUNDS, "only %d uploads acknowledged in %d rounds" % (
            len(ledger.acked), ROUNDS)
        s.start()
        verify(s, ledger)
        assert s.stop() == 0, "unclean exit on SIGTERM"
        print("     %d rounds of kill -9: %d uploads acknowledged, %d sent" % (
            ROUNDS, len(ledger.acked), sum(len(t) for t in ledger.tried.values())))
        if lib.volume_dir(s.data) is None:
            return  # fsck and hand-made tears need the local volume store
        fsck_clean(s.data)

        # A torn tail: garbage after the last record of the newest volume.
        with open(newest_volume(s.data), "ab") as f:
            f.write(os.urandom(1000))
        s.start()
        verify(s, ledger)
        after = lib.png(50, 50, seed=rnd.getrandbits(31), noise=True)
        ledger.try_body(users[0], after)
        img = s.upload_ok(users[0], after)
        ledger.ack(users[0], img["id"], lib.sha256(after))
        assert s.stop() == 0
        fsck_clean(s.data)
        s.start()
        verify(s, ledger)  # the upload written after the repaired tail survives a restart
        # A record cut short: truncate the newest volume into the last upload's bytes.
        last = lib.png(90, 90, seed=rnd.getrandbits(31), noise=True)
        ledger.try_body(users[1], last)
        torn = s.upload_ok(users[1], last)
        ledger.ack(users[1], torn["id"], lib.sha256(last))
        assert s.stop() == 0
        vol = newest_volume(s.data)
        size = os.path.getsize(vol)
        os.truncate(vol, size - len(last) // 2)
        s.start()
        verify(s, ledger, exempt={torn["id"]})
        assert s.stop() == 0
        fsck_clean(s.data)
    finally:
        s.stop()


def test_fsck_finds_and_quarantines_a_flipped_byte():
    s = lib.Server()
    s.start()
    try:
        u = s.new_user("fsck")
        keep = [s.upload_ok(u, lib.unique_png(40, 40)) for _ in range(3)]
        data = lib.png(64, 64, seed=random.getrandbits(31), noise=True)
        bad = s.upload_ok(u, data)
        assert s.stop() == 0
        if lib.volume_dir(s.data) is None:
            return
        fsck_clean(s.data)
        vol = newest_volume(s.data)
        with open(vol, "r+b") as f:
            blob = f.read()
            at = blob.find(data)
            at = at + len(data) // 2 if at >= 0 else len(blob) - len(data) // 2
            f.seek(at)
            f.write(bytes([blob[at] ^ 0x5A]))
        code, out = lib.fsck(s.data)
        assert code == 1, "fsck must exit 1 on a corrupt record, got %d:\n%s" % (code, out)
        code, out = lib.fsck(s.data, "--repair")
        assert code in (0, 1), "fsck --repair failed (%d):\n%s" % (code, out)
        fsck_clean(s.data)
        s.start()
        for img in keep:
            r = s.request("GET", img["url"], token=u.token)
            assert r.status == 200 and lib.sha256(r.body) == img["sha256"], r
        r = s.request("GET", bad["url"], token=u.token)
        assert r.status != 200 and r.status != 206, \
            "the quarantined image is still served: %d %s" % (r.status, lib.sha256(r.body))
    finally:
        s.stop()
