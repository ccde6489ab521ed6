"""test_forward_async.py: forwarding never stops cluster DNS.  UDP queries
the engine forwards leave the DNS workers for the forward pool (shim/fwdq.c),
so a dead upstream cannot stall the names the engine answers from memory.

The upstream is a small UDP DNS server on loopback: names starting with
"bh" are blackholed (never answered), everything else gets an A record
192.0.2.7 (and `. NS` for the health probe).  Checks:
- 50 blackholed queries in flight, then cluster names are answered within
  200 ms each, correctly, and a good forwarded name is answered too;
- the blackholed ones get SERVFAIL after the forward deadline (spec 6:
  2 s read timeout per attempt, 5 s overall);
- coredns_dns_requests_total counts each query exactly once, and the log
  plugin writes exactly one line per query (forwarded ones included);
- a full pool (HOLDFAST_FORWARD_THREADS=1, HOLDFAST_FORWARD_QUEUE=2:
  3 forwards accepted) answers the rest SERVFAIL at once and
  holdfast_forward_queue_full_total counts them;
- SIGTERM while the pool waits on the dead upstream exits promptly;
- a reload (SIGUSR1) while pool threads hold queries of the old engine.
"""

import os
import select
import signal
import shutil
import socket
import struct
import threading
import time
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

import harness
from harness import LOOPBACK, free_port

TEST_TIMEOUT = 50
GOOD_IP = "192.0.2.7"


class Upstream:
    """DNS server on 127.0.0.1 (UDP + TCP, one port): bh* names never
    answered (TCP: the connection stays open), others A self.ip."""

    def __init__(self, ip=GOOD_IP):
        self.ip = ip
        self.lock = threading.Lock()
        self.seen = {}
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((LOOPBACK, self.port))
        self.tcp.listen(64)
        self.tcp.settimeout(0.1)
        self.conns = []
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()
        self.tth = threading.Thread(target=self._tcp_loop, daemon=True)
        self.tth.start()

    @property
    def addr(self):
        return f"{LOOPBACK}:{self.port}"

    def _loop(self):
        harness.serve_udp(self.sock, self.reply, lambda: self.stopping)

    def reply(self, data):
        q = harness.parse_query(data)
        if q is None:
            return None
        name = q.question[0].name.to_text().lower()
        with self.lock:
            self.seen[name] = self.seen.get(name, 0) + 1
        if name.startswith("bh"):
            return None
        r = dns.message.make_response(q)
        if q.question[0].rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A", self.ip))
        return r.to_wire()

    def _tcp_loop(self):
        while not self.stopping:
            try:
                c, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(c)
            threading.Thread(target=self._tcp_conn, args=(c,), daemon=True).start()

    def _tcp_conn(self, c):
        c.settimeout(0.2)
        buf = b""
        while not self.stopping:
            try:
                chunk = c.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                n = int.from_bytes(buf[:2], "big")
                r = self.reply(buf[2:2 + n])
                buf = buf[2 + n:]
                if r is not None:
                    try:
                        c.sendall(len(r).to_bytes(2, "big") + r)
                    except OSError:
                        return

    def stop(self):
        self.stopping = True
        self.th.join(timeout=2)
        self.tth.join(timeout=2)
        self.sock.close()
        self.tcp.close()
        for c in self.conns:
            c.close()


class Env:
    """holdfast serving cluster.yaml (kubernetes) and forwarding the rest."""

    def __init__(self, name, env=None):
        self.name = name
        self.up = Upstream()
        self.port = free_port()
        self.mport = free_port()
        self.dir = harness.CFG.tmpdir(name)
        shutil.copy(harness.DATA / "cluster.yaml", os.path.join(self.dir, "cluster.yaml"))
        self.conf = conf = os.path.join(self.dir, "Corefile")
        self.write_conf(self.up)
        self.srv = harness.Server(name, None, (), 5, None, conf=conf, port=self.port)
        saved = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            self.srv.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def write_conf(self, up):
        with open(self.conf, "w") as f:
            f.write(f"cluster.local:{self.port} in-addr.arpa:{self.port} {{\n"
                    f"    bind 127.0.0.1\n    log\n"
                    f"    prometheus 127.0.0.1:{self.mport}\n"
                    f"    kubernetes cluster.local in-addr.arpa {{\n"
                    f"        manifest cluster.yaml\n    }}\n}}\n"
                    f".:{self.port} {{\n    bind 127.0.0.1\n    log\n"
                    f"    prometheus 127.0.0.1:{self.mport}\n"
                    f"    forward . {up.addr}\n}}\n")

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics", timeout=3) as r:
            return r.read().decode()

    def log_lines(self, name):
        text = (self.srv.dir / "stdout.log").read_text(errors="replace")
        return [ln for ln in text.splitlines() if f'"A IN {name} ' in ln]

    def close(self, t, stop=True):
        problems = self.srv.stop() if stop else []
        self.up.stop()
        t.check(not problems, f"{self.name}: holdfast ran and stopped cleanly",
                "\n".join(problems))


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        if key.split("{", 1)[0] == name:
            total += float(val)
    return int(total)


class Burst:
    """Many UDP queries on one socket, fire and forget; replies by ID."""

    def __init__(self, port, names):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = {}
        self.got = {}  # id -> (message, seconds after send)
        for i, name in enumerate(names):
            m = harness.build_query(name, "A")
            m.id = 1000 + i
            self.sock.sendto(m.to_wire(), (LOOPBACK, port))
            self.sent[m.id] = (name, time.monotonic())

    def poll(self, until):
        while len(self.got) < len(self.sent):
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                continue
            if len(data) < 2:
                continue
            qid = struct.unpack("!H", data[:2])[0]
            if qid in self.sent and qid not in self.got:
                self.got[qid] = (dns.message.from_wire(data),
                                 time.monotonic() - self.sent[qid][1])

    def close(self):
        self.sock.close()


CLUSTER = [("web.shop.svc.cluster.local.", "10.96.100.10"),
           ("kubernetes.default.svc.cluster.local.", "10.96.0.1"),
           ("kube-dns.kube-system.svc.cluster.local.", "10.96.0.10")]


def timed_query(port, name, timeout=2.0):
    wire = harness.build_query(name, "A").to_wire()
    t0 = time.monotonic()
    r = harness.udp_exchange(port, wire, timeout=timeout, label="fwd-async")
    return (dns.message.from_wire(r) if r else None), time.monotonic() - t0


def addrs(m):
    return sorted(rd.address for rr in m.answer for rd in rr if rr.rdtype == dns.rdatatype.A)


def test_cluster_answers_while_upstream_dead(t):
    env = Env("fwd-async")
    burst = None
    try:
        before = metric_sum(env.metrics(), "coredns_dns_requests_total")
        bh = [f"bh{i}.ext.test." for i in range(50)]
        burst = Burst(env.port, bh)
        sent = len(bh)
        time.sleep(0.05)  # the 50 are in the pool now
        slow = []
        for round_ in range(3):
            for name, ip in CLUSTER:
                m, el = timed_query(env.port, name)
                sent += 1
                ok = m is not None and m.rcode() == dns.rcode.NOERROR and addrs(m) == [ip]
                t.check(ok, f"{name} -> {ip} while 50 forwards hang (round {round_})",
                        "got " + ("no reply" if m is None else m.to_text()))
                if el > 0.2:
                    slow.append(f"{name}: {el * 1000:.0f} ms")
        t.check(not slow, "every cluster answer within 200 ms", ", ".join(slow))
        m, el = timed_query(env.port, "good.ext.test.")
        sent += 1
        t.check(m is not None and m.rcode() == dns.rcode.NOERROR and addrs(m) == [GOOD_IP],
                "a name the upstream answers is forwarded meanwhile",
                "no reply" if m is None else m.to_text())
        t.check(el < 1.0, f"... within 1 s (took {el * 1000:.0f} ms)")
        burst.poll(time.monotonic() + 9.0)
        rcodes = [dns.rcode.to_text(m.rcode()) for m, _ in burst.got.values()]
        t.eq(len(burst.got), 50, "every blackholed query gets a reply")
        t.eq(sorted(set(rcodes)), ["SERVFAIL"], "... and it is SERVFAIL")
        times = sorted(el for _, el in burst.got.values())
        if times:
            t.check(3.5 <= times[0] and times[-1] <= 7.5,
                    "SERVFAIL after the 5 s forward deadline, not before, not much later",
                    f"first {times[0]:.2f} s, last {times[-1]:.2f} s")
        time.sleep(0.3)
        after = metric_sum(env.metrics(), "coredns_dns_requests_total")
        t.eq(after - before, sent, "coredns_dns_requests_total counts each query once")
        resp = metric_sum(env.metrics(), "coredns_dns_responses_total")
        t.check(resp >= sent, "coredns_dns_responses_total counted the replies")
        counts = [len(env.log_lines(n)) for n in bh]
        t.eq(sorted(set(counts)), [1], "log: exactly one line per blackholed query")
        # CoreDNS's recorder never saw the SERVFAIL the server wrote after
        # the forward failed: "NOERROR - 0" (as test_plugins checks)
        t.check(all('" NOERROR - 0 ' in env.log_lines(n)[0] for n in bh if env.log_lines(n)),
                "log: a blackholed line is the failed forward's (NOERROR - 0)")
        t.eq(len(env.log_lines("good.ext.test.")), 1, "log: one line for the forwarded name")
        t.eq(len(env.log_lines(CLUSTER[0][0])), 3, "log: one line per cluster query")
        t.check(env.up.seen.get("good.ext.test.", 0) >= 1, "upstream saw the good name")
    finally:
        if burst:
            burst.close()
        env.close(t)


def test_queue_full(t):
    env = Env("fwd-async-full", {"HOLDFAST_FORWARD_THREADS": "1",
                                 "HOLDFAST_FORWARD_QUEUE": "2"})
    burst = None
    try:
        text = env.metrics()
        t.check("# TYPE holdfast_forward_queue_full_total counter" in text,
                "/metrics has holdfast_forward_queue_full_total")
        before = metric_sum(text, "holdfast_forward_queue_full_total")
        t.eq(before, 0, "queue_full starts at 0")
        burst = Burst(env.port, [f"bh{i}.full.test." for i in range(10)])
        burst.poll(time.monotonic() + 1.0)
        quick = [m for m, el in burst.got.values() if el < 0.5]
        t.eq(len(quick), 7, "1 thread + 2 queued accepted: the other 7 answered at once")
        t.check(all(m.rcode() == dns.rcode.SERVFAIL for m in quick), "... with SERVFAIL")
        n = metric_sum(env.metrics(), "holdfast_forward_queue_full_total")
        t.eq(n - before, 7, "holdfast_forward_queue_full_total counts them")
        for name, ip in CLUSTER:
            m, el = timed_query(env.port, name)
            t.check(m is not None and addrs(m) == [ip] and el < 0.2,
                    f"{name} answered in {el * 1000:.0f} ms with a full pool")
        burst.poll(time.monotonic() + 8.0)
        t.eq(len(burst.got), 10, "all 10 answered in the end")
        t.check(all(m.rcode() == dns.rcode.SERVFAIL for m, _ in burst.got.values()),
                "every one SERVFAIL (the queued ones after the deadline)")
    finally:
        if burst:
            burst.close()
        env.close(t)


def test_stop_while_forwarding(t):
    env = Env("fwd-async-stop")
    burst = None
    try:
        burst = Burst(env.port, [f"bh{i}.stop.test." for i in range(20)])
        time.sleep(0.3)
        t0 = time.monotonic()
        problems = env.srv.stop()
        el = time.monotonic() - t0
        t.check(not problems, "SIGTERM with 20 forwards hanging: clean exit", "\n".join(problems))
        t.check(el < 3.0, f"... promptly ({el:.2f} s)")
    finally:
        if burst:
            burst.close()
        env.close(t, stop=False)


def test_reload_while_forwarding(t):
    """SIGUSR1 swaps the engine while pool threads hold queries of the old
    one: they finish (SERVFAIL), new queries use the new Corefile's
    upstream, cluster names keep answering, the old engine is let go
    (the ASan build checks that nothing is used after close or leaked)."""
    env = Env("fwd-async-reload")
    up2 = Upstream("192.0.2.8")
    burst = None
    try:
        burst = Burst(env.port, [f"bh{i}.reload.test." for i in range(20)])
        time.sleep(0.2)
        env.write_conf(up2)
        os.kill(env.srv.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 4.0
        ip = None
        while time.monotonic() < deadline:
            m, _ = timed_query(env.port, f"new{int(time.monotonic() * 1000)}.ext.test.", 1.0)
            ip = addrs(m) if m is not None else None
            if ip == ["192.0.2.8"]:
                break
            time.sleep(0.1)
        t.eq(ip, ["192.0.2.8"], "after the reload new forwards go to the new upstream")
        for name, want in CLUSTER:
            m, el = timed_query(env.port, name)
            t.check(m is not None and addrs(m) == [want] and el < 0.2,
                    f"{name} answered in {el * 1000:.0f} ms after the reload")
        burst.poll(time.monotonic() + 8.0)
        t.eq(len(burst.got), 20, "the 20 forwards of the old engine are answered")
        t.check(all(m.rcode() == dns.rcode.SERVFAIL for m, _ in burst.got.values()),
                "... SERVFAIL (their upstream never answered)")
        m, _ = timed_query(env.port, "again.ext.test.")
        t.check(m is not None and addrs(m) == ["192.0.2.8"], "still forwarding after that")
    finally:
        if burst:
            burst.close()
        env.close(t)
        up2.stop()


def tcp_send(sock, name, qid):
    m = harness.build_query(name, "A")
    m.id = qid
    w = m.to_wire()
    sock.sendall(len(w).to_bytes(2, "big") + w)


def tcp_recv(sock, deadline):
    """One framed reply, or None by deadline or when the peer closed."""
    try:
        n = harness._recv_exact(sock, 2, deadline)
        body = harness._recv_exact(sock, int.from_bytes(n, "big"), deadline)
    except (OSError, EOFError):
        return None
    return dns.message.from_wire(body)


def test_tcp_forwards_leave_the_worker(t):
    """TCP forwards go to the pool too: a connection with a hanging forward
    still answers the cluster query pipelined after it (out of order, as
    CoreDNS's per-query goroutines may), other connections and UDP are not
    held up, and the hanging one gets its SERVFAIL on the same connection."""
    env = Env("fwd-async-tcp")
    socks = []
    try:
        for i in range(20):  # 20 connections, each with a forward that hangs
            s = harness.tcp_connect(env.port)
            socks.append(s)
            tcp_send(s, f"bh{i}.tcp.test.", 2000 + i)
        pipe = harness.tcp_connect(env.port)
        socks.append(pipe)
        tcp_send(pipe, "bhpipe.tcp.test.", 3000)
        tcp_send(pipe, CLUSTER[0][0], 3001)
        t0 = time.monotonic()
        m = tcp_recv(pipe, time.monotonic() + 2.0)
        el = time.monotonic() - t0
        t.check(m is not None and m.id == 3001 and addrs(m) == [CLUSTER[0][1]],
                "the cluster query pipelined behind a hanging forward is answered first",
                "got " + ("nothing" if m is None else m.to_text()))
        t.check(el < 0.2, f"... within 200 ms ({el * 1000:.0f} ms)")
        for name, ip in CLUSTER:
            m, el = timed_query(env.port, name)
            t.check(m is not None and addrs(m) == [ip] and el < 0.2,
                    f"UDP {name} answered in {el * 1000:.0f} ms during 21 TCP forwards")
        c = harness.tcp_connect(env.port)
        socks.append(c)
        t0 = time.monotonic()
        tcp_send(c, CLUSTER[1][0], 4000)
        m = tcp_recv(c, time.monotonic() + 2.0)
        el = time.monotonic() - t0
        t.check(m is not None and addrs(m) == [CLUSTER[1][1]] and el < 0.2,
                f"a new TCP connection is answered in {el * 1000:.0f} ms")
        tcp_send(c, "good.tcp.test.", 4001)
        m = tcp_recv(c, time.monotonic() + 2.0)
        t.check(m is not None and addrs(m) == [GOOD_IP], "a good TCP forward is answered")
        late = []
        for i, s in enumerate(socks[:21]):
            m = tcp_recv(s, time.monotonic() + 8.0)
            want = 2000 + i if i < 20 else 3000
            if m is None or m.id != want or m.rcode() != dns.rcode.SERVFAIL:
                late.append(f"{want}: {'nothing' if m is None else dns.rcode.to_text(m.rcode())}")
        t.check(not late, "every hanging TCP forward gets SERVFAIL on its connection",
                ", ".join(late[:5]))
    finally:
        for s in socks:
            s.close()
        env.close(t)
