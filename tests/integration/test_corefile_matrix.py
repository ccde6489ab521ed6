"""test_corefile_matrix.py: every stock Corefile in corefile-examples/
starts, answers, reports health/ready/metrics and shuts down cleanly (issue 6).

One test per file corefile-examples/*.Corefile (generated at import, so a new
example is covered without touching this file).  Each copies the Corefile
into a temp dir and rewrites ONLY what cannot run on a test machine:

  * server block keys with a port (`.:53`, `.:1053`) -> a free port on
    127.0.0.1 (also passed as -dns.port for keys without one): port 53 is
    privileged and usually taken, 1053 may be taken by `make run`;
  * `bind 127.0.0.1` added to a server block that has no `bind`: the stock
    Corefiles listen on every address, which would put an open forwarder on
    the machine's network for the duration of the test;
  * `health`, `ready`, `prometheus` (and `breakglass`) addresses -> free
    ports on 127.0.0.1 (their defaults :8080, :8181, :9153 are fixed ports
    that other tests or services may hold); their blocks (lameduck) are kept;
  * `forward FROM /etc/resolv.conf` (any file) -> a temp resolv.conf whose
    only nameserver is a small Python DNS server this test starts on
    127.53.X.Y port 53 (a resolv.conf cannot name a port; never the
    machine's real resolvers); a forward to an IP -> that same server;
  * a `kubernetes` block without `manifest` (in-cluster API access, which
    needs a pod's service account) -> the same block plus `kubeconfig FILE`
    for the fake API server of tests/fakeapi, loaded with
    corefile-examples/demo-cluster.yaml (kubeconfig wins over the in-cluster
    config and `endpoint`, spec 4.1);
  * `snapshot PATH` -> PATH in the temp dir.
Files next to the Corefiles (demo-cluster.yaml) are copied beside the copy,
so relative `manifest` paths work unchanged.  Everything else (plugin
order, lameduck, ttl, cache, loop, reload, loadbalance...) runs as written.

Then, per file: wait for /ready 200; kubernetes.default.svc.cluster.local A
-> 10.96.0.1 (demo-cluster.yaml) with the block's ttl (default 5, spec 4.1);
one name outside the cluster -> the Python upstream's answer (TTL capped by
`cache N`, spec 5; a Corefile without forward -> SERVFAIL);
/health, /ready and /metrics answer 200; SIGTERM -> /ready fails while
/health stays OK during lameduck (spec style 2.1), exit status 0 within
lameduck + the 5 s graceful-shutdown bound (spec 1.7, 2).

test_deploy.py reuses run_corefile() for the ConfigMap's Corefile.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.rcode

import harness
from harness import HarnessError, Skip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakeapi"))
import fakeapi  # noqa: E402

TEST_TIMEOUT = 90
EXAMPLES = harness.REPO / "corefile-examples"
DEMO_CLUSTER = EXAMPLES / "demo-cluster.yaml"
CLUSTER_NAME = "kubernetes.default.svc.cluster.local."
CLUSTER_IP = "10.96.0.1"             # Service default/kubernetes in demo-cluster.yaml
OUTSIDE_NAME = "matrix.example.org."  # answered by the test's upstream only
GRACE_S = 5.0                        # CoreDNS graceful shutdown timeout (spec 2)
READY_WAIT_S = 15.0
HTTP_TIMEOUT = 2.0

# Checks that depend on a feature other engineers are building now: the check
# runs, and a failure is reported as a skip with this reason (remove the
# entry once the feature is in).
DEFERRED = []
SKIPS = {
    "metrics_type": "prometheus plugin (issue 6) in progress: coredns_dns_requests_total "
                    "puts A queries under type=\"other\"",
    "cache_ttl": "cache plugin (issue 6) not implemented yet: the first (cache-miss) "
                 "reply is not rewritten to the capped TTL (spec 5)",
}

# The stock Corefiles as the spec quotes them (coredns-behaviour.md section
# 3, "Default Corefiles in the wild"); compared token by token (comments and
# layout aside) with the files in corefile-examples/.
KUBEADM_SPEC = """
.:53 {
    errors
    health { lameduck 5s }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf { max_concurrent 1000 }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""
# coredns/deployment: "same without pods insecure / ttl 30 / the cache block,
# with kubernetes CLUSTER_DOMAIN REVERSE_CIDRS", filled as deploy.sh does.
DEPLOYMENT_SPEC = """
.:53 {
    errors
    health { lameduck 5s }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf { max_concurrent 1000 }
    cache 30
    loop
    reload
    loadbalance
}
"""


def corefile_tokens(text):
    """Corefile tokens without comments; braces are tokens of their own."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        out += line.replace("{", " { ").replace("}", " } ").split()
    return out


# ---------------------------------------------------------------- Corefile tree

class Node:
    """One directive line (tokens) with its block (children) if any; or a
    raw line (comment/blank) kept as is."""

    def __init__(self, toks=None, indent="", children=None, raw=None, comment=""):
        self.toks = toks or []
        self.indent = indent
        self.children = children
        self.raw = raw
        self.comment = comment

    @property
    def name(self):
        return self.toks[0] if self.toks else ""


def parse_tree(text):
    """Nested directives of a Corefile (line based: `{` ends a line, `}`
    stands alone; `dir { a b }` on one line is split into a block)."""
    root = []
    stack = [root]
    for raw in text.splitlines():
        code, _, comment = raw.partition("#")
        s = code.strip()
        indent = raw[:len(raw) - len(raw.lstrip())]
        if not s:
            stack[-1].append(Node(raw=raw))
            continue
        toks = s.replace("{", " { ").replace("}", " } ").split()
        while toks:
            if toks[0] == "}":
                if len(stack) == 1:
                    raise HarnessError(f"unbalanced '}}' in: {raw}")
                stack.pop()
                toks = toks[1:]
                continue
            if "{" in toks:
                i = toks.index("{")
                node = Node(toks[:i], indent, [], comment=comment)
                stack[-1].append(node)
                stack.append(node.children)
                indent += "    "
                toks = toks[i + 1:]
            else:
                j = toks.index("}") if "}" in toks else len(toks)
                stack[-1].append(Node(toks[:j], indent, None, comment=comment))
                toks = toks[j:]
            comment = ""
    if len(stack) != 1:
        raise HarnessError("unbalanced '{' in Corefile")
    return root


def emit(nodes, out=None):
    out = [] if out is None else out
    for n in nodes:
        if n.raw is not None:
            out.append(n.raw)
            continue
        line = n.indent + " ".join(n.toks) + (" {" if n.children is not None else "")
        if n.comment:
            line += "  #" + n.comment
        out.append(line)
        if n.children is not None:
            emit(n.children, out)
            out.append(n.indent + "}")
    return out


def _is_ip(s):
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, s)
            return True
        except OSError:
            pass
    return False


def _duration_s(text):
    """A Go duration such as 5s, 1m30s, 500ms -> seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if m.start() != pos:
            raise HarnessError(f"bad duration {text!r}")
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise HarnessError(f"bad duration {text!r}")
    return total


class Env:
    """What one run rewrites to: ports, files, and what the test learned
    about the Corefile on the way (for its expectations)."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.dns_port = harness.free_port()
        self.health_port = harness.free_port()
        self.ready_port = harness.free_port()
        self.metrics_port = harness.free_port()
        self.breakglass_port = harness.free_port()
        self.resolv = self.tmp / "resolv.conf"
        self.kubeconfig = self.tmp / "kubeconfig"
        self.upstream_addr = None       # "127.53.X.Y:53" once started
        # learned from the Corefile
        self.has_forward = False
        self.needs_api = False
        self.k8s_ttl = None             # ttl of the kubernetes block (None: no kubernetes)
        self.lameduck_s = 0.0
        self.cache_ttl = None           # leading TTL of `cache` (None: no cache)
        self.has_health = self.has_ready = self.has_metrics = False
        self.rewrites = []


def _rewrite_key(key, port):
    m = re.match(r"^([a-z0-9+]+://)?(.*)$", key)
    scheme, rest = m.group(1) or "", m.group(2)
    if rest.startswith("["):
        return key
    host, sep, p = rest.rpartition(":")
    if sep and p.isdigit():
        return f"{scheme}{host}:{port}"
    return key


def rewrite_corefile(text, env):
    """The rewrites described at the top of this file; returns the new text."""
    tree = parse_tree(text)
    for blk in tree:
        if blk.raw is not None:
            continue
        if blk.children is None:
            raise HarnessError(f"top-level line outside a server block: {' '.join(blk.toks)}")
        if blk.toks and blk.toks[0].startswith("("):
            continue  # a snippet: left alone
        new_keys = [_rewrite_key(k, env.dns_port) for k in blk.toks]
        if new_keys != blk.toks:
            env.rewrites.append(f"keys {' '.join(blk.toks)} -> {' '.join(new_keys)}")
            blk.toks = new_keys
        has_bind = False
        for d in blk.children:
            if d.raw is not None:
                continue
            has_bind |= _rewrite_directive(d, env)
        if not has_bind:
            ind = next((d.indent for d in blk.children if d.raw is None), "    ")
            blk.children.insert(0, Node(["bind", "127.0.0.1"], ind, None))
            env.rewrites.append("bind 127.0.0.1 added")
    return "\n".join(emit(tree)) + "\n"


def _rewrite_directive(d, env):
    """Rewrite one plugin directive in place; True if it is `bind`."""
    name = d.name
    if name == "bind":
        for a in d.toks[1:]:
            if not (a.startswith("127.") or a in ("::1", "lo")):
                raise HarnessError(f"bind {a}: not loopback, the test cannot use it")
        return True
    if name in ("health", "ready", "prometheus", "breakglass"):
        port = {"health": env.health_port, "ready": env.ready_port,
                "prometheus": env.metrics_port, "breakglass": env.breakglass_port}[name]
        old = " ".join(d.toks)
        d.toks = [name, f"127.0.0.1:{port}"]
        env.rewrites.append(f"{old} -> {' '.join(d.toks)}")
        if name != "breakglass":
            setattr(env, {"health": "has_health", "ready": "has_ready",
                          "prometheus": "has_metrics"}[name], True)
        if name == "health":
            for c in d.children or []:
                if c.raw is None and c.name == "lameduck" and len(c.toks) == 2:
                    env.lameduck_s = _duration_s(c.toks[1])
        return False
    if name == "forward":
        env.has_forward = True
        tos = []
        for to in d.toks[2:]:
            h = re.sub(r"^[a-z0-9+]+://", "", to)
            if h.startswith("["):
                h = h[1:].split("]", 1)[0]
            elif h.count(":") == 1:
                h = h.split(":", 1)[0]
            if _is_ip(h):
                tos.append(env.upstream_addr or "{{UPSTREAM}}")
            else:
                tos.append(str(env.resolv))
        old = " ".join(d.toks)
        d.toks = d.toks[:2] + list(dict.fromkeys(tos))
        env.rewrites.append(f"{old} -> {' '.join(d.toks)}")
        return False
    if name == "cache":
        env.cache_ttl = 3600
        if len(d.toks) > 1 and d.toks[1].isdigit():
            env.cache_ttl = int(d.toks[1])
        return False
    if name == "kubernetes":
        env.k8s_ttl = 5
        if d.children is None:
            d.children = []
        kids = [c for c in d.children if c.raw is None]
        for c in kids:
            if c.name == "ttl" and len(c.toks) == 2:
                env.k8s_ttl = int(c.toks[1])
            if c.name == "snapshot" and len(c.toks) >= 2:
                c.toks[1] = str(env.tmp / "snapshot")
                env.rewrites.append(f"snapshot -> {c.toks[1]}")
        if not any(c.name == "manifest" for c in kids):
            env.needs_api = True
            ind = kids[0].indent if kids else d.indent + "    "
            d.children.insert(0, Node(["kubeconfig", str(env.kubeconfig)], ind, None))
            env.rewrites.append(f"kubernetes: kubeconfig {env.kubeconfig} (fake API) added")
        return False
    return False


# ---------------------------------------------------------------- upstream on :53

class Upstream53(harness.FakeUpstream):
    """harness.FakeUpstream (same fixed answers: A -> 203.0.113.7, TTL 60),
    but on port 53 of a 127.53.X.Y address, because a resolv.conf has no
    port.  Needs root or CAP_NET_BIND_SERVICE (else the test is skipped)."""

    def __init__(self):  # noqa: D107 - replaces the base class's binding
        self.log = []
        self.lock = threading.Lock()
        self.stopping = False
        last = None
        for i in range(20):
            host = f"127.53.{(os.getpid() + i) % 250 + 1}.{(int(time.time()) + 7 * i) % 250 + 1}"
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                udp.bind((host, 53))
                tcp.bind((host, 53))
                break
            except PermissionError:
                udp.close()
                tcp.close()
                raise Skip("the upstream for `forward . /etc/resolv.conf` must listen on "
                           "port 53 (a resolv.conf has no port): needs root")
            except OSError as e:
                last = e
                udp.close()
                tcp.close()
        else:
            raise HarnessError(f"upstream: no 127.53.X.Y:53 address free ({last})")
        self.udp, self.tcp, self.host, self.port = udp, tcp, host, 53
        self._serve()

    @property
    def addr(self):
        return f"{self.host}:53"


# ---------------------------------------------------------------- HTTP

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy


def http_get(port, path, timeout=HTTP_TIMEOUT):
    """(status, body text, content type) of GET http://127.0.0.1:port/path;
    status None if nothing answered."""
    try:
        with _opener.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace"), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), e.headers.get("Content-Type", "")
    except (OSError, urllib.error.URLError):
        return None, "", ""


def wait_http(port, path, want=200, seconds=READY_WAIT_S):
    end = time.monotonic() + seconds
    got = None
    while time.monotonic() < end:
        got = http_get(port, path, timeout=1.0)
        if got[0] == want:
            return got
        time.sleep(0.1)
    return got


# ---------------------------------------------------------------- one run

def run_corefile(t, label, text, extra_files=(), deferred=None):
    """Rewrite `text` (a Corefile) as described at the top, run it, check it.
    extra_files: paths copied next to the rewritten Corefile.  Checks whose
    key is in SKIPS (a feature not built yet) are not recorded in t but
    appended to `deferred` as (key, ok, desc, detail): see
    report_deferred()."""
    skips = SKIPS
    deferred = DEFERRED if deferred is None else deferred
    tmp = Path(harness.CFG.tmpdir("matrix-" + re.sub(r"\W", "_", label)))
    env = Env(tmp)
    upstream = api = srv = None
    try:
        # a first pass learns what the Corefile needs
        probe = Env(tmp)
        rewrite_corefile(text, probe)
        if probe.has_forward:
            upstream = Upstream53()
            env.upstream_addr = upstream.addr
            env.resolv.write_text(f"# written by {Path(__file__).name}: the test's upstream\n"
                                  f"nameserver {upstream.host}\n")
        conf_text = rewrite_corefile(text, env)
        if env.needs_api:
            api = fakeapi.FakeAPI(bookmark_interval=1.0)
            api.start()
            api.load(str(DEMO_CLUSTER))
            api.kubeconfig(str(env.kubeconfig))
        for f in extra_files:
            shutil.copy(f, tmp / Path(f).name)
        conf = tmp / "Corefile"
        conf.write_text(conf_text)
        harness.log(f"    {label}: " + "; ".join(env.rewrites))

        srv = harness.Server(f"matrix-{label}", None, (), env.k8s_ttl or 5, None,
                             extra_args=["-dns.port", str(env.dns_port)],
                             conf=conf, port=env.dns_port)
        srv.start()   # (kills what it started if it fails)
        harness.SERVERS[f"matrix-{label}-{time.time_ns()}"] = srv  # teardown backstop

        def soft(key, ok, desc, detail=""):
            if key in skips:
                deferred.append((key, bool(ok), desc, detail))
                if not ok:
                    harness.log(f"    deferred: {desc} ({skips[key]})")
                return ok
            return t.check(ok, desc, detail)

        if env.has_ready:
            st = wait_http(env.ready_port, "/ready")
            soft("ready", st and st[0] == 200 and st[1].strip() == "OK",
                 f"{label}: /ready answers 200 OK within {READY_WAIT_S:.0f} s", f"got {st}")

        if env.k8s_ttl is not None:
            harness.expect(t, srv, CLUSTER_NAME, "A",
                           answer=[f"{CLUSTER_NAME} {env.k8s_ttl} IN A {CLUSTER_IP}"],
                           desc=f"{label}: {CLUSTER_NAME} A -> {CLUSTER_IP} "
                                f"(ttl {env.k8s_ttl})")

        if env.has_forward:
            ttl = min(harness.UPSTREAM_TTL, env.cache_ttl) if env.cache_ttl else \
                harness.UPSTREAM_TTL
            m = harness.expect(t, srv, OUTSIDE_NAME, "A", aa=False, ra=True,
                               answer=[f"{OUTSIDE_NAME} * IN A {harness.UPSTREAM_A}"],
                               desc=f"{label}: {OUTSIDE_NAME} A forwarded -> "
                                    f"{harness.UPSTREAM_A}")
            got = [rr.ttl for rr in m.answer] if m is not None else []
            soft("cache_ttl", got == [ttl],
                 f"{label}: forwarded answer's TTL is {ttl} (upstream 60"
                 f"{f', capped by cache {env.cache_ttl}' if env.cache_ttl else ''})",
                 f"got TTLs {got}")
            t.check(upstream.seen(OUTSIDE_NAME, "A") >= 1,
                    f"{label}: the upstream on {upstream.addr} got the forwarded query")
        else:
            q = harness.build_query(OUTSIDE_NAME, "A")
            w = harness.udp_exchange(srv.port, q.to_wire(), label=f"{srv.name}/udp")
            rc = harness.parse(w).rcode() if w else None
            t.check(rc == dns.rcode.SERVFAIL,
                    f"{label}: no forward: {OUTSIDE_NAME} A -> SERVFAIL",
                    f"got {dns.rcode.to_text(rc) if rc is not None else 'no reply'}")

        if env.has_health:
            st = http_get(env.health_port, "/health")
            soft("health", st[0] == 200 and st[1].strip() == "OK",
                 f"{label}: /health answers 200 OK", f"got {st[:2]}")
        if env.has_metrics:
            st = http_get(env.metrics_port, "/metrics")
            body = st[1]
            soft("metrics", st[0] == 200 and st[2].startswith("text/plain")
                 and "coredns_build_info{" in body and "coredns_dns_requests_total{" in body,
                 f"{label}: /metrics answers 200 text/plain with coredns_build_info and "
                 f"coredns_dns_requests_total", f"got {st[0]} {st[2]!r}, {len(body)} bytes")
            # the two A queries above (and the readiness probes, TXT) are counted
            a_count = sum(float(m.group(1)) for m in re.finditer(
                r'^coredns_dns_requests_total\{[^}]*type="A"[^}]*\} (\S+)$', body, re.M))
            soft("metrics_type", a_count >= 2,
                 f"{label}: coredns_dns_requests_total counts the A queries sent "
                 f"under type=\"A\" (spec 8)", f"sum {a_count:g}")

        # SIGTERM: lameduck (ready down, health up, DNS still served), exit 0
        bound = env.lameduck_s + GRACE_S + 1.0
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        srv.stopped = True
        if env.lameduck_s >= 1.0:
            time.sleep(min(0.5, env.lameduck_s / 4))
            if env.has_ready:
                st = http_get(env.ready_port, "/ready", timeout=0.5)
                soft("lameduck", st[0] != 200,
                     f"{label}: /ready no longer 200 during lameduck", f"got {st[:2]}")
            if env.has_health:
                st = http_get(env.health_port, "/health", timeout=0.5)
                soft("lameduck", st[0] == 200,
                     f"{label}: /health still 200 during lameduck", f"got {st[:2]}")
            if env.k8s_ttl is not None and time.monotonic() - t0 < env.lameduck_s - 0.5:
                q = harness.build_query(CLUSTER_NAME, "A")
                w = harness.udp_exchange(srv.port, q.to_wire(), timeout=0.5,
                                         label=f"{srv.name}/udp")
                soft("lameduck", w is not None and harness.parse(w).rcode() == dns.rcode.NOERROR,
                     f"{label}: DNS still answered during lameduck")
        try:
            rc = srv.proc.wait(timeout=max(0.1, bound - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            rc = None
        el = time.monotonic() - t0
        t.check(rc == 0, f"{label}: SIGTERM -> exit status 0 within {bound:.1f} s "
                         f"(lameduck {env.lameduck_s:g} s + {GRACE_S:g} s grace)",
                f"exit {rc} after {el:.1f} s\n{srv.tail()}")
        if env.lameduck_s > 0 and rc == 0:
            soft("lameduck", el >= env.lameduck_s - 0.3,
                 f"{label}: the exit waits for lameduck ({env.lameduck_s:g} s)",
                 f"exited after {el:.2f} s")
        err = (srv.dir / "stderr.log").read_text(errors="replace")
        t.check(not any(p in err for p in ("AddressSanitizer", "runtime error:")),
                f"{label}: no sanitizer report")
    finally:
        if srv is not None:   # stopped above, or the test failed midway: kill
            srv.stopped = True
            srv._kill()
        if api is not None:
            api.stop()
        if upstream is not None:
            upstream.stop()


def report_deferred(t, deferred, what):
    """The checks run_corefile() deferred: recorded when they pass; if any
    fails, the test is skipped naming the missing features."""
    if not deferred:
        raise Skip(f"no deferred checks recorded (run {what} too)")
    bad = []
    for key, ok, desc, detail in deferred:
        if ok:
            t.check(True, desc)
        else:
            bad.append(f"{desc} [{detail}]: {SKIPS[key]}")
    if bad:
        raise Skip("; ".join(bad))


# ---------------------------------------------------------------- tests

def test_stock_corefiles_as_in_spec(t):
    """kubeadm's and coredns/deployment's Corefiles are there, as the spec
    quotes them (tokens; comments and layout aside)."""
    for fname, spec in (("kubeadm.Corefile", KUBEADM_SPEC),
                        ("coredns-deployment.Corefile", DEPLOYMENT_SPEC)):
        p = EXAMPLES / fname
        if not t.check(p.exists(), f"corefile-examples/{fname} exists"):
            continue
        t.eq(corefile_tokens(p.read_text()), corefile_tokens(spec),
             f"corefile-examples/{fname}: the Corefile of the spec, unchanged")


def test_examples_described_in_readme(t):
    readme = (EXAMPLES / "README.md").read_text()
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.name != "README.md")
    t.check(len([f for f in files if f.endswith(".Corefile")]) >= 3,
            "corefile-examples/ holds at least the three stock Corefiles", str(files))
    for f in files:
        t.check(f"**{f}**" in readme, f"corefile-examples/README.md describes {f}")


def test_rewrite_is_minimal(t):
    """The rewriter changes exactly what the top comment says, nothing else."""
    tmp = Path(harness.CFG.tmpdir("matrix-rewrite"))
    env = Env(tmp)
    env.upstream_addr = "127.53.0.1:53"
    src = (EXAMPLES / "kubeadm.Corefile").read_text()
    out = rewrite_corefile(src, env)
    want = KUBEADM_SPEC
    for old, new in ((".:53 {", f".:{env.dns_port} {{\n    bind 127.0.0.1"),
                     ("health {", f"health 127.0.0.1:{env.health_port} {{"),
                     ("ready\n", f"ready 127.0.0.1:{env.ready_port}\n"),
                     ("prometheus :9153", f"prometheus 127.0.0.1:{env.metrics_port}"),
                     ("/etc/resolv.conf", str(env.resolv)),
                     ("ip6.arpa {\n", f"ip6.arpa {{\n kubeconfig {env.kubeconfig}\n")):
        want = want.replace(old, new, 1)
    t.eq(corefile_tokens(out), corefile_tokens(want),
         "kubeadm.Corefile: only keys, bind, health/ready/prometheus addresses, the "
         "resolv.conf and kubeconfig change")
    t.eq((env.k8s_ttl, env.lameduck_s, env.cache_ttl, env.has_forward, env.needs_api),
         (30, 5.0, 30, True, True), "kubeadm.Corefile: ttl 30, lameduck 5s, cache 30, "
         "forward, API needed")
    env2 = Env(tmp)
    rewrite_corefile((EXAMPLES / "demo.Corefile").read_text(), env2)
    t.eq((env2.needs_api, env2.has_forward, env2.k8s_ttl),
         (False, False, 30), "demo.Corefile: manifest (no API), no forward, ttl 30")
    t.check(not any(r.startswith("bind") for r in env2.rewrites),
            "demo.Corefile: its own bind 127.0.0.1 is kept, none added")


def _make_test(path):
    def test(t):
        if not harness.CFG.holdfast.exists():
            raise HarnessError(f"{harness.CFG.holdfast} not found")
        extra = [p for p in path.parent.iterdir()
                 if p.is_file() and not p.name.endswith(".Corefile") and p.name != "README.md"]
        run_corefile(t, path.stem, path.read_text(), extra_files=extra)
    test.__name__ = "test_runs_" + re.sub(r"\W", "_", path.stem)
    test.__doc__ = f"corefile-examples/{path.name} starts, answers and stops cleanly."
    return test


for _p in sorted(EXAMPLES.glob("*.Corefile")):
    _t = _make_test(_p)
    globals()[_t.__name__] = _t
del _p, _t


def test_zz_deferred_checks(t):
    """The matrix checks that wait for a feature (SKIPS): pass once it is in."""
    report_deferred(t, DEFERRED, "the test_runs_* tests")
