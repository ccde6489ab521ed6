"""test_cache.py: the cache plugin (spec 5) in front of forward, against a
small upstream DNS server this module runs on loopback.  The upstream
counts the queries it gets per name and can be told to answer with other
data, SERVFAIL, nothing at all, or broken replies, so every check knows
independently whether a reply came from the cache or from upstream.

Expectations are the spec's: duration = clamp(min TTL, MINTTL, TTL), every
record of the miss reply carries it, hits carry duration - age with AA=1,
denial (NXDOMAIN/NODATA with SOA) cached, SERVFAIL cached 5 s, malformed or
mismatched replies never cached, serve_stale answers TTL 0 + EDE 3.
"""

import socket
import struct
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset

import harness

TEST_TIMEOUT = 60


class Upstream:
    """UDP DNS server on 127.0.0.1.  data: name -> list of (rdtype, ttl,
    rdata) answers; names under nx.test. are NXDOMAIN, others NODATA
    (both with an SOA of TTL 60).  mode: "ok", "servfail", "drop",
    "truncated" (cut in the middle of the last record), "loop" (answer
    owner is a compression pointer to itself), "mismatch" (other question
    name), "refused"."""

    def __init__(self):
        self.data = {}
        self.mode = "ok"
        self.modes = {}     # per name override
        self.counts = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((harness.LOOPBACK, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    @property
    def addr(self):
        return f"{harness.LOOPBACK}:{self.port}"

    def seen(self, name):
        with self.lock:
            return self.counts.get(name.lower(), 0)

    def stop(self):
        self.stopping = True
        self.th.join(2)
        self.sock.close()

    def _reply(self, wire):
        q = dns.message.from_wire(wire)
        qq = q.question[0]
        name = qq.name.to_text().lower()
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            mode = self.modes.get(name, self.mode)
        if mode == "drop":
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
            return r.to_wire()
        if mode == "refused":
            r.set_rcode(dns.rcode.REFUSED)
            return r.to_wire()
        soa = dns.rrset.from_text("test.", 60, "IN", "SOA",
                                  "ns.test. hostmaster.test. 1 7200 1800 86400 60")
        if qq.name.is_subdomain(dns.name.from_text("nx.test.")):
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(soa)
        else:
            ans = [a for a in self.data.get(name, []) if a[0] == dns.rdatatype.to_text(qq.rdtype)]
            for rdtype, ttl, rdata in ans:
                r.answer.append(dns.rrset.from_text(qq.name, ttl, "IN", rdtype, rdata))
            if not ans and qq.name != dns.name.root:
                r.authority.append(soa)
        out = r.to_wire()
        if mode == "truncated":
            return out[:-2]
        if mode == "mismatch":
            q2 = dns.message.make_query("other.test.", qq.rdtype)
            r2 = dns.message.make_response(q2)
            r2.id = q.id
            r2.answer.append(dns.rrset.from_text("other.test.", 60, "IN", "A", "192.0.2.99"))
            return r2.to_wire()
        if mode == "loop":
            # header, question, then an answer whose owner points at itself
            hdr = struct.pack("!HHHHHH", q.id, 0x8180, 1, 1, 0, 0)
            qwire = qq.name.to_wire() + struct.pack("!HH", qq.rdtype, 1)
            off = 12 + len(qwire)
            rr = struct.pack("!H", 0xC000 | off) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
            return hdr + qwire + rr
        return out

    def _loop(self):
        harness.serve_udp(self.sock, self._reply, lambda: self.stopping)


def start(name, up, args="", opts="", extra=""):
    return harness.server(name, template="cache-forward.Corefile", files=(),
                          subst={"UPSTREAM": up.addr, "CACHE_ARGS": args, "CACHE_OPTS": opts,
                                 "EXTRA": extra})


def scrape(port):
    """GET /metrics on 127.0.0.1:port; the text or None."""
    try:
        with socket.create_connection((harness.LOOPBACK, port), timeout=3) as c:
            c.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def ask(srv, name, rdtype="A", edns=None, do=False):
    q = harness.build_query(name, rdtype, edns=edns, do=do)
    w = harness.udp_exchange(srv.port, q.to_wire(), timeout=6, label=f"{srv.name}/udp")
    return harness.parse(w) if w is not None else None


def metric_values(text):
    """{(family, type label or None): value} of the coredns_cache_* series."""
    out = {}
    for line in (text or "").splitlines():
        if not line.startswith("coredns_cache_"):
            continue
        head, _, val = line.rpartition(" ")
        fam = head.split("{")[0]
        typ = None
        if 'type="' in head:
            typ = head.split('type="')[1].split('"')[0]
        out[(fam, typ)] = out.get((fam, typ), 0) + float(val)
    return out


def ttls(m):
    return [rr.ttl for sec in (m.answer, m.authority, m.additional) for rr in sec]


def addrs(m):
    return sorted(rd.to_text() for rr in m.answer for rd in rr)


def ede(m):
    return [o.code for o in m.options if isinstance(o, dns.edns.EDEOption)]


def test_cache_hit_miss_ttl_aa(t):
    up = Upstream()
    try:
        up.data["a.test."] = [("A", 60, "192.0.2.1")]
        up.data["two.test."] = [("A", 100, "192.0.2.2"), ("A", 30, "192.0.2.3")]
        up.data["big.test."] = [("A", 7200, "192.0.2.4")]
        up.data["tiny.test."] = [("A", 1, "192.0.2.5")]
        s = start("cache-basic", up)
        m = ask(s, "a.test.")
        t.check(m is not None and addrs(m) == ["192.0.2.1"], "miss: upstream answer")
        t.eq(ttls(m), [60], "miss: TTL = clamp(60, 5, 3600)")
        t.check(not m.flags & dns.flags.AA, "miss: AA as upstream sent it (clear)")
        t.check(m.flags & dns.flags.RA, "miss: RA from upstream")
        time.sleep(1.1)
        m2 = ask(s, "A.TEST.")
        t.eq(up.seen("a.test."), 1, "hit (other case) answered without asking upstream")
        t.check(m2 is not None and m2.flags & dns.flags.AA, "hit: AA=1")
        t.check(m2 is not None and m2.flags & dns.flags.RA, "hit: RA from the stored reply")
        t.check(m2 is not None and all(50 <= x <= 59 for x in ttls(m2)),
                "hit after 1.1 s: TTL = duration - age", f"got {ttls(m2) if m2 else None}")
        t.check(m2 is not None and m2.question[0].name.to_text() == "A.TEST.",
                "hit: question from the new query")
        t.check(m2 is not None and m2.answer[0].name.to_text() == "a.test.",
                "hit: owner as stored")
        # every record rewritten to the minimum, the miss reply included
        m = ask(s, "two.test.")
        t.eq(ttls(m), [30, 30], "miss: every record gets min TTL")
        m = ask(s, "big.test.")
        t.eq(ttls(m), [3600], "miss: TTL capped at 3600")
        m = ask(s, "tiny.test.")
        t.eq(ttls(m), [5], "miss: TTL raised to MINTTL 5")
        # DO is part of the key
        m = ask(s, "a.test.", edns=0, do=True)
        t.eq(up.seen("a.test."), 2, "DO query is a different entry (upstream asked)")
        m = ask(s, "a.test.", edns=0, do=True)
        t.eq(up.seen("a.test."), 2, "DO query cached on its own")
        t.check(m is not None and m.edns == 0, "hit: OPT added for an EDNS query")
        # TCP hits too
        q = harness.build_query("a.test.", "A")
        got = harness.tcp_exchange(s.port, [q.to_wire()])
        t.check(got and addrs(harness.parse(got[0])) == ["192.0.2.1"], "hit over TCP")
        t.eq(up.seen("a.test."), 2, "TCP hit without asking upstream")
    finally:
        up.stop()


def test_cache_denial(t):
    up = Upstream()
    try:
        mport = harness.free_port()
        s = start("cache-denial", up, extra=f"prometheus 127.0.0.1:{mport}")
        before = metric_values(scrape(mport))
        t.check(("coredns_cache_requests_total", None) in before, "metrics: cache families exported")
        m = ask(s, "x.nx.test.")
        t.check(m is not None and m.rcode() == dns.rcode.NXDOMAIN, "NXDOMAIN from upstream")
        t.check(m is not None and len(m.authority) == 1 and m.authority[0].ttl == 60,
                "NXDOMAIN: SOA kept, TTL min(60) clamped to [5, 1800]")
        m = ask(s, "x.nx.test.")
        t.eq(up.seen("x.nx.test."), 1, "NXDOMAIN cached")
        t.check(m is not None and m.rcode() == dns.rcode.NXDOMAIN and m.flags & dns.flags.AA
                and len(m.authority) == 1, "cached NXDOMAIN: AA=1, SOA in authority")
        m = ask(s, "nodata.test.", "AAAA")
        m = ask(s, "nodata.test.", "AAAA")
        t.eq(up.seen("nodata.test."), 1, "NODATA with SOA cached")
        t.check(m is not None and m.rcode() == dns.rcode.NOERROR and not m.answer,
                "cached NODATA is NOERROR, no answer")
        after = metric_values(scrape(mport))
        for key, delta in ((("coredns_cache_hits_total", "denial"), 2),
                           (("coredns_cache_entries", "denial"), 2),
                           (("coredns_cache_misses_total", None), 2),
                           (("coredns_cache_requests_total", None), 4),
                           (("coredns_cache_hits_total", "success"), 0)):
            t.eq(after.get(key, -1) - before.get(key, 0), delta, f"metrics: {key} grew by {delta}")
        text = scrape(mport) or ""
        t.eq(text.count("# TYPE coredns_cache_hits_total counter"), 1, "one TYPE line per family")
    finally:
        up.stop()


def test_cache_servfail_5s(t):
    up = Upstream()
    try:
        s = start("cache-servfail", up)
        up.modes["sf.test."] = "servfail"
        m = ask(s, "sf.test.")
        t.check(m is not None and m.rcode() == dns.rcode.SERVFAIL, "SERVFAIL passed on")
        t0 = time.monotonic()
        m = ask(s, "sf.test.")
        t.check(m is not None and m.rcode() == dns.rcode.SERVFAIL, "SERVFAIL from cache")
        t.eq(up.seen("sf.test."), 1, "SERVFAIL cached")
        up.modes["sf.test."] = "ok"
        up.data["sf.test."] = [("A", 60, "192.0.2.9")]
        time.sleep(max(0, 5.2 - (time.monotonic() - t0)))
        m = ask(s, "sf.test.")
        t.eq(up.seen("sf.test."), 2, "after 5 s the SERVFAIL entry expired")
        t.check(m is not None and addrs(m) == ["192.0.2.9"], "fresh answer after SERVFAIL expiry")
        # REFUSED is never cached
        up.modes["ref.test."] = "refused"
        ask(s, "ref.test.")
        ask(s, "ref.test.")
        t.eq(up.seen("ref.test."), 2, "REFUSED not cached")
    finally:
        up.stop()


def test_cache_malformed_never_cached(t):
    up = Upstream()
    try:
        s = start("cache-malformed", up)
        for mode in ("truncated", "loop", "mismatch"):
            name = f"{mode}.test."
            up.data[name] = [("A", 60, "192.0.2.7")]
            up.modes[name] = mode
            ask(s, name)
            first = up.seen(name)
            ask(s, name)
            t.check(first >= 1 and up.seen(name) > first,
                    f"{mode} reply not cached (upstream asked again)", f"seen {up.seen(name)}")
            # once upstream is good again the answer is cached normally
            up.modes[name] = "ok"
            before = up.seen(name)
            m = ask(s, name)
            ask(s, name)
            t.eq(up.seen(name), before + 1, f"{mode}: good reply cached afterwards")
            t.check(m is not None and addrs(m) == ["192.0.2.7"], f"{mode}: good answer")
        t.check(s.alive(), "server alive after broken upstream replies")
    finally:
        up.stop()


def test_cache_serve_stale_immediate(t):
    up = Upstream()
    try:
        up.data["st.test."] = [("A", 1, "192.0.2.10")]
        s = start("cache-stale", up, opts="success 9984 1 1\n        serve_stale 1h")
        m = ask(s, "st.test.")
        t.eq(ttls(m), [1], "duration 1 s (success 9984 1 1)")
        up.mode = "drop"
        time.sleep(2.2)
        # the stale reply is sent before the (blocking) refresh: over TCP too
        t0 = time.monotonic()
        got = harness.tcp_exchange(s.port, [harness.build_query("st.test.", "A").to_wire()])
        el = time.monotonic() - t0
        mt = harness.parse(got[0]) if got else None
        t.check(mt is not None and addrs(mt) == ["192.0.2.10"] and ttls(mt) == [0],
                "stale answer over TCP, TTL 0")
        t.check(el < 1.5, "stale TCP answer not held back by the refresh", f"{el:.2f} s")
        m = ask(s, "st.test.", edns=0)
        t.check(m is not None and addrs(m) == ["192.0.2.10"], "expired entry served stale")
        t.check(m is not None and ttls(m) == [0], "stale answer TTL 0",
                f"got {ttls(m) if m else None}")
        t.check(m is not None and ede(m) == [3], "stale answer carries EDE 3 (Stale Answer)",
                f"got {ede(m) if m else None}")
        m = ask(s, "st.test.")
        t.check(m is not None and ttls(m) == [0] and m.edns < 0, "without EDNS: TTL 0, no OPT")
        # the refresh runs after the reply, on the forward pool: give it time
        # under load (each stale hit may start one when none is in flight)
        deadline = time.monotonic() + 12
        while up.seen("st.test.") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            ask(s, "st.test.")
        t.check(up.seen("st.test.") >= 2, "a background refresh was sent upstream")
        # upstream back with new data: the refresh replaces the entry
        up.data["st.test."] = [("A", 1, "192.0.2.11")]
        up.mode = "ok"
        deadline = time.monotonic() + 12
        got = None
        while time.monotonic() < deadline:
            m = ask(s, "st.test.")
            if m is not None and addrs(m) == ["192.0.2.11"]:
                got = m
                break
            time.sleep(0.3)
        t.check(got is not None, "refreshed entry served after upstream came back")
    finally:
        up.stop()


def test_cache_serve_stale_verify(t):
    up = Upstream()
    try:
        up.data["v.test."] = [("A", 1, "192.0.2.20")]
        s = start("cache-verify", up, opts="success 9984 1 1\n        serve_stale 1h verify")
        ask(s, "v.test.")
        time.sleep(2.2)
        up.mode = "servfail"
        m = ask(s, "v.test.", edns=0)
        t.eq(up.seen("v.test."), 2, "verify: upstream asked first")
        t.check(m is not None and m.rcode() == dns.rcode.NOERROR and addrs(m) == ["192.0.2.20"],
                "verify: upstream SERVFAIL -> stale entry")
        t.check(m is not None and ttls(m) == [0] and ede(m) == [3], "verify stale: TTL 0, EDE 3")
        up.mode = "ok"
        up.data["v.test."] = [("A", 1, "192.0.2.21")]
        m = ask(s, "v.test.")
        t.check(m is not None and addrs(m) == ["192.0.2.21"], "verify: fresh upstream answer wins")
        t.eq(up.seen("v.test."), 3, "verify: one upstream query per stale hit")
    finally:
        up.stop()


def test_cache_prefetch(t):
    up = Upstream()
    try:
        up.data["p.test."] = [("A", 4, "192.0.2.30")]
        s = start("cache-prefetch", up, opts="success 9984 4 1\n        prefetch 1 1m 50%")
        ask(s, "p.test.")
        time.sleep(1.1)
        ask(s, "p.test.")  # ttl 3 > ceil(50% of 4) = 2: no prefetch
        t.eq(up.seen("p.test."), 1, "no prefetch above the threshold")
        up.data["p.test."] = [("A", 4, "192.0.2.31")]
        time.sleep(1.0)
        m = ask(s, "p.test.")  # ttl 2 <= 2: served from cache, refreshed in the background
        t.check(m is not None and addrs(m) == ["192.0.2.30"], "prefetch hit served from cache")
        time.sleep(0.3)
        t.eq(up.seen("p.test."), 2, "prefetch sent one upstream query")
        m = ask(s, "p.test.")
        t.check(m is not None and addrs(m) == ["192.0.2.31"] and ttls(m)[0] >= 3,
                "prefetched entry replaced the old one", f"got {addrs(m) if m else None} "
                f"{ttls(m) if m else None}")
    finally:
        up.stop()


def test_cache_disable_success(t):
    up = Upstream()
    try:
        up.data["d.test."] = [("A", 60, "192.0.2.40")]
        s = start("cache-disable", up, opts="disable success test.")
        ask(s, "d.test.")
        ask(s, "d.test.")
        t.eq(up.seen("d.test."), 2, "disable success test.: positive answers not cached")
        ask(s, "y.nx.test.")
        ask(s, "y.nx.test.")
        t.eq(up.seen("y.nx.test."), 1, "denial still cached")
    finally:
        up.stop()


def test_cache_kubeadm_disable_cluster_local(t):
    up = Upstream()
    try:
        up.data["ext.test."] = [("A", 60, "192.0.2.50")]
        s = harness.server("cache-kubeadm", template="cache-kubeadm.Corefile",
                           subst={"UPSTREAM": up.addr}, ttl=30)
        web = "web.shop.svc.cluster.local."
        m = ask(s, web)
        t.check(m is not None and addrs(m) == ["10.96.100.10"] and ttls(m) == [30],
                "cluster answer, kubernetes ttl 30")
        time.sleep(1.1)
        m = ask(s, web)
        t.check(m is not None and ttls(m) == [30],
                "disable success cluster.local: not cached (TTL stays 30)",
                f"got {ttls(m) if m else None}")
        m = ask(s, "nope.shop.svc.cluster.local.")
        time.sleep(1.1)
        m = ask(s, "nope.shop.svc.cluster.local.")
        t.check(m is not None and m.rcode() == dns.rcode.NXDOMAIN and ttls(m) == [30],
                "disable denial cluster.local: NXDOMAIN not cached", f"got {ttls(m) if m else None}")
        # names outside cluster.local are cached (forward)
        ask(s, "ext.test.")
        m = ask(s, "ext.test.")
        t.eq(up.seen("ext.test."), 1, "other zones still cached")
        t.check(m is not None and m.flags & dns.flags.AA, "cached forward answer has AA")
    finally:
        up.stop()
