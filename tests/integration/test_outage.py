"""test_outage.py: the reason holdfast exists (issue 4).  The real
holdfast is started against the fake Kubernetes API (tests/fakeapi) and
queried continuously while the API goes down, hangs, errors, throttles,
returns empty lists or 410s, and while holdfast itself restarts during an
outage.  After the first sync every known name must keep its correct
answer and no query may get SERVFAIL until serve_stale MAX runs out.
Expected answers come from cluster.yaml as the spec reads it (the same
values test_records.py checks).
"""

import sys
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.rcode

import harness

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakeapi"))
import fakeapi  # noqa: E402

TEST_TIMEOUT = 120
CLUSTER = harness.DATA / "cluster.yaml"

WEB = "web.shop.svc.cluster.local."
# (name, type, expected answer rdata as text, set); from cluster.yaml
PROBES = [
    (WEB, "A", {"10.96.100.10"}),
    ("kubernetes.default.svc.cluster.local.", "A", {"10.96.0.1"}),
    ("dual.shop.svc.cluster.local.", "AAAA", {"fd00:96::60"}),
    ("db.data.svc.cluster.local.", "A", {"10.244.1.20", "10.244.2.21", "10.244.3.22"}),
    ("v6only.shop.svc.cluster.local.", "SRV", {"0 100 80 v6only.shop.svc.cluster.local."}),
    ("10.100.96.10.in-addr.arpa.", "PTR", {WEB}),
]


class Prober:
    """Queries every probe name and keeps score."""

    def __init__(self, t, srv):
        self.t, self.srv = t, srv
        self.sent = self.ok = self.servfail = self.stale_ede = 0
        self.bad = []

    def once(self, edns=True):
        for name, rdtype, want in PROBES:
            q = harness.build_query(name, rdtype, edns=0 if edns else None)
            w = harness.udp_exchange(self.srv.port, q.to_wire(), label=f"{self.srv.name}/probe")
            self.sent += 1
            if w is None:
                self.bad.append(f"{name} {rdtype}: no reply")
                continue
            m = harness.parse(w)
            if m.rcode() == dns.rcode.SERVFAIL:
                self.servfail += 1
            got = {rd.to_text() for rr in m.answer for rd in rr}
            if m.rcode() == dns.rcode.NOERROR and got == want:
                self.ok += 1
            else:
                self.bad.append(f"{name} {rdtype}: {dns.rcode.to_text(m.rcode())} {sorted(got)}")
            if any(o.otype == dns.edns.EDE and getattr(o, "code", None) == 3 for o in m.options):
                self.stale_ede += 1

    def run(self, seconds, interval=0.1):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.once()
            time.sleep(interval)

    def verdict(self, what):
        self.t.check(not self.bad and self.servfail == 0,
                     f"{self.srv.name}: {what}: {self.ok}/{self.sent} probes correct, "
                     f"{self.servfail} SERVFAIL",
                     "; ".join(self.bad[:5]))


def start(name, api, smin="30s", smax="", snap=None):
    srv = harness.Server(name, "outage.Corefile", (), 5,
                         {"API": api.url, "MIN": smin, "MAX": smax,
                          "SNAP": snap or f"/tmp/hf-{name}-{time.time_ns()}.snap"})
    harness.SERVERS[f"{name}-{time.time_ns()}"] = srv
    srv.start()
    return srv


def fake():
    api = fakeapi.FakeAPI(bookmark_interval=1.0)
    api.start()
    api.load(str(CLUSTER))
    return api


def wait_correct(t, srv, what, seconds=10):
    """Wait until every probe answers correctly (first sync)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        p = Prober(t, srv)
        p.once()
        if not p.bad:
            return True
        time.sleep(0.1)
    t.check(False, f"{srv.name}: {what}", "; ".join(p.bad[:5]))
    return False


def scenario(t, name, inject, seconds=5, smin="30s"):
    api = fake()
    try:
        srv = start(name, api, smin=smin)
        if not wait_correct(t, srv, "synced from the fake API"):
            return
        inject(api)
        p = Prober(t, srv)
        p.run(seconds)
        p.verdict(f"answers through the fault ({seconds} s)")
        t.check(srv.alive(), f"{name}: still running")
        srv.stop()
    finally:
        api.stop()


def test_api_down_for_min_window(t):
    api = fake()
    try:
        srv = start("down", api, smin="6s")
        if not wait_correct(t, srv, "synced from the fake API"):
            return
        api.down()
        p = Prober(t, srv)
        p.run(7)
        p.verdict("API down for the whole serve_stale MIN window (6 s)")
        t.check(p.stale_ede > 0, "down: stale answers carry EDE 3 (Stale Answer) for EDNS queries",
                f"{p.stale_ede} of {p.sent}")
        api.heal()
        # back to LIVE: EDE disappears
        end, live = time.monotonic() + 40, False
        while time.monotonic() < end and not live:
            q = Prober(t, srv)
            q.once()
            live = not q.bad and q.stale_ede == 0
            time.sleep(0.2)
        t.check(live, "down: after heal the answers are LIVE again (no EDE)")
        srv.stop()
    finally:
        api.stop()


def test_api_hangs(t):
    scenario(t, "hang", lambda api: (api.hang(), api.drop_watches()))


def test_api_500s(t):
    scenario(t, "err500", lambda api: (api.status(500), api.drop_watches()))


def test_api_429_storm(t):
    api_box = {}

    def inject(api):
        api_box["api"] = api
        api.reset_stats()
        api.throttle(retry_after=2)
        api.drop_watches()
    scenario(t, "throttle", inject, seconds=6)
    st = api_box["api"].stats()
    n = fakeapi.count_requests(st)
    t.check(n <= 40, "throttle: gentle under 429 (Retry-After honoured)", f"{n} requests in 6 s")


def test_empty_list_on_relist(t):
    scenario(t, "emptylist", lambda api: (api.empty_lists(), api.force_410(), api.drop_watches()))


def test_watch_410(t):
    scenario(t, "gone410", lambda api: (api.force_410(), api.drop_watches()))


def test_restart_during_outage(t):
    api = fake()
    snap = f"/tmp/hf-restart-{time.time_ns()}.snap"
    try:
        srv = start("restart1", api, snap=snap)
        if not wait_correct(t, srv, "synced from the fake API"):
            return
        time.sleep(1.5)  # one snapshot interval
        srv.stop()
        api.down()
        srv2 = harness.Server("restart2", "outage.Corefile", (), 5,
                              {"API": api.url, "MIN": "30s", "MAX": "", "SNAP": snap})
        harness.SERVERS[f"restart2-{time.time_ns()}"] = srv2
        t0 = time.time()
        srv2.start()
        first = None
        end = time.monotonic() + 5
        while time.monotonic() < end:
            p = Prober(t, srv2)
            p.once()
            if not p.bad:
                first = time.time() - srv2.started_wall
                break
            time.sleep(0.02)
        t.check(first is not None and first <= 1.0,
                "restart: answers from the snapshot within 1 s of start while the API is down",
                f"first correct answer after {first if first is None else round(first, 3)} s "
                f"(start call took {time.time() - t0:.2f} s)")
        p = Prober(t, srv2)
        p.run(3)
        p.verdict("restarted during the outage")
        t.check(p.stale_ede > 0, "restart: restored data is served as stale (EDE 3)")
        srv2.stop()
    finally:
        api.stop()
        for f in (snap, snap + ".tmp"):
            try:
                Path(f).unlink()
            except FileNotFoundError:
                pass


def test_heal_then_changes(t):
    api = fake()
    try:
        srv = start("heal", api)
        if not wait_correct(t, srv, "synced from the fake API"):
            return
        api.status(500)
        api.drop_watches()
        time.sleep(2)
        api.heal()
        new = "newsvc.shop.svc.cluster.local."
        api.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "newsvc", "namespace": "shop"},
                   "spec": {"type": "ClusterIP", "clusterIP": "10.96.100.123",
                            "clusterIPs": ["10.96.100.123"],
                            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        seen = wait_answer(srv, new, "A", {"10.96.100.123"}, 2.0 + 30)
        t.check(seen is not None and seen <= 32, "heal: a service added after the outage answers",
                f"after {seen} s")
        t0 = time.monotonic()
        api.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "newsvc2", "namespace": "shop"},
                   "spec": {"type": "ClusterIP", "clusterIP": "10.96.100.124",
                            "clusterIPs": ["10.96.100.124"]}})
        seen = wait_answer(srv, "newsvc2.shop.svc.cluster.local.", "A", {"10.96.100.124"}, 5)
        t.check(seen is not None and seen <= 2.0, "live: an added service answers within 2 s",
                f"after {seen} s")
        api.delete("services", "newsvc", "shop")
        gone = wait_rcode(srv, new, "A", dns.rcode.NXDOMAIN, 5)
        t.check(gone is not None and gone <= 2.0,
                "live: a single legitimate deletion applies at once (NXDOMAIN within 2 s)",
                f"after {gone} s ({time.monotonic() - t0:.1f} s since the add)")
        srv.stop()
    finally:
        api.stop()


def test_max_exceeded(t):
    api = fake()
    try:
        srv = start("max", api, smin="1s", smax="3s")
        if not wait_correct(t, srv, "synced from the fake API"):
            return
        api.down()
        p = Prober(t, srv)
        p.run(1.5)
        t.check(p.servfail == 0 and not p.bad, "max: answered within MAX", "; ".join(p.bad[:3]))
        # documented: past MAX the data may not be served: SERVFAIL
        got = wait_rcode(srv, WEB, "A", dns.rcode.SERVFAIL, 40)
        t.check(got is not None, "max: past serve_stale MAX the name answers SERVFAIL (documented)")
        api.heal()
        back = wait_answer(srv, WEB, "A", {"10.96.100.10"}, 40)
        t.check(back is not None, "max: answers return once the API heals")
        srv.stop()
    finally:
        api.stop()


def _ask(srv, name, rdtype):
    w = harness.udp_exchange(srv.port, harness.build_query(name, rdtype).to_wire(),
                             label=f"{srv.name}/wait")
    return harness.parse(w) if w else None


def wait_answer(srv, name, rdtype, want, seconds):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        m = _ask(srv, name, rdtype)
        if m is not None and {rd.to_text() for rr in m.answer for rd in rr} == want:
            return round(time.monotonic() - t0, 3)
        time.sleep(0.05)
    return None


def wait_rcode(srv, name, rdtype, rcode, seconds):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        m = _ask(srv, name, rdtype)
        if m is not None and m.rcode() == rcode:
            return round(time.monotonic() - t0, 3)
        time.sleep(0.05)
    return None
