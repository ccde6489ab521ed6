"""harness.py: the integration suite's machinery.

Starts the real server (build/holdfast -conf FILE -dns.port PORT) on
127.0.0.1 with a free port, waits (bounded) until it answers, stops it with
SIGTERM (SIGKILL after a timeout); sends queries over UDP and TCP with
dnspython or raw sockets; compares replies section by section; runs a fake
upstream DNS server on 127.0.0.1 for forward/fallthrough tests.  Every
reply received is kept in COLLECTED; run_all.py feeds them to
build/ldns-check at the end.

Nothing here sends a packet anywhere but 127.0.0.1.

Expected records are written as text, "OWNER TTL CLASS TYPE RDATA", e.g.
    "web.shop.svc.cluster.local. 5 IN A 10.96.100.10"
OWNER is compared exactly, case included.  TTL may be "*" (any) or "LO-HI".
In an SOA, the serial may be written SERIAL: it is then checked to be a
plausible unix time (the time of the last change, spec 4.2) and to be the
same in every reply of one server run.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DATA = HERE / "data"
LOOPBACK = "127.0.0.1"

READY_TIMEOUT = 10.0  # server must answer within this after start
STOP_TIMEOUT = 5.0    # SIGTERM -> exit, else SIGKILL
QUERY_TIMEOUT = 2.0   # per UDP query
TCP_TIMEOUT = 3.0     # per TCP exchange


class HarnessError(Exception):
    """The harness could not do its job (server missing, did not start...)."""


class Skip(Exception):
    """The test cannot run here (not a failure)."""


class Config:
    def __init__(self):
        self.build = REPO / "build"
        self.verbose = False
        self.keep = False
        self.tmp_root = None

    @property
    def holdfast(self):
        return self.build / "holdfast"

    @property
    def libholdfast(self):
        return self.build / "libholdfast.so"

    @property
    def ldns_check(self):
        return self.build / "ldns-check"

    def tmpdir(self, prefix):
        if self.tmp_root is None:
            self.tmp_root = tempfile.mkdtemp(prefix="hf-integration-")
        return tempfile.mkdtemp(prefix=prefix + "-", dir=self.tmp_root)

    def cleanup(self):
        if self.tmp_root and not self.keep:
            shutil.rmtree(self.tmp_root, ignore_errors=True)


CFG = Config()
COLLECTED = []  # (label, wire bytes) of every reply received
_collect_lock = threading.Lock()


def collect(label, wire):
    with _collect_lock:
        COLLECTED.append((label, bytes(wire)))


def makefile_version():
    """VERSION from the Makefile (what -version and hf_version() report)."""
    text = (REPO / "Makefile").read_text()
    m = re.search(r"^VERSION\s*:?=\s*(\S+)", text, re.M)
    if not m:
        raise HarnessError("no VERSION in Makefile")
    return m.group(1)


# ---------------------------------------------------------------- checks

class T:
    """One test's context: records checks (soft assertions)."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.query_checks = 0
        self.failures = []

    def record(self, ok, desc, problems=(), query=False):
        if query:
            self.query_checks += 1
        if ok:
            self.passed += 1
            if CFG.verbose:
                print(f"    ok   {desc}")
        else:
            self.failed += 1
            text = desc + "".join("\n        " + p for p in problems)
            self.failures.append(text)
            print(f"    FAIL {text}")
        return ok

    def check(self, cond, desc, detail=""):
        return self.record(bool(cond), desc, [detail] if detail else [])

    def eq(self, got, want, desc):
        return self.record(got == want, desc, [f"got  {got!r}", f"want {want!r}"])


def skip(reason):
    raise Skip(reason)


# ---------------------------------------------------------------- sockets

def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((LOOPBACK, 0))
            port = u.getsockname()[1]
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind((LOOPBACK, port))
            except OSError:
                continue
            finally:
                t.close()
            return port
        finally:
            u.close()
    raise HarnessError("no free port found")


def port_is_free(port, host=LOOPBACK):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _check_host(host):
    if host != LOOPBACK:
        raise HarnessError(f"refusing to send to {host}: loopback only")


def udp_exchange(port, wire, timeout=QUERY_TIMEOUT, want_id=True, host=LOOPBACK,
                 label="udp"):
    """Send one datagram, return the first reply (with the query's ID when
    want_id) or None after timeout."""
    _check_host(host)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, port))
        s.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                return None
            collect(label, data)
            if not want_id or len(wire) < 2 or data[:2] == wire[:2]:
                return data
    finally:
        s.close()


def tcp_send_all(sock, wires):
    sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))


def _recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_read_replies(sock, count, timeout=TCP_TIMEOUT, label="tcp"):
    """Read up to count length-prefixed messages; stops early on EOF/timeout."""
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count:
            (n,) = struct.unpack("!H", _recv_exact(sock, 2, deadline))
            data = _recv_exact(sock, n, deadline)
            collect(label, data)
            out.append(data)
    except (socket.timeout, EOFError, ConnectionError, OSError):
        pass
    return out


def tcp_connect(port, timeout=TCP_TIMEOUT, host=LOOPBACK):
    _check_host(host)
    return socket.create_connection((host, port), timeout=timeout)


def tcp_exchange(port, wires, timeout=TCP_TIMEOUT, host=LOOPBACK):
    """Send all wires on one connection (pipelined), read as many replies."""
    try:
        s = tcp_connect(port, timeout, host)
    except OSError:
        return []
    try:
        tcp_send_all(s, wires)
        return tcp_read_replies(s, len(wires), timeout)
    except OSError:
        return []
    finally:
        s.close()


# ---------------------------------------------------------------- messages

def build_query(name, rdtype="A", rdclass="IN", edns=None, payload=1232, do=False,
                rd=True, qid=None):
    # dnspython reads use_edns=1 as True (EDNS 0), so set the level afterwards
    q = dns.message.make_query(name, rdtype, rdclass, use_edns=False if edns is None else 0,
                               payload=payload, want_dnssec=do if edns is not None else False)
    if edns:
        q.use_edns(edns, q.ednsflags, payload)
    if not rd:
        q.flags &= ~dns.flags.RD
    if qid is not None:
        q.id = qid
    return q


def parse(wire):
    """dnspython parse keeping one RR per RRset: owner case, TTLs and
    duplicates stay visible."""
    return dns.message.from_wire(wire, one_rr_per_rrset=True)


def query(srv, name, rdtype="A", tcp=False, **kw):
    """Send a query; returns (query msg, reply wire or None)."""
    q = build_query(name, rdtype, **kw)
    wire = q.to_wire()
    if tcp:
        got = tcp_exchange(srv.port, [wire])
        return q, (got[0] if got else None)
    return q, udp_exchange(srv.port, wire, label=f"{srv.name}/udp")


def rr_tuples(section):
    out = []
    for rrset in section:
        for rd in rrset:
            out.append((rrset.name.to_text(), rrset.ttl,
                        dns.rdataclass.to_text(rrset.rdclass),
                        dns.rdatatype.to_text(rrset.rdtype), rd.to_text()))
    return out


def fmt_rr(t):
    return f"{t[0]} {t[1]} {t[2]} {t[3]} {t[4]}"


def _norm_rdata(cls, typ, text):
    serial = False
    if typ == "SOA":
        f = text.split()
        if len(f) == 7 and f[2] == "SERIAL":
            f[2] = "0"
            serial = True
            text = " ".join(f)
    rd = dns.rdata.from_text(cls, typ, text)
    out = rd.to_text()
    if serial:
        f = out.split()
        f[2] = "SERIAL"
        out = " ".join(f)
    return out


_exp_cache = {}


def parse_expected(s):
    """'owner ttl class type rdata' -> (owner, ttlspec, class, type, rdata)."""
    if s in _exp_cache:
        return _exp_cache[s]
    parts = s.split(None, 4)
    if len(parts) < 4:
        raise HarnessError(f"bad expected record {s!r}")
    owner, ttl, cls, typ = parts[:4]
    rdata = parts[4] if len(parts) == 5 else ""
    if not owner.endswith("."):
        raise HarnessError(f"expected owner must be absolute: {s!r}")
    if ttl == "*":
        ttlspec = (0, 2**32)
    elif "-" in ttl:
        lo, hi = ttl.split("-")
        ttlspec = (int(lo), int(hi))
    else:
        ttlspec = (int(ttl), int(ttl))
    out = (owner, ttlspec, cls.upper(), typ.upper(), _norm_rdata(cls.upper(), typ.upper(), rdata))
    _exp_cache[s] = out
    return out


def _rr_matches(exp, got, serials):
    owner, (lo, hi), cls, typ, rdata = exp
    g_owner, g_ttl, g_cls, g_typ, g_rdata = got
    if owner != g_owner or cls != g_cls or typ != g_typ or not (lo <= g_ttl <= hi):
        return False
    if typ == "SOA" and rdata.split()[2] == "SERIAL":
        f = g_rdata.split()
        if len(f) != 7:
            return False
        serial = f[2]
        f[2] = "SERIAL"
        if " ".join(f) != rdata:
            return False
        serials.append(int(serial))
        return True
    return rdata == g_rdata


def compare_section(name, expected, got, ordered=False):
    """Returns (problems, serials seen in matched SOAs)."""
    exp = [parse_expected(s) for s in expected]
    problems, serials = [], []
    if ordered:
        if len(exp) != len(got) or not all(
                _rr_matches(e, g, serials) for e, g in zip(exp, got)):
            problems.append(f"{name} differs (order matters):")
            problems += ["  want " + s for s in expected] or ["  want (empty)"]
            problems += ["  got  " + fmt_rr(g) for g in got] or ["  got  (empty)"]
        return problems, serials
    left = list(got)
    missing = []
    for e, s in zip(exp, expected):
        for i, g in enumerate(left):
            if _rr_matches(e, g, serials):
                del left[i]
                break
        else:
            missing.append(s)
    if missing or left:
        problems.append(f"{name} differs:")
        problems += ["  missing    " + s for s in missing]
        problems += ["  unexpected " + fmt_rr(g) for g in left]
    return problems, serials


def soa_rr(zone, ttl):
    """The kubernetes plugin's SOA (spec 4.5) for zone as spelled."""
    return (f"{zone} {min(ttl, 300)} IN SOA ns.dns.{zone} hostmaster.{zone} "
            f"SERIAL 7200 1800 86400 {ttl}")


def check_header(q, m, rcode, aa, tc, ra, problems, edns=None, payload=None, do=False):
    if m.id != q.id:
        problems.append(f"id {m.id} != query id {q.id}")
    if not m.flags & dns.flags.QR:
        problems.append("QR not set")
    if m.opcode() != dns.opcode.QUERY:
        problems.append(f"opcode {dns.opcode.to_text(m.opcode())}")
    want_rc = dns.rcode.from_text(rcode)
    if m.rcode() != want_rc:
        problems.append(f"rcode {dns.rcode.to_text(m.rcode())}, want {rcode}")
    for flag, want, fname in ((dns.flags.AA, aa, "AA"), (dns.flags.TC, tc, "TC"),
                              (dns.flags.RA, ra, "RA")):
        if want is None:
            continue
        if bool(m.flags & flag) != want:
            problems.append(f"{fname} {'clear' if want else 'set'}, want {'set' if want else 'clear'}")
    if bool(m.flags & dns.flags.RD) != bool(q.flags & dns.flags.RD):
        problems.append("RD not copied from the query")
    # question echoed exactly (case included)
    if len(m.question) != 1:
        problems.append(f"{len(m.question)} questions in reply")
    else:
        qq, mq = q.question[0], m.question[0]
        if (mq.name.to_text() != qq.name.to_text() or mq.rdtype != qq.rdtype
                or mq.rdclass != qq.rdclass):
            problems.append(f"question {mq.name} {dns.rdatatype.to_text(mq.rdtype)} "
                            f"!= {qq.name} {dns.rdatatype.to_text(qq.rdtype)}")
    if edns is None:
        if m.edns >= 0:
            problems.append("reply has an OPT record, the query had none")
    else:
        if m.edns < 0:
            problems.append("reply has no OPT record, the query had one")
        else:
            if m.edns != 0:
                problems.append(f"reply EDNS version {m.edns}")
            if payload is not None and m.payload != payload:
                problems.append(f"reply OPT UDP size {m.payload}, want {payload} (the client's)")
            if bool(m.ednsflags & dns.flags.DO) != bool(do):
                problems.append(f"DO bit {'set' if not do else 'clear'} in reply, query had it "
                                f"{'set' if do else 'clear'}")


def expect(t, srv, name, rdtype="A", *, rcode="NOERROR", answer=(), authority=None,
           additional=(), soa=None, aa=True, tc=False, ra=False, tcp=False, ordered=False,
           edns=None, payload=1232, do=False, rdclass="IN", rd=True, desc=None):
    """Send one query and compare everything; one query check.  soa=ZONE
    expects exactly the plugin's SOA for ZONE (as spelled) in authority.
    Returns the parsed reply or None."""
    proto = "tcp" if tcp else "udp"
    d = desc or f"{srv.name}: {name} {rdtype}{' ' + rdclass if rdclass != 'IN' else ''}" \
                f"{' (tcp)' if tcp else ''} -> {rcode}"
    problems = []
    q = build_query(name, rdtype, rdclass, edns=edns, payload=payload, do=do, rd=rd)
    wire = q.to_wire()
    if tcp:
        got = tcp_exchange(srv.port, [wire])
        rwire = got[0] if got else None
    else:
        rwire = udp_exchange(srv.port, wire, label=f"{srv.name}/udp")
    m = None
    if rwire is None:
        problems.append(f"no reply over {proto} within the timeout")
    else:
        try:
            m = parse(rwire)
        except Exception as e:  # noqa: BLE001 - any parse error is a failure
            problems.append(f"reply does not parse: {type(e).__name__}: {e} ({rwire.hex()})")
    if m is not None:
        check_header(q, m, rcode, aa, tc, ra, problems, edns=edns, payload=payload, do=do)
        if authority is None:
            authority = [soa_rr(soa, srv.ttl)] if soa else []
        serials = []
        for sname, exp, sec, o in (("answer", answer, m.answer, ordered),
                                   ("authority", authority, m.authority, False),
                                   ("additional", additional, m.additional, False)):
            p, s = compare_section(sname, exp, rr_tuples(sec), o)
            problems += p
            serials += s
        for s in serials:
            p = srv.note_serial(s)
            if p:
                problems.append(p)
    t.record(not problems, d, problems, query=True)
    return m


def nx(t, srv, name, rdtype="A", zone="cluster.local.", **kw):
    """NXDOMAIN, AA, the zone's SOA in authority."""
    return expect(t, srv, name, rdtype, rcode="NXDOMAIN", soa=zone, **kw)


def nodata(t, srv, name, rdtype="A", zone="cluster.local.", **kw):
    """NOERROR, empty answer, AA, the zone's SOA in authority."""
    return expect(t, srv, name, rdtype, rcode="NOERROR", soa=zone, **kw)


def refused(t, srv, name, rdtype="A", **kw):
    """REFUSED written by the server: AA clear, nothing in any section."""
    return expect(t, srv, name, rdtype, rcode="REFUSED", aa=False, **kw)


# ---------------------------------------------------------------- servers

SERVERS = {}            # instance name -> Server (running or failed)
_start_timeouts = [0]   # circuit breaker: after 2 servers never answered, stop trying


def render(text, subst, what):
    def rep(m):
        key = m.group(1)
        if key not in subst:
            raise HarnessError(f"{what}: no value for placeholder {{{{{key}}}}}")
        return str(subst[key])
    return re.sub(r"\{\{([A-Z_]+)\}\}", rep, text)


class Server:
    """One holdfast process serving a rendered Corefile from a temp dir."""

    def __init__(self, name, template, files, ttl, subst, extra_args=(), conf=None, port=None):
        self.name = name
        self.template = template
        self.files = files
        self.ttl = ttl
        self.subst = dict(subst or {})
        self.extra_args = list(extra_args)
        self.fixed_conf = Path(conf) if conf else None  # run this file as is
        self.fixed_port = port                          # its port (in its keys)
        self.port = None
        self.proc = None
        self.dir = None
        self.error = None
        self.serials = set()
        self.started_wall = None
        self.stopped = False

    def note_serial(self, serial):
        """Serial checks: plausible unix time of the last change, stable."""
        now = time.time()
        self.serials.add(serial)
        if not (self.started_wall - 300 <= serial <= now + 60):
            return (f"SOA serial {serial} is not a plausible time of the last change "
                    f"(server started at {int(self.started_wall)}, now {int(now)})")
        if len(self.serials) > 1:
            return f"SOA serial changed during the run: {sorted(self.serials)}"
        return None

    def start(self):
        if not CFG.holdfast.exists():
            raise HarnessError(f"{CFG.holdfast} not found (run `make all` first)")
        if _start_timeouts[0] >= 2:
            raise HarnessError("not started: two earlier servers never answered")
        self.dir = Path(CFG.tmpdir(self.name))
        if self.fixed_conf:
            self.port = self.fixed_port
            conf, cwd = self.fixed_conf, self.fixed_conf.parent
            args = ["-conf", str(conf)]
        else:
            self.port = free_port()
            subst = dict(self.subst)
            subst.setdefault("PORT", self.port)
            for f in self.files:
                src = DATA / f
                (self.dir / f).write_text(render(src.read_text(), subst, f))
            conf, cwd = self.dir / "Corefile", self.dir
            conf.write_text(render((DATA / self.template).read_text(), subst, self.template))
            args = ["-conf", str(conf), "-dns.port", str(self.port)]
        args += [render(a, {"DIR": self.dir, "PORT": self.port}, "args") for a in self.extra_args]
        self.out = open(self.dir / "stdout.log", "wb")
        self.err = open(self.dir / "stderr.log", "wb")
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            [str(CFG.holdfast)] + args,
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
            start_new_session=True)
        try:
            self._wait_ready()
        except HarnessError:
            self._kill()
            raise

    def _wait_ready(self):
        probe = build_query("dns-version.cluster.local.", "TXT").to_wire()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise HarnessError(f"server {self.name}: holdfast exited with {rc} before "
                                   f"answering\n{self.tail()}")
            if udp_exchange(self.port, probe, timeout=0.2, label=f"{self.name}/probe"):
                break
            if time.monotonic() > deadline:
                _start_timeouts[0] += 1
                raise HarnessError(f"server {self.name}: no answer on 127.0.0.1:{self.port} "
                                   f"within {READY_TIMEOUT:.0f} s\n{self.tail()}")
            time.sleep(0.05)
        # TCP must accept too
        while True:
            try:
                tcp_connect(self.port, timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"server {self.name}: UDP answers but TCP "
                                       f"127.0.0.1:{self.port} does not accept\n{self.tail()}")
                time.sleep(0.05)

    def tail(self, n=25):
        parts = []
        for fname in ("stderr.log", "stdout.log"):
            p = self.dir / fname if self.dir else None
            if p and p.exists():
                lines = p.read_text(errors="replace").splitlines()[-n:]
                if lines:
                    parts.append(f"  --- {fname} (last {len(lines)} lines)")
                    parts += ["  " + ln for ln in lines]
        return "\n".join(parts)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for f in ("out", "err"):
            h = getattr(self, f, None)
            if h:
                h.close()

    def signal_and_wait(self, sig, timeout):
        """Send sig, wait up to timeout (then SIGKILL).  Returns (exit code
        or None if it had to be killed, seconds until exit)."""
        self.stopped = True
        t0 = time.monotonic()
        rc = self.proc.poll()
        if rc is None:
            os.kill(self.proc.pid, sig)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                rc = None
        el = time.monotonic() - t0
        self._kill()
        return rc, el

    def stop(self):
        """SIGTERM, wait, SIGKILL.  Returns a list of problems."""
        if self.proc is None:
            return []
        if self.stopped:  # stopped by its test (signal_and_wait): still check stderr
            err = (self.dir / "stderr.log").read_text(errors="replace") if self.dir else ""
            pat = sanitizer_report(err)
            return [f"server {self.name}: sanitizer report in stderr ({pat})", self.tail()] if pat else []
        self.stopped = True
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            problems.append(f"server {self.name} died during the tests (exit {rc})")
        else:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
                if rc != 0:
                    problems.append(f"server {self.name} exited with {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                problems.append(f"server {self.name} still running {STOP_TIMEOUT:.0f} s "
                                f"after SIGTERM; killed")
        self._kill()
        err = (self.dir / "stderr.log").read_text(errors="replace") if self.dir else ""
        pat = sanitizer_report(err)
        if pat:
            problems.append(f"server {self.name}: sanitizer report in stderr ({pat})")
        if problems:
            problems.append(self.tail())
        return problems


def server(name, template=None, files=("cluster.yaml",), ttl=5, subst=None, **kw):
    """The running server instance `name` (started on first use).  template:
    data/<template> (default <name>.Corefile); files: data files copied next
    to the Corefile; {{KEY}} placeholders are filled from subst (+ PORT).
    ttl: the kubernetes ttl the Corefile sets (for SOA expectations).
    Raises HarnessError if it cannot start (remembered)."""
    s = SERVERS.get(name)
    if s is None:
        s = Server(name, template or f"{name}.Corefile", tuple(files), ttl, subst, **kw)
        SERVERS[name] = s
        try:
            s.start()
        except HarnessError as e:
            s.error = str(e)
            raise
    if s.error:
        raise HarnessError(f"server {name} unavailable: {s.error.splitlines()[0]}")
    if not s.alive():
        raise HarnessError(f"server {name} is not running (exit {s.proc.poll()})\n{s.tail()}")
    return s


def stop_all():
    """Stop every server; returns {name: problems}."""
    out = {}
    for name, s in SERVERS.items():
        if s.error:
            continue
        out[name] = s.stop()
    if _upstream[0] is not None:
        _upstream[0].stop()
    return out


def host_ipv4():
    """A non-loopback IPv4 address of this host (for NS tests that need
    one), or None.  Only used to bind; queries still go to 127.0.0.1."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m and not m.group(1).startswith("127."):
            return m.group(1)
    return None


# ---------------------------------------------------------------- fake upstream

UPSTREAM_A = "203.0.113.7"
UPSTREAM_AAAA = "2001:db8::7"
UPSTREAM_PTR = "ptr.upstream.test."
UPSTREAM_TTL = 60


def parse_query(wire):
    """What a test DNS server received: the message, or None when wire does
    not parse or asks no question (such a query gets no reply)."""
    try:
        q = dns.message.from_wire(wire)
    except Exception:  # noqa: BLE001 - any garbage is just not a query
        return None
    return q if q.question else None


def close_quietly(*socks):
    """Closes each socket, ignoring errors (a test server's stop)."""
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def bind_dns_pair(host=LOOPBACK, port=None):
    """A UDP and a TCP socket bound to the same port on host, for a test
    DNS server: port, or a free one (20 tries).  Returns (udp, tcp, port);
    an OSError when a given port is taken, HarnessError when no free port
    was found."""
    for _ in range(20):
        p = port or free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, p))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, p))
            return udp, tcp, p
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
    raise HarnessError(f"test DNS server: no free port on {host}")


def start_dns_threads(udp, tcp, udp_loop, tcp_loop, backlog=16, poll=0.2):
    """Listens on tcp, sets both sockets' poll timeout (how often the loops
    look at their stop flag) and starts udp_loop / tcp_loop as daemon
    threads; returns the threads."""
    tcp.listen(backlog)
    udp.settimeout(poll)
    tcp.settimeout(poll)
    threads = [threading.Thread(target=udp_loop, daemon=True),
               threading.Thread(target=tcp_loop, daemon=True)]
    for th in threads:
        th.start()
    return threads


def serve_udp(sock, handle, stopped):
    """A test DNS server's UDP loop: until stopped() or sock is closed,
    sends handle(wire) back to each datagram's sender (None, or an
    exception in handle: no reply).  sock needs a timeout."""
    while not stopped():
        try:
            wire, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        except OSError:
            return
        try:
            out = handle(wire)
        except Exception:  # noqa: BLE001 - a query the handler chokes on gets no reply
            out = None
        if out:
            try:
                sock.sendto(out, peer)
            except OSError:
                pass


def serve_tcp(sock, on_conn, stopped):
    """A test DNS server's TCP accept loop: until stopped() or sock is
    closed, runs on_conn(conn) in a daemon thread for each connection.
    sock needs a timeout."""
    while not stopped():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        threading.Thread(target=on_conn, args=(conn,), daemon=True).start()


class FakeUpstream:
    """A tiny DNS server on 127.0.0.1 (UDP + TCP, same port) with fixed
    answers, used as the `forward` target:
      A    -> QNAME 60 IN A 203.0.113.7
      AAAA -> QNAME 60 IN AAAA 2001:db8::7
      PTR  -> QNAME 60 IN PTR ptr.upstream.test.
      TXT  -> QNAME 60 IN TXT "upstream"
      names under nxdomain.test. -> NXDOMAIN; anything else NODATA.
    Replies have RA set, AA clear.  Every query is logged."""

    def __init__(self):
        self.log = []
        self.lock = threading.Lock()
        self.stopping = False
        self.udp, self.tcp, self.port = bind_dns_pair(LOOPBACK)
        self._serve()

    def _serve(self):
        """Starts answering on self.udp / self.tcp (bound by the caller)."""
        self.threads = start_dns_threads(self.udp, self.tcp, self._udp_loop, self._tcp_loop)

    @property
    def addr(self):
        return f"{LOOPBACK}:{self.port}"

    def answer(self, wire, proto):
        q = parse_query(wire)
        if q is None:
            return None
        qq = q.question[0]
        with self.lock:
            self.log.append((proto, qq.name.to_text().lower(), dns.rdatatype.to_text(qq.rdtype)))
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        name = qq.name
        if name.is_subdomain(dns.name.from_text("nxdomain.test.")):
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(dns.rrset.from_text(
                "test.", UPSTREAM_TTL, "IN", "SOA",
                "ns.test. hostmaster.test. 1 7200 1800 86400 60"))
        elif qq.rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(name, UPSTREAM_TTL, "IN", "A", UPSTREAM_A))
        elif qq.rdtype == dns.rdatatype.AAAA:
            r.answer.append(dns.rrset.from_text(name, UPSTREAM_TTL, "IN", "AAAA", UPSTREAM_AAAA))
        elif qq.rdtype == dns.rdatatype.PTR:
            r.answer.append(dns.rrset.from_text(name, UPSTREAM_TTL, "IN", "PTR", UPSTREAM_PTR))
        elif qq.rdtype == dns.rdatatype.TXT:
            r.answer.append(dns.rrset.from_text(name, UPSTREAM_TTL, "IN", "TXT", '"upstream"'))
        elif qq.rdtype == dns.rdatatype.NS and name == dns.name.root:
            r.answer.append(dns.rrset.from_text(name, UPSTREAM_TTL, "IN", "NS", "ns.upstream.test."))
        return r.to_wire()

    def seen(self, name, rdtype=None):
        name = name.lower()
        with self.lock:
            return sum(1 for _, n, t in self.log if n == name and (rdtype is None or t == rdtype))

    def _udp_loop(self):
        serve_udp(self.udp, lambda wire: self.answer(wire, "udp"), lambda: self.stopping)

    def _tcp_loop(self):
        serve_tcp(self.tcp, self._tcp_conn, lambda: self.stopping)

    def _tcp_conn(self, conn):
        try:
            conn.settimeout(5)
            while not self.stopping:
                deadline = time.monotonic() + 5
                (n,) = struct.unpack("!H", _recv_exact(conn, 2, deadline))
                wire = _recv_exact(conn, n, deadline)
                out = self.answer(wire, "tcp")
                if out:
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except (OSError, EOFError, struct.error):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        close_quietly(self.udp, self.tcp)


_upstream = [None]


def upstream():
    if _upstream[0] is None:
        _upstream[0] = FakeUpstream()
    return _upstream[0]


# ---------------------------------------------------------------- processes

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "AddressSanitizer",
                      "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The first sanitizer marker in a server's stderr (ASan/UBSan builds,
    `make integration-asan`), or None."""
    for pat in SANITIZER_PATTERNS:
        if pat in text:
            return pat
    return None


def run_holdfast(args, cwd, timeout=5.0):
    """Run holdfast to completion (for exit-code tests).  Returns
    (rc, stdout, stderr); rc None if it had to be killed after timeout."""
    if not CFG.holdfast.exists():
        raise HarnessError(f"{CFG.holdfast} not found (run `make all` first)")
    p = subprocess.Popen([str(CFG.holdfast)] + list(args), cwd=cwd,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        err = err.decode(errors="replace")
        if sanitizer_report(err):
            raise HarnessError(f"holdfast {' '.join(args)}: sanitizer report in stderr\n{err[-3000:]}")
        return p.returncode, out.decode(errors="replace"), err
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=5)
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    except BaseException:   # e.g. the test's time limit: never leave it running
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
        raise


def ldns_check(wires):
    """Feed wires to build/ldns-check.  Returns (ok, output)."""
    if not CFG.ldns_check.exists():
        return False, f"{CFG.ldns_check} not found (run `make all`)"
    text = "".join(f"# {label}\n{w.hex()}\n" for label, w in wires)
    try:
        p = subprocess.run([str(CFG.ldns_check)], input=text, capture_output=True,
                           text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "ldns-check did not finish within 60 s"
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def log(msg):
    print(msg, flush=True)
    sys.stdout.flush()
