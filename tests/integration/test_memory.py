"""test_memory.py: the `memory SIZE` region (issue 5) with the real server.

1. A manifest larger than the region (50,000 Services, `memory 8M`, the
   smallest region holdfast accepts): the server starts, answers the
   Services that fit (the first ones of the file) correctly, answers
   NXDOMAIN for the refused ones (they are not in the index), and reports
   the refusal in /metrics and in its log.
2. Ten relists against the fake Kubernetes API (`memory 64M`, 2,000
   Services with 10,000 endpoints): in turn for Services, EndpointSlices
   and Namespaces, the resource's watch gets 410 Gone and every object of
   it changes before holdfast's relist reads it (addresses toggle between
   two of the same length, so the objects keep their size), so each relist
   replaces every object of its resource and rebuilds the index.  After
   each relist holdfast_memory_used_bytes must come back to the baseline
   measured after the first sync; the peak during the relists must stay
   inside the region.
"""

import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.rcode

import harness

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakeapi"))
import fakeapi  # noqa: E402

TEST_TIMEOUT = 150
MiB = 1 << 20


def metrics(port):
    """{name: value} of the unlabelled holdfast_* samples, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            body = r.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return None
    out = {}
    for line in body.splitlines():
        m = re.match(r"^(holdfast_[a-z_]+) ([0-9.eE+-]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def ask(srv, name, rdtype="A"):
    w = harness.udp_exchange(srv.port, harness.build_query(name, rdtype).to_wire(),
                             label=f"{srv.name}/q")
    return harness.parse(w) if w else None


def answers(m):
    return {rd.to_text() for rr in m.answer for rd in rr} if m is not None else None


# ------------------------------------------------------------ 1: too big

N_BIG = 50000


def svc_ip(i, net=96):
    return f"10.{net + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def big_manifest(path):
    """Namespaces ns0..ns99, then Service svc<i> in ns<i % 100> with
    ClusterIP 10.96.x.y (i = x * 256 + y): one kubectl-style List."""
    items = [{"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": f"ns{i}", "resourceVersion": str(10 + i)}} for i in range(100)]
    for i in range(N_BIG):
        ip = svc_ip(i)
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": f"svc{i}", "namespace": f"ns{i % 100}",
                                   "resourceVersion": str(1000 + i), "labels": {"app": f"svc{i}"}},
                      "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)


def test_manifest_larger_than_region(t):
    d = Path(harness.CFG.tmpdir("memory-big"))
    manifest = d / "big.json"
    big_manifest(manifest)
    prom = harness.free_port()
    srv = harness.server("memory-big", "memory-manifest.Corefile", files=(),
                         subst={"MEM": "8M", "PROM": prom, "MANIFEST": str(manifest)})
    t.check(srv.alive(), "big: the server starts with a manifest larger than its region")
    for i in (0, 1, 2, 57, 99, 100, 250, 1000):
        name = f"svc{i}.ns{i % 100}.svc.cluster.local."
        harness.expect(t, srv, name, "A", answer=[f"{name} 5 IN A {svc_ip(i)}"])
    # what was refused is not in the index: NXDOMAIN, like a Service that does not exist
    last = N_BIG - 1
    harness.nx(t, srv, f"svc{last}.ns{last % 100}.svc.cluster.local.", "A")
    m = metrics(prom)
    t.check(m is not None, "big: /metrics answers")
    if m is None:
        return
    t.eq(m.get("holdfast_memory_region_bytes"), 8.0 * MiB, "big: region size reported")
    t.check(m.get("holdfast_objects_refused_total", 0) > 0,
            "big: holdfast_objects_refused_total > 0", str(m.get("holdfast_objects_refused_total")))
    t.check(m.get("holdfast_memory_allocation_failures_total", 0) > 0,
            "big: holdfast_memory_allocation_failures_total > 0")
    used, peak = m.get("holdfast_memory_used_bytes", -1), m.get("holdfast_memory_peak_bytes", -1)
    t.check(0 < used <= peak <= 8 * MiB, "big: used <= peak <= region",
            f"used {used:.0f} peak {peak:.0f}")
    t.eq(m.get("holdfast_index_rebuild_failures_total"), 0.0,
         "big: the index of what fit was built (no rebuild failure)")
    # the log says what happened, with counts
    log = (srv.dir / "stderr.log").read_text(errors="replace") + \
        (srv.dir / "stdout.log").read_text(errors="replace")
    line = next((ln for ln in log.splitlines() if "region is full" in ln), "")
    kept = re.search(r"loaded \d+ namespaces, (\d+) services", line)
    t.check(kept is not None and 0 < int(kept.group(1)) < N_BIG,
            "big: the log reports the full region and how many services were loaded", line[:300])
    # and it keeps answering
    ok = 0
    for i in range(200):
        r = ask(srv, f"svc{i}.ns{i % 100}.svc.cluster.local.")
        ok += r is not None and answers(r) == {svc_ip(i)}
    t.eq(ok, 200, "big: 200 queries for services that fit all answered correctly")
    t.check(srv.alive(), "big: still running")
    srv.stop()


# ------------------------------------------------------------ 2: relists

N_SVC = 2000      # services, each with one EndpointSlice of EPS endpoints
EPS = 5
N_NS = 20
RELISTS = 10
# Relists take turns over the three resources holdfast watches (pods
# insecure: no pods): each resource's relists are paced by its own backoff
# (client-go's: 0.8 s, doubling, reset after 2 min), so ten relists of one
# resource in a row would take minutes by design.
ORDER = ["services", "endpointslices", "namespaces"]
# Tolerance for "back to the baseline".  Used is counted in pages handed to
# jemalloc.  A relist replaces every object of its resource (a new copy,
# then the old one freed): the store keeps the same number of live objects
# of the same sizes, but they can end up spread over partly filled slabs of
# a few size classes; the index is a new generation, handed back whole when
# the old one is reclaimed.  What can remain is a few slabs per size class
# the store uses: 64 KiB x ~8 classes = 512 KiB, under 1% of the 64 MiB
# region and about 10% of this cluster's ~4.4 MiB baseline.
TOLERANCE = 512 * 1024


def ep_ip(i, k, net):
    return f"10.{net + (i >> 13)}.{(i >> 5) & 255}.{(i & 31) * 8 + k}"


def namespace(n, gen):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": f"ns{n}", "labels": {"memtest": f"gen{gen % 2}"}}}


def service(i, net):
    ip = svc_ip(i, net)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc{i}", "namespace": f"ns{i % N_NS}", "labels": {"app": f"svc{i}"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def eslice(i, net):
    eps = [{"addresses": [ep_ip(i, k, net)], "conditions": {"ready": True},
            "nodeName": f"node-{i % 7}",
            "targetRef": {"kind": "Pod", "namespace": f"ns{i % N_NS}",
                          "name": f"svc{i}-7d9f8b6c5d-{k:05d}"}} for k in range(EPS)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"svc{i}-x7k2p", "namespace": f"ns{i % N_NS}",
                         "labels": {"kubernetes.io/service-name": f"svc{i}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps}


def changed(resource, gen):
    """Every object of resource, changed for generation gen (addresses
    toggle between two of the same length: the objects keep their size)."""
    if resource == "namespaces":
        return [namespace(n, gen) for n in range(N_NS)]
    if resource == "services":
        return [service(i, 96 + gen % 2) for i in range(N_SVC)]
    return [eslice(i, 200 + gen % 2) for i in range(N_SVC)]


def wait_until(cond, seconds, step=0.05):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return None


def relists_metric(prom, resource):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=2) as r:
            body = r.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return None
    m = re.search(r'^holdfast_api_relists_total\{instance="0",resource="%s"\} (\d+)$' % resource,
                  body, re.M)
    return int(m.group(1)) if m else None


def settled_used(prom, seconds=3.0):
    """holdfast_memory_used_bytes once two reads 300 ms apart agree."""
    last = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = metrics(prom)
        u = m.get("holdfast_memory_used_bytes") if m else None
        if u is not None and u == last:
            return u
        last = u
        time.sleep(0.3)
    return last


def test_ten_relists_return_to_baseline(t):
    api = fakeapi.FakeAPI(bookmark_interval=1.0)
    api.start()
    try:
        api.load(changed("namespaces", 0) +
                 [o for i in range(N_SVC) for o in (service(i, 96), eslice(i, 200))])
        prom = harness.free_port()
        srv = harness.Server("memory-relist", "memory.Corefile", (), 5,
                             {"API": api.url, "MEM": "64M", "PROM": prom})
        harness.SERVERS[f"memory-relist-{time.time_ns()}"] = srv
        srv.start()
        probe = [0, 1, N_SVC // 2, N_SVC - 1]

        def services_at(gen):
            return all(answers(ask(srv, f"svc{i}.ns{i % N_NS}.svc.cluster.local."))
                       == {svc_ip(i, 96 + gen % 2)} for i in probe)

        def slices_at(gen):
            # the PTR of an endpoint address exists only while the slice has it
            for i in probe:
                a = ep_ip(i, 1, 200 + gen % 2).split(".")
                m = ask(srv, ".".join(reversed(a)) + ".in-addr.arpa.", "PTR")
                if m is None or m.rcode() != dns.rcode.NOERROR or not m.answer:
                    return False
            return True

        ok = wait_until(lambda: services_at(0) and slices_at(0), 20)
        t.check(ok, "relist: synced from the fake API")
        if not ok:
            return
        baseline = settled_used(prom)
        m0 = metrics(prom)
        region = m0["holdfast_memory_region_bytes"]
        t.eq(region, 64.0 * MiB, "relist: region size reported")
        harness.log(f"relist: baseline used {baseline / MiB:.2f} MiB, peak at startup "
                    f"{m0['holdfast_memory_peak_bytes'] / MiB:.2f} MiB")
        after, gens = [], {r: 0 for r in ORDER}
        for n in range(1, RELISTS + 1):
            res = ORDER[(n - 1) % len(ORDER)]
            gens[res] += 1
            gen = gens[res]
            lists0 = api.count(resource=res, verb="list")
            relists0 = relists_metric(prom, res) or 0
            # the next watch of res gets 410 Gone; its relist is held 0.6 s by
            # the fake so that every change below lands in the list, none in
            # a watch; the other resources' watches end cleanly and resume
            api.force_410(resource=res, verb="watch", count=1)
            api.slow(600, resource=res, verb="list", count=1)
            api.drop_watches(mode="clean")
            time.sleep(0.3)  # the old streams are closed
            for o in changed(res, gen):
                api.apply(o)

            def done():
                if api.count(resource=res, verb="list") < lists0 + 1:
                    return False
                if (relists_metric(prom, res) or 0) < relists0 + 1:
                    return False
                if res == "services":
                    return services_at(gen)
                if res == "endpointslices":
                    return slices_at(gen)
                return True
            relisted = wait_until(done, 40)
            t.check(relisted, f"relist {n} ({res}): holdfast relisted and serves the changes",
                    f"lists {api.count(resource=res, verb='list') - lists0}, "
                    f"relists {(relists_metric(prom, res) or 0) - relists0}")
            if not relisted:
                break
            used = settled_used(prom)
            after.append(used)
            t.check(used is not None and abs(used - baseline) <= TOLERANCE,
                    f"relist {n} ({res}): used memory back to the baseline "
                    f"(within {TOLERANCE // 1024} KiB)", f"baseline {baseline:.0f}, now {used}")
        m = metrics(prom)
        peak = m["holdfast_memory_peak_bytes"]
        harness.log(f"relist: used after each of {len(after)} relists: "
                    f"{', '.join(f'{u / MiB:.2f}' for u in after)} MiB; peak {peak / MiB:.2f} MiB "
                    f"of {region / MiB:.0f} MiB (baseline {baseline / MiB:.2f} MiB)")
        t.check(peak <= region, "relist: peak stayed within the region",
                f"peak {peak:.0f} region {region:.0f}")
        t.eq(m.get("holdfast_objects_refused_total"), 0.0, "relist: nothing refused")
        t.eq(m.get("holdfast_index_rebuild_failures_total"), 0.0, "relist: no rebuild failed")
        t.eq(m.get("holdfast_memory_allocation_failures_total"), 0.0, "relist: no allocation failed")
        t.check(srv.alive(), "relist: still running")
        srv.stop()
    finally:
        api.stop()
