#!/usr/bin/env python3
"""Runs the end-to-end suite: every test_* function of tests/e2e/test_*.py, in order.

Usage: run.py [-k SUBSTRING]... [-v]    (KHO_BIN picks the binary, KHO_E2E_ARGS adds server flags)
Ends with the line `N passed, N failed` (`, N skipped` added when a test raised lib.Skip); exit
status 1 when anything failed.
"""

import argparse
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lib  # noqa: E402


def load_modules():
    mods = []
    for name in sorted(os.listdir(HERE)):
        if name.startswith("test_") and name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            mods.append(mod)
    return mods


def tests_of(mod):
    # Definition order: tests in a module may build on each other's cheap set-up, never on state.
    fns = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
    return sorted(fns, key=lambda nf: nf[1].__code__.co_firstlineno)


def describe(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((fr for fr in reversed(tb) if os.path.basename(fr.filename).startswith("test_")),
                 tb[-1] if tb else None)
    loc = "%s:%d: " % (os.path.basename(where.filename), where.lineno) if where else ""
    msg = str(exc) or (where.line if where else "")
    return "%s%s: %s" % (loc, type(exc).__name__, msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print the traceback of failures")
    args = ap.parse_args()

    print("kho e2e: binary %s%s" % (lib.BIN, (" args " + " ".join(lib.EXTRA_ARGS))
                                   if lib.EXTRA_ARGS else ""), flush=True)
    passed = failed = skipped = 0
    start = time.monotonic()
    for mod in load_modules():
        for name, fn in tests_of(mod):
            full = "%s.%s" % (mod.__name__, name)
            if args.k and not any(k in full for k in args.k):
                continue
            lib.take_touched()
            t0 = time.monotonic()
            err = None
            try:
                fn()
            except lib.Skip as e:
                skipped += 1
                print("skip %s: %s" % (full, e), flush=True)
                continue
            except Exception as e:  # noqa: BLE001 - a test's failure of any kind is reported
                err = e
            for s in lib.shared_servers():
                if err is None and s.proc is not None and s.proc.poll() is not None:
                    err = AssertionError("server died with exit code %s during the test" %
                                         s.proc.returncode)
            dt = time.monotonic() - t0
            if isinstance(err, lib.Skip):
                skipped += 1
                print("skip %s (%s)" % (full, err), flush=True)
                continue
            if err is None:
                passed += 1
                print("ok  %s (%.1fs)" % (full, dt), flush=True)
                continue
            failed += 1
            print("FAIL %s (%.1fs)\n     %s" % (full, dt, describe(err)), flush=True)
            if args.v:
                traceback.print_exception(err)
            seen = []
            for s in lib.take_touched() + lib.shared_servers():
                if s in seen:
                    continue
                seen.append(s)
                print("     --- server log tail (%s) ---" % s.log_path)
                print("\n".join("     | " + ln for ln in s.log_tail(25).splitlines()))
        codes = lib.stop_all()
        for s, rc in codes.items():
            if rc != 0:
                failed += 1
                print("FAIL %s.shutdown\n     server exited with %s on SIGTERM (log %s)" %
                      (mod.__name__, rc, s.log_path), flush=True)
    print("suite took %.1fs" % (time.monotonic() - start))
    if failed == 0:
        lib.cleanup_root()
    elif lib._root:
        print("server logs and data kept in %s" % lib._root)
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""),
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
