#!/usr/bin/python3
"""api_load.py: how hard holdfast leans on the Kubernetes API (issue 4,
"Benchmarks").  A benchmark that prints figures, not a pass/fail test.

The fake API (tests/fakeapi, as a subprocess) serves a generated cluster
(default 50 namespaces, 2,000 services of which 200 headless, one
EndpointSlice of 3 endpoints per service).  build/holdfast runs against it
(bind 127.0.0.1, a free port, serve_stale 5m, snapshot in a temp dir,
prometheus on another free port) for --duration seconds of steady state
with light churn (one EndpointSlice change every --churn seconds, which
must flow through the open watches without any extra request).  Printed:
requests per resource and verb from the fake's counters, the watch
timeoutSeconds asked for and the durations of finished watches, and the
request rate per minute.

Then the API goes down (refuse: listener closed, open watches cut) for
--outage seconds and heals.  Printed: how many requests holdfast attempted
during the outage (its own holdfast_api_requests_total counters, since a
refused connection never reaches the fake), the DNS answers during the
outage (served stale), and per resource how long after the heal the first
successful list/watch came (backoff with jitter: up to the 30 s cap).

Everything runs on 127.0.0.1; every process started is stopped at the end.
Usage: api_load.py [--duration S] [--outage S] [--holdfast build/holdfast]
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "fakeapi"))
import fakeapi  # noqa: E402

LOOP = "127.0.0.1"
RESOURCES = ("namespaces", "services", "endpointslices")
ZONE = "cluster.local"


def log(msg):
    print(f"[api_load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ cluster


def ip4(base, k):
    """base "10.96" + k -> 10.96.(k // 250).(k % 250 + 1)."""
    return f"{base}.{k // 250}.{k % 250 + 1}"


def svc_ns(i, nns):
    return f"ns-{i % nns:02d}"


def make_slice(i, nns, headless, addrs, rv_note=""):
    name = f"svc-{i:04d}"
    eps = []
    for j, a in enumerate(addrs):
        ep = {"addresses": [a], "conditions": {"ready": True},
              "targetRef": {"kind": "Pod", "namespace": svc_ns(i, nns), "name": f"{name}-pod-{j}"},
              "nodeName": f"node-{(i + j) % 40}"}
        if headless:
            ep["hostname"] = f"{name}-{j}"
        eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-abc{rv_note}", "namespace": svc_ns(i, nns),
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def make_cluster(nns, nsvc, headless_every):
    objs = []
    for n in range(nns):
        name = f"ns-{n:02d}"
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}})
    for i in range(nsvc):
        headless = i % headless_every == 0
        name, ns = f"svc-{i:04d}", svc_ns(i, nns)
        spec = {"type": "ClusterIP", "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
        if headless:
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
        else:
            spec["clusterIP"] = ip4("10.96", i)
            spec["clusterIPs"] = [spec["clusterIP"]]
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
                     "spec": spec})
        objs.append(make_slice(i, nns, headless, [ip4("10.244", 3 * i + j) for j in range(3)]))
    return objs


# ------------------------------------------------------------------ helpers


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((LOOP, 0))
            port = u.getsockname()[1]
            t.bind((LOOP, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port on 127.0.0.1")


def ask(port, name, rdtype="A", timeout=1.0):
    """(rcode, set of rdata text) or (None, None) on no reply."""
    q = dns.message.make_query(name, rdtype)
    try:
        r = dns.query.udp(q, LOOP, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None, None
    return r.rcode(), {rd.to_text() for rr in r.answer for rd in rr}


def metrics(port):
    """holdfast_api_requests_total per (resource, verb) from /metrics."""
    try:
        with urllib.request.urlopen(f"http://{LOOP}:{port}/metrics", timeout=3) as r:
            text = r.read().decode()
    except OSError as e:
        log(f"metrics unavailable: {e}")
        return {}
    out = {}
    for m in re.finditer(r'^holdfast_api_requests_total\{[^}]*resource="([a-z]+)",verb="([a-z]+)"\} (\d+)$',
                         text, re.M):
        key = (m.group(1), m.group(2))
        out[key] = out.get(key, 0) + int(m.group(3))
    return out


def qparam(query, key):
    m = re.search(r"(?:^|&)" + re.escape(key) + r"=([^&]*)", query or "")
    return m.group(1) if m else None


class Holdfast:
    def __init__(self, binary, workdir, api_url):
        self.dir = workdir
        self.port = free_port()
        self.mport = free_port()
        self.snap = workdir / "holdfast.snap"
        conf = workdir / "Corefile"
        conf.write_text(f"""# api_load.py: holdfast against the fake API (benchmark)
{ZONE} in-addr.arpa ip6.arpa {{
    bind {LOOP}
    prometheus {LOOP}:{self.mport}
    kubernetes {ZONE} in-addr.arpa ip6.arpa {{
        endpoint {api_url}
        serve_stale 5m
        snapshot {self.snap}
    }}
}}
""")
        self.out = open(workdir / "holdfast.stdout", "wb")
        self.err = open(workdir / "holdfast.stderr", "wb")
        self.proc = subprocess.Popen([str(binary), "-conf", str(conf), "-dns.port", str(self.port)],
                                     cwd=workdir, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()

    def tail(self, n=15):
        try:
            return "\n".join((self.dir / "holdfast.stderr").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# ------------------------------------------------------------------ report


def table_requests(stats, t_from=None, t_to=None):
    """{(resource, verb): {code: n}} from the request log between t_from and t_to."""
    out = {}
    for e in stats["log"]:
        if t_from is not None and e["t"] < t_from:
            continue
        if t_to is not None and e["t"] >= t_to:
            continue
        d = out.setdefault((e["resource"], e["verb"]), {})
        d[e["code"]] = d.get(e["code"], 0) + 1
    return out


def fmt_codes(d):
    return " ".join(f"{c}x{n}" for c, n in sorted(d.items(), key=lambda kv: str(kv[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float,
                    default=float(os.environ.get("BENCH_API_DURATION", "600")),
                    help="steady-state seconds (default 600, or $BENCH_API_DURATION)")
    ap.add_argument("--outage", type=float, default=60.0, help="outage seconds (default 60)")
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--headless-every", type=int, default=10,
                    help="every Nth service is headless (default 10: 200 of 2,000)")
    ap.add_argument("--churn", type=float, default=5.0,
                    help="seconds between EndpointSlice changes in steady state (0 = none)")
    ap.add_argument("--bookmark-interval", type=float, default=60.0,
                    help="fake's BOOKMARK interval (the real apiserver: 60 s)")
    ap.add_argument("--reconnect-wait", type=float, default=120.0,
                    help="give up waiting for the reconnect after this many seconds")
    ap.add_argument("--holdfast", default=str(REPO / "build" / "holdfast"))
    a = ap.parse_args()

    # SIGTERM (make's timeout) unwinds through the finally below, which
    # stops holdfast and the fake API
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binary = Path(a.holdfast).resolve()
    if not binary.exists():
        print(f"api_load: {binary} not found (make all)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hf-bench-api-", dir="/tmp"))
    api = hf = None
    try:
        objs = make_cluster(a.namespaces, a.services, a.headless_every)
        manifest = work / "cluster.json"
        manifest.write_text(json.dumps(objs))
        nheadless = sum(1 for i in range(a.services) if i % a.headless_every == 0)
        log(f"cluster: {a.namespaces} namespaces, {a.services} services ({nheadless} headless), "
            f"{a.services} EndpointSlices, {3 * a.services} endpoints")
        api = fakeapi.spawn([manifest], extra_args=["--bookmark-interval", str(a.bookmark_interval)],
                            stderr=open(work / "fakeapi.stderr", "wb"))
        log(f"fake API on {api.url} (control port {api.control_port})")

        t_start = time.time()
        hf = Holdfast(binary, work, api.url)
        # first sync: a ClusterIP service and a headless one answer right
        probe_svc = f"svc-0001.{svc_ns(1, a.namespaces)}.svc.{ZONE}."
        probe_want = {ip4("10.96", 1)}
        synced = None
        while time.time() - t_start < 60 and hf.alive():
            rc, got = ask(hf.port, probe_svc, timeout=0.3)
            if rc == dns.rcode.NOERROR and got == probe_want:
                synced = time.time() - t_start
                break
            time.sleep(0.05)
        if synced is None:
            print(f"api_load: holdfast did not sync within 60 s\n{hf.tail()}", file=sys.stderr)
            return 1
        log(f"holdfast on {LOOP}:{hf.port} synced after {synced:.2f} s; steady state for {a.duration:.0f} s")

        # ---- steady state, with churn on headless slices
        t_end = t_start + a.duration
        churned = {}  # service index -> new first address
        nchurn = 0
        next_churn = time.time() + a.churn if a.churn > 0 else float("inf")
        next_note = time.time() + 60
        headless_idx = [i for i in range(a.services) if i % a.headless_every == 0]
        while time.time() < t_end:
            now = time.time()
            if now >= next_churn:
                i = headless_idx[nchurn % len(headless_idx)]
                new = ip4("10.245", nchurn)
                addrs = [new] + [ip4("10.244", 3 * i + j) for j in (1, 2)]
                api.control.apply(make_slice(i, a.namespaces, True, addrs))
                churned[i] = new
                nchurn += 1
                next_churn += a.churn
            if now >= next_note:
                log(f"steady {now - t_start:.0f}/{a.duration:.0f} s: {api.control.count()} requests, "
                    f"{nchurn} slice changes")
                next_note += 60
            if not hf.alive():
                print(f"api_load: holdfast exited\n{hf.tail()}", file=sys.stderr)
                return 1
            time.sleep(max(0.05, min(next_churn, next_note, t_end) - time.time()))
        t_steady_end = time.time()
        st = api.control.stats()
        m_steady = metrics(hf.mport)

        # the churned data is live (watch events applied)
        live_ok = live_n = 0
        for i, new in list(churned.items())[-20:]:
            live_n += 1
            rc, got = ask(hf.port, f"svc-{i:04d}.{svc_ns(i, a.namespaces)}.svc.{ZONE}.")
            if rc == dns.rcode.NOERROR and got is not None and new in got:
                live_ok += 1

        # ---- outage
        log(f"API down (refuse) for {a.outage:.0f} s")
        t_down = time.time()
        api.control.down()
        probes = servfail = noreply = correct = 0
        while time.time() < t_down + a.outage:
            rc, got = ask(hf.port, probe_svc, timeout=1.0)
            probes += 1
            if rc is None:
                noreply += 1
            elif rc == dns.rcode.SERVFAIL:
                servfail += 1
            elif rc == dns.rcode.NOERROR and got == probe_want:
                correct += 1
            time.sleep(max(0.0, min(1.0, t_down + a.outage - time.time())))
        m_down = metrics(hf.mport)
        api.control.heal()
        t_heal = time.time()
        log("API healed; waiting for every resource to reconnect")
        first_ok = {}
        while time.time() < t_heal + a.reconnect_wait and len(first_ok) < len(RESOURCES):
            for e in api.control.stats()["log"]:
                if e["t"] >= t_heal and e["code"] == 200 and e["verb"] in ("list", "watch") \
                        and e["resource"] in RESOURCES and e["resource"] not in first_ok:
                    first_ok[e["resource"]] = (e["t"] - t_heal, e["verb"])
            time.sleep(0.2)
        time.sleep(2.0)  # let stragglers show up in the counters
        st_after = api.control.stats()
        m_after = metrics(hf.mport)
        rc, got = ask(hf.port, probe_svc)
        answers_after = rc == dns.rcode.NOERROR and got == probe_want

        # ---- report
        dur = t_steady_end - t_start
        print()
        print("=== api_load: holdfast against the fake Kubernetes API ===")
        print(f"cluster: {a.namespaces} namespaces, {a.services} services ({nheadless} headless), "
              f"{a.services} EndpointSlices ({3 * a.services} endpoints); churn: {nchurn} slice changes "
              f"(one every {a.churn:g} s); fake bookmarks every {a.bookmark_interval:g} s")
        print(f"first sync (answers correct) after {synced:.2f} s")
        print(f"steady state: {dur:.0f} s")
        print(f"  {'resource':<16}{'verb':<7}{'requests':>9}  codes")
        steady = table_requests(st, None, t_steady_end + 0.001)
        total = 0
        for res in RESOURCES:
            for verb in ("list", "watch"):
                d = steady.get((res, verb), {})
                n = sum(d.values())
                total += n
                print(f"  {res:<16}{verb:<7}{n:>9}  {fmt_codes(d) or '-'}")
        other = {k: v for k, v in steady.items() if k[0] not in RESOURCES or k[1] not in ("list", "watch")}
        for (res, verb), d in sorted(other.items(), key=str):
            n = sum(d.values())
            total += n
            print(f"  {str(res):<16}{str(verb):<7}{n:>9}  {fmt_codes(d)}")
        print(f"  total {total} requests = {total / (dur / 60.0):.2f} per minute "
              f"(holdfast's own counters: {sum(m_steady.values())})")
        # per-minute histogram
        mins = [0] * max(1, math.ceil(round(dur) / 60.0))
        for e in st["log"]:
            if e["t"] < t_steady_end:
                k = int((e["t"] - t_start) // 60)
                if 0 <= k < len(mins):
                    mins[k] += 1
        print("  requests per minute: " + " ".join(f"m{k}={n}" for k, n in enumerate(mins)))
        # watches
        print("  watches (timeoutSeconds asked; how long each lasted and how it ended):")
        all_to = []
        for res in RESOURCES:
            ws = [e for e in st["log"] if e["resource"] == res and e["verb"] == "watch" and e["t"] < t_steady_end]
            tos = [int(qparam(e["query"], "timeoutSeconds") or -1) for e in ws]
            all_to += [x for x in tos if x >= 0]
            parts = []
            for e in ws:
                # the fake logs a watch when its stream starts (end "client",
                # ~0 s) and updates the entry when it ends
                if e.get("end") == "client" and e["seconds"] < 1.0:
                    parts.append(f"open ({t_steady_end - e['t']:.0f}s so far)")
                else:
                    parts.append(f"{e['seconds']:.1f}s/{e['end']}")
            durs = ", ".join(parts) or "none"
            evs = sum(e.get("events", 0) for e in ws)
            print(f"    {res:<16} {len(ws)} watches, timeoutSeconds {tos}; {durs}; {evs} events delivered")
        if all_to:
            print(f"  timeoutSeconds range seen: [{min(all_to)}, {max(all_to)}] (holdfast picks [300, 600))")
        print(f"  watch events applied: {live_ok}/{live_n} recent slice changes answered by holdfast")
        print(f"outage: {a.outage:.0f} s (listener closed, watches cut)")
        during = {k: m_down.get(k, 0) - m_steady.get(k, 0) for k in set(m_down) | set(m_steady)}
        fake_during = table_requests(st_after, t_down, t_heal)
        print("  requests attempted by holdfast during the outage (its counters): "
              + ", ".join(f"{r}/{v}={during.get((r, v), 0)}" for r in RESOURCES for v in ("list", "watch"))
              + f"; total {sum(during.values())}"
              + f" = {sum(during.values()) / (a.outage / 60.0):.1f} per minute")
        print(f"  requests the fake saw during the outage: {sum(sum(d.values()) for d in fake_during.values())}")
        print(f"  DNS during the outage: {correct}/{probes} correct (stale), {servfail} SERVFAIL, "
              f"{noreply} no reply")
        print("  reconnect after heal (first 200 list/watch):")
        for res in RESOURCES:
            if res in first_ok:
                print(f"    {res:<16} {first_ok[res][0]:6.2f} s ({first_ok[res][1]})")
            else:
                print(f"    {res:<16} not within {a.reconnect_wait:.0f} s")
        after = table_requests(st_after, t_heal, None)
        print("  requests after heal (until all reconnected + 2 s): "
              + (", ".join(f"{r}/{v}: {fmt_codes(d)}" for (r, v), d in sorted(after.items(), key=str)) or "none"))
        relists = sum(1 for (r, v), d in after.items() if v == "list")
        print(f"  relists after heal: {relists} (watches resume from the last resourceVersion)")
        print(f"  answers correct after heal: {'yes' if answers_after else 'NO'}")
        rec = [v[0] for v in first_ok.values()]
        print("summary: api_load: "
              f"steady {dur:.0f} s: {total} requests ({total / (dur / 60.0):.2f}/min), "
              f"lists {sum(sum(steady.get((r, 'list'), {}).values()) for r in RESOURCES)}, "
              f"watches {sum(sum(steady.get((r, 'watch'), {}).values()) for r in RESOURCES)}, "
              f"timeoutSeconds {min(all_to) if all_to else '-'}..{max(all_to) if all_to else '-'}; "
              f"outage {a.outage:.0f} s: {sum(during.values())} attempts; "
              f"reconnect {min(rec) if rec else float('nan'):.1f}..{max(rec) if rec else float('nan'):.1f} s "
              f"after heal ({len(rec)}/{len(RESOURCES)} resources)")
        return 0
    finally:
        if hf is not None:
            hf.stop()
        if api is not None:
            api.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
