"""test_metrics.py: the prometheus plugin (spec 8) and health/ready (spec 7).

A known mix of queries (UDP and TCP, IPv4 and IPv6 when ::1 works, several
types, NXDOMAIN, the DO bit, a class the server refuses, a block without
`prometheus`) is sent to a server with `prometheus` on loopback; the
difference between two scrapes must be exactly what was sent: request
counts per server/zone/proto/family/type, DO counts, responses per
rcode/plugin, histogram counts, request/response size sums and bucket
placement computed from the wire lengths, the exact bucket lists.  Every
scrape must pass `promtool check metrics`, also for a Corefile with two
kubernetes blocks and a cache+forward block.  health with lameduck:
SIGTERM -> /health 200 and DNS answered during lameduck, /ready 503
"Shutting down" at once, exit after.
"""

import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype

import harness
from harness import CFG, DATA, LOOPBACK

TEST_TIMEOUT = 60

DUR_LE = ["0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032",
          "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"]
SIZE_LE = ["0", "100", "200", "300", "400", "511", "1023", "2047", "4095", "8291",
           "16000", "32000", "48000", "64000", "+Inf"]
HEALTH_LE = ["0.00025", "0.0025", "0.025", "0.25", "2.5", "+Inf"]
TYPES = {"A", "AAAA", "CNAME", "DNSKEY", "DS", "MX", "NSEC3", "NSEC", "NS", "PTR",
         "RRSIG", "SOA", "SRV", "TXT", "HTTPS", "SVCB", "IXFR", "AXFR", "ANY"}

LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(port, path, timeout=3.0):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when
    nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as e:
        return None, str(e)


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, {family: type}, [problems]."""
    samples, types, problems = {}, {}, []
    helps = defaultdict(int)
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps[line.split()[2]] += 1
            continue
        if line.startswith("# TYPE "):
            f = line.split()
            if f[2] in types:
                problems.append(f"TYPE of {f[2]} given twice")
            types[f[2]] = f[3]
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            problems.append(f"unparsable line {line!r}")
            continue
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        if key in samples:
            problems.append(f"series given twice: {line!r}")
        samples[key] = float(m.group(4))
    for fam, n in helps.items():
        if n > 1:
            problems.append(f"HELP of {fam} given {n} times")
    return samples, types, problems


def scrape(port):
    st, body = http_get(port, "/metrics")
    if st != 200:
        raise harness.HarnessError(f"/metrics: {st} {body[:200]}")
    return body


def promtool(t, text, what):
    exe = shutil.which("promtool")
    if exe is None:
        t.check(False, f"{what}: promtool is installed (Debian package prometheus)")
        return
    p = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=20)
    t.check(p.returncode == 0, f"{what}: promtool check metrics accepts the scrape",
            (p.stdout + p.stderr)[-2000:])


def val(samples, metric, **labels):
    return samples.get((metric, frozenset((k, str(v)) for k, v in labels.items())), 0.0)


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def exchange(port, wire, tcp, host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    if tcp:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            n = int.from_bytes(harness._recv_exact(s, 2, time.monotonic() + 3), "big")
            return harness._recv_exact(s, n, time.monotonic() + 3)
        except (OSError, EOFError):
            return None
        finally:
            s.close()
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.send(wire)
        return s.recv(65535)
    except OSError:
        return None
    finally:
        s.close()


def start(name, corefile_text, files=("cluster.yaml",)):
    port = harness.free_port()
    d = Path(CFG.tmpdir(name))
    for f in files:
        (d / f).write_text((DATA / f).read_text())
    conf = d / "Corefile"
    conf.write_text(corefile_text.replace("{{PORT}}", str(port)))
    s = harness.Server(name, None, (), 5, None, conf=conf, port=port)
    s.start()
    return s


def bucket_ok(t, samples, name, labels, les, want_count, what):
    got = [val(samples, name + "_bucket", le=le, **labels) for le in les]
    t.check(all(a <= b for a, b in zip(got, got[1:])), f"{what}: buckets are cumulative", str(got))
    t.eq(got[-1], want_count, f"{what}: +Inf bucket = count")
    t.eq(val(samples, name + "_count", **labels), want_count, f"{what}: _count")
    present = sorted({dict(k[1]).get("le") for k in samples
                      if k[0] == name + "_bucket"
                      and {kv for kv in k[1] if kv[0] != "le"} == set(labels.items())})
    t.eq(sorted(present), sorted(les), f"{what}: exactly the spec's bucket list")


def test_core_metrics(t):
    v6 = ipv6_loopback()
    mport = harness.free_port()
    binds = "127.0.0.1 ::1" if v6 else "127.0.0.1"
    core = f"""cluster.local:{{{{PORT}}}} {{
    bind {binds}
    prometheus 127.0.0.1:{mport}
    kubernetes cluster.local {{
        manifest cluster.yaml
    }}
}}
.:{{{{PORT}}}} {{
    bind {binds}
    prometheus 127.0.0.1:{mport}
    whoami
}}
example.net:{{{{PORT}}}} {{
    bind {binds}
    whoami
}}
"""
    s = start("metrics-core", core)
    try:
        port = s.port
        sv4 = f"dns://127.0.0.1:{port}"
        sv6 = f"dns://[::1]:{port}"
        before_text = scrape(mport)
        before, _, _ = parse_metrics(before_text)
        web = "web.shop.svc.cluster.local."
        # (name, type, class, tcp, host, do, want rcode, zone label or None, plugin)
        mix = [
            (web, "A", "IN", False, "127.0.0.1", False, "NOERROR", "cluster.local.", "kubernetes"),
            (web, "A", "IN", False, "127.0.0.1", True, "NOERROR", "cluster.local.", "kubernetes"),
            (web, "AAAA", "IN", False, "127.0.0.1", False, "NOERROR", "cluster.local.", "kubernetes"),
            ("nope.shop.svc.cluster.local.", "A", "IN", False, "127.0.0.1", False, "NXDOMAIN",
             "cluster.local.", "kubernetes"),
            ("_http._tcp.web.shop.svc.cluster.local.", "SRV", "IN", True, "127.0.0.1", False,
             "NOERROR", "cluster.local.", "kubernetes"),
            (web, "MX", "IN", True, "127.0.0.1", True, "NOERROR", "cluster.local.", "kubernetes"),
            (web, "NAPTR", "IN", False, "127.0.0.1", False, "NOERROR", "cluster.local.",
             "kubernetes"),
            ("example.org.", "TXT", "IN", False, "127.0.0.1", False, "NOERROR", ".", "whoami"),
            ("example.org.", "A", "IN", True, "127.0.0.1", False, "NOERROR", ".", "whoami"),
            # a class other than IN on a server without forward/chaos: REFUSED
            # by the server (errorAndMetricsFunc, zone "dropped", no plugin)
            (web, "A", "CH", False, "127.0.0.1", False, "REFUSED", "dropped", ""),
            # a block without prometheus is not counted
            ("www.example.net.", "A", "IN", False, "127.0.0.1", False, "NOERROR", None, ""),
        ]
        if v6:
            mix += [
                (web, "A", "IN", False, "::1", False, "NOERROR", "cluster.local.", "kubernetes"),
                (web, "TXT", "IN", True, "::1", True, "NOERROR", "cluster.local.", "kubernetes"),
                ("example.org.", "AAAA", "IN", False, "::1", False, "NOERROR", ".", "whoami"),
            ]
        want_req = defaultdict(int)
        want_do = defaultdict(int)
        want_resp = defaultdict(int)
        req_sizes = defaultdict(list)
        resp_sizes = defaultdict(list)
        durs = defaultdict(int)
        for name, typ, cls, tcp, host, do, rcode, zone, plugin in mix:
            q = harness.build_query(name, typ, cls, edns=0 if do else None, do=do)
            wire = q.to_wire()
            r = exchange(port, wire, tcp, host)
            what = f"{name} {typ} {cls} {'tcp' if tcp else 'udp'} {host}"
            if not t.check(r is not None, f"{what}: answered"):
                continue
            m = dns.message.from_wire(r)
            t.eq(dns.rcode.to_text(m.rcode()), rcode, f"{what}: rcode")
            if zone is None:
                continue
            server = sv6 if ":" in host else sv4
            proto = "tcp" if tcp else "udp"
            fam = "2" if ":" in host else "1"
            tl = typ if typ in TYPES else "other"
            want_req[(server, zone, proto, fam, tl)] += 1
            if do:
                want_do[(server, zone)] += 1
            want_resp[(server, zone, rcode, plugin)] += 1
            req_sizes[(server, zone, proto)].append(len(wire))
            resp_sizes[(server, zone, proto)].append(len(r))
            durs[(server, zone)] += 1
        after_text = scrape(mport)
        after, types, problems = parse_metrics(after_text)
        t.check(not problems, "scrape: one HELP/TYPE per family, no repeated series",
                "; ".join(problems[:10]))
        promtool(t, after_text, "core mix")

        def delta(name, **labels):
            return val(after, name, **labels) - val(before, name, **labels)

        for (server, zone, proto, fam, tl), n in want_req.items():
            t.eq(delta("coredns_dns_requests_total", server=server, zone=zone, view="",
                       proto=proto, family=fam, type=tl), n,
                 f"requests_total{{{server} {zone} {proto} family={fam} type={tl}}}")
        # nothing else moved: the totals match the mix exactly
        tot = sum(v for k, v in after.items() if k[0] == "coredns_dns_requests_total") - \
            sum(v for k, v in before.items() if k[0] == "coredns_dns_requests_total")
        t.eq(tot, sum(want_req.values()),
             "requests_total grew by exactly the counted queries (example.net. not counted)")
        t.check(not any(dict(k[1]).get("zone") == "example.net." for k in after),
                "no series for the block without prometheus")
        for (server, zone), n in want_do.items():
            t.eq(delta("coredns_dns_do_requests_total", server=server, zone=zone, view=""), n,
                 f"do_requests_total{{{server} {zone}}}")
        for (server, zone, rcode, plugin), n in want_resp.items():
            t.eq(delta("coredns_dns_responses_total", server=server, zone=zone, view="",
                       rcode=rcode, plugin=plugin), n,
                 f"responses_total{{{server} {zone} {rcode} plugin={plugin!r}}}")
        for (server, zone), n in durs.items():
            labels = {"server": server, "view": "", "zone": zone}
            c0 = val(before, "coredns_dns_request_duration_seconds_count", **labels)
            bucket_ok(t, after, "coredns_dns_request_duration_seconds", labels, DUR_LE, c0 + n,
                      f"request_duration_seconds{{{server} {zone}}}")
        for hist, sizes in (("coredns_dns_request_size_bytes", req_sizes),
                            ("coredns_dns_response_size_bytes", resp_sizes)):
            for (server, zone, proto), lst in sizes.items():
                labels = {"server": server, "view": "", "zone": zone, "proto": proto}
                c0 = val(before, hist + "_count", **labels)
                bucket_ok(t, after, hist, labels, SIZE_LE, c0 + len(lst),
                          f"{hist}{{{server} {zone} {proto}}}")
                t.eq(val(after, hist + "_sum", **labels) - val(before, hist + "_sum", **labels),
                     sum(lst), f"{hist}{{{server} {zone} {proto}}}: _sum = the wire lengths")
                for le in SIZE_LE[:-1]:
                    d = val(after, hist + "_bucket", le=le, **labels) - \
                        val(before, hist + "_bucket", le=le, **labels)
                    t.eq(d, sum(1 for x in lst if x <= int(le)),
                         f"{hist}{{{server} {zone} {proto}}} le={le}")
        # static families
        for fam, typ in (("coredns_build_info", "gauge"), ("coredns_panics_total", "counter"),
                         ("coredns_dns_requests_total", "counter"),
                         ("coredns_dns_request_duration_seconds", "histogram"),
                         ("coredns_dns_request_size_bytes", "histogram"),
                         ("coredns_dns_response_size_bytes", "histogram"),
                         ("coredns_dns_do_requests_total", "counter"),
                         ("coredns_dns_responses_total", "counter"),
                         ("coredns_plugin_enabled", "gauge"),
                         ("process_cpu_seconds_total", "counter"),
                         ("process_resident_memory_bytes", "gauge"),
                         ("process_open_fds", "gauge"),
                         ("process_start_time_seconds", "gauge"),
                         # registered at init in CoreDNS: there without health/reload
                         ("coredns_reload_failed_total", "counter"),
                         ("coredns_health_request_duration_seconds", "histogram"),
                         ("coredns_health_request_failures_total", "counter")):
            t.eq(types.get(fam), typ, f"family {fam} is a {typ}")
        t.eq(val(after, "coredns_panics_total"), 0, "coredns_panics_total 0")
        t.check(not any(k[0] == "coredns_reload_version_info" for k in after),
                "no coredns_reload_version_info without the reload plugin")
        for name, zone in (("kubernetes", "cluster.local."), ("prometheus", "cluster.local."),
                           ("whoami", "."), ("prometheus", ".")):
            t.eq(val(after, "coredns_plugin_enabled", server=sv4, zone=zone, view="", name=name),
                 1, f"plugin_enabled {name} in {zone}")
        t.check(not any(k[0] == "coredns_plugin_enabled" and dict(k[1]).get("zone") == "example.net."
                        for k in after), "plugin_enabled: nothing for the block without prometheus")
        st = val(after, "process_start_time_seconds")
        t.check(abs(st - s.started_wall) < 5, "process_start_time_seconds is when it started",
                f"{st} vs {s.started_wall}")
        t.check(val(after, "process_resident_memory_bytes") > 1 << 20, "resident memory > 1 MiB")
        t.check(val(after, "process_open_fds") >= 4, "open fds counted")
    finally:
        t.check(not s.stop(), "server stops cleanly")


def test_two_kubernetes_cache_forward(t):
    up = harness.upstream()
    mport = harness.free_port()
    core = f"""cluster.local:{{{{PORT}}}} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{mport}
    kubernetes cluster.local {{
        manifest cluster.yaml
    }}
}}
other.local:{{{{PORT}}}} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{mport}
    kubernetes other.local {{
        manifest cluster.yaml
    }}
}}
.:{{{{PORT}}}} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{mport}
    cache 30
    forward . {up.addr}
}}
"""
    s = start("metrics-multi", core)
    try:
        port = s.port
        sv = f"dns://127.0.0.1:{port}"
        before, _, _ = parse_metrics(scrape(mport))
        sent = [("web.shop.svc.cluster.local.", "A", "NOERROR", "cluster.local."),
                ("web.shop.svc.other.local.", "A", "NOERROR", "other.local."),
                ("host.example.com.", "A", "NOERROR", "."),
                ("gone.nxdomain.test.", "A", "NXDOMAIN", ".")]
        for name, typ, rcode, zone in sent:
            r = exchange(port, harness.build_query(name, typ).to_wire(), False, "127.0.0.1")
            if t.check(r is not None, f"{name} answered"):
                t.eq(dns.rcode.to_text(dns.message.from_wire(r).rcode()), rcode, f"{name} rcode")
        text = scrape(mport)
        after, types, problems = parse_metrics(text)
        t.check(not problems, "two kubernetes blocks: one HELP/TYPE per family",
                "; ".join(problems[:10]))
        promtool(t, text, "two kubernetes blocks + cache + forward")
        for name, typ, rcode, zone in sent:
            d = val(after, "coredns_dns_requests_total", server=sv, zone=zone, view="",
                    proto="udp", family="1", type=typ)
            d0 = val(before, "coredns_dns_requests_total", server=sv, zone=zone, view="",
                     proto="udp", family="1", type=typ)
            t.check(d - d0 >= 1, f"requests_total counts {name} under zone {zone}", f"{d0} -> {d}")
        fwd = sum(v for k, v in after.items() if k[0] == "coredns_dns_responses_total"
                  and dict(k[1]).get("zone") == "." and dict(k[1]).get("plugin") in ("forward", "cache"))
        fwd0 = sum(v for k, v in before.items() if k[0] == "coredns_dns_responses_total"
                   and dict(k[1]).get("zone") == "." and dict(k[1]).get("plugin") in ("forward", "cache"))
        t.eq(fwd - fwd0, 2, "the two forwarded queries are counted as responses of forward/cache")
        nx = val(after, "coredns_dns_responses_total", server=sv, zone=".", view="",
                 rcode="NXDOMAIN", plugin="forward")
        t.eq(nx, 1, "the upstream's NXDOMAIN counted with plugin=\"forward\"")
        t.eq(types.get("coredns_cache_requests_total"), "counter",
             "the cache families are part of the scrape")
        t.eq(types.get("coredns_proxy_request_duration_seconds"), "histogram",
             "the forward (proxy) families are part of the scrape")
        inst = {dict(k[1]).get("instance") for k in after if k[0] == "holdfast_kubernetes_state"}
        t.eq(inst, {"0", "1"}, "holdfast_kubernetes_state has a series per kubernetes instance")
    finally:
        t.check(not s.stop(), "server stops cleanly")


def test_health_ready_lameduck(t):
    hport, rport = harness.free_port(), harness.free_port()
    core = f"""cluster.local:{{{{PORT}}}} {{
    bind 127.0.0.1
    health 127.0.0.1:{hport} {{
        lameduck 2s
    }}
    ready 127.0.0.1:{rport}
    prometheus 127.0.0.1:{hport}
    kubernetes cluster.local {{
        manifest cluster.yaml
    }}
}}
"""
    s = start("metrics-health", core)
    try:
        st, body = http_get(hport, "/health")
        t.eq((st, body), (200, "OK"), "/health -> 200 OK")
        st, body = http_get(hport, "/healthz")
        t.eq(st, 404, "/healthz -> 404 (exact path)")
        st, body = http_get(rport, "/ready")
        t.eq((st, body), (200, "OK"), "/ready -> 200 OK once the manifests are loaded")
        time.sleep(2.3)  # two self-probes
        m, types, _ = parse_metrics(scrape(hport))
        n = val(m, "coredns_health_request_duration_seconds_count")
        t.check(n >= 1, "health self-probe ran (coredns_health_request_duration_seconds_count >= 1)",
                str(n))
        bucket_ok(t, m, "coredns_health_request_duration_seconds", {}, HEALTH_LE, n,
                  "health_request_duration_seconds")
        t.eq(val(m, "coredns_health_request_failures_total"), 0, "no failed self-probe")
        t.eq(types.get("coredns_health_request_failures_total"), "counter",
             "health failures family is a counter")
        # SIGTERM: ready fails at once, health and DNS keep going for the lameduck
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        s.stopped = True
        time.sleep(0.3)
        st, body = http_get(rport, "/ready")
        t.eq((st, body), (503, "Shutting down"), "/ready -> 503 Shutting down during lameduck")
        st, body = http_get(hport, "/health")
        t.eq((st, body), (200, "OK"), "/health still 200 during lameduck")
        r = exchange(s.port, harness.build_query("web.shop.svc.cluster.local.", "A").to_wire(),
                     False, "127.0.0.1")
        t.check(r is not None and dns.message.from_wire(r).rcode() == 0,
                "DNS still answered during lameduck")
        t.check(s.proc.poll() is None and time.monotonic() - t0 < 2.0,
                "still running inside the 2 s lameduck")
        try:
            rc = s.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            rc = None
        el = time.monotonic() - t0
        t.eq(rc, 0, "exits 0 after the lameduck")
        t.check(1.8 <= el <= 8, "exit comes after the 2 s lameduck", f"{el:.2f} s")
        log = (s.dir / "stdout.log").read_text(errors="replace")
        t.check("[INFO] plugin/health: Going into lameduck mode for 2s" in log,
                "lameduck is logged as CoreDNS does", log[-500:])
        err = (s.dir / "stderr.log").read_text(errors="replace")
        t.check(not any(p in err for p in ("AddressSanitizer", "LeakSanitizer", "runtime error:")),
                "no sanitizer report after the lameduck exit", err[-800:])
    finally:
        s._kill()


def test_ready_not_synced(t):
    """/ready is 503 with the not-ready plugin names while kubernetes has
    not synced (its API on a loopback port where nothing listens)."""
    rport, dead = harness.free_port(), harness.free_port()
    core = f"""cluster.local:{{{{PORT}}}} {{
    bind 127.0.0.1
    ready 127.0.0.1:{rport}
    kubernetes cluster.local {{
        endpoint http://127.0.0.1:{dead}
        startup_timeout 0s
    }}
}}
"""
    s = start("metrics-notready", core, files=())
    try:
        st, body = http_get(rport, "/ready")
        t.eq((st, body), (503, "kubernetes"), "/ready -> 503 naming kubernetes before the sync")
        time.sleep(1.2)
        st, body = http_get(rport, "/ready")
        t.eq(st, 503, "still 503 while the API is unreachable")
        log = (s.dir / "stdout.log").read_text(errors="replace")
        t.check('[INFO] plugin/ready: Plugins not ready: "kubernetes"' in log,
                "the not-ready plugins are logged", log[-400:])
    finally:
        t.check(not s.stop(), "server stops cleanly")
