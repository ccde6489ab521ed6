"""test_plugins.py: the stock plugins of a cluster Corefile beyond
kubernetes/forward/cache (issue 6): hosts (spec 13), any (RFC 8482),
loadbalance round_robin (spec 10), log (spec 11), loop (spec 12) and the
`-plugins` flag (spec 1.7).  Expectations come from the spec and from the
data files (data/plugins.hosts), never from holdfast's own output.
Servers: data/plugins.Corefile, data/plugins2.Corefile.
"""

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import harness
from harness import CFG, expect

TEST_TIMEOUT = 90
WEB = "web.example.org."


def srv1():
    return harness.server("plugins", files=("plugins.hosts",))


def srv2():
    return harness.server("plugins2", files=("plugins.hosts",))


def servfail(t, s, name, rdtype="A", **kw):
    """SERVFAIL written by the server after the chain: AA clear, empty."""
    return expect(t, s, name, rdtype, rcode="SERVFAIL", aa=False, **kw)


# ------------------------------------------------------------------ hosts

def test_hosts_answers(t):
    s = srv1()
    # A and AAAA from the file, TTL from `ttl 60`, AA set, file order is
    # kept as a set (loadbalance shuffles)
    expect(t, s, WEB, "A", answer=[f"{WEB} 60 IN A 10.0.0.1", f"{WEB} 60 IN A 10.0.0.2"])
    expect(t, s, WEB, "AAAA", answer=[f"{WEB} 60 IN AAAA fd00::1"])
    # owner is the lower-cased qname (state.Name())
    expect(t, s, "WeB.ExAmPlE.oRg.", "A",
           answer=[f"{WEB} 60 IN A 10.0.0.1", f"{WEB} 60 IN A 10.0.0.2"],
           desc="plugins: mixed-case query -> lower-case owner")
    # second name of a line, written in mixed case
    expect(t, s, "alias.example.org.", "A", answer=["alias.example.org. 60 IN A 10.0.0.1"])
    # inline entries of the Corefile
    expect(t, s, "inline.example.org.", "A", answer=["inline.example.org. 60 IN A 10.0.0.3"])
    # IPv6 zone index dropped
    expect(t, s, "v6only.example.org.", "AAAA", answer=["v6only.example.org. 60 IN AAAA fe80::1"])
    expect(t, s, WEB, "A", tcp=True,
           answer=[f"{WEB} 60 IN A 10.0.0.1", f"{WEB} 60 IN A 10.0.0.2"])
    expect(t, s, WEB, "A", edns=0, payload=1400,
           answer=[f"{WEB} 60 IN A 10.0.0.1", f"{WEB} 60 IN A 10.0.0.2"])


def test_hosts_nodata_without_soa(t):
    s = srv1()
    # a known name with the other family or another type: NOERROR, empty, no SOA
    expect(t, s, "v4only.example.org.", "AAAA", authority=[])
    expect(t, s, "v6only.example.org.", "A", authority=[])
    expect(t, s, WEB, "MX", authority=[])
    expect(t, s, WEB, "TXT", authority=[])


def test_hosts_unknown_is_servfail(t):
    s = srv1()
    # no fallthrough: the plugin returns SERVFAIL, the server writes it
    servfail(t, s, "nope.example.org.", "A")
    servfail(t, s, "example.org.", "A")
    # lines that are not entries are skipped
    servfail(t, s, "ignored.example.org.", "A")
    # the wildcard matches exactly one label
    expect(t, s, "a.wild.example.org.", "A", answer=["a.wild.example.org. 60 IN A 10.1.1.1"])
    expect(t, s, "Zz9.wild.example.org.", "A", answer=["zz9.wild.example.org. 60 IN A 10.1.1.1"])
    servfail(t, s, "b.a.wild.example.org.", "A")
    servfail(t, s, "wild.example.org.", "A")


def test_hosts_ptr(t):
    s = srv1()
    # both names of the 10.0.0.1 line, lower-cased, in file order
    expect(t, s, "1.0.0.10.in-addr.arpa.", "PTR",
           answer=["1.0.0.10.in-addr.arpa. 60 IN PTR web.example.org.",
                   "1.0.0.10.in-addr.arpa. 60 IN PTR alias.example.org."])
    expect(t, s, "3.0.0.10.in-addr.arpa.", "PTR",
           answer=["3.0.0.10.in-addr.arpa. 60 IN PTR inline.example.org."])
    v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    expect(t, s, v6, "PTR", answer=[f"{v6} 60 IN PTR web.example.org."])
    # no match: next plugin (none here), whatever fallthrough says
    servfail(t, s, "7.7.7.10.in-addr.arpa.", "PTR")
    # host.other.test is not in this block's zones: not loaded, no PTR
    servfail(t, s, "9.9.9.10.in-addr.arpa.", "PTR")


def test_hosts_fallthrough(t):
    s = srv1()
    # other.test block: fallthrough to whoami for unknown names
    q = harness.build_query("unknown.other.test.", "A")
    w = harness.udp_exchange(s.port, q.to_wire(), label="plugins/ft")
    m = dns.message.from_wire(w) if w is not None else None
    t.check(m is not None and m.rcode() == dns.rcode.NOERROR and not m.answer
            and any(r.rdtype == dns.rdatatype.SRV for r in m.additional),
            "plugins: unknown name in a fallthrough block reaches whoami", str(m))
    # a name hosts knows in that block (default ttl 3600)
    expect(t, s, "host.other.test.", "A", answer=["host.other.test. 3600 IN A 10.9.9.9"])


def test_hosts_defaults_no_reverse(t):
    s = srv2()
    # root zone, default ttl 3600
    expect(t, s, WEB, "A", answer=[f"{WEB} 3600 IN A 10.0.0.1", f"{WEB} 3600 IN A 10.0.0.2"],
           ordered=True)
    expect(t, s, "host.other.test.", "A", answer=["host.other.test. 3600 IN A 10.9.9.9"])
    # no_reverse: PTR goes on to whoami (no answer records, whoami additional)
    q = harness.build_query("1.0.0.10.in-addr.arpa.", "PTR")
    w = harness.udp_exchange(s.port, q.to_wire(), label="plugins2/ptr")
    m = dns.message.from_wire(w) if w else None
    t.check(m is not None and m.rcode() == dns.rcode.NOERROR and not m.answer
            and any(r.rdtype == dns.rdatatype.SRV for r in m.additional),
            "plugins2: no_reverse PTR passes to whoami", str(m))


def test_hosts_fallthrough_unsupported(t):
    s = srv2()
    # a known name asked for a type hosts never serves goes to whoami
    q = harness.build_query(WEB, "MX")
    w = harness.udp_exchange(s.port, q.to_wire(), label="plugins2/ftu")
    m = dns.message.from_wire(w) if w else None
    t.check(m is not None and m.rcode() == dns.rcode.NOERROR and not m.answer
            and any(r.rdtype == dns.rdatatype.SRV for r in m.additional),
            "plugins2: fallthrough_unsupported passes MX for a known name on", str(m))
    # a supported type the name lacks stays hosts' NODATA (AA, nothing else)
    expect(t, s, "v4only.example.org.", "AAAA", authority=[])
    # without the option (plugins): NODATA from hosts
    expect(t, srv1(), WEB, "MX", authority=[])


def test_hosts_reload(t):
    s = srv1()
    path = Path(s.dir) / "plugins.hosts"
    servfail(t, s, "added.example.org.", "A")
    text = path.read_text()
    path.write_text(text + "10.0.0.77 added.example.org\n")
    deadline = time.monotonic() + 6
    got = None
    while time.monotonic() < deadline:
        q = harness.build_query("added.example.org.", "A")
        w = harness.udp_exchange(s.port, q.to_wire(), label="plugins/reload")
        if w is not None:
            m = dns.message.from_wire(w)
            if m.rcode() == dns.rcode.NOERROR and m.answer:
                got = m
                break
        time.sleep(0.2)
    t.check(got is not None, "plugins: a line added to the hosts file is served after `reload 1s`")
    expect(t, s, "added.example.org.", "A", answer=["added.example.org. 60 IN A 10.0.0.77"])
    expect(t, s, "77.0.0.10.in-addr.arpa.", "PTR",
           answer=["77.0.0.10.in-addr.arpa. 60 IN PTR added.example.org."])
    # old data still there, removed data goes away
    path.write_text(text)
    deadline = time.monotonic() + 6
    gone = False
    while time.monotonic() < deadline and not gone:
        q = harness.build_query("added.example.org.", "A")
        w = harness.udp_exchange(s.port, q.to_wire(), label="plugins/reload2")
        gone = w is not None and dns.message.from_wire(w).rcode() == dns.rcode.SERVFAIL
        time.sleep(0.2)
    t.check(gone, "plugins: a line removed from the hosts file stops being served")
    expect(t, s, WEB, "AAAA", answer=[f"{WEB} 60 IN AAAA fd00::1"])


# -------------------------------------------------------------------- any

def test_any_rfc8482(t):
    s = srv1()
    # owner as sent (case kept), TTL 8482, class IN, AA clear
    expect(t, s, "X.Example.ORG.", "ANY", aa=False,
           answer=['X.Example.ORG. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"'])
    expect(t, s, WEB, "ANY", aa=False, tcp=True,
           answer=[f'{WEB} 8482 IN HINFO "ANY obsoleted" "See RFC 8482"'])


# ------------------------------------------------------------ loadbalance

def test_loadbalance_permutations(t):
    s = srv1()
    want = ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]
    seen = {}
    bad = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        for i in range(480):
            q = harness.build_query("lb.example.org.", "A")
            sock.sendto(q.to_wire(), (harness.LOOPBACK, s.port))
            w, _ = sock.recvfrom(65535)
            m = dns.message.from_wire(w)
            order = tuple(r.address for rr in m.answer for r in rr)
            if sorted(order) != want:
                bad += 1
            seen[order] = seen.get(order, 0) + 1
    finally:
        sock.close()
    t.eq(bad, 0, "loadbalance: every reply has the four addresses")
    perms = set(itertools.permutations(want))
    missing = perms - set(seen)
    # 480 draws of 24 equally likely orders: P(one missing) < 24 * (23/24)^480 ~ 3e-8
    t.check(not missing, "loadbalance: all 24 orders of 4 A records appear in 480 replies",
            f"missing {sorted(missing)[:3]}... ({len(missing)})")
    t.check(max(seen.values()) < 60, "loadbalance: no order dominates",
            f"max count {max(seen.values())}")


def test_loadbalance_raw_order_without_plugin(t):
    s = srv2()  # no loadbalance: file order every time
    for _ in range(20):
        q = harness.build_query("lb.example.org.", "A")
        w = harness.udp_exchange(s.port, q.to_wire(), label="plugins2/lb")
        m = dns.message.from_wire(w)
        order = [r.address for rr in m.answer for r in rr]
        if order != ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]:
            t.check(False, "plugins2: without loadbalance the file order is kept", str(order))
            return
    t.check(True, "plugins2: without loadbalance the file order is kept")


# -------------------------------------------------------------------- log

DEFAULT_LOG = re.compile(
    r'^\[INFO\] (?P<remote>[0-9.]+|\[[0-9a-f:]+\]):(?P<port>\d+) - (?P<id>\d+) '
    r'"(?P<type>\S+) (?P<class>\S+) (?P<name>\S+) (?P<proto>udp|tcp) (?P<size>\d+) '
    r'(?P<do>true|false) (?P<bufsize>\d+)" (?P<rcode>[A-Z0-9]+) (?P<rflags>\S+) '
    r'(?P<rsize>\d+) (?P<duration>\d+(\.\d+)?)s$')


def log_lines(s):
    return (Path(s.dir) / "stdout.log").read_text(errors="replace").splitlines()


def find_line(s, pattern, timeout=2.0):
    deadline = time.monotonic() + timeout
    while True:
        for ln in log_lines(s):
            if pattern in ln:
                return ln
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def exchange_from(port, wire, tcp=False):
    """Send from a socket we own (to know our port); returns (port, reply)."""
    if tcp:
        c = socket.create_connection((harness.LOOPBACK, port), timeout=2)
        try:
            c.sendall(len(wire).to_bytes(2, "big") + wire)
            n = int.from_bytes(harness._recv_exact(c, 2, time.monotonic() + 2), "big")
            return c.getsockname()[1], harness._recv_exact(c, n, time.monotonic() + 2)
        finally:
            c.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    try:
        u.bind((harness.LOOPBACK, 0))
        u.sendto(wire, (harness.LOOPBACK, port))
        return u.getsockname()[1], u.recvfrom(65535)[0]
    finally:
        u.close()


def test_log_default_format(t):
    s = srv1()
    for qname, rdtype, tcp, edns, rcode, rflags in (
            ("Web.Example.ORG.", "A", False, None, "NOERROR", "qr,aa,rd"),
            ("web.example.org.", "AAAA", True, 0, "NOERROR", "qr,aa,rd"),
            ("v4only.example.org.", "MX", False, 0, "NOERROR", "qr,aa,rd"),
            ("nope.example.org.", "A", False, None, "NOERROR", "-")):
        q = harness.build_query(qname, rdtype, edns=edns, payload=1400)
        wire = q.to_wire()
        port, reply = exchange_from(s.port, wire, tcp=tcp)
        ln = find_line(s, f" - {q.id} \"{rdtype} IN {qname.lower()} ")
        d = f"log: line for {qname} {rdtype}{' tcp' if tcp else ''}"
        if ln is None:
            t.check(False, d, "no line\n" + "\n".join(log_lines(s)[-5:]))
            continue
        m = DEFAULT_LOG.match(ln)
        if not t.check(m, d + " matches the default format", ln):
            continue
        recorded = rflags != "-"
        # a SERVFAIL the server wrote after hosts returned it: CoreDNS's
        # recorder saw no write (rcode NOERROR, rflags -, rsize 0)
        want = {"remote": "127.0.0.1", "port": str(port), "id": str(q.id), "type": rdtype,
                "class": "IN", "name": qname.lower(), "proto": "tcp" if tcp else "udp",
                "size": str(len(wire)), "do": "false",
                "bufsize": "65535" if tcp else ("1400" if edns is not None else "512"),
                "rcode": rcode, "rflags": rflags,
                "rsize": str(len(reply)) if recorded else "0"}
        got = {k: m.group(k) for k in want}
        t.eq(got, want, d + ": fields")
        dur = float(m.group("duration"))
        t.check(0 <= dur < 1.0, d + ": duration plausible", m.group("duration"))


def test_log_class_error(t):
    s = srv2()
    # logerr.test: `class error`; a NOERROR answer is not logged, the
    # SERVFAIL for an unknown name is (as CoreDNS's recorder sees it)
    expect(t, s, "ok.logerr.test.", "A", answer=["ok.logerr.test. 3600 IN A 10.3.0.1"])
    servfail(t, s, "nope.logerr.test.", "A")
    ln = find_line(s, "A nope.logerr.test. ")
    t.eq(ln, "[INFO] A nope.logerr.test. NOERROR - 0", "plugins2: the error is logged")
    lines = log_lines(s)
    t.check(not any("ok.logerr.test." in x for x in lines),
            "plugins2: class error does not log a NOERROR answer", "\n".join(lines[-5:]))
    t.check(not any("web.example.org." in x for x in lines),
            "plugins2: a block without log logs nothing", "\n".join(lines[-5:]))


@contextlib.contextmanager
def one_off(d, *args, grace=0):
    """A one-off holdfast on d/Corefile (cwd d, output in d/out.log, extra
    command-line args); stopped on exit: SIGTERM with grace seconds to go
    when grace is set, then SIGKILL."""
    with open(d / "out.log", "wb") as out:
        p = subprocess.Popen([str(CFG.holdfast), "-conf", str(d / "Corefile"), *args], cwd=d,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        yield p
    finally:
        if grace and p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=5)


def test_log_custom_format_fields(t):
    # custom format with every kind of node, class all (plugins Corefile
    # written here, a one-off server)
    d = Path(CFG.tmpdir("plugins-log"))
    (d / "plugins.hosts").write_text((harness.DATA / "plugins.hosts").read_text())
    port = harness.free_port()
    (d / "Corefile").write_text(
        ". {\n    bind 127.0.0.1\n    hosts plugins.hosts\n"
        "    log . \"{type} {name} {class} {rcode} {>rflags} {rsize} "
        "{/meta} {nokey} }x {proto} {>bufsize} {>opcode} {>do}\"\n}\n")
    with one_off(d, "-dns.port", str(port)) as p:
        reply = None
        deadline = time.monotonic() + 5
        while "holdfast-" not in (d / "out.log").read_text(errors="replace") and \
                time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)  # started: the banner is out
        q = harness.build_query("WEB.example.org.", "A", edns=0, payload=4096, do=True)
        while reply is None and time.monotonic() < deadline:
            reply = harness.udp_exchange(port, q.to_wire(), timeout=0.5, label="log/custom")
        t.check(reply is not None, "log custom: server answers")
        if reply is None:
            return
        want = (f"[INFO] A web.example.org. IN NOERROR qr,aa,rd {len(reply)} - {{nokey}} }}x "
                f"udp 4096 0 true")
        deadline = time.monotonic() + 2
        lines = []
        while time.monotonic() < deadline:
            lines = (d / "out.log").read_text(errors="replace").splitlines()
            if want in lines:
                break
            time.sleep(0.05)
        t.check(want in lines, "log custom: replacer output exact",
                "want " + want + "\n" + "\n".join(lines[-6:]))


# ------------------------------------------------------------------- loop

def loop_corefile(d, port, upstream):
    (d / "Corefile").write_text(
        f".:{port} {{\n    bind 127.0.0.1\n    forward . {upstream}\n    loop\n}}\n")


LOOP_FATAL = re.compile(
    r'^\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:(\d+)\) detected for '
    r'zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. '
    r'Query: "HINFO (\d+)\.(\d+)\."$', re.M)


def test_loop_detected(t):
    d = Path(CFG.tmpdir("loop"))
    port = harness.free_port()
    loop_corefile(d, port, f"127.0.0.1:{port}")
    t0 = time.monotonic()
    rc, out, err = harness.run_holdfast(["-conf", str(d / "Corefile")], cwd=d, timeout=25)
    el = time.monotonic() - t0
    t.eq(rc, 1, "loop: forwarding to itself exits with status 1")
    m = LOOP_FATAL.search(out)
    t.check(m is not None, "loop: the FATAL line in CoreDNS's wording", out[-600:] + err[-300:])
    if m:
        t.eq(m.group(1), str(port), "loop: DST is the server's own listener")
    t.check(el < 15, "loop: detected within 15 s", f"{el:.1f} s")


def test_loop_not_detected_with_upstream(t):
    up = harness.upstream()
    d = Path(CFG.tmpdir("noloop"))
    port = harness.free_port()
    loop_corefile(d, port, up.addr)
    with one_off(d, grace=8) as p:
        time.sleep(3.5)
        t.check(p.poll() is None, "loop: with a real upstream the server keeps running",
                (d / "out.log").read_text(errors="replace")[-500:])
        # the probe went upstream (HINFO <n>.<n>.), answered NODATA there
        probes = [n for proto, n, ty in list(up.log) if ty == "HINFO"
                  and re.fullmatch(r"\d+\.\d+\.", n)]
        t.check(len(probes) >= 1, "loop: the HINFO probe reached the upstream", str(probes))
        t.check(len(set(probes)) <= 1, "loop: one probe name per server block", str(probes))
        q = harness.build_query("example.net.", "A")
        w = harness.udp_exchange(port, q.to_wire(), label="noloop")
        t.check(w is not None and dns.message.from_wire(w).answer,
                "loop: queries are forwarded normally")
        out = (d / "out.log").read_text(errors="replace")
        t.check("[FATAL]" not in out, "loop: no FATAL line", out[-300:])


# ---------------------------------------------------------------- -plugins

def test_plugins_flag(t):
    rc, out, err = harness.run_holdfast(["-plugins"], cwd=CFG.tmpdir("pl"))
    t.eq(rc, 0, "-plugins exits 0")
    head = "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n"
    t.check(out.startswith(head), "-plugins: CoreDNS's layout", out[:200])
    names = [ln[len("  dns."):] for ln in out[len(head):].splitlines()]
    t.check(all(ln.startswith("  dns.") for ln in out[len(head):].splitlines()),
            "-plugins: every plugin line is '  dns.NAME'")
    t.eq(names, sorted(names), "-plugins: sorted")
    for n in ("any", "cache", "errors", "forward", "health", "hosts", "kubernetes",
              "loadbalance", "log", "loop", "prometheus", "ready", "reload", "whoami"):
        t.check(n in names, f"-plugins lists {n}")
    for n in ("rewrite", "etcd", "template", "autopath", "dnstap"):
        t.check(n not in names, f"-plugins does not list {n} (not implemented)")


# ----------------------------------------------------------------- errors

def test_errors_forward_failure(t):
    """shim/forward.c reports the failure through hf_forward_error()."""
    d = Path(CFG.tmpdir("errors"))
    port = harness.free_port()
    dead = harness.free_port()  # nothing listens there: every exchange fails
    (d / "Corefile").write_text(
        f".:{port} {{\n    bind 127.0.0.1\n    errors\n    forward . 127.0.0.1:{dead}\n}}\n")
    with one_off(d):
        time.sleep(0.5)
        q = harness.build_query("Fail.Example.", "A")
        harness.udp_exchange(port, q.to_wire(), timeout=7, label="errors")
        time.sleep(0.3)
        out = (d / "out.log").read_text(errors="replace")
        t.check(re.search(r"^\[ERROR\] plugin/errors: 2 fail\.example\. A: .+$", out, re.M),
                "errors: a forward failure is logged as RCODE NAME TYPE: ERROR", out[-400:])


def test_errors_consolidate(t):
    """consolidate 1s REGEXP: matching errors are counted, one summary line."""
    d = Path(CFG.tmpdir("errors-c"))
    port = harness.free_port()
    dead = harness.free_port()
    (d / "Corefile").write_text(
        f".:{port} {{\n    bind 127.0.0.1\n    errors {{\n"
        f"        consolidate 1s \"^(read|dial) udp\" warning\n    }}\n"
        f"    forward . 127.0.0.1:{dead}\n}}\n")
    with one_off(d):
        time.sleep(0.5)
        for name in ("one.example.", "two.example."):
            q = harness.build_query(name, "A")
            harness.udp_exchange(port, q.to_wire(), timeout=7, label="errors-c")
        out = ""
        deadline = time.monotonic() + 4
        want = re.compile(r"^\[WARNING\] plugin/errors: 2 errors like '\^\(read\|dial\) udp' "
                          r"occurred in last 1s$", re.M)
        while time.monotonic() < deadline:
            out = (d / "out.log").read_text(errors="replace")
            if want.search(out):
                break
            time.sleep(0.1)
        t.check(want.search(out), "errors: consolidated summary line", out[-400:])
        t.check("plugin/errors: 2 one.example." not in out,
                "errors: consolidated errors are not logged one by one", out[-400:])


def firsts(s, name, n):
    """How often each address comes first in n replies for name A."""
    out = {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        for _ in range(n):
            q = harness.build_query(name, "A")
            sock.sendto(q.to_wire(), (harness.LOOPBACK, s.port))
            m = dns.message.from_wire(sock.recvfrom(65535)[0])
            addrs = [r.address for rr in m.answer for r in rr]
            if sorted(addrs) != ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]:
                out["bad"] = out.get("bad", 0) + 1
                continue
            out[addrs[0]] = out.get(addrs[0], 0) + 1
    finally:
        sock.close()
    return out


def test_loadbalance_weighted(t):
    s = harness.server("plugins3", files=("plugins.hosts", "plugins.weights"))
    # weights 200, 1, 1 (unlisted), 1 (unlisted): the first address is
    # 10.2.0.1 with probability 200/203
    f = firsts(s, "lb.example.org.", 400)
    t.eq(f.get("bad", 0), 0, "weighted: every reply has the four addresses")
    t.check(f.get("10.2.0.1", 0) >= 370, "weighted: the heavy address leads ~98.5% of replies",
            str(f))
    t.check(f.get("10.2.0.1", 0) < 400, "weighted: the others lead sometimes", str(f))
    # reload: the weight moves to 10.2.0.4
    path = Path(s.dir) / "plugins.weights"
    path.write_text("lb.example.org\n10.2.0.4 255\n")
    deadline = time.monotonic() + 6
    f = {}
    while time.monotonic() < deadline:
        time.sleep(0.5)
        f = firsts(s, "lb.example.org.", 100)
        if f.get("10.2.0.4", 0) >= 90:
            break
    t.check(f.get("10.2.0.4", 0) >= 90, "weighted: a changed weight file is reloaded", str(f))
    # a broken file on reload keeps the old weights
    path.write_text("lb.example.org\n10.2.0.1 0\n")
    time.sleep(2.0)
    f = firsts(s, "lb.example.org.", 100)
    t.check(f.get("10.2.0.4", 0) >= 90, "weighted: a bad weight file keeps the old weights",
            str(f))
    t.check(s.alive(), "weighted: the server survives a bad weight file")
    out = (Path(s.dir) / "stdout.log").read_text(errors="replace")
    t.check('[ERROR] plugin/loadbalance: Wrong weight value:"0" in weight file plugins.weights'
            in out, "weighted: the bad file is logged in CoreDNS's wording", out[-400:])


def test_loadbalance_weighted_bad_file_at_start(t):
    d = Path(CFG.tmpdir("weights-bad"))
    (d / "w").write_text("10.0.0.1 5\n")
    (d / "Corefile").write_text(". {\n    loadbalance weighted w\n    whoami\n}\n")
    rc, out, err = harness.run_holdfast(["-conf", str(d / "Corefile"), "-dns.port",
                                         str(harness.free_port())], cwd=d, timeout=5)
    t.eq(rc, 1, "weighted: a bad weight file at startup is fatal")
    t.check("Missing domain name in weight file w" in out + err,
            "weighted: startup error names the problem", (out + err)[-300:])


def go_g(x):
    """Go's strconv.FormatFloat(x, 'g', -1, 64) (Prometheus text values)."""
    if x == 0:
        return "0"
    for p in range(1, 18):
        e = f"{x:.{p - 1}e}"
        if float(e) == x:
            break
    exp = int(e.split("e")[1])
    if exp < -4 or exp >= 6:
        return e
    return f"{x:.{max(p - 1 - exp, 0)}f}"


def test_hosts_metrics(t):
    """coredns_hosts_entries (names + reverse entries, CoreDNS's Map.Len)
    and coredns_hosts_reload_timestamp_seconds (the file's mtime)."""
    import urllib.request
    d = Path(CFG.tmpdir("hosts-metrics"))
    hosts = d / "h"
    hosts.write_text("10.0.0.1 a.example.org b.example.org\nfd00::1 a.example.org\n")
    os.utime(hosts, (1700000000.25, 1700000000.25))
    port, mport = harness.free_port(), harness.free_port()
    (d / "Corefile").write_text(
        f".:{port} {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:{mport}\n"
        f"    hosts {hosts} {{\n        10.0.0.9 c.example.org\n    }}\n}}\n")
    with one_off(d):
        body = None
        deadline = time.monotonic() + 5
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=1) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.1)
        t.check(body is not None, "hosts metrics: /metrics answers")
        if body is None:
            return
        lines = body.splitlines()
        # 4 names (3 from the file, 1 inline) + 4 reverse entries
        t.check("coredns_hosts_entries 8" in lines, "hosts metrics: coredns_hosts_entries 8",
                "\n".join(x for x in lines if "hosts" in x))
        # Go: float64(mtime.UnixNano()) / 1e9, written with FormatFloat('g', -1)
        want = go_g(float(os.stat(hosts).st_mtime_ns) / 1e9)
        t.check(f"coredns_hosts_reload_timestamp_seconds {want}" in lines,
                "hosts metrics: reload timestamp = the file's mtime",
                "\n".join(x for x in lines if "hosts" in x))
        t.check("# TYPE coredns_hosts_entries gauge" in lines, "hosts metrics: gauge TYPE line")


def test_errors_chain_end(t):
    """The last handler finds no next plugin: CoreDNS's NextOrFailure error
    is logged by errors; hosts' own SERVFAIL (no error) is not."""
    d = Path(CFG.tmpdir("errors-end"))
    (d / "h").write_text("10.0.0.1 a.example.org\n")
    port = harness.free_port()
    (d / "Corefile").write_text(
        "example.org in-addr.arpa {\n    bind 127.0.0.1\n    errors\n    hosts h\n}\n")
    with one_off(d, "-dns.port", str(port)):
        w = None
        deadline = time.monotonic() + 5
        while w is None and time.monotonic() < deadline:
            q = harness.build_query("9.9.9.9.in-addr.arpa.", "PTR")
            w = harness.udp_exchange(port, q.to_wire(), timeout=0.3, label="errors-end")
        t.check(w is not None and dns.message.from_wire(w).rcode() == dns.rcode.SERVFAIL,
                "errors: PTR without a match ends the chain: SERVFAIL")
        q = harness.build_query("nope.example.org.", "A")
        harness.udp_exchange(port, q.to_wire(), label="errors-end")
        time.sleep(0.3)
        out = (d / "out.log").read_text(errors="replace")
        t.check("[ERROR] plugin/errors: 2 9.9.9.9.in-addr.arpa. PTR: plugin/hosts: "
                "no next plugin found" in out.splitlines(),
                "errors: NextOrFailure's error is logged", out[-400:])
        t.check("nope.example.org." not in out,
                "errors: hosts' SERVFAIL for an unknown name is not an error", out[-400:])


def test_log_forwarded(t):
    """Forwarded queries are logged when the reply comes back (recorded
    reply: rcode, flags and size of what the client got); a failed forward
    is the unrecorded SERVFAIL (NOERROR - 0)."""
    up = harness.upstream()
    d = Path(CFG.tmpdir("log-fwd"))
    port, dead = harness.free_port(), harness.free_port()
    (d / "Corefile").write_text(
        f"example.net:{port} {{\n    bind 127.0.0.1\n    log\n    forward . {up.addr}\n}}\n"
        f"dead.test:{port} {{\n    bind 127.0.0.1\n    log\n    forward . 127.0.0.1:{dead}\n}}\n")
    with one_off(d):
        deadline = time.monotonic() + 5
        while "holdfast-" not in (d / "out.log").read_text(errors="replace") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        q = harness.build_query("www.Example.NET.", "A", edns=0, payload=1232)
        cport, reply = exchange_from(port, q.to_wire())
        q2 = harness.build_query("x.dead.test.", "AAAA")
        cport2, reply2 = exchange_from(port, q2.to_wire())
        time.sleep(0.3)
        lines = (d / "out.log").read_text(errors="replace").splitlines()
        want = (f'[INFO] 127.0.0.1:{cport} - {q.id} "A IN www.example.net. udp '
                f'{len(q.to_wire())} false 1232" NOERROR qr,rd,ra {len(reply)} ')
        got = [ln for ln in lines if ln.startswith(want)]
        t.check(len(got) == 1 and DEFAULT_LOG.match(got[0]),
                "log: a forwarded reply is logged once with its fields", "\n".join(lines[-4:]))
        want2 = (f'[INFO] 127.0.0.1:{cport2} - {q2.id} "AAAA IN x.dead.test. udp '
                 f'{len(q2.to_wire())} false 512" NOERROR - 0 ')
        got2 = [ln for ln in lines if ln.startswith(want2)]
        t.check(len(got2) == 1, "log: a failed forward is logged as NOERROR - 0",
                "\n".join(lines[-4:]))
        t.check(dns.message.from_wire(reply2).rcode() == dns.rcode.SERVFAIL,
                "log: the failed forward answered SERVFAIL")
