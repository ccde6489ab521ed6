#!/usr/bin/python3
"""run_all.py: runs the holdfast integration suite against the real server.

    /usr/bin/python3 tests/integration/run_all.py --build build [-k WORD] [-x WORD] [-v] [--keep]

Runs every test_* function of the test modules below, in file order, each
bounded in time (SIGALRM); checks inside a test are soft (a failing check
does not stop the test).  Servers are started on demand on 127.0.0.1 with
free ports and stopped with SIGTERM at the end.  Then every reply received
is parsed again by build/ldns-check (an independent parser).  Prints a
summary; exit status 1 if anything failed.  Needs only Python 3 and
dnspython (Debian python3-dnspython).
"""

import argparse
import importlib
import signal
import sys
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import CFG, HarnessError, Skip, T  # noqa: E402

MODULES = ["test_records", "test_negative", "test_options", "test_server",
           "test_corefile_errors", "test_process", "test_ctypes", "test_outage",
           "test_memory", "test_breakglass", "test_corefile_matrix",
           "test_deploy", "test_forward", "test_forward_async", "test_cache", "test_plugins", "test_metrics", "test_reload"]
DEFAULT_TEST_TIMEOUT = 60


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout()


PENDING = []  # tests written for a later issue: `pending_<issue>_test_...`


def discover(mods, pattern):
    tests = []
    for modname in mods:
        mod = importlib.import_module(modname)
        PENDING.extend(f"{modname}.{n}" for n in dir(mod) if n.startswith("pending_"))
        funcs = [(getattr(mod, n).__code__.co_firstlineno, n, getattr(mod, n))
                 for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
        for _, n, f in sorted(funcs):
            full = f"{modname}.{n}"
            if pattern and not any(p in full for p in pattern):
                continue
            tests.append((full, f, getattr(mod, "TEST_TIMEOUT", DEFAULT_TEST_TIMEOUT)))
    return tests


def run_test(full, func, timeout):
    t = T(full)
    print(f"--- {full}", flush=True)
    status = "PASS"
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.monotonic()
    try:
        func(t)
    except Skip as e:
        status = "SKIP"
        print(f"    skipped: {e}")
    except TestTimeout:
        t.record(False, f"{full}: did not finish within {timeout} s")
    except HarnessError as e:
        t.record(False, f"{full}: harness: {e}")
    except Exception:  # noqa: BLE001 - report, keep going
        t.record(False, f"{full}: exception", traceback.format_exc().rstrip().splitlines())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if status != "SKIP" and t.failed:
        status = "FAIL"
    el = time.monotonic() - start
    print(f"{status} {full}: {t.passed} passed, {t.failed} failed, "
          f"{t.query_checks} query checks ({el:.1f} s)", flush=True)
    return status, t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=None, help="build directory (default: REPO/build)")
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains WORD")
    ap.add_argument("-x", action="append", default=[], help="skip tests whose name contains WORD")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every passing check")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, Corefiles)")
    args = ap.parse_args()
    if args.build:
        b = Path(args.build)
        if not b.is_absolute() and not b.exists() and (harness.REPO / b).exists():
            b = harness.REPO / b
        CFG.build = b.resolve()
    CFG.verbose = args.verbose
    CFG.keep = args.keep

    print(f"holdfast integration suite: build dir {CFG.build}")
    missing = [str(p) for p in (CFG.holdfast, CFG.libholdfast, CFG.ldns_check) if not p.exists()]
    if missing:
        print("WARNING: missing build outputs (run `make all`): " + ", ".join(missing))

    tests = [t for t in discover(MODULES, args.k) if not any(x in t[0] for x in args.x)]
    results = []
    t0 = time.monotonic()
    try:
        for full, func, timeout in tests:
            results.append((full,) + run_test(full, func, timeout))
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        teardown = T("teardown")
        print("--- teardown: stopping servers")
        for name, problems in harness.stop_all().items():
            teardown.record(not problems, f"server {name} ran and stopped cleanly", problems)
        results.append(("teardown", "FAIL" if teardown.failed else "PASS", teardown))

    # every reply received must also parse with ldns
    lt = T("ldns-check")
    n = len(harness.COLLECTED)
    if n:
        ok, out = harness.ldns_check(harness.COLLECTED)
        lines = out.splitlines()
        lt.record(ok, f"ldns-check parses all {n} replies received",
                  lines[-40:] if not ok else [])
        if ok:
            print(f"ldns-check: {lines[-1] if lines else out}")
    results.append(("ldns-check", "FAIL" if lt.failed else "PASS", lt))
    CFG.cleanup()

    passed = sum(r[2].passed for r in results)
    failed = sum(r[2].failed for r in results)
    qchecks = sum(r[2].query_checks for r in results)
    skipped = [r[0] for r in results if r[1] == "SKIP"]
    failed_tests = [r for r in results if r[1] == "FAIL"]
    el = time.monotonic() - t0
    print()
    print("=" * 72)
    for full, status, t in failed_tests:
        print(f"FAILED {full}:")
        for f in t.failures:
            print("  - " + f.replace("\n", "\n    "))
    if skipped:
        print("skipped: " + ", ".join(skipped))
    if PENDING:
        print("pending (features of later issues, not run): " + ", ".join(PENDING))
    print(f"checks: {passed} passed, {failed} failed ({qchecks} query checks); "
          f"tests: {len(results) - len(failed_tests) - len(skipped)} passed, "
          f"{len(failed_tests)} failed, {len(skipped)} skipped; {n} replies checked "
          f"by ldns; {el:.1f} s")
    if passed == 0 and failed == 0:
        print("no checks ran")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
