"""test_process.py: process-level behaviour (spec 1.7): flags, -version,
-pidfile, signals; and the shipped demo (corefile-examples/demo.Corefile),
which must run as-is.
"""

import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import harness
from harness import CFG, expect, makefile_version

TEST_TIMEOUT = 90
WEB = "web.shop.svc.cluster.local."


def test_version(t):
    d = CFG.tmpdir("version")
    rc, out, err = harness.run_holdfast(["-version"], cwd=d)
    v = makefile_version()
    t.eq(rc, 0, "-version exits 0")
    t.check(v in out, f"-version prints the version {v}", f"stdout: {out!r}")
    rc, out, err = harness.run_holdfast(["--version"], cwd=d)
    t.eq(rc, 0, "--version (Go flags accept two dashes) exits 0")
    rc, out, err = harness.run_holdfast(["-plugins"], cwd=d)
    t.eq(rc, 0, "-plugins exits 0")
    t.check("kubernetes" in out, "-plugins lists kubernetes", f"stdout: {out!r}")


def test_bad_flags(t):
    d = CFG.tmpdir("flags")
    rc, out, err = harness.run_holdfast(["-bogus"], cwd=d)
    # CoreDNS (Go flag.ExitOnError) exits 2 here; the brief asks for 1
    t.check(rc in (1, 2), "unknown flag -bogus is fatal (exit 1 or 2)", f"exit {rc}")
    t.check("-bogus" in err, "the error names the flag", f"stderr: {err!r}")
    rc, out, err = harness.run_holdfast(["-conf"], cwd=d)
    t.check(rc in (1, 2), "-conf without a value is fatal", f"exit {rc}")
    rc, out, err = harness.run_holdfast(["-dns.port", "notaport", "-version"], cwd=d)
    t.check(rc in (1, 2), "-dns.port notaport is fatal", f"exit {rc}")
    # extra arguments are fatal (spec 1.7)
    (Path(d) / "Corefile").write_text("cluster.local {\n    bind 127.0.0.1\n}\n")
    rc, out, err = harness.run_holdfast(["-conf", "Corefile", "extra", "args"], cwd=d)
    t.eq(rc, 1, "extra command line arguments exit 1")
    t.check("extra" in err, "the error shows the extra arguments", f"stderr: {err!r}")
    # a -conf file that does not exist
    rc, out, err = harness.run_holdfast(["-conf", "nothere.Corefile", "-dns.port",
                                         str(harness.free_port())], cwd=d)
    t.eq(rc, 1, "-conf of a missing file exits 1")
    t.check("nothere.Corefile" in err, "the error names the missing Corefile", f"stderr: {err!r}")


def test_sigterm_and_pidfile(t):
    s = harness.server("proc-pidfile", template="main.Corefile",
                       files=("cluster.yaml", "big.yaml"),
                       extra_args=["-pidfile", "{{DIR}}/holdfast.pid"])
    pidfile = s.dir / "holdfast.pid"
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    text = pidfile.read_text().strip() if pidfile.exists() else None
    t.check(text is not None, "-pidfile: file written while running")
    t.eq(text, str(s.proc.pid), "-pidfile holds the server's pid")
    rc, el = s.signal_and_wait(signal.SIGTERM, 5.0)
    t.eq(rc, 0, "SIGTERM: exit status 0")
    t.check(el <= 2.0, "SIGTERM: exits within 2 s", f"took {el:.2f} s")
    t.check(not pidfile.exists(), "-pidfile removed on exit")
    t.check(harness.port_is_free(s.port), "port released after exit")


def test_sigint(t):
    s = harness.server("proc-sigint", template="main.Corefile", files=("cluster.yaml", "big.yaml"))
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    rc, el = s.signal_and_wait(signal.SIGINT, 5.0)
    t.eq(rc, 0, "SIGINT: graceful shutdown, exit status 0")
    t.check(el <= 2.0, "SIGINT: exits within 2 s", f"took {el:.2f} s")


def test_short_port_flag(t):
    # -p is an alias of -dns.port (spec 1.7)
    d = Path(CFG.tmpdir("proc-p"))
    for f in ("cluster.yaml", "big.yaml"):
        (d / f).write_text((harness.DATA / f).read_text())
    (d / "Corefile").write_text((harness.DATA / "main.Corefile").read_text())
    if not CFG.holdfast.exists():
        raise harness.HarnessError(f"{CFG.holdfast} not found (run `make all` first)")
    port = harness.free_port()
    p = subprocess.Popen([str(CFG.holdfast), "-conf", "Corefile", "-p", str(port)], cwd=d,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        probe = harness.build_query(WEB, "A").to_wire()
        deadline = time.monotonic() + harness.READY_TIMEOUT
        w = None
        while w is None and time.monotonic() < deadline and p.poll() is None:
            w = harness.udp_exchange(port, probe, timeout=0.2, label="proc-p/udp")
        t.check(w is not None, "-p PORT: the server answers on that port")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def _http(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return None, str(e)


def test_demo_corefile(t):
    conf = harness.REPO / "corefile-examples" / "demo.Corefile"
    busy = [p for p in (1053, 8080, 8181, 9153) if not harness.port_is_free(p)]
    if busy:
        harness.skip(f"127.0.0.1 ports in use: {busy} (the demo uses fixed ports)")
    s = harness.server("demo", conf=conf, port=1053, ttl=30)
    k = "kubernetes.default.svc.cluster.local."
    expect(t, s, k, "A", answer=[f"{k} 30 IN A 10.96.0.1"])
    n = "_https._tcp." + k
    expect(t, s, n, "SRV", answer=[f"{n} 30 IN SRV 0 100 443 {k}"],
           additional=[f"{k} 30 IN A 10.96.0.1"])
    kd = "kube-dns.kube-system.svc.cluster.local."
    expect(t, s, kd, "A", answer=[f"{kd} 30 IN A 10.96.0.10"])
    r = "10.0.96.10.in-addr.arpa."
    expect(t, s, r, "PTR", answer=[f"{r} 30 IN PTR {kd}"])
    w = "web.shop.svc.cluster.local."
    expect(t, s, w, "A", answer=[f"{w} 30 IN A 10.96.12.34"])
    ng = "nginx.shop.svc.cluster.local."
    expect(t, s, ng, "A", answer=[f"{ng} 30 IN A 10.244.1.21", f"{ng} 30 IN A 10.244.2.22",
                                  f"{ng} 30 IN A 10.244.1.23"])
    n = "web-0." + ng
    expect(t, s, n, "A", answer=[f"{n} 30 IN A 10.244.1.21"])
    harness.nx(t, s, "web-3." + ng, "A")
    c = "catalog.shop.svc.cluster.local."
    expect(t, s, c, "A", ordered=True, answer=[f"{c} 30 IN CNAME {w}", f"{w} 30 IN A 10.96.12.34"])
    p = "payments.shop.svc.cluster.local."
    expect(t, s, p, "CNAME", answer=[f"{p} 30 IN CNAME example.com."])
    rd = "redis.data.svc.cluster.local."
    expect(t, s, rd, "AAAA", answer=[f"{rd} 30 IN AAAA fd00:10:96::4567"])
    n = "10-244-1-7.shop.pod.cluster.local."
    expect(t, s, n, "A", answer=[f"{n} 30 IN A 10.244.1.7"])
    # health and ready on loopback (spec 7)
    st, body = _http("http://127.0.0.1:8080/health")
    t.check(st == 200 and body.strip() == "OK", "demo: /health -> 200 OK", f"{st} {body[:80]!r}")
    st, body = _http("http://127.0.0.1:8181/ready")
    t.check(st == 200 and body.strip() == "OK", "demo: /ready -> 200 OK", f"{st} {body[:80]!r}")
    st, body = _http("http://127.0.0.1:9153/metrics")
    t.check(st == 200 and "coredns_" in body, "demo: /metrics serves coredns_* metrics",
            f"{st} {body[:80]!r}")
    rc, el = s.signal_and_wait(signal.SIGTERM, 6.0)
    t.eq(rc, 0, "demo: SIGTERM exits 0 (after the 1 s lameduck)")
