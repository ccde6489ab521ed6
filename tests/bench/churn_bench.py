#!/usr/bin/python3
"""churn_bench.py: query latency under endpoint churn (issue 8).

Starts the fake API server (tests/fakeapi, a subprocess) with a synthetic
cluster (--services ClusterIP services and --headless headless services of
5 ready endpoints each, in 100 namespaces), starts holdfast against it, and
measures query latency with tests/bench/qblast_lat.c (-q --outstanding,
queries for every service) in --rounds pairs of phases of --duration s,
alternating (so that drift on a shared machine hits both alike): one with
the API quiet, one while --rate EndpointSlice updates per second stream in
as watch events (each replaces a headless service's 5 endpoints, as a set,
by another of its three published sets: --rate x 5 endpoint changes per
second).  Prints the medians of qps, p50/p99/p99.9 and holdfast's CPU per
1k answers for both kinds of phase, the p99 ratio (the issue's target:
<= 1.2), the index rebuilds holdfast made, and the result of a consistency
check that ran throughout: a checker queries headless services and every
answer must be exactly one of that service's published sets (no
half-applied update, no mix of two sets, no NXDOMAIN/SERVFAIL).
Figures, not pass/fail; exit status 1 if the consistency check failed or
something did not start.  Traffic goes to 127.0.0.1 only; every process it
starts is stopped at the end.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fakeapi"))
import fakeapi  # noqa: E402

NS = 100
SETS = 3
EPS = 5


def svc_name(i):
    return f"svc{i // NS}", f"ns{i % NS}"


def ep_set(h, s):
    """The 5 addresses of published set s of headless service number h."""
    return [f"10.{200 + s}.{h // 50}.{(h % 50) * 5 + e}" for e in range(EPS)]


def slice_obj(h, name, ns, s, gen):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name},
                         "annotations": {"bench/generation": str(gen)}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}
                          for ip in ep_set(h, s)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def cluster(n_svc, n_headless):
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{j}"}}
            for j in range(NS)]
    headless = []
    for i in range(n_svc + n_headless):
        name, ns = svc_name(i)
        hl = i >= n_svc
        spec = {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
        if hl:
            spec["clusterIP"] = "None"
        else:
            spec["clusterIP"] = f"10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec})
        if hl:
            h = len(headless)
            headless.append((name, ns))
            objs.append(slice_obj(h, name, ns, 0, 0))
    return objs, headless


# ---- a minimal DNS client for the checker (standard library only) --------

def query_wire(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def skip_name(b, off):
    while True:
        n = b[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def answer_a(b):
    """(rcode, set of A addresses) of a reply."""
    qd, an = struct.unpack(">HH", b[4:8])
    rcode = b[3] & 0xF
    off = 12
    for _ in range(qd):
        off = skip_name(b, off) + 4
    ips = set()
    for _ in range(an):
        off = skip_name(b, off)
        t, _c, _ttl, rdlen = struct.unpack(">HHIH", b[off:off + 10])
        off += 10
        if t == 1 and rdlen == 4:
            ips.add(socket.inet_ntoa(b[off:off + 4]))
        off += rdlen
    return rcode, ips


class Checker(threading.Thread):
    """Queries headless services one at a time; every answer must be one of
    the service's published sets."""

    def __init__(self, port, headless, stop):
        super().__init__(daemon=True)
        self.port, self.headless, self.stop = port, headless, stop
        self.sets = [[frozenset(ep_set(h, s)) for s in range(SETS)] for h in range(len(headless))]
        self.checked = self.bad = self.timeouts = 0
        self.examples = []
        self.pause = 0.0005

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", self.port))
        s.settimeout(1.0)
        rnd = random.Random(7)
        qid = 0
        while not self.stop.is_set():
            h = rnd.randrange(len(self.headless))
            name, ns = self.headless[h]
            qid = (qid + 1) & 0xFFFF
            s.send(query_wire(qid, f"{name}.{ns}.svc.cluster.local"))
            try:
                while True:
                    b = s.recv(4096)
                    if struct.unpack(">H", b[:2])[0] == qid:
                        break
            except socket.timeout:
                self.timeouts += 1
                continue
            rcode, ips = answer_a(b)
            self.checked += 1
            if rcode != 0 or frozenset(ips) not in self.sets[h]:
                self.bad += 1
                if len(self.examples) < 5:
                    self.examples.append(f"{name}.{ns}: rcode {rcode} {sorted(ips)}")
            time.sleep(self.pause)
        s.close()


class Churner(threading.Thread):
    """Streams --rate EndpointSlice updates per second through the fake
    API's control interface, in batches every 50 ms."""

    def __init__(self, control, headless, rate, stop):
        super().__init__(daemon=True)
        self.control, self.headless, self.rate, self.stop = control, headless, rate, stop
        self.cur = [0] * len(headless)
        self.sent = 0
        self.errors = 0
        self.gen = 0
        self.active = threading.Event()

    def run(self):
        rnd = random.Random(11)
        tick = 0.05
        while not self.stop.is_set():
            if not self.active.wait(0.1):
                continue
            start, base = time.monotonic(), self.sent
            self.churn_while_active(rnd, tick, start, base)

    def churn_while_active(self, rnd, tick, start, base):
        while self.active.is_set() and not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate) - (self.sent - base)
            if due > 0:
                batch = []
                for _ in range(due):
                    h = rnd.randrange(len(self.headless))
                    self.cur[h] = (self.cur[h] + 1 + rnd.randrange(SETS - 1)) % SETS
                    self.gen += 1
                    name, ns = self.headless[h]
                    batch.append(slice_obj(h, name, ns, self.cur[h], self.gen))
                try:
                    self.control.load(objects=batch)
                    self.sent += len(batch)
                except Exception:  # noqa: BLE001 - counted, the run goes on
                    self.errors += 1
                    self.sent += len(batch)
            time.sleep(tick)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def metric(mport, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name):
            total = (total or 0) + float(line.split()[-1])
    return total


def proc_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_answer(port, name, want, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.2)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            s.send(query_wire(1, name))
            try:
                b = s.recv(4096)
                rcode, ips = answer_a(b)
                if rcode == 0 and ips == want:
                    return True
            except (socket.timeout, ConnectionRefusedError):
                pass
            time.sleep(0.05)
    finally:
        s.close()
    return False


def blast(qblast, port, qfile, seconds, outstanding):
    p = subprocess.run([qblast, "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile),
                        "-l", str(seconds), "-q", str(outstanding)],
                       capture_output=True, text=True, timeout=seconds + 30)
    out = {}
    m = re.search(r"Queries per second:\s+([\d.]+)", p.stdout)
    out["qps"] = float(m.group(1)) if m else None
    m = re.search(r"p50 ([\d.]+) p99 ([\d.]+) p999 ([\d.]+)", p.stdout)
    if m:
        out["p50"], out["p99"], out["p999"] = (float(x) * 1e3 for x in m.groups())
    m = re.search(r"Queries lost:\s+(\d+)", p.stdout)
    out["lost"] = int(m.group(1)) if m else None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--holdfast", default=str(ROOT / "build" / "holdfast"))
    ap.add_argument("--services", type=int, default=9000, help="ClusterIP services")
    ap.add_argument("--headless", type=int, default=1000, help="headless services (churned)")
    ap.add_argument("--rate", type=int, default=200,
                    help="EndpointSlice updates per second (x5 endpoint changes)")
    ap.add_argument("--duration", type=int, default=2, help="seconds per phase and round")
    ap.add_argument("--rounds", type=int, default=5, help="quiet/churn phase pairs")
    ap.add_argument("--outstanding", type=int, default=10, help="qblast -q")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not Path(args.holdfast).exists():
        sys.exit(f"churn_bench: {args.holdfast} not built")
    work = Path(tempfile.mkdtemp(prefix="holdfast-churn."))
    qblast = work / "qblast_lat"
    subprocess.run(["gcc", "-O2", "-o", str(qblast), str(HERE / "qblast_lat.c")], check=True)
    objs, headless = cluster(args.services, args.headless)
    (work / "objects.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                   "items": objs}))
    rnd = random.Random(3)
    names = [svc_name(i) for i in range(args.services + args.headless)]
    with open(work / "queries.txt", "w") as f:
        for _ in range(50000):
            n, ns = names[rnd.randrange(len(names))]
            f.write(f"{n}.{ns}.svc.cluster.local A\n")
    port, mport = free_port(), free_port()
    api = hf = None
    stop = threading.Event()
    rc = 0
    result = {"args": vars(args)}
    try:
        t0 = time.monotonic()
        api = fakeapi.spawn([work / "objects.json"], stderr=subprocess.DEVNULL, timeout=120)
        result["api_load_s"] = round(time.monotonic() - t0, 2)
        (work / "Corefile").write_text(f""". {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{mport}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        endpoint {api.url}
    }}
}}
""")
        log = open(work / "holdfast.log", "w")
        t0 = time.monotonic()
        hf = subprocess.Popen([args.holdfast, "-conf", str(work / "Corefile"),
                               "-dns.port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        name, ns = headless[0]
        if not wait_answer(port, f"{name}.{ns}.svc.cluster.local", set(ep_set(0, 0)), 60):
            print("churn_bench: holdfast did not answer from the fake API", file=sys.stderr)
            return 1
        result["ready_s"] = round(time.monotonic() - t0, 2)
        print(f"[churn] {args.services} ClusterIP + {args.headless} headless services; "
              f"holdfast ready from the fake API in {result['ready_s']} s", file=sys.stderr)
        checker = Checker(port, headless, stop)
        checker.start()
        churner = Churner(api.control, headless, args.rate, stop)
        churner.start()
        blast(qblast, port, work / "queries.txt", 2, args.outstanding)  # warm-up
        # quiet and churn phases alternate (--rounds of --duration s each),
        # so that drift on a shared machine hits both alike; medians shown
        phases = {"quiet": [], "churn": []}
        rebuilds = {"quiet": 0.0, "churn": 0.0}
        cpu = {"quiet": 0.0, "churn": 0.0}
        updates, churn_time = 0, 0.0
        for rnd_i in range(args.rounds):
            for phase in ("quiet", "churn"):
                if phase == "churn":
                    churner.active.set()
                    time.sleep(0.5)  # the stream is flowing before we measure
                c0 = churner.sent
                m0 = metric(mport, "holdfast_index_rebuilds_total") or 0
                p0 = proc_cpu(hf.pid)
                t0 = time.monotonic()
                r = blast(qblast, port, work / "queries.txt", args.duration, args.outstanding)
                dt = time.monotonic() - t0
                r["cpu_ms_per_1k"] = ((proc_cpu(hf.pid) - p0) * 1e3 /
                                      max(1, (r.get("qps") or 0) * args.duration / 1e3))
                rebuilds[phase] += (metric(mport, "holdfast_index_rebuilds_total") or 0) - m0
                if phase == "churn":
                    updates += churner.sent - c0
                    churn_time += dt
                    churner.active.clear()
                    time.sleep(0.5)  # let the last batch land before the quiet phase
                phases[phase].append(r)
        stop.set()
        churner.join(5)
        checker.join(5)
        alive = hf.poll() is None
        churn_rate = updates / churn_time if churn_time else 0

        def medians(runs):
            out = {}
            for k in ("qps", "p50", "p99", "p999", "cpu_ms_per_1k"):
                v = sorted(x[k] for x in runs if x.get(k) is not None)
                out[k] = v[len(v) // 2] if v else None
            out["lost"] = sum(x.get("lost") or 0 for x in runs)
            return out
        quiet, churn = medians(phases["quiet"]), medians(phases["churn"])
        result.update(quiet=quiet, churn=churn, rounds=phases,
                      churn_updates_per_s=round(churn_rate, 1), churn_errors=churner.errors,
                      rebuilds_quiet=rebuilds["quiet"], rebuilds_churn=rebuilds["churn"],
                      checked=checker.checked, inconsistent=checker.bad,
                      checker_timeouts=checker.timeouts, examples=checker.examples,
                      alive=alive)
        ratio = (churn["p99"] / quiet["p99"]) if quiet.get("p99") and churn.get("p99") else None
        result["p99_ratio"] = ratio

        def row(label, r):
            return (f"{label:<10} {r.get('qps') or 0:>10,.0f} {r.get('p50') or 0:>8.3f} "
                    f"{r.get('p99') or 0:>8.3f} {r.get('p999') or 0:>8.3f} "
                    f"{r.get('cpu_ms_per_1k') or 0:>10.2f} {r.get('lost')}")
        print(f"\nchurn bench: {args.services} ClusterIP + {args.headless} headless services, "
              f"qblast_lat -q {args.outstanding}, {args.rounds} x {args.duration} s per phase "
              f"(alternating; medians); load average {os.getloadavg()[0]:.2f}")
        print(f"{'phase':<10} {'qps':>10} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>8} "
              f"{'cpu ms/1k':>10} lost")
        print(row("quiet", quiet))
        print(row("churn", churn))
        print(f"churn: {churn_rate:,.0f} EndpointSlice updates/s ({churn_rate * EPS:,.0f} endpoint "
              f"changes/s) as watch events; index rebuilds: {result['rebuilds_quiet']} quiet, "
              f"{result['rebuilds_churn']} during churn")
        print(f"p99 under churn / p99 quiet = {ratio:.2f} (target <= 1.2)" if ratio else
              "p99 ratio: n/a")
        print(f"consistency: {checker.checked} answers checked, {checker.bad} not one of the "
              f"published sets, {checker.timeouts} timeouts"
              + (f"; e.g. {checker.examples}" if checker.examples else ""))
        if checker.bad or not alive or checker.checked == 0:
            rc = 1
    finally:
        stop.set()
        if hf is not None and hf.poll() is None:
            hf.send_signal(signal.SIGTERM)
            try:
                hf.wait(10)
            except subprocess.TimeoutExpired:
                hf.kill()
                hf.wait()
        if api is not None:
            api.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    subprocess.run(["rm", "-rf", str(work)], check=False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
