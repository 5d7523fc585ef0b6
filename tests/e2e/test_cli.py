"""The command-line client (kho login/upload/ls/get/rm) against a real server: login with the
password on stdin, parallel uploads with skip-what-is-there, Ctrl-C and resume, variants,
deletes and the exit codes."""

import os
import signal
import subprocess
import tempfile

import lib


class Cli:
    """One client user: its own HOME and XDG dirs (config and upload state), logged in."""

    def __init__(self, s):
        self.s = s
        self.home = tempfile.mkdtemp(prefix="cli-", dir=lib.root_dir())
        self.env = dict(os.environ, HOME=self.home,
                        XDG_CONFIG_HOME=os.path.join(self.home, "config"),
                        XDG_STATE_HOME=os.path.join(self.home, "state"))
        for k in ("KHO_URL", "KHO_TOKEN", "KHO_PASSWORD"):
            self.env.pop(k, None)
        self.username = lib.rand_name("cli")
        r = s.register(self.username)
        assert r.status == 201, r
        self.token = s.login(self.username).json()["token"]

    def run(self, *args, stdin=b"", env=None, timeout=30):
        r = subprocess.run([lib.BIN] + list(args), input=stdin, capture_output=True,
                           env=dict(self.env, **(env or {})), timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode()

    def login(self):
        url = "http://127.0.0.1:%d" % self.s.port
        code, out, err = self.run("login", "--url", url, "--username", self.username,
                                  stdin=(lib.PASSWORD + "\n").encode())
        assert code == 0, (code, out, err)
        path = os.path.join(self.home, "config", "kho", "config")
        assert os.stat(path).st_mode & 0o777 == 0o600, oct(os.stat(path).st_mode)
        with open(path) as f:
            conf = f.read()
        assert "url = " + url in conf and "token = " in conf, conf

    def images(self):
        return self.s.list_all("/api/v1/images", token=self.token)


def image_dir(n, size=48):
    d = tempfile.mkdtemp(prefix="imgs-", dir=lib.root_dir())
    os.makedirs(os.path.join(d, "sub"))
    for i in range(n):
        sub = "sub" if i % 3 == 0 else ""
        with open(os.path.join(d, sub, "img%02d.png" % i), "wb") as f:
            f.write(lib.png(size, size, seed=lib.random.getrandbits(31), noise=True))
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not an image\n")
    return d


def uploads_total(s):
    return lib.metric_sum(s.metrics(), "kho_uploads_total")


_cli = {}


def logged_in():
    """A logged-in client with 6 uploaded images (the first test makes it)."""
    s = lib.server()
    if _cli.get("s") is not s:
        c = Cli(s)
        c.login()
        _cli.update(s=s, cli=c, dir=image_dir(6))
    return _cli["cli"], _cli["dir"]


def test_cli_login_upload_ls_and_skip_on_rerun():
    c, d = logged_in()
    code, out, err = c.run("upload", d, "-j", "3", "--tags", "sea,x", "--visibility", "unlisted")
    assert code == 0, (code, out, err)
    lines = out.splitlines()
    assert sum(ln.startswith("uploaded ") for ln in lines) == 6, out
    assert "skipped %s (not an image)" % os.path.join(d, "notes.txt") in lines, out
    imgs = c.images()
    assert len(imgs) == 6, imgs
    assert all(i["tags"] == ["sea", "x"] and i["visibility"] == "unlisted" for i in imgs), imgs
    code, out, err = c.run("ls")
    assert code == 0, (code, out, err)
    rows = [ln.split("\t") for ln in out.splitlines()]
    assert sorted(r[0] for r in rows) == sorted(i["id"] for i in imgs), out
    assert all(r[1] == "png" and r[2] == "48x48" and r[4] == "unlisted" and r[6] == "sea,x"
               for r in rows), out
    code, out, err = c.run("ls", "--json", "--limit", "4")
    assert code == 0 and len(out.splitlines()) == 4, (code, out, err)
    assert lib.json.loads(out.splitlines()[0])["id"] in {i["id"] for i in imgs}, out

    before = uploads_total(c.s)
    code, out, err = c.run("upload", d, "-j", "3")
    assert code == 0, (code, out, err)
    assert sum(ln.startswith("skipped ") and "already uploaded" in ln
               for ln in out.splitlines()) == 6, out
    assert "uploaded " not in out, out
    assert uploads_total(c.s) == before, "a re-run uploaded again"
    assert len(c.images()) == 6


def test_cli_interrupt_and_resume():
    c = Cli(lib.server())
    c.login()
    d = image_dir(30, size=200)
    p = subprocess.Popen([lib.BIN, "upload", d, "-j", "1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=c.env)
    seen = 0
    for line in p.stdout:
        if line.startswith(b"uploaded "):
            seen += 1
            if seen == 3:
                p.send_signal(signal.SIGINT)
                break
    rest, err = p.communicate(timeout=30)
    assert p.returncode == 130, (p.returncode, rest, err)
    first = len(c.images())
    assert 3 <= first < 30, "interrupt had no effect: %d uploaded" % first
    code, out, err = c.run("upload", d, "-j", "1")
    assert code == 0, (code, out, err)
    assert sum(ln.startswith("uploaded ") for ln in out.splitlines()) == 30 - first, out
    assert len(c.images()) == 30


def test_cli_get_variant_original_and_rm():
    c, d = logged_in()
    ids = [i["id"] for i in c.images()]
    assert ids, "the upload test did not run first"
    big = os.path.join(lib.root_dir(), "big.jpg")
    with open(big, "wb") as f:
        f.write(lib.jpeg(640, 480, seed=lib.random.getrandbits(31)))
    code, out, err = c.run("upload", big)
    assert code == 0 and out.startswith("uploaded "), (code, out, err)
    img_id = out.split()[-1]
    work = tempfile.mkdtemp(prefix="get-", dir=lib.root_dir())
    webp = os.path.join(work, "out.webp")
    code, out, err = c.run("get", img_id, "--w", "256", "--fmt", "webp", "-o", webp)
    assert code == 0, (code, out, err)
    with open(webp, "rb") as f:
        head = f.read(12)
    assert head[:4] == b"RIFF" and head[8:12] == b"WEBP", head
    width = subprocess.run(["vipsheader", "-f", "width", webp], capture_output=True, text=True)
    assert width.stdout.strip() == "256", width
    orig = os.path.join(work, "orig.jpg")
    code, out, err = c.run("get", img_id, "-o", orig)
    assert code == 0, (code, out, err)
    with open(orig, "rb") as f, open(big, "rb") as g:
        assert f.read() == g.read(), "the original is not byte-identical"
    r = subprocess.run([lib.BIN, "get", img_id, "-o", "-"], capture_output=True, env=c.env,
                       timeout=30)
    with open(big, "rb") as g:
        assert r.returncode == 0 and r.stdout == g.read(), (r.returncode, r.stderr)
    assert sorted(os.listdir(work)) == ["orig.jpg", "out.webp"], os.listdir(work)

    code, out, err = c.run("rm", img_id)
    assert code == 0, (code, out, err)
    code, out, err = c.run("get", img_id, "-o", os.path.join(work, "gone.jpg"))
    assert code == 4 and err.startswith("kho: "), (code, out, err)
    assert sorted(os.listdir(work)) == ["orig.jpg", "out.webp"], "a failed get left a file"


def test_cli_exit_codes():
    c, d = logged_in()
    code, out, err = c.run("ls", env={"KHO_TOKEN": "garbage"})
    assert code == 3 and err.startswith("kho: ") and len(err) > 6, (code, out, err)
    code, out, err = c.run("upload", "/no/such/file")
    assert code == 1 and "kho: cannot read '/no/such/file'" in err, (code, out, err)
    code, out, err = c.run("upload", d, "--album", "")
    assert code == 2 and "--album needs an album id or title" in err, (code, err)
    code, out, err = c.run("get", "not-an-id")
    assert code == 2, (code, out, err)
    code, out, err = c.run("ls", env={"KHO_URL": "http://127.0.0.1:%d" % lib.free_port()})
    assert code == 5 and err.startswith("kho: "), (code, out, err)
    stopped = lib.Server()
    stopped.start()
    stopped.stop()
    code, out, err = c.run("ls", "--url", "http://127.0.0.1:%d" % stopped.port)
    assert code == 5 and err.startswith("kho: "), (code, out, err)
    no_login = dict(c.env, XDG_CONFIG_HOME=os.path.join(c.home, "elsewhere"))
    r = subprocess.run([lib.BIN, "ls"], capture_output=True, env=no_login, timeout=10)
    assert r.returncode == 3 and b"not logged in" in r.stderr, r
