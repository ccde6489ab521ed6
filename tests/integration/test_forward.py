"""test_forward.py: the forward plugin against upstreams this module starts
on loopback (spec section 6): policies, failover, health checks (down and
back up), failfast, force_tcp / prefer_udp, TC handling, max_concurrent,
connection reuse and expire, 15 upstreams, resolv.conf as the source,
broken upstream replies (malformed, wrong ID, wrong question, slow),
failover / next rcodes, and the forward/proxy metrics (promtool).

Upstreams are `Up` objects: a small DNS server on 127.0.0.x (UDP + TCP on
one port) whose mode can be switched while it runs, that counts queries per
transport and TCP connections, and answers A queries with its own address
(10.99.0.<tag>) so the test can tell who answered.
"""

import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import urllib.request

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

import harness
from harness import LOOPBACK, free_port

TEST_TIMEOUT = 40


class Up:
    """A fake upstream with fault modes:
    ok        answer (A -> 10.99.0.<tag>), NS for the health probe
    drop      never reply (a timeout), probes included
    servfail / refused / nxdomain / nodata  that rcode, no records
    malformed the query's ID, then a question name that runs past the end
    badlabel  the query's ID, then a question name with a reserved label type
    shortrr   a reply whose answer record runs past the end
    wrongid   a correct reply with another message ID
    wrongq    a reply for another name
    tc        over UDP: TC=1 and no records; over TCP: the answer
    slow      answer after `delay` seconds
    nxnames   NXDOMAIN for names starting with "nx", else ok
    """

    def __init__(self, tag, host=LOOPBACK, port=None, mode="ok", delay=0.0):
        self.tag = tag
        self.host = host
        self.mode = mode
        self.delay = delay
        self.lock = threading.Lock()
        self.udp_q = 0
        self.tcp_q = 0
        self.tcp_conns = 0
        self.open_conns = 0
        self.close_after = False  # close each TCP connection after one reply
        self.probes = 0
        self.names = []
        self.stopping = False
        self.port = port
        self._open()

    def _open(self):
        self.udp, self.tcp, self.port = harness.bind_dns_pair(self.host, self.port)
        self.stopping = False
        self.threads = harness.start_dns_threads(self.udp, self.tcp, self._udp_loop,
                                                 self._tcp_loop, backlog=64, poll=0.1)

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    @property
    def ip(self):
        return f"10.99.0.{self.tag}"

    def counts(self):
        with self.lock:
            return self.udp_q, self.tcp_q, self.tcp_conns

    def total(self):
        with self.lock:
            return self.udp_q + self.tcp_q

    def reply(self, wire, proto):
        q = harness.parse_query(wire)
        if q is None:
            return None
        qq = q.question[0]
        probe = qq.rdtype == dns.rdatatype.NS and qq.name == dns.name.root
        with self.lock:
            if probe:
                self.probes += 1
            elif proto == "udp":
                self.udp_q += 1
            else:
                self.tcp_q += 1
            self.names.append(qq.name.to_text().lower())
        mode = self.mode
        if mode == "drop":
            return None
        if mode == "slow":
            time.sleep(self.delay)
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        first = qq.name.labels[0].lower() if qq.name.labels else b""
        if mode in ("servfail", "refused", "nxdomain"):
            r.set_rcode({"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED,
                         "nxdomain": dns.rcode.NXDOMAIN}[mode])
            return r.to_wire()
        if mode == "nxnames" and first.startswith(b"nx"):
            r.set_rcode(dns.rcode.NXDOMAIN)
            return r.to_wire()
        if mode == "malformed" and not probe:  # the question name runs past the end
            return wire[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07garbage"
        if mode == "badlabel" and not probe:  # label type 0x40: invalid, not short
            return wire[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x41x\x00\x00\x01\x00\x01"
        if mode == "shortrr" and not probe:  # the answer's RDATA runs past the end
            r.answer.append(dns.rrset.from_text(qq.name, 30, "IN", "A", self.ip))
            return r.to_wire()[:-2]
        if mode == "tc" and proto == "udp" and not probe:
            r.flags |= dns.flags.TC
            return r.to_wire()
        if mode == "wrongq" and not probe:
            r.question[0].name = dns.name.from_text("other.example.")
            r.answer.append(dns.rrset.from_text("other.example.", 30, "IN", "A", self.ip))
            return r.to_wire()
        if probe:
            r.answer.append(dns.rrset.from_text(".", 30, "IN", "NS", "ns.up.test."))
        elif qq.rdtype == dns.rdatatype.A and mode != "nodata":
            r.answer.append(dns.rrset.from_text(qq.name, 30, "IN", "A", self.ip))
        out = r.to_wire()
        if mode == "wrongid" and not probe:
            out = struct.pack("!H", (q.id + 1) & 0xFFFF) + out[2:]
        return out

    def _udp_loop(self):
        harness.serve_udp(self.udp, lambda wire: self.reply(wire, "udp"), lambda: self.stopping)

    def _tcp_loop(self):
        harness.serve_tcp(self.tcp, self._tcp_conn, lambda: self.stopping)

    def _tcp_conn(self, conn):
        with self.lock:
            self.tcp_conns += 1
            self.open_conns += 1
        try:
            while not self.stopping:
                deadline = time.monotonic() + 20
                (n,) = struct.unpack("!H", harness._recv_exact(conn, 2, deadline))
                wire = harness._recv_exact(conn, n, deadline)
                out = self.reply(wire, "tcp")
                if out:
                    conn.sendall(struct.pack("!H", len(out)) + out)
                if self.close_after:
                    break
        except (OSError, EOFError, struct.error, harness.HarnessError):
            pass
        finally:
            conn.close()
            with self.lock:
                self.open_conns -= 1

    def stop(self):
        self.stopping = True
        harness.close_quietly(self.udp, self.tcp)
        for th in self.threads:
            th.join(timeout=1)


class Env:
    """holdfast with a generated Corefile + the upstreams; closes all."""

    def __init__(self, name):
        self.name = name
        self.ups = []
        self.srv = None
        self.port = free_port()
        self.mport = free_port()
        self.dir = harness.CFG.tmpdir(name)

    def up(self, *a, **kw):
        u = Up(*a, **kw)
        self.ups.append(u)
        return u

    def start(self, blocks, prometheus=False):
        """blocks: {zone: body}; a whoami block for cluster.local answers
        the harness's readiness probe."""
        text = f"cluster.local:{self.port} {{\n    whoami\n}}\n"
        for zone, body in blocks.items():
            text += f"{zone}:{self.port} {{\n"
            if prometheus:
                text += f"    prometheus 127.0.0.1:{self.mport}\n"
            text += body + "\n}\n"
        conf = os.path.join(self.dir, "Corefile")
        with open(conf, "w") as f:
            f.write(text)
        self.srv = harness.Server(self.name, None, (), 5, None, conf=conf, port=self.port)
        self.srv.start()

    def q(self, name, rdtype="A", tcp=False, timeout=6.0, edns=None):
        """(message or None, seconds)."""
        wire = harness.build_query(name, rdtype, edns=edns).to_wire()
        t0 = time.monotonic()
        if tcp:
            try:
                got = harness.tcp_exchange(self.port, [wire], timeout=timeout)
                r = got[0] if got else None
            except (OSError, harness.HarnessError):
                r = None
        else:
            r = harness.udp_exchange(self.port, wire, timeout=timeout,
                                     label=f"{self.name}/udp")
        el = time.monotonic() - t0
        return (dns.message.from_wire(r) if r else None), el

    def answered_by(self, name, tcp=False):
        m, _ = self.q(name, tcp=tcp)
        if m is None or m.rcode() != dns.rcode.NOERROR or not m.answer:
            return None
        return m.answer[0][0].address

    def close(self, t):
        problems = self.srv.stop() if self.srv else []
        for u in self.ups:
            u.stop()
        t.check(not problems, f"{self.name}: holdfast ran and stopped cleanly",
                "\n".join(problems))


def rc_name(m):
    return "no reply" if m is None else dns.rcode.to_text(m.rcode())


def test_policies(t):
    env = Env("fwd-policy")
    try:
        a, b, c = env.up(1), env.up(2), env.up(3)
        to = f"{a.addr} {b.addr} {c.addr}"
        env.start({
            "random.test": f"    forward . {to}",
            "rr.test": f"    forward . {to} {{\n        policy round_robin\n    }}",
            "seq.test": f"    forward . {to} {{\n        policy sequential\n    }}",
        })
        ips = [u.ip for u in (a, b, c)]
        seq = [env.answered_by(f"q{i}.seq.test.") for i in range(12)]
        t.eq(seq, [a.ip] * 12, "sequential: every query goes to the first upstream")
        rr = [env.answered_by(f"q{i}.rr.test.") for i in range(12)]
        t.check(all(x in ips for x in rr), "round_robin: every query answered", str(rr))
        steps = {(ips.index(rr[i + 1]) - ips.index(rr[i])) % 3 for i in range(11)
                 if rr[i] in ips and rr[i + 1] in ips}
        t.eq(steps, {1}, "round_robin: each query goes to the next upstream in turn")
        t.eq(sorted(rr.count(ip) for ip in ips), [4, 4, 4], "round_robin: 12 queries split 4/4/4")
        rnd = [env.answered_by(f"q{i}.random.test.") for i in range(90)]
        counts = [rnd.count(ip) for ip in ips]
        t.check(sum(counts) == 90 and min(counts) >= 12,
                "random: 90 queries reach every upstream (each >= 12)", str(counts))
        t.check(rnd != sorted(rnd) and len(set(zip(rnd, rnd[1:]))) > 3,
                "random: the order is not a fixed rotation", str(rnd[:20]))
    finally:
        env.close(t)


def test_health_down_and_up(t):
    """A times out; sequential -> B answers after read_timeout.  The health
    check (max_fails 1) marks A down: queries then go straight to B without
    touching A; once A answers probes again, traffic returns to A."""
    env = Env("fwd-health")
    try:
        a, b = env.up(1, mode="drop"), env.up(2)
        env.start({"hc.test": f"    forward . {a.addr} {b.addr} {{\n        policy sequential\n"
                              f"        read_timeout 400ms\n        max_fails 1\n"
                              f"        health_check 200ms\n    }}"}, prometheus=True)
        m, el = env.q("first.hc.test.")
        t.check(m is not None and m.answer and m.answer[0][0].address == b.ip,
                "failover: first upstream times out, the second answers", rc_name(m))
        t.check(0.35 <= el < 1.5, "failover took about read_timeout (400 ms)", f"{el:.2f} s")
        # probes: 1 s timeout each; down after 2 failed probes (> max_fails 1)
        deadline = time.monotonic() + 6
        fast = False
        while time.monotonic() < deadline and not fast:
            time.sleep(0.3)
            before = a.total()
            m, el = env.q("probe.hc.test.")
            fast = el < 0.3 and a.total() == before and m is not None and m.answer
        t.check(fast, "A marked down: queries go straight to B without trying A")
        t.check(a.probes >= 2, "health probes reached A", f"{a.probes} probes")
        ok = all(env.answered_by(f"d{i}.hc.test.") == b.ip for i in range(5))
        t.check(ok, "while A is down every query is answered by B")
        metrics = http_metrics(env.mport)
        t.check(f'coredns_proxy_healthcheck_failures_total{{proxy_name="forward",to="{a.addr}"}}'
                in metrics, "coredns_proxy_healthcheck_failures_total counts A's failed probes")
        a.mode = "ok"
        deadline = time.monotonic() + 5
        back = False
        while time.monotonic() < deadline and not back:
            time.sleep(0.2)
            back = env.answered_by("back.hc.test.") == a.ip
        t.check(back, "A answers probes again: traffic returns to A")
    finally:
        env.close(t)


def test_restart_and_failfast(t):
    """An upstream that is gone (port closed) comes back on the same port;
    failfast_all_unhealthy_upstreams answers SERVFAIL at once when every
    upstream is down, without it a random upstream is still tried
    (coredns_forward_healthcheck_broken_total)."""
    env = Env("fwd-failfast")
    try:
        a, b = env.up(1, mode="drop"), env.up(2, mode="drop")
        c = env.up(3)
        opts = "        read_timeout 300ms\n        max_fails 1\n        health_check 100ms\n"
        env.start({"ff.test": f"    forward . {a.addr} {b.addr} {{\n{opts}"
                              "        failfast_all_unhealthy_upstreams\n    }",
                   "nf.test": f"    forward . {c.addr} {{\n{opts}    }}"}, prometheus=True)
        m, el = env.q("x.ff.test.")
        t.eq(rc_name(m), "SERVFAIL", "both upstreams time out: SERVFAIL")
        deadline = time.monotonic() + 8
        quick = None
        while time.monotonic() < deadline:
            time.sleep(0.3)
            before = a.total() + b.total()
            m, el = env.q("y.ff.test.")
            if m is not None and el < 0.25 and a.total() + b.total() == before:
                quick = m
                break
        t.check(quick is not None and quick.rcode() == dns.rcode.SERVFAIL,
                "failfast: every upstream down -> SERVFAIL at once, no upstream asked",
                rc_name(quick))
        t.check("coredns_forward_healthcheck_broken_total " in http_metrics(env.mport)
                and metric_value(http_metrics(env.mport),
                                 "coredns_forward_healthcheck_broken_total") >= 1,
                "coredns_forward_healthcheck_broken_total counted the all-down queries")
        # c: closed, then back on the same port
        c.stop()
        m, _ = env.q("gone.nf.test.")
        t.eq(rc_name(m), "SERVFAIL", "upstream port closed: SERVFAIL")
        time.sleep(0.6)  # probes fail (connection refused): c is down
        before = metric_value(http_metrics(env.mport), "coredns_forward_healthcheck_broken_total")
        m, _ = env.q("still.nf.test.")
        t.eq(rc_name(m), "SERVFAIL", "the only upstream is down: SERVFAIL")
        after = metric_value(http_metrics(env.mport), "coredns_forward_healthcheck_broken_total")
        t.check(after > before, "without failfast a random (down) upstream is tried "
                "and healthcheck_broken counts it", f"{before} -> {after}")
        c._open()
        deadline = time.monotonic() + 4
        back = None
        while time.monotonic() < deadline and back != c.ip:
            time.sleep(0.2)
            back = env.answered_by("back.nf.test.")
        t.eq(back, c.ip, "the upstream restarted on its port: answers return")
    finally:
        env.close(t)


def test_transports_and_tc(t):
    env = Env("fwd-proto")
    try:
        d, f, p = env.up(1), env.up(2), env.up(3)
        tc, tcp_ = env.up(4, mode="tc"), env.up(5, mode="tc")
        env.start({"plain.test": f"    forward . {d.addr}",
                   "force.test": f"    forward . {f.addr} {{\n        force_tcp\n        prefer_udp\n    }}",
                   "prefer.test": f"    forward . {p.addr} {{\n        prefer_udp\n    }}",
                   "tc.test": f"    forward . {tc.addr}",
                   "tcp.test": f"    forward . {tcp_.addr} {{\n        prefer_udp\n    }}"})
        env.answered_by("a.plain.test.")
        env.answered_by("b.plain.test.", tcp=True)
        t.eq(d.counts()[:2], (1, 1), "default: the client's transport (1 UDP, 1 TCP upstream)")
        env.answered_by("a.force.test.")
        env.answered_by("b.force.test.", tcp=True)
        t.eq(f.counts()[:2], (0, 2), "force_tcp (wins over prefer_udp): TCP for UDP and TCP clients")
        env.answered_by("a.prefer.test.")
        env.answered_by("b.prefer.test.", tcp=True)
        t.eq(p.counts()[:2], (2, 0), "prefer_udp: UDP even for a TCP client")
        m, _ = env.q("a.tc.test.")
        t.check(m is not None and (m.flags & dns.flags.TC) and not m.answer,
                "a TC=1 UDP reply is passed through to the client", rc_name(m))
        t.eq(tc.counts()[:2], (1, 0), "without prefer_udp there is no TCP retry")
        m, _ = env.q("a.tcp.test.")
        t.check(m is not None and not (m.flags & dns.flags.TC) and m.answer
                and m.answer[0][0].address == tcp_.ip,
                "prefer_udp: a TC=1 reply is retried over TCP", rc_name(m))
        t.eq(tcp_.counts()[:2], (1, 1), "prefer_udp + TC: one UDP then one TCP query upstream")
    finally:
        env.close(t)


def test_conn_reuse_and_expire(t):
    env = Env("fwd-conns")
    try:
        a, b, c = env.up(1), env.up(2), env.up(3)
        c.close_after = True
        env.start({"reuse.test": f"    forward . {a.addr} {{\n        force_tcp\n    }}",
                   "exp.test": f"    forward . {b.addr} {{\n        force_tcp\n        expire 1s\n    }}",
                   "closed.test": f"    forward . {c.addr} {{\n        force_tcp\n    }}"},
                  prometheus=True)
        got = []
        for i in range(3):
            got.append(env.answered_by(f"q{i}.closed.test."))
            time.sleep(0.1)
        t.eq(got, [c.ip] * 3, "the upstream closes every idle connection: queries still answered")
        t.eq(c.counts()[1:], (3, 3), "a cached connection closed by the upstream is replaced "
             "(3 queries, 3 connections)")
        time.sleep(0.2)
        t.eq(c.probes, 0, "a closed cached connection is no upstream failure (no health check)")
        got = [env.answered_by(f"q{i}.reuse.test.") for i in range(10)]
        t.eq(got, [a.ip] * 10, "10 queries over force_tcp answered")
        t.eq(a.counts()[1:], (10, 1), "10 TCP queries upstream over one reused connection")
        for i in range(3):
            env.answered_by(f"q{i}.exp.test.")
        time.sleep(1.4)
        for i in range(3):
            env.answered_by(f"r{i}.exp.test.")
        t.eq(b.counts()[1:], (6, 2), "expire 1s: an idle connection is not reused after 1.4 s")
        metrics = http_metrics(env.mport)
        hits = metric_value(metrics, "coredns_proxy_conn_cache_hits_total",
                            f'proto="tcp",proxy_name="forward",to="{a.addr}"')
        misses = metric_value(metrics, "coredns_proxy_conn_cache_misses_total",
                              f'proto="tcp",proxy_name="forward",to="{a.addr}"')
        t.eq((hits, misses), (9, 1), "conn cache metrics: 9 hits, 1 miss for the reused upstream")
    finally:
        env.close(t)


def test_max_concurrent(t):
    if len(os.sched_getaffinity(0)) < 2:
        harness.skip("one worker thread here: forwarded queries never run concurrently")
    env = Env("fwd-maxconc")
    try:
        a = env.up(1, mode="slow", delay=0.6)
        env.start({"mc.test": f"    forward . {a.addr} {{\n        max_concurrent 1\n    }}"},
                  prometheus=True)
        results = []
        lock = threading.Lock()

        def one(i):
            m, el = env.q(f"c{i}.mc.test.", timeout=10)
            with lock:
                results.append(rc_name(m))
        ths = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(timeout=12)
        t.check("REFUSED" in results and "NOERROR" in results,
                "max_concurrent 1: concurrent queries beyond the limit are REFUSED",
                str(results))
        t.check(set(results) <= {"REFUSED", "NOERROR"}, "nothing else comes back", str(results))
        n = metric_value(http_metrics(env.mport), "coredns_forward_max_concurrent_rejects_total")
        t.eq(n, results.count("REFUSED"), "coredns_forward_max_concurrent_rejects_total "
             "counts the REFUSED queries")
    finally:
        env.close(t)


def test_fifteen_upstreams(t):
    env = Env("fwd-fifteen")
    try:
        ups = [env.up(i + 1) for i in range(15)]
        to = " ".join(u.addr for u in ups)
        env.start({"many.test": f"    forward . {to} {{\n        policy round_robin\n    }}"})
        got = [env.answered_by(f"q{i}.many.test.") for i in range(30)]
        t.eq(sorted(u.total() for u in ups), [2] * 15,
             "15 upstreams, round_robin: 30 queries, two each")
        t.check(None not in got, "every query answered")
        more = " ".join(f"127.0.0.1:{1000 + i}" for i in range(16))
        conf = os.path.join(env.dir, "sixteen.Corefile")
        with open(conf, "w") as fh:
            fh.write(f".:{free_port()} {{\n    forward . {more}\n}}\n")
        rc, _, err = harness.run_holdfast(["-conf", conf], env.dir)
        t.check(rc == 1 and "more than 15 TOs configured" in err,
                "16 upstreams: startup error", f"rc={rc} {err.strip()[-200:]}")
    finally:
        env.close(t)


def test_resolv_conf(t):
    env = Env("fwd-resolv")
    try:
        try:
            a = env.up(1, host="127.53.0.1", port=53)
            b = env.up(2, host="127.53.0.2", port=53)
        except OSError as e:
            harness.skip(f"cannot bind port 53 on 127.53.0.x: {e}")
        path = os.path.join(env.dir, "resolv.conf")
        with open(path, "w") as fh:
            fh.write("# test\nsearch example.test\nnameserver 127.53.0.1\n"
                     "nameserver 127.53.0.2\noptions ndots:5\n")
        env.start({"rc.test": f"    forward . {path} {{\n        policy round_robin\n    }}"})
        got = [env.answered_by(f"q{i}.rc.test.") for i in range(4)]
        t.eq(sorted(got), sorted([a.ip, b.ip] * 2),
             "resolv.conf nameservers (port 53) are the upstreams, both used")
    finally:
        env.close(t)


def test_broken_replies(t):
    env = Env("fwd-broken")
    try:
        modes = ["malformed", "badlabel", "shortrr", "wrongid", "wrongq", "servfail", "refused"]
        ups = {m: env.up(i + 1, mode=m) for i, m in enumerate(modes)}
        slow = env.up(9, mode="slow", delay=0.6)
        fo1, fo2 = env.up(10, mode="servfail"), env.up(11)
        allbad1, allbad2 = env.up(12, mode="servfail"), env.up(13, mode="servfail")
        blocks = {f"{m}.test": f"    forward . {u.addr} {{\n        read_timeout 300ms\n    }}"
                  for m, u in ups.items()}
        blocks["slow.test"] = f"    forward . {slow.addr} {{\n        read_timeout 300ms\n    }}"
        blocks["patient.test"] = f"    forward . {slow.addr}"
        blocks["fo.test"] = (f"    forward . {fo1.addr} {fo2.addr} {{\n        policy sequential\n"
                             "        failover SERVFAIL\n    }")
        blocks["allbad.test"] = (f"    forward . {allbad1.addr} {allbad2.addr} {{\n"
                                 "        failover SERVFAIL REFUSED\n    }")
        env.start(blocks)
        # CoreDNS: over UDP a reply that only runs past its end becomes a
        # TC=1 reply (shouldTruncateResponse), which then has to match the
        # question (else FORMERR); any other unpack error, and every one
        # over TCP, fails the attempt -> SERVFAIL
        for mode, want_udp, want_tcp in (("malformed", "FORMERR", "SERVFAIL"),
                                         ("badlabel", "SERVFAIL", "SERVFAIL"),
                                         ("shortrr", "NOERROR", "SERVFAIL"),
                                         ("wrongid", "SERVFAIL", "SERVFAIL"),
                                         ("wrongq", "FORMERR", "FORMERR"),
                                         ("servfail", "SERVFAIL", "SERVFAIL"),
                                         ("refused", "REFUSED", "REFUSED")):
            for tcp in (False, True):
                want = want_tcp if tcp else want_udp
                m, el = env.q(f"x.{mode}.test.", tcp=tcp)
                t.eq(rc_name(m), want, f"upstream {mode} ({'tcp' if tcp else 'udp'}): {want}")
                if m is not None:
                    t.check(m.question and m.question[0].name.to_text() == f"x.{mode}.test.",
                            f"{mode}: the reply carries the client's question")
        m, _ = env.q("x.shortrr.test.")
        t.check(m is not None and (m.flags & dns.flags.TC) and not m.answer,
                "a UDP reply cut short: TC=1 without records (the client retries over TCP)")
        m, el = env.q("x.wrongid.test.")
        t.check(0.5 <= el < 2.5, "wrong IDs are ignored until read_timeout (2 attempts x 300 ms)",
                f"{el:.2f} s")
        m, el = env.q("x.badlabel.test.")
        t.check(el < 0.5, "an unparsable reply fails the attempt at once", f"{el:.2f} s")
        m, _ = env.q("x.wrongq.test.", edns=0)
        t.check(m is not None and m.rcode() == dns.rcode.FORMERR and m.edns < 0 and not m.answer,
                "FORMERR for a mismatched reply: header and question only")
        m, _ = env.q("x.slow.test.")
        t.eq(rc_name(m), "SERVFAIL", "a reply slower than read_timeout: SERVFAIL")
        m, _ = env.q("x.patient.test.")
        t.check(m is not None and m.answer and m.answer[0][0].address == slow.ip,
                "the same slow upstream within the 2 s read_timeout answers", rc_name(m))
        m, _ = env.q("x.fo.test.")
        t.check(m is not None and m.answer and m.answer[0][0].address == fo2.ip,
                "failover SERVFAIL: the next upstream answers", rc_name(m))
        m, _ = env.q("x.allbad.test.")
        t.eq(rc_name(m), "SERVFAIL", "failover with every upstream failing: the last reply")
        t.eq(allbad1.total() + allbad2.total(), 2, "failover tries each upstream once")
        # IDs: the client's ID comes back, the upstream saw another
        q = harness.build_query("id.fo.test.", "A")
        q.id = 4242
        r = harness.udp_exchange(env.port, q.to_wire(), timeout=4)
        t.check(r is not None and struct.unpack("!H", r[:2])[0] == 4242,
                "the client's message ID is restored")
        t.check(env.srv.alive(), "holdfast survived every broken upstream")
    finally:
        env.close(t)


def test_next(t):
    env = Env("fwd-next")
    try:
        a, b = env.up(1, mode="nxnames"), env.up(2)
        c, d = env.up(3, mode="nodata"), env.up(4)
        env.start({"next.test": f"    forward . {a.addr} {{\n        next NXDOMAIN\n    }}\n"
                                f"    forward . {b.addr}",
                   "nd.test": f"    forward . {c.addr} {{\n        next_on_nodata\n    }}\n"
                              f"    forward . {d.addr}",
                   "last.test": f"    forward . {a.addr} {{\n        next NXDOMAIN\n    }}"})
        t.eq(env.answered_by("ok.next.test."), a.ip, "next: a NOERROR reply is kept")
        t.eq(env.answered_by("nxname.next.test."), b.ip,
             "next NXDOMAIN: the following forward line answers")
        t.eq(env.answered_by("x.nd.test."), d.ip, "next_on_nodata: the following forward answers")
        m, _ = env.q("nxname.last.test.")
        t.eq(rc_name(m), "NXDOMAIN", "next without a following forward: the reply stands")
    finally:
        env.close(t)


def test_reload(t):
    """SIGHUP with a new upstream: traffic moves, the old generation's
    cached connections are closed when it is reaped, metrics carry on."""
    env = Env("fwd-reload")
    try:
        a, b = env.up(1), env.up(2)
        env.start({"rl.test": f"    forward . {a.addr} {{\n        force_tcp\n    }}"},
                  prometheus=True)
        t.eq([env.answered_by(f"q{i}.rl.test.") for i in range(3)], [a.ip] * 3,
             "before the reload: the first upstream answers")
        t.eq(a.open_conns, 1, "one cached TCP connection to it")
        conf = os.path.join(env.dir, "Corefile")
        with open(conf) as fh:
            text = fh.read()
        with open(conf, "w") as fh:
            fh.write(text.replace(a.addr, b.addr))
        os.kill(env.srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        got = None
        while time.monotonic() < deadline and got != b.ip:
            time.sleep(0.1)
            got = env.answered_by("after.rl.test.")
        t.eq(got, b.ip, "after SIGHUP: the new upstream answers")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and a.open_conns:
            time.sleep(0.1)
        t.eq(a.open_conns, 0, "the old generation's cached connection was closed")
        text = http_metrics(env.mport)
        t.check(metric_value(text, "coredns_proxy_conn_cache_misses_total",
                             f'proto="tcp",proxy_name="forward",to="{a.addr}"') == 1,
                "metrics of the old upstream survive the reload")
    finally:
        env.close(t)


def test_unbound_upstream(t):
    """Debian's unbound as the upstream, serving a local zone on loopback
    (everything else REFUSED, so it never recurses): answers over UDP and
    TCP, a large TXT truncated for a plain UDP client and whole over TCP,
    force_tcp reusing one connection."""
    exe = shutil.which("unbound") or ("/usr/sbin/unbound" if os.path.exists("/usr/sbin/unbound")
                                      else None)
    if exe is None:
        harness.skip("unbound not installed (apt-get install unbound)")
    env = Env("fwd-unbound")
    ub = None
    try:
        uport = free_port()
        big = " ".join('"' + "x" * 200 + '"' for _ in range(4))
        conf = os.path.join(env.dir, "unbound.conf")
        with open(conf, "w") as fh:
            fh.write(f"""server:
    interface: 127.0.0.1@{uport}
    port: {uport}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{env.dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    so-reuseport: no
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "." refuse
    local-zone: "ub.test." static
    local-data: "www.ub.test. 300 IN A 192.0.2.53"
    local-data: 'big.ub.test. 300 IN TXT {big}'
remote-control:
    control-enable: no
""")
        ub = subprocess.Popen([exe, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            w = harness.build_query("www.ub.test.", "A").to_wire()
            if harness.udp_exchange(uport, w, timeout=0.2, label="unbound-probe"):
                break
            if ub.poll() is not None:
                break
            time.sleep(0.1)
        if ub.poll() is not None:
            t.check(False, "unbound started",
                    ub.stderr.read().decode(errors="replace")[-400:])
            return
        if time.monotonic() >= deadline:
            t.check(False, "unbound answers within 5 s")
            return
        env.start({"ub.test": f"    forward . 127.0.0.1:{uport}",
                   "tcp.ub.test": f"    forward . 127.0.0.1:{uport} {{\n        force_tcp\n    }}",
                   "example.org": f"    forward . 127.0.0.1:{uport}"}, prometheus=True)
        for tcp in (False, True):
            m, _ = env.q("www.ub.test.", tcp=tcp)
            t.check(m is not None and m.answer and m.answer[0][0].address == "192.0.2.53",
                    f"unbound's local data through forward ({'tcp' if tcp else 'udp'})",
                    rc_name(m))
        m, _ = env.q("big.ub.test.", "TXT")
        t.check(m is not None and (m.flags & dns.flags.TC) and not m.answer,
                "a 800-byte TXT to a plain UDP client: unbound's TC=1 reply passed through")
        m, _ = env.q("big.ub.test.", "TXT", tcp=True)
        t.check(m is not None and m.answer and len(m.answer[0][0].strings) == 4,
                "the same TXT whole over TCP")
        m, _ = env.q("big.ub.test.", "TXT", edns=0)
        t.check(m is not None and m.answer and not (m.flags & dns.flags.TC),
                "the same TXT whole over UDP for an EDNS client (1232)")
        m, _ = env.q("x.example.org.")
        t.eq(rc_name(m), "REFUSED", "unbound's REFUSED (local-zone . refuse) is passed through")
        m, _ = env.q("nothere.ub.test.")
        t.eq(rc_name(m), "NXDOMAIN", "unbound's NXDOMAIN is passed through")
        for i in range(5):
            env.q(f"n{i}.tcp.ub.test.")
        text = http_metrics(env.mport)
        lbl = f'proto="tcp",proxy_name="forward",to="127.0.0.1:{uport}"'
        t.check((metric_value(text, "coredns_proxy_conn_cache_hits_total", lbl) or 0) >= 4,
                "force_tcp to unbound: the TCP connection is reused",
                str(metric_value(text, "coredns_proxy_conn_cache_hits_total", lbl)))
    finally:
        if ub is not None and ub.poll() is None:
            ub.terminate()
            try:
                ub.wait(timeout=5)
            except subprocess.TimeoutExpired:
                ub.kill()
                ub.wait(timeout=5)
        env.close(t)


# ---------------------------------------------------------------- metrics

def http_metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
        return r.read().decode()


def metric_value(text, name, labels=None):
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        base = key.split("{", 1)[0]
        if base != name:
            continue
        if labels is not None and "{" + labels + "}" != key[len(base):]:
            continue
        total += float(val)
        found = True
    return int(total) if found else None


def test_metrics(t):
    env = Env("fwd-metrics")
    try:
        a = env.up(1)
        env.start({"m.test": f"    forward . {a.addr}"}, prometheus=True)
        for i in range(5):
            env.answered_by(f"q{i}.m.test.")
        env.q("x.m.test.", tcp=True)
        text = http_metrics(env.mport)
        for fam in ("coredns_forward_healthcheck_broken_total",
                    "coredns_forward_max_concurrent_rejects_total",
                    "coredns_proxy_request_duration_seconds",
                    "coredns_proxy_conn_cache_misses_total",
                    "coredns_proxy_conn_cache_hits_total"):
            t.check(f"# TYPE {fam} " in text, f"/metrics has {fam}")
        lbl = f'proxy_name="forward",rcode="NOERROR",to="{a.addr}"'
        t.eq(metric_value(text, "coredns_proxy_request_duration_seconds_count", lbl), 6,
             "request duration histogram counts 6 NOERROR exchanges")
        buckets = [ln for ln in text.splitlines()
                   if ln.startswith("coredns_proxy_request_duration_seconds_bucket{" + lbl)]
        les = [ln.split('le="')[1].split('"')[0] for ln in buckets]
        t.eq(les, ["0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032",
                   "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192",
                   "+Inf"], "plugin.TimeBuckets: 0.00025 * 2^k, 16 buckets + Inf")
        promtool = shutil.which("promtool")
        if promtool is None:
            t.check(False, "promtool installed (Debian package prometheus)")
        else:
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=20)
            errors = [ln for ln in (p.stdout + p.stderr).splitlines() if "error" in ln.lower()]
            t.check(not errors and p.returncode in (0, 3),
                    "promtool check metrics: no errors", "\n".join(errors[:10]))
    finally:
        env.close(t)
