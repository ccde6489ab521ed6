"""test_ctypes.py: build/libholdfast.so answers without the shim.

Loads the library with ctypes (no server, no sockets) and drives the ABI of
plugin/include/holdfast.h: hf_abi_version, hf_version, hf_strerror,
hf_engine_open (good and broken Corefile), hf_listener_count/get,
hf_worker_new, hf_answer on queries built with dnspython, hf_worker_free,
hf_engine_close.  The library runs in a child Python process (this file
with --child) so a crash in it is reported as a failure, not the end of the
suite.  The child prints one line per check ("CHECK 1|0 [Q] desc\\tdetail")
and every reply ("WIRE hex"); the parent records them.
"""

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TEST_TIMEOUT = 90

GOOD = """\
cluster.local in-addr.arpa ip6.arpa {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifest cluster.yaml big.yaml
        pods insecure
    }
}
"""

BAD = """\
cluster.local {
    bind 127.0.0.1
    kubernets {
        manifest cluster.yaml
    }
}
"""

HF_ANSWER, HF_FORWARD, HF_DROP = 0, 1, 2
HF_UDP, HF_TCP = 0, 1
HF_OPEN_QUIET = 1
ENGINE_PORT = 15353


def test_ctypes_abi(t):
    import harness
    lib = harness.CFG.libholdfast
    if not lib.exists():
        raise harness.HarnessError(f"{lib} not found (run `make all` first)")
    d = Path(harness.CFG.tmpdir("ctypes"))
    for f in ("cluster.yaml", "big.yaml"):
        (d / f).write_text((harness.DATA / f).read_text())
    (d / "good.Corefile").write_text(GOOD)
    (d / "bad.Corefile").write_text(BAD)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    try:
        p = subprocess.run([sys.executable, "-B", __file__, "--child", str(lib), str(d),
                            harness.makefile_version()],
                           capture_output=True, text=True, timeout=60, env=env, cwd=d)
    except subprocess.TimeoutExpired:
        t.record(False, "ctypes child did not finish within 60 s")
        return
    nchecks = 0
    for line in p.stdout.splitlines():
        if line.startswith("WIRE "):
            harness.collect("ctypes", bytes.fromhex(line[5:].strip()))
        elif line.startswith("CHECK "):
            rec = json.loads(line[6:])
            nchecks += 1
            t.record(rec["ok"], "libholdfast: " + rec["desc"],
                     [rec["detail"]] if rec["detail"] else [], query=rec["query"])
    if p.returncode != 0:
        tail = (p.stderr or "").strip().splitlines()[-15:]
        t.record(False, f"ctypes child exited with {p.returncode} (crash in libholdfast?)", tail)
    if nchecks == 0:
        t.record(False, "ctypes child reported no checks", (p.stderr or "").splitlines()[-15:])


# ---------------------------------------------------------------- child side

def _emit_check(ok, desc, detail="", query=False):
    print("CHECK " + json.dumps({"ok": bool(ok), "desc": desc, "detail": detail,
                                 "query": query}), flush=True)
    return ok


def _bind(lib):
    c = ctypes
    lib.hf_abi_version.restype = c.c_int
    lib.hf_abi_version.argtypes = []
    lib.hf_version.restype = c.c_char_p
    lib.hf_version.argtypes = []
    lib.hf_strerror.restype = c.c_char_p
    lib.hf_strerror.argtypes = [c.c_int]
    lib.hf_engine_open.restype = c.c_void_p
    lib.hf_engine_open.argtypes = [c.c_char_p, c.c_int, c.c_uint, c.c_char_p, c.c_size_t]
    lib.hf_engine_close.restype = None
    lib.hf_engine_close.argtypes = [c.c_void_p]
    lib.hf_listener_count.restype = c.c_int
    lib.hf_listener_count.argtypes = [c.c_void_p]
    lib.hf_listener_get.restype = c.c_int
    lib.hf_listener_get.argtypes = [c.c_void_p, c.c_int, c.c_char_p, c.c_size_t,
                                    c.POINTER(c.c_uint16)]
    lib.hf_worker_new.restype = c.c_void_p
    lib.hf_worker_new.argtypes = [c.c_void_p]
    lib.hf_worker_free.restype = None
    lib.hf_worker_free.argtypes = [c.c_void_p]
    lib.hf_answer.restype = c.c_int
    lib.hf_answer.argtypes = [c.c_void_p, c.c_int, c.c_char_p, c.c_size_t, c.c_void_p,
                              c.c_int, c.c_void_p, c.c_size_t, c.POINTER(c.c_size_t)]


class _SockaddrIn(ctypes.Structure):
    _fields_ = [("sin_family", ctypes.c_uint16), ("sin_port", ctypes.c_uint16),
                ("sin_addr", ctypes.c_uint8 * 4), ("sin_zero", ctypes.c_uint8 * 8)]


def _answer(lib, w, wire, transport=HF_UDP, cap=65535, client=None):
    resp = ctypes.create_string_buffer(max(cap, 1))
    n = ctypes.c_size_t(0)
    ret = lib.hf_answer(w, 0, wire, len(wire), client, transport, resp, cap, ctypes.byref(n))
    out = resp.raw[:n.value] if ret == HF_ANSWER and n.value <= cap else b""
    if out:
        print("WIRE " + out.hex(), flush=True)
    return ret, out


def child(libpath, d, version):
    import dns.flags
    import dns.message
    import dns.rcode

    os.chdir(d)
    try:
        lib = ctypes.CDLL(libpath)
        _bind(lib)
    except (OSError, AttributeError) as e:
        _emit_check(False, "load libholdfast.so and bind every hf_ symbol", str(e))
        return
    _emit_check(True, "load libholdfast.so and bind every hf_ symbol")
    _emit_check(lib.hf_abi_version() == 1, "hf_abi_version() == 1", f"{lib.hf_abi_version()}")
    v = (lib.hf_version() or b"").decode()
    _emit_check(v == version, f"hf_version() == {version}", repr(v))
    for code in (0, -12, -1000):
        s = (lib.hf_strerror(code) or b"").decode()
        _emit_check(len(s) > 0, f"hf_strerror({code}) is a message", repr(s))
    lib.hf_engine_close(None)
    _emit_check(True, "hf_engine_close(NULL) is harmless")

    err = ctypes.create_string_buffer(1024)
    e = lib.hf_engine_open(b"bad.Corefile", ENGINE_PORT, HF_OPEN_QUIET, err, len(err))
    msg = err.value.decode(errors="replace")
    _emit_check(not e, "hf_engine_open(broken Corefile) returns NULL")
    _emit_check("bad.Corefile:3" in msg and "Unknown directive 'kubernets'" in msg,
                "the error text has the location and the CoreDNS wording", repr(msg))
    if e:
        lib.hf_engine_close(e)

    for rnd in (1, 2):   # open, answer, close twice: nothing left behind
        err = ctypes.create_string_buffer(1024)
        e = lib.hf_engine_open(b"good.Corefile", ENGINE_PORT, HF_OPEN_QUIET, err, len(err))
        if not _emit_check(e, f"hf_engine_open(good.Corefile) round {rnd}",
                           err.value.decode(errors="replace")):
            return
        n = lib.hf_listener_count(e)
        _emit_check(n == 1, "hf_listener_count == 1 (127.0.0.1, one port)", f"{n}")
        addr = ctypes.create_string_buffer(64)
        port = ctypes.c_uint16(0)
        r = lib.hf_listener_get(e, 0, addr, len(addr), ctypes.byref(port))
        _emit_check(r == 0 and addr.value == b"127.0.0.1" and port.value == ENGINE_PORT,
                    f"hf_listener_get(0) = 127.0.0.1:{ENGINE_PORT}",
                    f"ret {r}, {addr.value!r}:{port.value}")
        w = lib.hf_worker_new(e)
        if not _emit_check(w, "hf_worker_new"):
            lib.hf_engine_close(e)
            return
        _answer_checks(lib, w, dns)
        lib.hf_worker_free(w)
        lib.hf_engine_close(e)
        _emit_check(True, f"hf_worker_free + hf_engine_close round {rnd}")


def _answer_checks(lib, w, dns):
    import dns.flags
    import dns.message
    import dns.rcode
    web = "web.shop.svc.cluster.local."

    def parsed(ret, out, desc, want_rcode, want_answer):
        problems = []
        if ret != HF_ANSWER:
            problems.append(f"verdict {ret}, want HF_ANSWER")
        else:
            try:
                m = dns.message.from_wire(out, one_rr_per_rrset=True)
                if m.rcode() != want_rcode:
                    problems.append(f"rcode {dns.rcode.to_text(m.rcode())}")
                got = sorted(f"{r.name} {r.ttl} {rd}" for r in m.answer for rd in r)
                if want_answer is not None and got != sorted(want_answer):
                    problems.append(f"answer {got}, want {sorted(want_answer)}")
                return m, problems
            except Exception as ex:  # noqa: BLE001
                problems.append(f"unparseable: {ex}")
        return None, problems

    q = dns.message.make_query(web, "A")
    ret, out = _answer(lib, w, q.to_wire())
    m, p = parsed(ret, out, "", 0, [f"{web} 5 10.96.100.10"])
    if m is not None:
        if m.id != q.id:
            p.append("id not copied")
        if not m.flags & dns.flags.AA or m.flags & dns.flags.RA:
            p.append("want AA set, RA clear")
    _emit_check(not p, "hf_answer: web.shop A -> 10.96.100.10, AA", "; ".join(p), query=True)

    sa = _SockaddrIn(2, 0x3500, (127, 0, 0, 1), (0,) * 8)
    q = dns.message.make_query("db-0.db.data.svc.cluster.local.", "A", use_edns=0, payload=1232)
    ret, out = _answer(lib, w, q.to_wire(), client=ctypes.cast(ctypes.pointer(sa), ctypes.c_void_p))
    m, p = parsed(ret, out, "", 0, ["db-0.db.data.svc.cluster.local. 5 10.244.1.20"])
    if m is not None and (m.edns != 0 or m.payload != 1232):
        p.append("OPT not echoed")
    _emit_check(not p, "hf_answer with a client address and EDNS: db-0 A", "; ".join(p),
                query=True)

    q = dns.message.make_query("nope.shop.svc.cluster.local.", "A")
    ret, out = _answer(lib, w, q.to_wire())
    m, p = parsed(ret, out, "", dns.rcode.NXDOMAIN, [])
    if m is not None and (len(m.authority) != 1 or m.authority[0].rdtype != 6):
        p.append("no SOA in authority")
    _emit_check(not p, "hf_answer: unknown service -> NXDOMAIN + SOA", "; ".join(p), query=True)

    q = dns.message.make_query("big.shop.svc.cluster.local.", "A")
    ret, out = _answer(lib, w, q.to_wire(), transport=HF_TCP)
    m, p = parsed(ret, out, "", 0, None)
    if m is not None and (sum(len(r) for r in m.answer) != 120 or m.flags & dns.flags.TC):
        p.append(f"{sum(len(r) for r in m.answer)} records, TC {bool(m.flags & dns.flags.TC)}")
    _emit_check(not p, "hf_answer over HF_TCP: 120 A records, no TC", "; ".join(p), query=True)
    ret, out = _answer(lib, w, q.to_wire(), transport=HF_UDP)
    m, p = parsed(ret, out, "", 0, None)
    if m is not None and (len(out) > 512 or not m.flags & dns.flags.TC):
        p.append(f"{len(out)} bytes, TC {bool(m.flags & dns.flags.TC)}")
    _emit_check(not p, "hf_answer over HF_UDP: truncated to 512 bytes with TC", "; ".join(p),
                query=True)

    q = dns.message.make_query("example.com.", "A")
    ret, out = _answer(lib, w, q.to_wire())
    m, p = parsed(ret, out, "", dns.rcode.REFUSED, [])
    _emit_check(not p, "hf_answer: outside the zones, no forward -> REFUSED", "; ".join(p),
                query=True)

    ret, out = _answer(lib, w, b"\x12\x34\x01")
    _emit_check(ret == HF_DROP, "hf_answer: 3-byte message -> HF_DROP", f"verdict {ret}",
                query=True)
    q = dns.message.make_query(web, "A")
    q.flags |= dns.flags.QR
    ret, out = _answer(lib, w, q.to_wire())
    _emit_check(ret == HF_DROP, "hf_answer: a response (QR=1) -> HF_DROP", f"verdict {ret}",
                query=True)
    q = dns.message.make_query(web, "A")
    ret, out = _answer(lib, w, q.to_wire(), cap=8)
    _emit_check(ret < 0, "hf_answer with an 8-byte output buffer -> error, no overflow",
                f"verdict {ret}", query=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    print("run through run_all.py", file=sys.stderr)
    sys.exit(2)
