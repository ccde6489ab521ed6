"""test_server.py: the server core (spec 2): REFUSED outside our zones,
classes, case echo, EDNS (size echo, DO, flags, BADVERS), truncation over
UDP and full answers over TCP, TCP pipelining, malformed packets (the
server must stay up after each).  Server: data/main.Corefile.
"""

import random
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode

import harness
from harness import expect, nx, refused

WEB = "web.shop.svc.cluster.local."
BIG = "big.shop.svc.cluster.local."
BIG_A = {f"10.245.0.{i}" for i in range(1, 121)}


def main():
    return harness.server("main", files=("cluster.yaml", "big.yaml"))


def alive(t, s, what):
    """The server still answers correctly after `what`."""
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"],
           desc=f"main: still answers after {what}")


def test_refused_outside_zones(t):
    s = main()
    # no zone of this listener matches and there is no `.` block (spec 2)
    refused(t, s, "example.com.", "A")
    refused(t, s, "example.com.", "AAAA", tcp=True)
    refused(t, s, "local.", "A")
    refused(t, s, "cluster.local.example.", "A")
    refused(t, s, ".", "NS")
    refused(t, s, "arpa.", "SOA")
    refused(t, s, "example.com.", "A", edns=0, payload=1400)


def test_class_other_than_in(t):
    s = main()
    # no chaos/forward in this block: non-IN classes are refused (spec 2)
    refused(t, s, WEB, "A", rdclass="CH")
    refused(t, s, "version.bind.", "TXT", rdclass="CH")
    refused(t, s, WEB, "A", rdclass="HS")


def test_case_echo(t):
    s = main()
    n = "WeB.ShOp.SvC.ClUsTeR.LoCaL."
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.96.100.10"])
    # SRV: owner as sent, target = object names + the query's zone spelling
    n = "_HtTp._TcP.WeB.sHoP.SvC.cLuStEr.LoCaL."
    tgt = "web.shop.svc.cLuStEr.LoCaL."
    expect(t, s, n, "SRV", answer=[f"{n} 5 IN SRV 0 100 80 {tgt}"],
           additional=[f"{tgt} 5 IN A 10.96.100.10"])
    n = "DB.Data.SVC.Cluster.Local."
    tg = [f"db-{i}.db.data.svc.Cluster.Local." for i in range(3)]
    expect(t, s, n, "SRV", answer=[f"{n} 5 IN SRV 0 33 5432 {x}" for x in tg],
           additional=[f"{tg[0]} 5 IN A 10.244.1.20", f"{tg[1]} 5 IN A 10.244.2.21",
                       f"{tg[2]} 5 IN A 10.244.3.22"])
    n = "DB-0.db.DATA.svc.cluster.local."
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.1.20"])
    n = "1-2-3-4.SHOP.Pod.cluster.local."
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 1.2.3.4"])
    n = "dual.shop.svc.CLUSTER.LOCAL."
    expect(t, s, n, "AAAA", tcp=True, answer=[f"{n} 5 IN AAAA fd00:96::60"])


def test_edns(t):
    s = main()
    # OPT: version 0, the client's UDP size echoed, DO copied (spec 2)
    for payload, do in ((1232, False), (4096, True), (512, False), (1400, True)):
        expect(t, s, WEB, "A", edns=0, payload=payload, do=do,
               answer=[f"{WEB} 5 IN A 10.96.100.10"])
    # also on negative answers, and over TCP
    nx(t, s, "nope.shop.svc.cluster.local.", "A", edns=0, payload=1232, do=True)
    expect(t, s, WEB, "A", tcp=True, edns=0, payload=1232,
           answer=[f"{WEB} 5 IN A 10.96.100.10"])
    # other OPT flag bits are cleared, unknown options are not echoed
    q = dns.message.make_query(WEB, "A")
    q.use_edns(0, ednsflags=0x4000 | dns.flags.DO, payload=1232,
               options=[dns.edns.GenericOption(65001, b"\x01\x02")])
    w = harness.udp_exchange(s.port, q.to_wire(), label="main/udp")
    problems = []
    if w is None:
        problems.append("no reply")
    else:
        m = harness.parse(w)
        if m.edns != 0:
            problems.append(f"edns {m.edns}")
        else:
            if m.ednsflags != dns.flags.DO:
                problems.append(f"OPT flags {m.ednsflags:#06x}, want only DO (0x8000)")
            if any(o.otype == 65001 for o in m.options):
                problems.append("unknown EDNS option 65001 echoed")
        if m.rcode() != 0 or len(m.answer) != 1:
            problems.append(f"rcode {dns.rcode.to_text(m.rcode())}, {len(m.answer)} answers")
    t.record(not problems, "main: OPT flags other than DO cleared, unknown option dropped",
             problems, query=True)


def test_badvers(t):
    s = main()
    for tcp in (False, True):
        q = harness.build_query(WEB, "A", edns=1, payload=1232)
        wire = q.to_wire()
        if tcp:
            got = harness.tcp_exchange(s.port, [wire])
            w = got[0] if got else None
        else:
            w = harness.udp_exchange(s.port, wire, label="main/udp")
        problems = []
        if w is None:
            problems.append("no reply")
        else:
            m = harness.parse(w)
            if m.rcode() != dns.rcode.BADVERS:
                problems.append(f"rcode {dns.rcode.to_text(m.rcode())}, want BADVERS")
            if m.edns != 0:
                problems.append(f"reply OPT version {m.edns}, want 0")
            if m.answer or m.authority or m.additional:
                problems.append("records in a BADVERS reply")
            if m.id != q.id or not m.flags & dns.flags.QR:
                problems.append("id/QR")
        t.record(not problems, f"main: EDNS version 1 -> BADVERS{' (tcp)' if tcp else ''}",
                 problems, query=True)
    alive(t, s, "BADVERS")


def _truncated(t, s, name, rdtype, payload, limit, expect_tc):
    """Check a (possibly) truncated UDP answer for the big service."""
    q = harness.build_query(name, rdtype, edns=None if payload is None else 0,
                            payload=payload or 1232)
    w = harness.udp_exchange(s.port, q.to_wire(), label="main/udp")
    d = f"main: {name} {rdtype} over UDP, size {payload or 'no EDNS'} -> " \
        f"{'TC' if expect_tc else 'complete'}"
    problems = []
    if w is None:
        t.record(False, d, ["no reply"], query=True)
        return
    if len(w) > limit:
        problems.append(f"reply is {len(w)} bytes, limit {limit}")
    m = harness.parse(w)
    tc = bool(m.flags & dns.flags.TC)
    if tc != expect_tc:
        problems.append(f"TC {'set' if tc else 'clear'}")
    if m.rcode() != 0 or not m.flags & dns.flags.AA:
        problems.append(f"rcode {dns.rcode.to_text(m.rcode())}, AA {bool(m.flags & dns.flags.AA)}")
    if payload is not None and (m.edns != 0 or m.payload != payload):
        problems.append(f"OPT missing or size not echoed ({m.edns}, {m.payload})")
    got = harness.rr_tuples(m.answer)
    if rdtype == "A":
        ips = [g[4] for g in got]
        if any(g[0] != name or g[3] != "A" or g[1] != 5 for g in got) or not set(ips) <= BIG_A \
                or len(set(ips)) != len(ips):
            problems.append("answer holds records that are not big's A records")
        n = len(ips)
        if expect_tc and not 1 <= n < 120:
            problems.append(f"{n} A records; want some (as many as fit), fewer than 120")
        if not expect_tc and n != 120:
            problems.append(f"{n} A records, want 120")
    else:
        if expect_tc and len(got) >= 120:
            problems.append(f"{len(got)} SRV records despite TC")
    t.record(not problems, d, problems, query=True)


def test_truncation(t):
    s = main()
    # 120 A records = about 2 KB (spec 2: UDP size = EDNS size, min 512)
    _truncated(t, s, BIG, "A", None, 512, True)
    _truncated(t, s, BIG, "A", 1232, 1232, True)
    _truncated(t, s, BIG, "A", 4096, 4096, False)
    # an EDNS size below 512 counts as 512
    _truncated(t, s, BIG, "A", 100, 512, True)
    _truncated(t, s, BIG, "SRV", None, 512, True)
    _truncated(t, s, BIG, "SRV", 4096, 4096, True)
    # TCP: the whole answer, no TC
    expect(t, s, BIG, "A", tcp=True,
           answer=[f"{BIG} 5 IN A 10.245.0.{i}" for i in range(1, 121)])
    expect(t, s, BIG, "A", tcp=True, edns=0, payload=512,
           answer=[f"{BIG} 5 IN A 10.245.0.{i}" for i in range(1, 121)])


PIPELINE = [
    (WEB, "A", 0, [f"{WEB} 5 IN A 10.96.100.10"]),
    ("dual.shop.svc.cluster.local.", "AAAA", 0, ["dual.shop.svc.cluster.local. 5 IN AAAA fd00:96::60"]),
    ("nope.shop.svc.cluster.local.", "A", 3, []),
    ("db-1.db.data.svc.cluster.local.", "A", 0, ["db-1.db.data.svc.cluster.local. 5 IN A 10.244.2.21"]),
    ("example.com.", "A", 5, []),
    ("dns-version.cluster.local.", "TXT", 0, ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']),
    ("kubernetes.default.svc.cluster.local.", "A", 0,
     ["kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"]),
]


def _check_batch(t, qs, replies, desc):
    byid = {}
    problems = []
    for w in replies:
        try:
            m = harness.parse(w)
        except Exception as e:  # noqa: BLE001
            problems.append(f"unparseable reply: {e}")
            continue
        byid[m.id] = m
    if len(replies) != len(qs):
        problems.append(f"{len(replies)} replies to {len(qs)} queries")
    for q, (name, ty, rc, ans) in qs:
        m = byid.get(q.id)
        if m is None:
            problems.append(f"no reply for {name} {ty}")
            continue
        if m.question[0].name.to_text() != name or m.rcode() != rc:
            problems.append(f"{name} {ty}: reply for {m.question[0].name} "
                            f"rcode {dns.rcode.to_text(m.rcode())}")
            continue
        p, _ = harness.compare_section(f"{name} {ty} answer", ans, harness.rr_tuples(m.answer))
        problems += p
    t.record(not problems, desc, problems, query=True)


def test_tcp_pipelining(t):
    s = main()
    qs = []
    for i, item in enumerate(PIPELINE):
        q = harness.build_query(item[0], item[1], qid=4000 + i)
        qs.append((q, item))
    # all queries in one write, one connection
    replies = harness.tcp_exchange(s.port, [q.to_wire() for q, _ in qs])
    _check_batch(t, qs, replies, f"main: {len(qs)} pipelined queries on one TCP connection")
    # one after the other on one connection, length prefix split from body
    sock = harness.tcp_connect(s.port)
    try:
        got = []
        for q, _ in qs:
            w = q.to_wire()
            sock.sendall(struct.pack("!H", len(w)))
            time.sleep(0.02)
            sock.sendall(w)
            got += harness.tcp_read_replies(sock, 1)
        _check_batch(t, qs, got, "main: sequential queries on one TCP connection, split writes")
    finally:
        sock.close()
    # several connections open at once, interleaved
    socks = [harness.tcp_connect(s.port) for _ in range(4)]
    try:
        for i, sk in enumerate(socks):
            harness.tcp_send_all(sk, [qs[i][0].to_wire()])
        for i, sk in enumerate(socks):
            r = harness.tcp_read_replies(sk, 1)
            _check_batch(t, [qs[i]], r, f"main: TCP connection {i + 1} of 4 concurrent")
    finally:
        for sk in socks:
            sk.close()


def _raw_header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def _qsection(name=WEB, qtype=1, qclass=1):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack("!HH", qtype, qclass)


def _no_reply(t, s, wire, what):
    w = harness.udp_exchange(s.port, wire, timeout=1.0, want_id=False, label="main/malformed")
    t.record(w is None, f"main: {what} -> no reply",
             [f"got {len(w)} bytes: {w[:32].hex()}"] if w else [], query=True)


def _reply_rcode(t, s, wire, what, rcodes, allow_drop=False):
    w = harness.udp_exchange(s.port, wire, timeout=1.0, want_id=False, label="main/malformed")
    problems = []
    if w is None:
        if not allow_drop:
            problems.append("no reply")
    elif len(w) < 12:
        problems.append(f"reply of {len(w)} bytes")
    else:
        qid, flags = struct.unpack("!HH", w[:4])
        rc = flags & 0xF
        if qid != struct.unpack("!H", wire[:2])[0]:
            problems.append(f"reply id {qid:#x} != query id")
        if not flags & 0x8000:
            problems.append("QR not set")
        if rc not in [dns.rcode.from_text(r) for r in rcodes]:
            problems.append(f"rcode {dns.rcode.to_text(rc)}, want {'/'.join(rcodes)}"
                            f"{' or no reply' if allow_drop else ''}")
    t.record(not problems, f"main: {what} -> {'/'.join(rcodes)}"
             f"{' or no reply' if allow_drop else ''}", problems, query=True)
    return w


def test_malformed_packets(t):
    s = main()
    good = _raw_header() + _qsection()
    _no_reply(t, s, b"\x12\x34\x01", "3-byte datagram")
    _no_reply(t, s, good[:11], "11 bytes, shorter than a header")
    alive(t, s, "short datagrams")
    # a response (QR set) is never answered
    _no_reply(t, s, _raw_header(flags=0x8100) + _qsection(), "QR=1 message")
    _no_reply(t, s, _raw_header(flags=0x8500, an=0) + _qsection(), "QR=1 AA=1 message")
    alive(t, s, "QR=1")
    # two questions -> FORMERR
    _reply_rcode(t, s, _raw_header(qd=2) + _qsection() + _qsection("db.data.svc.cluster.local."),
                 "QDCOUNT 2", ["FORMERR"])
    # no question: spec 2 says SERVFAIL, miekg/dns rejects it with FORMERR
    _reply_rcode(t, s, _raw_header(qd=0), "QDCOUNT 0", ["FORMERR", "SERVFAIL"])
    alive(t, s, "bad QDCOUNT")
    # opcodes other than QUERY (and NOTIFY) -> NOTIMP
    for op, name in ((2, "STATUS"), (5, "UPDATE"), (15, "15")):
        w = _reply_rcode(t, s, _raw_header(flags=(op << 11) | 0x0100) + _qsection(),
                         f"opcode {name}", ["NOTIMP"])
        if w and len(w) >= 4:
            got_op = (struct.unpack("!H", w[2:4])[0] >> 11) & 0xF
            t.check(got_op == op, f"main: NOTIMP reply keeps opcode {name}", f"opcode {got_op}")
    alive(t, s, "unknown opcodes")
    # broken question sections: FORMERR or silence, never a crash
    _reply_rcode(t, s, _raw_header() + _qsection()[:9], "question cut in the name",
                 ["FORMERR"], allow_drop=True)
    # miekg's unpackQuestion stops at the end of the message and leaves
    # the class 0: CoreDNS then refuses the non-IN class
    _reply_rcode(t, s, _raw_header() + _qsection()[:-2], "question without class",
                 ["REFUSED"])
    _reply_rcode(t, s, _raw_header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
                 "compression pointer loop in qname", ["FORMERR"], allow_drop=True)
    _reply_rcode(t, s, _raw_header() + b"\x40" + b"a" * 64 + b"\x00" + struct.pack("!HH", 1, 1),
                 "64-byte label", ["FORMERR"], allow_drop=True)
    _reply_rcode(t, s, _raw_header(an=3) + _qsection(), "ANCOUNT 3 without records",
                 ["FORMERR"], allow_drop=True)
    _reply_rcode(t, s, _raw_header(ar=1) + _qsection() + b"\x00\x00\x29\x04",
                 "truncated OPT record", ["FORMERR"], allow_drop=True)
    alive(t, s, "broken questions")
    rnd = random.Random(20260820)
    for i in range(20):
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(12, 300)))
        junk = junk[:2] + bytes([junk[2] & 0x7F]) + junk[3:]   # QR=0: a query
        harness.udp_exchange(s.port, junk, timeout=0.2, want_id=False, label="main/garbage")
    alive(t, s, "20 random datagrams")
    # TCP: garbage, a lone length byte, a length with a short body
    for what, payload in (("TCP garbage message", struct.pack("!H", 20) + b"\xff" * 20),
                          ("TCP half length prefix", b"\x00"),
                          ("TCP length 300 with 10 bytes", struct.pack("!H", 300) + b"x" * 10),
                          ("TCP zero-length message", struct.pack("!H", 0))):
        try:
            sk = harness.tcp_connect(s.port)
            sk.sendall(payload)
            sk.shutdown(socket.SHUT_WR)
            harness.tcp_read_replies(sk, 1, timeout=1.0, label="main/tcp-garbage")
            sk.close()
        except OSError:
            pass
        alive(t, s, what)
