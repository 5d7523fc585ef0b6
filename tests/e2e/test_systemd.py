"""The systemd units in deploy/systemd pass `systemd-analyze verify` without a warning (unknown
keys and bad values are only warnings there), with ExecStart pointed at the binary under test.
Skipped without systemd-analyze; starting them needs systemd as PID 1, which tests do not have."""

import os
import shutil
import subprocess
import tempfile

import lib

UNITS = os.path.join(lib.REPO, "deploy", "systemd")
INSTALLED = "/usr/local/bin/kho"


def test_units_verify_cleanly():
    if shutil.which("systemd-analyze") is None:
        raise lib.Skip("systemd-analyze is not installed (Debian package systemd)")
    d = tempfile.mkdtemp(prefix="units-", dir=lib.root_dir())
    names = []
    for name in sorted(os.listdir(UNITS)):
        if not name.endswith(".service"):
            continue
        with open(os.path.join(UNITS, name)) as f:
            text = f.read()
        assert "ExecStart=%s server" % INSTALLED in text, "%s does not run %s" % (name, INSTALLED)
        # a template is verified through one of its instances
        unit = name.replace("@.", "@8081.")
        with open(os.path.join(d, unit), "w") as f:
            f.write(text.replace(INSTALLED, os.path.abspath(lib.BIN)))
        names.append(unit)
    assert set(names) == {"kho-api.service", "kho-process.service", "kho@8081.service"}, names
    for unit in names:
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", "./" + unit], cwd=d,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), "%s: %s" % (unit, r.stderr)
